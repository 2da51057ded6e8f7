/*
 * Unit tests of lib/schemereport.c: a scheme's figures from its combination counts, the
 * report's JSON and warnings, the transition matrix of two snapshots, and shortest doubles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "schemereport.h"

/* A, B, C, D: A and B overlap, C is inside A (shadowed), D is empty; 100 customers. */
static void seg__abcd(struct seg_scheme *s, const char *fallback)
{
	seg_scheme_init(s);
	s->id = 7;
	s->name = strdup("life stage");
	s->fallback = fallback ? strdup(fallback) : NULL;
	s->min_segment_size = 15;
	s->created_at = strdup("2026-11-29T10:00:00Z");
	s->updated_at = strdup("2026-11-29T10:00:00Z");
	seg_scheme_add_segment(s, 11, "A");
	seg_scheme_add_segment(s, 12, "B \"quoted\"");
	seg_scheme_add_segment(s, 13, "C");
	seg_scheme_add_segment(s, 14, "D");
	s->customers = 100;
	seg_scheme_add_combo(s, 1, 30);	       /* A only */
	seg_scheme_add_combo(s, 2, 10);	       /* B only */
	seg_scheme_add_combo(s, 1 | 2, 5);     /* A and B */
	seg_scheme_add_combo(s, 1 | 4, 8);     /* A and C */
	seg_scheme_add_combo(s, 1 | 2 | 4, 2); /* all three */
}

static json_t *seg__report(const struct seg_scheme *s)
{
	struct seg_buf out = SEG_BUF_INIT;
	json_error_t e;
	seg_scheme_report_json(s, &out);
	json_t *j = json_loads(out.data, 0, &e);
	if (!j)
		fail_msg("not JSON (%s): %s", e.text, out.data);
	seg_buf_release(&out);
	return j;
}

static void test_figures(void **state)
{
	struct seg_scheme s;
	struct seg_scheme_figures f;
	(void)state;
	seg__abcd(&s, NULL);
	seg_scheme_figures_compute(&s, &f);
	assert_int_equal(f.size[0], 45);
	assert_int_equal(f.size[1], 17);
	assert_int_equal(f.size[2], 10);
	assert_int_equal(f.size[3], 0);
	assert_int_equal(f.assigned[0], 45);
	assert_int_equal(f.assigned[1], 10);
	assert_int_equal(f.assigned[2], 0);
	assert_int_equal(f.members, 55);
	assert_int_equal(f.unassigned, 45);
	assert_int_equal(f.overlapping, 15);
	assert_int_equal(f.pairs[0 * 4 + 1], 7);
	assert_int_equal(f.pairs[0 * 4 + 2], 10);
	assert_int_equal(f.pairs[1 * 4 + 2], 2);
	assert_int_equal(f.pairs[2 * 4 + 3], 0);
	assert_true(f.above[2] == 1); /* C's members are all assigned to A */
	assert_true(f.above[1] == 1);
	seg_scheme_figures_release(&f);
	seg_scheme_release(&s);
}

static void test_report(void **state)
{
	struct seg_scheme s;
	(void)state;
	seg__abcd(&s, NULL);
	json_t *j = seg__report(&s);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "7");
	assert_true(json_is_null(json_object_get(j, "fallback")));
	assert_int_equal(json_integer_value(json_object_get(j, "customers")), 100);
	assert_int_equal(json_integer_value(json_object_get(j, "unassigned")), 45);
	assert_true(json_real_value(json_object_get(j, "coverage")) == 0.55);
	assert_int_equal(json_integer_value(json_object_get(j, "overlapping_customers")), 15);
	assert_true(json_is_false(json_object_get(j, "mutually_exclusive")));
	assert_true(json_is_false(json_object_get(j, "collectively_exhaustive")));
	json_t *segs = json_object_get(j, "segments");
	assert_int_equal(json_array_size(segs), 4);
	json_t *b = json_array_get(segs, 1);
	assert_string_equal(json_string_value(json_object_get(b, "id")), "12");
	assert_string_equal(json_string_value(json_object_get(b, "name")), "B \"quoted\"");
	assert_int_equal(json_integer_value(json_object_get(b, "size")), 17);
	assert_int_equal(json_integer_value(json_object_get(b, "assigned")), 10);
	assert_true(json_real_value(json_object_get(b, "share")) == 0.1);
	json_t *ov = json_object_get(j, "overlaps");
	assert_int_equal(json_array_size(ov), 3); /* A-B, A-C, B-C; none with D */
	assert_string_equal(json_string_value(json_object_get(json_array_get(ov, 1), "b")), "13");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(ov, 1), "count")), 10);
	/* warnings, per segment in priority order (B below 15, C shadowed by A, D empty), then the
	 * overlapping customers and the unassigned ones (no fallback) */
	json_t *w = json_object_get(j, "warnings");
	assert_int_equal(json_array_size(w), 5);
	const char *want[] = {"below_min_size", "shadowed", "empty", "overlapping", "unassigned"};
	const char *want_ids[] = {"12", "13", "14", NULL, NULL};
	for (size_t i = 0; i < 5; i++) {
		json_t *x = json_array_get(w, i);
		assert_string_equal(json_string_value(json_object_get(x, "code")), want[i]);
		if (want_ids[i])
			assert_string_equal(json_string_value(json_object_get(x, "segment_id")),
					    want_ids[i]);
		else
			assert_null(json_object_get(x, "segment_id"));
		assert_true(strlen(json_string_value(json_object_get(x, "detail"))) > 30);
	}
	const char *shadow = json_string_value(json_object_get(json_array_get(w, 1), "detail"));
	assert_non_null(strstr(shadow, "\"A\""));
	assert_non_null(strstr(shadow, "move it up or drop it"));
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(w, 4), "detail")),
			       "45 customers (45.0%)"));
	json_decref(j);
	seg_scheme_release(&s);
}

static void test_fallback_and_mece(void **state)
{
	struct seg_scheme s;
	(void)state;
	seg__abcd(&s, "Other");
	json_t *j = seg__report(&s);
	json_t *w = json_object_get(j, "warnings");
	/* the fallback (45) is larger than any segment's assignment (A: 45)? equal: no warning */
	for (size_t i = 0; i < json_array_size(w); i++)
		assert_string_not_equal(
			json_string_value(json_object_get(json_array_get(w, i), "code")),
			"unassigned");
	json_decref(j);
	s.customers = 120; /* 65 unassigned: more than A's 45 */
	j = seg__report(&s);
	w = json_object_get(j, "warnings");
	json_t *last = json_array_get(w, json_array_size(w) - 1);
	assert_string_equal(json_string_value(json_object_get(last, "code")), "fallback_largest");
	json_decref(j);
	seg_scheme_release(&s);

	/* three disjoint segments covering everyone: MECE, no warning */
	seg_scheme_init(&s);
	s.customers = 6;
	s.min_segment_size = 1;
	for (int i = 0; i < 3; i++) {
		seg_scheme_add_segment(&s, 100 + i, "x");
		seg_scheme_add_combo(&s, UINT64_C(1) << i, 2);
	}
	j = seg__report(&s);
	assert_true(json_is_true(json_object_get(j, "mutually_exclusive")));
	assert_true(json_is_true(json_object_get(j, "collectively_exhaustive")));
	assert_int_equal(json_array_size(json_object_get(j, "warnings")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "overlaps")), 0);
	assert_true(json_integer_value(json_object_get(j, "coverage")) == 1);
	json_decref(j);
	seg_scheme_release(&s);
}

static void test_edges(void **state)
{
	struct seg_scheme s;
	(void)state;
	/* no customers: shares and coverage 0, too few segments */
	seg_scheme_init(&s);
	seg_scheme_add_segment(&s, 1, "only");
	json_t *j = seg__report(&s);
	assert_true(json_number_value(json_object_get(j, "coverage")) == 0);
	json_t *seg0 = json_array_get(json_object_get(j, "segments"), 0);
	assert_true(json_number_value(json_object_get(seg0, "share")) == 0);
	json_t *w = json_object_get(j, "warnings");
	assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "code")),
			    "segment_count");
	assert_string_equal(json_string_value(json_object_get(json_array_get(w, 1), "code")),
			    "empty");
	json_decref(j);
	seg_scheme_release(&s);

	/* 64 segments, a customer in the last and the first two: bit 63 works */
	seg_scheme_init(&s);
	for (int i = 0; i < 64; i++)
		seg_scheme_add_segment(&s, i + 1, "s");
	s.customers = 1;
	seg_scheme_add_combo(&s, (UINT64_C(1) << 63) | 3, 1);
	struct seg_scheme_figures f;
	seg_scheme_figures_compute(&s, &f);
	assert_int_equal(f.size[63], 1);
	assert_int_equal(f.assigned[0], 1);
	assert_int_equal(f.pairs[0 * 64 + 63], 1);
	assert_int_equal(f.pairs[1 * 64 + 63], 1);
	assert_int_equal(f.overlapping, 1);
	seg_scheme_figures_release(&f);
	/* a mask beyond the segments (a segment left the scheme meanwhile) is ignored */
	seg_scheme_release(&s);
	seg_scheme_init(&s);
	seg_scheme_add_segment(&s, 1, "a");
	s.customers = 3;
	seg_scheme_add_combo(&s, 2, 3);
	seg_scheme_figures_compute(&s, &f);
	assert_int_equal(f.members, 0);
	assert_int_equal(f.unassigned, 3);
	seg_scheme_figures_release(&f);
	seg_scheme_release(&s);
}

static void test_transitions(void **state)
{
	struct seg_scheme_snap a = {0}, b = {0};
	struct seg_buf out = SEG_BUF_INIT;
	(void)state;
	a.id = 1;
	a.at = strdup("2026-11-01T00:00:00Z");
	a.fallback = strdup("Other");
	seg_scheme_snap_add_segment(&a, 10, "X");
	seg_scheme_snap_add_segment(&a, 20, "Y");
	b.id = 2;
	b.at = strdup("2026-11-29T00:00:00Z");
	seg_scheme_snap_add_segment(&b, 30, "Z");
	seg_scheme_snap_add_segment(&b, 10, "X renamed");
	struct seg_scheme_flow flows[] = {
		{10, 10, 5}, {10, 30, 2}, {20, 0, 4}, {0, 30, 1}, {0, 0, 7}, {99, 10, 3},
	};
	seg_scheme_transitions_json(&a, &b, "2026-11-02T00:00:00Z", "2026-11-29T12:00:00Z", flows,
				    6, &out);
	assert_string_equal(
		out.data,
		"{\"from\":\"2026-11-01T00:00:00Z\",\"to\":\"2026-11-29T00:00:00Z\","
		"\"from_snapshot\":\"1\",\"to_snapshot\":\"2\","
		"\"requested_from\":\"2026-11-02T00:00:00Z\",\"requested_to\":"
		"\"2026-11-29T12:00:00Z\",\"segments\":[{\"id\":\"30\",\"name\":\"Z\"},"
		"{\"id\":\"10\",\"name\":\"X renamed\"},{\"id\":\"20\",\"name\":\"Y\"},"
		"{\"id\":null,\"name\":\"Other\"}],\"counts\":[[0,0,0,0],[2,5,0,0],[0,0,0,4],"
		"[1,3,0,7]]}");
	seg_buf_release(&out);
	seg_scheme_snap_release(&a);
	seg_scheme_snap_release(&b);
}

static void test_doubles(void **state)
{
	struct seg_buf out = SEG_BUF_INIT;
	(void)state;
	double xs[] = {0, 1, 0.1, 1.0 / 3, 2.0 / 3, 0.3, 1e-7, 123456.789};
	const char *want[] = {
		"0",   "1",	"0.1",	     "0.3333333333333333", "0.6666666666666666",
		"0.3", "1e-07", "123456.789"};
	for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++) {
		seg_buf_reset(&out);
		seg_json_add_double(&out, xs[i]);
		assert_string_equal(out.data, want[i]);
		assert_true(strtod(out.data, NULL) == xs[i]);
	}
	seg_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_figures),		  cmocka_unit_test(test_report),
		cmocka_unit_test(test_fallback_and_mece), cmocka_unit_test(test_edges),
		cmocka_unit_test(test_transitions),	  cmocka_unit_test(test_doubles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

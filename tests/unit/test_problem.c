/* Unit tests of lib/problem.c: problem documents, parsed back with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "problem.h"

/* Renders p for err and parses the result; fails the test if it is not one JSON object. */
static json_t *render(const struct seg_problem *p, enum seg_err err, const char *instance)
{
	struct seg_buf out = SEG_BUF_INIT;
	json_error_t e;
	seg_buf_addstr(&out, ""); /* render appends */
	seg_problem_render(p, err, instance, &out);
	json_t *doc = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &e);
	if (!doc)
		fail_msg("not JSON: %s: %s", e.text, out.data);
	assert_true(json_is_object(doc));
	seg_buf_release(&out);
	return doc;
}

static const char *str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

static void test_empty_problem(void **state)
{
	struct seg_problem p;
	(void)state;
	seg_problem_init(&p);
	json_t *doc = render(&p, SEG_ERR_NOT_FOUND, NULL);
	assert_string_equal(str(doc, "type"), "urn:segmentd:problem:not-found");
	assert_string_equal(str(doc, "title"), "Not found");
	assert_int_equal(json_integer_value(json_object_get(doc, "status")), 404);
	assert_string_equal(str(doc, "detail"),
			    seg_err_detail(SEG_ERR_NOT_FOUND)); /* the default detail stands in */
	assert_null(json_object_get(doc, "errors"));
	assert_null(json_object_get(doc, "instance"));
	assert_null(json_object_get(doc, "errors_truncated"));
	assert_int_equal(json_object_size(doc), 4);
	json_decref(doc);
	seg_problem_release(&p);

	/* No problem at all. */
	doc = render(NULL, SEG_ERR_UNAVAILABLE, NULL);
	assert_string_equal(str(doc, "type"), "urn:segmentd:problem:unavailable");
	assert_int_equal(json_integer_value(json_object_get(doc, "status")), 503);
	assert_string_equal(str(doc, "detail"), seg_err_detail(SEG_ERR_UNAVAILABLE));
	json_decref(doc);
}

static void test_every_error(void **state)
{
	(void)state;
	for (int e = SEG_ERR_MALFORMED; e < SEG_ERR__COUNT; e++) {
		json_t *doc = render(NULL, (enum seg_err)e, NULL);
		char want[128];
		snprintf(want, sizeof(want), "urn:segmentd:problem:%s",
			 seg_err_slug((enum seg_err)e));
		assert_string_equal(str(doc, "type"), want);
		assert_string_equal(str(doc, "title"), seg_err_title((enum seg_err)e));
		assert_int_equal(json_integer_value(json_object_get(doc, "status")),
				 seg_err_status((enum seg_err)e));
		json_decref(doc);
	}
}

static void test_detail_and_instance(void **state)
{
	struct seg_problem p;
	(void)state;
	seg_problem_init(&p);
	seg_problem_detail(&p, "could not parse rule: unknown operator \"%s\"", "gte_");
	seg_problem_detail(&p, "second %d", 2); /* replaces */
	json_t *doc = render(&p, SEG_ERR_INVALID, "/v1/segments");
	assert_string_equal(str(doc, "detail"), "second 2");
	assert_string_equal(str(doc, "instance"), "/v1/segments");
	assert_int_equal(json_integer_value(json_object_get(doc, "status")), 422);
	json_decref(doc);
	seg_problem_release(&p);
	seg_problem_release(&p); /* released twice is harmless */
}

static void test_items(void **state)
{
	struct seg_problem p;
	(void)state;
	seg_problem_init(&p);
	seg_problem_add(&p, SEG_WHERE_POINTER, "/attributes/age", 0, "expected an integer, got %s",
			"a string");
	seg_problem_add(&p, SEG_WHERE_PARAMETER, "limit", 0, "must be 1 to %d", 1000);
	seg_problem_add(&p, SEG_WHERE_LINE, NULL, 7, "line %d is bad", 7);
	seg_problem_add(&p, SEG_WHERE_POINTER, "", 0, "the whole body"); /* root pointer */
	assert_int_equal(p.count, 4);
	json_t *doc = render(&p, SEG_ERR_INVALID, NULL);
	/* Without a detail of its own, the first item's detail is the problem's. */
	assert_string_equal(str(doc, "detail"), "expected an integer, got a string");
	json_t *errs = json_object_get(doc, "errors");
	assert_int_equal(json_array_size(errs), 4);
	json_t *e0 = json_array_get(errs, 0), *e1 = json_array_get(errs, 1),
	       *e2 = json_array_get(errs, 2), *e3 = json_array_get(errs, 3);
	assert_string_equal(str(e0, "pointer"), "/attributes/age");
	assert_string_equal(str(e0, "detail"), "expected an integer, got a string");
	assert_int_equal(json_object_size(e0), 2);
	assert_string_equal(str(e1, "parameter"), "limit");
	assert_string_equal(str(e1, "detail"), "must be 1 to 1000");
	assert_int_equal(json_object_size(e1), 2);
	assert_true(json_is_integer(json_object_get(e2, "line")));
	assert_int_equal(json_integer_value(json_object_get(e2, "line")), 7);
	assert_string_equal(str(e2, "detail"), "line 7 is bad");
	assert_int_equal(json_object_size(e2), 2);
	assert_string_equal(str(e3, "pointer"), "");
	assert_null(json_object_get(doc, "errors_truncated"));
	json_decref(doc);
	seg_problem_release(&p);
	assert_int_equal(p.count, 0);
}

static void test_truncation(void **state)
{
	struct seg_problem p;
	(void)state;
	seg_problem_init(&p);
	for (size_t i = 1; i <= SEG_PROBLEM_MAX; i++)
		seg_problem_add(&p, SEG_WHERE_LINE, NULL, i, "bad line %zu", i);
	json_t *doc = render(&p, SEG_ERR_INVALID, NULL);
	assert_int_equal(json_array_size(json_object_get(doc, "errors")), 100);
	assert_null(json_object_get(doc, "errors_truncated")); /* exactly at the limit */
	json_decref(doc);

	for (size_t i = SEG_PROBLEM_MAX + 1; i <= 250; i++)
		seg_problem_add(&p, SEG_WHERE_LINE, NULL, i, "bad line %zu", i);
	assert_int_equal(p.count, SEG_PROBLEM_MAX);
	assert_int_equal(p.dropped, 150);
	doc = render(&p, SEG_ERR_INVALID, NULL);
	json_t *errs = json_object_get(doc, "errors");
	assert_int_equal(json_array_size(errs), 100);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(errs, 99), "line")),
			 100);
	assert_int_equal(json_integer_value(json_object_get(doc, "errors_truncated")), 150);
	json_decref(doc);
	seg_problem_release(&p);

	/* One over the limit. */
	seg_problem_init(&p);
	for (size_t i = 1; i <= SEG_PROBLEM_MAX + 1; i++)
		seg_problem_add(&p, SEG_WHERE_POINTER, "/x", 0, "bad");
	doc = render(&p, SEG_ERR_INVALID, NULL);
	assert_int_equal(json_integer_value(json_object_get(doc, "errors_truncated")), 1);
	json_decref(doc);
	seg_problem_release(&p);
}

static void test_escaping(void **state)
{
	struct seg_problem p;
	(void)state;
	seg_problem_init(&p);
	seg_problem_detail(&p, "quote \" backslash \\ newline \n tab \t ctl \x01 del \x7f é 😀");
	seg_problem_add(&p, SEG_WHERE_POINTER, "/attributes/a~1b/\"q\"", 0, "%s", "x\r\ny");
	seg_problem_add(&p, SEG_WHERE_PARAMETER, "na\"me", 0, "%s", "</script>");
	/* Text that is not UTF-8 still gives valid JSON. */
	seg_problem_add(&p, SEG_WHERE_POINTER, "/bad\xff", 0, "cut \xe2\x82 here \xc0\x80!");
	json_t *doc = render(&p, SEG_ERR_INVALID, "/v1/x?\"");
	assert_string_equal(str(doc, "detail"),
			    "quote \" backslash \\ newline \n tab \t ctl \x01 del \x7f é 😀");
	assert_string_equal(str(doc, "instance"), "/v1/x?\"");
	json_t *errs = json_object_get(doc, "errors");
	assert_string_equal(str(json_array_get(errs, 0), "pointer"), "/attributes/a~1b/\"q\"");
	assert_string_equal(str(json_array_get(errs, 0), "detail"), "x\r\ny");
	assert_string_equal(str(json_array_get(errs, 1), "parameter"), "na\"me");
	assert_string_equal(str(json_array_get(errs, 1), "detail"), "</script>");
	assert_string_equal(str(json_array_get(errs, 2), "pointer"), "/bad\xef\xbf\xbd");
	assert_string_equal(str(json_array_get(errs, 2), "detail"),
			    "cut \xef\xbf\xbd\xef\xbf\xbd here \xef\xbf\xbd\xef\xbf\xbd!");
	json_decref(doc);
	seg_problem_release(&p);
}

static void test_render_appends(void **state)
{
	struct seg_buf out = SEG_BUF_INIT;
	(void)state;
	seg_buf_addstr(&out, "prefix:");
	seg_problem_render(NULL, SEG_ERR_CONFLICT, NULL, &out);
	assert_memory_equal(out.data, "prefix:{\"type\":", 15);
	json_t *doc = json_loads(out.data + 7, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "status")), 409);
	json_decref(doc);
	seg_buf_release(&out);
}

static void test_pointer_push(void **state)
{
	struct seg_buf ptr = SEG_BUF_INIT;
	(void)state;
	seg_pointer_push(&ptr, "attributes");
	assert_string_equal(ptr.data, "/attributes");
	seg_pointer_push(&ptr, "a/b");
	assert_string_equal(ptr.data, "/attributes/a~1b");
	seg_pointer_push(&ptr, "m~n");
	assert_string_equal(ptr.data, "/attributes/a~1b/m~0n");
	seg_pointer_push(&ptr, "~1");
	assert_string_equal(ptr.data, "/attributes/a~1b/m~0n/~01");
	seg_pointer_push(&ptr, "");
	assert_string_equal(ptr.data, "/attributes/a~1b/m~0n/~01/");
	seg_buf_reset(&ptr);
	seg_pointer_push_index(&ptr, 3);
	seg_pointer_push(&ptr, "occurred_at");
	assert_string_equal(ptr.data, "/3/occurred_at");
	seg_pointer_push_index(&ptr, 0);
	seg_pointer_push_index(&ptr, 10000);
	assert_string_equal(ptr.data, "/3/occurred_at/0/10000");
	seg_buf_release(&ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_problem),	    cmocka_unit_test(test_every_error),
		cmocka_unit_test(test_detail_and_instance), cmocka_unit_test(test_items),
		cmocka_unit_test(test_truncation),	    cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_render_appends),	    cmocka_unit_test(test_pointer_push),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of lib/validate.c (customer documents and events) and lib/jsonspan.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jsonspan.h"
#include "validate.h"

static json_t *parse(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	assert_non_null(v);
	return v;
}

/* The last checked document stays alive until the next check: out borrows strings from it. */
static json_t *last_doc;

/* Checks doc in mode with an optional catalogue; returns the faults and the first pointer. */
static size_t check_doc(const char *text, enum seg_doc_mode mode,
			const struct seg_attr_catalog *cat, struct seg_customer_doc *out,
			char *pointer, size_t plen)
{
	struct seg_problem p;
	struct seg_attr_catalog empty;
	json_decref(last_doc);
	json_t *doc = parse(text);
	last_doc = doc;
	seg_problem_init(&p);
	seg_attr_catalog_init(&empty);
	size_t n = seg_customer_doc_check(doc, mode, cat ? cat : &empty, "", &p, out);
	assert_int_equal(n, p.count);
	if (pointer)
		snprintf(pointer, plen, "%s", p.count ? p.items[0].pointer : "");
	seg_problem_release(&p);
	seg_attr_catalog_release(&empty);
	return n;
}

static void test_customer_doc_modes(void **state)
{
	struct seg_customer_doc d;
	char ptr[128];
	(void)state;

	assert_int_equal(check_doc("{}", SEG_DOC_PUT, NULL, &d, ptr, sizeof(ptr)), 0);
	assert_null(d.kind);
	assert_true(d.flat);
	assert_int_equal(check_doc("{\"kind\":\"company\",\"attributes\":{\"a\":1}}", SEG_DOC_PUT,
				   NULL, &d, ptr, sizeof(ptr)),
			 0);
	assert_string_equal(d.kind, "company");
	assert_int_equal(check_doc("{\"kind\":\"alien\"}", SEG_DOC_PUT, NULL, &d, ptr, sizeof(ptr)),
			 1);
	assert_string_equal(ptr, "/kind");
	assert_int_equal(check_doc("{\"id\":\"x\"}", SEG_DOC_PUT, NULL, &d, ptr, sizeof(ptr)), 1);
	assert_string_equal(ptr, "/id");
	assert_int_equal(check_doc("[1]", SEG_DOC_PUT, NULL, &d, ptr, sizeof(ptr)), 1);
	/* PUT: attributes null means {}; PATCH: null clears; IMPORT: refused. */
	assert_int_equal(check_doc("{\"attributes\":null}", SEG_DOC_PUT, NULL, &d, NULL, 0), 0);
	assert_int_equal(check_doc("{\"attributes\":null}", SEG_DOC_PATCH, NULL, &d, NULL, 0), 0);
	assert_false(d.flat);
	assert_int_equal(check_doc("{\"id\":\"a\",\"attributes\":null}", SEG_DOC_IMPORT, NULL, &d,
				   ptr, sizeof(ptr)),
			 1);
	assert_string_equal(ptr, "/attributes");
	/* PATCH: kind may not be removed. */
	assert_int_equal(check_doc("{\"kind\":null}", SEG_DOC_PATCH, NULL, &d, ptr, sizeof(ptr)),
			 1);
	assert_int_equal(check_doc("{\"kind\":null}", SEG_DOC_PUT, NULL, &d, NULL, 0), 0);
	/* IMPORT needs a valid id: 1..128 bytes, printable. */
	assert_int_equal(
		check_doc("{\"attributes\":{}}", SEG_DOC_IMPORT, NULL, &d, ptr, sizeof(ptr)), 1);
	assert_string_equal(ptr, "/id");
	assert_int_equal(check_doc("{\"id\":\"a\\u0001b\"}", SEG_DOC_IMPORT, NULL, &d, NULL, 0), 1);
	char doc[400] = "{\"id\":\"";
	memset(doc + 7, 'x', 128);
	strcpy(doc + 135, "\"}");
	assert_int_equal(check_doc(doc, SEG_DOC_IMPORT, NULL, &d, NULL, 0), 0);
	assert_int_equal(strlen(d.id), 128);
	memset(doc + 7, 'x', 129);
	strcpy(doc + 136, "\"}");
	assert_int_equal(check_doc(doc, SEG_DOC_IMPORT, NULL, &d, NULL, 0), 1);
	assert_int_equal(check_doc("{\"id\":\"k\\u00e4-\\ud83c\\udf89\"}", SEG_DOC_IMPORT, NULL, &d,
				   NULL, 0),
			 0);
}

static void test_customer_doc_flags(void **state)
{
	struct seg_customer_doc d;
	(void)state;
	check_doc("{\"attributes\":{\"a\":1,\"b\":[null]}}", SEG_DOC_PATCH, NULL, &d, NULL, 0);
	assert_true(d.flat);
	assert_false(d.has_null); /* nulls inside arrays are values, not removals */
	check_doc("{\"attributes\":{\"a\":null}}", SEG_DOC_PATCH, NULL, &d, NULL, 0);
	assert_false(d.flat);
	assert_true(d.has_null);
	check_doc("{\"attributes\":{\"a\":{\"b\":{\"c\":null}}}}", SEG_DOC_PATCH, NULL, &d, NULL,
		  0);
	assert_false(d.flat);
	assert_true(d.has_null);
	check_doc("{\"attributes\":{\"a\":{\"b\":1}}}", SEG_DOC_PATCH, NULL, &d, NULL, 0);
	assert_false(d.flat);
	assert_false(d.has_null);
}

static void test_customer_doc_depth_and_catalog(void **state)
{
	struct seg_attr_catalog cat;
	struct seg_customer_doc d;
	char text[512], ptr[128];
	size_t n = 0;
	(void)state;

	/* attributes {"a":{"a":...}} nested 32 levels pass, 33 do not */
	for (int depth = 32; depth <= 33; depth++) {
		n = (size_t)snprintf(text, sizeof(text), "{\"attributes\":");
		for (int i = 1; i < depth; i++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"a\":");
		n += (size_t)snprintf(text + n, sizeof(text) - n, "{}");
		for (int i = 0; i < depth; i++)
			text[n++] = '}';
		text[n] = '\0';
		assert_int_equal(check_doc(text, SEG_DOC_PUT, NULL, &d, NULL, 0),
				 depth == 33 ? 1 : 0);
	}

	seg_attr_catalog_init(&cat);
	seg_attr_catalog_add(&cat, "age", SEG_ATTR_INTEGER, NULL);
	seg_attr_catalog_add(&cat, "address.city", SEG_ATTR_STRING, NULL);
	assert_int_equal(
		check_doc("{\"attributes\":{\"age\":30.0}}", SEG_DOC_PUT, &cat, &d, NULL, 0), 0);
	assert_int_equal(check_doc("{\"attributes\":{\"age\":\"30\"}}", SEG_DOC_PUT, &cat, &d, ptr,
				   sizeof(ptr)),
			 1);
	assert_string_equal(ptr, "/attributes/age");
	assert_int_equal(check_doc("{\"attributes\":{\"address\":{\"city\":5}}}", SEG_DOC_PUT, &cat,
				   &d, ptr, sizeof(ptr)),
			 1);
	assert_string_equal(ptr, "/attributes/address/city");
	/* a patch that removes a registered attribute is fine */
	assert_int_equal(
		check_doc("{\"attributes\":{\"age\":null}}", SEG_DOC_PATCH, &cat, &d, NULL, 0), 0);
	seg_attr_catalog_release(&cat);
}

static size_t check_event(const char *text, struct seg_event_doc *ev, char *ptr, size_t plen)
{
	struct seg_problem p;
	json_t *v = parse(text);
	seg_problem_init(&p);
	size_t n = seg_event_check(v, "/7", &p, ev);
	assert_int_equal(n, p.count);
	snprintf(ptr, plen, "%s", p.count ? p.items[0].pointer : "");
	seg_problem_release(&p);
	json_decref(v);
	return n;
}

static void test_event_check(void **state)
{
	struct seg_event_doc ev;
	char ptr[128];
	(void)state;

	assert_int_equal(
		check_event("{\"customer_id\":\"c\",\"type\":\"purchase\","
			    "\"occurred_at\":\"2026-11-23T12:00:00+02:00\",\"amount\":19.99}",
			    &ev, ptr, sizeof(ptr)),
		0);
	assert_string_equal(ev.occurred_at, "2026-11-23T10:00:00Z");
	assert_null(ev.id);
	assert_int_equal(
		check_event("{\"id\":null,\"customer_id\":\"c\",\"type\":\"t\",\"occurred_at\":"
			    "\"2026-11-23T10:00:00.5Z\",\"amount\":null,\"properties\":null}",
			    &ev, ptr, sizeof(ptr)),
		0);
	assert_string_equal(ev.occurred_at, "2026-11-23T10:00:00.5Z");
	assert_int_equal(
		check_event("{\"customer_id\":\"c\",\"type\":\"t\",\"occurred_at\":\"yesterday\"}",
			    &ev, ptr, sizeof(ptr)),
		1);
	assert_string_equal(ptr, "/7/occurred_at");
	/* RFC 3339 writes years 0001..9999: an offset must not carry the instant outside */
	assert_int_equal(check_event("{\"customer_id\":\"c\",\"type\":\"t\",\"occurred_at\":"
				     "\"9999-12-31T23:00:00-14:00\"}",
				     &ev, ptr, sizeof(ptr)),
			 1);
	assert_string_equal(ptr, "/7/occurred_at");
	assert_int_equal(check_event("{\"customer_id\":\"c\",\"type\":\"t\",\"occurred_at\":"
				     "\"0001-01-01T00:30:00+01:00\"}",
				     &ev, ptr, sizeof(ptr)),
			 1);
	assert_int_equal(check_event("{\"customer_id\":\"c\",\"type\":\"t\",\"occurred_at\":"
				     "\"9999-12-31T23:59:59.999999Z\"}",
				     &ev, ptr, sizeof(ptr)),
			 0);
	assert_int_equal(check_event("{\"type\":\"t\",\"occurred_at\":\"2026-11-23T10:00:00Z\"}",
				     &ev, ptr, sizeof(ptr)),
			 1);
	assert_string_equal(ptr, "/7/customer_id");
	assert_int_equal(
		check_event("{\"customer_id\":\"c\",\"type\":\"t\",\"occurred_at\":"
			    "\"2026-11-23T10:00:00Z\",\"amount\":\"5\",\"properties\":[],\"x\":1}",
			    &ev, ptr, sizeof(ptr)),
		3);
	assert_int_equal(check_event("[]", &ev, ptr, sizeof(ptr)), 1);
	assert_string_equal(ptr, "/7");
	/* type: 1..64 bytes */
	char text[256];
	snprintf(text, sizeof(text),
		 "{\"customer_id\":\"c\",\"type\":\"%065d\",\"occurred_at\":\"2026-11-23T10:00:"
		 "00Z\"}",
		 0);
	assert_int_equal(check_event(text, &ev, ptr, sizeof(ptr)), 1);
	assert_string_equal(ptr, "/7/type");
}

struct spans {
	char got[8][64];
	size_t n;
};

static int collect(void *ctx, size_t index, const char *start, size_t len)
{
	struct spans *s = ctx;
	assert_int_equal(index, s->n);
	snprintf(s->got[s->n++], 64, "%.*s", (int)len, start);
	return 0;
}

static void test_jsonspan(void **state)
{
	struct spans s = {0};
	const char *text =
		" [ 19.990 , {\"a\": \"]}\\\"\"}, [1,[2]], \"x,y\", -0.0e+5, true, null ] ";
	(void)state;
	assert_int_equal(seg_json_array_spans(text, strlen(text), collect, &s), 0);
	assert_int_equal(s.n, 7);
	assert_string_equal(s.got[0], "19.990");
	assert_string_equal(s.got[1], "{\"a\": \"]}\\\"\"}");
	assert_string_equal(s.got[2], "[1,[2]]");
	assert_string_equal(s.got[3], "\"x,y\"");
	assert_string_equal(s.got[4], "-0.0e+5");
	assert_string_equal(s.got[5], "true");
	assert_string_equal(s.got[6], "null");
	memset(&s, 0, sizeof(s));
	assert_int_equal(seg_json_array_spans("[]", 2, collect, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(seg_json_array_spans("{}", 2, collect, &s), -1);
	assert_int_equal(seg_json_array_spans("", 0, collect, &s), -1);
}

static void test_member_span(void **state)
{
	const char *text = " { \"id\" : \"a,}\" , \"x\":[1,{\"attributes\":2}], "
			   "\"attr\\u0069butes\": {\"n\": 19.990, \"s\": \"}\"} , \"z\": null } ";
	const char *start;
	size_t n;
	(void)state;
	assert_true(seg_json_member_span(text, strlen(text), "attributes", &start, &n));
	assert_int_equal(n, strlen("{\"n\": 19.990, \"s\": \"}\"}"));
	assert_memory_equal(start, "{\"n\": 19.990, \"s\": \"}\"}", n);
	assert_true(seg_json_member_span(text, strlen(text), "id", &start, &n));
	assert_memory_equal(start, "\"a,}\"", n);
	assert_true(seg_json_member_span(text, strlen(text), "z", &start, &n));
	assert_memory_equal(start, "null", n);
	assert_false(seg_json_member_span(text, strlen(text), "kind", &start, &n));
	assert_false(seg_json_member_span("[1]", 3, "a", &start, &n));
	assert_false(seg_json_member_span("{}", 2, "a", &start, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_customer_doc_modes),
		cmocka_unit_test(test_customer_doc_flags),
		cmocka_unit_test(test_customer_doc_depth_and_catalog),
		cmocka_unit_test(test_event_check),
		cmocka_unit_test(test_jsonspan),
		cmocka_unit_test(test_member_span),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(last_doc);
	return failed;
}

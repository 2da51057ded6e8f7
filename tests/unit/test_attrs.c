/* Unit tests of lib/attrs.c: attribute types, allowed values, dotted paths, CSV cells. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "attrs.h"
#include "buf.h"
#include "problem.h"

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
	if (!v)
		fail_msg("bad test JSON %s: %s", text, e.text);
	return v;
}

/* Checks the JSON text against a definition of type t with allowed values (JSON or NULL). */
static bool check(enum seg_attr_type t, const char *allowed, const char *value, char *why,
		  size_t whylen)
{
	struct seg_attr_def def = {(char *)"x", t, allowed ? J(allowed) : NULL};
	json_t *v = J(value);
	if (why)
		why[0] = '\0';
	bool ok = seg_attr_check(&def, v, why, whylen);
	json_decref(v);
	json_decref(def.allowed);
	return ok;
}

#define OK(t, v)  assert_true(check(SEG_ATTR_##t, NULL, v, NULL, 0))
#define BAD(t, v) assert_false(check(SEG_ATTR_##t, NULL, v, NULL, 0))

static void expect_why(enum seg_attr_type t, const char *allowed, const char *value,
		       const char *want)
{
	char why[200];
	assert_false(check(t, allowed, value, why, sizeof(why)));
	assert_string_equal(why, want);
}

static void test_type_names(void **state)
{
	enum seg_attr_type t;
	(void)state;
	static const char *names[] = {"number", "integer",   "string",	   "boolean",
				      "date",	"timestamp", "string_list"};
	for (int i = 0; i < SEG_ATTR__COUNT; i++) {
		assert_true(seg_attr_type_parse(names[i], &t));
		assert_int_equal(t, i);
		assert_string_equal(seg_attr_type_name(t), names[i]);
	}
	assert_false(seg_attr_type_parse("Number", &t));
	assert_false(seg_attr_type_parse("", &t));
	assert_false(seg_attr_type_parse("float", &t));
	assert_false(seg_attr_type_parse(NULL, &t));
}

static void test_null_passes(void **state)
{
	struct seg_attr_def def = {(char *)"x", SEG_ATTR_INTEGER, NULL};
	(void)state;
	for (int t = 0; t < SEG_ATTR__COUNT; t++) {
		assert_true(check((enum seg_attr_type)t, NULL, "null", NULL, 0));
		assert_true(check((enum seg_attr_type)t, "[1]", "null", NULL, 0));
	}
	assert_true(seg_attr_check(&def, NULL, NULL, 0)); /* absent */
}

static void test_types(void **state)
{
	(void)state;
	OK(NUMBER, "0");
	OK(NUMBER, "-3.5");
	OK(NUMBER, "1e300");
	BAD(NUMBER, "\"3\"");
	BAD(NUMBER, "true");
	BAD(NUMBER, "[1]");
	BAD(NUMBER, "{}");

	OK(INTEGER, "30");
	OK(INTEGER, "-30");
	OK(INTEGER, "30.0"); /* a real with no fractional part */
	OK(INTEGER, "0.0");
	OK(INTEGER, "1e3");
	BAD(INTEGER, "30.5");
	BAD(INTEGER, "-0.1");
	BAD(INTEGER, "1e-3");
	BAD(INTEGER, "\"30\"");
	BAD(INTEGER, "false");

	OK(STRING, "\"\"");
	OK(STRING, "\"caf\\u00e9\"");
	BAD(STRING, "1");
	BAD(STRING, "[\"a\"]");

	OK(BOOLEAN, "true");
	OK(BOOLEAN, "false");
	BAD(BOOLEAN, "1");
	BAD(BOOLEAN, "\"true\"");

	OK(DATE, "\"2024-02-29\"");
	BAD(DATE, "\"2023-02-29\"");
	BAD(DATE, "\"2024-02-29T00:00:00Z\"");
	BAD(DATE, "\"\"");
	BAD(DATE, "20240229");

	OK(TIMESTAMP, "\"2026-11-23T10:00:00Z\"");
	OK(TIMESTAMP, "\"2026-11-23T10:00:00.5+02:00\"");
	BAD(TIMESTAMP, "\"2026-11-23\"");
	BAD(TIMESTAMP, "\"2026-11-23T24:00:00Z\"");
	BAD(TIMESTAMP, "1795428000");

	OK(STRING_LIST, "[]");
	OK(STRING_LIST, "[\"a\", \"b\", \"\"]");
	BAD(STRING_LIST, "\"a\"");
	BAD(STRING_LIST, "[\"a\", 1]");
	BAD(STRING_LIST, "[\"a\", null]");
	BAD(STRING_LIST, "[[\"a\"]]");
	BAD(STRING_LIST, "{}");
}

static void test_messages(void **state)
{
	(void)state;
	expect_why(SEG_ATTR_INTEGER, NULL, "\"30\"", "expected an integer, got a string");
	expect_why(SEG_ATTR_INTEGER, NULL, "30.5", "expected an integer, got 30.5");
	expect_why(SEG_ATTR_NUMBER, NULL, "true", "expected a number, got a boolean");
	expect_why(SEG_ATTR_STRING, NULL, "{}", "expected a string, got an object");
	expect_why(SEG_ATTR_BOOLEAN, NULL, "[]", "expected a boolean, got an array");
	expect_why(SEG_ATTR_DATE, NULL, "\"2023-02-29\"",
		   "\"2023-02-29\" is not a date (YYYY-MM-DD)");
	expect_why(SEG_ATTR_DATE, NULL, "7", "expected a date (YYYY-MM-DD), got a number");
	expect_why(SEG_ATTR_TIMESTAMP, NULL, "\"soon\"", "\"soon\" is not an RFC 3339 timestamp");
	expect_why(SEG_ATTR_STRING_LIST, NULL, "[\"a\", 2]",
		   "expected a list of strings, element 1 is a number");
	expect_why(SEG_ATTR_STRING, "[\"S\", \"M\", \"L\"]", "\"XL\"",
		   "\"XL\" is not one of the allowed values");
	expect_why(SEG_ATTR_NUMBER, "[1, 2]", "3", "3 is not one of the allowed values");
	/* A long value is cut in the message, at a character boundary. */
	char why[200], value[300];
	snprintf(value, sizeof(value), "\"%s\"",
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	assert_false(check(SEG_ATTR_STRING, "[\"a\"]", value, why, sizeof(why)));
	assert_non_null(strstr(why, "...\" is not one of the allowed values"));
	assert_int_equal(strncmp(why, "\"\xc3\xa9", 3), 0);
	assert_true(strlen(why) < 120);
	/* A short buffer gets a cut message, never an overflow; why may be NULL. */
	assert_false(check(SEG_ATTR_INTEGER, NULL, "\"30\"", why, 9));
	assert_string_equal(why, "expected");
	assert_false(check(SEG_ATTR_INTEGER, NULL, "\"30\"", NULL, 0));
}

static void test_json_equal(void **state)
{
	static const struct {
		const char *a, *b;
		bool eq;
	} v[] = {
		{"30", "30", true},
		{"30", "30.0", true},
		{"30.0", "30", true},
		{"30", "3e1", true},
		{"-0", "0.0", true},
		{"30", "30.5", false},
		{"30", "31", false},
		{"0.5", "0.5", true},
		{"9007199254740993", "9007199254740992.0", false}, /* exact, not via double */
		{"9223372036854775807", "9.3e18", false},
		{"30", "\"30\"", false},
		{"1", "true", false},
		{"0", "false", false},
		{"null", "null", true},
		{"null", "0", false},
		{"\"a\"", "\"a\"", true},
		{"\"a\"", "\"A\"", false},
		{"[1, 2]", "[1.0, 2]", true},
		{"[1, 2]", "[2, 1]", false},
		{"[1]", "[1, 1]", false},
		{"{\"a\": 1}", "{\"a\": 1.0}", true},
		{"{\"a\": 1}", "{\"b\": 1}", false},
		{"{\"a\": 1}", "{\"a\": 1, \"b\": 2}", false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		json_t *a = J(v[i].a), *b = J(v[i].b);
		if (seg_json_equal(a, b) != v[i].eq || seg_json_equal(b, a) != v[i].eq)
			fail_msg("seg_json_equal(%s, %s) should be %d", v[i].a, v[i].b, v[i].eq);
		json_decref(a);
		json_decref(b);
	}
	assert_true(seg_json_equal(NULL, NULL));
	json_t *one = J("1");
	assert_false(seg_json_equal(one, NULL));
	assert_false(seg_json_equal(NULL, one));
	json_decref(one);
}

static void test_enums(void **state)
{
	(void)state;
	assert_true(check(SEG_ATTR_STRING, "[\"S\", \"M\", \"L\"]", "\"M\"", NULL, 0));
	assert_false(check(SEG_ATTR_STRING, "[\"S\", \"M\", \"L\"]", "\"m\"", NULL, 0));
	/* Numbers compare by value. */
	assert_true(check(SEG_ATTR_NUMBER, "[10, 20, 30]", "30.0", NULL, 0));
	assert_true(check(SEG_ATTR_NUMBER, "[10, 20, 30.0]", "30", NULL, 0));
	assert_true(check(SEG_ATTR_INTEGER, "[10, 20, 30]", "30.0", NULL, 0));
	assert_false(check(SEG_ATTR_NUMBER, "[10, 20, 30]", "30.5", NULL, 0));
	assert_false(check(SEG_ATTR_NUMBER, "[10, 20, 30]", "31", NULL, 0));
	/* Types must match: the number 30 is not the string "30". */
	assert_false(check(SEG_ATTR_NUMBER, "[\"30\"]", "30", NULL, 0));
	assert_false(check(SEG_ATTR_STRING, "[30]", "\"30\"", NULL, 0));
	assert_true(check(SEG_ATTR_BOOLEAN, "[true]", "true", NULL, 0));
	assert_false(check(SEG_ATTR_BOOLEAN, "[true]", "false", NULL, 0));
	assert_true(check(SEG_ATTR_DATE, "[\"2024-01-01\"]", "\"2024-01-01\"", NULL, 0));
	assert_false(check(SEG_ATTR_DATE, "[\"2024-01-01\"]", "\"2024-01-02\"", NULL, 0));
	/* The type check comes first. */
	expect_why(SEG_ATTR_INTEGER, "[30]", "\"30\"", "expected an integer, got a string");
	/* An empty list of allowed values allows nothing (but null). */
	assert_false(check(SEG_ATTR_STRING, "[]", "\"a\"", NULL, 0));
	assert_true(check(SEG_ATTR_STRING, "[]", "null", NULL, 0));
}

static void test_string_list_enum(void **state)
{
	(void)state;
	const char *allowed = "[\"red\", \"green\", \"blue\"]";
	assert_true(check(SEG_ATTR_STRING_LIST, allowed, "[]", NULL, 0));
	assert_true(check(SEG_ATTR_STRING_LIST, allowed, "[\"red\"]", NULL, 0));
	assert_true(check(SEG_ATTR_STRING_LIST, allowed, "[\"blue\", \"red\", \"red\"]", NULL, 0));
	expect_why(SEG_ATTR_STRING_LIST, allowed, "[\"red\", \"pink\"]",
		   "\"pink\" is not one of the allowed values");
	/* The elements are checked, not the list as a whole. */
	assert_false(check(SEG_ATTR_STRING_LIST, "[[\"red\"]]", "[\"red\"]", NULL, 0));
	expect_why(SEG_ATTR_STRING_LIST, allowed, "[\"red\", 1]",
		   "expected a list of strings, element 1 is a number");
}

static void test_catalog(void **state)
{
	struct seg_attr_catalog c;
	(void)state;
	seg_attr_catalog_init(&c);
	assert_null(seg_attr_catalog_find(&c, "age"));
	json_t *sizes = J("[\"S\", \"M\"]");
	char name[] = "size";
	seg_attr_catalog_add(&c, "age", SEG_ATTR_INTEGER, NULL);
	seg_attr_catalog_add(&c, name, SEG_ATTR_STRING, sizes);
	name[0] = 'X';	    /* the name was copied */
	json_decref(sizes); /* the catalogue holds its own reference */
	seg_attr_catalog_add(&c, "address.city", SEG_ATTR_STRING, NULL);
	assert_int_equal(c.count, 3);
	const struct seg_attr_def *d = seg_attr_catalog_find(&c, "size");
	assert_non_null(d);
	assert_int_equal(d->type, SEG_ATTR_STRING);
	assert_int_equal(json_array_size(d->allowed), 2);
	assert_non_null(seg_attr_catalog_find(&c, "address.city"));
	assert_null(seg_attr_catalog_find(&c, "address"));
	assert_null(seg_attr_catalog_find(&c, "Age"));
	seg_attr_catalog_release(&c);
	assert_int_equal(c.count, 0);
	seg_attr_catalog_release(&c);
}

static void test_validate(void **state)
{
	struct seg_attr_catalog c;
	struct seg_problem p;
	(void)state;
	seg_attr_catalog_init(&c);
	seg_problem_init(&p);
	seg_attr_catalog_add(&c, "age", SEG_ATTR_INTEGER, NULL);
	seg_attr_catalog_add(&c, "address.city", SEG_ATTR_STRING, NULL);
	seg_attr_catalog_add(&c, "a.b.c", SEG_ATTR_BOOLEAN, NULL);
	seg_attr_catalog_add(&c, "signup", SEG_ATTR_DATE, NULL);

	json_t *good = J("{\"age\": 31, \"address\": {\"city\": \"Berlin\", \"zip\": 1},"
			 " \"a\": {\"b\": {\"c\": true}}, \"other\": [1]}");
	assert_int_equal(seg_attr_validate(&c, good, "/attributes", &p), 0);
	assert_int_equal(p.count, 0);
	json_decref(good);

	/* Absent, null, or behind a step that is not an object: nothing to check. */
	json_t *absent = J("{\"age\": null, \"address\": \"Berlin\", \"a\": {\"b\": null}}");
	assert_int_equal(seg_attr_validate(&c, absent, "/attributes", &p), 0);
	json_decref(absent);
	json_t *empty = J("{}");
	assert_int_equal(seg_attr_validate(&c, empty, "/attributes", &p), 0);
	json_decref(empty);
	assert_int_equal(seg_attr_validate(&c, NULL, "/attributes", &p), 0);

	json_t *bad =
		J("{\"age\": 30.5, \"address\": {\"city\": 7}, \"a\": {\"b\": {\"c\": \"y\"}},"
		  " \"signup\": \"2023-02-29\"}");
	assert_int_equal(seg_attr_validate(&c, bad, "/attributes", &p), 4);
	assert_int_equal(p.count, 4);
	assert_int_equal(p.items[0].where, SEG_WHERE_POINTER);
	assert_string_equal(p.items[0].pointer, "/attributes/age");
	assert_string_equal(p.items[0].detail, "expected an integer, got 30.5");
	assert_string_equal(p.items[1].pointer, "/attributes/address/city");
	assert_string_equal(p.items[1].detail, "expected a string, got a number");
	assert_string_equal(p.items[2].pointer, "/attributes/a/b/c");
	assert_string_equal(p.items[3].pointer, "/attributes/signup");
	/* Another prefix, e.g. a line of an import, and no problem to fill. */
	assert_int_equal(seg_attr_validate(&c, bad, "/3/attributes", &p), 4);
	assert_string_equal(p.items[5].pointer, "/3/attributes/address/city");
	assert_int_equal(seg_attr_validate(&c, bad, "", NULL), 4);
	seg_problem_release(&p);
	seg_problem_init(&p);
	assert_int_equal(seg_attr_validate(&c, bad, "", &p), 4);
	assert_string_equal(p.items[0].pointer, "/age");
	json_decref(bad);
	seg_problem_release(&p);
	seg_attr_catalog_release(&c);
}

/* Converts a cell with a definition of type t (allowed values as JSON, or NULL). */
static bool cell(int t, const char *allowed, const char *in, const char *want, const char *why)
{
	struct seg_attr_def def = {(char *)"x", (enum seg_attr_type)t, allowed ? J(allowed) : NULL};
	struct seg_buf out = SEG_BUF_INIT;
	char got_why[200] = "";
	seg_buf_addstr(&out, "{\"x\":");
	bool ok = seg_attr_cell_to_json(t < 0 ? NULL : &def, in, strlen(in), &out, got_why,
					sizeof(got_why));
	if (ok) {
		assert_non_null(want);
		assert_string_equal(out.data + 5, want);
		/* The text is JSON and passes the same check as a JSON body. */
		seg_buf_addch(&out, '}');
		json_t *doc = json_loads(out.data, JSON_DECODE_INT_AS_REAL, NULL);
		assert_non_null(doc);
		if (t >= 0)
			assert_true(seg_attr_check(&def, json_object_get(doc, "x"), NULL, 0));
		json_decref(doc);
	} else {
		assert_string_equal(out.data, "{\"x\":"); /* nothing appended */
		if (why)
			assert_string_equal(got_why, why);
		assert_true(got_why[0] != '\0');
	}
	seg_buf_release(&out);
	json_decref(def.allowed);
	return ok;
}

#define CELL(t, in, want)   assert_true(cell(SEG_ATTR_##t, NULL, in, want, NULL))
#define BADCELL(t, in, why) assert_false(cell(SEG_ATTR_##t, NULL, in, NULL, why))

static void test_cells(void **state)
{
	(void)state;
	/* No definition: a string. */
	assert_true(cell(-1, NULL, "hello", "\"hello\"", NULL));
	assert_true(cell(-1, NULL, "30", "\"30\"", NULL));
	assert_true(cell(-1, NULL, "", "\"\"", NULL));
	assert_true(cell(-1, NULL, "a \"q\" \\ \t caf\xc3\xa9",
			 "\"a \\\"q\\\" \\\\ \\t caf\xc3\xa9\"", NULL));
	assert_false(cell(-1, NULL, "bad \xff", NULL, "value is not valid UTF-8 text"));

	CELL(NUMBER, "30", "30");
	CELL(NUMBER, "-0", "-0");
	CELL(NUMBER, "30.50", "30.50"); /* emitted as written */
	CELL(NUMBER, "1e-7", "1e-7");
	CELL(NUMBER, "123456789012345678901234567890", "123456789012345678901234567890");
	BADCELL(NUMBER, "", "expected a number, got \"\"");
	BADCELL(NUMBER, "abc", "expected a number, got \"abc\"");
	BADCELL(NUMBER, "01", NULL);
	BADCELL(NUMBER, "1.", NULL);
	BADCELL(NUMBER, ".5", NULL);
	BADCELL(NUMBER, "+1", NULL);
	BADCELL(NUMBER, "1e", NULL);
	BADCELL(NUMBER, " 1", NULL);
	BADCELL(NUMBER, "1,5", NULL);
	BADCELL(NUMBER, "NaN", NULL);
	BADCELL(NUMBER, "1e999", "number out of range");

	CELL(INTEGER, "30", "30");
	CELL(INTEGER, "-7", "-7");
	CELL(INTEGER, "30.0", "30.0");
	CELL(INTEGER, "3e1", "3e1");
	CELL(INTEGER, "1.5e1", "1.5e1");
	CELL(INTEGER, "100e-2", "100e-2");
	CELL(INTEGER, "0.000", "0.000");
	CELL(INTEGER, "-0", "-0");
	CELL(INTEGER, "99999999999999999999", "99999999999999999999");
	BADCELL(INTEGER, "30.5", "expected an integer, got \"30.5\"");
	BADCELL(INTEGER, "150e-2", NULL);
	BADCELL(INTEGER, "1e-1", NULL);
	BADCELL(INTEGER, "1.0000000000000000001", NULL); /* exact, not via double */
	BADCELL(INTEGER, "thirty", "expected an integer, got \"thirty\"");
	BADCELL(INTEGER, "", NULL);

	CELL(BOOLEAN, "true", "true");
	CELL(BOOLEAN, "false", "false");
	BADCELL(BOOLEAN, "TRUE", "expected true or false, got \"TRUE\"");
	BADCELL(BOOLEAN, "1", NULL);
	BADCELL(BOOLEAN, "yes", NULL);
	BADCELL(BOOLEAN, "", NULL);

	CELL(STRING, "30", "\"30\"");
	CELL(STRING, "", "\"\"");

	CELL(DATE, "2024-02-29", "\"2024-02-29\"");
	BADCELL(DATE, "2023-02-29", "\"2023-02-29\" is not a date (YYYY-MM-DD)");
	BADCELL(DATE, "29.02.2024", NULL);
	CELL(TIMESTAMP, "2026-11-23T10:00:00+02:00", "\"2026-11-23T10:00:00+02:00\"");
	BADCELL(TIMESTAMP, "2026-11-23", "\"2026-11-23\" is not an RFC 3339 timestamp");

	CELL(STRING_LIST, "a;b;c", "[\"a\",\"b\",\"c\"]");
	CELL(STRING_LIST, "solo", "[\"solo\"]");
	CELL(STRING_LIST, "", "[]"); /* an empty list */
	CELL(STRING_LIST, "a;;b", "[\"a\",\"\",\"b\"]");
	CELL(STRING_LIST, ";", "[\"\",\"\"]");
	CELL(STRING_LIST, "x \"y\"", "[\"x \\\"y\\\"\"]");
}

static void test_cells_allowed(void **state)
{
	(void)state;
	assert_true(cell(SEG_ATTR_NUMBER, "[10, 30]", "30.0", "30.0", NULL));
	assert_true(cell(SEG_ATTR_INTEGER, "[10, 30]", "30", "30", NULL));
	assert_false(cell(SEG_ATTR_INTEGER, "[10, 30]", "31", NULL,
			  "31 is not one of the allowed values"));
	assert_true(cell(SEG_ATTR_STRING, "[\"S\", \"M\"]", "M", "\"M\"", NULL));
	assert_false(cell(SEG_ATTR_STRING, "[\"S\", \"M\"]", "XL", NULL,
			  "\"XL\" is not one of the allowed values"));
	assert_true(cell(SEG_ATTR_STRING_LIST, "[\"red\", \"blue\"]", "red;blue",
			 "[\"red\",\"blue\"]", NULL));
	assert_true(cell(SEG_ATTR_STRING_LIST, "[\"red\", \"blue\"]", "", "[]", NULL));
	assert_false(cell(SEG_ATTR_STRING_LIST, "[\"red\", \"blue\"]", "red;pink", NULL,
			  "\"pink\" is not one of the allowed values"));
	assert_true(cell(SEG_ATTR_BOOLEAN, "[true]", "true", "true", NULL));
	assert_false(cell(SEG_ATTR_BOOLEAN, "[true]", "false", NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_null_passes),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_json_equal),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_string_list_enum),
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_cells),
		cmocka_unit_test(test_cells_allowed),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

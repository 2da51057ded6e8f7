/*
 * Unit tests of the number bounds of lib/jsonspan.c: seg_json_number_measure (the exact decimal
 * form PostgreSQL prints) and seg_json_numbers_check (every number of a document, with the
 * JSON Pointer of the first refused one).
 *
 * Checked by hand against PostgreSQL 15.18 (Debian 15.18-0+deb12u1), in a throw-away cluster
 * (pg_virtualenv -t -v 15), as length(t::numeric::text) and length(t::jsonb::text), which
 * always agreed; ERR is "value overflows numeric format" (SQLSTATE 22003):
 *
 *   input                 printed length       input                    printed length
 *   0                     1                    1e131071                 131072
 *   -0                    1 ("0")              0.5e131072               131072
 *   -0.00                 4 ("0.00")           1e131072                 ERR (int digits)
 *   0.000                 5                    1e-16383                 16385
 *   0e5                   1                    -1e-16383                16386
 *   0e-3                  5 ("0.000")          0.1e-16382               16385
 *   1.50                  4 ("1.50")           0.1e-16383               ERR (scale 16384)
 *   1e6                   7                    1e-16384                 ERR
 *   2.5e-8                11                   0e-16383                 16385
 *   0.001e2               3 ("0.1")            0e-16384                 ERR
 *   12.3e-5               8 ("0.000123")       0.0e-16381               16384
 *   12.30e1               5 ("123.0")          0.00e-16382              ERR
 *   -123.456e-2           8 ("-1.23456")       0e1073741822             1
 *   1E+2                  3                    -0e1073741822            1
 *   1.0e-1                4 ("0.10")           0e00000000001073741822   1
 *   100e-2                4 ("1.00")           0e1073741823             ERR (exponent)
 *   9.99e2                3                    0e00000000001073741823   ERR
 *   1.55e1                4                    0e-1073741822            ERR
 *   1e299                 300                  0e99999999999            ERR
 *   1e300                 301                  1e-1073741822            ERR
 *   1e-299                301                  1e-250                   252
 *   1e-300                302                  1e-104                   106
 *   "1" + 299 zeros       300                  "0." + 298 zeros + "1"   301
 *   "1" + 300 zeros       301                  "0." + 299 zeros + "1"   302
 *   "-" + 300 nines       301                  150 nines.151 nines      302
 *
 * numeric_in of PostgreSQL 15 (src/backend/utils/adt/numeric.c, set_var_from_str) refuses an
 * exponent e with e >= INT_MAX / 2 or e <= -(INT_MAX / 2) before it looks at the digits, then
 * make_result refuses a scale above 16383 or a weight above 32767 (base-10000 digits, so more
 * than 131072 decimal digits before the point). Besides this table, 20,000 random numbers
 * (zeros, leading zeros, scales and exponents around every limit) were run through both
 * PostgreSQL and seg_json_number_measure: the same verdict and length for every one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "buf.h"
#include "jsonspan.h"
#include "validate.h"

/* The pointer and detail of the last check. */
static struct seg_buf pointer = SEG_BUF_INIT;
static char detail[256];

/*
 * Checks text (NUL-terminated) with an empty pointer; returns the verdict. Every text is valid
 * JSON, as the function expects: jansson parses it, or finds only a number beyond a double.
 */
static bool check(const char *text)
{
	json_error_t error;
	json_t *v = seg_json_load(text, strlen(text), &error);
	if (!v && json_error_code(&error) != json_error_numeric_overflow)
		fail_msg("not JSON: %s: %.60s", error.text, text);
	json_decref(v);
	seg_buf_reset(&pointer);
	detail[0] = '\0';
	bool ok = seg_json_numbers_check(text, strlen(text), &pointer, detail, sizeof(detail));
	if (ok) {
		assert_int_equal(pointer.len, 0);
		assert_string_equal(detail, "");
	}
	return ok;
}

/* Returns a malloc'ed string: prefix, then c n times, then suffix. */
static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
	struct seg_buf b = SEG_BUF_INIT;
	seg_buf_addstr(&b, prefix);
	seg_buf_grow(&b, n);
	memset(b.data + b.len, c, n);
	b.len += n;
	b.data[b.len] = '\0';
	seg_buf_addstr(&b, suffix);
	return seg_buf_detach(&b, NULL);
}

struct form_case {
	const char *text;
	uint64_t length; /* PostgreSQL's printed length; 0: it refuses the number */
	uint64_t digits;
};

static void test_measure_matches_postgresql(void **state)
{
	static const struct form_case cases[] = {
		{"0", 1, 1},
		{"-0", 1, 1},
		{"-0.00", 4, 3},
		{"0.000", 5, 4},
		{"0e5", 1, 1},
		{"0e-3", 5, 4},
		{"1.50", 4, 3},
		{"1e6", 7, 7},
		{"2.5e-8", 11, 10},
		{"0.001e2", 3, 2},
		{"12.3e-5", 8, 7},
		{"12.30e1", 5, 4},
		{"-123.456e-2", 8, 6},
		{"1E+2", 3, 3},
		{"1.0e-1", 4, 3},
		{"100e-2", 4, 3},
		{"9.99e2", 3, 3},
		{"1.55e1", 4, 3},
		{"1e299", 300, 300},
		{"1e300", 301, 301},
		{"1e-299", 301, 300},
		{"1e-300", 302, 301},
		{"1e-250", 252, 251},
		{"1e-104", 106, 105},
		{"1e131071", 131072, 131072},
		{"0.5e131072", 131072, 131072},
		{"1e131072", 0, 131073},
		{"1e-16383", 16385, 16384},
		{"-1e-16383", 16386, 16384},
		{"0.1e-16382", 16385, 16384},
		{"0.1e-16383", 0, 16385},
		{"1e-16384", 0, 16385},
		{"0e-16383", 16385, 16384},
		{"0e-16384", 0, 16385},
		{"0.0e-16381", 16384, 16383},
		{"0.00e-16382", 0, 16385},
		{"0e1073741822", 1, 1},
		{"-0e1073741822", 1, 1},
		{"0e00000000001073741822", 1, 1},
		{"0e-1073741822", 0, 1073741823},
		{"1e-1073741822", 0, 1073741823},
		{"0e1073741823", 0, UINT64_MAX},
		{"0e00000000001073741823", 0, UINT64_MAX},
		{"0e-1073741823", 0, UINT64_MAX},
		{"0e99999999999", 0, UINT64_MAX},
		{"1e99999999999999999999999999999999", 0, UINT64_MAX},
	};
	struct seg_json_number_form f;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct form_case *c = &cases[i];
		assert_true(seg_json_number_measure(c->text, strlen(c->text), &f));
		if (f.storable != (c->length != 0) || (c->length && f.length != c->length) ||
		    f.digits != c->digits)
			fail_msg("%s: storable %d length %llu digits %llu", c->text, f.storable,
				 (unsigned long long)f.length, (unsigned long long)f.digits);
		if (!c->length && c->digits == UINT64_MAX)
			assert_true(f.length == UINT64_MAX);
	}

	/* Written out: 300 digits, 301 digits, each way. */
	char *s = repeat("1", '0', 299, "");
	assert_true(seg_json_number_measure(s, strlen(s), &f));
	assert_true(f.storable && f.digits == 300 && f.length == 300);
	free(s);
	s = repeat("-0.", '0', 298, "1");
	assert_true(seg_json_number_measure(s, strlen(s), &f));
	assert_true(f.digits == 300 && f.length == 302);
	free(s);
	s = repeat("9.", '9', 300, "");
	assert_true(seg_json_number_measure(s, strlen(s), &f));
	assert_true(f.digits == 301 && f.length == 302);
	free(s);

	/* Not one JSON number: out stays untouched. */
	static const char *const bad[] = {"",	"-",  "01",   "1.",  ".5",    "1e", "1e+",
					  "+1", "1 ", "0x10", "NaN", "1.5.2", "--1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.digits = 42;
		assert_false(seg_json_number_measure(bad[i], strlen(bad[i]), &f));
		assert_int_equal(f.digits, 42);
	}
}

static void test_ordinary_numbers_pass(void **state)
{
	(void)state;
	assert_true(check("0"));
	assert_true(check("-0"));
	assert_true(check("1.50"));
	assert_true(check("1e6"));
	assert_true(check("2.5e-8"));
	assert_true(check("123456789012345678901234567890"));
	assert_true(check("1e299"));
	assert_true(check("-1e-299"));
	assert_true(check("0e1073741822"));
	assert_true(check("[0, -0, 1.50, 1e6, 2.5e-8, 123456789012345678901234567890, 1e299]"));
	assert_true(check("{\"a\": 1, \"b\": [true, false, null, -3.25E+2, {}], \"c\": \"x\"}"));
	assert_true(check(" \t\r\n[ 1 ,\n\t2 ] \n"));
	assert_true(check("[]"));
	assert_true(check("{}"));
	assert_true(check("\"\""));
	assert_true(check("null"));
}

static void test_boundaries(void **state)
{
	(void)state;
	/* By exponent. */
	assert_true(check("[1e299, 9.99e297, 1e-299, 0.1e-298, 0e-299]"));
	assert_false(check("1e300"));
	assert_string_equal(
		detail, "the number 1e300 has 301 digits when written out; at most 300 are stored");
	assert_false(check("[1e-300]"));
	assert_string_equal(pointer.data, "/0");
	assert_false(check("[0e-300]"));
	assert_false(check("[0.1e-299]"));

	/* Written out. */
	char *ok = repeat("[1", '0', 299, "]");
	char *no = repeat("[1", '0', 300, "]");
	assert_true(check(ok));
	assert_false(check(no));
	assert_string_equal(pointer.data, "/0");
	free(ok);
	free(no);
	ok = repeat("{\"x\": -0.", '0', 298, "1}");
	no = repeat("{\"x\": -0.", '0', 299, "1}");
	assert_true(check(ok));
	assert_false(check(no));
	assert_string_equal(pointer.data, "/x");
	free(ok);
	free(no);
	ok = repeat("0.", '0', 299, "");
	no = repeat("0.", '0', 300, "");
	assert_true(check(ok));
	assert_false(check(no));
	free(ok);
	free(no);
}

static void test_refused(void **state)
{
	(void)state;
	assert_false(check("1e-16383"));
	assert_string_equal(pointer.data, "");
	assert_string_equal(
		detail,
		"the number 1e-16383 has 16384 digits when written out; at most 300 are stored");

	/* numeric_in refuses the exponent, though the value would print as "0". */
	assert_false(check("[1, 0e99999999999]"));
	assert_string_equal(pointer.data, "/1");
	assert_string_equal(
		detail,
		"the number 0e99999999999 cannot be stored: its exponent is beyond 1073741822");
	assert_false(check("0e1073741823"));
	assert_false(check("-0E+1073741823"));
	assert_false(check("0e-1073741823"));
	assert_false(check("0e-1073741822"));
	assert_false(check("1e99999999999999999999"));

	/* The first refused number is named, not a later one. */
	assert_false(check("[1, 2, 1e-400, 1e400]"));
	assert_string_equal(pointer.data, "/2");
	assert_true(strstr(detail, "1e-400") != NULL);
}

static void test_long_number_quoted_short(void **state)
{
	(void)state;
	char *text = repeat("[1", '0', 10000, "e-5]");
	assert_false(check(text));
	assert_string_equal(pointer.data, "/0");
	/* The first 28 characters, "…", the last 11. */
	assert_string_equal(detail, "the number 1000000000000000000000000000\u202600000000e-5 "
				    "has 10001 digits when written out; at most 300 are stored");
	free(text);

	/* A short detail buffer gets a cut sentence, never a cut character. */
	text = repeat("1", '0', 400, "");
	char small[40];
	struct seg_buf ptr = SEG_BUF_INIT;
	for (size_t size = 0; size <= sizeof(small); size++) {
		memset(small, 'x', sizeof(small));
		assert_false(seg_json_numbers_check(text, strlen(text), &ptr, small, size));
		if (size)
			assert_true(strlen(small) < size);
		else
			assert_int_equal(small[0], 'x');
	}
	assert_false(seg_json_numbers_check(text, strlen(text), &ptr, NULL, 0));
	seg_buf_release(&ptr);
	free(text);
}

/* Builds an array of count copies of number, then tail. */
static char *array_of(const char *number, size_t count, const char *tail)
{
	struct seg_buf b = SEG_BUF_INIT;
	seg_buf_addch(&b, '[');
	for (size_t i = 0; i < count; i++)
		seg_buf_addf(&b, "%s%s", i ? "," : "", number);
	seg_buf_addstr(&b, tail);
	seg_buf_addch(&b, ']');
	return seg_buf_detach(&b, NULL);
}

static void test_growth(void **state)
{
	(void)state;
	/* "1e-250" prints as 252 bytes: 246 more. 266 of them grow by 65436, 267 by 65682. */
	char *text = array_of("1e-250", 300, "");
	assert_false(check(text));
	assert_string_equal(pointer.data, "/266");
	assert_string_equal(detail, "the numbers up to this one (1e-250) grow by 65682 bytes when "
				    "written out; at most 65536 are allowed");
	free(text);
	text = array_of("1e-250", 266, "");
	assert_true(check(text));
	free(text);

	/* Exactly at the bound passes: 65436 + 100 ("1e-104" prints as 106 bytes). */
	text = array_of("1e-250", 266, ",1e-104");
	assert_true(check(text));
	free(text);
	text = array_of("1e-250", 266, ",1e-104,\"1e-5\",-1,1e-5");
	assert_false(check(text));
	assert_string_equal(pointer.data, "/269");
	free(text);

	/* Numbers that shrink or keep their length never count against the others. */
	text = array_of("1e-250", 266, ",1e-104,1e+2,100000e-5,-0.0000,0e2,1E1");
	assert_true(check(text));
	free(text);

	/* The growth sums over the whole text, at any depth. */
	text = array_of("{\"a\":[1e-250]}", 300, "");
	assert_false(check(text));
	assert_string_equal(pointer.data, "/266/a/0");
	free(text);
}

static void test_pointers(void **state)
{
	(void)state;
	assert_false(check("{\"a\": [1, {\"b\": 1e-400}]}"));
	assert_string_equal(pointer.data, "/a/1/b");
	assert_false(check("[[], {}, [[1, 2], {\"x\": [3, 4e-999]}]]"));
	assert_string_equal(pointer.data, "/2/1/x/1");
	/* Earlier members and closed containers are forgotten. */
	assert_false(check("{\"a\": {\"b\": [1, 2]}, \"c\": {\"d\": {}, \"e\": 1e-999}}"));
	assert_string_equal(pointer.data, "/c/e");
	assert_false(check("{\"\": 1e-999}"));
	assert_string_equal(pointer.data, "/");
	/* Member names: ~ and / escaped per RFC 6901 after the JSON escapes are decoded. */
	assert_false(check("{\"a~b/c\": {\"\\u00e9\\\"\\\\\\/\\n\\t\\b\\f\\r\": "
			   "{\"\\ud83d\\ude00 \\u007e\\u002F\": [0, 1e-999]}}}"));
	assert_string_equal(pointer.data,
			    "/a~0b~1c/\xc3\xa9\"\\~1\n\t\b\f\r/\xf0\x9f\x98\x80 ~0~1/1");
	assert_false(check("{\"~01\": {\"caf\xc3\xa9\": 1e-999}}"));
	assert_string_equal(pointer.data, "/~001/caf\xc3\xa9");
	/* A value string does not become a key; a key holding ':' or ',' or '{' stays whole. */
	assert_false(check("{\"k\": \"v,\\\"w\\\":\", \"a,b:{\": [\"]\", 1e-999]}"));
	assert_string_equal(pointer.data, "/a,b:{/1");

	/* Appended after what pointer holds. */
	seg_buf_reset(&pointer);
	seg_buf_addstr(&pointer, "/3");
	assert_false(seg_json_numbers_check("{\"n\": 1e-999}", 13, &pointer, NULL, 0));
	assert_string_equal(pointer.data, "/3/n");
	seg_buf_reset(&pointer);
	seg_buf_addstr(&pointer, "/3");
	assert_false(seg_json_numbers_check(" 1e-999 ", 8, &pointer, NULL, 0));
	assert_string_equal(pointer.data, "/3");
	assert_true(seg_json_numbers_check("{\"n\": 1}", 8, &pointer, NULL, 0));
	assert_string_equal(pointer.data, "/3");
}

static void test_numbers_in_strings_ignored(void **state)
{
	(void)state;
	assert_true(check("[\"1e-999\", \"\\\"1e-999\", \"\\\\\", \"x\\\\\\\"1e-999\"]"));
	assert_true(
		check("{\"1e-999\": \"1e-99999999999\", \"\\u0031e-9999\": [\"-0e99999999999\"]}"));
	assert_true(check("\"1e-16383\""));
	/* The string ends at an escaped backslash, and the number after it counts. */
	assert_false(check("[\"\\\\\", 1e-999]"));
	assert_string_equal(pointer.data, "/1");
}

static void test_top_level_number(void **state)
{
	(void)state;
	assert_true(check("42"));
	assert_true(check("  -1.5e3\n"));
	assert_false(check("\n1e-999 "));
	assert_string_equal(pointer.data, "");
	assert_string_equal(
		detail,
		"the number 1e-999 has 1000 digits when written out; at most 300 are stored");
}

static void test_deep_nesting(void **state)
{
	(void)state;
	/* 2,000 arrays, and the number in the innermost. */
	struct seg_buf b = SEG_BUF_INIT, want = SEG_BUF_INIT;
	for (int i = 0; i < 2000; i++) {
		seg_buf_addstr(&b, i % 2 ? "[0, " : "[");
		seg_buf_addstr(&want, i % 2 ? "/1" : "/0");
	}
	seg_buf_addstr(&b, "1e-999");
	for (int i = 0; i < 2000; i++)
		seg_buf_addch(&b, ']');
	assert_false(check(b.data));
	assert_string_equal(pointer.data, want.data);
	/* The same with only small numbers passes. */
	memcpy(strstr(b.data, "1e-999"), "100000", 6);
	assert_true(check(b.data));
	seg_buf_reset(&b);
	seg_buf_reset(&want);

	/* 2,000 objects. */
	for (int i = 0; i < 2000; i++) {
		seg_buf_addstr(&b, "{\"a\": 1, \"k/\": ");
		seg_buf_addstr(&want, "/k~1");
	}
	seg_buf_addstr(&b, "-1e-999");
	for (int i = 0; i < 2000; i++)
		seg_buf_addch(&b, '}');
	assert_false(check(b.data));
	assert_string_equal(pointer.data, want.data);
	seg_buf_release(&b);
	seg_buf_release(&want);
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_large_documents_linear(void **state)
{
	(void)state;
	const size_t mib = 1 << 20;
	const char *piece = "1.5,{\"a\\\"1e-999\":[-2e3,\"x\",null]},";
	struct seg_buf b = SEG_BUF_INIT;
	double t0 = seconds();

	/* 1 MiB of small numbers, strings and members. */
	seg_buf_addch(&b, '[');
	while (b.len < mib)
		seg_buf_addstr(&b, piece);
	seg_buf_addstr(&b, "0]");
	assert_true(check(b.data));
	/* The same with a refused number at its end: the pointer pass reads it all again. */
	seg_buf_truncate(&b, b.len - 2);
	seg_buf_addstr(&b, "{\"z\": 1e-999}]");
	assert_false(check(b.data));
	/* Each piece holds two elements. */
	size_t n = (b.len - 1 - strlen("{\"z\": 1e-999}]")) / strlen(piece);
	char want[64];
	snprintf(want, sizeof(want), "/%zu/z", 2 * n);
	assert_string_equal(pointer.data, want);

	/* One number of 1 MiB of digits, and one of 1 MiB of zeros with an exponent. */
	char *big = repeat("[1", '0', mib, "]");
	assert_false(check(big));
	assert_true(strlen(detail) < 120);
	free(big);
	big = repeat("0.", '0', mib, "e1048576");
	assert_true(check(big)); /* 0.000...0 with a scale of 0 prints as "0" */
	free(big);
	big = repeat("[\"", '\\', mib, "\"]"); /* an even count: escaped backslashes */
	assert_true(check(big));
	free(big);

	/* Linear: a quadratic scan of these megabytes would take minutes, even unsanitized. */
	assert_true(seconds() - t0 < 10.0);
	seg_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_measure_matches_postgresql),
		cmocka_unit_test(test_ordinary_numbers_pass),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_long_number_quoted_short),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_pointers),
		cmocka_unit_test(test_numbers_in_strings_ignored),
		cmocka_unit_test(test_top_level_number),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_large_documents_linear),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	seg_buf_release(&pointer);
	return failed;
}

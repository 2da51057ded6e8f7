/* Unit tests of lib/timefmt.c: RFC 3339 parsing and formatting, calendar dates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "timefmt.h"

#define DAY_US (INT64_C(86400) * 1000000)

static bool parse(const char *s, int64_t *us)
{
	int64_t dummy;
	return seg_rfc3339_parse(s, strlen(s), us ? us : &dummy);
}

static bool date(const char *s, int32_t *days)
{
	int32_t dummy;
	return seg_date_parse(s, strlen(s), days ? days : &dummy);
}

static void check_format(int64_t us, const char *want)
{
	char out[SEG_RFC3339_MAX];
	size_t n = seg_rfc3339_format(us, out);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_parse_basic(void **state)
{
	int64_t us;
	(void)state;
	assert_true(parse("1970-01-01T00:00:00Z", &us));
	assert_int_equal(us, 0);
	assert_true(parse("1970-01-01T00:00:01Z", &us));
	assert_int_equal(us, 1000000);
	assert_true(parse("2026-11-23T10:00:00Z", &us));
	assert_int_equal(us, INT64_C(1795428000) * 1000000);
	assert_true(parse("2000-01-01T00:00:00Z", &us));
	assert_int_equal(us, INT64_C(946684800) * 1000000);
	assert_true(parse("1969-12-31T23:59:59Z", &us));
	assert_int_equal(us, -1000000);
	assert_true(parse("2038-01-19T03:14:08Z", &us)); /* past 32-bit time_t */
	assert_int_equal(us, INT64_C(2147483648) * 1000000);
	assert_true(parse("0001-01-01T00:00:00Z", &us));
	assert_int_equal(us, INT64_C(-62135596800) * 1000000);
	assert_true(parse("9999-12-31T23:59:59Z", &us));
	assert_int_equal(us, INT64_C(253402300799) * 1000000);
	assert_true(parse("2024-06-30T23:59:59Z", &us));
	assert_true(parse("2024-06-30T00:00:00Z", &us));
}

static void test_parse_separators_and_case(void **state)
{
	int64_t a, b, c, d;
	(void)state;
	assert_true(parse("2026-11-23T10:00:00Z", &a));
	assert_true(parse("2026-11-23t10:00:00Z", &b));
	assert_true(parse("2026-11-23 10:00:00Z", &c));
	assert_true(parse("2026-11-23t10:00:00z", &d));
	assert_true(a == b && b == c && c == d);
	assert_false(parse("2026-11-23_10:00:00Z", NULL));
	assert_false(parse("2026-11-23T10:00:00", NULL)); /* no zone */
	assert_false(parse("2026-11-23T10:00:00UTC", NULL));
	assert_false(parse("2026-11-23T10:00:00ZZ", NULL));
	assert_false(parse("2026-11-23T10:00:00Z ", NULL));
	assert_false(parse(" 2026-11-23T10:00:00Z", NULL));
	assert_false(parse("2026-11-23", NULL));
	assert_false(parse("", NULL));
}

static void test_parse_offsets(void **state)
{
	int64_t z, us;
	(void)state;
	assert_true(parse("2026-11-23T10:00:00Z", &z));
	assert_true(parse("2026-11-23T10:00:00+00:00", &us));
	assert_int_equal(us, z);
	assert_true(parse("2026-11-23T10:00:00-00:00", &us));
	assert_int_equal(us, z);
	assert_true(parse("2026-11-23T12:30:00+02:30", &us));
	assert_int_equal(us, z);
	assert_true(parse("2026-11-23T05:00:00-05:00", &us));
	assert_int_equal(us, z);
	/* An offset can move the instant to another day, month and year. */
	assert_true(parse("2027-01-01T00:30:00+01:00", &us));
	assert_true(parse("2026-12-31T23:30:00Z", &z));
	assert_int_equal(us, z);
	assert_true(parse("2026-12-31T20:00:00-23:59", &us));
	assert_true(parse("2027-01-01T19:59:00Z", &z));
	assert_int_equal(us, z);

	assert_false(parse("2026-11-23T10:00:00+0200", NULL));
	assert_false(parse("2026-11-23T10:00:00+02", NULL));
	assert_false(parse("2026-11-23T10:00:00+2:00", NULL));
	assert_false(parse("2026-11-23T10:00:00+24:00", NULL));
	assert_false(parse("2026-11-23T10:00:00+02:60", NULL));
	assert_false(parse("2026-11-23T10:00:00+02:00Z", NULL));
	assert_false(parse("2026-11-23T10:00:00Z+02:00", NULL));
}

static void test_parse_fractions(void **state)
{
	static const struct {
		const char *s;
		int64_t us;
	} v[] = {
		{"1970-01-01T00:00:00.1Z", 100000},
		{"1970-01-01T00:00:00.12Z", 120000},
		{"1970-01-01T00:00:00.123Z", 123000},
		{"1970-01-01T00:00:00.1234Z", 123400},
		{"1970-01-01T00:00:00.12345Z", 123450},
		{"1970-01-01T00:00:00.123456Z", 123456},
		{"1970-01-01T00:00:00.1234567Z", 123456}, /* truncated, not rounded */
		{"1970-01-01T00:00:00.12345678Z", 123456},
		{"1970-01-01T00:00:00.999999999Z", 999999},
		{"1970-01-01T00:00:00.000001Z", 1},
		{"1970-01-01T00:00:00.0000009Z", 0},
		{"1970-01-01T00:00:00.000000000Z", 0},
		{"1970-01-01T01:00:00.5+01:00", 500000},
		{"1969-12-31T23:59:59.5Z", -500000},
	};
	int64_t us;
	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_true(parse(v[i].s, &us));
		assert_int_equal(us, v[i].us);
	}
	assert_false(parse("1970-01-01T00:00:00.1234567890Z", NULL)); /* 10 digits */
	assert_false(parse("1970-01-01T00:00:00.Z", NULL));
	assert_false(parse("1970-01-01T00:00:00,5Z", NULL));
	assert_false(parse("1970-01-01T00:00:00.5.5Z", NULL));
	assert_false(parse("1970-01-01T00:00:00.-5Z", NULL));
}

static void test_parse_calendar(void **state)
{
	(void)state;
	assert_true(parse("2024-02-29T12:00:00Z", NULL));  /* leap year */
	assert_false(parse("2023-02-29T12:00:00Z", NULL)); /* not a leap year */
	assert_true(parse("2000-02-29T12:00:00Z", NULL));  /* divisible by 400 */
	assert_false(parse("1900-02-29T12:00:00Z", NULL)); /* divisible by 100, not 400 */
	assert_false(parse("2100-02-29T12:00:00Z", NULL));
	assert_true(parse("1600-02-29T12:00:00Z", NULL));
	assert_false(parse("2024-02-30T12:00:00Z", NULL));
	assert_true(parse("2024-04-30T12:00:00Z", NULL));
	assert_false(parse("2024-04-31T12:00:00Z", NULL));
	assert_true(parse("2024-12-31T12:00:00Z", NULL));
	assert_false(parse("2024-12-32T12:00:00Z", NULL));
	assert_false(parse("2024-13-01T12:00:00Z", NULL));
	assert_false(parse("2024-00-01T12:00:00Z", NULL));
	assert_false(parse("2024-01-00T12:00:00Z", NULL));
	assert_false(parse("0000-01-01T00:00:00Z", NULL));
	assert_false(parse("10000-01-01T00:00:00Z", NULL));
	assert_false(parse("2024-1-01T12:00:00Z", NULL));
	assert_false(parse("2024/01/01T12:00:00Z", NULL));
	assert_false(parse("+024-01-01T12:00:00Z", NULL));
	assert_false(parse("-024-01-01T12:00:00Z", NULL));
}

static void test_parse_clock(void **state)
{
	(void)state;
	assert_true(parse("2024-01-01T23:59:59Z", NULL));
	assert_false(parse("2024-01-01T24:00:00Z", NULL)); /* 24:00 refused */
	assert_false(parse("2024-01-01T23:60:00Z", NULL));
	assert_false(parse("2024-12-31T23:59:60Z", NULL)); /* leap second refused */
	assert_false(parse("2024-01-01T23:59:61Z", NULL));
	assert_false(parse("2024-01-01T1:00:00Z", NULL));
	assert_false(parse("2024-01-01T10:0:00Z", NULL));
	assert_false(parse("2024-01-01T10:00Z", NULL));
	assert_false(parse("2024-01-01T10-00-00Z", NULL));
	assert_false(parse("2024-01-01T1a:00:00Z", NULL));
}

static void test_date_parse(void **state)
{
	int32_t d;
	(void)state;
	assert_true(date("1970-01-01", &d));
	assert_int_equal(d, 0);
	assert_true(date("1970-01-02", &d));
	assert_int_equal(d, 1);
	assert_true(date("1969-12-31", &d));
	assert_int_equal(d, -1);
	assert_true(date("2000-03-01", &d));
	assert_int_equal(d, 11017);
	assert_true(date("0001-01-01", &d));
	assert_int_equal(d, -719162);
	assert_true(date("9999-12-31", &d));
	assert_int_equal(d, 2932896);
	assert_true(date("2024-02-29", NULL));
	assert_false(date("2023-02-29", NULL));
	assert_true(date("2000-02-29", NULL));
	assert_false(date("1900-02-29", NULL));
	assert_false(date("2024-13-01", NULL));
	assert_false(date("2024-02-00", NULL));
	assert_false(date("2024-02-1", NULL));
	assert_false(date("2024-02-01T00:00:00Z", NULL));
	assert_false(date("2024-02-01 ", NULL));
	assert_false(date("0000-01-01", NULL));
	assert_false(date("", NULL));
	/* Every day of four centuries agrees with a day-by-day count. */
	int32_t expect = -719162;
	char buf[32];
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	for (int y = 1; y <= 2400; y++) {
		bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
		for (int m = 1; m <= 12; m++) {
			int n = dim[m - 1] + (m == 2 && leap);
			for (int day = 1; day <= n + 1; day++) {
				snprintf(buf, sizeof(buf), "%04d-%02d-%02d", y, m, day);
				if (day > n) {
					assert_false(date(buf, NULL));
					continue;
				}
				assert_true(date(buf, &d));
				assert_int_equal(d, expect);
				expect++;
			}
		}
	}
}

static void test_format(void **state)
{
	(void)state;
	check_format(0, "1970-01-01T00:00:00Z");
	check_format(1, "1970-01-01T00:00:00.000001Z");
	check_format(100000, "1970-01-01T00:00:00.1Z");
	check_format(120000, "1970-01-01T00:00:00.12Z");
	check_format(123456, "1970-01-01T00:00:00.123456Z");
	check_format(1000000, "1970-01-01T00:00:01Z");
	check_format(INT64_C(1795428000) * 1000000 + 123450, "2026-11-23T10:00:00.12345Z");
	/* Before 1970 the time of day stays positive (floor division). */
	check_format(-1, "1969-12-31T23:59:59.999999Z");
	check_format(-500000, "1969-12-31T23:59:59.5Z");
	check_format(-1000000, "1969-12-31T23:59:59Z");
	check_format(-DAY_US, "1969-12-31T00:00:00Z");
	check_format(-DAY_US - 1, "1969-12-30T23:59:59.999999Z");
	check_format(INT64_C(-2208988800) * 1000000, "1900-01-01T00:00:00Z");
	check_format(INT64_C(-62135596800) * 1000000, "0001-01-01T00:00:00Z");
	check_format(INT64_C(253402300799) * 1000000 + 999999, "9999-12-31T23:59:59.999999Z");
	check_format(INT64_C(951782400) * 1000000, "2000-02-29T00:00:00Z");
	/* The extremes fit the buffer. */
	char out[SEG_RFC3339_MAX];
	assert_true(seg_rfc3339_format(INT64_MIN, out) < SEG_RFC3339_MAX);
	assert_true(seg_rfc3339_format(INT64_MAX, out) < SEG_RFC3339_MAX);
	assert_int_equal(out[strlen(out) - 1], 'Z');
}

static void test_round_trip(void **state)
{
	char out[SEG_RFC3339_MAX];
	int64_t back;
	static const int64_t samples[] = {
		0,
		1,
		-1,
		999999,
		-999999,
		INT64_C(1795428000123456),
		INT64_C(-62135596800) * 1000000,
		INT64_C(-62135596800) * 1000000 + 1,
		INT64_C(253402300799999999),
		INT64_C(-2208988800) * 1000000 - 1,
		INT64_C(951868799999999),	/* 2000-02-29T23:59:59.999999Z */
		INT64_C(-2203891200) * 1000000, /* 1900-03-01 */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		size_t n = seg_rfc3339_format(samples[i], out);
		assert_true(seg_rfc3339_parse(out, n, &back));
		assert_int_equal(back, samples[i]);
	}
	/* A sweep of instants across five centuries, both sides of the epoch. */
	for (int64_t us = INT64_C(-15000000000) * 1000000; us < INT64_C(15000000000) * 1000000;
	     us += INT64_C(7777777777) * 1000 + 123457) {
		size_t n = seg_rfc3339_format(us, out);
		assert_true(seg_rfc3339_parse(out, n, &back));
		assert_int_equal(back, us);
	}
	/* Parsing then formatting gives back the UTC form. */
	assert_true(parse("2026-11-23T12:30:00.250+02:30", &back));
	check_format(back, "2026-11-23T10:00:00.25Z");
	assert_true(parse("1965-05-01t00:00:00.000000001z", &back));
	check_format(back, "1965-05-01T00:00:00Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_basic),
		cmocka_unit_test(test_parse_separators_and_case),
		cmocka_unit_test(test_parse_offsets),
		cmocka_unit_test(test_parse_fractions),
		cmocka_unit_test(test_parse_calendar),
		cmocka_unit_test(test_parse_clock),
		cmocka_unit_test(test_date_parse),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_round_trip),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

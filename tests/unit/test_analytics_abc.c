/*
 * Unit tests of analytics/abc.c (SPEC §6.1): classes from cumulative shares, ties, values that
 * are zero or negative (class C, no part of the total), all zero, one customer, b = 1, the
 * shares and thresholds of the summary, and the curve's points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "abc.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void expect_classes(const double *v, size_t n, double a, double b, const char *want)
{
	char got[64] = {0};
	struct seg_abc_summary s;
	seg_abc_classify(v, n, a, b, got, &s);
	assert_string_equal(got, want);
}

static void test_class_rule(void **state)
{
	(void)state;
	/* A while the values before reach less than a * total */
	assert_int_equal(seg_abc_class(0, 100, 0.8, 0.95), 'A');
	assert_int_equal(seg_abc_class(79.99, 100, 0.8, 0.95), 'A');
	assert_int_equal(seg_abc_class(80, 100, 0.8, 0.95), 'B');
	assert_int_equal(seg_abc_class(94.9, 100, 0.8, 0.95), 'B');
	assert_int_equal(seg_abc_class(95, 100, 0.8, 0.95), 'C');
	assert_int_equal(seg_abc_class(99, 100, 0.8, 1), 'B'); /* b = 1: no positive C */
}

static void test_examples(void **state)
{
	(void)state;
	/* 50 reaches 0.5 of 100 at once: A is the shortest prefix reaching 0.8: 50+30 */
	double v1[] = {50, 30, 10, 5, 3, 2};
	expect_classes(v1, N(v1), 0.8, 0.95, "AABBCC");
	/* the first customer alone reaches a: A is one customer */
	double v2[] = {90, 5, 3, 2};
	expect_classes(v2, N(v2), 0.8, 0.95, "ABCC");
	/* one customer: A */
	double v3[] = {7};
	expect_classes(v3, N(v3), 0.8, 0.95, "A");
	/* zeros and negatives are C and add nothing to the total */
	double v4[] = {10, 10, 0, -5};
	expect_classes(v4, N(v4), 0.5, 0.95, "ABCC");
	/* b = 1: every positive customer is A or B */
	double v5[] = {60, 20, 10, 10, 0};
	expect_classes(v5, N(v5), 0.8, 1, "AABBC");
}

static void test_ties(void **state)
{
	(void)state;
	/* equal values are ordered by id by the caller; the class follows the position: of four
	 * equal values with a = 0.5, the first two reach it */
	double v[] = {1, 1, 1, 1};
	expect_classes(v, N(v), 0.5, 0.75, "AABC");
	/* exact boundary: 0.5 * 4 = 2 reached after two, so the third starts B */
	double w[] = {2, 2, 2, 2, 2};
	expect_classes(w, N(w), 0.4, 0.8, "AABBC");
}

static void test_all_zero(void **state)
{
	(void)state;
	char got[4] = {0};
	struct seg_abc_summary s;
	double v[] = {0, 0, -1};
	assert_false(seg_abc_classify(v, N(v), 0.8, 0.95, got, &s));
	assert_string_equal(got, "CCC");
	assert_int_equal(s.customers, 3);
	assert_int_equal(s.scored, 0);
	assert_true(s.total == 0);
	assert_int_equal(s.ncurve, 0);
	for (int c = 0; c < 3; c++) /* no NaN anywhere */
		assert_true(s.classes[c].value_share == 0 &&
			    s.classes[c].share == s.classes[c].share);
	/* none at all */
	assert_false(seg_abc_classify(NULL, 0, 0.8, 0.95, got, &s));
	assert_int_equal(s.customers, 0);
}

static void test_summary(void **state)
{
	(void)state;
	char got[8];
	struct seg_abc_summary s;
	double v[] = {50, 30, 10, 5, 3, 2, 0};
	assert_true(seg_abc_classify(v, N(v), 0.8, 0.95, got, &s));
	assert_int_equal(s.customers, 7);
	assert_int_equal(s.scored, 6);
	assert_true(s.total == 100);
	assert_int_equal(s.classes[0].count, 2);
	assert_int_equal(s.classes[1].count, 2);
	assert_int_equal(s.classes[2].count, 3);
	assert_float_equal(s.classes[0].value_share, 0.8, 1e-12);
	assert_float_equal(s.classes[1].value_share, 0.15, 1e-12);
	assert_float_equal(s.classes[2].value_share, 0.05, 1e-12);
	assert_float_equal(s.classes[0].share, 2.0 / 7, 1e-12);
	assert_float_equal(s.classes[0].threshold, 30, 0);
	assert_float_equal(s.classes[1].threshold, 5, 0);
	assert_float_equal(s.classes[2].threshold, 0, 0);
	/* the curve: [0,0], the samples, the last scored customer at 1, then [1, 1] */
	assert_true(s.ncurve >= 3 && s.ncurve <= SEG_ABC_CURVE_MAX);
	assert_true(s.curve[0][0] == 0 && s.curve[0][1] == 0);
	assert_true(s.curve[s.ncurve - 1][0] == 1 && s.curve[s.ncurve - 1][1] == 1);
	bool boundary = false;
	for (size_t i = 1; i < s.ncurve; i++) {
		assert_true(s.curve[i][0] >= s.curve[i - 1][0]);
		assert_true(s.curve[i][1] >= s.curve[i - 1][1]);
		/* the end of class A: 2 of 7 customers hold 0.8 */
		if (s.curve[i][0] == 2.0 / 7 && s.curve[i][1] == 0.8)
			boundary = true;
	}
	assert_true(boundary);
	assert_float_equal(s.curve[s.ncurve - 2][0], 6.0 / 7, 1e-12); /* the last scored */
	assert_float_equal(s.curve[s.ncurve - 2][1], 1, 1e-12);
}

static void test_curve_ranks(void **state)
{
	(void)state;
	/* ceil(k n / 100) for k = 1..100: every rank when n <= 100 */
	for (long long r = 1; r <= 37; r++)
		assert_true(seg_abc_curve_rank(r, 37));
	assert_false(seg_abc_curve_rank(0, 37));
	assert_false(seg_abc_curve_rank(38, 37));
	/* n = 1000: ranks 10, 20, ..., 1000 */
	size_t count = 0;
	for (long long r = 1; r <= 1000; r++)
		if (seg_abc_curve_rank(r, 1000)) {
			assert_int_equal(r % 10, 0);
			count++;
		}
	assert_int_equal(count, 100);
	/* n = 250: ceil(2.5 k): 3, 5, 8, 10, ... 100 distinct */
	count = 0;
	for (long long r = 1; r <= 250; r++)
		count += seg_abc_curve_rank(r, 250);
	assert_int_equal(count, 100);
	assert_true(seg_abc_curve_rank(3, 250));
	assert_false(seg_abc_curve_rank(4, 250));
	/* a large tenant stays at 100 samples plus boundaries */
	double big[5000];
	char cls[5000];
	struct seg_abc_summary s;
	for (size_t i = 0; i < 5000; i++)
		big[i] = 5000.0 - (double)i;
	assert_true(seg_abc_classify(big, 5000, 0.8, 0.95, cls, &s));
	assert_true(s.ncurve <= SEG_ABC_CURVE_MAX);
	assert_true(s.ncurve >= 101);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_class_rule), cmocka_unit_test(test_examples),
		cmocka_unit_test(test_ties),	   cmocka_unit_test(test_all_zero),
		cmocka_unit_test(test_summary),	   cmocka_unit_test(test_curve_ranks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

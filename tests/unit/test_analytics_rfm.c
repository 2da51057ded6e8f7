/*
 * Unit tests of analytics/rfm.c against hand-worked examples (SPEC §6.1): cut point positions,
 * scores with ties, one customer, fewer customers than bins, all values equal, the bins
 * expected without ties, the named segments of the grid, explicit cut points; and a brute
 * force comparison over random data with many ties.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "rfm.h"

static void test_positions(void **state)
{
	size_t pos[8];
	(void)state;
	seg_rfm_positions(10, 5, pos); /* 0.2 * 10 = 2, ... */
	assert_int_equal(pos[0], 2);
	assert_int_equal(pos[1], 4);
	assert_int_equal(pos[2], 6);
	assert_int_equal(pos[3], 8);
	seg_rfm_positions(7, 5, pos); /* ceil(1.4), ceil(2.8), ceil(4.2), ceil(5.6) */
	assert_int_equal(pos[0], 2);
	assert_int_equal(pos[1], 3);
	assert_int_equal(pos[2], 5);
	assert_int_equal(pos[3], 6);
	seg_rfm_positions(1, 5, pos); /* one customer: every cut point is its value */
	for (int k = 0; k < 4; k++)
		assert_int_equal(pos[k], 1);
	seg_rfm_positions(3, 5, pos); /* ceil(0.6), ceil(1.2), ceil(1.8), ceil(2.4) */
	assert_int_equal(pos[0], 1);
	assert_int_equal(pos[1], 2);
	assert_int_equal(pos[2], 2);
	assert_int_equal(pos[3], 3);
	seg_rfm_positions(1000000, 3, pos); /* ceil(333333.33), ceil(666666.67) */
	assert_int_equal(pos[0], 333334);
	assert_int_equal(pos[1], 666667);
	seg_rfm_positions(9, 9, pos);
	for (int k = 0; k < 8; k++)
		assert_int_equal(pos[k], (size_t)k + 1);
}

/* frequency with ties: six customers bought once */
static void test_ties_frequency(void **state)
{
	const double f[10] = {1, 1, 1, 1, 1, 1, 2, 2, 3, 5};
	double cuts[4];
	size_t sizes[5] = {0};
	(void)state;
	seg_rfm_cut_points(f, 10, 5, cuts); /* positions 2, 4, 6, 8 */
	assert_true(cuts[0] == 1 && cuts[1] == 1 && cuts[2] == 1 && cuts[3] == 2);
	assert_int_equal(seg_rfm_score(SEG_RFM_FREQUENCY, cuts, 5, 1), 1);
	assert_int_equal(seg_rfm_score(SEG_RFM_FREQUENCY, cuts, 5, 2), 4); /* 1, 1, 1 below */
	assert_int_equal(seg_rfm_score(SEG_RFM_FREQUENCY, cuts, 5, 3), 5);
	assert_int_equal(seg_rfm_score(SEG_RFM_FREQUENCY, cuts, 5, 5), 5);
	for (int i = 0; i < 10; i++)
		sizes[seg_rfm_score(SEG_RFM_FREQUENCY, cuts, 5, f[i]) - 1]++;
	assert_int_equal(sizes[0], 6);
	assert_int_equal(sizes[1], 0);
	assert_int_equal(sizes[2], 0);
	assert_int_equal(sizes[3], 2);
	assert_int_equal(sizes[4], 2);
	assert_true(seg_rfm_unequal(SEG_RFM_FREQUENCY, sizes, 10, 5));
}

/* recency is reversed: fewer days score higher */
static void test_ties_recency(void **state)
{
	const double r[10] = {0, 3, 3, 10, 20, 30, 40, 50, 60, 70};
	const int want[10] = {5, 5, 5, 4, 3, 3, 2, 2, 1, 1};
	double cuts[4];
	size_t sizes[5] = {0};
	(void)state;
	seg_rfm_cut_points(r, 10, 5, cuts);
	assert_true(cuts[0] == 3 && cuts[1] == 10 && cuts[2] == 30 && cuts[3] == 50);
	for (int i = 0; i < 10; i++) {
		int s = seg_rfm_score(SEG_RFM_RECENCY, cuts, 5, r[i]);
		assert_int_equal(s, want[i]);
		sizes[s - 1]++;
	}
	assert_true(seg_rfm_unequal(SEG_RFM_RECENCY, sizes, 10, 5));
	/* distinct values: the bins are as expected */
	const double d[7] = {1, 2, 3, 4, 5, 6, 7};
	size_t exp[5], got[5] = {0};
	seg_rfm_cut_points(d, 7, 5, cuts);
	assert_true(cuts[0] == 2 && cuts[1] == 3 && cuts[2] == 5 && cuts[3] == 6);
	seg_rfm_expected_sizes(SEG_RFM_RECENCY, 7, 5, exp);
	assert_int_equal(exp[0], 1);
	assert_int_equal(exp[1], 1);
	assert_int_equal(exp[2], 2);
	assert_int_equal(exp[3], 1);
	assert_int_equal(exp[4], 2);
	for (int i = 0; i < 7; i++)
		got[seg_rfm_score(SEG_RFM_RECENCY, cuts, 5, d[i]) - 1]++;
	assert_memory_equal(exp, got, sizeof exp);
	assert_false(seg_rfm_unequal(SEG_RFM_RECENCY, got, 7, 5));
	seg_rfm_expected_sizes(SEG_RFM_MONETARY, 7, 5, exp); /* the same, not reversed */
	assert_int_equal(exp[0], 2);
	assert_int_equal(exp[4], 1);
}

static void test_one_customer(void **state)
{
	const double v[1] = {42.5};
	double cuts[4];
	size_t exp[5];
	(void)state;
	seg_rfm_cut_points(v, 1, 5, cuts);
	for (int k = 0; k < 4; k++)
		assert_true(cuts[k] == 42.5);
	assert_int_equal(seg_rfm_score(SEG_RFM_MONETARY, cuts, 5, 42.5), 1);
	assert_int_equal(seg_rfm_score(SEG_RFM_RECENCY, cuts, 5, 42.5), 5);
	seg_rfm_expected_sizes(SEG_RFM_MONETARY, 1, 5, exp);
	assert_int_equal(exp[0], 1);
	assert_int_equal(exp[1] + exp[2] + exp[3] + exp[4], 0);
	seg_rfm_expected_sizes(SEG_RFM_RECENCY, 1, 5, exp);
	assert_int_equal(exp[4], 1);
	assert_string_equal(seg_rfm_segment(5, 5, 1), "New Customers");
}

/* fewer customers than bins: distinct values leave bins empty, as expected */
static void test_fewer_than_bins(void **state)
{
	const double v[3] = {10, 20, 30};
	double cuts[4];
	size_t exp[5], got[5] = {0};
	(void)state;
	seg_rfm_cut_points(v, 3, 5, cuts); /* positions 1, 2, 2, 3 */
	assert_true(cuts[0] == 10 && cuts[1] == 20 && cuts[2] == 20 && cuts[3] == 30);
	assert_int_equal(seg_rfm_score(SEG_RFM_FREQUENCY, cuts, 5, 10), 1);
	assert_int_equal(seg_rfm_score(SEG_RFM_FREQUENCY, cuts, 5, 20), 2);
	assert_int_equal(seg_rfm_score(SEG_RFM_FREQUENCY, cuts, 5, 30), 4);
	seg_rfm_expected_sizes(SEG_RFM_FREQUENCY, 3, 5, exp);
	for (int i = 0; i < 3; i++)
		got[seg_rfm_score(SEG_RFM_FREQUENCY, cuts, 5, v[i]) - 1]++;
	assert_int_equal(exp[0], 1);
	assert_int_equal(exp[1], 1);
	assert_int_equal(exp[2], 0);
	assert_int_equal(exp[3], 1);
	assert_int_equal(exp[4], 0);
	assert_memory_equal(exp, got, sizeof exp);
	assert_false(seg_rfm_unequal(SEG_RFM_FREQUENCY, got, 3, 5));
}

static void test_all_equal(void **state)
{
	double v[10], cuts[4];
	size_t got[5] = {0};
	(void)state;
	for (int i = 0; i < 10; i++)
		v[i] = 4;
	seg_rfm_cut_points(v, 10, 5, cuts);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(seg_rfm_score(SEG_RFM_RECENCY, cuts, 5, v[i]), 5);
		got[seg_rfm_score(SEG_RFM_FREQUENCY, cuts, 5, v[i]) - 1]++;
	}
	assert_int_equal(got[0], 10);
	assert_true(seg_rfm_unequal(SEG_RFM_FREQUENCY, got, 10, 5));
}

/* SPEC §6.1's table, cell by cell, for bins = 5 */
static void test_segments_five(void **state)
{
	static const char *const grid[5][5] = {
		/* r = 1 */ {"Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"},
		/* r = 2 */ {"Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"},
		/* r = 3 */
		{"About to Sleep", "About to Sleep", "Need Attention", "Loyal Customers",
		 "Loyal Customers"},
		/* r = 4 */
		{"Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers",
		 "Loyal Customers"},
		/* r = 5 */
		{"New Customers", "Potential Loyalists", "Potential Loyalists", "Champions",
		 "Champions"},
	};
	int used[SEG_RFM_SEGMENTS] = {0};
	(void)state;
	for (int r = 1; r <= 5; r++)
		for (int f = 1; f <= 5; f++) {
			const char *s = seg_rfm_segment(5, r, f);
			assert_string_equal(s, grid[r - 1][f - 1]);
			for (int i = 0; i < SEG_RFM_SEGMENTS; i++)
				used[i] += strcmp(s, seg_rfm_segment_names[i]) == 0;
		}
	for (int i = 0; i < SEG_RFM_SEGMENTS; i++)
		assert_true(used[i] > 0); /* every named segment has a cell */
}

/* other bins: scores mapped to fifths */
static void test_segments_other_bins(void **state)
{
	(void)state;
	assert_int_equal(seg_rfm_fifth(5, 3), 3);
	assert_int_equal(seg_rfm_fifth(3, 1), 2);
	assert_int_equal(seg_rfm_fifth(3, 2), 4);
	assert_int_equal(seg_rfm_fifth(3, 3), 5);
	assert_int_equal(seg_rfm_fifth(2, 1), 3);
	assert_int_equal(seg_rfm_fifth(2, 2), 5);
	assert_int_equal(seg_rfm_fifth(9, 1), 1);
	assert_int_equal(seg_rfm_fifth(9, 2), 2);
	assert_int_equal(seg_rfm_fifth(9, 8), 5);
	assert_int_equal(seg_rfm_fifth(9, 9), 5);
	assert_string_equal(seg_rfm_segment(3, 3, 3), "Champions");
	assert_string_equal(seg_rfm_segment(3, 3, 1), "Potential Loyalists");
	assert_string_equal(seg_rfm_segment(3, 1, 3), "Can't Lose Them");
	assert_string_equal(seg_rfm_segment(3, 1, 1), "Hibernating");
	assert_string_equal(seg_rfm_segment(2, 1, 1), "Need Attention");
	assert_string_equal(seg_rfm_segment(2, 2, 2), "Champions");
	assert_string_equal(seg_rfm_segment(9, 9, 1), "New Customers");
	assert_string_equal(seg_rfm_segment(9, 1, 9), "Can't Lose Them");
	for (int b = SEG_RFM_BINS_MIN; b <= SEG_RFM_BINS_MAX; b++)
		for (int r = 1; r <= b; r++)
			for (int f = 1; f <= b; f++)
				assert_non_null(seg_rfm_segment(b, r, f));
}

static void test_cuts_check(void **state)
{
	const double ok[4] = {1, 2, 2, 10.5}, down[4] = {1, 3, 2, 4};
	const double bad[4] = {1, NAN, 3, 4}, inf[4] = {1, 2, 3, INFINITY};
	long i = 99;
	(void)state;
	assert_null(seg_rfm_cuts_check(ok, 4, 5, &i));
	assert_int_equal(i, -1);
	assert_non_null(seg_rfm_cuts_check(ok, 3, 5, &i));
	assert_int_equal(i, -1);
	assert_non_null(seg_rfm_cuts_check(ok, 4, 4, &i));
	assert_non_null(seg_rfm_cuts_check(down, 4, 5, &i));
	assert_int_equal(i, 2);
	assert_non_null(seg_rfm_cuts_check(bad, 4, 5, &i));
	assert_int_equal(i, 1);
	assert_non_null(seg_rfm_cuts_check(inf, 4, 5, &i));
	assert_int_equal(i, 3);
	assert_null(seg_rfm_cuts_check(ok, 1, 2, &i));
}

static int seg__cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * Random data with many ties against the definition read literally: a cut point is the value
 * whose 1-based position is the smallest p with p / n >= q (the inverted empirical
 * distribution), a score counts the cut points strictly below.
 */
static void test_brute_force(void **state)
{
	unsigned seed = 12345;
	(void)state;
	for (int round = 0; round < 300; round++) {
		size_t n = 1 + (size_t)(rand_r(&seed) % 60);
		int bins = SEG_RFM_BINS_MIN + rand_r(&seed) % (SEG_RFM_BINS_MAX - 1);
		int spread = 1 + rand_r(&seed) % 20;
		double v[60], cuts[8];
		size_t sizes[9] = {0};
		for (size_t i = 0; i < n; i++)
			v[i] = rand_r(&seed) % spread;
		qsort(v, n, sizeof v[0], seg__cmp);
		seg_rfm_cut_points(v, n, bins, cuts);
		for (int k = 1; k < bins; k++) {
			size_t p = 1;
			while (p * (size_t)bins < (size_t)k * n) /* p / n < k / bins */
				p++;
			assert_true(cuts[k - 1] == v[p - 1]);
		}
		for (size_t i = 0; i < n; i++) {
			int below = 0;
			for (int k = 0; k < bins - 1; k++)
				below += cuts[k] < v[i];
			int s = seg_rfm_score(SEG_RFM_MONETARY, cuts, bins, v[i]);
			assert_int_equal(s, 1 + below);
			assert_int_equal(seg_rfm_score(SEG_RFM_RECENCY, cuts, bins, v[i]),
					 bins - below);
			sizes[s - 1]++;
		}
		/* without ties the bins are exactly the expected ones */
		bool ties = false;
		for (size_t i = 1; i < n; i++)
			ties |= v[i] == v[i - 1];
		if (!ties)
			assert_false(seg_rfm_unequal(SEG_RFM_MONETARY, sizes, n, bins));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions),	cmocka_unit_test(test_ties_frequency),
		cmocka_unit_test(test_ties_recency),	cmocka_unit_test(test_one_customer),
		cmocka_unit_test(test_fewer_than_bins), cmocka_unit_test(test_all_equal),
		cmocka_unit_test(test_segments_five),	cmocka_unit_test(test_segments_other_bins),
		cmocka_unit_test(test_cuts_check),	cmocka_unit_test(test_brute_force),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests of analytics/conjoint.c (SPEC §6.2 conjoint): a balanced design worked by hand
 * (part-worths are the level means about the mean of means), exact data with a price
 * (coefficient, willingness to pay, the price's importance), the respondent's own level order
 * not changing the answer, each reason to skip, dropped profiles, the medians, refused input
 * and cancelling. tests/analytics/test_conjoint.py compares whole surveys with numpy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "conjoint.h"

static void near(double got, double want)
{
	if (!(fabs(got - want) <= 1e-12 * fmax(1, fabs(want))))
		fail_msg("%.17g is not %.17g", got, want);
}

/* One attribute, levels a b c (codes 0 1 2) rated twice each, first seen in the order c a b. */
static void test_balanced(void **state)
{
	size_t start[] = {0, 6}, nlevels[] = {3};
	int32_t levels[] = {2, 0, 1, 0, 1, 2};
	double rating[] = {1, 5, 3, 7, 3, 2};
	struct seg_cj_input in = {1, start, 1, nlevels, levels, NULL, rating};
	struct seg_cj_result r;
	(void)state;
	assert_int_equal(seg_cj_fit(&in, NULL, &r, NULL, 0), SEG_OK);
	assert_int_equal(r.fitted, 1);
	assert_int_equal(r.resp[0].status, SEG_CJ_FITTED);
	assert_int_equal(r.resp[0].params, 3);
	assert_int_equal(r.resp[0].ratings, 6);
	/* level means 6, 3, 1.5; their mean 3.5 is the constant */
	near(r.resp[0].constant, 3.5);
	near(r.part_worth[0], 2.5);
	near(r.part_worth[1], -0.5);
	near(r.part_worth[2], -2);
	near(r.importance[0], 1);
	near(r.resp[0].r2, 21 / 23.5);
	assert_true(isnan(r.resp[0].price_coefficient));
	assert_null(r.wtp);
	assert_null(r.median_wtp);
	near(r.mean_part_worth[0], 2.5);
	near(r.median_r2, 21 / 23.5);
	assert_true(isnan(r.mean_price_coefficient));
	seg_cj_result_release(&r);
	seg_cj_result_release(&r);

	/* the same ratings met in another order: the same part-worths */
	int32_t levels2[] = {0, 1, 2, 2, 1, 0};
	double rating2[] = {5, 3, 1, 2, 3, 7};
	in.levels = levels2;
	in.rating = rating2;
	assert_int_equal(seg_cj_fit(&in, NULL, &r, NULL, 0), SEG_OK);
	near(r.part_worth[0], 2.5);
	near(r.part_worth[1], -0.5);
	near(r.part_worth[2], -2);
	seg_cj_result_release(&r);
}

/* Exact data y = 10 + u - 0.5 price, u = +1 / -1: recovered exactly, WTP = -4. */
static void test_price(void **state)
{
	size_t start[] = {0, 6}, nlevels[] = {2};
	int32_t levels[] = {0, 1, 0, 1, 0, 1};
	double price[] = {2, 2, 4, 6, 8, 8};
	double rating[6];
	struct seg_cj_input in = {1, start, 1, nlevels, levels, price, rating};
	struct seg_cj_result r;
	(void)state;
	for (int i = 0; i < 6; i++)
		rating[i] = 10 + (levels[i] ? -1 : 1) - 0.5 * price[i];
	assert_int_equal(seg_cj_fit(&in, NULL, &r, NULL, 0), SEG_OK);
	assert_int_equal(r.resp[0].params, 3);
	near(r.resp[0].constant, 10);
	near(r.resp[0].price_coefficient, -0.5);
	near(r.resp[0].r2, 1);
	near(r.part_worth[0], 1);
	near(r.part_worth[1], -1);
	/* ranges: attribute 2, price 0.5 x (8 - 2) = 3 */
	near(r.importance[0], 0.4);
	near(r.importance[1], 0.6);
	near(r.wtp[0], 0);
	near(r.wtp[1], -4);
	near(r.median_wtp[1], -4);
	near(r.median_price_coefficient, -0.5);
	seg_cj_result_release(&r);

	/* one price only: the price column is the constant's: singular */
	for (int i = 0; i < 6; i++)
		price[i] = 5;
	assert_int_equal(seg_cj_fit(&in, NULL, &r, NULL, 0), SEG_OK);
	assert_int_equal(r.resp[0].status, SEG_CJ_SINGULAR);
	assert_int_equal(r.singular, 1);
	assert_int_equal(r.fitted, 0);
	assert_true(isnan(r.part_worth[0]) && isnan(r.importance[0]) && isnan(r.wtp[1]));
	assert_true(isnan(r.median_r2) && isnan(r.mean_importance[0]));
	assert_true(isnan(r.mean_part_worth[0]));
	seg_cj_result_release(&r);
}

/* Too few ratings, constant ratings, dropped profiles; an unrated level stays NaN. */
static void test_skips(void **state)
{
	size_t start[] = {0, 3, 7, 14}, nlevels[] = {3};
	/* r0: 3 ratings of 2 levels (p = 2, needs 3): fitted; r1: constant; r2: two dropped */
	int32_t levels[] = {0, 1, 0, 0, 1, 0, 1, 0, 1, -1, 0, 1, 0, 1};
	double rating[] = {4, 2, 5, 3, 3, 3, 3, 1, 2, 9, NAN, 4, 2, 3};
	struct seg_cj_input in = {3, start, 1, nlevels, levels, NULL, rating};
	struct seg_cj_result r;
	(void)state;
	assert_int_equal(seg_cj_fit(&in, NULL, &r, NULL, 0), SEG_OK);
	assert_int_equal(r.resp[0].status, SEG_CJ_FITTED);
	assert_int_equal(r.resp[1].status, SEG_CJ_CONSTANT);
	assert_int_equal(r.resp[2].status, SEG_CJ_FITTED);
	assert_int_equal(r.resp[2].ratings, 5);
	assert_int_equal(r.dropped_profiles, 2);
	assert_int_equal(r.fitted, 2);
	assert_int_equal(r.skipped, 1);
	assert_int_equal(r.constant, 1);
	assert_true(isnan(r.part_worth[2])); /* level 2 never rated */
	assert_int_equal(r.level_respondents[2], 0);
	assert_true(isnan(r.mean_part_worth[2]));
	assert_int_equal(r.level_respondents[0], 2);
	/* r0: levels 0 (4, 5) and 1 (2): u0 = 4.5 - 3.25 = 1.25 */
	near(r.part_worth[0], 1.25);
	seg_cj_result_release(&r);
	/* 2 ratings for 2 parameters: too few */
	start[1] = 2;
	in.nresp = 1;
	assert_int_equal(seg_cj_fit(&in, NULL, &r, NULL, 0), SEG_OK);
	assert_int_equal(r.resp[0].status, SEG_CJ_TOO_FEW);
	assert_int_equal(r.too_few, 1);
	assert_string_equal(seg_cj_status_name(SEG_CJ_TOO_FEW), "too_few_ratings");
	seg_cj_result_release(&r);
	/* nobody at all */
	in.nresp = 0;
	assert_int_equal(seg_cj_fit(&in, NULL, &r, NULL, 0), SEG_OK);
	assert_int_equal(r.fitted, 0);
	seg_cj_result_release(&r);
}

static void test_median(void **state)
{
	double a[] = {3, NAN, 1, 2};
	double b[] = {4, 1, 3, 2};
	double c[] = {NAN, NAN};
	(void)state;
	near(seg_cj_median(a, 4), 2);
	near(seg_cj_median(b, 4), 2.5);
	assert_true(isnan(seg_cj_median(c, 2)));
	assert_true(isnan(seg_cj_median(c, 0)));
}

static void test_refused(void **state)
{
	size_t start[] = {0, 3}, nlevels[] = {2};
	int32_t levels[] = {0, 2, 1};
	double rating[] = {1, 2, 3};
	struct seg_cj_input in = {1, start, 1, nlevels, levels, NULL, rating};
	struct seg_cj_result r;
	char err[200];
	(void)state;
	assert_int_equal(seg_cj_fit(&in, NULL, &r, err, sizeof err), SEG_ERR_INVALID);
	assert_non_null(strstr(err, "level code 2"));
	seg_cj_result_release(&r);
	levels[1] = 1;
	start[0] = 1;
	assert_int_equal(seg_cj_fit(&in, NULL, &r, err, sizeof err), SEG_ERR_INVALID);
	start[0] = 0;
	in.nattr = 0;
	assert_int_equal(seg_cj_fit(&in, NULL, &r, err, sizeof err), SEG_ERR_INVALID);
	in.nattr = 1;
	nlevels[0] = 0;
	assert_int_equal(seg_cj_fit(&in, NULL, &r, err, sizeof err), SEG_ERR_INVALID);
}

static bool stop_at_second(void *ctx, double fraction)
{
	int *calls = ctx;
	assert_true(fraction >= 0 && fraction <= 1);
	return ++*calls < 2;
}

static void test_cancel(void **state)
{
	enum { R = 1000, K = 8 };
	static size_t start[R + 1];
	static int32_t levels[R * K];
	static double rating[R * K];
	size_t nlevels[] = {2};
	int calls = 0;
	struct seg_cj_params p = {stop_at_second, &calls};
	struct seg_cj_input in = {R, start, 1, nlevels, levels, NULL, rating};
	struct seg_cj_result r;
	(void)state;
	for (size_t i = 0; i <= R; i++)
		start[i] = i * K;
	for (size_t i = 0; i < R * K; i++) {
		levels[i] = (int32_t)(i % 2);
		rating[i] = (double)(i % 3);
	}
	assert_int_equal(seg_cj_fit(&in, &p, &r, NULL, 0), SEG_ERR_CANCELLED);
	assert_int_equal(calls, 2);
	assert_null(r.resp);
	seg_cj_result_release(&r);
	calls = -100;
	assert_int_equal(seg_cj_fit(&in, &p, &r, NULL, 0), SEG_OK);
	assert_int_equal(r.fitted, R);
	seg_cj_result_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_balanced), cmocka_unit_test(test_price),
		cmocka_unit_test(test_skips),	 cmocka_unit_test(test_median),
		cmocka_unit_test(test_refused),	 cmocka_unit_test(test_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

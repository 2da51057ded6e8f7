/*
 * Unit tests of analytics/stats.c: the chi-squared and F upper tails and the incomplete gamma
 * and beta functions against SciPy 1.10 (scipy.stats.chi2.sf, scipy.stats.f.sf,
 * scipy.special.gammaincc, betainc; the figures below were printed by it), from the middle of
 * the distributions to tails of 1e-75 and degrees of freedom up to a million; the argument
 * checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#include <cmocka.h>

#include "stats.h"

static void seg__rel(double got, double want, double rel)
{
	if (!(fabs(got - want) <= rel * fabs(want)))
		fail_msg("%.17g differs from %.17g by more than %g relative", got, want, rel);
}

static void test_chi2(void **state)
{
	(void)state;
	static const double c[][3] = {
		{0.5, 1, 0.47950012218695337},	      {3.2, 2, 0.2018965179946554},
		{10, 3, 0.01856613546304325},	      {100, 50, 3.454931382984871e-05},
		{300, 45, 2.1445436421677616e-39},    {1e-3, 4, 0.9999998750416589},
		{7000, 4950, 4.0129209084909936e-75}, {4800, 4950, 0.9352835711618422},
		{2.5, 0.7, 0.07177201387203298},      {50, 10, 2.669083424904495e-07},
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++)
		seg__rel(seg_stats_chi2_sf(c[i][0], c[i][1]), c[i][2], 1e-10);
	seg__rel(seg_stats_chi2_sf(0, 3), 1, 0);
	seg__rel(seg_stats_chi2_sf(-1, 3), 1, 0);
	assert_true(seg_stats_chi2_sf(INFINITY, 3) == 0);
	assert_true(isnan(seg_stats_chi2_sf(1, 0)));
	assert_true(isnan(seg_stats_chi2_sf(NAN, 2)));
}

static void test_f(void **state)
{
	(void)state;
	static const double c[][4] = {
		{2.5, 3, 100, 0.06383295997908633},   {0.1, 2, 10, 0.9057308098299162},
		{40, 4, 996, 4.2149860542766595e-31}, {1.05, 9, 999990, 0.39681436828307715},
		{3.0, 1, 1, 0.33333333333333337},     {0.9, 5, 7, 0.5297850434270548},
		{150, 2, 1e6, 7.338332511625047e-66}, {1.3, 20, 30, 0.25199596763856924},
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++)
		seg__rel(seg_stats_f_sf(c[i][0], c[i][1], c[i][2]), c[i][3], 1e-10);
	seg__rel(seg_stats_f_sf(0, 2, 3), 1, 0);
	assert_true(seg_stats_f_sf(INFINITY, 2, 3) == 0);
	assert_true(isnan(seg_stats_f_sf(1, 0, 3)));
	assert_true(isnan(seg_stats_f_sf(1, 2, -3)));
}

static void test_gamma_beta(void **state)
{
	(void)state;
	seg__rel(seg_stats_gamma_q(0.5, 0.1), 0.6547208460185768, 1e-13);
	seg__rel(seg_stats_gamma_q(5, 3), 0.8152632445237722, 1e-13);
	seg__rel(seg_stats_gamma_q(5, 12), 0.007600390681066992, 1e-13);
	seg__rel(seg_stats_gamma_q(1000, 1100), 0.0010593232539299773, 1e-10);
	seg__rel(seg_stats_beta_i(0.5, 0.5, 0.3), 0.3690101195655454, 1e-13);
	seg__rel(seg_stats_beta_i(2, 3, 0.4), 0.5247999999999999, 1e-13);
	seg__rel(seg_stats_beta_i(50, 60, 0.45), 0.4642352914306064, 1e-11);
	seg__rel(seg_stats_beta_i(1, 1, 0.77), 0.77, 1e-14);
	seg__rel(seg_stats_beta_i(2, 3, 0), 0, 0);
	seg__rel(seg_stats_beta_i(2, 3, 1), 1, 0);
	assert_true(isnan(seg_stats_beta_i(2, 3, 1.5)));
	assert_true(isnan(seg_stats_gamma_q(-1, 1)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chi2),
		cmocka_unit_test(test_f),
		cmocka_unit_test(test_gamma_beta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests of analytics/factor.c on hand-worked examples: two features (eigenvalues 1 +- r,
 * loadings sqrt((1 + r) / 2), KMO 1/2, Bartlett in closed form), exactly uncorrelated blocks
 * built from orthogonal +-1 columns (varimax keeps the simple structure), the sign and order
 * rules, the regression-method scores (k = p without rotation: unit variance, uncorrelated),
 * rows with a missing value left out, every failure and the cancel contract. The comparison
 * with an independent NumPy computation is tests/analytics/test_factor.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "factor.h"

static void seg__close(double got, double want, double tol)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("%.17g differs from %.17g by more than %g", got, want, tol);
}

/* The 8 x 4 matrix of orthogonal, centred +-1 columns (Hadamard columns 2 to 5). */
static const double seg__had[8][4] = {
	{1, 1, 1, 1},  {-1, 1, -1, 1},	{1, -1, -1, 1},	 {-1, -1, 1, 1},
	{1, 1, 1, -1}, {-1, 1, -1, -1}, {1, -1, -1, -1}, {-1, -1, 1, -1},
};

static void test_two_features(void **state)
{
	(void)state;
	/* x2 = u1 + u2: r = 1 / sqrt 2; a row with a NaN is left out */
	double x[9 * 2];
	for (int i = 0; i < 8; i++) {
		x[i * 2] = seg__had[i][0];
		x[i * 2 + 1] = seg__had[i][0] + seg__had[i][1];
	}
	x[16] = NAN;
	x[17] = 1000;
	struct seg_factor_params params = {.n_factors = 0};
	struct seg_factor f;
	char msg[200];
	assert_int_equal(seg_factor_fit(x, 9, 2, &params, &f, msg, sizeof msg), SEG_FACTOR_OK);
	double r = M_SQRT1_2;
	assert_int_equal(f.n, 8);
	assert_int_equal(f.k, 1);
	seg__close(f.correlation[1], r, 1e-15);
	seg__close(f.eigenvalues[0], 1 + r, 1e-15);
	seg__close(f.eigenvalues[1], 1 - r, 1e-15);
	seg__close(f.loadings[0], sqrt((1 + r) / 2), 1e-15);
	seg__close(f.loadings[1], sqrt((1 + r) / 2), 1e-15);
	seg__close(f.explained[0], (1 + r) / 2, 1e-15);
	seg__close(f.communalities[0], (1 + r) / 2, 1e-15);
	seg__close(f.kmo, 0.5, 1e-15);
	seg__close(f.bartlett_df, 1, 0);
	seg__close(f.bartlett_chi2, -(8 - 1 - 9.0 / 6) * log(1 - r * r), 1e-13);
	seg__close(f.means[0], 0, 1e-15);
	seg__close(f.sds[0], sqrt(8.0 / 7), 1e-15);
	/* scores: z . R^-1 l; the NaN row has none */
	double s[9];
	seg_factor_scores(&f, x, 9, s);
	double w = sqrt((1 + r) / 2) / (1 + r); /* R^-1 l = l / (1 + r) for l along (1, 1) */
	seg__close(s[0], (x[0] / f.sds[0] + (x[1] - f.means[1]) / f.sds[1]) * w, 1e-14);
	assert_true(isnan(s[8]));
	assert_string_equal(f.labels[0], "x1, x2"); /* equal loadings: feature order */
	seg_factor_release(&f);
	seg_factor_release(&f); /* idempotent */
}

static void test_blocks_varimax(void **state)
{
	(void)state;
	/* blocks {x1, x2} (r = 1/sqrt 2) and {x3, x4} (r = 1/sqrt 5), uncorrelated */
	double x[8 * 4];
	for (int i = 0; i < 8; i++) {
		x[i * 4 + 0] = seg__had[i][2] + 2 * seg__had[i][3];
		x[i * 4 + 1] = seg__had[i][0];
		x[i * 4 + 2] = -(seg__had[i][0] + seg__had[i][1]); /* negative: the sign rule */
		x[i * 4 + 3] = seg__had[i][2];
	}
	const char *names[] = {"spend", "age", "income", "visits"};
	struct seg_factor_params params = {.n_factors = 2, .names = names};
	struct seg_factor f;
	assert_int_equal(seg_factor_fit(x, 8, 4, &params, &f, NULL, 0), SEG_FACTOR_OK);
	assert_int_equal(f.k, 2);
	double a = sqrt((1 + M_SQRT1_2) / 2), b = sqrt((1 + 1 / sqrt(5)) / 2);
	/* factor 1 (more variance): age and income, of opposite signs, summing to 0: kept */
	seg__close(fabs(f.loadings[1 * 2 + 0]), a, 1e-12);
	seg__close(fabs(f.loadings[2 * 2 + 0]), a, 1e-12);
	seg__close(f.loadings[0 * 2 + 0], 0, 1e-12);
	seg__close(f.loadings[3 * 2 + 0], 0, 1e-12);
	/* factor 2: spend and visits, positive */
	seg__close(f.loadings[0 * 2 + 1], b, 1e-12);
	seg__close(f.loadings[3 * 2 + 1], b, 1e-12);
	seg__close(f.loadings[1 * 2 + 1], 0, 1e-12);
	assert_true(f.explained[0] > f.explained[1]);
	seg__close(f.explained[0], a * a / 2, 1e-12);
	seg__close(f.cumulative[1], (a * a + b * b) / 2, 1e-12);
	assert_string_equal(f.labels[1], "spend, visits");
	assert_true(f.rotation_iterations >= 1);
	seg_factor_release(&f);
}

/* k = p, unrotated: the scores are the standardised principal components. */
static void test_scores_full(void **state)
{
	(void)state;
	uint64_t s = 1;
	size_t n = 500, p = 4;
	double *x = malloc(n * p * sizeof *x), *sc = malloc(n * p * sizeof *sc);
	for (size_t i = 0; i < n; i++) {
		double c = 0;
		for (size_t j = 0; j < p; j++) {
			s = s * 6364136223846793005u + 1442695040888963407u;
			double u = (double)(s >> 11) * 0x1.0p-53;
			c += u;
			x[i * p + j] = c; /* cumulative sums: correlated */
		}
	}
	struct seg_factor_params params = {.n_factors = 4, .rotation = SEG_FACTOR_NO_ROTATION};
	struct seg_factor f;
	assert_int_equal(seg_factor_fit(x, n, p, &params, &f, NULL, 0), SEG_FACTOR_OK);
	seg__close(f.cumulative[3], 1, 1e-12);
	for (size_t j = 0; j < p; j++) {
		seg__close(f.communalities[j], 1, 1e-12);
		seg__close(f.explained[j], f.eigenvalues[j] / 4, 1e-12);
	}
	seg_factor_scores(&f, x, n, sc);
	for (size_t a = 0; a < p; a++) {
		for (size_t b = 0; b < p; b++) {
			double m = 0;
			for (size_t i = 0; i < n; i++)
				m += sc[i * p + a] * sc[i * p + b];
			seg__close(m / (double)(n - 1), a == b, 1e-10);
		}
	}
	assert_true(f.bartlett_p < 1e-10);
	seg_factor_release(&f);
	free(x);
	free(sc);
}

static bool seg__stop(void *ctx, double fraction)
{
	int *calls = ctx;
	assert_true(fraction >= 0 && fraction <= 1);
	return ++*calls < 2;
}

static void test_failures(void **state)
{
	(void)state;
	double x[6 * 3];
	for (int i = 0; i < 6; i++) {
		x[i * 3] = i;
		x[i * 3 + 1] = i * i;
		x[i * 3 + 2] = 7;
	}
	struct seg_factor_params params = {0};
	struct seg_factor f;
	char msg[200];
	const char *names[] = {"a", "b", "c"};
	params.names = names;
	assert_int_equal(seg_factor_fit(x, 6, 3, &params, &f, msg, sizeof msg),
			 SEG_FACTOR_CONSTANT);
	assert_string_equal(msg, "feature \"c\" has the same value for every customer: it has no "
				 "correlation");
	assert_null(f.loadings);
	for (int i = 0; i < 6; i++)
		x[i * 3 + 2] = 2 * i - 3 * i * i;
	assert_int_equal(seg_factor_fit(x, 6, 3, &params, &f, msg, sizeof msg),
			 SEG_FACTOR_SINGULAR);
	assert_int_equal(seg_factor_fit(x, 3, 3, &params, &f, msg, sizeof msg), SEG_FACTOR_TOO_FEW);
	assert_int_equal(seg_factor_fit(x, 6, 1, &params, &f, msg, sizeof msg),
			 SEG_FACTOR_BAD_PARAMS);
	params.n_factors = 4;
	assert_int_equal(seg_factor_fit(x, 6, 3, &params, &f, msg, sizeof msg),
			 SEG_FACTOR_BAD_PARAMS);
	assert_string_equal(msg, "n_factors (4) is more than the number of features (3)");
	/* every row has a NaN: nobody to analyse */
	params.n_factors = 0;
	for (int i = 0; i < 6; i++)
		x[i * 3 + 1] = NAN;
	assert_int_equal(seg_factor_fit(x, 6, 3, &params, &f, msg, sizeof msg), SEG_FACTOR_TOO_FEW);
	x[1] = INFINITY;
	x[4] = 1;
	x[7] = 2;
	x[10] = 5;
	x[13] = 3;
	assert_int_equal(seg_factor_fit(x, 6, 3, &params, &f, msg, sizeof msg), SEG_FACTOR_NUMERIC);
}

static void test_cancel(void **state)
{
	(void)state;
	size_t n = 200000;
	double *x = malloc(n * 2 * sizeof *x);
	for (size_t i = 0; i < n; i++) {
		x[2 * i] = (double)(i % 7);
		x[2 * i + 1] = (double)(i % 11);
	}
	int calls = 0;
	struct seg_factor_params params = {.tick = seg__stop, .tick_ctx = &calls};
	struct seg_factor f;
	char msg[100];
	assert_int_equal(seg_factor_fit(x, n, 2, &params, &f, msg, sizeof msg),
			 SEG_FACTOR_CANCELLED);
	assert_int_equal(calls, 2);
	assert_null(f.means);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_features), cmocka_unit_test(test_blocks_varimax),
		cmocka_unit_test(test_scores_full),  cmocka_unit_test(test_failures),
		cmocka_unit_test(test_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

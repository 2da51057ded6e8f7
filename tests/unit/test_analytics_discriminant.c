/*
 * Unit tests of analytics/discriminant.c on a hand-worked example (two groups, one feature:
 * every figure in closed form), the leave-one-out matrix of a small case checked against a
 * literal refit through the engine itself (the rank-one updates against the definition),
 * classification of new rows and missing values, every failure and the cancel contract. The
 * comparison with SciPy and scikit-learn is tests/analytics/test_discriminant.py.
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

#include "discriminant.h"

static void seg__close(double got, double want, double tol)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("%.17g differs from %.17g by more than %g", got, want, tol);
}

/* Group 0: 1, 2, 3; group 1: 5, 6, 8; one customer to assign (4), one missing value. */
static void test_one_feature(void **state)
{
	(void)state;
	double x[8] = {1, 2, 3, 5, 6, 8, 4, NAN};
	int group[8] = {0, 0, 0, 1, 1, 1, -1, 0};
	struct seg_discriminant_params params = {0};
	struct seg_discriminant d;
	char msg[200];
	assert_int_equal(seg_discriminant_fit(x, group, 8, 1, 2, &params, &d, msg, sizeof msg),
			 SEG_DISCRIMINANT_OK);
	/* means 2 and 19/3, grand 25/6; W = 2 + 14/3 = 20/3; B = 3 (13/6)^2 * 2 = 169/6 */
	double w = 20.0 / 3, b = 169.0 / 6, lam = b / w;
	assert_int_equal(d.n, 6);
	assert_int_equal(d.q, 1);
	seg__close(d.eigenvalues[0], lam, 1e-13);
	seg__close(d.explained[0], 1, 0);
	seg__close(d.canonical_correlation[0], sqrt(lam / (1 + lam)), 1e-14);
	seg__close(d.wilks_lambda[0], w / (w + b), 1e-14);
	seg__close(d.feature_wilks[0], w / (w + b), 1e-14);
	seg__close(d.chi2[0], -(6 - 1 - 1.5) * log(w / (w + b)), 1e-13);
	seg__close(d.df[0], 1, 0);
	seg__close(d.feature_f[0], b / (w / 4), 1e-12);
	/* raw coefficient 1 / pooled sd; standardised and structure 1 */
	seg__close(d.raw[0], 1 / sqrt(w / 4), 1e-14);
	seg__close(d.standardized[0], 1, 1e-14);
	seg__close(d.structure[0], 1, 1e-14);
	seg__close(d.centroids[0], (2 - 25.0 / 6) / sqrt(w / 4), 1e-13);
	seg__close(d.centroids[1], (19.0 / 3 - 25.0 / 6) / sqrt(w / 4), 1e-13);
	seg__close(d.proportional_chance, 0.5, 1e-15);
	seg__close(d.maximum_chance, 0.5, 0);
	/* posteriors of 4: ln odds (1 vs 0) = (x - (m0 + m1) / 2) (m1 - m0) / s2 */
	int pred[2];
	double post[4], sc[2];
	seg_discriminant_classify(&d, x + 6, 2, pred, post, sc);
	double s2 = w / 4, odds = (4 - (2 + 19.0 / 3) / 2) * (19.0 / 3 - 2) / s2;
	seg__close(post[1], 1 / (1 + exp(-odds)), 1e-14);
	assert_int_equal(pred[0], 0);
	assert_int_equal(pred[1], -1);
	assert_true(isnan(post[2]) && isnan(sc[1]));
	/* leave-one-out: every customer on its own side; 3 (closest) included */
	assert_int_equal(d.classification[0], 3);
	assert_int_equal(d.classification[3], 3);
	seg__close(d.hit_rate, 1, 0);
	seg_discriminant_release(&d);
	seg_discriminant_release(&d);
}

/* The leave-one-out matrix equals refitting without each customer (through the engine). */
static void test_loo_refit(void **state)
{
	(void)state;
	enum { N = 40, P = 3, G = 3 };
	double x[N * P];
	int group[N];
	uint64_t s = 3;
	for (int r = 0; r < N; r++) {
		group[r] = r % G;
		for (int i = 0; i < P; i++) {
			s = s * 6364136223846793005u + 1442695040888963407u;
			x[r * P + i] = (double)(s >> 11) * 0x1.0p-53 + 0.3 * (group[r] == i);
		}
	}
	for (int pri = 0; pri < 2; pri++) {
		struct seg_discriminant_params params = {.priors = pri};
		struct seg_discriminant d, e;
		assert_int_equal(seg_discriminant_fit(x, group, N, P, G, &params, &d, NULL, 0),
				 SEG_DISCRIMINANT_OK);
		size_t want[G * G] = {0};
		for (int r = 0; r < N; r++) {
			int held = group[r], pred;
			group[r] = -1;
			assert_int_equal(
				seg_discriminant_fit(x, group, N, P, G, &params, &e, NULL, 0),
				SEG_DISCRIMINANT_OK);
			group[r] = held;
			seg_discriminant_classify(&e, x + r * P, 1, &pred, NULL, NULL);
			want[held * G + pred]++;
			seg_discriminant_release(&e);
		}
		for (int i = 0; i < G * G; i++)
			assert_int_equal(d.classification[i], want[i]);
		assert_int_equal(d.loo_unclassified, 0);
		seg_discriminant_release(&d);
	}
}

static bool seg__stop(void *ctx, double fraction)
{
	int *calls = ctx;
	assert_true(fraction >= 0 && fraction <= 1);
	return ++*calls < 3;
}

static void test_failures(void **state)
{
	(void)state;
	double x[12] = {1, 0, 2, 0, 3, 0, 5, 0, 6, 0, 8, 0};
	int group[6] = {0, 0, 0, 1, 1, 1};
	struct seg_discriminant_params params = {0};
	struct seg_discriminant d;
	char msg[200];
	/* the second feature is constant: W singular */
	assert_int_equal(seg_discriminant_fit(x, group, 6, 2, 2, &params, &d, msg, sizeof msg),
			 SEG_DISCRIMINANT_SINGULAR);
	assert_null(d.means);
	assert_int_equal(seg_discriminant_fit(x, group, 6, 2, 3, &params, &d, msg, sizeof msg),
			 SEG_DISCRIMINANT_EMPTY_GROUP);
	assert_string_equal(msg, "group 2 has no customer with every feature");
	assert_int_equal(seg_discriminant_fit(x, group, 6, 2, 1, &params, &d, msg, sizeof msg),
			 SEG_DISCRIMINANT_BAD_PARAMS);
	group[0] = 7;
	assert_int_equal(seg_discriminant_fit(x, group, 6, 2, 2, &params, &d, msg, sizeof msg),
			 SEG_DISCRIMINANT_BAD_PARAMS);
	group[0] = 0;
	/* 2 groups + 5 features need 7 customers */
	int two[2] = {0, 1};
	assert_int_equal(seg_discriminant_fit(x, two, 2, 5, 2, &params, &d, msg, sizeof msg),
			 SEG_DISCRIMINANT_TOO_FEW);
	x[0] = INFINITY;
	assert_int_equal(seg_discriminant_fit(x, group, 6, 1, 2, &params, &d, msg, sizeof msg),
			 SEG_DISCRIMINANT_NUMERIC);
}

static void test_cancel(void **state)
{
	(void)state;
	size_t n = 200000;
	double *x = malloc(n * sizeof *x);
	int *group = malloc(n * sizeof *group);
	for (size_t i = 0; i < n; i++) {
		x[i] = (double)(i % 13);
		group[i] = (int)(i % 2);
	}
	int calls = 0;
	struct seg_discriminant_params params = {.tick = seg__stop, .tick_ctx = &calls};
	struct seg_discriminant d;
	char msg[100];
	assert_int_equal(seg_discriminant_fit(x, group, n, 1, 2, &params, &d, msg, sizeof msg),
			 SEG_DISCRIMINANT_CANCELLED);
	assert_int_equal(calls, 3);
	assert_string_equal(msg, "the discriminant analysis was cancelled");
	assert_null(d.means);
	free(x);
	free(group);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_feature),
		cmocka_unit_test(test_loo_refit),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

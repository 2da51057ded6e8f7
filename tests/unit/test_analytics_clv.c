/*
 * Unit tests of analytics/clv.c: the BG/NBD and Gamma-Gamma fits reproduce the published CDNOW
 * parameters (Fader, Hardie & Lee 2005) from tests/data/cdnow/ (read relative to the repository
 * root, where tests/run.sh runs); P(alive), the conditional expectations and the discounted
 * expectation agree with independent SciPy figures (tests/unit/clv_reference.py: numerical
 * integration, not the hypergeometric series the C code sums); the fits fail cleanly, never
 * with a NaN, when the data cannot support them.
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

#include "clv.h"

#define CDNOW	      "tests/data/cdnow/cdnow_customers_summary_with_transactions.csv"
#define CDNOW_SUMMARY "tests/data/cdnow/cdnow_customers_summary.csv"

/* |got - want| is below half a unit of want's third significant digit. */
static void seg__three_digits(double got, double want)
{
	double unit = pow(10, floor(log10(fabs(want))) - 2);
	if (!(fabs(got - want) < unit / 2))
		fail_msg("%.6g does not agree with %.4g to three significant digits", got, want);
}

static void seg__close(double got, double want, double rel)
{
	if (!(fabs(got - want) <= rel * fabs(want)))
		fail_msg("%.17g differs from %.17g by more than %g relative", got, want, rel);
}

/* The rows of a CDNOW summary: the columns after ID, as many as cols. */
static size_t seg__read_csv(const char *path, int cols, double (**rows)[4])
{
	FILE *f = fopen(path, "r");
	char line[256];
	size_t n = 0, cap = 4096;
	if (!f)
		fail_msg("cannot open %s (the tests run from the repository root)", path);
	*rows = calloc(cap, sizeof **rows);
	assert_non_null(fgets(line, sizeof line, f)); /* header */
	while (fgets(line, sizeof line, f)) {
		char *p = strchr(line, ',');
		assert_non_null(p);
		assert_true(n < cap);
		for (int c = 0; c < cols; c++) {
			(*rows)[n][c] = strtod(p + 1, &p);
		}
		n++;
	}
	fclose(f);
	return n;
}

static void test_digamma(void **state)
{
	(void)state;
	seg__close(seg_clv_digamma(1), -0.57721566490153286, 1e-14);
	seg__close(seg_clv_digamma(0.5), -1.9635100260214235, 1e-14);
	seg__close(seg_clv_digamma(0.01), -100.56088545786867, 1e-14);
	seg__close(seg_clv_digamma(7.25), 1.9104535268837362, 1e-14);
	seg__close(seg_clv_digamma(1000), 6.907255195648812, 1e-14);
}

/* The published BG/NBD parameters from the 2,357 customers' summary (frequency, recency, T). */
static void test_bgnbd_cdnow(void **state)
{
	double(*rows)[4];
	(void)state;
	size_t n = seg__read_csv(CDNOW_SUMMARY, 3, &rows);
	assert_int_equal(n, 2357);
	struct seg_bgnbd_obs *obs = calloc(n, sizeof *obs);
	for (size_t i = 0; i < n; i++)
		obs[i] = (struct seg_bgnbd_obs){rows[i][0], rows[i][1], rows[i][2], 1};
	struct seg_bgnbd m;
	assert_int_equal(seg_bgnbd_fit(obs, n, &m), SEG_CLV_OK);
	seg__three_digits(m.r, 0.2426);
	seg__three_digits(m.alpha, 4.4135);
	seg__three_digits(m.a, 0.7929);
	seg__three_digits(m.b, 2.4258);
	/* and SciPy's maximum of the same likelihood, more closely */
	seg__close(m.r, 0.24259290497711014, 1e-6);
	seg__close(m.alpha, 4.413531596954177, 1e-6);
	seg__close(m.a, 0.7928861524222862, 1e-6);
	seg__close(m.b, 2.425753726544981, 1e-6);
	seg__close(m.log_likelihood, -9582.42556056736, 1e-10);

	/* the same customers aggregated (identical summaries weighted) fit the same */
	struct seg_bgnbd_obs *agg = calloc(n, sizeof *agg);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < k &&
		       !(agg[j].x == obs[i].x && agg[j].t_x == obs[i].t_x && agg[j].T == obs[i].T))
			j++;
		if (j == k)
			agg[k++] = (struct seg_bgnbd_obs){obs[i].x, obs[i].t_x, obs[i].T, 0};
		agg[j].weight++;
	}
	assert_true(k < n / 2);
	struct seg_bgnbd m2;
	assert_int_equal(seg_bgnbd_fit(agg, k, &m2), SEG_CLV_OK);
	seg__close(m2.r, m.r, 1e-8);
	seg__close(m2.alpha, m.alpha, 1e-8);
	seg__close(m2.a, m.a, 1e-8);
	seg__close(m2.b, m.b, 1e-8);
	seg__close(m2.log_likelihood, m.log_likelihood, 1e-12);

	/* days instead of weeks: alpha scales by 7, the shapes stay */
	for (size_t i = 0; i < k; i++) {
		agg[i].t_x *= 7;
		agg[i].T *= 7;
	}
	assert_int_equal(seg_bgnbd_fit(agg, k, &m2), SEG_CLV_OK);
	seg__close(m2.r, m.r, 1e-7);
	seg__close(m2.alpha, 7 * m.alpha, 1e-7);
	seg__close(m2.a, m.a, 1e-7);
	seg__close(m2.b, m.b, 1e-7);
	free(agg);
	free(obs);
	free(rows);
}

/* The analytic gradient against central differences of the log-likelihood. */
static void test_gradients(void **state)
{
	(void)state;
	struct seg_bgnbd_obs obs[] = {
		{0, 0, 30, 3}, {1, 2.5, 30, 1}, {4, 20, 31, 2}, {12, 29, 33, 1}, {2, 5, 6, 1}};
	struct seg_bgnbd m = {0.7, 3.5, 0.6, 2.2, 0, 0};
	double g[4], h = 1e-6;
	seg_bgnbd_loglik(&m, obs, 5, g);
	for (int i = 0; i < 4; i++) {
		double *p = i == 0 ? &m.r : i == 1 ? &m.alpha : i == 2 ? &m.a : &m.b, v = *p;
		*p = v * exp(h);
		double up = seg_bgnbd_loglik(&m, obs, 5, NULL);
		*p = v * exp(-h);
		double down = seg_bgnbd_loglik(&m, obs, 5, NULL);
		*p = v;
		seg__close(g[i], (up - down) / (2 * h), 1e-6);
	}
	struct seg_gg_obs go[] = {{1, 10, 2}, {2, 35.5, 1}, {2, 12, 1}, {5, 20, 1}, {9, 17.25, 1}};
	struct seg_gg gm = {4.5, 3.1, 12, 0, 0};
	double gg[3];
	seg_gg_loglik(&gm, go, 5, gg);
	for (int i = 0; i < 3; i++) {
		double *p = i == 0 ? &gm.p : i == 1 ? &gm.q : &gm.gamma, v = *p;
		*p = v * exp(h);
		double up = seg_gg_loglik(&gm, go, 5, NULL);
		*p = v * exp(-h);
		double down = seg_gg_loglik(&gm, go, 5, NULL);
		*p = v;
		seg__close(gg[i], (up - down) / (2 * h), 1e-6);
	}
}

/* The published Gamma-Gamma parameters from the 946 customers with repeat purchases. */
static void test_gg_cdnow(void **state)
{
	double(*rows)[4];
	(void)state;
	size_t n = seg__read_csv(CDNOW, 4, &rows);
	assert_int_equal(n, 2357);
	struct seg_gg_obs *obs = calloc(n, sizeof *obs);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (rows[i][0] > 0)
			obs[k++] = (struct seg_gg_obs){rows[i][0], rows[i][3], 1};
	assert_int_equal(k, 946);
	struct seg_gg m;
	assert_int_equal(seg_gg_fit(obs, k, &m), SEG_CLV_OK);
	seg__three_digits(m.p, 6.25);
	seg__three_digits(m.q, 3.74);
	seg__three_digits(m.gamma, 15.45);
	seg__close(m.p, 6.24880269493029, 1e-6);
	seg__close(m.q, 3.744588439303857, 1e-6);
	seg__close(m.gamma, 15.447747217815113, 1e-6);
	seg__close(m.log_likelihood, -4055.9232435028575, 1e-10);
	/* the conditional expected value: shrunk from the customer's mean to the population's */
	double pop = m.gamma * m.p / (m.q - 1);
	seg__close(seg_gg_expected_value(&m, 0, 0), pop, 1e-15);
	double ev = seg_gg_expected_value(&m, 2, 22.35);
	assert_true(ev > 22.35 && ev < pop);
	seg__close(ev, (m.gamma * m.p + m.p * 2 * 22.35) / (m.p * 2 + m.q - 1), 1e-15);
	free(obs);
	free(rows);
}

struct seg__expect_case {
	double r, alpha, a, b, t, x, t_x, T, p_alive, expected;
};

/* tests/unit/clv_reference.py */
static const struct seg__expect_case seg__expect_cases[] = {
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 1.0, 0, 0, 38.86, 1.0,
	 0.005586350740779349}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 39.0, 0, 0, 38.86, 1.0,
	 0.19478084297964307}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 520.0, 0, 0, 38.86, 1.0,
	 1.462405168702228}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 1.0, 2, 30.43, 38.86, 0.7266091685005137,
	 0.03744319507844591}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 39.0, 2, 30.43, 38.86, 0.7266091685005137,
	 1.2259104865897725}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 520.0, 2, 30.43, 38.86, 0.7266091685005137,
	 7.31949685358986}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 1.0, 7, 35.14, 38.86, 0.8471420763727263,
	 0.14074826254810444}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 39.0, 7, 35.14, 38.86, 0.8471420763727263,
	 4.404975490412695}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 520.0, 7, 35.14, 38.86, 0.8471420763727263,
	 23.464021304072446}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 1.0, 50, 38, 38.86, 0.9594435712622809,
	 1.1042611821825556}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 39.0, 50, 38, 38.86, 0.9594435712622809,
	 33.39261916677029}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 520.0, 50, 38, 38.86, 0.9594435712622809,
	 166.6472779375637}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 1.0, 1, 0.5, 3.0, 0.6472840359466353,
	 0.10555333541010901}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 39.0, 1, 0.5, 3.0, 0.6472840359466353,
	 2.4102808931197077}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 520.0, 1, 0.5, 3.0, 0.6472840359466353,
	 9.261687491118437}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 1.0, 0, 0, 0, 1.0,
	 0.05318473890503514}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 39.0, 0, 0, 0, 1.0,
	 1.195016298291823}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 520.0, 0, 0, 0, 1.0,
	 4.968748502151567},						   /* cdnow */
	{0.5, 10.0, 1.0, 3.0, 1.0, 0, 0, 38.86, 1.0, 0.01019431491344527}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 39.0, 0, 0, 38.86, 1.0, 0.3512878967034218}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 520.0, 0, 0, 38.86, 1.0, 2.4110055655008},   /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 1.0, 2, 30.43, 38.86, 0.7135782866004932,
	 0.036295313134594644}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 39.0, 2, 30.43, 38.86, 0.7135782866004932,
	 1.1736278509035378}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 520.0, 2, 30.43, 38.86, 0.7135782866004932,
	 6.330277911592704}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 1.0, 7, 35.14, 38.86, 0.832478733533006,
	 0.12678562591426254}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 39.0, 7, 35.14, 38.86, 0.832478733533006,
	 3.8873414398846293}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 520.0, 7, 35.14, 38.86, 0.832478733533006,
	 18.163517113922637}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 1.0, 50, 38, 38.86, 0.954974770992134,
	 0.9775194636004483}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 39.0, 50, 38, 38.86, 0.954974770992134,
	 28.6239860020798}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 520.0, 50, 38, 38.86, 0.954974770992134,
	 121.98961909012783}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 1.0, 1, 0.5, 3.0, 0.6853030718438419,
	 0.07759665889803065}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 39.0, 1, 0.5, 3.0, 0.6853030718438419,
	 1.9352737933567734}, /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 520.0, 1, 0.5, 3.0, 0.6853030718438419,
	 7.082520860909479},						    /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 1.0, 0, 0, 0, 1.0, 0.049092449330736296},	    /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 39.0, 0, 0, 0, 1.0, 1.263574083294239},	    /* a_is_1 */
	{0.5, 10.0, 1.0, 3.0, 520.0, 0, 0, 0, 1.0, 5.202796361579578},	    /* a_is_1 */
	{1.5, 20.0, 3.0, 8.0, 1.0, 0, 0, 38.86, 1.0, 0.025337566877263976}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 39.0, 0, 0, 38.86, 1.0, 0.8145411225659551},  /* a_big */
	{1.5, 20.0, 3.0, 8.0, 520.0, 0, 0, 38.86, 1.0, 3.5775494771999385}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 1.0, 2, 30.43, 38.86, 0.6358965853868433,
	 0.03748178415043172}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 39.0, 2, 30.43, 38.86, 0.6358965853868433,
	 1.0972589875243322}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 520.0, 2, 30.43, 38.86, 0.6358965853868433,
	 3.4059450337357657}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 1.0, 7, 35.14, 38.86, 0.7282003841006576,
	 0.10376285092301558}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 39.0, 7, 35.14, 38.86, 0.7282003841006576,
	 2.6607085141800852}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 520.0, 7, 35.14, 38.86, 0.7282003841006576,
	 5.9504178255275315}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 1.0, 50, 38, 38.86, 0.8990237641745971,
	 0.7696859996964861}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 39.0, 50, 38, 38.86, 0.8990237641745971,
	 15.999104707095103}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 520.0, 50, 38, 38.86, 0.8990237641745971,
	 26.60217454321912}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 1.0, 1, 0.5, 3.0, 0.6666686106615685,
	 0.07111267100018823}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 39.0, 1, 0.5, 3.0, 0.6666686106615685,
	 1.6358370026265583}, /* a_big */
	{1.5, 20.0, 3.0, 8.0, 520.0, 1, 0.5, 3.0, 0.6666686106615685,
	 3.470708402726788},						   /* a_big */
	{1.5, 20.0, 3.0, 8.0, 1.0, 0, 0, 0, 1.0, 0.07374592343579695},	   /* a_big */
	{1.5, 20.0, 3.0, 8.0, 39.0, 0, 0, 0, 1.0, 1.7956987020304198},	   /* a_big */
	{1.5, 20.0, 3.0, 8.0, 520.0, 0, 0, 0, 1.0, 4.440481249166039},	   /* a_big */
	{0.3, 2.0, 0.3, 0.4, 1.0, 0, 0, 38.86, 1.0, 0.00729279343912727},  /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 39.0, 0, 0, 38.86, 1.0, 0.2361342760527709},  /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 520.0, 0, 0, 38.86, 1.0, 1.7195584080719755}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 1.0, 2, 30.43, 38.86, 0.7328223270316416,
	 0.04106756081882371}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 39.0, 2, 30.43, 38.86, 0.7328223270316416,
	 1.412540334604055}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 520.0, 2, 30.43, 38.86, 0.7328223270316416,
	 11.968509697648463}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 1.0, 7, 35.14, 38.86, 0.913996162097611,
	 0.16265453392889806}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 39.0, 7, 35.14, 38.86, 0.913996162097611,
	 5.665913595931844}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 520.0, 7, 35.14, 38.86, 0.913996162097611,
	 49.1853501432817}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 1.0, 50, 38, 38.86, 0.9826034688723148,
	 1.2051714809672005}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 39.0, 50, 38, 38.86, 0.9826034688723148,
	 42.21708648108756}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 520.0, 50, 38, 38.86, 0.9826034688723148,
	 370.0998626830293}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 1.0, 1, 0.5, 3.0, 0.35128189190601505,
	 0.08797317676615521}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 39.0, 1, 0.5, 3.0, 0.35128189190601505,
	 2.150284125812084}, /* ab_small */
	{0.3, 2.0, 0.3, 0.4, 520.0, 1, 0.5, 3.0, 0.35128189190601505,
	 14.472977651966357},							/* ab_small */
	{0.3, 2.0, 0.3, 0.4, 1.0, 0, 0, 0, 1.0, 0.133669217943486},		/* ab_small */
	{0.3, 2.0, 0.3, 0.4, 39.0, 0, 0, 0, 1.0, 2.3192995655406676},		/* ab_small */
	{0.3, 2.0, 0.3, 0.4, 520.0, 0, 0, 0, 1.0, 13.913753776986955},		/* ab_small */
	{0.25, 30.9, 0.79, 2.43, 1.0, 0, 0, 38.86, 1.0, 0.0035758739808195612}, /* days */
	{0.25, 30.9, 0.79, 2.43, 39.0, 0, 0, 38.86, 1.0, 0.12951075998440292},	/* days */
	{0.25, 30.9, 0.79, 2.43, 520.0, 0, 0, 38.86, 1.0, 1.0957656938121167},	/* days */
	{0.25, 30.9, 0.79, 2.43, 1.0, 2, 30.43, 38.86, 0.7646782372803619,
	 0.024577060668388245}, /* days */
	{0.25, 30.9, 0.79, 2.43, 39.0, 2, 30.43, 38.86, 0.7646782372803619,
	 0.8532721630231126}, /* days */
	{0.25, 30.9, 0.79, 2.43, 520.0, 2, 30.43, 38.86, 0.7646782372803619,
	 5.935778878314999}, /* days */
	{0.25, 30.9, 0.79, 2.43, 1.0, 7, 35.14, 38.86, 0.8776345203197531,
	 0.09079659163882366}, /* days */
	{0.25, 30.9, 0.79, 2.43, 39.0, 7, 35.14, 38.86, 0.8776345203197531,
	 3.0553571255427636}, /* days */
	{0.25, 30.9, 0.79, 2.43, 520.0, 7, 35.14, 38.86, 0.8776345203197531,
	 19.104595346702357}, /* days */
	{0.25, 30.9, 0.79, 2.43, 1.0, 50, 38, 38.86, 0.9721482568089304,
	 0.6964773338065575}, /* days */
	{0.25, 30.9, 0.79, 2.43, 39.0, 50, 38, 38.86, 0.9721482568089304,
	 22.868858285779876}, /* days */
	{0.25, 30.9, 0.79, 2.43, 520.0, 50, 38, 38.86, 0.9721482568089304,
	 134.03463543396398}, /* days */
	{0.25, 30.9, 0.79, 2.43, 1.0, 1, 0.5, 3.0, 0.736499771215797,
	 0.026990180738482184}, /* days */
	{0.25, 30.9, 0.79, 2.43, 39.0, 1, 0.5, 3.0, 0.736499771215797,
	 0.8747915078615762}, /* days */
	{0.25, 30.9, 0.79, 2.43, 520.0, 1, 0.5, 3.0, 0.736499771215797,
	 5.226921337094492},						   /* days */
	{0.25, 30.9, 0.79, 2.43, 1.0, 0, 0, 0, 1.0, 0.008050873564056368}, /* days */
	{0.25, 30.9, 0.79, 2.43, 39.0, 0, 0, 0, 1.0, 0.2706984625605541},  /* days */
	{0.25, 30.9, 0.79, 2.43, 520.0, 0, 0, 0, 1.0, 1.8574403551341},	   /* days */
};

static void test_expected(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof seg__expect_cases / sizeof seg__expect_cases[0]; i++) {
		const struct seg__expect_case *c = &seg__expect_cases[i];
		struct seg_bgnbd m = {c->r, c->alpha, c->a, c->b, 0, 0};
		double e = -1;
		seg__close(seg_bgnbd_p_alive(&m, c->x, c->t_x, c->T), c->p_alive, 1e-12);
		assert_int_equal(seg_bgnbd_expected(&m, c->t, c->x, c->t_x, c->T, &e), SEG_CLV_OK);
		seg__close(e, c->expected, 1e-8);
		/* no discounting is the plain expectation */
		assert_int_equal(seg_bgnbd_expected_discounted(&m, c->t, 0, c->x, c->t_x, c->T, &e),
				 SEG_CLV_OK);
		seg__close(e, c->expected, 1e-8);
	}
	/* a = 1 is no singularity: its neighbours agree */
	struct seg_bgnbd lo = {0.5, 10, 1 - 1e-7, 3, 0, 0}, hi = {0.5, 10, 1 + 1e-7, 3, 0, 0};
	double el, eh;
	assert_int_equal(seg_bgnbd_expected(&lo, 39, 2, 30, 38, &el), SEG_CLV_OK);
	assert_int_equal(seg_bgnbd_expected(&hi, 39, 2, 30, 38, &eh), SEG_CLV_OK);
	seg__close(el, eh, 1e-6);
	/* t = 0: nothing; a horizon the series cannot reach fails instead of hanging or NaN */
	struct seg_bgnbd m = {0.24, 4.4, 0.79, 2.4, 0, 0};
	double e = -1;
	assert_int_equal(seg_bgnbd_expected(&m, 0, 3, 10, 20, &e), SEG_CLV_OK);
	assert_true(e == 0);
	assert_int_equal(seg_bgnbd_expected(&m, 1e12, 0, 0, 0, &e), SEG_CLV_NUMERIC);
}

struct seg__discount_case {
	double r, alpha, a, b, horizon, delta, x, t_x, T, expected;
};

static const struct seg__discount_case seg__discount_cases[] = {
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 52.0, 0.0018266153555928106, 0, 0, 38.86,
	 0.24060377029719157}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 104.0, 0.004276536233263431, 0, 0, 38.86,
	 0.37186546869268033}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 52.0, 0.0018266153555928106, 2, 30.43, 38.86,
	 1.4918648054206063}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 104.0, 0.004276536233263431, 2, 30.43, 38.86,
	 2.2096043032950377}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 52.0, 0.0018266153555928106, 7, 35.14, 38.86,
	 5.309697867670513}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 104.0, 0.004276536233263431, 7, 35.14, 38.86,
	 7.670674581259449}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 52.0, 0.0018266153555928106, 50, 38, 38.86,
	 39.99178585220827}, /* cdnow */
	{0.2425929, 4.4135316, 0.79288615, 2.42575373, 104.0, 0.004276536233263431, 50, 38, 38.86,
	 56.877197955150535}, /* cdnow */
	{0.25, 30.9, 0.79, 2.43, 52.0, 0.0018266153555928106, 0, 0, 38.86,
	 0.16137783980177173}, /* days */
	{0.25, 30.9, 0.79, 2.43, 104.0, 0.004276536233263431, 0, 0, 38.86,
	 0.25551953851572046}, /* days */
	{0.25, 30.9, 0.79, 2.43, 52.0, 0.0018266153555928106, 2, 30.43, 38.86,
	 1.0516088301961939}, /* days */
	{0.25, 30.9, 0.79, 2.43, 104.0, 0.004276536233263431, 2, 30.43, 38.86,
	 1.6105166818578938}, /* days */
	{0.25, 30.9, 0.79, 2.43, 52.0, 0.0018266153555928106, 7, 35.14, 38.86,
	 3.737447419669192}, /* days */
	{0.25, 30.9, 0.79, 2.43, 104.0, 0.004276536233263431, 7, 35.14, 38.86,
	 5.603853393779145}, /* days */
	{0.25, 30.9, 0.79, 2.43, 52.0, 0.0018266153555928106, 50, 38, 38.86,
	 27.823526027364167}, /* days */
	{0.25, 30.9, 0.79, 2.43, 104.0, 0.004276536233263431, 50, 38, 38.86,
	 41.12545664986177}, /* days */
};

static void test_discounted(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof seg__discount_cases / sizeof seg__discount_cases[0]; i++) {
		const struct seg__discount_case *c = &seg__discount_cases[i];
		struct seg_bgnbd m = {c->r, c->alpha, c->a, c->b, 0, 0};
		double e = -1, plain = -1;
		assert_int_equal(seg_bgnbd_expected_discounted(&m, c->horizon, c->delta, c->x,
							       c->t_x, c->T, &e),
				 SEG_CLV_OK);
		seg__close(e, c->expected, 1e-8);
		assert_int_equal(seg_bgnbd_expected(&m, c->horizon, c->x, c->t_x, c->T, &plain),
				 SEG_CLV_OK);
		assert_true(e < plain);
	}
}

/* Data that cannot support a fit: a failure, never parameters. */
static void test_degenerate(void **state)
{
	(void)state;
	struct seg_bgnbd m = {-1, -1, -1, -1, 0, 0};
	/* nobody */
	assert_int_equal(seg_bgnbd_fit(NULL, 0, &m), SEG_CLV_NO_CUSTOMERS);
	struct seg_bgnbd_obs zero[] = {{2, 3, 5, 0}};
	assert_int_equal(seg_bgnbd_fit(zero, 1, &m), SEG_CLV_NO_CUSTOMERS);
	/* nobody bought twice */
	struct seg_bgnbd_obs once[] = {{0, 0, 5, 10}, {0, 0, 30, 4}, {0, 0, 12, 1}};
	assert_int_equal(seg_bgnbd_fit(once, 3, &m), SEG_CLV_NO_REPEAT);
	/* all the same */
	struct seg_bgnbd_obs same[] = {{2, 3, 5, 10}, {2, 3, 5, 4}, {2, 3, 5, 1}};
	assert_int_equal(seg_bgnbd_fit(same, 3, &m), SEG_CLV_IDENTICAL);
	/* impossible summaries */
	struct seg_bgnbd_obs bad[][2] = {
		{{1, 6, 5, 1}, {0, 0, 5, 1}},	     /* t_x > T */
		{{-1, 0, 5, 1}, {1, 2, 5, 1}},	     /* x < 0 */
		{{1.5, 2, 5, 1}, {1, 2, 5, 1}},	     /* x not whole */
		{{0, 1, 5, 1}, {1, 2, 5, 1}},	     /* t_x without a repeat */
		{{1, NAN, 5, 1}, {1, 2, 5, 1}},	     /* NaN */
		{{1, 2, INFINITY, 1}, {1, 2, 5, 1}}, /* infinity */
		{{1, 2, 5, -1}, {1, 2, 5, 1}},	     /* negative weight */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(seg_bgnbd_fit(bad[i], 2, &m), SEG_CLV_BAD_INPUT);
	/* too few customers: no finite maximum */
	struct seg_bgnbd_obs two[] = {{1, 5, 10, 1}, {0, 0, 10, 1}};
	assert_int_equal(seg_bgnbd_fit(two, 2, &m), SEG_CLV_DIVERGES);
	/*
	 * Nobody ever drops out (Poisson buyers, every one alive): p is 0 for everybody, and a
	 * and b run off (the BG/NBD tends to the NBD).
	 */
	struct seg_bgnbd_obs *poisson = calloc(2000, sizeof *poisson);
	unsigned s = 12345;
	for (int i = 0; i < 2000; i++) {
		double rate = 0.05 + 0.5 * (i % 97) / 97.0, T = 10 + (i % 43), t = 0, last = 0;
		int x = 0;
		for (;;) {
			s = s * 1103515245u + 12345u;
			t += -log(((s >> 8) + 0.5) / 16777216.0) / rate;
			if (t > T)
				break;
			x++;
			last = t;
		}
		poisson[i] = (struct seg_bgnbd_obs){x, x ? floor(last) : 0, T, 1};
	}
	assert_int_equal(seg_bgnbd_fit(poisson, 2000, &m), SEG_CLV_DIVERGES);
	free(poisson);
	assert_true(m.r == -1 && m.alpha == -1 && m.a == -1 && m.b == -1);

	struct seg_gg g = {-1, -1, -1, 0, 0};
	assert_int_equal(seg_gg_fit(NULL, 0, &g), SEG_CLV_NO_REPEAT);
	struct seg_gg_obs gsame[] = {{2, 10, 1}, {2, 10, 5}};
	assert_int_equal(seg_gg_fit(gsame, 2, &g), SEG_CLV_IDENTICAL);
	struct seg_gg_obs gbad[][2] = {
		{{0, 10, 1}, {1, 5, 1}},       /* no repeat */
		{{1, 0, 1}, {1, 5, 1}},	       /* value 0 */
		{{1, -3, 1}, {1, 5, 1}},       /* negative value */
		{{1, NAN, 1}, {1, 5, 1}},      /* NaN */
		{{1, 5, INFINITY}, {1, 5, 1}}, /* infinite weight */
	};
	for (size_t i = 0; i < sizeof gbad / sizeof gbad[0]; i++)
		assert_int_equal(seg_gg_fit(gbad[i], 2, &g), SEG_CLV_BAD_INPUT);
	/* every customer spends the same: no spread to fit, p runs off */
	struct seg_gg_obs *flat = calloc(500, sizeof *flat);
	for (int i = 0; i < 500; i++)
		flat[i] = (struct seg_gg_obs){1 + i % 5, 10, 1};
	assert_int_equal(seg_gg_fit(flat, 500, &g), SEG_CLV_DIVERGES);
	free(flat);
	assert_true(g.p == -1 && g.q == -1 && g.gamma == -1);
	for (int f = SEG_CLV_OK; f <= SEG_CLV_NUMERIC; f++)
		assert_true(strlen(seg_clv_strerror(f)) > 0);
}

/* A small deterministic generator for simulated data: uniform in (0, 1). */
static double seg__uniform(uint64_t *state)
{
	*state = *state * 6364136223846793005u + 1442695040888963407u;
	return ((double)(*state >> 11) + 0.5) / 9007199254740992.0;
}

/* Gamma(shape, 1) by Marsaglia & Tsang (2000), boosted below shape 1. */
static double seg__gamma_draw(uint64_t *state, double shape)
{
	if (shape < 1)
		return seg__gamma_draw(state, shape + 1) * pow(seg__uniform(state), 1 / shape);
	double d = shape - 1.0 / 3, c = 1 / sqrt(9 * d);
	for (;;) {
		double x, v;
		do {
			x = sqrt(-2 * log(seg__uniform(state))) *
			    cos(2 * M_PI * seg__uniform(state));
			v = 1 + c * x;
		} while (v <= 0);
		v = v * v * v;
		if (log(seg__uniform(state)) < 0.5 * x * x + d - d * v + d * log(v))
			return d * v;
	}
}

/*
 * Gamma-Gamma on 5,000 customers drawn from the model with p = 3, q = 0.8, gamma = 10: the fit
 * finds q below 1, where the mean value of a purchase is infinite, and says so.
 */
static void test_gg_unbounded(void **state)
{
	(void)state;
	uint64_t rng = 42;
	struct seg_gg_obs *obs = calloc(5000, sizeof *obs);
	for (int i = 0; i < 5000; i++) {
		double nu = seg__gamma_draw(&rng, 0.8) / 10, x = 1 + i % 6, sum = 0;
		for (int k = 0; k < x; k++)
			sum += seg__gamma_draw(&rng, 3) / nu;
		obs[i] = (struct seg_gg_obs){x, sum / x, 1};
	}
	struct seg_gg g = {-1, -1, -1, 0, 0};
	assert_int_equal(seg_gg_fit(obs, 5000, &g), SEG_CLV_UNBOUNDED);
	free(obs);
}

/* BG/NBD on 20,000 customers drawn from the CDNOW parameters: the fit finds them again. */
static void test_bgnbd_simulated(void **state)
{
	(void)state;
	uint64_t rng = 7;
	struct seg_bgnbd_obs *obs = calloc(20000, sizeof *obs);
	for (int i = 0; i < 20000; i++) {
		double lambda = seg__gamma_draw(&rng, 0.25) / 4.4;
		double ga = seg__gamma_draw(&rng, 0.8), gb = seg__gamma_draw(&rng, 2.4);
		double p = ga / (ga + gb), T = 27 + (i % 85) / 7.0, t = 0, last = 0;
		int x = 0;
		for (;;) {
			t += -log(seg__uniform(&rng)) / lambda;
			if (t > T)
				break;
			x++;
			last = t;
			if (seg__uniform(&rng) < p)
				break;
		}
		obs[i] = (struct seg_bgnbd_obs){x, x ? last : 0, T, 1};
	}
	struct seg_bgnbd m;
	assert_int_equal(seg_bgnbd_fit(obs, 20000, &m), SEG_CLV_OK);
	/* within sampling error of the truth (about 10 % here) */
	seg__close(m.r, 0.25, 0.15);
	seg__close(m.alpha, 4.4, 0.2);
	seg__close(m.a, 0.8, 0.3);
	seg__close(m.b, 2.4, 0.3);
	free(obs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digamma),		cmocka_unit_test(test_bgnbd_cdnow),
		cmocka_unit_test(test_gradients),	cmocka_unit_test(test_gg_cdnow),
		cmocka_unit_test(test_expected),	cmocka_unit_test(test_discounted),
		cmocka_unit_test(test_degenerate),	cmocka_unit_test(test_gg_unbounded),
		cmocka_unit_test(test_bgnbd_simulated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

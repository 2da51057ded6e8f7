/*
 * Customer lifetime value (SPEC §6 `clv`, §6.1): the BG/NBD model of the number of future
 * purchases and of P(alive) (Fader, Hardie & Lee 2005, "Counting your customers the easy way"),
 * the Gamma-Gamma model of their value (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value
 * curves"), both fitted by maximum likelihood, and the value over a horizon with a yearly
 * discount rate. Pure: arrays in, numbers out; no I/O, no global state, so every function may
 * run on any thread, several at once. analytics/README.md ("CLV") explains the model, the
 * likelihoods, the optimiser, the discounting and the failure cases.
 *
 * Times (t_x, T, horizons) are in one time unit of the caller's choosing (days, weeks); alpha
 * is in that unit. Nothing here returns a NaN or an infinity: a computation that cannot give a
 * finite answer fails with an enum seg_clv_fail instead.
 */
#ifndef SEG_CLV_H
#define SEG_CLV_H

#include <stdbool.h>
#include <stddef.h>

/* Why a fit or a prediction failed; seg_clv_strerror says it in a sentence. */
enum seg_clv_fail {
	SEG_CLV_OK = 0,
	SEG_CLV_NO_CUSTOMERS,	/* no customer (no weight) to fit on */
	SEG_CLV_BAD_INPUT,	/* a negative, non-finite or inconsistent summary (t_x > T...) */
	SEG_CLV_NO_REPEAT,	/* nobody bought twice: the likelihood has no maximum */
	SEG_CLV_IDENTICAL,	/* every customer has the same summary: nothing to fit */
	SEG_CLV_NO_CONVERGENCE, /* the optimiser stopped without a maximum */
	SEG_CLV_DIVERGES,	/* a parameter runs off to 0 or infinity: no finite maximum */
	SEG_CLV_UNBOUNDED,	/* Gamma-Gamma q <= 1: the mean value of a purchase is infinite */
	SEG_CLV_NUMERIC,	/* a series did not converge or a value was not finite */
};

/* A sentence for a problem's detail ("nobody bought twice ..."); static. */
const char *seg_clv_strerror(enum seg_clv_fail f);

/*
 * One BG/NBD summary shared by weight customers: x repeat transactions (whole number >= 0),
 * the last at t_x after the first, observed for T since the first (0 <= t_x <= T; t_x = 0
 * when x = 0). Fits take arrays of these, aggregated (identical summaries grouped), which is
 * what keeps a fit over millions of customers fast.
 */
struct seg_bgnbd_obs {
	double x, t_x, T;
	double weight;
};

/* Fitted BG/NBD parameters: lambda ~ Gamma(r, alpha), p ~ Beta(a, b). */
struct seg_bgnbd {
	double r, alpha, a, b;
	double log_likelihood; /* the sum over the customers, weights counted */
	int iterations;	       /* of the optimiser */
};

/*
 * The BG/NBD log-likelihood of the observations under (r, alpha, a, b) (all > 0), summed with
 * their weights, in the numerically stable form: the Beta functions through lgamma and the two
 * terms of the likelihood as a log-sum-exp. When grad is not NULL it receives the gradient with
 * respect to (ln r, ln alpha, ln a, ln b). The observations must be valid (seg_bgnbd_fit checks).
 */
double seg_bgnbd_loglik(const struct seg_bgnbd *m, const struct seg_bgnbd_obs *obs, size_t n,
			double grad[4]);

/*
 * Fits BG/NBD by maximum likelihood: BFGS over the logarithms of the four parameters with the
 * analytic gradient and a backtracking line search, until the gradient of the mean
 * log-likelihood is below 1e-9 (about eight significant digits in the parameters). Fails with
 * SEG_CLV_NO_CUSTOMERS, SEG_CLV_BAD_INPUT, SEG_CLV_NO_REPEAT, SEG_CLV_IDENTICAL,
 * SEG_CLV_DIVERGES or SEG_CLV_NO_CONVERGENCE; *out is set only on success.
 */
enum seg_clv_fail seg_bgnbd_fit(const struct seg_bgnbd_obs *obs, size_t n, struct seg_bgnbd *out);

/* P(alive at T | x, t_x, T): 1 for a customer without repeat purchases. */
double seg_bgnbd_p_alive(const struct seg_bgnbd *m, double x, double t_x, double T);

/*
 * The expected number of purchases in (T, T + t] of a customer with summary (x, t_x, T)
 * (FHL 2005, eq. 10), through a hypergeometric series after Euler's transformation, written so
 * that it stays finite for every a, b > 0 (a = 1 and a + b + x < 1 included). SEG_CLV_NUMERIC
 * when the series does not converge (t enormous beside alpha + T).
 */
enum seg_clv_fail seg_bgnbd_expected(const struct seg_bgnbd *m, double t, double x, double t_x,
				     double T, double *out);

/*
 * The discounted expected number of purchases in (T, T + horizon]: each future purchase at
 * T + s counts exp(-delta s), delta the continuous discount rate per time unit (0: no
 * discounting, the same as seg_bgnbd_expected). The integral over s is by parts and composite
 * Gauss-Legendre quadrature on panels graded towards s = 0, where the expectation bends.
 */
enum seg_clv_fail seg_bgnbd_expected_discounted(const struct seg_bgnbd *m, double horizon,
						double delta, double x, double t_x, double T,
						double *out);

/*
 * One Gamma-Gamma observation shared by weight customers: x >= 1 repeat transactions whose
 * mean value is m > 0.
 */
struct seg_gg_obs {
	double x, m;
	double weight;
};

/* Fitted Gamma-Gamma parameters (p, q, gamma; gamma is often written v). */
struct seg_gg {
	double p, q, gamma;
	double log_likelihood;
	int iterations;
};

/* The Gamma-Gamma log-likelihood, with the gradient w.r.t. (ln p, ln q, ln gamma) if asked. */
double seg_gg_loglik(const struct seg_gg *m, const struct seg_gg_obs *obs, size_t n,
		     double grad[3]);

/*
 * Fits Gamma-Gamma by maximum likelihood (BFGS over the logarithms, as seg_bgnbd_fit). Fails
 * as seg_bgnbd_fit, and with SEG_CLV_UNBOUNDED when the fitted q is not above 1 (the
 * population's mean value, gamma p / (q - 1), would be infinite).
 */
enum seg_clv_fail seg_gg_fit(const struct seg_gg_obs *obs, size_t n, struct seg_gg *out);

/*
 * The expected value of a customer's future purchases given x repeat transactions of mean
 * value m: (gamma p + p x m) / (p x + q - 1); for x = 0, the population mean gamma p / (q - 1).
 * Needs q > 1 (a fit guarantees it).
 */
double seg_gg_expected_value(const struct seg_gg *m, double x, double mean);

/* The digamma function psi(x), x > 0 (exposed for the tests). */
double seg_clv_digamma(double x);

#endif

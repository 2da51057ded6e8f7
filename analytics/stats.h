/*
 * The distribution tails the multivariate analyses need for their p values: the upper tails
 * of the chi-squared distribution (Bartlett's tests) and of the F distribution (the univariate
 * Wilks' lambda of the discriminant analysis), through the regularised incomplete gamma and
 * beta functions. Pure, no global state (lgamma_r, not lgamma): any thread, several at once.
 * analytics/README.md ("Linear algebra") says how they are computed and how accurate they are.
 */
#ifndef SEG_STATS_H
#define SEG_STATS_H

/*
 * The regularised upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a), a > 0,
 * x >= 0 (so Q(a, 0) = 1). NaN when a <= 0, x < 0 or an argument is NaN.
 */
double seg_stats_gamma_q(double a, double x);

/*
 * The regularised incomplete beta function I_x(a, b), a, b > 0, 0 <= x <= 1. NaN outside.
 */
double seg_stats_beta_i(double a, double b, double x);

/*
 * P(X > x) for X chi-squared with df > 0 degrees of freedom: Q(df / 2, x / 2); 1 for x <= 0.
 * NaN when df <= 0 or an argument is NaN. An infinite x gives 0.
 */
double seg_stats_chi2_sf(double x, double df);

/*
 * P(X > f) for X F-distributed with (d1, d2) degrees of freedom, d1, d2 > 0:
 * I_{d2 / (d2 + d1 f)}(d2 / 2, d1 / 2), both arguments formed without cancellation; 1 for
 * f <= 0. NaN when a degree of freedom is not positive or an argument is NaN.
 */
double seg_stats_f_sf(double f, double d1, double d2);

#endif

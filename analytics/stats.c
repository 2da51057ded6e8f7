/*
 * Upper tails of chi-squared and F (analytics/stats.h): the regularised incomplete gamma
 * function by its power series below a + 1 and by its continued fraction (modified Lentz)
 * above, the regularised incomplete beta function by its continued fraction on the side of
 * (a + 1) / (a + b + 2) where it converges fast, and the symmetry I_x(a, b) = 1 - I_{1-x}(b, a)
 * on the other (Numerical Recipes, 3rd ed., 6.2 and 6.4). Accurate to about 1e-14 relative in
 * the tails that give p values; the iteration counts grow as sqrt(a), so degrees of freedom in
 * the millions (F with d2 = n - g) still take a few thousand steps at most.
 */
#include "stats.h"

#include <float.h>
#include <math.h>

#define SEG__TINY  1e-300
#define SEG__EPS   1e-16
#define SEG__STEPS 1000000

static double seg__lgamma(double x)
{
	int sign;
	return lgamma_r(x, &sign);
}

/* The power series of the lower regularised gamma P(a, x); for x < a + 1. */
static double seg__gamma_p_series(double a, double x)
{
	double ap = a, sum = 1 / a, del = sum;
	for (int i = 0; i < SEG__STEPS; i++) {
		ap += 1;
		del *= x / ap;
		sum += del;
		if (fabs(del) < fabs(sum) * SEG__EPS)
			break;
	}
	return sum * exp(-x + a * log(x) - seg__lgamma(a));
}

/* The continued fraction of Q(a, x) (modified Lentz); for x >= a + 1. */
static double seg__gamma_q_fraction(double a, double x)
{
	double b = x + 1 - a, c = 1 / SEG__TINY, d = 1 / b, h = d;
	for (int i = 1; i < SEG__STEPS; i++) {
		double an = -i * (i - a);
		b += 2;
		d = an * d + b;
		if (fabs(d) < SEG__TINY)
			d = SEG__TINY;
		c = b + an / c;
		if (fabs(c) < SEG__TINY)
			c = SEG__TINY;
		d = 1 / d;
		double del = d * c;
		h *= del;
		if (fabs(del - 1) < SEG__EPS)
			break;
	}
	return exp(-x + a * log(x) - seg__lgamma(a)) * h;
}

double seg_stats_gamma_q(double a, double x)
{
	if (!(a > 0) || !(x >= 0))
		return NAN;
	if (x == 0)
		return 1;
	if (isinf(x))
		return 0;
	if (x < a + 1)
		return 1 - seg__gamma_p_series(a, x);
	return seg__gamma_q_fraction(a, x);
}

/* The continued fraction of the incomplete beta (modified Lentz); y = 1 - x given exactly. */
static double seg__beta_fraction(double a, double b, double x)
{
	double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
	if (fabs(d) < SEG__TINY)
		d = SEG__TINY;
	d = 1 / d;
	double h = d;
	for (int m = 1; m < SEG__STEPS; m++) {
		int m2 = 2 * m;
		double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
		d = 1 + aa * d;
		if (fabs(d) < SEG__TINY)
			d = SEG__TINY;
		c = 1 + aa / c;
		if (fabs(c) < SEG__TINY)
			c = SEG__TINY;
		d = 1 / d;
		h *= d * c;
		aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
		d = 1 + aa * d;
		if (fabs(d) < SEG__TINY)
			d = SEG__TINY;
		c = 1 + aa / c;
		if (fabs(c) < SEG__TINY)
			c = SEG__TINY;
		d = 1 / d;
		double del = d * c;
		h *= del;
		if (fabs(del - 1) < SEG__EPS)
			break;
	}
	return h;
}

/* I_x(a, b) with y = 1 - x computed by the caller without cancellation. */
static double seg__beta_i(double a, double b, double x, double y)
{
	if (x <= 0)
		return 0;
	if (y <= 0)
		return 1;
	double lbt = seg__lgamma(a + b) - seg__lgamma(a) - seg__lgamma(b) + a * log(x) + b * log(y);
	if (x < (a + 1) / (a + b + 2))
		return exp(lbt) * seg__beta_fraction(a, b, x) / a;
	return 1 - exp(lbt) * seg__beta_fraction(b, a, y) / b;
}

double seg_stats_beta_i(double a, double b, double x)
{
	if (!(a > 0) || !(b > 0) || !(x >= 0 && x <= 1))
		return NAN;
	return seg__beta_i(a, b, x, 1 - x);
}

double seg_stats_chi2_sf(double x, double df)
{
	if (!(df > 0) || isnan(x))
		return NAN;
	if (x <= 0)
		return 1;
	return seg_stats_gamma_q(df / 2, x / 2);
}

double seg_stats_f_sf(double f, double d1, double d2)
{
	if (!(d1 > 0) || !(d2 > 0) || isnan(f))
		return NAN;
	if (f <= 0)
		return 1;
	if (isinf(f))
		return 0;
	double den = d2 + d1 * f;
	return seg__beta_i(d2 / 2, d1 / 2, d2 / den, d1 * f / den);
}

/*
 * BG/NBD and Gamma-Gamma: likelihoods, their maximum by BFGS with a Newton polish, P(alive), the
 * conditional expectations and the discounted value (analytics/clv.h; the reasons for each
 * choice are in analytics/README.md, "CLV").
 *
 * Every fit works on the logarithms of its parameters (so they stay positive and the problem is
 * better scaled) and minimises the negative mean log-likelihood (so tolerances do not depend on
 * the number of customers). The observations are sorted by x first: the lgamma and digamma
 * terms depend on x alone and are computed once per distinct x, so an evaluation costs a few
 * logarithms per distinct summary.
 *
 * lgamma_r, not lgamma: glibc's lgamma writes the global signgam, a data race when two job
 * workers fit at once.
 */
#include "clv.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

const char *seg_clv_strerror(enum seg_clv_fail f)
{
	switch (f) {
	case SEG_CLV_OK: return "ok";
	case SEG_CLV_NO_CUSTOMERS:
		return "there is no customer with a purchase to fit the model on";
	case SEG_CLV_BAD_INPUT:
		return "a customer summary is not valid (negative or inconsistent times)";
	case SEG_CLV_NO_REPEAT:
		return "no customer bought on two different days: the model needs repeat purchases";
	case SEG_CLV_IDENTICAL:
		return "every customer has the same purchase history: there is nothing to fit";
	case SEG_CLV_NO_CONVERGENCE:
		return "the maximum likelihood fit did not converge on these data";
	case SEG_CLV_DIVERGES:
		return "the likelihood has no finite maximum on these data (a parameter runs off "
		       "to 0 "
		       "or infinity)";
	case SEG_CLV_UNBOUNDED:
		return "the fitted Gamma-Gamma q is not above 1: the expected value of a purchase "
		       "is "
		       "unbounded on these data";
	case SEG_CLV_NUMERIC:
		return "a value of the model could not be computed to a finite number";
	}
	return "unknown failure";
}

static double seg__lgamma(double x)
{
	int sign;
	return lgamma_r(x, &sign);
}

double seg_clv_digamma(double x)
{
	double r = 0;
	while (x < 10) {
		r -= 1 / x;
		x += 1;
	}
	double f = 1 / (x * x);
	/* ln x - 1/2x - sum B_2k / (2k x^2k), to x^-12: below 1e-15 for x >= 10 */
	double t =
		f * (1.0 / 12 -
		     f * (1.0 / 120 -
			  f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132 - f * 691.0 / 32760)))));
	return r + log(x) - 0.5 / x - t;
}

/* log(e^u + e^v) with the softmax weight of u in *wu; v may be -INFINITY. */
static double seg__logsumexp(double u, double v, double *wu)
{
	if (v == -INFINITY) {
		*wu = 1;
		return u;
	}
	if (u >= v) {
		double e = exp(v - u);
		*wu = 1 / (1 + e);
		return u + log1p(e);
	}
	double e = exp(u - v);
	*wu = e / (1 + e);
	return v + log1p(e);
}

/* --- observations grouped by x --- */

/* A run of observations with the same x: obs[begin..end), their total weight and, for
 * Gamma-Gamma, the weighted sum of ln m. */
struct seg__xgroup {
	double x;
	size_t begin, end;
	double weight;
	double sum_log_m;
};

static int seg__cmp_x(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	return (a > b) - (a < b);
}

/*
 * Groups n records of size bytes whose first member is the double x: sorts a copy by x and
 * lists the runs. *copy and *groups are malloc'ed.
 */
static void seg__group_by_x(const void *recs, size_t n, size_t size, void **copy,
			    struct seg__xgroup **groups, size_t *ngroups)
{
	char *c = seg_malloc(n * size + 1);
	memcpy(c, recs, n * size);
	qsort(c, n, size, seg__cmp_x);
	struct seg__xgroup *g = seg_calloc(n + 1, sizeof *g);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		double x = *(const double *)(c + i * size);
		if (k == 0 || g[k - 1].x != x) {
			g[k].x = x;
			g[k].begin = i;
			k++;
		}
		g[k - 1].end = i + 1;
	}
	*copy = c;
	*groups = g;
	*ngroups = k;
}

/* --- BG/NBD --- */

struct seg__bg {
	const struct seg_bgnbd_obs *obs; /* sorted by x */
	const struct seg__xgroup *groups;
	size_t ngroups;
	double total; /* total weight */
};

/* The log-likelihood (summed) and its gradient w.r.t. the log-parameters. */
static double seg__bg_ll(const struct seg__bg *d, double r, double alpha, double a, double b,
			 double grad[4])
{
	double ll = 0, gr = 0, gal = 0, ga = 0, gb = 0;
	double lalpha = log(alpha), la = log(a);
	double lg_r = seg__lgamma(r), lg_b = seg__lgamma(b), lg_ab = seg__lgamma(a + b);
	double ps_r = seg_clv_digamma(r), ps_b = seg_clv_digamma(b), ps_ab = seg_clv_digamma(a + b);
	for (size_t k = 0; k < d->ngroups; k++) {
		const struct seg__xgroup *g = &d->groups[k];
		double x = g->x, w = g->weight;
		ll += w * (seg__lgamma(r + x) - lg_r + r * lalpha + lg_ab + seg__lgamma(b + x) -
			   lg_b - seg__lgamma(a + b + x));
		if (grad) {
			double ps_abx = seg_clv_digamma(a + b + x);
			gr += w * (seg_clv_digamma(r + x) - ps_r + lalpha);
			gal += w * r / alpha;
			ga += w * (ps_ab - ps_abx);
			gb += w * (ps_ab + seg_clv_digamma(b + x) - ps_b - ps_abx);
		}
		double lbx = x > 0 ? log(b + x - 1) : 0;
		for (size_t i = g->begin; i < g->end; i++) {
			const struct seg_bgnbd_obs *o = &d->obs[i];
			double lT = log(alpha + o->T);
			double a3 = -(r + x) * lT, a4 = -INFINITY, ltx = 0, w3;
			if (x > 0) {
				ltx = log(alpha + o->t_x);
				a4 = la - lbx - (r + x) * ltx;
			}
			ll += o->weight * seg__logsumexp(a3, a4, &w3);
			if (grad) {
				double w4 = 1 - w3, ow = o->weight;
				gr -= ow * (w3 * lT + w4 * ltx);
				gal -= ow * (r + x) * (w3 / (alpha + o->T) + w4 / (alpha + o->t_x));
				if (x > 0) {
					ga += ow * w4 / a;
					gb -= ow * w4 / (b + x - 1);
				}
			}
		}
	}
	if (grad) {
		grad[0] = gr * r;
		grad[1] = gal * alpha;
		grad[2] = ga * a;
		grad[3] = gb * b;
	}
	return ll;
}

/* --- the optimiser --- */

/* f(theta) = the negative mean log-likelihood and its gradient; may be non-finite. */
typedef double (*seg__objective)(const double *theta, double *grad, const void *ctx);

#define SEG__NMAX 4
/*
 * How far (in ln) a parameter may move from its start: while searching, and at an accepted
 * maximum (a factor of 160,000 either way; the starts are scaled to the data: alpha to the mean
 * T, gamma to the mean value). Beyond that the likelihood is taken to have no finite maximum.
 */
#define SEG__THETA_MAX	  25.0
#define SEG__THETA_FIT	  12.0
#define SEG__GTOL	  1e-9 /* the mean log-likelihood's gradient at a maximum */
#define SEG__GTOL_LOOSE	  1e-6 /* what BFGS must reach before the Newton polish takes over */
#define SEG__MAX_ITER	  2000
#define SEG__MAX_STEP	  3.0 /* the largest change of a log-parameter in one step */
#define SEG__ARMIJO	  1e-4
#define SEG__HESS_H	  1e-5 /* finite-difference step of the Newton polish's Hessian */
#define SEG__NEWTON_STEPS 20
#define SEG__STALL	  10 /* BFGS steps without a visible decrease of f */

static double seg__maxabs(const double *v, int n)
{
	double m = 0;
	for (int i = 0; i < n; i++)
		if (fabs(v[i]) > m)
			m = fabs(v[i]);
	return m;
}

static double seg__dot(const double *u, const double *v, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += u[i] * v[i];
	return s;
}

static bool seg__finite_vec(const double *v, int n)
{
	for (int i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

/* Whether every log-parameter is within limit of where the search started. */
static bool seg__in_bounds(const double *theta, const double *start, int n, double limit)
{
	for (int i = 0; i < n; i++)
		if (!(fabs(theta[i] - start[i]) <= limit))
			return false;
	return true;
}

/*
 * Cholesky factorisation of the symmetric n x n matrix a (row-major) in place (lower
 * triangle); false when it is not positive definite.
 */
static bool seg__cholesky(double *a, int n)
{
	for (int j = 0; j < n; j++) {
		double s = a[j * n + j];
		for (int k = 0; k < j; k++)
			s -= a[j * n + k] * a[j * n + k];
		if (!(s > 0))
			return false;
		a[j * n + j] = sqrt(s);
		for (int i = j + 1; i < n; i++) {
			double t = a[i * n + j];
			for (int k = 0; k < j; k++)
				t -= a[i * n + k] * a[j * n + k];
			a[i * n + j] = t / a[j * n + j];
		}
	}
	return true;
}

/* Solves L L' x = b with the factor of seg__cholesky; b is overwritten with x. */
static void seg__cholesky_solve(const double *l, int n, double *b)
{
	for (int i = 0; i < n; i++) {
		double s = b[i];
		for (int k = 0; k < i; k++)
			s -= l[i * n + k] * b[k];
		b[i] = s / l[i * n + i];
	}
	for (int i = n - 1; i >= 0; i--) {
		double s = b[i];
		for (int k = i + 1; k < n; k++)
			s -= l[k * n + i] * b[k];
		b[i] = s / l[i * n + i];
	}
}

/*
 * The Hessian of f at theta by central differences of the analytic gradient, symmetrised.
 * False when a gradient was not finite.
 */
static bool seg__hessian(seg__objective f, const void *ctx, const double *theta, int n, double *h)
{
	double tp[SEG__NMAX], gp[SEG__NMAX], gm[SEG__NMAX];
	for (int j = 0; j < n; j++) {
		memcpy(tp, theta, n * sizeof *tp);
		tp[j] = theta[j] + SEG__HESS_H;
		double fp = f(tp, gp, ctx);
		tp[j] = theta[j] - SEG__HESS_H;
		double fm = f(tp, gm, ctx);
		if (!isfinite(fp) || !isfinite(fm) || !seg__finite_vec(gp, n) ||
		    !seg__finite_vec(gm, n))
			return false;
		for (int i = 0; i < n; i++)
			h[i * n + j] = (gp[i] - gm[i]) / (2 * SEG__HESS_H);
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			h[i * n + j] = h[j * n + i] = (h[i * n + j] + h[j * n + i]) / 2;
	return true;
}

/* The smallest eigenvalue of the symmetric n x n matrix a (cyclic Jacobi rotations). */
static double seg__min_eigenvalue(const double *a, int n)
{
	double m[SEG__NMAX * SEG__NMAX];
	memcpy(m, a, n * n * sizeof *m);
	for (int sweep = 0; sweep < 50; sweep++) {
		double off = 0;
		for (int p = 0; p < n; p++)
			for (int q = p + 1; q < n; q++)
				off += m[p * n + q] * m[p * n + q];
		if (off < 1e-30)
			break;
		for (int p = 0; p < n; p++)
			for (int q = p + 1; q < n; q++) {
				double apq = m[p * n + q];
				if (apq == 0)
					continue;
				double theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
				double t = (theta >= 0 ? 1 : -1) /
					   (fabs(theta) + sqrt(theta * theta + 1));
				double c = 1 / sqrt(t * t + 1), sn = t * c;
				for (int k = 0; k < n; k++) { /* columns p, q */
					double kp = m[k * n + p], kq = m[k * n + q];
					m[k * n + p] = c * kp - sn * kq;
					m[k * n + q] = sn * kp + c * kq;
				}
				for (int k = 0; k < n; k++) { /* rows p, q */
					double pk = m[p * n + k], qk = m[q * n + k];
					m[p * n + k] = c * pk - sn * qk;
					m[q * n + k] = sn * pk + c * qk;
				}
			}
	}
	double lo = m[0];
	for (int i = 1; i < n; i++)
		if (m[i * n + i] < lo)
			lo = m[i * n + i];
	return lo;
}

static void seg__identity(double *h, int n)
{
	memset(h, 0, n * n * sizeof *h);
	for (int i = 0; i < n; i++)
		h[i * n + i] = 1;
}

/*
 * Minimises f from theta (n <= SEG__NMAX; theta receives the minimum): BFGS with a backtracking
 * (Armijo) line search until the gradient is below SEG__GTOL_LOOSE or f stops decreasing
 * visibly (rounding), then Newton steps with a finite-difference Hessian, which need no
 * decrease of f to be seen, until the gradient is below SEG__GTOL. A minimum is accepted when
 * the gradient is that small, the Hessian positive definite (a minimum, not a saddle or a
 * ridge) and every parameter within SEG__THETA_FIT of its start; a parameter beyond that (or
 * beyond SEG__THETA_MAX during the search, or beyond half of SEG__THETA_FIT where no minimum
 * was found) runs off to 0 or infinity: SEG_CLV_DIVERGES.
 * *iters counts the iterations of both.
 */
static enum seg_clv_fail seg__minimise(seg__objective f, const void *ctx, double *theta, int n,
				       int *iters)
{
	double start[SEG__NMAX];
	memcpy(start, theta, n * sizeof *theta);
	double g[SEG__NMAX], h[SEG__NMAX * SEG__NMAX], d[SEG__NMAX], tn[SEG__NMAX], gn[SEG__NMAX];
	double s[SEG__NMAX], y[SEG__NMAX], hy[SEG__NMAX];
	int it = 0, stalled = 0;
	double fx = f(theta, g, ctx);
	if (!isfinite(fx) || !seg__finite_vec(g, n))
		return SEG_CLV_NUMERIC;
	seg__identity(h, n);
	bool identity = true;
	while (seg__maxabs(g, n) > SEG__GTOL_LOOSE && stalled < SEG__STALL) {
		if (++it > SEG__MAX_ITER)
			return SEG_CLV_NO_CONVERGENCE;
		for (int i = 0; i < n; i++)
			d[i] = -seg__dot(&h[i * n], g, n);
		double gd = seg__dot(g, d, n);
		if (!(gd < 0)) {
			seg__identity(h, n);
			identity = true;
			for (int i = 0; i < n; i++)
				d[i] = -g[i];
			gd = -seg__dot(g, g, n);
		}
		double big = seg__maxabs(d, n);
		if (big > SEG__MAX_STEP) {
			for (int i = 0; i < n; i++)
				d[i] *= SEG__MAX_STEP / big;
			gd *= SEG__MAX_STEP / big;
		}
		double step = 1, fn = NAN;
		bool found = false;
		for (int k = 0; k < 60; k++, step /= 2) {
			for (int i = 0; i < n; i++)
				tn[i] = theta[i] + step * d[i];
			fn = f(tn, gn, ctx);
			if (isfinite(fn) && seg__finite_vec(gn, n) &&
			    fn <= fx + SEG__ARMIJO * step * gd) {
				found = true;
				break;
			}
		}
		if (!found) {
			if (!identity) { /* a stale curvature estimate: start again from -g */
				seg__identity(h, n);
				identity = true;
				stalled++;
				continue;
			}
			break; /* rounding hides any decrease: let Newton finish */
		}
		for (int i = 0; i < n; i++) {
			s[i] = tn[i] - theta[i];
			y[i] = gn[i] - g[i];
		}
		double sy = seg__dot(s, y, n);
		if (sy > 1e-12 * sqrt(seg__dot(s, s, n) * seg__dot(y, y, n))) {
			if (identity) { /* scale the first estimate (Nocedal & Wright 6.20) */
				double sc = sy / seg__dot(y, y, n);
				for (int i = 0; i < n * n; i++)
					h[i] *= sc;
			}
			/* H += (1 + y'Hy/sy) ss'/sy - (Hys' + sy'H)/sy */
			for (int i = 0; i < n; i++)
				hy[i] = seg__dot(&h[i * n], y, n);
			double yhy = seg__dot(y, hy, n);
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++)
					h[i * n + j] += (1 + yhy / sy) * s[i] * s[j] / sy -
							(hy[i] * s[j] + s[i] * hy[j]) / sy;
			identity = false;
		}
		stalled = fx - fn > 1e-15 * fabs(fx) ? 0 : stalled + 1;
		memcpy(theta, tn, n * sizeof *theta);
		memcpy(g, gn, n * sizeof *g);
		fx = fn;
		if (!seg__in_bounds(theta, start, n, SEG__THETA_MAX))
			return SEG_CLV_DIVERGES;
	}
	/* Newton polish: each step must shrink the gradient */
	double hess[SEG__NMAX * SEG__NMAX], fac[SEG__NMAX * SEG__NMAX];
	for (int k = 0; k < SEG__NEWTON_STEPS && seg__maxabs(g, n) > SEG__GTOL; k++) {
		it++;
		if (!seg__hessian(f, ctx, theta, n, hess))
			return SEG_CLV_NUMERIC;
		memcpy(fac, hess, sizeof fac);
		if (!seg__cholesky(fac, n))
			break; /* not a minimum here: judged below */
		for (int i = 0; i < n; i++)
			d[i] = -g[i];
		seg__cholesky_solve(fac, n, d);
		if (seg__maxabs(d, n) > SEG__MAX_STEP)
			break;
		for (int i = 0; i < n; i++)
			tn[i] = theta[i] + d[i];
		double fn = f(tn, gn, ctx);
		if (!isfinite(fn) || !seg__finite_vec(gn, n) ||
		    seg__maxabs(gn, n) >= seg__maxabs(g, n))
			break;
		memcpy(theta, tn, n * sizeof *theta);
		memcpy(g, gn, n * sizeof *g);
	}
	*iters = it;
	if (!seg__in_bounds(theta, start, n, SEG__THETA_FIT))
		return SEG_CLV_DIVERGES;
	if (!seg__hessian(f, ctx, theta, n, hess))
		return SEG_CLV_NUMERIC;
	if (seg__maxabs(g, n) > SEG__GTOL || !(seg__min_eigenvalue(hess, n) > 0))
		/* far out on a ridge that keeps rising: a parameter is running off */
		return seg__in_bounds(theta, start, n, SEG__THETA_FIT / 2) ? SEG_CLV_NO_CONVERGENCE
									   : SEG_CLV_DIVERGES;
	return SEG_CLV_OK;
}

static double seg__bg_objective(const double *theta, double *grad, const void *ctx)
{
	const struct seg__bg *d = ctx;
	double ll = seg__bg_ll(d, exp(theta[0]), exp(theta[1]), exp(theta[2]), exp(theta[3]), grad);
	for (int i = 0; i < 4; i++)
		grad[i] = -grad[i] / d->total;
	return -ll / d->total;
}

static bool seg__whole(double x)
{
	return isfinite(x) && x >= 0 && x == floor(x);
}

double seg_bgnbd_loglik(const struct seg_bgnbd *m, const struct seg_bgnbd_obs *obs, size_t n,
			double grad[4])
{
	void *copy;
	struct seg__xgroup *groups;
	struct seg__bg d = {0};
	double g[4];
	seg__group_by_x(obs, n, sizeof *obs, &copy, &groups, &d.ngroups);
	d.obs = copy;
	d.groups = groups;
	for (size_t k = 0; k < d.ngroups; k++)
		for (size_t i = groups[k].begin; i < groups[k].end; i++)
			groups[k].weight += d.obs[i].weight;
	double ll = seg__bg_ll(&d, m->r, m->alpha, m->a, m->b, g);
	if (grad)
		memcpy(grad, g, sizeof g);
	free(copy);
	free(groups);
	return ll;
}

enum seg_clv_fail seg_bgnbd_fit(const struct seg_bgnbd_obs *obs, size_t n, struct seg_bgnbd *out)
{
	double total = 0, sum_T = 0;
	bool repeat = false, differ = false;
	for (size_t i = 0; i < n; i++) {
		const struct seg_bgnbd_obs *o = &obs[i];
		if (!seg__whole(o->x) || !isfinite(o->t_x) || !isfinite(o->T) || o->t_x < 0 ||
		    o->t_x > o->T || (o->x == 0 && o->t_x != 0) || !isfinite(o->weight) ||
		    o->weight < 0)
			return SEG_CLV_BAD_INPUT;
		if (o->weight == 0)
			continue;
		total += o->weight;
		sum_T += o->weight * o->T;
		repeat |= o->x > 0;
		differ |= o->x != obs[0].x || o->t_x != obs[0].t_x || o->T != obs[0].T;
	}
	if (!(total > 0) || !isfinite(total))
		return SEG_CLV_NO_CUSTOMERS;
	if (!repeat)
		return SEG_CLV_NO_REPEAT;
	if (!differ)
		return SEG_CLV_IDENTICAL;

	void *copy;
	struct seg__xgroup *groups;
	struct seg__bg d = {0};
	seg__group_by_x(obs, n, sizeof *obs, &copy, &groups, &d.ngroups);
	d.obs = copy;
	d.groups = groups;
	d.total = total;
	for (size_t k = 0; k < d.ngroups; k++)
		for (size_t i = groups[k].begin; i < groups[k].end; i++)
			groups[k].weight += d.obs[i].weight;
	double mean_T = sum_T / total;
	double theta[4] = {0, log(mean_T > 0 ? mean_T : 1), 0, 0};
	int iters = 0;
	enum seg_clv_fail f = seg__minimise(seg__bg_objective, &d, theta, 4, &iters);
	if (f == SEG_CLV_OK) {
		out->r = exp(theta[0]);
		out->alpha = exp(theta[1]);
		out->a = exp(theta[2]);
		out->b = exp(theta[3]);
		out->log_likelihood = seg__bg_ll(&d, out->r, out->alpha, out->a, out->b, NULL);
		out->iterations = iters;
		if (!isfinite(out->log_likelihood))
			f = SEG_CLV_NUMERIC;
	}
	free(copy);
	free(groups);
	return f;
}

double seg_bgnbd_p_alive(const struct seg_bgnbd *m, double x, double t_x, double T)
{
	if (x <= 0)
		return 1;
	double lr = log(m->a) - log(m->b + x - 1) +
		    (m->r + x) * (log(m->alpha + T) - log(m->alpha + t_x));
	if (lr > 0) {
		double e = exp(-lr);
		return e / (1 + e);
	}
	return 1 / (1 + exp(lr));
}

#define SEG__SERIES_MAX 2000000

/*
 * E[Y(t) | alive at T, x, t_x, T] divided out of P(alive): with z = t / (alpha + T + t),
 * C = a + b + x - 1 and A = a + b - 1 - r, FHL's eq. 10 after Euler's transformation
 * 2F1(r+x, b+x; C; z) = (1-z)^(a-1-r-x) 2F1(A, a-1; C; z) reads
 *   C (1 - (1-z)^(a-1)) / (a - 1) - (1-z)^(a-1) G,
 *   G = sum_{n>=1} (A)_n (a)_(n-1) z^n / ((C+1)_(n-1) n!),
 * where (a - 1) has been divided out of the series, so a = 1 is no singularity, and C + n > 0
 * for n >= 1 since C > -1, so no term has a pole.
 */
static enum seg_clv_fail seg__bg_conditional(const struct seg_bgnbd *m, double t, double x,
					     double T, double *out)
{
	if (t <= 0) {
		*out = 0;
		return SEG_CLV_OK;
	}
	double at = m->alpha + T;
	double z = t / (at + t);
	double L = -log1p(t / at); /* ln(1 - z) */
	double C = m->a + m->b + x - 1, A = m->a + m->b - 1 - m->r;
	double u = (m->a - 1) * L;
	double em1 = u == 0 ? 1 : expm1(u) / u;
	double e1 = -C * L * em1;
	double term = A * z, sum = term;
	double past = fabs(A) + fabs(m->a) + 2; /* beyond this the terms keep one sign and ratio */
	for (long n = 1;; n++) {
		if (n > SEG__SERIES_MAX)
			return SEG_CLV_NUMERIC;
		double ratio = (A + n) * (m->a - 1 + n) * z / ((C + n) * (n + 1));
		double next = term * ratio;
		if (n > past) {
			double rho = fabs(ratio) > z ? fabs(ratio) : z;
			if (rho < 1 && fabs(next) * (1 / (1 - rho)) <= 1e-17 * fabs(sum))
				break;
		}
		if (next == 0)
			break;
		term = next;
		sum += term;
		if (!isfinite(sum))
			return SEG_CLV_NUMERIC;
	}
	double e = e1 - exp(u) * sum;
	if (!isfinite(e))
		return SEG_CLV_NUMERIC;
	if (e < 0) {
		if (e < -1e-9 * (fabs(e1) + 1))
			return SEG_CLV_NUMERIC;
		e = 0;
	}
	*out = e;
	return SEG_CLV_OK;
}

enum seg_clv_fail seg_bgnbd_expected(const struct seg_bgnbd *m, double t, double x, double t_x,
				     double T, double *out)
{
	double c;
	enum seg_clv_fail f = seg__bg_conditional(m, t, x, T, &c);
	if (f != SEG_CLV_OK)
		return f;
	*out = c * seg_bgnbd_p_alive(m, x, t_x, T);
	return SEG_CLV_OK;
}

/* 8-point Gauss-Legendre on [-1, 1] */
static const double seg__gl_x[4] = {0.1834346424956498, 0.5255324099163290, 0.7966664774136267,
				    0.9602898564975363};
static const double seg__gl_w[4] = {0.3626837833783620, 0.3137066458778873, 0.2223810344533745,
				    0.1012285362903763};

enum seg_clv_fail seg_bgnbd_expected_discounted(const struct seg_bgnbd *m, double horizon,
						double delta, double x, double t_x, double T,
						double *out)
{
	if (!(horizon > 0)) {
		*out = 0;
		return SEG_CLV_OK;
	}
	double eh;
	enum seg_clv_fail f = seg__bg_conditional(m, horizon, x, T, &eh);
	if (f != SEG_CLV_OK)
		return f;
	if (delta <= 0) {
		*out = eh * seg_bgnbd_p_alive(m, x, t_x, T);
		return SEG_CLV_OK;
	}
	/*
	 * int_0^H e^(-delta s) dE(s) = e^(-delta H) E(H) + delta int_0^H e^(-delta s) E(s) ds.
	 * E bends on the scale alpha + T, so the panels are [0, H/2^K], ..., [H/4, H/2], [H/2, H]
	 * with H/2^K at most half that scale: on each panel the nearest singularity of E (at
	 * s = -(alpha + T)) is at least a panel's length away, and 8 points are plenty.
	 */
	double scale = m->alpha + T;
	int K = 0;
	while (K < 60 && horizon / ldexp(1, K) > scale / 2)
		K++;
	double integral = 0;
	for (int k = K; k >= 0; k--) {
		double hi = horizon / ldexp(1, k), lo = k == K ? 0 : hi / 2;
		double mid = (lo + hi) / 2, half = (hi - lo) / 2;
		for (int j = 0; j < 4; j++)
			for (int sgn = -1; sgn <= 1; sgn += 2) {
				double s = mid + sgn * half * seg__gl_x[j], es;
				f = seg__bg_conditional(m, s, x, T, &es);
				if (f != SEG_CLV_OK)
					return f;
				integral += half * seg__gl_w[j] * exp(-delta * s) * es;
			}
	}
	double v =
		(exp(-delta * horizon) * eh + delta * integral) * seg_bgnbd_p_alive(m, x, t_x, T);
	if (!isfinite(v) || v < 0)
		return SEG_CLV_NUMERIC;
	*out = v;
	return SEG_CLV_OK;
}

/* --- Gamma-Gamma --- */

struct seg__gg {
	const struct seg_gg_obs *obs; /* sorted by x */
	const struct seg__xgroup *groups;
	size_t ngroups;
	double total;
};

static double seg__gg_ll(const struct seg__gg *d, double p, double q, double v, double grad[3])
{
	double ll = 0, gp = 0, gq = 0, gv = 0;
	double lv = log(v), lg_q = seg__lgamma(q), ps_q = seg_clv_digamma(q);
	for (size_t k = 0; k < d->ngroups; k++) {
		const struct seg__xgroup *g = &d->groups[k];
		double x = g->x, w = g->weight, px = p * x, lx = log(x);
		double slog = 0, sinv = 0; /* sum w ln(v + x m), sum w / (v + x m) */
		for (size_t i = g->begin; i < g->end; i++) {
			const struct seg_gg_obs *o = &d->obs[i];
			double den = v + x * o->m;
			slog += o->weight * log(den);
			sinv += o->weight / den;
		}
		ll += w * (seg__lgamma(px + q) - seg__lgamma(px) - lg_q + q * lv + px * lx) +
		      (px - 1) * g->sum_log_m - (px + q) * slog;
		if (grad) {
			double ps_pxq = seg_clv_digamma(px + q);
			gp += w * x * (ps_pxq - seg_clv_digamma(px) + lx) + x * g->sum_log_m -
			      x * slog;
			gq += w * (ps_pxq - ps_q + lv) - slog;
			gv += w * q / v - (px + q) * sinv;
		}
	}
	if (grad) {
		grad[0] = gp * p;
		grad[1] = gq * q;
		grad[2] = gv * v;
	}
	return ll;
}

static double seg__gg_objective(const double *theta, double *grad, const void *ctx)
{
	const struct seg__gg *d = ctx;
	double ll = seg__gg_ll(d, exp(theta[0]), exp(theta[1]), exp(theta[2]), grad);
	for (int i = 0; i < 3; i++)
		grad[i] = -grad[i] / d->total;
	return -ll / d->total;
}

static void seg__gg_prepare(const struct seg_gg_obs *obs, size_t n, struct seg__gg *d, void **copy,
			    struct seg__xgroup **groups)
{
	seg__group_by_x(obs, n, sizeof *obs, copy, groups, &d->ngroups);
	d->obs = *copy;
	d->groups = *groups;
	for (size_t k = 0; k < d->ngroups; k++)
		for (size_t i = (*groups)[k].begin; i < (*groups)[k].end; i++) {
			(*groups)[k].weight += d->obs[i].weight;
			(*groups)[k].sum_log_m += d->obs[i].weight * log(d->obs[i].m);
		}
}

double seg_gg_loglik(const struct seg_gg *m, const struct seg_gg_obs *obs, size_t n, double grad[3])
{
	void *copy;
	struct seg__xgroup *groups;
	struct seg__gg d = {0};
	double g[3];
	seg__gg_prepare(obs, n, &d, &copy, &groups);
	double ll = seg__gg_ll(&d, m->p, m->q, m->gamma, g);
	if (grad)
		memcpy(grad, g, sizeof g);
	free(copy);
	free(groups);
	return ll;
}

enum seg_clv_fail seg_gg_fit(const struct seg_gg_obs *obs, size_t n, struct seg_gg *out)
{
	double total = 0, sum_m = 0;
	bool differ = false;
	for (size_t i = 0; i < n; i++) {
		const struct seg_gg_obs *o = &obs[i];
		if (!seg__whole(o->x) || o->x < 1 || !isfinite(o->m) || !(o->m > 0) ||
		    !isfinite(o->weight) || o->weight < 0)
			return SEG_CLV_BAD_INPUT;
		if (o->weight == 0)
			continue;
		total += o->weight;
		sum_m += o->weight * o->m;
		differ |= o->x != obs[0].x || o->m != obs[0].m;
	}
	if (!(total > 0) || !isfinite(total))
		return SEG_CLV_NO_REPEAT;
	if (!differ)
		return SEG_CLV_IDENTICAL;
	void *copy;
	struct seg__xgroup *groups;
	struct seg__gg d = {0};
	seg__gg_prepare(obs, n, &d, &copy, &groups);
	d.total = total;
	double theta[3] = {0, log(2), log(sum_m / total)};
	int iters = 0;
	enum seg_clv_fail f = seg__minimise(seg__gg_objective, &d, theta, 3, &iters);
	if (f == SEG_CLV_OK) {
		out->p = exp(theta[0]);
		out->q = exp(theta[1]);
		out->gamma = exp(theta[2]);
		out->log_likelihood = seg__gg_ll(&d, out->p, out->q, out->gamma, NULL);
		out->iterations = iters;
		if (!isfinite(out->log_likelihood))
			f = SEG_CLV_NUMERIC;
		else if (!(out->q > 1))
			f = SEG_CLV_UNBOUNDED;
	}
	free(copy);
	free(groups);
	return f;
}

double seg_gg_expected_value(const struct seg_gg *m, double x, double mean)
{
	return (m->gamma * m->p + m->p * x * mean) / (m->p * x + m->q - 1);
}

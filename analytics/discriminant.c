/*
 * Linear discriminant analysis (analytics/discriminant.h; definitions in SPEC §6.2 and
 * analytics/README.md, "Discriminant analysis"). Three passes over the training rows: the
 * group means, the within-groups scatter W (centred on the group means, so no cancellation),
 * and the leave-one-out classification by Sherman-Morrison updates of W^-1. Everything else
 * works on p x p and g x p matrices: B from the means, B v = lambda W v through Cholesky of W
 * (linalg.c), the coefficients, the structure matrix, the classifier.
 */
#include "discriminant.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "text.h"
#include "linalg.h"
#include "stats.h"

#define SEG__TICK_ROWS 65536

static bool seg__complete(const double *row, size_t p)
{
	for (size_t j = 0; j < p; j++) {
		if (isnan(row[j]))
			return false;
	}
	return true;
}

/* The row takes part in the fit: assigned to a group and without a missing feature. */
static bool seg__training(const double *x, const int *group, size_t r, size_t p)
{
	return group[r] >= 0 && seg__complete(x + r * p, p);
}

void seg_discriminant_release(struct seg_discriminant *d)
{
	if (!d)
		return;
	free(d->sizes);
	free(d->priors);
	free(d->grand_mean);
	free(d->means);
	free(d->eigenvalues);
	free(d->explained);
	free(d->canonical_correlation);
	free(d->wilks_lambda);
	free(d->chi2);
	free(d->df);
	free(d->p_value);
	free(d->raw);
	free(d->standardized);
	free(d->structure);
	free(d->centroids);
	free(d->feature_wilks);
	free(d->feature_f);
	free(d->feature_p);
	free(d->classification);
	free(d->coef);
	free(d->intercept);
	memset(d, 0, sizeof *d);
}

static double *seg__dalloc(size_t count)
{
	return seg_calloc(count ? count : 1, sizeof(double));
}

/* tick at the end of every block of rows; false when the caller cancels. */
static bool seg__tick(const struct seg_discriminant_params *params, size_t r, size_t n, double pass)
{
	if (r % SEG__TICK_ROWS != SEG__TICK_ROWS - 1 || !params->tick)
		return true;
	return params->tick(params->tick_ctx, (pass + (double)r / (double)n) / 3);
}

/*
 * The leave-one-out pass: each training row classified by the model fitted without it. The
 * pooled covariance without row i (group k, d = x_i - m_k, c = n_k / (n_k - 1)) is
 * W' / (n - 1 - g) with W' = W - c d d^T, whose inverse is, by Sherman-Morrison,
 * W^-1 + c u u^T / (1 - c d.u), u = W^-1 d; the group mean moves to m_k - d / (n_k - 1), so
 * x_i - m_k' = c d. A group of one customer disappears with it (W is unchanged, g drops).
 */
static bool seg__loo(const double *x, const int *group, size_t n,
		     const struct seg_discriminant_params *params, const double *winv,
		     struct seg_discriminant *d)
{
	size_t p = d->p, g = d->g;
	double *xc = seg__dalloc(p), *y = seg__dalloc(p), *a = seg__dalloc(g * p),
	       *mc = seg__dalloc(g * p), *score = seg__dalloc(g);
	bool ok = false;

	for (size_t k = 0; k < g; k++) {
		for (size_t i = 0; i < p; i++)
			mc[k * p + i] = d->means[k * p + i] - d->grand_mean[i];
		for (size_t i = 0; i < p; i++) {
			double s = 0;
			for (size_t r = 0; r < p; r++)
				s += winv[i * p + r] * mc[k * p + r];
			a[k * p + i] = s;
		}
	}
	for (size_t r = 0; r < n; r++) {
		if (!seg__tick(params, r, n, 2))
			goto out;
		if (!seg__training(x, group, r, p))
			continue;
		size_t k = (size_t)group[r], nk = d->sizes[k];
		for (size_t i = 0; i < p; i++)
			xc[i] = x[r * p + i] - d->grand_mean[i];
		for (size_t i = 0; i < p; i++) {
			double s = 0;
			for (size_t t = 0; t < p; t++)
				s += winv[i * p + t] * xc[t];
			y[i] = s;
		}
		size_t best = g;
		if (nk == 1) {
			double dof = (double)(d->n - g); /* n - 1 - (g - 1) */
			for (size_t j = 0; j < g; j++) {
				if (j == k)
					continue;
				double q = 0;
				for (size_t i = 0; i < p; i++)
					q += (xc[i] - mc[j * p + i]) * (y[i] - a[j * p + i]);
				double prior = params->priors == SEG_DISCRIMINANT_EQUAL
						       ? 1.0 / (double)(g - 1)
						       : (double)d->sizes[j] / (double)(d->n - 1);
				score[j] = log(prior) - 0.5 * dof * q;
				if (best == g || score[j] > score[best])
					best = j;
			}
		} else {
			double c = (double)nk / (double)(nk - 1), h = 0;
			for (size_t i = 0; i < p; i++)
				h += (xc[i] - mc[k * p + i]) * (y[i] - a[k * p + i]);
			double den = 1 - c * h;
			if (!(den > 1e-10) || !(d->n - 1 > g + p - 1)) {
				d->loo_unclassified++;
				continue;
			}
			double dof = (double)(d->n - 1 - g);
			for (size_t j = 0; j < g; j++) {
				double dist;
				if (j == k) {
					dist = c * c * h / den;
				} else {
					double q = 0, ue = 0;
					for (size_t i = 0; i < p; i++) {
						double e = xc[i] - mc[j * p + i];
						q += e * (y[i] - a[j * p + i]);
						ue += e * (y[i] - a[k * p + i]);
					}
					dist = q + c * ue * ue / den;
				}
				double prior;
				if (params->priors == SEG_DISCRIMINANT_EQUAL)
					prior = 1.0 / (double)g;
				else
					prior = (double)(j == k ? nk - 1 : d->sizes[j]) /
						(double)(d->n - 1);
				score[j] = log(prior) - 0.5 * dof * dist;
				if (best == g || score[j] > score[best])
					best = j;
			}
		}
		d->classification[k * g + best]++;
	}
	ok = true;
out:
	free(xc);
	free(y);
	free(a);
	free(mc);
	free(score);
	return ok;
}

enum seg_discriminant_fail seg_discriminant_fit(const double *x, const int *group, size_t n,
						size_t p, size_t g,
						const struct seg_discriminant_params *params,
						struct seg_discriminant *out, char *msg,
						size_t msglen)
{
	enum seg_discriminant_fail rc = SEG_DISCRIMINANT_BAD_PARAMS;
	struct seg_discriminant d = {0};
	double *w = NULL, *b = NULL, *l = NULL, *winv = NULL, *vals = NULL, *vecs = NULL,
	       *tmp = NULL;

	memset(out, 0, sizeof *out);
	seg_text_setf(msg, msglen, "ok");
	if (g < 2 || p < 1) {
		seg_text_setf(msg, msglen,
			      "discriminant analysis needs at least 2 groups and 1 feature");
		goto out;
	}
	if (params->priors != SEG_DISCRIMINANT_PROPORTIONAL &&
	    params->priors != SEG_DISCRIMINANT_EQUAL) {
		seg_text_setf(msg, msglen, "unknown priors");
		goto out;
	}
	for (size_t r = 0; r < n; r++) {
		if (group[r] < -1 || (group[r] >= 0 && (size_t)group[r] >= g)) {
			seg_text_setf(msg, msglen, "row %zu has group %d, not -1 .. %zu", r,
				      group[r], g - 1);
			goto out;
		}
	}
	d.p = p;
	d.g = g;
	d.q = g - 1 < p ? g - 1 : p;
	d.sizes = seg_calloc(g, sizeof *d.sizes);
	d.means = seg__dalloc(g * p);
	d.grand_mean = seg__dalloc(p);
	/* pass 1: group means */
	for (size_t r = 0; r < n; r++) {
		if (!seg__tick(params, r, n, 0)) {
			rc = SEG_DISCRIMINANT_CANCELLED;
			goto cancelled;
		}
		if (!seg__training(x, group, r, p))
			continue;
		size_t k = (size_t)group[r];
		d.sizes[k]++;
		d.n++;
		for (size_t i = 0; i < p; i++)
			d.means[k * p + i] += x[r * p + i];
	}
	for (size_t k = 0; k < g; k++) {
		if (d.sizes[k] == 0) {
			rc = SEG_DISCRIMINANT_EMPTY_GROUP;
			seg_text_setf(msg, msglen, "group %zu has no customer with every feature",
				      k);
			goto out;
		}
	}
	if (d.n < g + p) {
		rc = SEG_DISCRIMINANT_TOO_FEW;
		seg_text_setf(
			msg, msglen,
			"discriminant analysis needs at least groups + features customers with "
			"every feature: %zu for %zu groups and %zu features",
			d.n, g, p);
		goto out;
	}
	for (size_t k = 0; k < g; k++) {
		for (size_t i = 0; i < p; i++) {
			d.grand_mean[i] += d.means[k * p + i];
			d.means[k * p + i] /= (double)d.sizes[k];
		}
	}
	for (size_t i = 0; i < p; i++) {
		d.grand_mean[i] /= (double)d.n;
		if (!isfinite(d.grand_mean[i])) {
			rc = SEG_DISCRIMINANT_NUMERIC;
			seg_text_setf(msg, msglen, "feature %zu holds a value too large to analyse",
				      i + 1);
			goto out;
		}
	}
	/* pass 2: W, upper triangle, centred on the group means */
	w = seg__dalloc(p * p);
	tmp = seg__dalloc(p);
	for (size_t r = 0; r < n; r++) {
		if (!seg__tick(params, r, n, 1)) {
			rc = SEG_DISCRIMINANT_CANCELLED;
			goto cancelled;
		}
		if (!seg__training(x, group, r, p))
			continue;
		const double *m = d.means + (size_t)group[r] * p;
		for (size_t i = 0; i < p; i++)
			tmp[i] = x[r * p + i] - m[i];
		for (size_t i = 0; i < p; i++) {
			double di = tmp[i];
			for (size_t j = i; j < p; j++)
				w[i * p + j] += di * tmp[j];
		}
	}
	b = seg__dalloc(p * p);
	for (size_t i = 0; i < p; i++) {
		for (size_t j = i; j < p; j++) {
			double s = 0;
			for (size_t k = 0; k < g; k++)
				s += (double)d.sizes[k] * (d.means[k * p + i] - d.grand_mean[i]) *
				     (d.means[k * p + j] - d.grand_mean[j]);
			b[i * p + j] = b[j * p + i] = s;
			w[j * p + i] = w[i * p + j];
		}
	}
	l = seg__dalloc(p * p);
	enum seg_la_fail la = seg_la_cholesky(p, w, l);
	if (la == SEG_LA_BAD_INPUT) {
		rc = SEG_DISCRIMINANT_NUMERIC;
		seg_text_setf(msg, msglen, "a feature holds a value too large to analyse");
		goto out;
	}
	if (la != SEG_LA_OK) {
		rc = SEG_DISCRIMINANT_SINGULAR;
		seg_text_setf(
			msg, msglen,
			"the within-groups covariance is singular: a feature is constant within "
			"every group or a linear combination of the others; leave it out");
		goto out;
	}
	winv = seg__dalloc(p * p);
	seg_la_cholesky_inverse(p, l, winv);
	/* the discriminant functions: B v = lambda W v, v^T W v = 1 */
	vals = seg__dalloc(p);
	vecs = seg__dalloc(p * p);
	if (seg_la_eigen_gen(p, b, w, vals, vecs) != SEG_LA_OK) {
		rc = SEG_DISCRIMINANT_NUMERIC;
		seg_text_setf(msg, msglen, "the eigenproblem of the discriminant functions failed");
		goto out;
	}
	size_t q = d.q;
	double dfw = (double)(d.n - g), sum = 0;
	d.eigenvalues = seg__dalloc(q);
	d.explained = seg__dalloc(q);
	d.canonical_correlation = seg__dalloc(q);
	d.wilks_lambda = seg__dalloc(q);
	d.chi2 = seg__dalloc(q);
	d.df = seg__dalloc(q);
	d.p_value = seg__dalloc(q);
	for (size_t j = 0; j < q; j++) {
		d.eigenvalues[j] = vals[j] > 0 ? vals[j] : 0;
		sum += d.eigenvalues[j];
	}
	double bart = (double)d.n - 1 - (double)(p + g) / 2;
	for (size_t j = q; j-- > 0;) {
		double lam = d.eigenvalues[j];
		d.explained[j] = sum > 0 ? lam / sum : 0;
		d.canonical_correlation[j] = sqrt(lam / (1 + lam));
		d.wilks_lambda[j] = (j + 1 < q ? d.wilks_lambda[j + 1] : 1) / (1 + lam);
	}
	for (size_t j = 0; j < q; j++) {
		d.chi2[j] = -bart * log(d.wilks_lambda[j]);
		d.df[j] = (double)(p - j) * (double)(g - j - 1);
		d.p_value[j] = seg_stats_chi2_sf(d.chi2[j], d.df[j]);
	}
	/* coefficients: raw (within-groups variance of a score 1), standardised, structure */
	d.raw = seg__dalloc(p * q);
	d.standardized = seg__dalloc(p * q);
	d.structure = seg__dalloc(p * q);
	for (size_t j = 0; j < q; j++) {
		double s = 0;
		for (size_t i = 0; i < p; i++) {
			d.raw[i * q + j] = vecs[i * p + j] * sqrt(dfw);
			s += d.raw[i * q + j] * sqrt(w[i * p + i] / dfw);
		}
		double sign = s < 0 ? -1 : 1; /* standardised coefficients sum to >= 0 */
		for (size_t i = 0; i < p; i++) {
			d.raw[i * q + j] *= sign;
			d.standardized[i * q + j] = d.raw[i * q + j] * sqrt(w[i * p + i] / dfw);
		}
	}
	for (size_t i = 0; i < p; i++) {
		for (size_t j = 0; j < q; j++) {
			double s = 0;
			for (size_t k = 0; k < p; k++)
				s += w[i * p + k] / sqrt(w[i * p + i] * w[k * p + k]) *
				     d.standardized[k * q + j];
			d.structure[i * q + j] = s;
		}
	}
	d.centroids = seg__dalloc(g * q);
	for (size_t k = 0; k < g; k++) {
		for (size_t j = 0; j < q; j++) {
			double s = 0;
			for (size_t i = 0; i < p; i++)
				s += (d.means[k * p + i] - d.grand_mean[i]) * d.raw[i * q + j];
			d.centroids[k * q + j] = s;
		}
	}
	/* per feature: univariate Wilks' lambda and F */
	d.feature_wilks = seg__dalloc(p);
	d.feature_f = seg__dalloc(p);
	d.feature_p = seg__dalloc(p);
	for (size_t i = 0; i < p; i++) {
		double wi = w[i * p + i], bi = b[i * p + i];
		d.feature_wilks[i] = wi / (wi + bi);
		d.feature_f[i] = (bi / (double)(g - 1)) / (wi / dfw);
		d.feature_p[i] = seg_stats_f_sf(d.feature_f[i], (double)(g - 1), dfw);
	}
	/* priors, chance criteria, the classifier */
	d.priors = seg__dalloc(g);
	for (size_t k = 0; k < g; k++) {
		double share = (double)d.sizes[k] / (double)d.n;
		d.priors[k] = params->priors == SEG_DISCRIMINANT_EQUAL ? 1.0 / (double)g : share;
		d.proportional_chance += share * share;
		if (share > d.maximum_chance)
			d.maximum_chance = share;
	}
	d.coef = seg__dalloc(g * p);
	d.intercept = seg__dalloc(g);
	for (size_t k = 0; k < g; k++) {
		double s2 = 0;
		for (size_t i = 0; i < p; i++) {
			double s = 0;
			for (size_t r = 0; r < p; r++)
				s += winv[i * p + r] * (d.means[k * p + r] - d.grand_mean[r]);
			d.coef[k * p + i] = s * dfw;
			s2 += (d.means[k * p + i] - d.grand_mean[i]) * d.coef[k * p + i];
		}
		d.intercept[k] = -0.5 * s2 + log(d.priors[k]);
	}
	/* pass 3: leave-one-out */
	d.classification = seg_calloc(g * g, sizeof *d.classification);
	if (!seg__loo(x, group, n, params, winv, &d)) {
		rc = SEG_DISCRIMINANT_CANCELLED;
		goto cancelled;
	}
	size_t hits = 0, classified = 0;
	for (size_t k = 0; k < g; k++) {
		for (size_t j = 0; j < g; j++)
			classified += d.classification[k * g + j];
		hits += d.classification[k * g + k];
	}
	d.hit_rate = classified ? (double)hits / (double)classified : 0;
	if (params->tick && !params->tick(params->tick_ctx, 1)) {
		rc = SEG_DISCRIMINANT_CANCELLED;
		goto cancelled;
	}
	*out = d;
	memset(&d, 0, sizeof d);
	rc = SEG_DISCRIMINANT_OK;
	goto out;
cancelled:
	seg_text_setf(msg, msglen, "the discriminant analysis was cancelled");
out:
	seg_discriminant_release(&d);
	free(w);
	free(b);
	free(l);
	free(winv);
	free(vals);
	free(vecs);
	free(tmp);
	return rc;
}

void seg_discriminant_classify(const struct seg_discriminant *d, const double *x, size_t n,
			       int *group, double *posterior, double *scores)
{
	size_t p = d->p, g = d->g, q = d->q;
	double *xc = seg__dalloc(p), *delta = seg__dalloc(g);
	for (size_t r = 0; r < n; r++) {
		const double *row = x + r * p;
		if (!seg__complete(row, p)) {
			group[r] = -1;
			for (size_t k = 0; posterior && k < g; k++)
				posterior[r * g + k] = NAN;
			for (size_t j = 0; scores && j < q; j++)
				scores[r * q + j] = NAN;
			continue;
		}
		for (size_t i = 0; i < p; i++)
			xc[i] = row[i] - d->grand_mean[i];
		size_t best = 0;
		for (size_t k = 0; k < g; k++) {
			double s = d->intercept[k];
			for (size_t i = 0; i < p; i++)
				s += xc[i] * d->coef[k * p + i];
			delta[k] = s;
			if (s > delta[best])
				best = k;
		}
		group[r] = (int)best;
		if (posterior) {
			double total = 0;
			for (size_t k = 0; k < g; k++) {
				posterior[r * g + k] = exp(delta[k] - delta[best]);
				total += posterior[r * g + k];
			}
			for (size_t k = 0; k < g; k++)
				posterior[r * g + k] /= total;
		}
		for (size_t j = 0; scores && j < q; j++) {
			double s = 0;
			for (size_t i = 0; i < p; i++)
				s += xc[i] * d->raw[i * q + j];
			scores[r * q + j] = s;
		}
	}
	free(xc);
	free(delta);
}

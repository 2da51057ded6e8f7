/*
 * Factor analysis by principal components of the correlation matrix (analytics/factor.h; the
 * definitions in SPEC §6.2 and analytics/README.md, "Factor analysis"). Two passes over the
 * complete rows (means, then centred cross-products: no loss of digits to cancellation when a
 * feature's mean is large beside its spread), then everything else on p x p matrices:
 * Cholesky of R for ln det R (Bartlett) and R^-1 (KMO, the score weights), Jacobi for the
 * eigenvalues, R's varimax on the retained loadings.
 */
#include "factor.h"

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

void seg_factor_release(struct seg_factor *f)
{
	if (!f)
		return;
	free(f->means);
	free(f->sds);
	free(f->correlation);
	free(f->eigenvalues);
	free(f->loadings);
	free(f->explained);
	free(f->cumulative);
	free(f->communalities);
	free(f->score_weights);
	free(f->msa);
	if (f->labels) {
		for (size_t j = 0; j < f->k; j++)
			free(f->labels[j]);
	}
	free(f->labels);
	memset(f, 0, sizeof *f);
}

/*
 * The polar factor U V^T of the k x k matrix b (its SVD U S V^T) into tt, through the
 * eigen-decomposition of b^T b = V S^2 V^T: U V^T = b V S^-1 V^T. *dsum receives the sum of
 * the singular values. False when b is (numerically) singular: its polar factor is not unique.
 */
static bool seg__polar(size_t k, const double *b, double *tt, double *dsum)
{
	bool ok = false;
	double *m = seg_malloc(k * k * sizeof *m), *w = seg_malloc(k * sizeof *w),
	       *v = seg_malloc(k * k * sizeof *v), *t = seg_malloc(k * k * sizeof *t);
	for (size_t i = 0; i < k; i++) {
		for (size_t j = 0; j < k; j++) {
			double s = 0;
			for (size_t r = 0; r < k; r++)
				s += b[r * k + i] * b[r * k + j];
			m[i * k + j] = s;
		}
	}
	if (seg_la_eigen_sym(k, m, w, v) != SEG_LA_OK || !(w[k - 1] > 1e-24 * w[0]))
		goto out;
	*dsum = 0;
	for (size_t j = 0; j < k; j++) {
		double s = sqrt(w[j]);
		*dsum += s;
		/* t = V S^-1 */
		for (size_t i = 0; i < k; i++)
			t[i * k + j] = v[i * k + j] / s;
	}
	/* m = t V^T = V S^-1 V^T; tt = b m */
	for (size_t i = 0; i < k; i++) {
		for (size_t j = 0; j < k; j++) {
			double s = 0;
			for (size_t r = 0; r < k; r++)
				s += t[i * k + r] * v[j * k + r];
			m[i * k + j] = s;
		}
	}
	for (size_t i = 0; i < k; i++) {
		for (size_t j = 0; j < k; j++) {
			double s = 0;
			for (size_t r = 0; r < k; r++)
				s += b[i * k + r] * m[r * k + j];
			tt[i * k + j] = s;
		}
	}
	ok = true;
out:
	free(m);
	free(w);
	free(v);
	free(t);
	return ok;
}

/* z = x tt for the p x k x and the k x k tt. */
static void seg__mul(size_t p, size_t k, const double *x, const double *tt, double *z)
{
	for (size_t i = 0; i < p; i++) {
		for (size_t j = 0; j < k; j++) {
			double s = 0;
			for (size_t r = 0; r < k; r++)
				s += x[i * k + r] * tt[r * k + j];
			z[i * k + j] = s;
		}
	}
}

/*
 * R's stats::varimax(x, normalize = TRUE, eps = 1e-5) on the p x k loadings, in place;
 * returns the number of iterations.
 */
static int seg__varimax(size_t p, size_t k, double *load)
{
	double *x = seg_malloc(p * k * sizeof *x), *z = seg_malloc(p * k * sizeof *z);
	double *sc = seg_malloc(p * sizeof *sc), *tt = seg_calloc(k * k, sizeof *tt);
	double *b = seg_malloc(k * k * sizeof *b), *col = seg_malloc(k * sizeof *col);
	double *next = seg_malloc(k * k * sizeof *next);
	int it = 0;

	for (size_t i = 0; i < p; i++) {
		double s = 0;
		for (size_t j = 0; j < k; j++)
			s += load[i * k + j] * load[i * k + j];
		sc[i] = s > 0 ? sqrt(s) : 1; /* a row of zeros stays zeros (R would divide by 0) */
		for (size_t j = 0; j < k; j++)
			x[i * k + j] = load[i * k + j] / sc[i];
	}
	for (size_t j = 0; j < k; j++)
		tt[j * k + j] = 1;
	double d = 0;
	for (it = 1; it <= 1000; it++) {
		seg__mul(p, k, x, tt, z);
		for (size_t j = 0; j < k; j++) {
			double s = 0;
			for (size_t i = 0; i < p; i++)
				s += z[i * k + j] * z[i * k + j];
			col[j] = s / (double)p;
		}
		/* B = x^T (z^3 - z diag(col)) */
		for (size_t a = 0; a < k; a++) {
			for (size_t c = 0; c < k; c++) {
				double s = 0;
				for (size_t i = 0; i < p; i++) {
					double zz = z[i * k + c];
					s += x[i * k + a] * (zz * zz * zz - zz * col[c]);
				}
				b[a * k + c] = s;
			}
		}
		double dnew;
		if (!seg__polar(k, b, next, &dnew))
			break; /* B singular: no unique rotation to move to; keep the last */
		memcpy(tt, next, k * k * sizeof *tt);
		double dpast = d;
		d = dnew;
		if (d < dpast * (1 + 1e-5))
			break;
	}
	if (it > 1000)
		it = 1000;
	seg__mul(p, k, x, tt, z);
	for (size_t i = 0; i < p; i++) {
		for (size_t j = 0; j < k; j++)
			load[i * k + j] = z[i * k + j] * sc[i];
	}
	free(x);
	free(z);
	free(sc);
	free(tt);
	free(b);
	free(col);
	free(next);
	return it;
}

/* Appends s to the growing label *buf (length *len). */
static void seg__append(char **buf, size_t *len, const char *s)
{
	size_t l = strlen(s);
	*buf = seg_realloc(*buf, *len + l + 1);
	memcpy(*buf + *len, s, l + 1);
	*len += l;
}

/*
 * Factor j's label: the features whose largest |loading| is on j and at least 0.4, by
 * |loading| descending, at most three; without one, the feature of j's largest |loading|. A
 * negative loading is written "-name". |loadings| within 1e-9 of each other count as equal, the
 * earlier feature first, so that a tie to rounding does not decide the order.
 */
static char *seg__label(const struct seg_factor *f, size_t j, const char *const *names)
{
	size_t p = f->p, k = f->k, picked[3], npicked = 0;
	char *buf = NULL, tmp[32];
	size_t len = 0;
	for (size_t round = 0; round < 3; round++) {
		size_t best = p;
		for (size_t i = 0; i < p; i++) {
			double a = fabs(f->loadings[i * k + j]);
			bool primary = a >= 0.4, seen = false;
			for (size_t r = 0; r < k && primary; r++) {
				if (fabs(f->loadings[i * k + r]) > a)
					primary = false;
			}
			for (size_t q = 0; q < npicked; q++)
				seen = seen || picked[q] == i;
			if (primary && !seen &&
			    (best == p || a > fabs(f->loadings[best * k + j]) + 1e-9))
				best = i;
		}
		if (best == p)
			break;
		picked[npicked++] = best;
	}
	if (npicked == 0) {
		size_t best = 0;
		for (size_t i = 1; i < p; i++) {
			if (fabs(f->loadings[i * k + j]) > fabs(f->loadings[best * k + j]) + 1e-9)
				best = i;
		}
		picked[npicked++] = best;
	}
	seg__append(&buf, &len, "");
	for (size_t q = 0; q < npicked; q++) {
		size_t i = picked[q];
		if (q)
			seg__append(&buf, &len, ", ");
		if (f->loadings[i * k + j] < 0)
			seg__append(&buf, &len, "-");
		if (names) {
			seg__append(&buf, &len, names[i]);
		} else {
			snprintf(tmp, sizeof tmp, "x%zu", i + 1);
			seg__append(&buf, &len, tmp);
		}
	}
	return buf;
}

enum seg_factor_fail seg_factor_fit(const double *x, size_t n, size_t p,
				    const struct seg_factor_params *params, struct seg_factor *out,
				    char *msg, size_t msglen)
{
	enum seg_factor_fail rc = SEG_FACTOR_BAD_PARAMS;
	struct seg_factor f = {0};
	double *cross = NULL, *l = NULL, *rinv = NULL, *vec = NULL, *tmp = NULL;
	size_t *order = NULL;

	memset(out, 0, sizeof *out);
	seg_text_setf(msg, msglen, "ok");
	if (p < 2) {
		seg_text_setf(msg, msglen, "factor analysis needs at least 2 features");
		goto out;
	}
	if (params->n_factors > p) {
		seg_text_setf(msg, msglen,
			      "n_factors (%zu) is more than the number of features (%zu)",
			      params->n_factors, p);
		goto out;
	}
	if (params->rotation != SEG_FACTOR_VARIMAX && params->rotation != SEG_FACTOR_NO_ROTATION) {
		seg_text_setf(msg, msglen, "unknown rotation");
		goto out;
	}
	f.p = p;
	f.means = seg_calloc(p, sizeof *f.means);
	f.sds = seg_calloc(p, sizeof *f.sds);
	/* pass 1: the means of the complete rows */
	for (size_t r = 0; r < n; r++) {
		const double *row = x + r * p;
		if (r % SEG__TICK_ROWS == SEG__TICK_ROWS - 1 && params->tick &&
		    !params->tick(params->tick_ctx, 0.5 * (double)r / (double)n)) {
			rc = SEG_FACTOR_CANCELLED;
			seg_text_setf(msg, msglen, "the factor analysis was cancelled");
			goto out;
		}
		if (!seg__complete(row, p))
			continue;
		f.n++;
		for (size_t j = 0; j < p; j++)
			f.means[j] += row[j];
	}
	if (f.n <= p) {
		rc = SEG_FACTOR_TOO_FEW;
		seg_text_setf(
			msg, msglen,
			"factor analysis needs more customers with every feature than features: "
			"%zu customers for %zu features",
			f.n, p);
		goto out;
	}
	for (size_t j = 0; j < p; j++) {
		f.means[j] /= (double)f.n;
		if (!isfinite(f.means[j])) {
			rc = SEG_FACTOR_NUMERIC;
			seg_text_setf(msg, msglen, "feature %zu holds a value too large to analyse",
				      j + 1);
			goto out;
		}
	}
	/* pass 2: centred cross-products, upper triangle */
	cross = seg_calloc(p * p, sizeof *cross);
	tmp = seg_malloc(p * sizeof *tmp);
	for (size_t r = 0; r < n; r++) {
		const double *row = x + r * p;
		if (r % SEG__TICK_ROWS == SEG__TICK_ROWS - 1 && params->tick &&
		    !params->tick(params->tick_ctx, 0.5 + 0.5 * (double)r / (double)n)) {
			rc = SEG_FACTOR_CANCELLED;
			seg_text_setf(msg, msglen, "the factor analysis was cancelled");
			goto out;
		}
		if (!seg__complete(row, p))
			continue;
		for (size_t j = 0; j < p; j++)
			tmp[j] = row[j] - f.means[j];
		for (size_t i = 0; i < p; i++) {
			double di = tmp[i];
			double *c = cross + i * p;
			for (size_t j = i; j < p; j++)
				c[j] += di * tmp[j];
		}
	}
	for (size_t j = 0; j < p; j++) {
		double var = cross[j * p + j] / (double)(f.n - 1);
		double scale = 1e-13 * fabs(f.means[j]);
		if (!isfinite(var)) {
			rc = SEG_FACTOR_NUMERIC;
			seg_text_setf(msg, msglen,
				      "feature \"%s\" holds a value too large to analyse",
				      params->names ? params->names[j] : "?");
			goto out;
		}
		if (!(var > scale * scale) || var == 0) {
			rc = SEG_FACTOR_CONSTANT;
			if (params->names)
				seg_text_setf(
					msg, msglen,
					"feature \"%s\" has the same value for every customer: it "
					"has no correlation",
					params->names[j]);
			else
				seg_text_setf(
					msg, msglen,
					"feature %zu has the same value for every customer: it "
					"has no correlation",
					j + 1);
			goto out;
		}
		f.sds[j] = sqrt(var);
	}
	f.correlation = seg_malloc(p * p * sizeof *f.correlation);
	for (size_t i = 0; i < p; i++) {
		f.correlation[i * p + i] = 1;
		for (size_t j = i + 1; j < p; j++) {
			double c = cross[i * p + j] / sqrt(cross[i * p + i] * cross[j * p + j]);
			c = c > 1 ? 1 : c < -1 ? -1 : c;
			f.correlation[i * p + j] = f.correlation[j * p + i] = c;
		}
	}
	/* R must be invertible: Bartlett's ln det R, KMO's partial correlations, the scores */
	l = seg_malloc(p * p * sizeof *l);
	if (seg_la_cholesky(p, f.correlation, l) != SEG_LA_OK) {
		rc = SEG_FACTOR_SINGULAR;
		seg_text_setf(
			msg, msglen,
			"a feature is a linear combination of the others (the correlation matrix "
			"is singular): leave one of them out");
		goto out;
	}
	rinv = seg_malloc(p * p * sizeof *rinv);
	seg_la_cholesky_inverse(p, l, rinv);
	double logdet = seg_la_cholesky_logdet(p, l);
	f.bartlett_df = (double)p * (double)(p - 1) / 2;
	f.bartlett_chi2 = -((double)f.n - 1 - (2.0 * (double)p + 5) / 6) * logdet;
	f.bartlett_p = seg_stats_chi2_sf(f.bartlett_chi2, f.bartlett_df);
	/* KMO: squared correlations against squared partial correlations, off the diagonal */
	f.msa = seg_malloc(p * sizeof *f.msa);
	double r2all = 0, q2all = 0;
	for (size_t i = 0; i < p; i++) {
		double r2 = 0, q2 = 0;
		for (size_t j = 0; j < p; j++) {
			if (i == j)
				continue;
			double r = f.correlation[i * p + j];
			double q = -rinv[i * p + j] / sqrt(rinv[i * p + i] * rinv[j * p + j]);
			r2 += r * r;
			q2 += q * q;
		}
		f.msa[i] = r2 + q2 > 0 ? r2 / (r2 + q2) : 0;
		r2all += r2;
		q2all += q2;
	}
	f.kmo = r2all + q2all > 0 ? r2all / (r2all + q2all) : 0;
	/* eigenvalues and the retained loadings */
	f.eigenvalues = seg_malloc(p * sizeof *f.eigenvalues);
	vec = seg_malloc(p * p * sizeof *vec);
	if (seg_la_eigen_sym(p, f.correlation, f.eigenvalues, vec) != SEG_LA_OK) {
		rc = SEG_FACTOR_NUMERIC;
		seg_text_setf(msg, msglen,
			      "the eigen-decomposition of the correlation matrix failed");
		goto out;
	}
	size_t k = params->n_factors;
	if (k == 0) {
		while (k < p && f.eigenvalues[k] > 1)
			k++;
		if (k == 0)
			k = 1;
	}
	f.k = k;
	f.loadings = seg_malloc(p * k * sizeof *f.loadings);
	for (size_t i = 0; i < p; i++) {
		for (size_t j = 0; j < k; j++) {
			double ev = f.eigenvalues[j] > 0 ? f.eigenvalues[j] : 0;
			f.loadings[i * k + j] = vec[i * p + j] * sqrt(ev);
		}
	}
	if (params->rotation == SEG_FACTOR_VARIMAX && k >= 2)
		f.rotation_iterations = seg__varimax(p, k, f.loadings);
	/* signs: each factor's loadings sum to a positive number; order: variance, descending */
	f.explained = seg_malloc(k * sizeof *f.explained);
	for (size_t j = 0; j < k; j++) {
		double sum = 0, ss = 0;
		for (size_t i = 0; i < p; i++) {
			sum += f.loadings[i * k + j];
			ss += f.loadings[i * k + j] * f.loadings[i * k + j];
		}
		if (sum < 0) {
			for (size_t i = 0; i < p; i++)
				f.loadings[i * k + j] = -f.loadings[i * k + j];
		}
		f.explained[j] = ss / (double)p;
	}
	order = seg_malloc(k * sizeof *order);
	for (size_t j = 0; j < k; j++) {
		size_t q = j;
		while (q > 0 && f.explained[order[q - 1]] < f.explained[j]) {
			order[q] = order[q - 1];
			q--;
		}
		order[q] = j;
	}
	double *sorted = seg_malloc(p * k * sizeof *sorted);
	for (size_t i = 0; i < p; i++) {
		for (size_t j = 0; j < k; j++)
			sorted[i * k + j] = f.loadings[i * k + order[j]];
	}
	free(f.loadings);
	f.loadings = sorted;
	f.cumulative = seg_malloc(k * sizeof *f.cumulative);
	for (size_t j = 0; j < k; j++) {
		double ss = 0;
		for (size_t i = 0; i < p; i++)
			ss += f.loadings[i * k + j] * f.loadings[i * k + j];
		f.explained[j] = ss / (double)p;
		f.cumulative[j] = (j ? f.cumulative[j - 1] : 0) + f.explained[j];
	}
	f.communalities = seg_malloc(p * sizeof *f.communalities);
	for (size_t i = 0; i < p; i++) {
		double h = 0;
		for (size_t j = 0; j < k; j++)
			h += f.loadings[i * k + j] * f.loadings[i * k + j];
		f.communalities[i] = h;
	}
	/* regression-method score weights: R^-1 loadings */
	f.score_weights = seg_malloc(p * k * sizeof *f.score_weights);
	for (size_t i = 0; i < p; i++) {
		for (size_t j = 0; j < k; j++) {
			double s = 0;
			for (size_t r = 0; r < p; r++)
				s += rinv[i * p + r] * f.loadings[r * k + j];
			f.score_weights[i * k + j] = s;
		}
	}
	f.labels = seg_calloc(k, sizeof *f.labels);
	for (size_t j = 0; j < k; j++)
		f.labels[j] = seg__label(&f, j, params->names);
	if (params->tick && !params->tick(params->tick_ctx, 1)) {
		rc = SEG_FACTOR_CANCELLED;
		seg_text_setf(msg, msglen, "the factor analysis was cancelled");
		goto out;
	}
	*out = f;
	memset(&f, 0, sizeof f);
	rc = SEG_FACTOR_OK;
out:
	seg_factor_release(&f);
	free(cross);
	free(l);
	free(rinv);
	free(vec);
	free(tmp);
	free(order);
	return rc;
}

void seg_factor_scores(const struct seg_factor *f, const double *x, size_t n, double *scores)
{
	size_t p = f->p, k = f->k;
	double *z = seg_malloc(p * sizeof *z);
	for (size_t r = 0; r < n; r++) {
		const double *row = x + r * p;
		double *s = scores + r * k;
		if (!seg__complete(row, p)) {
			for (size_t j = 0; j < k; j++)
				s[j] = NAN;
			continue;
		}
		for (size_t i = 0; i < p; i++)
			z[i] = (row[i] - f->means[i]) / f->sds[i];
		for (size_t j = 0; j < k; j++) {
			double t = 0;
			for (size_t i = 0; i < p; i++)
				t += z[i] * f->score_weights[i * k + j];
			s[j] = t;
		}
	}
	free(z);
}

/*
 * Conjoint analysis by effects-coded least squares per respondent (analytics/conjoint.h; the
 * definitions and decisions: analytics/README.md "Conjoint").
 */
#include "conjoint.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "text.h"
#include "linalg.h"

/* Respondents between two calls of the tick. */
#define TICK_EVERY 256

const char *seg_cj_status_name(enum seg_cj_status s)
{
	switch (s) {
	case SEG_CJ_FITTED: return "fitted";
	case SEG_CJ_TOO_FEW: return "too_few_ratings";
	case SEG_CJ_CONSTANT: return "constant_ratings";
	case SEG_CJ_SINGULAR: return "singular_design";
	}
	return "unknown";
}

void seg_cj_result_release(struct seg_cj_result *r)
{
	if (!r)
		return;
	free(r->level_offset);
	free(r->resp);
	free(r->part_worth);
	free(r->importance);
	free(r->wtp);
	free(r->mean_part_worth);
	free(r->level_respondents);
	free(r->mean_importance);
	free(r->median_wtp);
	memset(r, 0, sizeof(*r));
}

static int seg__double_cmp(const void *a, const void *b)
{
	double p = *(const double *)a, q = *(const double *)b;
	return (p > q) - (p < q);
}

double seg_cj_median(double *v, size_t n)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i]))
			v[m++] = v[i];
	if (!m)
		return NAN;
	qsort(v, m, sizeof(*v), seg__double_cmp);
	if (m % 2)
		return v[m / 2];
	return (v[m / 2 - 1] + v[m / 2]) / 2;
}

/* Whether profile i can be used: every level given, a finite rating and (with price) price. */
static bool seg__usable(const struct seg_cj_input *in, size_t i)
{
	for (size_t a = 0; a < in->nattr; a++)
		if (in->levels[i * in->nattr + a] < 0)
			return false;
	if (!isfinite(in->rating[i]))
		return false;
	return !in->price || isfinite(in->price[i]);
}

static enum seg_err seg__check(const struct seg_cj_input *in, char *err, size_t errlen)
{
	if (in->nattr == 0 && !in->price) {
		seg_text_setf(err, errlen, "no attribute to analyse");
		return SEG_ERR_INVALID;
	}
	if (in->nresp && in->start[0] != 0) {
		seg_text_setf(err, errlen, "the first respondent's profiles must start at 0");
		return SEG_ERR_INVALID;
	}
	for (size_t r = 0; r < in->nresp; r++)
		if (in->start[r + 1] < in->start[r]) {
			seg_text_setf(err, errlen,
				      "respondent %zu: its profiles end before they start", r);
			return SEG_ERR_INVALID;
		}
	for (size_t a = 0; a < in->nattr; a++)
		if (in->nlevels[a] < 1 || in->nlevels[a] >= INT32_MAX) {
			seg_text_setf(err, errlen, "attribute %zu: %zu levels", a, in->nlevels[a]);
			return SEG_ERR_INVALID;
		}
	size_t np = in->nresp ? in->start[in->nresp] : 0;
	for (size_t i = 0; i < np; i++)
		for (size_t a = 0; a < in->nattr; a++) {
			int32_t c = in->levels[i * in->nattr + a];
			if (c < -1 || c >= (int64_t)in->nlevels[a]) {
				seg_text_setf(
					err, errlen,
					"profile %zu, attribute %zu: level code %d is not -1 .. "
					"%zu",
					i, a, (int)c, in->nlevels[a] - 1);
				return SEG_ERR_INVALID;
			}
		}
	return SEG_OK;
}

/* Scratch reused from one respondent to the next. */
struct seg__work {
	size_t *rows;	/* the respondent's usable profiles */
	int32_t *local; /* per global level: its local index (1st, 2nd ... to appear), or -1 */
	size_t *order;	/* per attribute, from level_offset: the global codes in local order */
	size_t *L;	/* per attribute: levels the respondent rated */
	size_t *col;	/* per attribute: its first design column */
	double *A, *y, *x;
	size_t cap_rows, cap_a;
};

/* Fits respondent r into out (its rows of the per-respondent arrays are already NaN). */
static void seg__respondent(const struct seg_cj_input *in, size_t r, struct seg__work *W,
			    struct seg_cj_result *out)
{
	struct seg_cj_resp *R = &out->resp[r];
	size_t nattr = in->nattr, m = 0, p = 1;
	const size_t *off = out->level_offset;

	/* the usable profiles, and each attribute's levels in the order they first appear */
	for (size_t i = in->start[r]; i < in->start[r + 1]; i++)
		if (seg__usable(in, i))
			W->rows[m++] = i;
	for (size_t a = 0; a < nattr; a++)
		W->L[a] = 0;
	for (size_t k = 0; k < m; k++)
		for (size_t a = 0; a < nattr; a++) {
			size_t g = off[a] + (size_t)in->levels[W->rows[k] * nattr + a];
			if (W->local[g] < 0) {
				W->local[g] = (int32_t)W->L[a];
				W->order[off[a] + W->L[a]++] = g;
			}
		}
	for (size_t a = 0; a < nattr; a++) {
		W->col[a] = p;
		p += W->L[a] - (W->L[a] > 0);
	}
	size_t pcol = p;
	if (in->price)
		p++;
	R->ratings = m;
	R->params = p;
	if (m < p + 1) {
		R->status = SEG_CJ_TOO_FEW;
		goto out;
	}
	double ymean = 0, tss = 0;
	bool constant = true;
	for (size_t k = 0; k < m; k++) {
		W->y[k] = in->rating[W->rows[k]];
		ymean += W->y[k];
		constant = constant && W->y[k] == W->y[0];
	}
	if (constant) {
		R->status = SEG_CJ_CONSTANT;
		goto out;
	}
	ymean /= (double)m;
	for (size_t k = 0; k < m; k++)
		tss += (W->y[k] - ymean) * (W->y[k] - ymean);

	/* the design: ones, effects codes, price */
	memset(W->A, 0, m * p * sizeof(double));
	double pmin = INFINITY, pmax = -INFINITY;
	for (size_t k = 0; k < m; k++) {
		double *row = W->A + k * p;
		size_t i = W->rows[k];
		row[0] = 1;
		for (size_t a = 0; a < nattr; a++) {
			size_t j = (size_t)W->local[off[a] + (size_t)in->levels[i * nattr + a]];
			if (j + 1 < W->L[a])
				row[W->col[a] + j] = 1;
			else
				for (size_t q = 0; q + 1 < W->L[a]; q++)
					row[W->col[a] + q] = -1;
		}
		if (in->price) {
			row[pcol] = in->price[i];
			pmin = fmin(pmin, in->price[i]);
			pmax = fmax(pmax, in->price[i]);
		}
	}
	double rss = 0;
	if (seg_la_lstsq(m, p, W->A, W->y, W->x, &rss) != SEG_LA_OK) {
		R->status = SEG_CJ_SINGULAR;
		goto out;
	}
	R->status = SEG_CJ_FITTED;
	R->constant = W->x[0];
	R->r2 = 1 - rss / tss;

	/* part-worths (the last level's is minus the sum of the others), ranges, importances */
	double *pw = out->part_worth + r * out->nlevels_total;
	double *imp = out->importance + r * out->nimp;
	double total = 0;
	for (size_t a = 0; a < nattr; a++) {
		size_t L = W->L[a];
		double last = 0, lo = INFINITY, hi = -INFINITY;
		for (size_t j = 0; j < L; j++) {
			double u;
			if (j + 1 < L) {
				u = W->x[W->col[a] + j];
				last -= u;
			} else {
				u = last;
			}
			pw[W->order[off[a] + j]] = u;
			lo = fmin(lo, u);
			hi = fmax(hi, u);
		}
		imp[a] = hi - lo;
		total += imp[a];
	}
	if (in->price) {
		R->price_coefficient = W->x[pcol];
		imp[nattr] = fabs(W->x[pcol]) * (pmax - pmin);
		total += imp[nattr];
	}
	for (size_t q = 0; q < out->nimp; q++)
		imp[q] = total > 0 ? imp[q] / total : 0;

	/* willingness to pay against each attribute's level 0 (the report's first) */
	if (in->price && R->price_coefficient != 0) {
		double *w = out->wtp + r * out->nlevels_total;
		double beta = fabs(R->price_coefficient);
		for (size_t a = 0; a < nattr; a++) {
			if (W->local[off[a]] < 0)
				continue; /* level 0 not rated */
			for (size_t j = 0; j < W->L[a]; j++) {
				size_t g = W->order[off[a] + j];
				w[g] = g == off[a] ? 0 : (pw[g] - pw[off[a]]) / beta;
			}
		}
	}
out:
	/* leave local[] all -1 for the next respondent */
	for (size_t a = 0; a < nattr; a++)
		for (size_t j = 0; j < W->L[a]; j++)
			W->local[W->order[off[a] + j]] = -1;
}

enum seg_err seg_cj_fit(const struct seg_cj_input *in, const struct seg_cj_params *params,
			struct seg_cj_result *out, char *err, size_t errlen)
{
	enum seg_err rc;
	struct seg__work W = {0};
	double *tmp = NULL;
	size_t nresp = in->nresp, nattr = in->nattr;

	memset(out, 0, sizeof(*out));
	rc = seg__check(in, err, errlen);
	if (rc != SEG_OK)
		goto out;
	rc = SEG_ERR_INVALID;

	out->nresp = nresp;
	out->nattr = nattr;
	out->has_price = in->price != NULL;
	out->nimp = nattr + out->has_price;
	out->level_offset = seg_malloc((nattr + 1) * sizeof(size_t));
	out->level_offset[0] = 0;
	for (size_t a = 0; a < nattr; a++)
		out->level_offset[a + 1] = out->level_offset[a] + in->nlevels[a];
	size_t NL = out->nlevels_total = out->level_offset[nattr];
	size_t cells = (nresp ? nresp : 1) * (NL ? NL : 1);
	out->resp = seg_calloc(nresp ? nresp : 1, sizeof(*out->resp));
	out->part_worth = seg_malloc(cells * sizeof(double));
	out->importance = seg_malloc((nresp ? nresp : 1) * out->nimp * sizeof(double));
	for (size_t k = 0; k < cells; k++)
		out->part_worth[k] = NAN;
	for (size_t k = 0; k < nresp * out->nimp; k++)
		out->importance[k] = NAN;
	if (in->price) {
		out->wtp = seg_malloc(cells * sizeof(double));
		for (size_t k = 0; k < cells; k++)
			out->wtp[k] = NAN;
	}

	/* scratch sized for the largest respondent */
	size_t maxm = 0, p_max = 1 + NL + 1;
	for (size_t r = 0; r < nresp; r++)
		if (in->start[r + 1] - in->start[r] > maxm)
			maxm = in->start[r + 1] - in->start[r];
	W.rows = seg_malloc((maxm ? maxm : 1) * sizeof(size_t));
	W.y = seg_malloc((maxm ? maxm : 1) * sizeof(double));
	W.A = seg_malloc((maxm ? maxm : 1) * p_max * sizeof(double));
	W.x = seg_malloc(p_max * sizeof(double));
	W.local = seg_malloc((NL ? NL : 1) * sizeof(int32_t));
	for (size_t g = 0; g < NL; g++)
		W.local[g] = -1;
	W.order = seg_malloc((NL ? NL : 1) * sizeof(size_t));
	W.L = seg_calloc(nattr ? nattr : 1, sizeof(size_t));
	W.col = seg_calloc(nattr ? nattr : 1, sizeof(size_t));

	for (size_t r = 0; r < nresp; r++) {
		if (params && params->tick && r % TICK_EVERY == 0 && r &&
		    !params->tick(params->ctx, 0.95 * (double)r / (double)nresp)) {
			rc = SEG_ERR_CANCELLED;
			seg_text_setf(err, errlen, "cancelled");
			goto out;
		}
		struct seg_cj_resp *R = &out->resp[r];
		R->constant = R->price_coefficient = R->r2 = NAN;
		seg__respondent(in, r, &W, out);
		for (size_t i = in->start[r]; i < in->start[r + 1]; i++)
			out->dropped_profiles += !seg__usable(in, i);
		switch (R->status) {
		case SEG_CJ_FITTED: out->fitted++; break;
		case SEG_CJ_TOO_FEW: out->too_few++; break;
		case SEG_CJ_CONSTANT: out->constant++; break;
		case SEG_CJ_SINGULAR: out->singular++; break;
		}
	}
	out->skipped = nresp - out->fitted;

	/* means over the fitted respondents (in respondent order), medians */
	out->mean_part_worth = seg_malloc((NL ? NL : 1) * sizeof(double));
	out->level_respondents = seg_calloc(NL ? NL : 1, sizeof(size_t));
	out->mean_importance = seg_malloc(out->nimp * sizeof(double));
	for (size_t g = 0; g < NL; g++) {
		double sum = 0;
		for (size_t r = 0; r < nresp; r++) {
			double u = out->part_worth[r * NL + g];
			if (out->resp[r].status == SEG_CJ_FITTED && !isnan(u)) {
				sum += u;
				out->level_respondents[g]++;
			}
		}
		out->mean_part_worth[g] =
			out->level_respondents[g] ? sum / (double)out->level_respondents[g] : NAN;
	}
	for (size_t q = 0; q < out->nimp; q++) {
		double sum = 0;
		for (size_t r = 0; r < nresp; r++)
			if (out->resp[r].status == SEG_CJ_FITTED)
				sum += out->importance[r * out->nimp + q];
		out->mean_importance[q] = out->fitted ? sum / (double)out->fitted : NAN;
	}
	tmp = seg_malloc((nresp ? nresp : 1) * sizeof(double));
	double sum_r2 = 0, sum_beta = 0;
	for (size_t r = 0; r < nresp; r++) {
		tmp[r] = out->resp[r].r2; /* NaN unless fitted */
		if (out->resp[r].status == SEG_CJ_FITTED) {
			sum_r2 += out->resp[r].r2;
			sum_beta += out->resp[r].price_coefficient;
		}
	}
	out->median_r2 = seg_cj_median(tmp, nresp);
	out->mean_r2 = out->fitted ? sum_r2 / (double)out->fitted : NAN;
	out->mean_price_coefficient = out->median_price_coefficient = NAN;
	if (in->price) {
		for (size_t r = 0; r < nresp; r++)
			tmp[r] = out->resp[r].price_coefficient;
		out->median_price_coefficient = seg_cj_median(tmp, nresp);
		out->mean_price_coefficient = out->fitted ? sum_beta / (double)out->fitted : NAN;
		out->median_wtp = seg_malloc((NL ? NL : 1) * sizeof(double));
		for (size_t g = 0; g < NL; g++) {
			for (size_t r = 0; r < nresp; r++)
				tmp[r] = out->wtp[r * NL + g];
			out->median_wtp[g] = seg_cj_median(tmp, nresp);
		}
	}
	if (params && params->tick && !params->tick(params->ctx, 1)) {
		rc = SEG_ERR_CANCELLED;
		seg_text_setf(err, errlen, "cancelled");
		goto out;
	}
	rc = SEG_OK;
out:
	if (rc != SEG_OK)
		seg_cj_result_release(out);
	free(W.rows);
	free(W.y);
	free(W.A);
	free(W.x);
	free(W.local);
	free(W.order);
	free(W.L);
	free(W.col);
	free(tmp);
	return rc;
}

/*
 * Traditional (rating-based) conjoint analysis, SPEC §6 `conjoint` and §6.2: per respondent,
 * ordinary least squares of the ratings on effects codes of the attributes' levels (and price
 * as one numeric column), giving part-worths that sum to 0 within each attribute, a constant,
 * R², each attribute's importance and, with price, the willingness to pay for each level; then
 * the means and medians over the respondents. Benefit segments (k-means over the respondents'
 * importances) are not computed here: the caller runs the k-means engine over `importance`.
 * Pure: arrays in, numbers out; no I/O, no global state; may run on any thread (a job worker),
 * several at once. analytics/README.md ("Conjoint") gives the definitions and the decisions.
 *
 * The input. Respondent r's rated profiles (its events) are profiles start[r] .. start[r+1]-1,
 * already in the order of occurred_at then event id. Each profile holds, for every attribute a
 * (other than price), the code of its level, 0 .. nlevels[a] - 1; the caller numbers each
 * attribute's levels in the order of their first appearance over all respondents (the report's
 * order, SPEC §6.2), so level 0 is the one willingness to pay is measured against. With price,
 * each profile has its price (a number). A profile without a level of some attribute (code -1),
 * without a finite rating, or (with price) without a finite price is left out and counted in
 * dropped_profiles.
 *
 * Per respondent (SPEC §6.2, exactly): its levels of attribute a are ordered as they first
 * appear in its own profiles, 1 .. L; the design has a column of ones, L - 1 columns per
 * attribute (level j < L is 1 in column j, level L is -1 in all of them), and the price. Its
 * parameters are p = 1 + sum (L - 1) + (1 with price); a respondent with fewer than p + 1
 * ratings is skipped (SEG_CJ_TOO_FEW), as is one whose ratings are all equal (nothing to
 * explain: SEG_CJ_CONSTANT) or whose design columns are dependent (SEG_CJ_SINGULAR, e.g. one
 * price only, or two attributes that always change together). The least squares are
 * analytics/linalg.h's seg_la_lstsq (Householder QR with column pivoting).
 *
 * Cancel and progress: params.tick, when not NULL, is called on the calling thread every 256
 * respondents with the fraction done; when it returns false, seg_cj_fit returns
 * SEG_ERR_CANCELLED. Errors: SEG_ERR_INVALID with a sentence in err (which may be NULL) for
 * input that cannot be analysed (a code out of range, offsets out of order); out is then empty.
 */
#ifndef SEG_ANALYTICS_CONJOINT_H
#define SEG_ANALYTICS_CONJOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct seg_cj_input {
	size_t nresp;	       /* respondents */
	const size_t *start;   /* nresp + 1 offsets into the profiles, non-decreasing, from 0 */
	size_t nattr;	       /* attributes other than price (>= 1, or 0 with price) */
	const size_t *nlevels; /* per attribute: its levels over all respondents (>= 1) */
	const int32_t *levels; /* start[nresp] x nattr, row-major: each profile's level codes */
	const double *price;   /* start[nresp] prices, or NULL: no price attribute */
	const double *rating;  /* start[nresp] ratings */
};

/* Cancel/progress callback: fraction done in 0..1; return false to stop. */
typedef bool (*seg_cj_tick_fn)(void *ctx, double fraction);

struct seg_cj_params {
	seg_cj_tick_fn tick; /* may be NULL */
	void *ctx;
};

/* Why a respondent has no result. */
enum seg_cj_status {
	SEG_CJ_FITTED = 0,
	SEG_CJ_TOO_FEW,	 /* fewer ratings than parameters + 1 (none at all included) */
	SEG_CJ_CONSTANT, /* every rating the same */
	SEG_CJ_SINGULAR, /* the design's columns are dependent */
};

/* "fitted", "too_few_ratings", "constant_ratings", "singular_design"; static. */
const char *seg_cj_status_name(enum seg_cj_status s);

struct seg_cj_resp {
	enum seg_cj_status status;
	size_t ratings;		  /* usable profiles */
	size_t params;		  /* the model's parameters (p above) */
	double constant;	  /* NaN unless fitted */
	double price_coefficient; /* NaN unless fitted with price */
	double r2;		  /* NaN unless fitted */
};

/*
 * The result. Levels are addressed through level_offset: attribute a's level l is entry
 * level_offset[a] + l of the per-level arrays (nlevels_total entries). Importances are nimp =
 * nattr + (1 with price) per respondent: the attributes in order, then price.
 */
struct seg_cj_result {
	size_t nresp;
	size_t fitted;
	size_t skipped; /* nresp - fitted: too_few + constant + singular */
	size_t too_few, constant, singular;
	size_t dropped_profiles;
	size_t nattr;
	bool has_price;
	size_t nimp;
	size_t *level_offset; /* nattr + 1 */
	size_t nlevels_total;

	struct seg_cj_resp *resp; /* nresp */
	/*
	 * nresp x nlevels_total: respondent r's part-worth of a level at [r * nlevels_total +
	 * level_offset[a] + l]; NaN where r did not rate that level or was skipped.
	 */
	double *part_worth;
	/* nresp x nimp: each importance (range over the sum of the ranges); NaN when skipped */
	double *importance;
	/*
	 * nresp x nlevels_total, or NULL without price: (u_level - u_level0) / |price coefficient|
	 * in price units; NaN where r lacks the level or level 0, was skipped, or has a price
	 * coefficient of 0. Level 0's own is 0.
	 */
	double *wtp;

	/* over the fitted respondents */
	double *mean_part_worth;   /* nlevels_total; NaN where no fitted respondent rated it */
	size_t *level_respondents; /* nlevels_total: fitted respondents that rated each level */
	double *mean_importance;   /* nimp; NaN when nobody was fitted */
	double *median_wtp;	   /* nlevels_total, or NULL without price; NaN: nobody has one */
	double mean_price_coefficient, median_price_coefficient; /* NaN without price */
	double mean_r2, median_r2;				 /* NaN when nobody was fitted */
};

/* Frees what a result holds and empties it (NULL-safe, idempotent). */
void seg_cj_result_release(struct seg_cj_result *r);

/*
 * Fits every respondent of in (SPEC §6.2) and summarises them into out, which the caller
 * releases with seg_cj_result_release (also after a failure). params may be NULL. A run where
 * nobody can be fitted succeeds with fitted = 0 (the caller decides whether that is a problem).
 */
enum seg_err seg_cj_fit(const struct seg_cj_input *in, const struct seg_cj_params *params,
			struct seg_cj_result *out, char *err, size_t errlen);

/* The median of the finite values of v[0..n) (NaN when there are none): the mean of the two
 * middle ones for an even count, as numpy.median. Reorders v. */
double seg_cj_median(double *v, size_t n);

#endif

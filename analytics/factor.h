/*
 * Factor analysis (SPEC §6 `factor`, §6.2): principal components of the correlation matrix of
 * the customers that have every feature, loadings rotated by varimax exactly as R's
 * stats::varimax (Kaiser normalisation, eps = 1e-5), the §6.2 sign and order rules,
 * communalities, the Kaiser-Meyer-Olkin measure, Bartlett's test of sphericity, a label per
 * factor, and the customers' factor scores by the regression method.
 *
 * Pure: a dense matrix in, a result struct out; no I/O, no global state. seg_factor_fit runs on
 * the calling thread (a job worker) and is single-threaded, so its result is bit-identical
 * whatever the number of workers; it costs O(n p^2) time for the correlation matrix (one pass
 * for the means, one for the cross-products) and O(p^2) memory beyond the input.
 * analytics/README.md ("Factor analysis") gives every definition and decision.
 */
#ifndef SEG_FACTOR_H
#define SEG_FACTOR_H

#include <stdbool.h>
#include <stddef.h>

/* Why a fit failed; the message buffer says it about the data ("feature "age" is constant"). */
enum seg_factor_fail {
	SEG_FACTOR_OK = 0,
	SEG_FACTOR_BAD_PARAMS, /* p < 2, n_factors > p, an unknown rotation */
	SEG_FACTOR_TOO_FEW,    /* not more customers with every feature than features */
	SEG_FACTOR_CONSTANT,   /* a feature has one value over the complete rows */
	SEG_FACTOR_SINGULAR,   /* a feature is a linear combination of others: R is singular */
	SEG_FACTOR_CANCELLED,  /* tick returned false */
	SEG_FACTOR_NUMERIC,    /* an infinite value or an eigen-decomposition that failed */
};

enum seg_factor_rotation {
	SEG_FACTOR_VARIMAX = 0,
	SEG_FACTOR_NO_ROTATION,
};

struct seg_factor_params {
	/* factors to retain: 1 .. p, or 0 for "auto" (the eigenvalues above 1, at least one) */
	size_t n_factors;
	enum seg_factor_rotation rotation;
	/* the features' names for the labels (p of them, borrowed); NULL: "x1", "x2", ... */
	const char *const *names;
	/*
	 * Progress and cancellation, may be NULL: called on the fitting thread every 65,536
	 * rows of each pass with the fraction done (0 .. 1); returning false stops the fit,
	 * which then fails with SEG_FACTOR_CANCELLED and leaves nothing allocated.
	 */
	bool (*tick)(void *ctx, double fraction);
	void *tick_ctx;
};

/*
 * A fitted factor analysis; every array is owned by the struct (seg_factor_release frees
 * them). p features, k retained factors; matrices row-major.
 */
struct seg_factor {
	size_t n;	       /* complete rows (customers with every feature) used */
	size_t p, k;	       /* features, retained factors */
	double *means, *sds;   /* p: of the complete rows; sds with divisor n - 1 */
	double *correlation;   /* p x p: R */
	double *eigenvalues;   /* p: of R, descending */
	double *loadings;      /* p x k: loadings[i * k + j] of feature i on factor j, rotated,
				  signed and ordered by the §6.2 rules */
	double *explained;     /* k: share of the total variance (sum of the factor's squared
				  loadings / p), in factor order (descending when rotated) */
	double *cumulative;    /* k: running sums of explained */
	double *communalities; /* p: sum over the factors of the squared loadings */
	double *score_weights; /* p x k: R^-1 loadings; a score is z . column j */
	char **labels;	       /* k: "income, spend, -age" (README: the rule) */
	double kmo;	       /* overall Kaiser-Meyer-Olkin measure */
	double *msa;	       /* p: each feature's measure of sampling adequacy */
	double bartlett_chi2, bartlett_df, bartlett_p;
	int rotation_iterations; /* of varimax (0 without rotation or with one factor) */
};

/*
 * Fits the factor analysis of x (n rows by p features, row-major; NaN marks a missing value:
 * rows with one are left out). On success fills *out (release it with seg_factor_release);
 * on failure returns why, writes a sentence into msg (msglen bytes, may be 0) and leaves *out
 * zeroed, nothing to release. Runs on the calling thread.
 */
enum seg_factor_fail seg_factor_fit(const double *x, size_t n, size_t p,
				    const struct seg_factor_params *params, struct seg_factor *out,
				    char *msg, size_t msglen);

/*
 * Factor scores by the regression method for n rows of x (p columns, as fitted): each row
 * standardised with the fit's means and sds (z), times score_weights, into scores (n x k,
 * row-major). A row with a NaN gets NaN scores (the customer has no score). Any thread.
 */
void seg_factor_scores(const struct seg_factor *f, const double *x, size_t n, double *scores);

/* Frees what the struct owns and zeroes it; NULL-safe, idempotent. */
void seg_factor_release(struct seg_factor *f);

#endif

/*
 * Linear discriminant analysis (SPEC §6 `discriminant`, §6.2): Fisher's discriminant functions
 * from the eigenproblem of W^-1 B (solved as the symmetric-definite B v = lambda W v), their
 * eigenvalues, shares, canonical correlations and Wilks' lambdas with Bartlett's chi-squared;
 * per feature the univariate Wilks' lambda and F, the standardised coefficients and the
 * structure matrix; the group centroids in function space; posterior probabilities under the
 * pooled within-groups covariance with proportional or equal priors; the leave-one-out
 * classification matrix and hit rate, exact but by rank-one updates (O(n p^2) in all, not a
 * refit per customer); the proportional and maximum chance criteria; and the classification
 * of new rows.
 *
 * Pure: dense matrices in, a result struct out; no I/O, no global state. seg_discriminant_fit
 * runs on the calling thread (a job worker), single-threaded, so its result is bit-identical
 * whatever the number of workers; O(n p^2 + n p g) time, O(p^2 + g p) memory beyond the input.
 * analytics/README.md ("Discriminant analysis") gives every definition and decision.
 */
#ifndef SEG_DISCRIMINANT_H
#define SEG_DISCRIMINANT_H

#include <stdbool.h>
#include <stddef.h>

/* Why a fit failed; the message buffer says it about the data ("group 2 has no customer"). */
enum seg_discriminant_fail {
	SEG_DISCRIMINANT_OK = 0,
	SEG_DISCRIMINANT_BAD_PARAMS,  /* g < 2, p < 1, a group index >= g, unknown priors */
	SEG_DISCRIMINANT_EMPTY_GROUP, /* a group has no customer with every feature */
	SEG_DISCRIMINANT_TOO_FEW,     /* not more customers than groups + features - 1 */
	SEG_DISCRIMINANT_SINGULAR,    /* W singular: a feature constant within every group, or
					 a linear combination of others */
	SEG_DISCRIMINANT_CANCELLED,   /* tick returned false */
	SEG_DISCRIMINANT_NUMERIC,     /* an infinite value, an eigenproblem that failed */
};

enum seg_discriminant_priors {
	SEG_DISCRIMINANT_PROPORTIONAL = 0, /* prior of a group = its share of the customers */
	SEG_DISCRIMINANT_EQUAL,		   /* 1 / g each */
};

struct seg_discriminant_params {
	enum seg_discriminant_priors priors;
	/*
	 * Progress and cancellation, may be NULL: called on the fitting thread every 65,536
	 * rows of each of the three passes (means, scatter, leave-one-out) with the fraction
	 * done (0 .. 1); returning false stops the fit, which fails with
	 * SEG_DISCRIMINANT_CANCELLED and leaves nothing allocated.
	 */
	bool (*tick)(void *ctx, double fraction);
	void *tick_ctx;
};

/*
 * A fitted discriminant analysis; every array is owned by the struct (release with
 * seg_discriminant_release). n training customers, p features, g groups, q = min(g - 1, p)
 * functions; matrices row-major.
 */
struct seg_discriminant {
	size_t n, p, g, q;
	size_t *sizes;	    /* g: training customers per group */
	double *priors;	    /* g: as used for the posteriors (sum 1) */
	double *grand_mean; /* p */
	double *means;	    /* g x p: group means */
	/* per function j (q each), descending by eigenvalue */
	double *eigenvalues;	       /* lambda_j of W^-1 B */
	double *explained;	       /* lambda_j / sum of the q lambdas (0 when all are 0) */
	double *canonical_correlation; /* sqrt(lambda_j / (1 + lambda_j)) */
	double *wilks_lambda;	       /* prod over i >= j of 1 / (1 + lambda_i) */
	double *chi2, *df, *p_value;   /* Bartlett: -(n - 1 - (p + g) / 2) ln Lambda_j,
					  (p - j)(g - j - 1), upper tail */
	/* p x q: the functions' coefficients; a customer's score on j is
	   sum_i raw[i * q + j] * (x_i - grand_mean_i), within-groups variance 1 */
	double *raw;
	double *standardized; /* p x q: raw times the pooled within-groups standard deviation */
	double *structure;    /* p x q: pooled within-groups correlation of feature and function */
	double *centroids;    /* g x q: the groups' mean scores */
	/* per feature (p each): univariate Wilks' lambda W_ii / T_ii, F (g - 1, n - g), p */
	double *feature_wilks, *feature_f, *feature_p;
	/* g x g leave-one-out counts: [true * g + predicted] */
	size_t *classification;
	size_t loo_unclassified; /* customers whose removal leaves no model (README) */
	double hit_rate;	 /* the diagonal over the classified customers */
	double proportional_chance, maximum_chance; /* sum of share^2, largest share */
	/* the classifier: delta_k(x) = (x - grand_mean) . coef_k + intercept_k */
	double *coef;	   /* g x p: S^-1 (m_k - grand_mean), S = W / (n - g) */
	double *intercept; /* g: -1/2 (m_k - m) . coef_k + ln prior_k */
};

/*
 * Fits the analysis on the rows of x (n x p, row-major) whose group[r] is 0 .. g - 1; rows
 * with group -1 (customers to assign) and rows with a NaN (a missing feature) take no part. On
 * success fills *out (release with seg_discriminant_release); on failure returns why, writes a
 * sentence into msg (msglen bytes, may be 0) and leaves *out zeroed. Runs on the calling
 * thread.
 */
enum seg_discriminant_fail seg_discriminant_fit(const double *x, const int *group, size_t n,
						size_t p, size_t g,
						const struct seg_discriminant_params *params,
						struct seg_discriminant *out, char *msg,
						size_t msglen);

/*
 * Classifies n rows of x (p columns): group[r] receives the group of highest posterior
 * probability (the lowest index on an exact tie), posterior (n x g, may be NULL) the posterior
 * probabilities. A row with a NaN gets group -1 and NaN posteriors. scores (n x q, may be NULL)
 * receives the rows' discriminant function scores. Any thread, several at once.
 */
void seg_discriminant_classify(const struct seg_discriminant *d, const double *x, size_t n,
			       int *group, double *posterior, double *scores);

/* Frees what the struct owns and zeroes it; NULL-safe, idempotent. */
void seg_discriminant_release(struct seg_discriminant *d);

#endif

/*
 * ABC analysis (SPEC §6.1), the mathematics: which class a customer falls in, and the summary
 * a client charts (counts, shares, value shares, thresholds, Pareto curve points). Pure: arrays
 * in, numbers out; no allocation, no I/O. Thread-safe.
 *
 * The definition. Customers are ordered by their value, highest first (ties by customer id
 * ascending: the caller orders them). Only positive values count: a customer whose value is
 * zero, negative or missing is C, and adds nothing to the total (a refund larger than the
 * purchases leaves a negative revenue, which is no share of anything). Class A is the shortest
 * prefix of the positive customers whose cumulative value reaches a × total; B extends it to
 * the shortest prefix reaching b × total; the rest are C. So the customer at 1-based rank i is
 * A exactly when the values before it sum to less than a × total (seg_abc_class).
 *
 * db/analysis_abc.c computes the same set-based in SQL over a tenant's customers, and hands
 * the per-class sums and the curve samples to seg_abc_finish; seg_abc_classify is the same
 * over an array (the reference the unit tests check, and the definition the SQL follows).
 */
#ifndef SEG_ABC_H
#define SEG_ABC_H

#include <stdbool.h>
#include <stddef.h>

/* The curve is sampled at 100 steps of the positive customers, plus the class boundaries. */
#define SEG_ABC_CURVE_STEPS 100
/* At most this many curve points: [0, 0], the steps, two boundaries and the zeros' [1, 1]. */
#define SEG_ABC_CURVE_MAX (SEG_ABC_CURVE_STEPS + 4)

struct seg_abc_class {
	long long count;
	double value;	    /* the sum of the class's positive values */
	double share;	    /* count / customers (0 when there are none) */
	double value_share; /* value / total */
	double threshold;   /* the smallest value in the class (0 for a class of none) */
	bool empty;	    /* no customer: threshold means nothing (the result says null) */
};

struct seg_abc_summary {
	long long customers;		 /* every customer, also those with no positive value */
	long long scored;		 /* customers with a positive value */
	double total;			 /* the sum of the positive values */
	struct seg_abc_class classes[3]; /* A, B, C */
	/* [customer_share, value_share], ascending, from [0, 0] to [1, 1] */
	double curve[SEG_ABC_CURVE_MAX][2];
	size_t ncurve;
};

/*
 * The class ('A', 'B' or 'C') of a customer with a positive value, whose predecessors in the
 * order sum to before, out of total (> 0), with the shares a < b. SPEC §6.1.
 */
char seg_abc_class(double before, double total, double a, double b);

/*
 * Whether rank (1-based, among npos positive customers) is one where the curve is sampled:
 * ceil(k × npos / 100) for k = 1..100. The SQL samples the same ranks (and the class
 * boundaries).
 */
bool seg_abc_curve_rank(long long rank, long long npos);

/* A sample of the curve: after the customer at rank, the cumulative value is cum. */
struct seg_abc_sample {
	long long rank;
	double cum;
};

/*
 * Fills out's shares and curve from what the SQL counted: out->customers, out->scored,
 * out->total and each class's count, value and threshold, and the samples (ascending rank,
 * at most SEG_ABC_CURVE_MAX - 2 of them, each a sampled rank or a class boundary). Returns
 * false when there is nothing to analyse (total not positive): no share is defined then.
 */
bool seg_abc_finish(struct seg_abc_summary *out, const struct seg_abc_sample *samples,
		    size_t nsamples);

/*
 * The reference: classifies values[0..n) (already ordered: highest first, ties by id),
 * writing classes[i], and fills out as the SQL and seg_abc_finish would. Returns false when
 * the positive values sum to 0 (every class C, out's shares left 0).
 */
bool seg_abc_classify(const double *values, size_t n, double a, double b, char *classes,
		      struct seg_abc_summary *out);

#endif

/*
 * RFM scoring (SPEC §6.1), the pure part: where the cut points lie among a dimension's sorted
 * values, a value's score, how large the bins would be without ties, and the named segments
 * of the R×F grid. The SQL that reads a tenant's events and scores every customer is in
 * db/analysis_rfm.c; it takes the positions, the segment names and the checks from here, so
 * both follow one definition. Pure: no I/O, thread-safe. Unit-tested in
 * tests/unit/test_analytics_rfm.c; the method is in analytics/README.md ("RFM").
 */
#ifndef SEG_RFM_H
#define SEG_RFM_H

#include <stdbool.h>
#include <stddef.h>

/* Bins per dimension: a score is one digit of rfm_score ("545"), so at most 9. */
#define SEG_RFM_BINS_MIN     2
#define SEG_RFM_BINS_MAX     9
#define SEG_RFM_BINS_DEFAULT 5

/* The named segments besides "Lost", in the priority order of the materialised scheme. */
#define SEG_RFM_SEGMENTS 10
extern const char *const seg_rfm_segment_names[SEG_RFM_SEGMENTS];
/* The segment of customers without a revenue event in the window. */
#define SEG_RFM_LOST "Lost"

enum seg_rfm_dim { SEG_RFM_RECENCY, SEG_RFM_FREQUENCY, SEG_RFM_MONETARY };
#define SEG_RFM_DIMS 3
/* "recency", "frequency", "monetary": the keys of cut_points in params and result. */
extern const char *const seg_rfm_dim_names[SEG_RFM_DIMS];

/*
 * The 1-based positions, in ascending order of n >= 1 values, of the bins - 1 cut points:
 * pos[k - 1] = ceil(k * n / bins) for k = 1 .. bins - 1, computed in integers (so exactly,
 * unlike a floating-point q * n). pos has room for bins - 1 entries.
 */
void seg_rfm_positions(size_t n, int bins, size_t *pos);

/* The cut points of n >= 1 values sorted ascending: cuts[k] = sorted[pos[k] - 1]. */
void seg_rfm_cut_points(const double *sorted, size_t n, int bins, double *cuts);

/* How many of the ncuts ascending (non-decreasing) cut points are strictly below v. */
int seg_rfm_below(const double *cuts, int ncuts, double v);

/*
 * The score of v in dimension dim with bins - 1 ascending cut points: frequency and monetary
 * 1 + (cut points strictly below v); recency bins - (cut points strictly below v), since
 * fewer days since the last purchase is better. Equal values always score the same.
 */
int seg_rfm_score(enum seg_rfm_dim dim, const double *cuts, int bins, double v);

/*
 * The size of each score's bin (sizes[s - 1], s = 1 .. bins) when n values have no ties: the
 * bins are as equal as n allows (they differ by at most one; with n < bins some are empty).
 * A dimension whose bins came out otherwise was moved by ties (or by explicit cut points):
 * that is what the result reports as unequal.
 */
void seg_rfm_expected_sizes(enum seg_rfm_dim dim, size_t n, int bins, size_t *sizes);

/* Whether sizes (bins of them, summing to n) differ from seg_rfm_expected_sizes. */
bool seg_rfm_unequal(enum seg_rfm_dim dim, const size_t *sizes, size_t n, int bins);

/*
 * A score of 1 .. bins on the scale of fifths that the named segments are defined on:
 * ceil(5 * s / bins). The identity for bins = 5; for other bins, the fifth holding the top of
 * the score's share ((s - 1) / bins, s / bins] of the customers.
 */
int seg_rfm_fifth(int bins, int s);

/*
 * The named segment of R score r and F score f (1 .. bins), by SPEC §6.1's table on the scale
 * of fifths (seg_rfm_fifth): every cell of the R×F grid is in exactly one of the ten. A static
 * string.
 */
const char *seg_rfm_segment(int bins, int r, int f);

/*
 * Checks explicit cut points of a dimension: exactly bins - 1 finite numbers in ascending
 * (non-decreasing) order, so the cut points of an earlier result can be given back to freeze
 * its bins. Returns NULL when they are valid, else a static message; *index receives the
 * offending element (or -1 for the count).
 */
const char *seg_rfm_cuts_check(const double *cuts, size_t count, int bins, long *index);

#endif

/*
 * RFM scoring (SPEC §6.1): cut points at exact positions, scores, the bins expected without
 * ties, and the named segments of the R×F grid. See rfm.h.
 */
#include "rfm.h"

#include <math.h>

const char *const seg_rfm_segment_names[SEG_RFM_SEGMENTS] = {
	"Champions",	   "Loyal Customers", "Potential Loyalists", "New Customers",
	"Promising",	   "Need Attention",  "About to Sleep",	     "At Risk",
	"Can't Lose Them", "Hibernating",
};

const char *const seg_rfm_dim_names[SEG_RFM_DIMS] = {"recency", "frequency", "monetary"};

void seg_rfm_positions(size_t n, int bins, size_t *pos)
{
	size_t b = (size_t)bins;
	for (size_t k = 1; k < b; k++)
		pos[k - 1] = (k * n + b - 1) / b;
}

void seg_rfm_cut_points(const double *sorted, size_t n, int bins, double *cuts)
{
	size_t pos[SEG_RFM_BINS_MAX];
	seg_rfm_positions(n, bins, pos);
	for (int k = 0; k < bins - 1; k++)
		cuts[k] = sorted[pos[k] - 1];
}

int seg_rfm_below(const double *cuts, int ncuts, double v)
{
	/* the first cut point that is not below v: cuts are non-decreasing */
	int lo = 0, hi = ncuts;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (cuts[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int seg_rfm_score(enum seg_rfm_dim dim, const double *cuts, int bins, double v)
{
	int below = seg_rfm_below(cuts, bins - 1, v);
	return dim == SEG_RFM_RECENCY ? bins - below : 1 + below;
}

void seg_rfm_expected_sizes(enum seg_rfm_dim dim, size_t n, int bins, size_t *sizes)
{
	/* Without ties, F and M score 1 holds the positions up to pos[0], score k those after
	 * pos[k - 2] up to pos[k - 1], score bins the rest; R is the same, reversed. */
	size_t b = (size_t)bins;
	for (size_t s = 1; s <= b; s++) {
		size_t hi = (s * n + b - 1) / b, lo = ((s - 1) * n + b - 1) / b;
		size_t i = dim == SEG_RFM_RECENCY ? b - s : s - 1;
		sizes[i] = hi - lo;
	}
}

bool seg_rfm_unequal(enum seg_rfm_dim dim, const size_t *sizes, size_t n, int bins)
{
	size_t expected[SEG_RFM_BINS_MAX];
	seg_rfm_expected_sizes(dim, n, bins, expected);
	for (int s = 0; s < bins; s++)
		if (sizes[s] != expected[s])
			return true;
	return false;
}

int seg_rfm_fifth(int bins, int s)
{
	return (5 * s + bins - 1) / bins;
}

const char *seg_rfm_segment(int bins, int r, int f)
{
	const char *const *n = seg_rfm_segment_names;
	int r5 = seg_rfm_fifth(bins, r), f5 = seg_rfm_fifth(bins, f);
	if (r5 <= 2)
		return f5 <= 2 ? n[9] : f5 <= 4 ? n[7] : n[8];
	if (r5 == 3)
		return f5 <= 2 ? n[6] : f5 == 3 ? n[5] : n[1];
	if (r5 == 4)
		return f5 == 1 ? n[4] : f5 <= 3 ? n[2] : n[1];
	return f5 == 1 ? n[3] : f5 <= 3 ? n[2] : n[0];
}

const char *seg_rfm_cuts_check(const double *cuts, size_t count, int bins, long *index)
{
	*index = -1;
	if (count != (size_t)(bins - 1))
		return "must hold bins - 1 cut points";
	for (size_t i = 0; i < count; i++) {
		*index = (long)i;
		if (!isfinite(cuts[i]))
			return "must be a finite number";
		if (i > 0 && cuts[i] < cuts[i - 1])
			return "must not be below the cut point before it (ascending order)";
	}
	*index = -1;
	return NULL;
}

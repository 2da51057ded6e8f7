/*
 * The mathematics of the frequency analysis (SPEC §6 `frequency`; the method and why it was
 * chosen: analytics/README.md "Frequency"). Pure: arrays in, numbers out. Thread-safe.
 *
 * A customer's rate is their matching events per period (week or month). The rates are
 * counted in bins of a fixed logarithmic grid of preferred numbers (the R10 series: 1, 1.25,
 * 1.6, 2, 2.5, 3.15, 4, 5, 6.3, 8 times a power of ten), which is the distribution a chart
 * draws. Thresholds, unless given, are suggested from those bins by natural breaks: the split
 * of the binned log-rates into 2 (buyers) or 3 (usage) classes that leaves the least squared
 * error within the classes, each threshold placed on the middle edge of the gap it falls in.
 */
#ifndef SEG_ANALYTICS_FREQUENCY_H
#define SEG_ANALYTICS_FREQUENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The two scales of classes. */
enum seg_freq_kind {
	SEG_FREQ_BUYERS, /* one-time, occasional, regular: one threshold */
	SEG_FREQ_USAGE,	 /* light, medium, heavy: two thresholds */
};

/* Class names of a kind, from the highest rate down, then the one-time class (buyers). */
#define SEG_FREQ_NONE "none" /* customers without a matching event */
/*
 * The classes of kind in priority order (highest rate first), ended by NULL: "regular",
 * "occasional", "one-time" or "heavy", "medium", "light". SEG_FREQ_NONE follows them in
 * every result but is not listed here.
 */
const char *const *seg_freq_classes(enum seg_freq_kind kind);
/* The number of thresholds the kind takes (1 or 2). */
size_t seg_freq_nthresholds(enum seg_freq_kind kind);
/*
 * The class of a customer with events matching events (>= 1) at rate events per period, given
 * the kind's thresholds (ascending): for buyers, one event is "one-time", else "regular" when
 * rate >= t[0], else "occasional"; for usage, "heavy" when rate >= t[1], "medium" when rate
 * >= t[0], else "light". The SQL that writes the classes (db/analysis_frequency.c) says the
 * same; this is its reference for the tests.
 */
const char *seg_freq_class(enum seg_freq_kind kind, const double *t, int64_t events, double rate);

/* The grid: edges from 1e-7 to 8e9; bin i is [edge i, edge i + 1), the last bin open-ended. */
#define SEG_FREQ_GRID_EXP_MIN (-7)
#define SEG_FREQ_GRID_EXP_MAX 9
#define SEG_FREQ_GRID_EDGES   (10 * (SEG_FREQ_GRID_EXP_MAX - SEG_FREQ_GRID_EXP_MIN + 1))
/* The grid's edges, ascending (SEG_FREQ_GRID_EDGES of them; each prints as its short decimal). */
const double *seg_freq_grid(void);
/*
 * The bin of rate: the last edge <= rate (0 below the first edge). As PostgreSQL's
 * width_bucket(rate, edges) - 1, clamped to 0.
 */
size_t seg_freq_bin(double rate);

/* One candidate threshold and its evidence. */
struct seg_freq_candidate {
	double threshold; /* the grid edge the threshold would be */
	/*
	 * The goodness of variance fit (1 - within-class / total squared error of the binned
	 * log-rates) of the best classification with a threshold here; 0..1, higher is a clearer
	 * break.
	 */
	double gvf;
};

struct seg_freq_suggestion {
	size_t nthresholds; /* 0: nothing to suggest (fewer occupied bins than classes) */
	double thresholds[2];
	double gvf;			       /* of the suggested thresholds */
	struct seg_freq_candidate *candidates; /* ascending; malloc'ed */
	size_t ncandidates;
};

/*
 * Suggests k (1 or 2) thresholds from counts[i], the customers in bin i of the grid
 * (SEG_FREQ_GRID_EDGES bins). Every customer of bin i counts at the bin's logarithmic middle
 * (the mean of log10 of its edges; the last bin's at its edge + 0.05). A threshold lies between
 * two occupied bins, so no class is empty; when the occupied bins are separated by empty
 * ones, it is the middle edge of that gap (the lower of two middles). The split with the least
 * within-class squared error wins; ties go to the lower thresholds. out is released with
 * seg_freq_suggestion_release.
 */
void seg_freq_suggest(const uint64_t *counts, size_t k, struct seg_freq_suggestion *out);
void seg_freq_suggestion_release(struct seg_freq_suggestion *s);

#endif

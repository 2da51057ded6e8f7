/*
 * Frequency classes and suggested thresholds (analytics/frequency.h; the method:
 * analytics/README.md "Frequency").
 */
#include "frequency.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static const char *const buyers[] = {"regular", "occasional", "one-time", NULL};
static const char *const usage[] = {"heavy", "medium", "light", NULL};

const char *const *seg_freq_classes(enum seg_freq_kind kind)
{
	return kind == SEG_FREQ_BUYERS ? buyers : usage;
}

size_t seg_freq_nthresholds(enum seg_freq_kind kind)
{
	return kind == SEG_FREQ_BUYERS ? 1 : 2;
}

const char *seg_freq_class(enum seg_freq_kind kind, const double *t, int64_t events, double rate)
{
	if (events < 1)
		return SEG_FREQ_NONE;
	if (kind == SEG_FREQ_BUYERS) {
		if (events == 1)
			return "one-time";
		return rate >= t[0] ? "regular" : "occasional";
	}
	if (rate >= t[1])
		return "heavy";
	return rate >= t[0] ? "medium" : "light";
}

/* --- the grid ---------------------------------------------------------------------------- */

static double grid[SEG_FREQ_GRID_EDGES];
static pthread_once_t grid_once = PTHREAD_ONCE_INIT;

static void grid_init(void)
{
	/* R10 preferred numbers in hundredths: each edge is the double nearest its decimal. */
	static const int r10[10] = {100, 125, 160, 200, 250, 315, 400, 500, 630, 800};
	size_t i = 0;
	for (int e = SEG_FREQ_GRID_EXP_MIN; e <= SEG_FREQ_GRID_EXP_MAX; e++)
		for (int j = 0; j < 10; j++) {
			char text[32];
			snprintf(text, sizeof text, "%de%d", r10[j], e - 2);
			grid[i++] = strtod(text, NULL);
		}
}

const double *seg_freq_grid(void)
{
	pthread_once(&grid_once, grid_init);
	return grid;
}

size_t seg_freq_bin(double rate)
{
	const double *g = seg_freq_grid();
	size_t lo = 0, hi = SEG_FREQ_GRID_EDGES; /* the answer is in [lo, hi) */
	if (!(rate >= g[0]))
		return 0;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (g[mid] <= rate)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* --- natural breaks ----------------------------------------------------------------------- */

/* The occupied bins, compacted, with prefix sums of weight, value and squared value. */
struct occ {
	size_t n;
	size_t *bin;	   /* grid bin of each occupied bin */
	double *w, *s, *q; /* prefix sums, n + 1 entries */
};

/* Squared error of the occupied bins [a, b) around their weighted mean. */
static double sse(const struct occ *o, size_t a, size_t b)
{
	double w = o->w[b] - o->w[a], s = o->s[b] - o->s[a], q = o->q[b] - o->q[a];
	double v;
	if (w <= 0)
		return 0;
	v = q - s * s / w;
	return v > 0 ? v : 0;
}

/* The threshold between occupied bins b - 1 and b: the middle edge of the gap between them. */
static double gap_edge(const struct occ *o, size_t b)
{
	size_t first = o->bin[b - 1] + 1, last = o->bin[b]; /* candidate edges first..last */
	return seg_freq_grid()[first + (last - first) / 2];
}

static double bin_value(size_t i)
{
	const double *g = seg_freq_grid();
	double lo = log10(g[i]);
	if (i + 1 < SEG_FREQ_GRID_EDGES)
		return (lo + log10(g[i + 1])) / 2;
	return lo + 0.05;
}

void seg_freq_suggest(const uint64_t *counts, size_t k, struct seg_freq_suggestion *out)
{
	struct occ o = {0};
	double total, best = INFINITY;
	size_t best_a = 0, best_b = 0;

	memset(out, 0, sizeof *out);
	o.bin = seg_calloc(SEG_FREQ_GRID_EDGES, sizeof *o.bin);
	o.w = seg_calloc(SEG_FREQ_GRID_EDGES + 1, sizeof *o.w);
	o.s = seg_calloc(SEG_FREQ_GRID_EDGES + 1, sizeof *o.s);
	o.q = seg_calloc(SEG_FREQ_GRID_EDGES + 1, sizeof *o.q);
	for (size_t i = 0; i < SEG_FREQ_GRID_EDGES; i++) {
		double w, v;
		if (!counts[i])
			continue;
		w = (double)counts[i];
		v = bin_value(i);
		o.bin[o.n] = i;
		o.w[o.n + 1] = o.w[o.n] + w;
		o.s[o.n + 1] = o.s[o.n] + w * v;
		o.q[o.n + 1] = o.q[o.n] + w * v * v;
		o.n++;
	}
	if ((k != 1 && k != 2) || o.n < k + 1)
		goto out;
	total = sse(&o, 0, o.n);
	if (!(total > 0))
		goto out;

	/* candidates[b - 1]: a threshold between occupied bins b - 1 and b */
	out->ncandidates = o.n - 1;
	out->candidates = seg_calloc(out->ncandidates, sizeof *out->candidates);
	for (size_t b = 1; b < o.n; b++) {
		out->candidates[b - 1].threshold = gap_edge(&o, b);
		out->candidates[b - 1].gvf = -1;
	}
	for (size_t a = 1; a < o.n; a++) {
		if (k == 1) {
			double w = sse(&o, 0, a) + sse(&o, a, o.n);
			out->candidates[a - 1].gvf = 1 - w / total;
			if (w < best) {
				best = w;
				best_a = a;
			}
			continue;
		}
		for (size_t b = a + 1; b < o.n; b++) {
			double w = sse(&o, 0, a) + sse(&o, a, b) + sse(&o, b, o.n);
			double g = 1 - w / total;
			if (g > out->candidates[a - 1].gvf)
				out->candidates[a - 1].gvf = g;
			if (g > out->candidates[b - 1].gvf)
				out->candidates[b - 1].gvf = g;
			if (w < best) {
				best = w;
				best_a = a;
				best_b = b;
			}
		}
	}
	/* (with n >= 3 every candidate takes part in some pair; this only guards the range) */
	for (size_t i = 0; i < out->ncandidates; i++)
		if (out->candidates[i].gvf < 0)
			out->candidates[i].gvf = 0;
	out->nthresholds = k;
	out->thresholds[0] = gap_edge(&o, best_a);
	if (k == 2)
		out->thresholds[1] = gap_edge(&o, best_b);
	out->gvf = 1 - best / total;
out:
	free(o.bin);
	free(o.w);
	free(o.s);
	free(o.q);
}

void seg_freq_suggestion_release(struct seg_freq_suggestion *s)
{
	if (!s)
		return;
	free(s->candidates);
	memset(s, 0, sizeof *s);
}

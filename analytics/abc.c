/*
 * ABC analysis (SPEC §6.1): the class of a customer from its cumulative value, the shares and
 * the Pareto curve of the result. The definition is in abc.h; analytics/README.md says why.
 */
#include "abc.h"

#include <string.h>

char seg_abc_class(double before, double total, double a, double b)
{
	if (before < a * total)
		return 'A';
	if (before < b * total)
		return 'B';
	return 'C';
}

bool seg_abc_curve_rank(long long rank, long long npos)
{
	if (rank < 1 || npos < 1 || rank > npos)
		return false;
	/* the smallest k whose ceil(k npos / 100) reaches rank, and whether it is rank itself */
	long long k = (rank - 1) * SEG_ABC_CURVE_STEPS / npos + 1;
	return (k * npos + SEG_ABC_CURVE_STEPS - 1) / SEG_ABC_CURVE_STEPS == rank;
}

static void seg__point(struct seg_abc_summary *out, double x, double y)
{
	if (out->ncurve >= SEG_ABC_CURVE_MAX)
		return;
	if (x > 1)
		x = 1;
	if (y > 1)
		y = 1;
	if (out->ncurve && out->curve[out->ncurve - 1][0] == x &&
	    out->curve[out->ncurve - 1][1] == y)
		return;
	out->curve[out->ncurve][0] = x;
	out->curve[out->ncurve][1] = y;
	out->ncurve++;
}

bool seg_abc_finish(struct seg_abc_summary *out, const struct seg_abc_sample *samples,
		    size_t nsamples)
{
	out->ncurve = 0;
	for (int c = 0; c < 3; c++) {
		struct seg_abc_class *k = &out->classes[c];
		k->empty = k->count == 0;
		if (k->empty)
			k->threshold = 0;
		k->share = out->customers > 0 ? (double)k->count / (double)out->customers : 0;
		k->value_share = 0;
	}
	if (!(out->total > 0) || out->customers < 1)
		return false;
	double n = (double)out->customers;
	for (int c = 0; c < 3; c++)
		out->classes[c].value_share = out->classes[c].value / out->total;
	seg__point(out, 0, 0);
	for (size_t i = 0; i < nsamples; i++)
		seg__point(out, (double)samples[i].rank / n, samples[i].cum / out->total);
	/* the last positive customer reaches the whole total; those without a value add none */
	seg__point(out, (double)out->scored / n, 1);
	seg__point(out, 1, 1);
	return true;
}

bool seg_abc_classify(const double *values, size_t n, double a, double b, char *classes,
		      struct seg_abc_summary *out)
{
	struct seg_abc_sample samples[SEG_ABC_CURVE_MAX];
	size_t ns = 0;
	double before = 0;
	long long npos = 0, rank = 0;

	memset(out, 0, sizeof(*out));
	out->customers = (long long)n;
	for (size_t i = 0; i < n; i++)
		if (values[i] > 0) {
			out->total += values[i];
			npos++;
		}
	out->scored = npos;
	for (size_t i = 0; i < n; i++) {
		char c = 'C';
		if (values[i] > 0 && out->total > 0) {
			rank++;
			c = seg_abc_class(before, out->total, a, b);
			before += values[i];
		}
		classes[i] = c;
		struct seg_abc_class *k = &out->classes[c - 'A'];
		double v = values[i] > 0 ? values[i] : 0;
		if (k->count == 0 || v < k->threshold)
			k->threshold = v;
		k->count++;
		k->value += v;
		/* a sampled rank, or the last of its class (the next one is of another class) */
		if (values[i] > 0 && out->total > 0 && ns < SEG_ABC_CURVE_MAX - 2) {
			bool last = i + 1 == n || !(values[i + 1] > 0) ||
				    seg_abc_class(before, out->total, a, b) != c;
			if (seg_abc_curve_rank(rank, npos) || (last && c != 'C'))
				samples[ns++] = (struct seg_abc_sample){rank, before};
		}
	}
	return seg_abc_finish(out, samples, ns);
}

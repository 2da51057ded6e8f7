/*
 * Unit tests of analytics/frequency.c: the grid, the classes, and the suggested thresholds on
 * hand-worked bins, on mixtures of Poisson populations whose breaks are known, on one
 * population, and on the degenerate cases (one customer, equal rates, nobody).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frequency.h"

#define NB SEG_FREQ_GRID_EDGES

static void test_grid(void **state)
{
	const double *g = seg_freq_grid();
	(void)state;
	for (size_t i = 1; i < NB; i++)
		assert_true(g[i - 1] < g[i]);
	assert_true(g[0] == 1e-7);
	assert_true(g[70] == 1.0);
	assert_true(g[71] == 1.25);
	assert_true(g[75] == 3.15);
	assert_true(g[62] == 0.16);
	assert_true(g[NB - 1] == 8e9);
	assert_int_equal(seg_freq_bin(1.0), 70);
	assert_int_equal(seg_freq_bin(1.2499999), 70);
	assert_int_equal(seg_freq_bin(1.25), 71);
	assert_int_equal(seg_freq_bin(0.0999), 59);
	assert_int_equal(seg_freq_bin(0.1), 60);
	assert_int_equal(seg_freq_bin(0), 0);
	assert_int_equal(seg_freq_bin(-1), 0);
	assert_int_equal(seg_freq_bin(NAN), 0);
	assert_int_equal(seg_freq_bin(1e30), NB - 1);
	for (size_t i = 0; i < NB; i++)
		assert_int_equal(seg_freq_bin(g[i]), i);
}

static void test_classes(void **state)
{
	const double t1[] = {2}, t2[] = {1, 5};
	(void)state;
	assert_int_equal(seg_freq_nthresholds(SEG_FREQ_BUYERS), 1);
	assert_int_equal(seg_freq_nthresholds(SEG_FREQ_USAGE), 2);
	assert_string_equal(seg_freq_classes(SEG_FREQ_BUYERS)[0], "regular");
	assert_string_equal(seg_freq_classes(SEG_FREQ_BUYERS)[2], "one-time");
	assert_null(seg_freq_classes(SEG_FREQ_BUYERS)[3]);
	assert_string_equal(seg_freq_classes(SEG_FREQ_USAGE)[0], "heavy");
	assert_null(seg_freq_classes(SEG_FREQ_USAGE)[3]);
	assert_string_equal(seg_freq_class(SEG_FREQ_BUYERS, t1, 0, 0), "none");
	/* one purchase is one-time whatever the rate */
	assert_string_equal(seg_freq_class(SEG_FREQ_BUYERS, t1, 1, 9), "one-time");
	assert_string_equal(seg_freq_class(SEG_FREQ_BUYERS, t1, 2, 2), "regular");
	assert_string_equal(seg_freq_class(SEG_FREQ_BUYERS, t1, 2, 1.99), "occasional");
	assert_string_equal(seg_freq_class(SEG_FREQ_USAGE, t2, 0, 0), "none");
	assert_string_equal(seg_freq_class(SEG_FREQ_USAGE, t2, 1, 0.5), "light");
	assert_string_equal(seg_freq_class(SEG_FREQ_USAGE, t2, 1, 1), "medium");
	assert_string_equal(seg_freq_class(SEG_FREQ_USAGE, t2, 9, 4.99), "medium");
	assert_string_equal(seg_freq_class(SEG_FREQ_USAGE, t2, 9, 5), "heavy");
}

static double mid(size_t i)
{
	const double *g = seg_freq_grid();
	return (log10(g[i]) + log10(g[i + 1])) / 2;
}

/* Worked by hand: 2 customers in [1, 1.25), 1 in [1.25, 1.6), 1 in [10, 12.5). */
static void test_hand_worked(void **state)
{
	uint64_t c[NB] = {0};
	struct seg_freq_suggestion s;
	double v0 = mid(70), v1 = mid(71), v2 = mid(80), m, sst, w1, w2;
	(void)state;
	c[70] = 2;
	c[71] = 1;
	c[80] = 1;
	m = (2 * v0 + v1 + v2) / 4;
	sst = 2 * (v0 - m) * (v0 - m) + (v1 - m) * (v1 - m) + (v2 - m) * (v2 - m);
	/* split after bin 70: {v0, v0} | {v1, v2}; after bin 71: {v0, v0, v1} | {v2} */
	w1 = (v1 - v2) * (v1 - v2) / 2;
	m = (2 * v0 + v1) / 3;
	w2 = 2 * (v0 - m) * (v0 - m) + (v1 - m) * (v1 - m);
	seg_freq_suggest(c, 1, &s);
	assert_int_equal(s.nthresholds, 1);
	assert_int_equal(s.ncandidates, 2);
	assert_true(s.candidates[0].threshold == 1.25); /* adjacent bins: the upper one's edge */
	assert_true(fabs(s.candidates[0].gvf - (1 - w1 / sst)) < 1e-12);
	/* the gap 1.6 .. 10: edges 72..80, the middle one is 76 (4) */
	assert_true(s.candidates[1].threshold == 4);
	assert_true(fabs(s.candidates[1].gvf - (1 - w2 / sst)) < 1e-12);
	assert_true(w2 < w1);
	assert_true(s.thresholds[0] == 4);
	assert_true(fabs(s.gvf - (1 - w2 / sst)) < 1e-12);
	seg_freq_suggestion_release(&s);

	/* two thresholds over three occupied bins: the only split, a perfect fit */
	seg_freq_suggest(c, 2, &s);
	assert_int_equal(s.nthresholds, 2);
	assert_true(s.thresholds[0] == 1.25);
	assert_true(s.thresholds[1] == 4);
	assert_true(fabs(s.gvf - 1) < 1e-12);
	assert_true(fabs(s.candidates[0].gvf - 1) < 1e-12);
	assert_true(fabs(s.candidates[1].gvf - 1) < 1e-12);
	seg_freq_suggestion_release(&s);

	/* a gap of an even number of edges takes the lower middle: bins 70 and 73, edges 71..73 */
	memset(c, 0, sizeof c);
	c[70] = 1;
	c[73] = 1;
	seg_freq_suggest(c, 1, &s);
	assert_true(s.thresholds[0] == 1.6);
	seg_freq_suggestion_release(&s);
	memset(c, 0, sizeof c);
	c[70] = 1;
	c[74] = 1; /* edges 71..74: 72 */
	seg_freq_suggest(c, 1, &s);
	assert_true(s.thresholds[0] == 1.6);
	seg_freq_suggestion_release(&s);
}

/* A deterministic generator (xorshift64*) and Knuth's Poisson sampler, for the mixtures. */
static uint64_t rng = 88172645463325252ULL;
static double uniform(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (double)((rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}
static int64_t poisson(double lambda)
{
	double l = exp(-lambda), p = 1;
	int64_t k = 0;
	if (lambda > 500) /* normal approximation for big means */
		return (int64_t)llround(lambda + sqrt(lambda) * sqrt(-2 * log(uniform() + 1e-300)) *
							 cos(2 * M_PI * uniform()));
	for (;;) {
		p *= uniform();
		if (p < l)
			return k;
		k++;
	}
}

/*
 * npop populations of n customers each, observed over periods periods, with the rates
 * given; customers with fewer than min_events events are left out (as one-time buyers).
 * Records each population's lowest and highest rate.
 */
static void mixture(const double *rates, size_t npop, size_t n, double periods, int64_t min_events,
		    uint64_t *c, double *lo, double *hi)
{
	memset(c, 0, NB * sizeof *c);
	for (size_t p = 0; p < npop; p++) {
		lo[p] = INFINITY;
		hi[p] = -INFINITY;
		for (size_t i = 0; i < n; i++) {
			int64_t k = poisson(rates[p] * periods);
			double r = (double)k / periods;
			if (k < min_events)
				continue;
			c[seg_freq_bin(r)]++;
			lo[p] = fmin(lo[p], r);
			hi[p] = fmax(hi[p], r);
		}
	}
}

static void test_two_populations(void **state)
{
	static const double rates[][2] = {{0.5, 5}, {0.2, 2.5}, {1, 12}, {0.1, 3}};
	uint64_t c[NB];
	double lo[2], hi[2];
	(void)state;
	for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
		struct seg_freq_suggestion s;
		mixture(rates[i], 2, 400, 12, 2, c, lo, hi);
		seg_freq_suggest(c, 1, &s);
		assert_int_equal(s.nthresholds, 1);
		/* every customer of the slow population is below, every one of the fast above */
		assert_true(hi[0] < s.thresholds[0]);
		assert_true(s.thresholds[0] <= lo[1]);
		assert_true(s.gvf > 0.8);
		seg_freq_suggestion_release(&s);
	}
}

static void test_three_populations(void **state)
{
	static const double rates[][3] = {{0.5, 4, 20}, {0.3, 3, 30}, {1, 6, 40}};
	uint64_t c[NB];
	double lo[3], hi[3];
	(void)state;
	for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
		struct seg_freq_suggestion s;
		mixture(rates[i], 3, 300, 12, 1, c, lo, hi);
		seg_freq_suggest(c, 2, &s);
		assert_int_equal(s.nthresholds, 2);
		assert_true(hi[0] < s.thresholds[0]);
		assert_true(s.thresholds[0] <= lo[1]);
		assert_true(hi[1] < s.thresholds[1]);
		assert_true(s.thresholds[1] <= lo[2]);
		assert_true(s.gvf > 0.9);
		/* the evidence: no candidate beats the thresholds chosen */
		for (size_t j = 0; j < s.ncandidates; j++) {
			assert_true(s.candidates[j].gvf <= s.gvf + 1e-12);
			if (j)
				assert_true(s.candidates[j - 1].threshold <
					    s.candidates[j].threshold);
		}
		seg_freq_suggestion_release(&s);
	}
	/* unequal sizes: a small heavy population (5%) is still found */
	{
		struct seg_freq_suggestion s;
		double r1[] = {0.3}, r2[] = {3}, r3[] = {30};
		uint64_t a[NB], b[NB], d[NB];
		double l1, h1, l2, h2, l3, h3;
		mixture(r1, 1, 300, 12, 1, a, &l1, &h1);
		mixture(r2, 1, 600, 12, 1, b, &l2, &h2);
		mixture(r3, 1, 50, 12, 1, d, &l3, &h3);
		for (size_t j = 0; j < NB; j++)
			c[j] = a[j] + b[j] + d[j];
		seg_freq_suggest(c, 2, &s);
		assert_int_equal(s.nthresholds, 2);
		assert_true(h1 < s.thresholds[0] && s.thresholds[0] <= l2);
		assert_true(h2 < s.thresholds[1] && s.thresholds[1] <= l3);
		seg_freq_suggestion_release(&s);
	}
}

/* One population: thresholds are still suggested, inside its range, with weaker evidence. */
static void test_single_population(void **state)
{
	static const double rate[] = {2}, two[] = {0.5, 5};
	uint64_t c[NB];
	double lo[2], hi[2];
	struct seg_freq_suggestion s, m;
	(void)state;
	mixture(rate, 1, 800, 12, 1, c, lo, hi);
	seg_freq_suggest(c, 1, &s);
	assert_int_equal(s.nthresholds, 1);
	assert_true(lo[0] < s.thresholds[0] && s.thresholds[0] <= hi[0]);
	mixture(two, 2, 400, 12, 1, c, lo, hi);
	seg_freq_suggest(c, 1, &m);
	assert_true(s.gvf < m.gvf - 0.1);
	seg_freq_suggestion_release(&s);
	seg_freq_suggestion_release(&m);
}

static void test_degenerate(void **state)
{
	uint64_t c[NB] = {0};
	struct seg_freq_suggestion s;
	(void)state;
	/* nobody */
	seg_freq_suggest(c, 1, &s);
	assert_int_equal(s.nthresholds, 0);
	assert_int_equal(s.ncandidates, 0);
	assert_null(s.candidates);
	seg_freq_suggestion_release(&s);
	/* one customer */
	c[seg_freq_bin(3)] = 1;
	seg_freq_suggest(c, 1, &s);
	assert_int_equal(s.nthresholds, 0);
	seg_freq_suggestion_release(&s);
	/* all at the same rate */
	c[seg_freq_bin(3)] = 1000;
	seg_freq_suggest(c, 1, &s);
	assert_int_equal(s.nthresholds, 0);
	seg_freq_suggestion_release(&s);
	/* two occupied bins: one threshold, not two */
	c[seg_freq_bin(30)] = 5;
	seg_freq_suggest(c, 2, &s);
	assert_int_equal(s.nthresholds, 0);
	seg_freq_suggestion_release(&s);
	seg_freq_suggest(c, 1, &s);
	assert_int_equal(s.nthresholds, 1);
	assert_true(fabs(s.gvf - 1) < 1e-12);
	assert_true(s.thresholds[0] > 3 && s.thresholds[0] <= 30);
	seg_freq_suggestion_release(&s);
	/* a bad k suggests nothing */
	seg_freq_suggest(c, 3, &s);
	assert_int_equal(s.nthresholds, 0);
	seg_freq_suggestion_release(&s);
	/* the open-ended last bin and the first bin count too */
	memset(c, 0, sizeof c);
	c[0] = 1;
	c[NB - 1] = 1;
	seg_freq_suggest(c, 1, &s);
	assert_int_equal(s.nthresholds, 1);
	seg_freq_suggestion_release(&s);
}

/*
 * CDNOW (real purchases, tests/data/cdnow): each repeat buyer's purchases per month from the
 * first purchase to 1998-07-01 (the log ends in June 1998). The threshold must split the
 * repeat buyers into two non-trivial groups, and beat every other candidate.
 */
static int64_t days_from_ymd(int y, int m, int d)
{
	/* days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's algorithm) */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void test_cdnow(void **state)
{
	FILE *f = fopen("tests/data/cdnow/CDNOW_master.txt", "r");
	char line[256];
	static int64_t first[30000], count[30000];
	uint64_t c[NB] = {0};
	size_t repeaters = 0, regular = 0, one_time = 0;
	int64_t asof = days_from_ymd(1998, 7, 1);
	struct seg_freq_suggestion s;
	(void)state;
	if (!f) {
		skip();
		return;
	}
	assert_non_null(fgets(line, sizeof line, f)); /* header */
	while (fgets(line, sizeof line, f)) {
		int id, date;
		if (sscanf(line, "%d %d", &id, &date) != 2)
			continue;
		assert_true(id > 0 && id < 30000);
		int64_t d = days_from_ymd(date / 10000, date / 100 % 100, date % 100);
		if (!count[id] || d < first[id])
			first[id] = d;
		count[id]++;
	}
	fclose(f);
	for (size_t id = 0; id < 30000; id++) {
		double periods;
		if (!count[id])
			continue;
		if (count[id] == 1) {
			one_time++;
			continue;
		}
		periods = fmax(1, (double)(asof - first[id]) * 86400 / (30.4375 * 86400));
		c[seg_freq_bin((double)count[id] / periods)]++;
		repeaters++;
	}
	assert_int_equal(one_time + repeaters, 23570);
	seg_freq_suggest(c, 1, &s);
	assert_int_equal(s.nthresholds, 1);
	for (size_t i = 0; i < s.ncandidates; i++)
		assert_true(s.candidates[i].gvf <= s.gvf);
	for (size_t i = seg_freq_bin(s.thresholds[0]); i < NB; i++)
		regular += c[i];
	/* a real split: neither class takes almost everyone */
	assert_true(regular > repeaters / 10 && regular < repeaters * 9 / 10);
	/* the value the method gives, as documented in analytics/README.md */
	assert_true(s.thresholds[0] == 0.25);
	seg_freq_suggestion_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grid),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_hand_worked),
		cmocka_unit_test(test_two_populations),
		cmocka_unit_test(test_three_populations),
		cmocka_unit_test(test_single_population),
		cmocka_unit_test(test_degenerate),
		cmocka_unit_test(test_cdnow),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

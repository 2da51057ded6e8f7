/*
 * Unit tests of analytics/kmeans.c and analytics/random.c: the generator's reference outputs and
 * sampling; scaling and its inverse; the fit against a plain Lloyd written here (same labels,
 * centres and iterations from the same initial centres: Hamerly's bounds change nothing), on
 * blobs, k = 1, k = n, duplicate points, k above the distinct points, one feature; NaN refused;
 * cancel; bit-identical results for 1, 2 and 3 threads; the silhouette, Davies-Bouldin and
 * Calinski-Harabasz against hand-worked figures; the auto sweep; profile and labels.
 * tests/analytics/test_kmeans.py compares the same engine with scikit-learn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "kmeans.h"
#include "random.h"

static void seg__close(double got, double want, double rel)
{
	if (!(fabs(got - want) <= rel * fabs(want) + 1e-300))
		fail_msg("%.17g differs from %.17g by more than %g relative", got, want, rel);
}

/* n points around k centres spaced 10 apart on a diagonal, sd 1, d features; truth[i] = blob */
static double *seg__blobs(size_t n, size_t d, size_t k, uint64_t seed, int32_t *truth)
{
	struct seg_rng r;
	double *x = malloc(n * d * sizeof *x);
	seg_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++) {
		size_t b = i % k;
		if (truth)
			truth[i] = (int32_t)b;
		for (size_t j = 0; j < d; j++)
			x[i * d + j] = 10.0 * (double)b * ((j % 2) ? 1 : -1) + seg_rng_normal(&r);
	}
	return x;
}

/* Plain Lloyd as scikit-learn's _kmeans_single_lloyd (no bounds), from centres c (k x d). */
static double seg__naive_lloyd(const double *x, size_t n, size_t d, size_t k, double *c,
			       int max_iter, double tolv, int32_t *labels, int *iters)
{
	int32_t *old = malloc(n * sizeof *old);
	double *nc = malloc(k * d * sizeof *nc);
	size_t *cnt = malloc(k * sizeof *cnt);
	bool strict = false;
	int it;
	for (size_t i = 0; i < n; i++)
		old[i] = -1;
	for (it = 0; it < max_iter; it++) {
		for (size_t i = 0; i < n; i++) {
			double best = INFINITY;
			for (size_t j = 0; j < k; j++) {
				double s = 0;
				for (size_t h = 0; h < d; h++)
					s += (x[i * d + h] - c[j * d + h]) *
					     (x[i * d + h] - c[j * d + h]);
				if (s < best) {
					best = s;
					labels[i] = (int32_t)j;
				}
			}
		}
		memset(nc, 0, k * d * sizeof *nc);
		memset(cnt, 0, k * sizeof *cnt);
		for (size_t i = 0; i < n; i++) {
			cnt[labels[i]]++;
			for (size_t h = 0; h < d; h++)
				nc[labels[i] * d + h] += x[i * d + h];
		}
		double shift = 0;
		for (size_t j = 0; j < k; j++) {
			assert_true(cnt[j] > 0); /* the data here never empty a cluster */
			for (size_t h = 0; h < d; h++) {
				nc[j * d + h] /= (double)cnt[j];
				shift += (nc[j * d + h] - c[j * d + h]) *
					 (nc[j * d + h] - c[j * d + h]);
			}
		}
		memcpy(c, nc, k * d * sizeof *c);
		if (memcmp(labels, old, n * sizeof *old) == 0) {
			strict = true;
			break;
		}
		if (shift <= tolv)
			break;
		memcpy(old, labels, n * sizeof *old);
	}
	if (!strict) {
		for (size_t i = 0; i < n; i++) {
			double best = INFINITY;
			for (size_t j = 0; j < k; j++) {
				double s = 0;
				for (size_t h = 0; h < d; h++)
					s += (x[i * d + h] - c[j * d + h]) *
					     (x[i * d + h] - c[j * d + h]);
				if (s < best) {
					best = s;
					labels[i] = (int32_t)j;
				}
			}
		}
	}
	*iters = it < max_iter ? it + 1 : max_iter;
	double inertia = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t h = 0; h < d; h++)
			inertia += (x[i * d + h] - c[labels[i] * d + h]) *
				   (x[i * d + h] - c[labels[i] * d + h]);
	free(old);
	free(nc);
	free(cnt);
	return inertia;
}

static void test_rng(void **state)
{
	struct seg_rng a, b;
	size_t idx[100];
	(void)state;
	/* the reference splitmix64 -> xoshiro256** stream for seed 0 (computed independently) */
	seg_rng_seed(&a, 0);
	assert_true(seg_rng_next(&a) == 0x99ec5f36cb75f2b4ULL);
	assert_true(seg_rng_next(&a) == 0xbf6e1f784956452aULL);
	seg_rng_seed(&a, 42);
	seg_rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++) {
		double u = seg_rng_uniform(&a);
		assert_true(u >= 0 && u < 1);
		assert_true(seg_rng_below(&b, 7) < 7);
	}
	/* a sample is sorted, distinct, complete, and uniform enough: each index about m/n */
	size_t hits[1000] = {0};
	for (int rep = 0; rep < 2000; rep++) {
		seg_rng_sample(&a, 1000, 100, idx);
		for (int i = 0; i < 100; i++) {
			assert_true(idx[i] < 1000);
			if (i)
				assert_true(idx[i] > idx[i - 1]);
			hits[idx[i]]++;
		}
	}
	for (int i = 0; i < 1000; i++)
		assert_true(hits[i] > 120 && hits[i] < 290); /* mean 200, sd 13.4 */
	seg_rng_sample(&a, 5, 5, idx);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(idx[i], i);
}

static void test_scale(void **state)
{
	double x[] = {1, 10, 5, 2, 20, 5, 3, 30, 5, 6, 40, 5};
	double orig[12], shift[3], scale[3];
	char err[128];
	(void)state;
	memcpy(orig, x, sizeof x);
	assert_int_equal(seg_kmeans_scale(x, 4, 3, SEG_KMEANS_SCALE_STANDARD, 2, shift, scale, err,
					  sizeof err),
			 SEG_KMEANS_OK);
	seg__close(shift[0], 3, 1e-15);
	seg__close(scale[0], sqrt(3.5), 1e-15);	     /* population: (4 + 1 + 0 + 9) / 4 */
	assert_true(shift[2] == 5 && scale[2] == 1); /* constant: scale 1, becomes 0 */
	for (int i = 0; i < 4; i++)
		assert_true(x[i * 3 + 2] == 0);
	double m = 0, v = 0;
	for (int i = 0; i < 4; i++)
		m += x[i * 3 + 1];
	for (int i = 0; i < 4; i++)
		v += x[i * 3 + 1] * x[i * 3 + 1];
	assert_true(fabs(m) < 1e-12);
	seg__close(v / 4, 1, 1e-12);
	seg_kmeans_unscale(x, 4, 3, shift, scale);
	for (int i = 0; i < 12; i++)
		seg__close(x[i], orig[i], 1e-14);

	assert_int_equal(seg_kmeans_scale(x, 4, 3, SEG_KMEANS_SCALE_MINMAX, 1, shift, scale, err,
					  sizeof err),
			 SEG_KMEANS_OK);
	assert_true(x[0] == 0 && x[9] == 1 && x[1] == 0 && x[10] == 1);
	seg__close(x[3], 0.2, 1e-15);
	assert_true(scale[2] == 1 && x[2] == 0);

	double bad[] = {1, 2, 3, NAN};
	assert_int_equal(seg_kmeans_scale(bad, 2, 2, SEG_KMEANS_SCALE_NONE, 1, shift, scale, err,
					  sizeof err),
			 SEG_KMEANS_INVALID);
	assert_string_equal(err, "feature 1 of row 1 is not a finite number");
}

/* The fit from given centres equals plain Lloyd: same labels, centres, iterations, inertia. */
static void test_fit_matches_plain_lloyd(void **state)
{
	size_t n = 3000, d = 5, k = 6;
	int32_t *want = malloc(n * sizeof *want);
	double *x = seg__blobs(n, d, 4, 7, NULL); /* 4 blobs, 6 clusters: they must split */
	double *c = malloc(k * d * sizeof *c), *init = malloc(k * d * sizeof *init);
	struct seg_kmeans_params p;
	struct seg_kmeans_result r;
	char err[128];
	(void)state;
	for (size_t j = 0; j < k; j++)
		memcpy(init + j * d, x + (j * 37) * d, d * sizeof *x);
	for (int tolcase = 0; tolcase < 2; tolcase++) {
		double mean[5] = {0}, var = 0;
		for (size_t i = 0; i < n; i++)
			for (size_t h = 0; h < d; h++)
				mean[h] += x[i * d + h] / (double)n;
		for (size_t i = 0; i < n; i++)
			for (size_t h = 0; h < d; h++)
				var += (x[i * d + h] - mean[h]) * (x[i * d + h] - mean[h]) /
				       (double)n;
		double tol = tolcase ? 1e-4 : 0;
		int iters;
		memcpy(c, init, k * d * sizeof *c);
		double inertia =
			seg__naive_lloyd(x, n, d, k, c, 300, var / (double)d * tol, want, &iters);
		seg_kmeans_params_init(&p);
		p.k = k;
		p.n_init = 1;
		p.tol = tol;
		p.init = init;
		assert_int_equal(seg_kmeans_fit(x, n, d, &p, &r, err, sizeof err), SEG_KMEANS_OK);
		assert_int_equal(r.iterations, iters);
		assert_memory_equal(r.labels, want, n * sizeof *want);
		for (size_t i = 0; i < k * d; i++)
			seg__close(r.centroids[i], c[i], 1e-12);
		seg__close(r.inertia, inertia, 1e-12);
		assert_true(r.converged);
		seg_kmeans_result_release(&r);
	}
	free(want);
	free(x);
	free(c);
	free(init);
}

static void test_fit_blobs(void **state)
{
	size_t n = 2000, d = 3, k = 4;
	int32_t *truth = malloc(n * sizeof *truth);
	double *x = seg__blobs(n, d, k, 11, truth);
	struct seg_kmeans_params p;
	struct seg_kmeans_result r;
	char err[128];
	(void)state;
	seg_kmeans_params_init(&p);
	p.k = k;
	p.seed = 3;
	assert_int_equal(seg_kmeans_fit(x, n, d, &p, &r, err, sizeof err), SEG_KMEANS_OK);
	/* each true blob maps to one cluster, and different blobs to different clusters */
	int32_t map[4] = {-1, -1, -1, -1};
	for (size_t i = 0; i < n; i++) {
		if (map[truth[i]] < 0)
			map[truth[i]] = r.labels[i];
		assert_int_equal(r.labels[i], map[truth[i]]);
	}
	for (int a = 0; a < 4; a++)
		for (int b = a + 1; b < 4; b++)
			assert_int_not_equal(map[a], map[b]);
	for (size_t j = 0; j < k; j++)
		assert_int_equal(r.sizes[j], n / k);
	/* inertia is the sum of squared distances to the centroids, which are the means */
	double inertia = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t h = 0; h < d; h++) {
			double t = x[i * d + h] - r.centroids[r.labels[i] * d + h];
			inertia += t * t;
		}
	seg__close(r.inertia, inertia, 1e-12);
	assert_true(r.inertia / (double)n < 3.5); /* about d = 3 per point: unit variance */
	seg_kmeans_result_release(&r);
	free(truth);
	free(x);
}

static void test_fit_edges(void **state)
{
	struct seg_kmeans_params p;
	struct seg_kmeans_result r;
	char err[160];
	double x[] = {1, 2, 3, 4, 10, 20, 1, 2, 3, 4, 10, 20}; /* 6 points, 2 features */
	(void)state;
	seg_kmeans_params_init(&p);

	/* k = 1: the mean, inertia the total sum of squares */
	p.k = 1;
	assert_int_equal(seg_kmeans_fit(x, 6, 2, &p, &r, err, sizeof err), SEG_KMEANS_OK);
	seg__close(r.centroids[0], 14.0 / 3, 1e-15);
	seg__close(r.centroids[1], 26.0 / 3, 1e-15);
	double tss = 0;
	for (int i = 0; i < 6; i++)
		tss += pow(x[2 * i] - 14.0 / 3, 2) + pow(x[2 * i + 1] - 26.0 / 3, 2);
	seg__close(r.inertia, tss, 1e-14);
	assert_int_equal(r.sizes[0], 6);
	seg_kmeans_result_release(&r);

	/* k = distinct points = 3, with duplicates: every point on a centre */
	p.k = 3;
	assert_int_equal(seg_kmeans_fit(x, 6, 2, &p, &r, err, sizeof err), SEG_KMEANS_OK);
	assert_true(r.inertia == 0);
	assert_int_equal(r.labels[0], r.labels[3]);
	assert_int_equal(r.labels[1], r.labels[4]);
	assert_int_equal(r.labels[2], r.labels[5]);
	assert_int_equal(r.sizes[0] + r.sizes[1] + r.sizes[2], 6);
	seg_kmeans_result_release(&r);

	/* k > distinct points: refused, with how many there are */
	p.k = 4;
	assert_int_equal(seg_kmeans_fit(x, 6, 2, &p, &r, err, sizeof err), SEG_KMEANS_TOO_FEW);
	assert_string_equal(
		err, "the data have only 3 distinct points: fewer than the 4 clusters asked for");
	assert_null(r.labels);

	/* k = n with distinct points: each its own cluster */
	double y[] = {5, 1, 4, 2, 3};
	p.k = 5;
	assert_int_equal(seg_kmeans_fit(y, 5, 1, &p, &r, err, sizeof err), SEG_KMEANS_OK);
	assert_true(r.inertia == 0);
	for (size_t j = 0; j < 5; j++)
		assert_int_equal(r.sizes[j], 1);
	for (size_t i = 0; i < 5; i++)
		assert_true(r.centroids[r.labels[i]] == y[i]);
	seg_kmeans_result_release(&r);

	/* one feature: 1..10 and 101..110 split in the middle */
	double z[20];
	for (int i = 0; i < 10; i++) {
		z[i] = i + 1;
		z[10 + i] = 101 + i;
	}
	p.k = 2;
	assert_int_equal(seg_kmeans_fit(z, 20, 1, &p, &r, err, sizeof err), SEG_KMEANS_OK);
	for (int i = 1; i < 20; i++)
		assert_int_equal(r.labels[i] == r.labels[0], i < 10);
	seg__close(r.centroids[r.labels[0]], 5.5, 1e-15);
	seg__close(r.centroids[r.labels[10]], 105.5, 1e-15);
	seg__close(r.inertia, 2 * 82.5, 1e-14);
	seg_kmeans_result_release(&r);

	/* k > n, k = 0, bad params, NaN */
	p.k = 7;
	assert_int_equal(seg_kmeans_fit(y, 5, 1, &p, &r, err, sizeof err), SEG_KMEANS_TOO_FEW);
	assert_string_equal(err, "5 points cannot make 7 clusters");
	p.k = 0;
	assert_int_equal(seg_kmeans_fit(y, 5, 1, &p, &r, err, sizeof err), SEG_KMEANS_INVALID);
	p.k = 2;
	p.threads = 0;
	assert_int_equal(seg_kmeans_fit(y, 5, 1, &p, &r, err, sizeof err), SEG_KMEANS_INVALID);
	p.threads = 1;
	p.init = y;
	assert_int_equal(seg_kmeans_fit(y, 5, 1, &p, &r, err, sizeof err), SEG_KMEANS_INVALID);
	assert_string_equal(err, "initial centres are given: n_init must be 1");
	p.init = NULL;
	y[3] = NAN;
	assert_int_equal(seg_kmeans_fit(y, 5, 1, &p, &r, err, sizeof err), SEG_KMEANS_INVALID);
	assert_string_equal(err, "feature 0 of row 3 is not a finite number");
	y[3] = INFINITY;
	assert_int_equal(seg_kmeans_fit(y, 5, 1, &p, &r, err, sizeof err), SEG_KMEANS_INVALID);
	assert_null(r.labels);
}

/* An empty cluster takes the farthest point: the two initial centres far right of all data. */
static void test_empty_cluster(void **state)
{
	double x[] = {0, 1, 2, 10, 11, 12};
	double init[] = {100, 200};
	struct seg_kmeans_params p;
	struct seg_kmeans_result r;
	char err[160];
	(void)state;
	seg_kmeans_params_init(&p);
	p.k = 2;
	p.n_init = 1;
	p.init = init;
	assert_int_equal(seg_kmeans_fit(x, 6, 1, &p, &r, err, sizeof err), SEG_KMEANS_OK);
	assert_int_equal(r.sizes[0], 3);
	assert_int_equal(r.sizes[1], 3);
	seg__close(r.inertia, 4, 1e-15);
	seg_kmeans_result_release(&r);
}

struct seg__counter {
	int calls, stop_at;
	double last;
};

static bool seg__count_tick(void *ctx, double f)
{
	struct seg__counter *c = ctx;
	assert_true(f >= c->last - 1e-15 && f <= 1);
	c->last = f;
	return ++c->calls < c->stop_at;
}

static void test_cancel(void **state)
{
	size_t n = 3000, d = 4;
	double *x = seg__blobs(n, d, 5, 5, NULL);
	struct seg_kmeans_params p;
	struct seg_kmeans_result r;
	struct seg_kmeans_candidate cands[4];
	struct seg__counter cnt = {0, 1000000, 0};
	char err[160];
	(void)state;
	seg_kmeans_params_init(&p);
	p.k = 5;
	p.n_init = 3;
	p.tick = seg__count_tick;
	p.tick_ctx = &cnt;
	assert_int_equal(seg_kmeans_fit(x, n, d, &p, &r, err, sizeof err), SEG_KMEANS_OK);
	int total = cnt.calls;
	assert_true(total >= 3 * 4); /* at least each k-means++ centre of each run */
	seg_kmeans_result_release(&r);
	for (int stop = 1; stop <= total; stop += total / 5 + 1) {
		struct seg__counter c2 = {0, stop, 0};
		p.tick_ctx = &c2;
		assert_int_equal(seg_kmeans_fit(x, n, d, &p, &r, err, sizeof err),
				 SEG_KMEANS_CANCELLED);
		assert_int_equal(c2.calls, stop);
		assert_null(r.labels);
		assert_null(r.centroids);
	}
	struct seg__counter c3 = {0, 3, 0};
	p.tick_ctx = &c3;
	assert_int_equal(seg_kmeans_auto(x, n, d, &p, 2, 5, 500, cands, &r, err, sizeof err),
			 SEG_KMEANS_CANCELLED);
	assert_null(r.labels);
	free(x);
}

/* 1, 2 and 3 threads: the same bits (several chunks: n well above the chunk size). */
static void test_threads_identical(void **state)
{
	size_t n = 7000, d = 6;
	double *x = seg__blobs(n, d, 5, 9, NULL);
	struct seg_kmeans_params p;
	struct seg_kmeans_result r[3];
	struct seg_kmeans_candidate c[3][3];
	double sil[3], db[3], ch[3];
	size_t sample[700];
	char err[160];
	(void)state;
	seg_kmeans_params_init(&p);
	p.k = 5;
	p.n_init = 3;
	p.seed = 123;
	seg_kmeans_sample(5, n, 700, sample);
	for (int t = 0; t < 3; t++) {
		p.threads = t + 1;
		assert_int_equal(seg_kmeans_fit(x, n, d, &p, &r[t], err, sizeof err),
				 SEG_KMEANS_OK);
		assert_int_equal(seg_kmeans_silhouette(x, n, d, r[t].labels, 5, sample, 700, t + 1,
						       NULL, NULL, &sil[t], err, sizeof err),
				 SEG_KMEANS_OK);
		assert_int_equal(seg_kmeans_scores(x, n, d, r[t].labels, 5, t + 1, &db[t], &ch[t],
						   err, sizeof err),
				 SEG_KMEANS_OK);
	}
	for (int t = 1; t < 3; t++) {
		assert_memory_equal(r[t].labels, r[0].labels, n * sizeof(int32_t));
		assert_memory_equal(r[t].centroids, r[0].centroids, 5 * d * sizeof(double));
		assert_memory_equal(&r[t].inertia, &r[0].inertia, sizeof(double));
		assert_int_equal(r[t].iterations, r[0].iterations);
		assert_memory_equal(&sil[t], &sil[0], sizeof(double));
		assert_memory_equal(&db[t], &db[0], sizeof(double));
		assert_memory_equal(&ch[t], &ch[0], sizeof(double));
	}
	for (int t = 0; t < 3; t++)
		seg_kmeans_result_release(&r[t]);
	for (int t = 0; t < 3; t++) {
		p.threads = t + 1;
		assert_int_equal(
			seg_kmeans_auto(x, n, d, &p, 3, 5, 400, c[t], &r[t], err, sizeof err),
			SEG_KMEANS_OK);
	}
	for (int t = 1; t < 3; t++) {
		assert_memory_equal(c[t], c[0], sizeof c[0]);
		assert_memory_equal(r[t].labels, r[0].labels, n * sizeof(int32_t));
	}
	for (int t = 0; t < 3; t++)
		seg_kmeans_result_release(&r[t]);
	free(x);
}

/*
 * By hand: points 0, 1 (cluster 0) and 10, 11 (cluster 1) on a line.
 * Silhouette: a = 1 for all, b = 10.5, 9.5, 9.5, 10.5 -> s = 9.5/10.5, 8.5/9.5 (twice each).
 * Davies-Bouldin: S = 0.5 each, M = 10 -> 0.1. Calinski-Harabasz: between 4 * 25 = 100, within
 * 4 * 0.25 = 1 -> 100 * (4 - 2) / (1 * 1) = 200.
 */
static void test_quality_by_hand(void **state)
{
	double x[] = {0, 10, 1, 11};
	int32_t lab[] = {0, 1, 0, 1};
	size_t all[] = {0, 1, 2, 3};
	double s, db, ch;
	char err[160];
	(void)state;
	assert_int_equal(
		seg_kmeans_silhouette(x, 4, 1, lab, 2, all, 4, 1, NULL, NULL, &s, err, sizeof err),
		SEG_KMEANS_OK);
	seg__close(s, (9.5 / 10.5 + 8.5 / 9.5) / 2, 1e-15);
	assert_int_equal(seg_kmeans_scores(x, 4, 1, lab, 2, 1, &db, &ch, err, sizeof err),
			 SEG_KMEANS_OK);
	seg__close(db, 0.1, 1e-15);
	seg__close(ch, 200, 1e-15);

	/* a point alone in its cluster has silhouette 0; unused label numbers are no clusters */
	double y[] = {0, 1, 10};
	int32_t lab2[] = {3, 3, 0};
	size_t three[] = {0, 1, 2};
	assert_int_equal(seg_kmeans_silhouette(y, 3, 1, lab2, 5, three, 3, 2, NULL, NULL, &s, err,
					       sizeof err),
			 SEG_KMEANS_OK);
	seg__close(s, (9.0 / 10 + 8.0 / 9) / 3, 1e-15);

	/* undefined: one cluster, or as many clusters as points */
	int32_t one[] = {0, 0, 0, 0};
	assert_int_equal(
		seg_kmeans_silhouette(x, 4, 1, one, 1, all, 4, 1, NULL, NULL, &s, err, sizeof err),
		SEG_KMEANS_UNDEFINED);
	assert_int_equal(seg_kmeans_scores(x, 4, 1, one, 3, 1, &db, &ch, err, sizeof err),
			 SEG_KMEANS_UNDEFINED);
	int32_t each[] = {0, 1, 2, 3};
	assert_int_equal(seg_kmeans_scores(x, 4, 1, each, 4, 1, &db, &ch, err, sizeof err),
			 SEG_KMEANS_UNDEFINED);
	int32_t bad[] = {0, 1, 2, 0};
	assert_int_equal(seg_kmeans_scores(x, 4, 1, bad, 2, 1, &db, &ch, err, sizeof err),
			 SEG_KMEANS_INVALID);
	assert_string_equal(err, "the label of row 2 is not a cluster 0..1");
}

static void test_auto(void **state)
{
	size_t n = 2400, d = 4;
	double *x = seg__blobs(n, d, 4, 21, NULL);
	struct seg_kmeans_params p;
	struct seg_kmeans_result r;
	struct seg_kmeans_candidate c[6];
	char err[160];
	(void)state;
	seg_kmeans_params_init(&p);
	p.n_init = 3;
	assert_int_equal(seg_kmeans_auto(x, n, d, &p, 2, 7, 600, c, &r, err, sizeof err),
			 SEG_KMEANS_OK);
	assert_int_equal(r.k, 4);
	for (int t = 0; t < 6; t++) {
		assert_int_equal(c[t].k, 2 + t);
		assert_int_equal(c[t].status, SEG_KMEANS_OK);
		if (t != 2)
			assert_true(c[t].silhouette < c[2].silhouette);
		assert_true(c[t].inertia > 0 && c[t].calinski_harabasz > 0);
	}
	seg__close(c[2].inertia, r.inertia, 0);
	seg_kmeans_result_release(&r);

	/* three distinct values: k = 2 and 3 are scored, 4 and 5 cannot be made */
	double y[] = {0, 0, 0, 5, 5, 5, 9, 9, 9, 9};
	assert_int_equal(seg_kmeans_auto(y, 10, 1, &p, 2, 5, 100, c, &r, err, sizeof err),
			 SEG_KMEANS_OK);
	assert_int_equal(c[0].status, SEG_KMEANS_OK);
	assert_int_equal(c[1].status, SEG_KMEANS_OK); /* k = 3: each value its cluster */
	assert_int_equal(c[2].status, SEG_KMEANS_TOO_FEW);
	assert_int_equal(c[3].status, SEG_KMEANS_TOO_FEW);
	assert_int_equal(r.k, 3);
	seg_kmeans_result_release(&r);
	double same[] = {1, 1, 1, 1, 1};
	assert_int_equal(seg_kmeans_auto(same, 5, 1, &p, 2, 3, 100, c, &r, err, sizeof err),
			 SEG_KMEANS_TOO_FEW);
	free(x);
}

static void test_profile_and_label(void **state)
{
	/* income, age: two groups; scaled, then the profile maps back to own units */
	double raw[] = {100, 20, 110, 30, 90, 40, 10, 50, 12, 60, 14, 70};
	double x[12], shift[2], scale[2];
	const char *names[] = {"income", "age"};
	struct seg_kmeans_params p;
	struct seg_kmeans_result r;
	struct seg_kmeans_profile pr;
	char err[160], label[64];
	(void)state;
	memcpy(x, raw, sizeof raw);
	assert_int_equal(seg_kmeans_scale(x, 6, 2, SEG_KMEANS_SCALE_MINMAX, 1, shift, scale, err,
					  sizeof err),
			 SEG_KMEANS_OK);
	seg_kmeans_params_init(&p);
	p.k = 2;
	assert_int_equal(seg_kmeans_fit(x, 6, 2, &p, &r, err, sizeof err), SEG_KMEANS_OK);
	assert_int_equal(seg_kmeans_profile(x, 6, 2, &r, shift, scale, 2, &pr, err, sizeof err),
			 SEG_KMEANS_OK);
	size_t rich = (size_t)r.labels[0];
	seg__close(pr.mean[rich * 2], 100, 1e-14);
	seg__close(pr.mean[rich * 2 + 1], 30, 1e-14);
	seg__close(pr.overall_mean[0], 56, 1e-14);
	seg__close(pr.overall_mean[1], 45, 1e-14);
	double sd0 = sqrt((44 * 44 + 54 * 54 + 34 * 34 + 46 * 46 + 44 * 44 + 42 * 42) / 6.0);
	seg__close(pr.overall_sd[0], sd0, 1e-14);
	seg__close(pr.z[rich * 2], 44 / sd0, 1e-13);
	seg__close(pr.z[rich * 2 + 1], -15 / sqrt(1750 / 6.0), 1e-13); /* |z| 0.88 < 1.0 */
	seg_kmeans_label(pr.z + rich * 2, 2, names, SEG_KMEANS_LABEL_Z, label, sizeof label);
	assert_string_equal(label, "income high, age low");
	seg_kmeans_label(pr.z + (1 - rich) * 2, 2, names, SEG_KMEANS_LABEL_Z, label, sizeof label);
	assert_string_equal(label, "income low, age high");
	seg_kmeans_profile_release(&pr);
	seg_kmeans_result_release(&r);

	const char *four[] = {"a", "b", "c", "d"};
	double z1[] = {0.2, -0.7, 0.7, 2};
	assert_int_equal(seg_kmeans_label(z1, 4, four, 0.5, label, sizeof label), 13);
	assert_string_equal(label, "d high, b low"); /* b before c on the tie */
	double z2[] = {0.2, -0.1, 0.49, 0};
	seg_kmeans_label(z2, 4, four, 0.5, label, sizeof label);
	assert_string_equal(label, "average");
	double z3[] = {0.2, -0.6, 0.1, 0};
	seg_kmeans_label(z3, 4, four, 0.5, label, sizeof label);
	assert_string_equal(label, "b low");
	double z4[] = {1, 3, 2, 5};
	seg_kmeans_label(z4, 4, four, 0.5, label, 5);
	assert_string_equal(label, "d hi"); /* cut, terminated */
}

/* Points along (1, 2, 2)/3 with a little noise across: the first axis is that direction. */
static void test_projection(void **state)
{
	size_t n = 3000, d = 3;
	double *x = malloc(n * d * sizeof *x);
	int32_t *lab = malloc(n * sizeof *lab);
	struct seg_rng r;
	struct seg_kmeans_projection pj[3];
	char err[160];
	(void)state;
	seg_rng_seed(&r, 1);
	for (size_t i = 0; i < n; i++) {
		double t = 10 * seg_rng_normal(&r), e = 0.1 * seg_rng_normal(&r);
		x[i * 3] = 5 + t / 3;
		x[i * 3 + 1] = -1 + 2 * t / 3 + e;
		x[i * 3 + 2] = 2 * t / 3 - e;
		lab[i] = t > 0;
	}
	for (int t = 0; t < 3; t++)
		assert_int_equal(
			seg_kmeans_project(x, n, d, lab, 400, 7, t + 1, &pj[t], err, sizeof err),
			SEG_KMEANS_OK);
	assert_int_equal(pj[0].m, 400);
	assert_int_equal(pj[0].ncomp, 2);
	seg__close(pj[0].components[0], 1.0 / 3, 1e-3);
	seg__close(pj[0].components[1], 2.0 / 3, 1e-3);
	seg__close(pj[0].components[2], 2.0 / 3, 1e-3);
	/* the second axis is the noise direction (0, 1, -1)/sqrt 2, largest entry positive */
	seg__close(fabs(pj[0].components[4]), sqrt(0.5), 1e-3);
	assert_true(pj[0].explained[0] > 0.999 && pj[0].explained[1] > 0);
	seg__close(pj[0].explained[0] + pj[0].explained[1], 1, 1e-12);
	for (size_t i = 0; i < pj[0].m; i++) {
		size_t row = pj[0].index[i];
		double p = 0;
		for (size_t j = 0; j < d; j++)
			p += (x[row * d + j] - pj[0].mean[j]) * pj[0].components[j];
		seg__close(pj[0].points[i * 2], p, 1e-12);
		assert_int_equal(pj[0].cluster[i], lab[row]);
		if (i)
			assert_true(pj[0].index[i] > pj[0].index[i - 1]);
	}
	for (int t = 1; t < 3; t++) {
		assert_memory_equal(pj[t].components, pj[0].components, 2 * d * sizeof(double));
		assert_memory_equal(pj[t].points, pj[0].points, 400 * 2 * sizeof(double));
	}
	for (int t = 0; t < 3; t++)
		seg_kmeans_projection_release(&pj[t]);
	/* one feature: one axis, y = 0; more points asked than there are: all of them */
	assert_int_equal(seg_kmeans_project(x, 5, 1, NULL, 10, 7, 1, &pj[0], err, sizeof err),
			 SEG_KMEANS_OK);
	assert_int_equal(pj[0].ncomp, 1);
	assert_int_equal(pj[0].m, 5);
	assert_true(pj[0].components[0] == 1 && pj[0].explained[0] == 1);
	assert_true(pj[0].points[1] == 0 && pj[0].cluster[0] == -1);
	seg_kmeans_projection_release(&pj[0]);
	x[4] = NAN;
	assert_int_equal(seg_kmeans_project(x, n, d, lab, 10, 7, 1, &pj[0], err, sizeof err),
			 SEG_KMEANS_INVALID);
	assert_null(pj[0].points);
	free(x);
	free(lab);
}

/* The whole analysis in one call: everything consistent with the pieces; assign; cancel. */
static void test_analyse(void **state)
{
	size_t n = 3000, d = 3;
	double *x = seg__blobs(n, d, 4, 31, NULL), *raw = malloc(n * d * sizeof *raw);
	const char *names[] = {"income", "age", "visits"};
	struct seg_kmeans_analysis_params p;
	struct seg_kmeans_analysis a;
	char err[160];
	(void)state;
	for (size_t i = 0; i < n * d; i++)
		x[i] = x[i] * (1 + (double)(i % d) * 10) + 100; /* features in different units */
	memcpy(raw, x, n * d * sizeof *raw);
	seg_kmeans_analysis_params_init(&p);
	p.auto_k = true;
	p.k_min = 2;
	p.k_max = 6;
	p.fit.n_init = 3;
	p.fit.threads = 2;
	p.silhouette_sample = 800;
	p.projection_points = 300;
	assert_int_equal(seg_kmeans_analyse(x, n, d, names, &p, &a, err, sizeof err),
			 SEG_KMEANS_OK);
	assert_int_equal(a.k, 4);
	assert_int_equal(a.ncandidates, 5);
	assert_true(a.has_quality);
	assert_true(a.silhouette == a.candidates[2].silhouette && a.silhouette > 0.5);
	assert_true(a.davies_bouldin > 0 && a.calinski_harabasz > 0);
	assert_int_equal(a.projection.m, 300);
	size_t sizes = 0;
	for (size_t c = 0; c < a.k; c++) {
		sizes += a.fit.sizes[c];
		assert_non_null(a.labels[c]);
		char want[64];
		seg_kmeans_label(a.profile.z + c * d, d, names, SEG_KMEANS_LABEL_Z, want,
				 sizeof want);
		assert_string_equal(a.labels[c], want);
		for (size_t j = 0; j < d; j++)
			seg__close(a.centroids[c * d + j],
				   a.fit.centroids[c * d + j] * a.scale[j] + a.shift[j], 1e-15);
	}
	assert_int_equal(sizes, n);
	/* x was scaled in place; each raw row, assigned, lands in its own cluster */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(
			seg_kmeans_assign(raw + i * d, d, a.fit.centroids, a.k, a.shift, a.scale),
			a.fit.labels[i]);
	double bad[3] = {1, NAN, 2};
	assert_int_equal(seg_kmeans_assign(bad, d, a.fit.centroids, a.k, a.shift, a.scale), -1);
	seg_kmeans_analysis_release(&a);
	assert_null(a.labels);

	/* k given, k = 1: no quality figures, the rest there */
	memcpy(x, raw, n * d * sizeof *x);
	p.auto_k = false;
	p.fit.k = 1;
	assert_int_equal(seg_kmeans_analyse(x, n, d, names, &p, &a, err, sizeof err),
			 SEG_KMEANS_OK);
	assert_false(a.has_quality);
	assert_int_equal(a.ncandidates, 1);
	assert_int_equal(a.candidates[0].status, SEG_KMEANS_UNDEFINED);
	assert_string_equal(a.labels[0], "average");
	seg_kmeans_analysis_release(&a);

	/* cancelled part way: nothing left */
	struct seg__counter cnt = {0, 25, 0};
	memcpy(x, raw, n * d * sizeof *x);
	p.auto_k = true;
	p.fit.tick = seg__count_tick;
	p.fit.tick_ctx = &cnt;
	assert_int_equal(seg_kmeans_analyse(x, n, d, names, &p, &a, err, sizeof err),
			 SEG_KMEANS_CANCELLED);
	assert_null(a.candidates);
	assert_null(a.fit.labels);
	free(x);
	free(raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng),
		cmocka_unit_test(test_scale),
		cmocka_unit_test(test_fit_matches_plain_lloyd),
		cmocka_unit_test(test_fit_blobs),
		cmocka_unit_test(test_fit_edges),
		cmocka_unit_test(test_empty_cluster),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_threads_identical),
		cmocka_unit_test(test_quality_by_hand),
		cmocka_unit_test(test_auto),
		cmocka_unit_test(test_profile_and_label),
		cmocka_unit_test(test_projection),
		cmocka_unit_test(test_analyse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

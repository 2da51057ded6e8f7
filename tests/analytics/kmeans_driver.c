/*
 * The k-means engine (analytics/kmeans.h) as a small program for tests/analytics/test_kmeans.py
 * (and bench/kmeans.sh): binary matrices on stdin, one JSON document on stdout.
 *
 *   analytics_kmeans fit N D K N_INIT MAX_ITER TOL SEED THREADS SCALING HAS_INIT M
 *       stdin: X (N x D float64, row-major), then the K x D initial centres if HAS_INIT is 1,
 *       then M int64 sample indices for the silhouette (M = 0: no quality figures).
 *       SCALING: none | standard | minmax (X is scaled first; the fit sees the scaled X).
 *       Prints inertia, iterations, run, converged, sizes, labels, centroids (scaled units),
 *       shift, scale, with M > 0 silhouette, davies_bouldin, calinski_harabasz, and the
 *       profile (mean and z per cluster, own units) with each cluster's label (features are
 *       named f0, f1, ...), and the projection of 300 sampled rows (seed SEED).
 *   analytics_kmeans auto N D K_MIN K_MAX N_INIT MAX_ITER TOL SEED THREADS SAMPLE_SIZE
 *       stdin: X. Prints k, inertia, the seconds of the sweep (wall, CPU), labels and every
 *       candidate.
 *   analytics_kmeans scores N D K THREADS M
 *       stdin: X, N int32 labels (0..K-1), M int64 sample indices. Prints silhouette (on the
 *       sample), davies_bouldin, calinski_harabasz: the figures on labels given from outside.
 *   analytics_kmeans kpp N D K SEED THREADS
 *       stdin: X. Greedy k-means++ alone (seg_kmeans_plusplus): prints the rows chosen and the
 *       centres.
 *   analytics_kmeans bench N D K MAX_ITER THREADS
 *       stdin: X, the K x D initial centres. One run with tol 1e-4; prints the seconds of the
 *       fit (wall clock, and CPU of the process: all threads), its iterations and inertia, and the
 * peak resident memory (VmHWM) before and after the fit, in bytes, to measure the engine's memory
 * beyond the matrix.
 *
 * Exit status 0 with the JSON, or 2 with {"error": status, "message": ...} when the engine
 * refused the input, or 1 on a usage error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kmeans.h"

static void seg__read(void *buf, size_t bytes)
{
	if (bytes && fread(buf, 1, bytes, stdin) != bytes) {
		fprintf(stderr, "short input: %zu bytes expected\n", bytes);
		exit(1);
	}
}

static double *seg__read_doubles(size_t count)
{
	double *p = malloc((count ? count : 1) * sizeof *p);
	seg__read(p, count * sizeof *p);
	return p;
}

static size_t *seg__read_sample(size_t m)
{
	int64_t *raw = malloc((m ? m : 1) * sizeof *raw);
	size_t *s = malloc((m ? m : 1) * sizeof *s);
	seg__read(raw, m * sizeof *raw);
	for (size_t i = 0; i < m; i++) {
		s[i] = (size_t)raw[i];
	}
	free(raw);
	return s;
}

static void seg__print_doubles(const char *key, const double *v, size_t count, const char *sep)
{
	printf("\"%s\": [", key);
	for (size_t i = 0; i < count; i++) {
		printf("%s%.17g", i ? ", " : "", v[i]);
	}
	printf("]%s", sep);
}

static void seg__print_matrix(const char *key, const double *v, size_t rows, size_t cols,
			      const char *sep)
{
	printf("\"%s\": [", key);
	for (size_t i = 0; i < rows; i++) {
		printf("%s[", i ? ", " : "");
		for (size_t j = 0; j < cols; j++) {
			printf("%s%.17g", j ? ", " : "", v[i * cols + j]);
		}
		printf("]");
	}
	printf("]%s", sep);
}

static void seg__print_labels(const int32_t *labels, size_t n, const char *sep)
{
	printf("\"labels\": [");
	for (size_t i = 0; i < n; i++) {
		printf("%s%d", i ? "," : "", labels[i]);
	}
	printf("]%s", sep);
}

static int seg__refused(enum seg_kmeans_status st, const char *err)
{
	printf("{\"error\": %d, \"message\": \"%s\"}\n", (int)st, err);
	return 2;
}

static long seg__vmhwm(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) {
			break;
		}
	}
	if (f) {
		fclose(f);
	}
	return kb * 1024;
}

static double seg__clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int seg__fit(char **a)
{
	size_t n = strtoull(a[0], NULL, 10), d = strtoull(a[1], NULL, 10);
	struct seg_kmeans_params p;
	struct seg_kmeans_result r;
	struct seg_kmeans_profile pr;
	enum seg_kmeans_scaling scaling = strcmp(a[8], "standard") == 0 ? SEG_KMEANS_SCALE_STANDARD
					  : strcmp(a[8], "minmax") == 0 ? SEG_KMEANS_SCALE_MINMAX
									: SEG_KMEANS_SCALE_NONE;
	char err[256] = "";
	enum seg_kmeans_status st;
	int rc = 0;
	memset(&r, 0, sizeof r);
	seg_kmeans_params_init(&p);
	p.k = strtoull(a[2], NULL, 10);
	p.n_init = atoi(a[3]);
	p.max_iter = atoi(a[4]);
	p.tol = strtod(a[5], NULL);
	p.seed = strtoull(a[6], NULL, 10);
	p.threads = atoi(a[7]);
	int has_init = atoi(a[9]);
	size_t m = strtoull(a[10], NULL, 10);
	double *x = seg__read_doubles(n * d);
	double *init = has_init ? seg__read_doubles(p.k * d) : NULL;
	size_t *sample = seg__read_sample(m);
	double *shift = malloc(d * sizeof *shift), *scale = malloc(d * sizeof *scale);
	p.init = init;
	st = seg_kmeans_scale(x, n, d, scaling, p.threads, shift, scale, err, sizeof err);
	if (st != SEG_KMEANS_OK) {
		rc = seg__refused(st, err);
		goto out;
	}
	st = seg_kmeans_fit(x, n, d, &p, &r, err, sizeof err);
	if (st != SEG_KMEANS_OK) {
		rc = seg__refused(st, err);
		goto out;
	}
	printf("{\"inertia\": %.17g, \"iterations\": %d, \"run\": %d, \"converged\": %s, ",
	       r.inertia, r.iterations, r.run, r.converged ? "true" : "false");
	printf("\"sizes\": [");
	for (size_t j = 0; j < r.k; j++) {
		printf("%s%zu", j ? ", " : "", r.sizes[j]);
	}
	printf("], ");
	seg__print_matrix("centroids", r.centroids, r.k, d, ", ");
	seg__print_doubles("shift", shift, d, ", ");
	seg__print_doubles("scale", scale, d, ", ");
	if (m > 0) {
		double sil = 0, db = 0, ch = 0;
		st = seg_kmeans_silhouette(x, n, d, r.labels, r.k, sample, m, p.threads, NULL, NULL,
					   &sil, err, sizeof err);
		if (st == SEG_KMEANS_OK) {
			st = seg_kmeans_scores(x, n, d, r.labels, r.k, p.threads, &db, &ch, err,
					       sizeof err);
		}
		if (st != SEG_KMEANS_OK) {
			rc = seg__refused(st, err);
			goto out;
		}
		printf("\"silhouette\": %.17g, \"davies_bouldin\": %.17g, "
		       "\"calinski_harabasz\": %.17g, ",
		       sil, db, ch);
		st = seg_kmeans_profile(x, n, d, &r, shift, scale, p.threads, &pr, err, sizeof err);
		if (st != SEG_KMEANS_OK) {
			rc = seg__refused(st, err);
			goto out;
		}
		char **names = malloc(d * sizeof *names);
		for (size_t j = 0; j < d; j++) {
			names[j] = malloc(24);
			snprintf(names[j], 24, "f%zu", j);
		}
		seg__print_matrix("profile_mean", pr.mean, r.k, d, ", ");
		seg__print_matrix("profile_z", pr.z, r.k, d, ", ");
		printf("\"cluster_labels\": [");
		for (size_t c = 0; c < r.k; c++) {
			char label[128];
			seg_kmeans_label(pr.z + c * d, d, (const char *const *)names,
					 SEG_KMEANS_LABEL_Z, label, sizeof label);
			printf("%s\"%s\"", c ? ", " : "", label);
		}
		printf("], ");
		for (size_t j = 0; j < d; j++) {
			free(names[j]);
		}
		free(names);
		seg_kmeans_profile_release(&pr);
		struct seg_kmeans_projection pj;
		st = seg_kmeans_project(x, n, d, r.labels, 300, p.seed, p.threads, &pj, err,
					sizeof err);
		if (st != SEG_KMEANS_OK) {
			rc = seg__refused(st, err);
			goto out;
		}
		printf("\"projection\": {");
		seg__print_matrix("components", pj.components, 2, d, ", ");
		seg__print_doubles("variance", pj.variance, 2, ", ");
		seg__print_doubles("explained", pj.explained, 2, ", ");
		seg__print_matrix("points", pj.points, pj.m, 2, ", ");
		printf("\"index\": [");
		for (size_t i = 0; i < pj.m; i++) {
			printf("%s%zu", i ? ", " : "", pj.index[i]);
		}
		printf("], \"cluster\": [");
		for (size_t i = 0; i < pj.m; i++) {
			printf("%s%d", i ? ", " : "", pj.cluster[i]);
		}
		printf("]}, ");
		seg_kmeans_projection_release(&pj);
	}
	seg__print_labels(r.labels, n, "}\n");
out:
	seg_kmeans_result_release(&r);
	free(x);
	free(init);
	free(sample);
	free(shift);
	free(scale);
	return rc;
}

static int seg__auto(char **a)
{
	size_t n = strtoull(a[0], NULL, 10), d = strtoull(a[1], NULL, 10);
	size_t kmin = strtoull(a[2], NULL, 10), kmax = strtoull(a[3], NULL, 10);
	struct seg_kmeans_params p;
	struct seg_kmeans_result r;
	char err[256] = "";
	seg_kmeans_params_init(&p);
	p.n_init = atoi(a[4]);
	p.max_iter = atoi(a[5]);
	p.tol = strtod(a[6], NULL);
	p.seed = strtoull(a[7], NULL, 10);
	p.threads = atoi(a[8]);
	size_t sample = strtoull(a[9], NULL, 10);
	double *x = seg__read_doubles(n * d);
	struct seg_kmeans_candidate *c = calloc(kmax - kmin + 1, sizeof *c);
	double t0 = seg__clock(CLOCK_MONOTONIC), c0 = seg__clock(CLOCK_PROCESS_CPUTIME_ID);
	enum seg_kmeans_status st =
		seg_kmeans_auto(x, n, d, &p, kmin, kmax, sample, c, &r, err, sizeof err);
	double t1 = seg__clock(CLOCK_MONOTONIC), c1 = seg__clock(CLOCK_PROCESS_CPUTIME_ID);
	if (st != SEG_KMEANS_OK) {
		free(c);
		free(x);
		return seg__refused(st, err);
	}
	printf("{\"k\": %zu, \"inertia\": %.17g, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
	       "\"candidates\": [",
	       r.k, r.inertia, t1 - t0, c1 - c0);
	for (size_t t = 0; t < kmax - kmin + 1; t++) {
		printf("%s{\"k\": %zu, \"status\": %d, \"inertia\": %.17g, \"silhouette\": %.17g, "
		       "\"davies_bouldin\": %.17g, \"calinski_harabasz\": %.17g, \"iterations\": "
		       "%d}",
		       t ? ", " : "", c[t].k, (int)c[t].status, c[t].inertia, c[t].silhouette,
		       c[t].davies_bouldin, c[t].calinski_harabasz, c[t].iterations);
	}
	printf("], ");
	seg__print_labels(r.labels, n, "}\n");
	seg_kmeans_result_release(&r);
	free(c);
	free(x);
	return 0;
}

static int seg__scores(char **a)
{
	size_t n = strtoull(a[0], NULL, 10), d = strtoull(a[1], NULL, 10);
	size_t k = strtoull(a[2], NULL, 10), m = strtoull(a[4], NULL, 10);
	int threads = atoi(a[3]);
	double sil = 0, db = 0, ch = 0;
	char err[256] = "";
	double *x = seg__read_doubles(n * d);
	int32_t *labels = malloc((n ? n : 1) * sizeof *labels);
	seg__read(labels, n * sizeof *labels);
	size_t *sample = seg__read_sample(m);
	enum seg_kmeans_status st = seg_kmeans_silhouette(x, n, d, labels, k, sample, m, threads,
							  NULL, NULL, &sil, err, sizeof err);
	if (st == SEG_KMEANS_OK) {
		st = seg_kmeans_scores(x, n, d, labels, k, threads, &db, &ch, err, sizeof err);
	}
	free(x);
	free(labels);
	free(sample);
	if (st != SEG_KMEANS_OK) {
		return seg__refused(st, err);
	}
	printf("{\"silhouette\": %.17g, \"davies_bouldin\": %.17g, \"calinski_harabasz\": %.17g}\n",
	       sil, db, ch);
	return 0;
}

static int seg__kpp(char **a)
{
	size_t n = strtoull(a[0], NULL, 10), d = strtoull(a[1], NULL, 10);
	size_t k = strtoull(a[2], NULL, 10);
	char err[256] = "";
	double *x = seg__read_doubles(n * d);
	double *c = malloc(k * d * sizeof *c);
	size_t *rows = malloc(k * sizeof *rows);
	enum seg_kmeans_status st = seg_kmeans_plusplus(x, n, d, k, strtoull(a[3], NULL, 10),
							atoi(a[4]), c, rows, err, sizeof err);
	int rc = 0;
	if (st != SEG_KMEANS_OK) {
		rc = seg__refused(st, err);
		goto out;
	}
	printf("{\"rows\": [");
	for (size_t j = 0; j < k; j++) {
		printf("%s%zu", j ? ", " : "", rows[j]);
	}
	printf("], ");
	seg__print_matrix("centres", c, k, d, "}\n");
out:
	free(x);
	free(c);
	free(rows);
	return rc;
}

static int seg__bench(char **a)
{
	size_t n = strtoull(a[0], NULL, 10), d = strtoull(a[1], NULL, 10);
	struct seg_kmeans_params p;
	struct seg_kmeans_result r;
	char err[256] = "";
	seg_kmeans_params_init(&p);
	p.k = strtoull(a[2], NULL, 10);
	p.n_init = 1;
	p.max_iter = atoi(a[3]);
	p.threads = atoi(a[4]);
	double *x = seg__read_doubles(n * d);
	double *init = seg__read_doubles(p.k * d);
	p.init = init;
	long before = seg__vmhwm();
	double t0 = seg__clock(CLOCK_MONOTONIC), c0 = seg__clock(CLOCK_PROCESS_CPUTIME_ID);
	enum seg_kmeans_status st = seg_kmeans_fit(x, n, d, &p, &r, err, sizeof err);
	double t1 = seg__clock(CLOCK_MONOTONIC), c1 = seg__clock(CLOCK_PROCESS_CPUTIME_ID);
	long after = seg__vmhwm();
	free(x);
	free(init);
	if (st != SEG_KMEANS_OK) {
		return seg__refused(st, err);
	}
	printf("{\"seconds\": %.6f, \"cpu_seconds\": %.6f, \"iterations\": %d, \"inertia\": %.17g, "
	       "\"hwm_before\": %ld, "
	       "\"hwm_after\": %ld, \"matrix_bytes\": %zu, \"estimate_bytes\": %zu}\n",
	       t1 - t0, c1 - c0, r.iterations, r.inertia, before, after, n * d * sizeof(double),
	       seg_kmeans_memory(n, d, p.k, 0));
	seg_kmeans_result_release(&r);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 13 && strcmp(argv[1], "fit") == 0) {
		return seg__fit(argv + 2);
	}
	if (argc == 12 && strcmp(argv[1], "auto") == 0) {
		return seg__auto(argv + 2);
	}
	if (argc == 7 && strcmp(argv[1], "scores") == 0) {
		return seg__scores(argv + 2);
	}
	if (argc == 7 && strcmp(argv[1], "kpp") == 0) {
		return seg__kpp(argv + 2);
	}
	if (argc == 7 && strcmp(argv[1], "bench") == 0) {
		return seg__bench(argv + 2);
	}
	fprintf(stderr, "usage: see tests/analytics/kmeans_driver.c\n");
	return 1;
}

/*
 * bench/factor.sh's engine driver (built by the script, never by the Makefile): reads an
 * n x p float64 matrix (row-major) and n int32 groups (-1: to assign) from files, times
 *   factor:        seg_factor_fit (auto, varimax) + seg_factor_scores of every row
 *   discriminant:  seg_discriminant_fit (proportional; leave-one-out included) +
 *                  seg_discriminant_classify of every row (posteriors)
 * prints key=value lines, and writes the scores and posteriors (float64) for the comparison.
 * Usage: factor_bench X GROUPS N P G SCORES_OUT POSTERIOR_OUT
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "discriminant.h"
#include "factor.h"

static double seg__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *seg__read(const char *path, size_t bytes)
{
	FILE *f = fopen(path, "rb");
	void *p = malloc(bytes);
	if (!f || !p || fread(p, 1, bytes, f) != bytes) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	return p;
}

static void seg__write(const char *path, const void *p, size_t bytes)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, bytes, f) != bytes) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
}

static long seg__maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
	if (argc != 8)
		return 2;
	size_t n = strtoul(argv[3], NULL, 10), p = strtoul(argv[4], NULL, 10),
	       g = strtoul(argv[5], NULL, 10);
	double *x = seg__read(argv[1], n * p * sizeof *x);
	int *group = seg__read(argv[2], n * sizeof *group);
	long base_kb = seg__maxrss_kb();
	char msg[256];

	struct seg_factor_params fp = {0};
	struct seg_factor f;
	double t0 = seg__now();
	if (seg_factor_fit(x, n, p, &fp, &f, msg, sizeof msg)) {
		fprintf(stderr, "factor: %s\n", msg);
		return 1;
	}
	double t1 = seg__now();
	double *scores = malloc(n * f.k * sizeof *scores);
	seg_factor_scores(&f, x, n, scores);
	double t2 = seg__now();
	printf("factor_fit_s=%.3f factor_scores_s=%.3f factor_s=%.3f k=%zu kmo=%.6f iterations=%d\n",
	       t1 - t0, t2 - t1, t2 - t0, f.k, f.kmo, f.rotation_iterations);
	seg__write(argv[6], scores, n * f.k * sizeof *scores);
	free(scores);
	seg_factor_release(&f);

	struct seg_discriminant_params dp = {0};
	struct seg_discriminant d;
	t0 = seg__now();
	if (seg_discriminant_fit(x, group, n, p, g, &dp, &d, msg, sizeof msg)) {
		fprintf(stderr, "discriminant: %s\n", msg);
		return 1;
	}
	t1 = seg__now();
	double *post = malloc(n * g * sizeof *post);
	int *pred = malloc(n * sizeof *pred);
	seg_discriminant_classify(&d, x, n, pred, post, NULL);
	t2 = seg__now();
	printf("discriminant_fit_s=%.3f classify_s=%.3f discriminant_s=%.3f n_train=%zu "
	       "hit_rate=%.6f\n",
	       t1 - t0, t2 - t1, t2 - t0, d.n, d.hit_rate);
	seg__write(argv[7], post, n * g * sizeof *post);
	printf("peak_rss_beyond_input_mb=%.1f input_mb=%.1f\n",
	       (double)(seg__maxrss_kb() - base_kb) / 1024,
	       (double)(n * p * sizeof *x + n * sizeof *group) / 1048576);
	free(post);
	free(pred);
	seg_discriminant_release(&d);
	free(x);
	free(group);
	return 0;
}

/*
 * bench/contrast.sh's engine side: reads N x D doubles (row-major) and N targets from binary
 * files, grows the contrast tree (max_depth 3, min_size 50) with THREADS threads, prints the
 * times of the sort (seg_ct_data_new) and the growth (seg_ct_fit) and writes every row's leaf.
 *
 *   contrast_engine N D X.bin Y.bin THREADS LEAVES.bin
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "contrast.h"

static double seg__now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *seg__slurp(const char *path, size_t bytes)
{
	FILE *f = fopen(path, "rb");
	void *p = malloc(bytes ? bytes : 1);
	if (!f || !p || fread(p, 1, bytes, f) != bytes) {
		fprintf(stderr, "cannot read %zu bytes of %s\n", bytes, path);
		exit(1);
	}
	fclose(f);
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: contrast_engine N D X.bin Y.bin THREADS LEAVES.bin\n");
		return 2;
	}
	size_t n = strtoull(argv[1], NULL, 10), d = strtoull(argv[2], NULL, 10);
	double *X = seg__slurp(argv[3], n * d * sizeof(double));
	double *y = seg__slurp(argv[4], n * sizeof(double));
	struct seg_ct_feature *F = calloc(d, sizeof(*F));
	struct seg_ct_params p;
	struct seg_ct_data *data = NULL;
	struct seg_ct_tree t;
	uint32_t *leaf_of = malloc(n * sizeof(*leaf_of));
	char err[256];

	seg_ct_params_init(&p);
	p.threads = (unsigned)atoi(argv[5]);
	double t0 = seg__now();
	if (seg_ct_data_new(X, n, d, F, &p, &data, err, sizeof err) != SEG_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double t1 = seg__now();
	if (seg_ct_fit(data, y, &p, &t, leaf_of, err, sizeof err) != SEG_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double t2 = seg__now();
	printf("sort %.3f s, grow %.3f s, total %.3f s, %zu leaves, explained %.6f\n", t1 - t0,
	       t2 - t1, t2 - t0, t.nleaves, t.explained);
	FILE *f = fopen(argv[6], "wb");
	if (!f || fwrite(leaf_of, sizeof(*leaf_of), n, f) != n)
		return 1;
	fclose(f);
	seg_ct_tree_release(&t);
	seg_ct_data_free(data);
	free(X);
	free(y);
	free(F);
	free(leaf_of);
	return 0;
}

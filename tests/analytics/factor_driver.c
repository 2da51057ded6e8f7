/*
 * Reference-test driver of analytics/factor.c (tests/analytics/test_factor.py): reads "n p"
 * and the n x p matrix (row-major, "nan" for a missing value) on stdin, fits with
 * argv[1] = n_factors (0: auto) and argv[2] = "varimax" | "none", and prints the result and
 * every row's scores as one JSON document ({"error", "message"} when the fit fails).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "factor.h"

static void seg__num(double v)
{
	if (isfinite(v))
		printf("%.17g", v);
	else
		printf("null");
}

static void seg__array(const char *key, const double *v, size_t count)
{
	printf("\"%s\": [", key);
	for (size_t i = 0; i < count; i++) {
		if (i)
			printf(", ");
		seg__num(v[i]);
	}
	printf("], ");
}

int main(int argc, char **argv)
{
	size_t n, p;
	if (argc < 3 || scanf("%zu %zu", &n, &p) != 2)
		return 2;
	double *x = malloc(n * p * sizeof *x);
	for (size_t i = 0; i < n * p; i++) {
		char tok[64];
		if (scanf("%63s", tok) != 1)
			return 2;
		x[i] = strtod(tok, NULL);
	}
	struct seg_factor_params params = {
		.n_factors = strtoul(argv[1], NULL, 10),
		.rotation = strcmp(argv[2], "none") ? SEG_FACTOR_VARIMAX : SEG_FACTOR_NO_ROTATION,
	};
	struct seg_factor f;
	char msg[256];
	enum seg_factor_fail rc = seg_factor_fit(x, n, p, &params, &f, msg, sizeof msg);
	if (rc) {
		printf("{\"error\": %d, \"message\": \"%s\"}\n", (int)rc, msg);
		free(x);
		return 0;
	}
	printf("{\"n\": %zu, \"k\": %zu, \"iterations\": %d, ", f.n, f.k, f.rotation_iterations);
	seg__array("eigenvalues", f.eigenvalues, p);
	seg__array("loadings", f.loadings, p * f.k);
	seg__array("explained", f.explained, f.k);
	seg__array("cumulative", f.cumulative, f.k);
	seg__array("communalities", f.communalities, p);
	seg__array("msa", f.msa, p);
	seg__array("correlation", f.correlation, p * p);
	double *scores = malloc(n * f.k * sizeof *scores);
	seg_factor_scores(&f, x, n, scores);
	seg__array("scores", scores, n * f.k);
	printf("\"labels\": [");
	for (size_t j = 0; j < f.k; j++)
		printf("%s\"%s\"", j ? ", " : "", f.labels[j]);
	printf("], \"kmo\": ");
	seg__num(f.kmo);
	printf(", \"bartlett\": {\"chi2\": ");
	seg__num(f.bartlett_chi2);
	printf(", \"df\": ");
	seg__num(f.bartlett_df);
	printf(", \"p\": ");
	seg__num(f.bartlett_p);
	printf("}}\n");
	free(scores);
	seg_factor_release(&f);
	free(x);
	return 0;
}

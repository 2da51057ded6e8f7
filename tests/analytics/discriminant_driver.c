/*
 * Reference-test driver of analytics/discriminant.c (tests/analytics/test_discriminant.py):
 * reads "n p g" and n rows of "group x_1 .. x_p" on stdin (group -1: a customer to assign;
 * "nan" for a missing value), fits with argv[1] = "proportional" | "equal", classifies every
 * row and prints it all as one JSON document ({"error", "message"} when the fit fails).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discriminant.h"

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
	size_t n, p, g;
	if (argc < 2 || scanf("%zu %zu %zu", &n, &p, &g) != 3)
		return 2;
	double *x = malloc(n * p * sizeof *x);
	int *group = malloc(n * sizeof *group);
	for (size_t r = 0; r < n; r++) {
		char tok[64];
		if (scanf("%d", &group[r]) != 1)
			return 2;
		for (size_t i = 0; i < p; i++) {
			if (scanf("%63s", tok) != 1)
				return 2;
			x[r * p + i] = strtod(tok, NULL);
		}
	}
	struct seg_discriminant_params params = {
		.priors = strcmp(argv[1], "equal") ? SEG_DISCRIMINANT_PROPORTIONAL
						   : SEG_DISCRIMINANT_EQUAL,
	};
	struct seg_discriminant d;
	char msg[256];
	enum seg_discriminant_fail rc =
		seg_discriminant_fit(x, group, n, p, g, &params, &d, msg, sizeof msg);
	if (rc) {
		printf("{\"error\": %d, \"message\": \"%s\"}\n", (int)rc, msg);
		free(x);
		free(group);
		return 0;
	}
	size_t q = d.q;
	printf("{\"n\": %zu, \"q\": %zu, \"loo_unclassified\": %zu, ", d.n, q, d.loo_unclassified);
	seg__array("eigenvalues", d.eigenvalues, q);
	seg__array("explained", d.explained, q);
	seg__array("canonical_correlation", d.canonical_correlation, q);
	seg__array("wilks_lambda", d.wilks_lambda, q);
	seg__array("chi2", d.chi2, q);
	seg__array("df", d.df, q);
	seg__array("p", d.p_value, q);
	seg__array("raw", d.raw, p * q);
	seg__array("standardized", d.standardized, p * q);
	seg__array("structure", d.structure, p * q);
	seg__array("centroids", d.centroids, g * q);
	seg__array("feature_wilks", d.feature_wilks, p);
	seg__array("feature_f", d.feature_f, p);
	seg__array("feature_p", d.feature_p, p);
	seg__array("priors", d.priors, g);
	double *post = malloc(n * g * sizeof *post), *scores = malloc(n * q * sizeof *scores);
	int *pred = malloc(n * sizeof *pred);
	seg_discriminant_classify(&d, x, n, pred, post, scores);
	seg__array("posterior", post, n * g);
	seg__array("scores", scores, n * q);
	printf("\"predicted\": [");
	for (size_t r = 0; r < n; r++)
		printf("%s%d", r ? ", " : "", pred[r]);
	printf("], \"classification\": [");
	for (size_t i = 0; i < g * g; i++)
		printf("%s%zu", i ? ", " : "", d.classification[i]);
	printf("], \"hit_rate\": ");
	seg__num(d.hit_rate);
	printf(", \"proportional_chance\": ");
	seg__num(d.proportional_chance);
	printf(", \"maximum_chance\": ");
	seg__num(d.maximum_chance);
	printf("}\n");
	free(post);
	free(scores);
	free(pred);
	seg_discriminant_release(&d);
	free(x);
	free(group);
	return 0;
}

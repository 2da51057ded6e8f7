/*
 * Reference-test driver of analytics/conjoint.c (tests/analytics/test_conjoint.py).
 *
 *   analytics_conjoint < input
 *
 * Input (whitespace-separated): nresp nattr has_price; nattr level counts; then per respondent
 * its number of profiles and, per profile, nattr level codes (-1: none), the price when
 * has_price, and the rating ("nan" allowed). Prints every respondent's result and the
 * summaries as JSON (null for NaN).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "conjoint.h"

static double seg__read(void)
{
	char tok[64];
	if (scanf("%63s", tok) != 1) {
		fprintf(stderr, "input ends early\n");
		exit(2);
	}
	return strtod(tok, NULL);
}

static void seg__num(double v)
{
	if (isnan(v))
		printf("null");
	else
		printf("%.17g", v);
}

static void seg__list(const double *v, size_t n)
{
	printf("[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			printf(", ");
		seg__num(v[i]);
	}
	printf("]");
}

int main(void)
{
	size_t nresp = (size_t)seg__read(), nattr = (size_t)seg__read();
	int has_price = (int)seg__read();
	size_t *nlevels = seg_calloc(nattr + 1, sizeof(size_t));
	for (size_t a = 0; a < nattr; a++)
		nlevels[a] = (size_t)seg__read();
	size_t *start = seg_calloc(nresp + 1, sizeof(size_t)), cap = 1024, np = 0;
	int32_t *levels = seg_malloc(cap * (nattr + 1) * sizeof(int32_t));
	double *price = seg_malloc(cap * sizeof(double)),
	       *rating = seg_malloc(cap * sizeof(double));
	for (size_t r = 0; r < nresp; r++) {
		size_t k = (size_t)seg__read();
		for (size_t j = 0; j < k; j++, np++) {
			if (np == cap) {
				cap *= 2;
				levels = seg_realloc(levels, cap * (nattr + 1) * sizeof(int32_t));
				price = seg_realloc(price, cap * sizeof(double));
				rating = seg_realloc(rating, cap * sizeof(double));
			}
			for (size_t a = 0; a < nattr; a++)
				levels[np * nattr + a] = (int32_t)seg__read();
			price[np] = has_price ? seg__read() : 0;
			rating[np] = seg__read();
		}
		start[r + 1] = np;
	}
	struct seg_cj_input in = {nresp, start, nattr, nlevels, levels, has_price ? price : NULL,
				  rating};
	struct seg_cj_result res;
	char err[256] = "";
	enum seg_err rc = seg_cj_fit(&in, NULL, &res, err, sizeof err);
	if (rc != SEG_OK) {
		printf("{\"error\": \"%s\", \"detail\": \"%s\"}\n", seg_err_slug(rc), err);
	} else {
		size_t NL = res.nlevels_total;
		printf("{\"fitted\": %zu, \"skipped\": %zu, \"too_few\": %zu, \"constant\": %zu, "
		       "\"singular\": %zu, \"dropped_profiles\": %zu, \"respondents\": [",
		       res.fitted, res.skipped, res.too_few, res.constant, res.singular,
		       res.dropped_profiles);
		for (size_t r = 0; r < nresp; r++) {
			const struct seg_cj_resp *R = &res.resp[r];
			printf("%s{\"status\": \"%s\", \"ratings\": %zu, \"params\": %zu, "
			       "\"constant\": ",
			       r ? ", " : "", seg_cj_status_name(R->status), R->ratings, R->params);
			seg__num(R->constant);
			printf(", \"price_coefficient\": ");
			seg__num(R->price_coefficient);
			printf(", \"r2\": ");
			seg__num(R->r2);
			printf(", \"part_worth\": ");
			seg__list(res.part_worth + r * NL, NL);
			printf(", \"importance\": ");
			seg__list(res.importance + r * res.nimp, res.nimp);
			if (res.wtp) {
				printf(", \"wtp\": ");
				seg__list(res.wtp + r * NL, NL);
			}
			printf("}");
		}
		printf("], \"mean_part_worth\": ");
		seg__list(res.mean_part_worth, NL);
		printf(", \"level_respondents\": [");
		for (size_t g = 0; g < NL; g++)
			printf("%s%zu", g ? ", " : "", res.level_respondents[g]);
		printf("], \"mean_importance\": ");
		seg__list(res.mean_importance, res.nimp);
		if (res.median_wtp) {
			printf(", \"median_wtp\": ");
			seg__list(res.median_wtp, NL);
		}
		printf(", \"mean_price_coefficient\": ");
		seg__num(res.mean_price_coefficient);
		printf(", \"median_price_coefficient\": ");
		seg__num(res.median_price_coefficient);
		printf(", \"mean_r2\": ");
		seg__num(res.mean_r2);
		printf(", \"median_r2\": ");
		seg__num(res.median_r2);
		printf("}\n");
	}
	seg_cj_result_release(&res);
	free(nlevels);
	free(start);
	free(levels);
	free(price);
	free(rating);
	return 0;
}

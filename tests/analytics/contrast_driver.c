/*
 * Reference-test driver of analytics/contrast.c (tests/analytics/test_contrast.py).
 *
 *   analytics_contrast fit|describe MAX_DEPTH MIN_SIZE THREADS < input
 *
 * Input (whitespace-separated): n d; then d kinds (0 numeric, k > 0 categorical with k
 * categories); then, for each categorical feature, its k names (no blanks); then n rows of d
 * values and the target ("nan" for a missing value; categories as codes, -1 for none). For
 * describe the target is 0 or 1 (membership). Prints the tree (nodes in preorder), the leaves,
 * each row's leaf and, for describe, the rule, as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "contrast.h"

static double seg__read_double(void)
{
	char tok[64];
	if (scanf("%63s", tok) != 1) {
		fprintf(stderr, "input ends early\n");
		exit(2);
	}
	return strtod(tok, NULL);
}

static void seg__print_tree(const struct seg_ct_tree *t, const uint32_t *leaf_of)
{
	printf("\"n\": %zu, \"mean\": %.17g, \"sst\": %.17g, \"explained\": %.17g, \"nodes\": [",
	       t->n, t->mean, t->sst, t->explained);
	for (size_t i = 0; i < t->nnodes; i++) {
		const struct seg_ct_node *nd = &t->nodes[i];
		printf("%s{\"size\": %zu, \"mean\": %.17g, \"sse\": %.17g, \"depth\": %d",
		       i ? ", " : "", nd->size, nd->mean, nd->sse, nd->depth);
		printf(", \"parent\": %lld",
		       nd->parent == SEG_CT_NONE ? -1LL : (long long)nd->parent);
		if (nd->feature == SEG_CT_NONE) {
			printf(", \"leaf\": %zu}", nd->leaf);
			continue;
		}
		printf(", \"feature\": %zu, \"gain\": %.17g, \"yes\": %zu, \"no\": %zu",
		       nd->feature, nd->gain, nd->yes, nd->no);
		if (nd->ncategories) {
			printf(", \"categories\": [");
			for (size_t q = 0; q < nd->ncategories; q++)
				printf("%s%d", q ? ", " : "", nd->categories[q]);
			printf("]}");
		} else {
			printf(", \"threshold\": %.17g}", nd->threshold);
		}
	}
	printf("], \"leaves\": [");
	for (size_t l = 0; l < t->nleaves; l++)
		printf("%s%zu", l ? ", " : "", t->leaves[l]);
	printf("], \"leaf_of\": [");
	for (size_t i = 0; i < t->n; i++)
		printf("%s%u", i ? ", " : "", leaf_of[i]);
	printf("]");
}

int main(int argc, char **argv)
{
	size_t n, d;
	char err[256] = "";
	if (argc != 5 || scanf("%zu %zu", &n, &d) != 2) {
		fprintf(stderr,
			"usage: analytics_contrast fit|describe MAX_DEPTH MIN_SIZE THREADS\n");
		return 2;
	}
	bool describe = strcmp(argv[1], "describe") == 0;
	struct seg_ct_params p;
	seg_ct_params_init(&p);
	p.max_depth = atoi(argv[2]);
	p.min_size = (size_t)atol(argv[3]);
	p.threads = (unsigned)atoi(argv[4]);

	struct seg_ct_feature *F = seg_calloc(d ? d : 1, sizeof(*F));
	for (size_t f = 0; f < d; f++) {
		size_t k = (size_t)seg__read_double();
		F[f].categorical = k > 0;
		F[f].ncat = k;
	}
	char ***names = seg_calloc(d ? d : 1, sizeof(*names));
	for (size_t f = 0; f < d; f++) {
		if (!F[f].categorical)
			continue;
		names[f] = seg_calloc(F[f].ncat, sizeof(char *));
		for (size_t c = 0; c < F[f].ncat; c++) {
			char tok[256];
			if (scanf("%255s", tok) != 1)
				return 2;
			names[f][c] = seg_strdup(tok);
		}
		F[f].names = (const char *const *)names[f];
	}
	double *X = seg_malloc((n * d > 0 ? n * d : 1) * sizeof(double));
	double *y = seg_malloc(n * sizeof(double));
	unsigned char *member = seg_malloc(n);
	for (size_t i = 0; i < n; i++) {
		for (size_t f = 0; f < d; f++)
			X[i * d + f] = seg__read_double();
		y[i] = seg__read_double();
		member[i] = y[i] != 0;
	}

	struct seg_ct_data *data = NULL;
	uint32_t *leaf_of = seg_malloc(n * sizeof(*leaf_of));
	enum seg_err rc = seg_ct_data_new(X, n, d, F, &p, &data, err, sizeof err);
	if (rc != SEG_OK) {
		printf("{\"error\": \"%s\", \"detail\": \"%s\"}\n", seg_err_slug(rc), err);
	} else if (!describe) {
		struct seg_ct_tree t;
		rc = seg_ct_fit(data, y, &p, &t, leaf_of, err, sizeof err);
		if (rc != SEG_OK) {
			printf("{\"error\": \"%s\", \"detail\": \"%s\"}\n", seg_err_slug(rc), err);
		} else {
			printf("{");
			seg__print_tree(&t, leaf_of);
			printf("}\n");
		}
		seg_ct_tree_release(&t);
	} else {
		struct seg_ct_rule r;
		rc = seg_ct_describe(data, member, &p, &r, err, sizeof err);
		if (rc != SEG_OK) {
			printf("{\"error\": \"%s\", \"detail\": \"%s\"}\n", seg_err_slug(rc), err);
		} else {
			/* leaf_of for the printout: the rule's tree is grown again the same way */
			struct seg_ct_tree t;
			if (seg_ct_fit(data, y, &p, &t, leaf_of, err, sizeof err) != SEG_OK)
				return 3;
			seg_ct_tree_release(&t);
			printf("{");
			seg__print_tree(&r.tree, leaf_of);
			printf(", \"rule\": [");
			for (size_t j = 0; j < r.nleaves; j++)
				printf("%s%zu", j ? ", " : "", r.leaves[j]);
			printf("], \"matched\": %zu, \"members\": %zu, \"hits\": %zu, "
			       "\"precision\": "
			       "%.17g, \"recall\": %.17g, \"f1\": %.17g}\n",
			       r.matched, r.members, r.hits, r.precision, r.recall, r.f1);
		}
		seg_ct_rule_release(&r);
	}
	seg_ct_data_free(data);
	for (size_t f = 0; f < d; f++) {
		if (names[f])
			for (size_t c = 0; c < F[f].ncat; c++)
				free(names[f][c]);
		free(names[f]);
	}
	free(names);
	free(F);
	free(X);
	free(y);
	free(member);
	free(leaf_of);
	return 0;
}

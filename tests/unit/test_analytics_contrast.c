/*
 * Unit tests of analytics/contrast.c (SPEC §6.2 contrast groups, and the cluster rule):
 * hand-worked splits and gains, ties by t, by category value and by feature order, missing
 * values on the "no" side, min_size and max_depth, the tree's preorder and leaves, constant
 * targets, refused input, cancelling, the same tree for any number of threads, and the rule of
 * a group with its precision, recall and F1. tests/analytics/test_contrast.py compares whole
 * trees with a brute-force NumPy AID.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "contrast.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct seg_ct_params params(int depth, size_t min_size)
{
	struct seg_ct_params p;
	seg_ct_params_init(&p);
	p.max_depth = depth;
	p.min_size = min_size;
	return p;
}

/* Each call reports its own progress from 0 to 1: the sort's tick is left out here. */
static void grow(const double *X, size_t n, size_t d, const struct seg_ct_feature *F,
		 const double *y, const struct seg_ct_params *p, struct seg_ct_tree *t,
		 uint32_t *leaf_of)
{
	struct seg_ct_data *data = NULL;
	struct seg_ct_params q = *p;
	char err[200];
	q.tick = NULL;
	assert_int_equal(seg_ct_data_new(X, n, d, F, &q, &data, err, sizeof err), SEG_OK);
	assert_int_equal(seg_ct_fit(data, y, p, t, leaf_of, err, sizeof err), SEG_OK);
	seg_ct_data_free(data);
}

static void test_defaults(void **state)
{
	struct seg_ct_params p;
	(void)state;
	seg_ct_params_init(&p);
	assert_int_equal(p.max_depth, 3);
	assert_int_equal(p.min_size, 50);
	assert_int_equal(p.threads, 1);
	assert_null(p.tick);
}

/* y = 1 2 3 10 11 12 over x = 1..6: the root splits at x <= 3, gain 121.5 = 6 (4.5)^2 ... */
static void test_hand_worked(void **state)
{
	double X[] = {1, 2, 3, 4, 5, 6};
	double y[] = {1, 2, 3, 10, 11, 12};
	struct seg_ct_feature F[1] = {{0}};
	struct seg_ct_params p = params(1, 1);
	struct seg_ct_tree t;
	uint32_t leaf_of[6];
	(void)state;
	grow(X, 6, 1, F, y, &p, &t, leaf_of);
	assert_int_equal(t.nnodes, 3);
	assert_int_equal(t.nleaves, 2);
	assert_int_equal(t.nodes[0].feature, 0);
	assert_true(t.nodes[0].threshold == 3);
	/* between-groups SS: 3 (2 - 6.5)^2 + 3 (11 - 6.5)^2 = 121.5 of sst 125.5 */
	assert_true(fabs(t.nodes[0].gain - 121.5) < 1e-12);
	assert_true(fabs(t.sst - 125.5) < 1e-12);
	assert_true(fabs(t.explained - 121.5 / 125.5) < 1e-15);
	assert_int_equal(t.nodes[0].yes, 1);
	assert_int_equal(t.nodes[0].no, 2);
	assert_int_equal(t.nodes[1].size, 3);
	assert_true(t.nodes[1].mean == 2);
	assert_true(t.nodes[2].mean == 11);
	assert_int_equal(t.nodes[1].parent, 0);
	assert_int_equal(t.nodes[1].depth, 1);
	assert_int_equal(t.nodes[1].leaf, 0);
	assert_int_equal(t.nodes[2].leaf, 1);
	assert_int_equal(t.nodes[0].leaf, SEG_CT_NONE);
	uint32_t want[] = {0, 0, 0, 1, 1, 1};
	assert_memory_equal(leaf_of, want, sizeof want);
	seg_ct_tree_release(&t);
	seg_ct_tree_release(&t); /* idempotent */

	/* deeper: y 1 2 3 ties x <= 1 and x <= 2 (gain 1.5 each): the smaller t wins */
	p = params(2, 1);
	grow(X, 6, 1, F, y, &p, &t, NULL);
	assert_int_equal(t.nnodes, 7);
	assert_true(t.nodes[1].threshold == 1);
	assert_true(fabs(t.nodes[1].gain - 1.5) < 1e-12);
	/* preorder: root, yes subtree (1, 2, 3), no subtree (4, 5, 6) */
	assert_int_equal(t.nodes[1].yes, 2);
	assert_int_equal(t.nodes[1].no, 3);
	assert_int_equal(t.nodes[0].no, 4);
	size_t leaves[] = {2, 3, 5, 6};
	assert_int_equal(t.nleaves, 4);
	assert_memory_equal(t.leaves, leaves, sizeof leaves);
	/* leaf 1 (node 3): yes of the root, then no of node 1 */
	struct seg_ct_step steps[SEG_CT_MAX_DEPTH];
	assert_int_equal(seg_ct_leaf_path(&t, 1, steps), 2);
	assert_int_equal(steps[0].node, 0);
	assert_true(steps[0].yes);
	assert_int_equal(steps[1].node, 1);
	assert_false(steps[1].yes);
	/* leaf 2 (node 5): no of the root, yes of node 4 */
	assert_int_equal(seg_ct_leaf_path(&t, 2, steps), 2);
	assert_int_equal(steps[0].node, 0);
	assert_false(steps[0].yes);
	assert_int_equal(steps[1].node, 4);
	assert_true(steps[1].yes);
	seg_ct_tree_release(&t);
}

/* The sort orders negatives, -0 = +0, tiny and huge values numerically. */
static void test_order(void **state)
{
	double X[] = {0.0, -1e300, 1e-300, -0.0, -3, 2, -1e-300, 7};
	double y[] = {1, 0, 5, 1, 0, 5, 0, 5};
	struct seg_ct_feature F[1] = {{0}};
	struct seg_ct_params p = params(1, 1);
	struct seg_ct_tree t;
	uint32_t leaf_of[8];
	(void)state;
	grow(X, 8, 1, F, y, &p, &t, leaf_of);
	/* {-1e300, -3, -1e-300} rate 0, {-0, 0} 1, {1e-300, 2, 7} 5: x <= 0 (both zeros on yes)
	 * gains 5 (0.4 - 2.125)^2 + 3 (5 - 2.125)^2 = 39.675, x <= -1e-300 only 21.675 */
	assert_true(t.nodes[0].threshold == 0);
	assert_true(fabs(t.nodes[0].gain - 39.675) < 1e-12);
	uint32_t want[] = {0, 0, 1, 0, 0, 1, 0, 1};
	assert_memory_equal(leaf_of, want, sizeof want);
	seg_ct_tree_release(&t);
}

/* Missing values go to "no", whatever their target. */
static void test_missing_to_no(void **state)
{
	double X[] = {1, 2, 3, NAN, NAN, 6};
	double y[] = {0, 0, 0, 0, 10, 10};
	struct seg_ct_feature F[1] = {{0}};
	struct seg_ct_params p = params(1, 1);
	struct seg_ct_tree t;
	uint32_t leaf_of[6];
	(void)state;
	grow(X, 6, 1, F, y, &p, &t, leaf_of);
	/* x <= 3: yes {0,0,0}, no {0,10,10}: gain 3 (0 - 10/3)^2 + 3 (20/3 - 10/3)^2 = 200/3 */
	assert_true(t.nodes[0].threshold == 3);
	assert_true(fabs(t.nodes[0].gain - 200.0 / 3) < 1e-12);
	assert_int_equal(leaf_of[3], 1);
	assert_int_equal(leaf_of[4], 1);
	seg_ct_tree_release(&t);
	/* every value missing: no candidate, the root alone */
	double Xn[] = {NAN, NAN, NAN, NAN};
	grow(Xn, 4, 1, F, y, &p, &t, NULL);
	assert_int_equal(t.nnodes, 1);
	seg_ct_tree_release(&t);
}

/* Categories ordered by mean, ties by value (byte order), prefixes; -1 and NaN are "none". */
static void test_categories(void **state)
{
	const char *names[] = {"red", "blue", "green"};
	struct seg_ct_feature F[1] = {{true, 3, names}};
	/* means: red 5, blue 5, green 0; none: 5 */
	double X[] = {0, 0, 1, 1, 2, 2, -1, NAN};
	double y[] = {4, 6, 5, 5, 0, 0, 5, 5};
	struct seg_ct_params p = params(1, 1);
	struct seg_ct_tree t;
	(void)state;
	grow(X, 8, 1, F, y, &p, &t, NULL);
	/* order: green (0), blue (5), red (5; "blue" < "red"); best prefix {green} */
	assert_int_equal(t.nodes[0].ncategories, 1);
	assert_int_equal(t.nodes[0].categories[0], 2);
	assert_int_equal(t.nodes[t.nodes[0].yes].size, 2);
	assert_int_equal(t.nodes[t.nodes[0].no].size, 6);
	seg_ct_tree_release(&t);

	/* the tie by value decides the set: green 0, blue 2, red 2, none 10 */
	double y2[] = {2, 2, 2, 2, 0, 0, 10, 10};
	grow(X, 8, 1, F, y2, &p, &t, NULL);
	/* prefixes: {green} {green, blue} {green, blue, red}: the last separates the missing */
	assert_int_equal(t.nodes[0].ncategories, 3);
	int32_t want[] = {2, 1, 0};
	assert_memory_equal(t.nodes[0].categories, want, sizeof want);
	seg_ct_tree_release(&t);

	/* without names the tie goes by code: red (0) before blue (1) */
	struct seg_ct_feature Fc[1] = {{true, 3, NULL}};
	double y3[] = {2, 2, 2, 2, 0, 0, 10, 10};
	double X3[] = {0, 0, 1, 1, 2, 2, -1, -1};
	p = params(1, 2);
	grow(X3, 8, 1, Fc, y3, &p, &t, NULL);
	assert_int_equal(t.nodes[0].ncategories, 3);
	int32_t want3[] = {2, 0, 1};
	assert_memory_equal(t.nodes[0].categories, want3, sizeof want3);
	seg_ct_tree_release(&t);
}

/* Equal gains: the first feature wins. */
static void test_feature_order(void **state)
{
	struct seg_ct_feature F[2] = {{0}, {0}};
	double X[] = {1, 10, 2, 20, 3, 30, 4, 40};
	double y[] = {0, 0, 1, 1};
	struct seg_ct_params p = params(1, 1);
	struct seg_ct_tree t;
	(void)state;
	grow(X, 4, 2, F, y, &p, &t, NULL);
	assert_int_equal(t.nodes[0].feature, 0);
	assert_true(t.nodes[0].threshold == 2);
	seg_ct_tree_release(&t);
	/* a better second feature wins */
	double X2[] = {1, 10, 3, 20, 2, 30, 4, 40};
	grow(X2, 4, 2, F, y, &p, &t, NULL);
	assert_int_equal(t.nodes[0].feature, 1);
	assert_true(t.nodes[0].threshold == 20);
	seg_ct_tree_release(&t);
}

/* min_size on both sides, max_depth, a constant target, no features. */
static void test_limits(void **state)
{
	double X[20], y[20];
	struct seg_ct_feature F[1] = {{0}};
	struct seg_ct_tree t;
	(void)state;
	for (int i = 0; i < 20; i++) {
		X[i] = i;
		y[i] = i < 3 ? 100 : i;
	}
	/* the best split (x <= 2) leaves 3 on yes: with min_size 5 the split moves to x <= 4 */
	struct seg_ct_params p = params(1, 5);
	grow(X, 20, 1, F, y, &p, &t, NULL);
	assert_true(t.nodes[0].threshold >= 4 && t.nodes[0].threshold <= 14);
	assert_true(t.nodes[t.nodes[0].yes].size >= 5 && t.nodes[t.nodes[0].no].size >= 5);
	seg_ct_tree_release(&t);
	p = params(1, 3);
	grow(X, 20, 1, F, y, &p, &t, NULL);
	assert_true(t.nodes[0].threshold == 2);
	seg_ct_tree_release(&t);
	/* min_size 11: no node of 20 can split */
	p = params(3, 11);
	grow(X, 20, 1, F, y, &p, &t, NULL);
	assert_int_equal(t.nnodes, 1);
	seg_ct_tree_release(&t);
	/* max_depth 0: the root */
	p = params(0, 1);
	grow(X, 20, 1, F, y, &p, &t, NULL);
	assert_int_equal(t.nnodes, 1);
	struct seg_ct_step steps[SEG_CT_MAX_DEPTH];
	assert_int_equal(seg_ct_leaf_path(&t, 0, steps), 0);
	assert_int_equal(t.nleaves, 1);
	assert_true(t.explained == 0);
	seg_ct_tree_release(&t);
	/* max_depth 2: no node deeper than 2; the yes side (100, 100, 100) is constant */
	p = params(2, 1);
	grow(X, 20, 1, F, y, &p, &t, NULL);
	for (size_t i = 0; i < t.nnodes; i++)
		assert_true(t.nodes[i].depth <= 2);
	assert_int_equal(t.nleaves, 3);
	assert_int_equal(t.nodes[t.nodes[0].yes].feature, SEG_CT_NONE);
	seg_ct_tree_release(&t);
	/* a constant target (0.1 does not sum exactly): never split */
	double c[20];
	for (int i = 0; i < 20; i++)
		c[i] = 0.1;
	p = params(3, 1);
	grow(X, 20, 1, F, c, &p, &t, NULL);
	assert_int_equal(t.nnodes, 1);
	assert_true(t.explained == 0);
	assert_true(t.nodes[0].sse == 0);
	seg_ct_tree_release(&t);
	/* no features: the root */
	grow(X, 20, 0, F, y, &p, &t, NULL);
	assert_int_equal(t.nnodes, 1);
	seg_ct_tree_release(&t);
}

static void test_refused(void **state)
{
	struct seg_ct_feature F[2] = {{0}, {true, 2, NULL}};
	double X[] = {1, 0, 2, 1, 3, -1};
	double y[] = {1, 2, 3};
	struct seg_ct_params p = params(2, 1);
	struct seg_ct_data *data = NULL;
	struct seg_ct_tree t;
	char err[200];
	(void)state;
	X[0] = INFINITY;
	assert_int_equal(seg_ct_data_new(X, 3, 2, F, &p, &data, err, sizeof err), SEG_ERR_INVALID);
	assert_null(data);
	assert_non_null(strstr(err, "infinite"));
	X[0] = 1;
	X[3] = 2; /* code out of range */
	assert_int_equal(seg_ct_data_new(X, 3, 2, F, &p, &data, err, sizeof err), SEG_ERR_INVALID);
	X[3] = 0.5; /* not a whole number */
	assert_int_equal(seg_ct_data_new(X, 3, 2, F, &p, &data, NULL, 0), SEG_ERR_INVALID);
	X[3] = 1;
	assert_int_equal(seg_ct_data_new(X, 0, 2, F, &p, &data, err, sizeof err), SEG_ERR_INVALID);
	assert_int_equal(seg_ct_data_new(X, 3, 2, F, &p, &data, err, sizeof err), SEG_OK);
	y[1] = NAN;
	assert_int_equal(seg_ct_fit(data, y, &p, &t, NULL, err, sizeof err), SEG_ERR_INVALID);
	assert_non_null(strstr(err, "row 1"));
	assert_int_equal(t.nnodes, 0);
	seg_ct_tree_release(&t);
	y[1] = 2;
	p.min_size = 0;
	assert_int_equal(seg_ct_fit(data, y, &p, &t, NULL, err, sizeof err), SEG_ERR_INVALID);
	p.min_size = 1;
	p.max_depth = SEG_CT_MAX_DEPTH + 1;
	assert_int_equal(seg_ct_fit(data, y, &p, &t, NULL, err, sizeof err), SEG_ERR_INVALID);
	seg_ct_tree_release(&t);
	seg_ct_data_free(data);
	seg_ct_data_free(NULL);
}

/* A seeded generator of the tests' own (splitmix64). */
static uint64_t seg__next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double seg__uniform(uint64_t *s)
{
	return (double)(seg__next(s) >> 11) / 9007199254740992.0;
}

#define BIG_N 3000
#define BIG_D 4

static void big_data(double *X, double *y, uint64_t seed)
{
	for (size_t i = 0; i < BIG_N; i++) {
		double *r = X + i * BIG_D;
		r[0] = floor(seg__uniform(&seed) * 40);
		r[1] = seg__uniform(&seed) < 0.1 ? NAN : seg__uniform(&seed);
		r[2] = floor(seg__uniform(&seed) * 6) - 1;
		r[3] = seg__uniform(&seed) * 100;
		y[i] = (r[0] > 20) * 3 + (r[2] == 2) * 2 + seg__uniform(&seed);
	}
}

struct ticks {
	int calls, stop_at;
	double last;
	bool monotone;
};

static bool tick(void *ctx, double fraction)
{
	struct ticks *t = ctx;
	if (fraction < t->last || fraction > 1)
		t->monotone = false;
	t->last = fraction;
	return ++t->calls != t->stop_at;
}

static void test_threads_and_cancel(void **state)
{
	static double X[BIG_N * BIG_D], y[BIG_N];
	struct seg_ct_feature F[BIG_D] = {{0}, {0}, {true, 5, NULL}, {0}};
	struct seg_ct_tree one, many;
	uint32_t l1[BIG_N], l2[BIG_N];
	struct ticks tk = {0, 0, 0, true};
	(void)state;
	big_data(X, y, 42);
	struct seg_ct_params p = params(4, 20);
	p.tick = tick;
	p.ctx = &tk;
	grow(X, BIG_N, BIG_D, F, y, &p, &one, l1);
	assert_true(tk.monotone);
	assert_true(tk.calls >= 5);
	assert_true(tk.last == 1);
	p.threads = 3;
	grow(X, BIG_N, BIG_D, F, y, &p, &many, l2);
	assert_int_equal(one.nnodes, many.nnodes);
	assert_memory_equal(l1, l2, sizeof l1);
	for (size_t i = 0; i < one.nnodes; i++) {
		assert_int_equal(one.nodes[i].feature, many.nodes[i].feature);
		assert_memory_equal(&one.nodes[i].gain, &many.nodes[i].gain, sizeof(double));
		assert_memory_equal(&one.nodes[i].mean, &many.nodes[i].mean, sizeof(double));
	}
	assert_true(one.explained > 0.8);
	seg_ct_tree_release(&one);
	seg_ct_tree_release(&many);

	/* cancelled while sorting, and while growing */
	for (int stop = 1; stop <= 4; stop++) {
		struct seg_ct_data *data = NULL;
		char err[100];
		tk = (struct ticks){0, stop, 0, true};
		p.threads = 2;
		enum seg_err rc = seg_ct_data_new(X, BIG_N, BIG_D, F, &p, &data, err, sizeof err);
		if (stop <= 2) {
			assert_int_equal(rc, SEG_ERR_CANCELLED);
			assert_null(data);
			continue;
		}
		assert_int_equal(rc, SEG_OK);
		tk = (struct ticks){0, stop - 2, 0, true};
		assert_int_equal(seg_ct_fit(data, y, &p, &one, NULL, err, sizeof err),
				 SEG_ERR_CANCELLED);
		assert_int_equal(one.nnodes, 0);
		seg_ct_tree_release(&one);
		seg_ct_data_free(data);
	}
}

static void test_describe(void **state)
{
	static double X[BIG_N * BIG_D], y[BIG_N];
	static unsigned char member[BIG_N];
	struct seg_ct_feature F[BIG_D] = {{0}, {0}, {true, 5, NULL}, {0}};
	struct seg_ct_data *data = NULL;
	struct seg_ct_rule r;
	char err[100];
	(void)state;
	big_data(X, y, 7);
	struct seg_ct_params p = params(2, 10);
	assert_int_equal(seg_ct_data_new(X, BIG_N, BIG_D, F, &p, &data, err, sizeof err), SEG_OK);
	/* a group a rule of two leaves describes exactly: x0 > 30 or x0 <= 5 */
	size_t members = 0;
	for (size_t i = 0; i < BIG_N; i++) {
		member[i] = X[i * BIG_D] > 30 || X[i * BIG_D] <= 5;
		members += member[i];
	}
	assert_int_equal(seg_ct_describe(data, member, &p, &r, err, sizeof err), SEG_OK);
	assert_int_equal(r.members, members);
	assert_int_equal(r.hits, members);
	assert_int_equal(r.matched, members);
	assert_true(r.precision == 1 && r.recall == 1 && r.f1 == 1);
	assert_int_equal(r.nleaves, 2);
	for (size_t j = 0; j < r.nleaves; j++)
		assert_true(r.tree.nodes[r.tree.leaves[r.leaves[j]]].mean == 1);
	seg_ct_rule_release(&r);
	/* a group no rule describes well: figures consistent */
	uint64_t s = 3;
	members = 0;
	for (size_t i = 0; i < BIG_N; i++) {
		member[i] = seg__uniform(&s) < 0.2;
		members += member[i];
	}
	assert_int_equal(seg_ct_describe(data, member, &p, &r, err, sizeof err), SEG_OK);
	assert_int_equal(r.members, members);
	assert_true(r.nleaves >= 1);
	assert_true(fabs(r.precision - (double)r.hits / (double)r.matched) < 1e-15);
	assert_true(fabs(r.recall - (double)r.hits / (double)members) < 1e-15);
	assert_true(fabs(r.f1 - 2 * r.precision * r.recall / (r.precision + r.recall)) < 1e-12);
	seg_ct_rule_release(&r);
	/* no member */
	memset(member, 0, sizeof member);
	assert_int_equal(seg_ct_describe(data, member, &p, &r, err, sizeof err), SEG_ERR_INVALID);
	seg_ct_rule_release(&r);
	seg_ct_data_free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_hand_worked),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_missing_to_no),
		cmocka_unit_test(test_categories),
		cmocka_unit_test(test_feature_order),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_threads_and_cancel),
		cmocka_unit_test(test_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

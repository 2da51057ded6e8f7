/*
 * Contrast-group analysis (Kontrastgruppenanalyse, AID: Sonquist & Morgan's Automatic
 * Interaction Detection), SPEC §6 `contrast` and §6.2, and the rule that describes a cluster
 * (SPEC §6 `kmeans`: a cluster's `rule` and `fidelity`), which is the same tree grown on a 0/1
 * target. Pure: arrays in, a tree out; no I/O, no global state. Every function may run on any
 * thread (a job worker), several at once on different data; a struct seg_ct_data may be shared
 * by several fits running at once (it is only read). analytics/README.md ("Contrast groups")
 * explains the method, the tie rules and the cost.
 *
 * The input is a dense row-major matrix X of n customers by d features (doubles) and a target
 * y of n finite doubles. A numeric feature's column holds its values, NaN where the customer
 * has none. A categorical (string) feature's column holds category codes 0 .. ncat - 1 as
 * doubles, -1 (or NaN) where the customer has none; the caller keeps each code's value (the
 * string) in the feature's names, which order the categories whose target means tie.
 *
 * The tree (SPEC §6.2, exactly): at each node every feature is tried. A numeric feature splits
 * at `x <= t` for each distinct value t of the node (the "yes" side); a categorical one at
 * `x in S`, S a prefix of the node's categories ordered by ascending target mean (ties by
 * value, byte order). Customers without the feature go to the "no" side. The split with the
 * largest between-groups sum of squares wins; gains within 1e-9 of the node's total sum of
 * squares of the largest count as equal, and of those the first feature (in the order given)
 * wins, and within it the smallest t (the shortest prefix). A node splits only while both
 * children keep at least min_size customers, the gain is positive (above that same 1e-9 of the
 * node's sum of squares, so that rounding is no gain) and its depth (the root's is 0) is below
 * max_depth.
 *
 * Cost: seg_ct_data_new sorts each feature once (a radix sort, O(n), per numeric feature, a
 * counting sort per categorical one); each level of the tree is then O(n) per feature, whatever the
 * number of nodes. Memory beyond X: 4n bytes per feature for the sort orders, and O(n) per
 * fit and per thread.
 *
 * Cancel and progress: params.tick, when not NULL, is called on the calling thread every so
 * often (after each batch of `threads` features sorted or scanned, at least once per level)
 * with the fraction of that call's work done (0..1: seg_ct_data_new and seg_ct_fit each report
 * their own); when it returns false the work stops and the function returns
 * SEG_ERR_CANCELLED. Errors: SEG_ERR_INVALID with a sentence in err (which may be NULL) for
 * input that cannot be analysed; out is then left empty (safe to release).
 */
#ifndef SEG_ANALYTICS_CONTRAST_H
#define SEG_ANALYTICS_CONTRAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* No node, no leaf (a root's parent, an inner node's leaf index). */
#define SEG_CT_NONE SIZE_MAX
/* The largest max_depth accepted. */
#define SEG_CT_MAX_DEPTH 30

/* How one column of X is read. */
struct seg_ct_feature {
	bool categorical;
	/* categorical only: codes 0 .. ncat - 1; names[code] is the category's value (borrowed;
	 * NULL: ties between equal means go by code instead) */
	size_t ncat;
	const char *const *names;
};

/* Cancel/progress callback: fraction done in 0..1; return false to stop. */
typedef bool (*seg_ct_tick_fn)(void *ctx, double fraction);

struct seg_ct_params {
	int max_depth;	     /* default 3; 0 .. SEG_CT_MAX_DEPTH (0: the root alone) */
	size_t min_size;     /* default 50; >= 1: the least customers a child may hold */
	unsigned threads;    /* default 1; features are sorted and scanned this many at a time */
	seg_ct_tick_fn tick; /* may be NULL */
	void *ctx;
};

/* Sets the defaults above (no tick). */
void seg_ct_params_init(struct seg_ct_params *p);

/*
 * The features and their sort orders, made once and used by any number of fits (one per
 * k-means cluster, for instance). Holds pointers to X and to the features' names, which the
 * caller keeps alive and unchanged until seg_ct_data_free.
 */
struct seg_ct_data;

/*
 * Checks X (numeric values finite or NaN; codes whole numbers in -1 .. ncat - 1 or NaN) and
 * sorts each feature (threads and tick from p; max_depth and min_size are not used). n must be
 * at least 1 and below 2^32 - 1; d may be 0 (the tree is then the root). On success *out is a
 * new seg_ct_data; on failure *out is NULL.
 */
enum seg_err seg_ct_data_new(const double *X, size_t n, size_t d,
			     const struct seg_ct_feature *features, const struct seg_ct_params *p,
			     struct seg_ct_data **out, char *err, size_t errlen);
void seg_ct_data_free(struct seg_ct_data *data);

struct seg_ct_node {
	size_t size;   /* customers in the node */
	double mean;   /* their mean target */
	double sse;    /* sum of squares of the target about that mean */
	int depth;     /* root 0 */
	size_t parent; /* SEG_CT_NONE for the root */
	/* the split; feature is SEG_CT_NONE for a leaf */
	size_t feature;
	double threshold;    /* numeric: yes when x <= threshold (never NaN: NaN goes to no) */
	int32_t *categories; /* categorical: yes when the code is one of these (ascending mean) */
	size_t ncategories;
	double gain;	/* the split's between-groups sum of squares */
	size_t yes, no; /* children (node indices), SEG_CT_NONE for a leaf */
	size_t leaf;	/* index into leaves, SEG_CT_NONE for an inner node */
};

struct seg_ct_tree {
	size_t n;	  /* customers */
	double mean;	  /* their mean target */
	double sst;	  /* total sum of squares of the target */
	double explained; /* share of sst between the leaves: sum of size (leaf mean - mean)^2 /
			     sst; 0 when sst is 0 */
	/* in preorder: nodes[0] is the root, then its yes subtree, then its no subtree */
	struct seg_ct_node *nodes;
	size_t nnodes;
	size_t *leaves; /* node index of each leaf, left (yes) to right (no) */
	size_t nleaves;
};

/* Frees what a tree holds and empties it (NULL-safe, idempotent). */
void seg_ct_tree_release(struct seg_ct_tree *t);

/* One condition of a leaf's rule: the split of nodes[node], on its yes or its no side. */
struct seg_ct_step {
	size_t node;
	bool yes;
};

/*
 * The conditions that lead to leaf (an index into t->leaves), from the root down, into steps
 * (room for SEG_CT_MAX_DEPTH); returns their number (0 for a tree that is its root). The
 * leaf's §3 rule is {"all": [...]} of them: a yes step is the split's comparison ("lte" the
 * threshold, or "in" the categories' values), a no step {"not": ...} of it, which also holds
 * the customers without the feature.
 */
size_t seg_ct_leaf_path(const struct seg_ct_tree *t, size_t leaf,
			struct seg_ct_step steps[SEG_CT_MAX_DEPTH]);

/*
 * Grows the tree of target y[0..n) (finite) over data (SPEC §6.2) with p's max_depth, min_size,
 * threads and tick. When leaf_of is not NULL, leaf_of[i] receives the leaf index of row i.
 * out is released by the caller with seg_ct_tree_release (also after a failure).
 */
enum seg_err seg_ct_fit(const struct seg_ct_data *data, const double *y,
			const struct seg_ct_params *p, struct seg_ct_tree *out, uint32_t *leaf_of,
			char *err, size_t errlen);

/*
 * A rule that describes a group of customers (a k-means cluster): the contrast tree of the
 * 0/1 target "is a member" (leaf means are the members' shares), and the union of the leaves
 * that describes the group best:
 *   precision = members among the rule's customers / the rule's customers
 *               ("share of the rule's customers in the cluster");
 *   recall    = members the rule catches / members ("share of the cluster caught by the rule");
 *   f1        = their harmonic mean, 2 hits / (matched + members): the `fidelity` the rule is
 *               chosen by.
 * The leaves are ordered by their share of members, highest first (ties by leaf index); the
 * rule is the shortest prefix of that order with the largest f1. The rule's customers are
 * exactly those matching `any` of the chosen leaves' rules, since the leaves are disjoint.
 */
struct seg_ct_rule {
	struct seg_ct_tree tree;
	size_t *leaves; /* indices into tree.leaves, highest share first */
	size_t nleaves;
	size_t matched; /* customers of the rule */
	size_t members; /* customers of the group */
	size_t hits;	/* customers in both */
	double precision, recall, f1;
};

/* Frees what a rule holds and empties it (NULL-safe, idempotent). */
void seg_ct_rule_release(struct seg_ct_rule *r);

/*
 * Describes the group {i : member[i] != 0} of data's customers (at least one member; p as for
 * seg_ct_fit: a shallow tree, max_depth 2 or 3, keeps the rule readable). out is released by
 * the caller with seg_ct_rule_release (also after a failure).
 */
enum seg_err seg_ct_describe(const struct seg_ct_data *data, const unsigned char *member,
			     const struct seg_ct_params *p, struct seg_ct_rule *out, char *err,
			     size_t errlen);

#endif

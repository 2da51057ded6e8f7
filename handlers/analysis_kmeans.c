/*
 * The k-means analysis type (SPEC §6 `kmeans`; the contract: handlers/analysiskinds.h; h-kw):
 * params {"features": [{"attr"} | {"metric"}, ...] (1 to 100; string and boolean attributes
 * and string metrics one-hot encoded), "k": integer 2..100 | "auto" (default), "k_min",
 * "k_max" (with "auto" only; default 3 and 8), "seed" (default 0), "n_init" (default 10),
 * "max_iter" (default 300), "scaling": "standard" (default) | "minmax" | "none", "filter":
 * rule | null}.
 *
 * The run reads the features of the customers the filter matches (db/analysis_features.c),
 * leaves out the customers without a value of some numeric feature (reported as "excluded",
 * per feature under "missing"); a customer without a value of a categorical feature has 0 in
 * each of its one-hot columns. It clusters the rest (analytics/kmeans.h: seg_kmeans_analyse,
 * scaled as asked), describes each cluster by a rule from the contrast tree of "is in the
 * cluster" over the UNSCALED features (analytics/contrast.h: seg_ct_describe; its F1 is the
 * `fidelity`), and writes each customer's cluster and distance to its centroid (in scaled
 * units) into its store through COPY (db/analysis_kmeans.c).
 *
 * Materialising makes a scheme of static segments, one per cluster, named by their labels
 * (repeats numbered), holding each cluster's customers; they follow every later run
 * (handlers/analysiskinds.h `groups`, db/README.md "Static materialisation").
 */
#include "analysiskinds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "contrast.h"
#include "kmeans.h"
#include "validate.h"

#define SEG__KMEANS_FEATURES_MAX 100
/* one-hot columns and numeric features together */
#define SEG__KMEANS_COLUMNS_MAX 200
#define SEG__KMEANS_K_MAX	100
#define SEG__KMEANS_RULE_DEPTH	3

/* Whether v is an integer in [lo, hi]. */
static bool seg__int_in(const json_t *v, json_int_t lo, json_int_t hi)
{
	return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

/* Checks params[key], an integer in [lo, hi], or fills def in when absent. */
static void seg__int_param(json_t *params, const char *key, json_int_t lo, json_int_t hi,
			   json_int_t def, struct seg_problem *p)
{
	char ptr[64];
	json_t *v = json_object_get(params, key);
	if (!v) {
		json_object_set_new(params, key, json_integer(def));
		return;
	}
	if (seg__int_in(v, lo, hi))
		return;
	snprintf(ptr, sizeof(ptr), "/params/%s", key);
	seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0, "%s is an integer from %lld to %lld", key,
			(long long)lo, (long long)hi);
}

static size_t seg__kmeans_check(json_t *params, struct seg_problem *p)
{
	static const char *const keys[] = {"features", "k",	   "k_min",   "k_max",	"seed",
					   "n_init",   "max_iter", "scaling", "filter", NULL};
	size_t before = p->count + p->dropped;
	json_t *v;

	seg_json_object_check(params, keys, "/params", p);
	seg_analysis_features_check(params, "features", 1, SEG__KMEANS_FEATURES_MAX, true, p);
	v = json_object_get(params, "k");
	bool is_auto = !v || (json_is_string(v) && strcmp(json_string_value(v), "auto") == 0);
	if (!v)
		json_object_set_new(params, "k", json_string("auto"));
	else if (!is_auto && !seg__int_in(v, 2, SEG__KMEANS_K_MAX))
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/k", 0,
				"k is \"auto\" or an integer from 2 to %d", SEG__KMEANS_K_MAX);
	if (is_auto) {
		seg__int_param(params, "k_min", 2, SEG__KMEANS_K_MAX, 3, p);
		seg__int_param(params, "k_max", 2, SEG__KMEANS_K_MAX, 8, p);
		json_t *lo = json_object_get(params, "k_min"),
		       *hi = json_object_get(params, "k_max");
		if (json_is_integer(lo) && json_is_integer(hi) &&
		    json_integer_value(lo) > json_integer_value(hi))
			seg_problem_add(p, SEG_WHERE_POINTER, "/params/k_max", 0,
					"k_max must be at least k_min");
	} else {
		for (const char *const *k = (const char *const[]){"k_min", "k_max", NULL}; *k; k++)
			if (json_object_get(params, *k)) {
				char ptr[32];
				snprintf(ptr, sizeof(ptr), "/params/%s", *k);
				seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
						"%s goes with k \"auto\" only", *k);
			}
	}
	seg__int_param(params, "seed", 0, (json_int_t)1 << 53, 0, p);
	seg__int_param(params, "n_init", 1, 100, 10, p);
	seg__int_param(params, "max_iter", 1, 10000, 300, p);
	v = json_object_get(params, "scaling");
	if (!v)
		json_object_set_new(params, "scaling", json_string("standard"));
	else if (!json_is_string(v) || (strcmp(json_string_value(v), "standard") != 0 &&
					strcmp(json_string_value(v), "minmax") != 0 &&
					strcmp(json_string_value(v), "none") != 0))
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/scaling", 0,
				"scaling is \"standard\", \"minmax\" or \"none\"");
	seg_analysis_filter_check(params, p);
	return p->count + p->dropped - before;
}

/* The engine's progress and cancellation, through the run's hooks, over [from, to]. */
struct seg__kmeans_tick {
	const struct seg_job_hooks *hooks;
	double from, to;
};

static bool seg__kmeans_tick(void *ctx, double fraction)
{
	const struct seg__kmeans_tick *t = ctx;
	if (t->hooks->stopping(t->hooks->ctx))
		return false;
	t->hooks->progress(t->hooks->ctx, t->from + (t->to - t->from) * fraction);
	return true;
}

static int seg__kmeans_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

/* The matrix the clustering sees: numeric columns as they are, categorical ones one-hot. */
struct seg__encoded {
	size_t n, d;	      /* rows kept, columns */
	double *x;	      /* n x d */
	char **names;	      /* d: "name" or "name=value" */
	size_t *kept;	      /* n: the row of f each row is */
	int32_t *cluster;     /* f->n: each customer's cluster, -1 when left out */
	double *distance;     /* f->n */
	size_t excluded;      /* rows left out (a numeric feature missing) */
	size_t too_many_cols; /* the feature to blame when d would be too large, +1 (0: none) */
};

static void seg__encoded_release(struct seg__encoded *e)
{
	for (size_t j = 0; e->names && j < e->d; j++)
		free(e->names[j]);
	free(e->names);
	free(e->x);
	free(e->kept);
	free(e->cluster);
	free(e->distance);
	memset(e, 0, sizeof(*e));
}

/*
 * Encodes f (rows without a numeric feature left out); compacts f->x to the kept rows, in
 * order, so that f->x is then kept x d (the unscaled features the rules describe).
 */
static void seg__encode(struct seg_features *f, struct seg__encoded *e)
{
	size_t d = 0;
	for (size_t j = 0; j < f->d; j++) {
		d += f->cols[j].categorical ? f->cols[j].ncategories : 1;
		if (d > SEG__KMEANS_COLUMNS_MAX && !e->too_many_cols)
			e->too_many_cols = j + 1;
	}
	if (e->too_many_cols)
		return;
	e->d = d;
	e->names = seg_calloc(d ? d : 1, sizeof(*e->names));
	for (size_t j = 0, c = 0; j < f->d; j++) {
		const struct seg_feature_column *col = &f->cols[j];
		if (!col->categorical) {
			e->names[c++] = seg_strdup(col->name);
			continue;
		}
		for (size_t v = 0; v < col->ncategories; v++) {
			struct seg_buf b = SEG_BUF_INIT;
			seg_buf_addf(&b, "%s=%s", col->name, col->categories[v]);
			e->names[c++] = seg_buf_detach(&b, NULL);
		}
	}
	e->cluster = seg_malloc((f->n ? f->n : 1) * sizeof(*e->cluster));
	e->distance = seg_malloc((f->n ? f->n : 1) * sizeof(*e->distance));
	e->kept = seg_malloc((f->n ? f->n : 1) * sizeof(*e->kept));
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++) {
		bool ok = true;
		for (size_t j = 0; j < f->d && ok; j++)
			ok = f->cols[j].categorical || !isnan(f->x[i * f->d + j]);
		e->cluster[i] = -1;
		e->distance[i] = NAN;
		if (ok)
			e->kept[n++] = i;
	}
	e->n = n;
	e->excluded = f->n - n;
	e->x = seg_calloc(n && d ? n * d : 1, sizeof(double));
	for (size_t r = 0; r < n; r++) {
		const double *src = f->x + e->kept[r] * f->d;
		double *dst = e->x + r * d;
		for (size_t j = 0, c = 0; j < f->d; j++) {
			const struct seg_feature_column *col = &f->cols[j];
			if (!col->categorical) {
				dst[c++] = src[j];
				continue;
			}
			double code = src[j];
			if (!isnan(code) && code >= 0 && code < (double)col->ncategories)
				dst[c + (size_t)code] = 1;
			c += col->ncategories;
		}
	}
	/* f->x to the kept rows (row r comes from row kept[r] >= r: forward is safe) */
	for (size_t r = 0; r < n; r++)
		if (e->kept[r] != r)
			memmove(f->x + r * f->d, f->x + e->kept[r] * f->d, f->d * sizeof(double));
}

/* The subject of a rule leaf for column j: {"attr": name} or {"metric": name}. */
static void seg__subject(json_t *leaf, const struct seg_feature_column *col)
{
	json_object_set_new(leaf, col->source == SEG_FEATURE_ATTR ? "attr" : "metric",
			    json_string(col->name));
}

/* The yes side of the split of node: "lte" its threshold, or "in" its categories. */
static json_t *seg__split_rule(const struct seg_features *f, const struct seg_ct_node *node)
{
	const struct seg_feature_column *col = &f->cols[node->feature];
	json_t *leaf = json_object();
	seg__subject(leaf, col);
	if (!col->categorical) {
		json_object_set_new(leaf, "op", json_string("lte"));
		json_object_set_new(leaf, "value", json_real(node->threshold));
		return leaf;
	}
	json_t *values = json_array();
	for (size_t c = 0; c < node->ncategories; c++) {
		const char *v = col->categories[node->categories[c]];
		/* a boolean attribute's categories are "false" and "true": compared as booleans */
		json_array_append_new(values, col->boolean ? json_boolean(strcmp(v, "true") == 0)
							   : json_string(v));
	}
	json_object_set_new(leaf, "op", json_string("in"));
	json_object_set_new(leaf, "value", values);
	return leaf;
}

/* The §3 rule of a cluster: the union of the chosen leaves' paths. */
static json_t *seg__cluster_rule(const struct seg_features *f, const struct seg_ct_rule *r)
{
	struct seg_ct_step steps[SEG_CT_MAX_DEPTH];
	json_t *any = json_array();
	for (size_t l = 0; l < r->nleaves; l++) {
		size_t ns = seg_ct_leaf_path(&r->tree, r->leaves[l], steps);
		json_t *all = json_array();
		for (size_t s = 0; s < ns; s++) {
			json_t *c = seg__split_rule(f, &r->tree.nodes[steps[s].node]);
			json_array_append_new(all, steps[s].yes ? c : json_pack("{s:o}", "not", c));
		}
		json_array_append_new(any, json_pack("{s:o}", "all", all));
	}
	if (json_array_size(any) == 1) {
		json_t *one = json_incref(json_array_get(any, 0));
		json_decref(any);
		return one;
	}
	return json_pack("{s:o}", "any", any);
}

static const char *seg__status_text(enum seg_kmeans_status s)
{
	switch (s) {
	case SEG_KMEANS_OK: return "ok";
	case SEG_KMEANS_TOO_FEW: return "too_few";
	case SEG_KMEANS_UNDEFINED: return "undefined";
	default: return "invalid";
	}
}

static json_t *seg__kmeans_result(const json_t *params, const struct seg_features *f,
				  const struct seg__encoded *e, const struct seg_kmeans_analysis *a,
				  json_t *rules, const size_t *perm, const size_t *inv)
{
	json_t *features = json_array(), *missing = json_object(), *cands = json_array(),
	       *clusters = json_array(), *comps = json_array(), *points = json_array(),
	       *explained = json_array();
	for (size_t j = 0; j < e->d; j++)
		json_array_append_new(features, json_string(e->names[j]));
	for (size_t j = 0; j < f->d; j++)
		json_object_set_new(missing, f->cols[j].name,
				    json_integer((json_int_t)f->cols[j].missing));
	for (size_t c = 0; c < a->ncandidates; c++) {
		const struct seg_kmeans_candidate *k = &a->candidates[c];
		bool ok = k->status == SEG_KMEANS_OK;
		json_array_append_new(
			cands, json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:i}", "k",
					 (json_int_t)k->k, "status", seg__status_text(k->status),
					 "inertia", seg_analysis_real(k->inertia), "silhouette",
					 ok ? seg_analysis_real(k->silhouette) : json_null(),
					 "davies_bouldin",
					 ok ? seg_analysis_real(k->davies_bouldin) : json_null(),
					 "calinski_harabasz",
					 ok ? seg_analysis_real(k->calinski_harabasz) : json_null(),
					 "iterations", k->iterations));
	}
	for (size_t ix = 0; ix < a->k; ix++) {
		size_t c = inv[ix]; /* listed by their index (seg__kmeans_order) */
		json_t *centroid = json_object(), *profile = json_object();
		for (size_t j = 0; j < e->d; j++) {
			json_object_set_new(centroid, e->names[j],
					    seg_analysis_real(a->centroids[c * e->d + j]));
			json_object_set_new(
				profile, e->names[j],
				json_pack("{s:o, s:o}", "mean",
					  seg_analysis_real(a->profile.mean[c * e->d + j]), "z",
					  seg_analysis_real(a->profile.z[c * e->d + j])));
		}
		json_t *r = json_array_get(rules, c);
		size_t size = a->fit.sizes[c];
		json_array_append_new(
			clusters,
			json_pack("{s:I, s:I, s:o, s:o, s:s, s:O, s:O, s:O, s:O, s:o}", "index",
				  (json_int_t)ix, "size", (json_int_t)size, "share",
				  seg_analysis_real(e->n ? (double)size / (double)e->n : 0),
				  "centroid", centroid, "label", a->labels[c], "rule",
				  json_object_get(r, "rule"), "fidelity",
				  json_object_get(r, "fidelity"), "precision",
				  json_object_get(r, "precision"), "recall",
				  json_object_get(r, "recall"), "profile", profile));
	}
	const struct seg_kmeans_projection *pr = &a->projection;
	for (size_t c = 0; c < pr->ncomp; c++) {
		json_t *row = json_array();
		for (size_t j = 0; j < pr->d; j++)
			json_array_append_new(row,
					      seg_analysis_real(pr->components[c * pr->d + j]));
		json_array_append_new(comps, row);
		json_array_append_new(explained, seg_analysis_real(pr->explained[c]));
	}
	for (size_t i = 0; i < pr->m; i++)
		json_array_append_new(points,
				      json_pack("[o, o, i]", seg_analysis_real(pr->points[i * 2]),
						seg_analysis_real(pr->points[i * 2 + 1]),
						pr->cluster[i] >= 0 && (size_t)pr->cluster[i] < a->k
							? (int)perm[pr->cluster[i]]
							: -1));
	json_t *hq = a->has_quality ? NULL : json_null();
	return json_pack("{s:I, s:I, s:I, s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, "
			 "s:{s:o, s:o, s:o}}",
			 "k", (json_int_t)a->k, "n", (json_int_t)e->n, "customers",
			 (json_int_t)f->n, "excluded", (json_int_t)e->excluded, "missing", missing,
			 "scaling", json_string_value(json_object_get(params, "scaling")),
			 "features", features, "inertia", seg_analysis_real(a->fit.inertia),
			 "silhouette", hq ? json_null() : seg_analysis_real(a->silhouette),
			 "davies_bouldin", hq ? json_null() : seg_analysis_real(a->davies_bouldin),
			 "calinski_harabasz",
			 hq ? json_null() : seg_analysis_real(a->calinski_harabasz), "iterations",
			 a->fit.iterations, "candidates", cands, "clusters", clusters, "projection",
			 "components", comps, "explained", explained, "points", points);
}

/* A run the data cannot support: *problem set, SEG_ERR_INVALID. */
static enum seg_err seg__kmeans_fail(json_t **problem, const char *detail, const char *pointer)
{
	*problem = seg_analysis_problem(detail);
	if (pointer)
		json_object_set_new(*problem, "pointer", json_string(pointer));
	return SEG_ERR_INVALID;
}

/* Each cluster's rule, fidelity, precision and recall (a new array of k objects). */
static enum seg_err seg__kmeans_rules(const struct seg_analysis_ctx *ctx,
				      const struct seg_features *f, const struct seg__encoded *e,
				      const struct seg_kmeans_analysis *a, int threads,
				      json_t **rules, json_t **problem)
{
	struct seg_ct_feature *feats = seg_calloc(f->d ? f->d : 1, sizeof(*feats));
	unsigned char *member = seg_malloc(e->n ? e->n : 1);
	struct seg_ct_data *data = NULL;
	struct seg_ct_params p;
	char msg[256] = "";
	enum seg_err err;

	*rules = json_array();
	for (size_t j = 0; j < f->d; j++) {
		feats[j].categorical = f->cols[j].categorical;
		feats[j].ncat = f->cols[j].ncategories;
		feats[j].names = (const char *const *)f->cols[j].categories;
	}
	seg_ct_params_init(&p);
	p.max_depth = SEG__KMEANS_RULE_DEPTH;
	p.min_size = e->n / 100 > 0 ? e->n / 100 : 1;
	p.threads = (unsigned)threads;
	err = seg_ct_data_new(f->x, e->n, f->d, feats, &p, &data, msg, sizeof(msg));
	for (size_t c = 0; !err && c < a->k; c++) {
		struct seg_ct_rule r = {0};
		if (ctx->hooks->stopping(ctx->hooks->ctx)) {
			err = SEG_ERR_CANCELLED;
			break;
		}
		for (size_t i = 0; i < e->n; i++)
			member[i] = a->fit.labels[i] == (int32_t)c;
		err = seg_ct_describe(data, member, &p, &r, msg, sizeof(msg));
		if (!err)
			json_array_append_new(*rules,
					      json_pack("{s:o, s:o, s:o, s:o}", "rule",
							seg__cluster_rule(f, &r), "fidelity",
							seg_analysis_real(r.f1), "precision",
							seg_analysis_real(r.precision), "recall",
							seg_analysis_real(r.recall)));
		seg_ct_rule_release(&r);
		ctx->hooks->progress(ctx->hooks->ctx, 0.85 + 0.05 * (double)(c + 1) / (double)a->k);
	}
	if (err == SEG_ERR_INVALID)
		seg__kmeans_fail(problem, msg, NULL);
	seg_ct_data_free(data);
	free(feats);
	free(member);
	return err;
}

/* A pair of a new cluster and a previous one, by the distance of their centroids. */
struct seg__kmeans_pair {
	double dist;
	size_t c, o;
};

static int seg__pair_cmp(const void *a, const void *b)
{
	const struct seg__kmeans_pair *x = a, *y = b;
	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	if (x->c != y->c)
		return x->c < y->c ? -1 : 1;
	return x->o < y->o ? -1 : x->o > y->o;
}

/*
 * The index of each new cluster (perm[c]; inv its inverse): the previous run's index of the
 * nearest previous centroid, so that a materialised scheme keeps its meaning from run to run.
 * Pairs of a new and a previous cluster are taken closest first (squared distance between
 * centroids in this run's scaled units; ties by new, then previous index), each cluster once;
 * only previous indices below k are used, and the new clusters left take the free indices in
 * their own order. Without a previous result over the same encoded features (the first run,
 * other features, a value missing) the order is the engine's.
 */
static enum seg_err seg__kmeans_order(const struct seg_analysis_ctx *ctx,
				      const struct seg__encoded *e,
				      const struct seg_kmeans_analysis *a, size_t *perm,
				      size_t *inv)
{
	size_t k = a->k, d = e->d;
	char *text = NULL;
	json_t *prev = NULL;
	double *old = NULL;
	struct seg__kmeans_pair *pairs = NULL;
	bool *taken_c = NULL, *taken_o = NULL;
	enum seg_err err;

	for (size_t c = 0; c < k; c++)
		perm[c] = inv[c] = c;
	err = seg_db_analysis_previous_result(ctx->db, ctx->tenant, ctx->analysis, &text);
	if (err || !text)
		goto out;
	prev = json_loads(text, 0, NULL);
	json_t *features = json_object_get(prev, "features");
	json_t *clusters = json_object_get(prev, "clusters");
	size_t ko = json_array_size(clusters);
	bool same = json_array_size(features) == d && ko > 0;
	for (size_t j = 0; same && j < d; j++)
		same = json_is_string(json_array_get(features, j)) &&
		       strcmp(json_string_value(json_array_get(features, j)), e->names[j]) == 0;
	if (!same)
		goto out;
	old = seg_calloc(ko * d, sizeof(*old));
	for (size_t o = 0; o < ko && same; o++) {
		json_t *cen = json_object_get(json_array_get(clusters, o), "centroid");
		json_t *idx = json_object_get(json_array_get(clusters, o), "index");
		same = json_is_integer(idx) && json_integer_value(idx) == (json_int_t)o;
		for (size_t j = 0; same && j < d; j++) {
			json_t *v = json_object_get(cen, e->names[j]);
			same = json_is_number(v);
			if (same)
				old[o * d + j] = (json_number_value(v) - a->shift[j]) / a->scale[j];
		}
	}
	if (!same)
		goto out;
	size_t np = 0, usable = ko < k ? ko : k;
	pairs = seg_calloc(k * usable, sizeof(*pairs));
	for (size_t c = 0; c < k; c++)
		for (size_t o = 0; o < usable; o++) {
			double s = 0;
			for (size_t j = 0; j < d; j++) {
				double t = a->fit.centroids[c * d + j] - old[o * d + j];
				s += t * t;
			}
			pairs[np++] = (struct seg__kmeans_pair){s, c, o};
		}
	qsort(pairs, np, sizeof(*pairs), seg__pair_cmp);
	taken_c = seg_calloc(k, sizeof(*taken_c));
	taken_o = seg_calloc(k, sizeof(*taken_o));
	for (size_t i = 0; i < np; i++) {
		if (taken_c[pairs[i].c] || taken_o[pairs[i].o])
			continue;
		taken_c[pairs[i].c] = taken_o[pairs[i].o] = true;
		perm[pairs[i].c] = pairs[i].o;
	}
	for (size_t c = 0, ix = 0; c < k; c++) {
		if (taken_c[c])
			continue;
		while (taken_o[ix])
			ix++;
		taken_o[ix] = true;
		perm[c] = ix;
	}
	for (size_t c = 0; c < k; c++)
		inv[perm[c]] = c;
out:
	free(text);
	json_decref(prev);
	free(old);
	free(pairs);
	free(taken_c);
	free(taken_o);
	return err;
}

static enum seg_err seg__kmeans_run(const struct seg_analysis_ctx *ctx, json_t **result,
				    json_t **problem)
{
	struct seg_features f = {0};
	struct seg__encoded e = {0};
	struct seg_kmeans_analysis a = {0};
	struct seg_kmeans_analysis_params kp;
	json_t *rules = NULL;
	size_t *perm = NULL, *inv = NULL;
	char msg[300] = "";
	const json_t *params = ctx->params;
	size_t d = json_array_size(json_object_get(params, "features"));
	int threads = seg__kmeans_threads();
	enum seg_err err;

	*result = *problem = NULL;
	if (ctx->hooks->stopping(ctx->hooks->ctx))
		return SEG_ERR_CANCELLED;
	/* the encoded copy (one-hot columns: a few per feature), labels, distances, the rules'
	 * sort orders, beside the matrix */
	err = seg_analysis_features_read(ctx, "features", true, d * 3 * sizeof(double) + 64, 0.05,
					 0.4, &f, problem);
	if (err)
		goto out;
	if (f.n == 0) {
		err = seg__kmeans_fail(
			problem,
			json_is_null(json_object_get(params, "filter"))
				? "the tenant has no customers: there is nothing to analyse"
				: "the filter matches no customer: there is nothing to analyse",
			NULL);
		goto out;
	}
	seg__encode(&f, &e);
	if (e.too_many_cols) {
		char ptr[64];
		snprintf(ptr, sizeof(ptr), "/params/features/%zu", e.too_many_cols - 1);
		snprintf(msg, sizeof(msg),
			 "the features would make more than %d columns (each value of a string "
			 "feature is a column of its own): \"%s\" has %zu values",
			 SEG__KMEANS_COLUMNS_MAX, f.cols[e.too_many_cols - 1].name,
			 f.cols[e.too_many_cols - 1].ncategories);
		err = seg__kmeans_fail(problem, msg, ptr);
		goto out;
	}
	if (e.d == 0) {
		err = seg__kmeans_fail(problem,
				       "no customer read has a value of any feature: there is "
				       "nothing to cluster",
				       NULL);
		goto out;
	}
	seg_kmeans_analysis_params_init(&kp);
	const json_t *k = json_object_get(params, "k");
	kp.auto_k = json_is_string(k);
	if (kp.auto_k) {
		kp.k_min = (size_t)json_integer_value(json_object_get(params, "k_min"));
		kp.k_max = (size_t)json_integer_value(json_object_get(params, "k_max"));
	} else
		kp.fit.k = (size_t)json_integer_value(k);
	kp.fit.seed = (uint64_t)json_integer_value(json_object_get(params, "seed"));
	kp.fit.n_init = (int)json_integer_value(json_object_get(params, "n_init"));
	kp.fit.max_iter = (int)json_integer_value(json_object_get(params, "max_iter"));
	kp.fit.threads = threads;
	const char *scaling = json_string_value(json_object_get(params, "scaling"));
	kp.scaling = strcmp(scaling, "minmax") == 0 ? SEG_KMEANS_SCALE_MINMAX
		     : strcmp(scaling, "none") == 0 ? SEG_KMEANS_SCALE_NONE
						    : SEG_KMEANS_SCALE_STANDARD;
	struct seg__kmeans_tick tick = {ctx->hooks, 0.4, 0.85};
	kp.fit.tick = seg__kmeans_tick;
	kp.fit.tick_ctx = &tick;
	enum seg_kmeans_status st = seg_kmeans_analyse(e.x, e.n, e.d, (const char *const *)e.names,
						       &kp, &a, msg, sizeof(msg));
	if (st == SEG_KMEANS_CANCELLED) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}
	if (st != SEG_KMEANS_OK) {
		struct seg_buf detail = SEG_BUF_INIT;
		seg_buf_addstr(&detail, msg);
		seg_buf_addf(&detail,
			     " (%zu of the %zu customers read were clustered; a customer without a "
			     "value of a numeric feature takes no part)",
			     e.n, f.n);
		err = seg__kmeans_fail(problem, detail.data, NULL);
		seg_buf_release(&detail);
		goto out;
	}
	err = seg__kmeans_rules(ctx, &f, &e, &a, threads, &rules, problem);
	if (err)
		goto out;
	perm = seg_calloc(a.k, sizeof(*perm));
	inv = seg_calloc(a.k, sizeof(*inv));
	err = seg__kmeans_order(ctx, &e, &a, perm, inv);
	if (err)
		goto out;
	/* each clustered customer's cluster and distance (e.x is scaled now, as the centroids) */
	for (size_t r = 0; r < e.n; r++) {
		int32_t c = a.fit.labels[r];
		double s = 0;
		for (size_t j = 0; j < e.d; j++) {
			double t = e.x[r * e.d + j] - a.fit.centroids[(size_t)c * e.d + j];
			s += t * t;
		}
		e.cluster[e.kept[r]] = (int32_t)perm[c];
		e.distance[e.kept[r]] = sqrt(s);
	}
	err = seg_db_kmeans_store(ctx->db, ctx->store, &f, e.cluster, e.distance, ctx->hooks);
	if (err)
		goto out;
	ctx->hooks->progress(ctx->hooks->ctx, 0.97);
	*result = seg__kmeans_result(params, &f, &e, &a, rules, perm, inv);
	if (!*result)
		err = SEG_ERR_INTERNAL;
out:
	json_decref(rules);
	free(perm);
	free(inv);
	seg_kmeans_analysis_release(&a);
	seg__encoded_release(&e);
	seg_features_release(&f);
	return err;
}

/* The static segments: one per cluster, named by its label (at most 80 bytes). */
static json_t *seg__kmeans_groups(const json_t *params, const json_t *result)
{
	(void)params;
	json_t *clusters = json_object_get(result, "clusters"), *out = json_array();
	for (size_t c = 0; c < json_array_size(clusters); c++) {
		json_t *cl = json_array_get(clusters, c);
		const char *label = json_string_value(json_object_get(cl, "label"));
		size_t len = label ? strlen(label) : 0;
		if (len > 80) {
			len = 80;
			while (len > 0 && ((unsigned char)label[len] & 0xc0) == 0x80)
				len--;
		}
		struct seg_buf name = SEG_BUF_INIT, desc = SEG_BUF_INIT;
		if (len)
			seg_buf_add(&name, label, len);
		else
			seg_buf_addf(&name, "Cluster %zu", c + 1);
		seg_buf_addf(&desc, "k-means cluster %zu of %zu", c + 1, json_array_size(clusters));
		json_array_append_new(
			out, json_pack("{s:s, s:s}", "name", name.data, "description", desc.data));
		seg_buf_release(&name);
		seg_buf_release(&desc);
	}
	return out;
}

static const char *const seg__kmeans_columns[] = {"cluster", "distance", NULL};

const struct seg_analysis_kind seg_analysis_kmeans = {
	.type = "kmeans",
	.check = seg__kmeans_check,
	.run = seg__kmeans_run,
	.columns = seg__kmeans_columns,
	.groups = seg__kmeans_groups,
	.group_column = "cluster",
};

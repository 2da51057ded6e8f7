/*
 * The contrast-group analysis type (Kontrastgruppenanalyse, AID; SPEC §6 `contrast`, §6.2; the
 * contract: handlers/analysiskinds.h; h-tw): params {"target": {"metric": name} | {"attr":
 * name} (numeric) | {"segment": id} (membership as 1 or 0), "features": [{"attr"} |
 * {"metric"}, ...] (1 to 100; string and boolean attributes and string metrics are
 * categorical), "max_depth": 0..10 (default 3), "min_size": >= 1 (default 50), "filter": rule
 * | null}.
 *
 * The run reads the features and the target of the customers the filter matches in one pass
 * (db/analysis_features.c: the target is the last column; a segment target reads the stored
 * memberships), grows the tree over the customers that have a target (analytics/contrast.c),
 * and writes every customer read into its store (db/analysis_contrast.c): the leaf its leaf's
 * rule puts it in (also a customer without a target: the rules decide, so a missing feature
 * goes to the "no" side as §6.2 says) and its target. Each leaf's rule is {"all": [...]} of
 * the conditions from the root down (seg_ct_leaf_path): a yes step is {"attr"|"metric": f,
 * "op": "lte", "value": t} or {"op": "in", "value": [the categories]}, a no step {"not": ...}
 * of it. The leaves partition every customer, whatever the filter: materialising makes a
 * scheme of dynamic segments, one per leaf, MECE by construction.
 */
#include "analysiskinds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "contrast.h"
#include "text.h"
#include "validate.h"

#define SEG__CONTRAST_FEATURES_MAX 100
#define SEG__CONTRAST_DEPTH_MAX	   10 /* at most 1,024 leaves, so as many segments */
#define SEG__CONTRAST_MIN_SIZE_MAX 1000000000

/* Whether s is a segment id as rules write it: 1 to 18 digits. */
static bool seg__contrast_id(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	return len > 0 && len <= 18 && strspn(s, "0123456789") == len;
}

static void seg__contrast_target_check(json_t *params, struct seg_problem *p)
{
	json_t *t = json_object_get(params, "target");
	json_t *a = json_object_get(t, "attr"), *m = json_object_get(t, "metric"),
	       *s = json_object_get(t, "segment");

	if (!json_is_object(t) || json_object_size(t) != 1 || (!a && !m && !s)) {
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/target", 0,
				"target is {\"metric\": name}, {\"attr\": name} (a number or "
				"integer attribute) or {\"segment\": id} (membership as 1 or 0)");
		return;
	}
	if (s) {
		char id[32];
		if (json_is_integer(s) && json_integer_value(s) >= 1) { /* written as rules do */
			snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(s));
			json_object_set_new(t, "segment", json_string(id));
		} else if (!json_is_string(s) || !seg__contrast_id(json_string_value(s)))
			seg_problem_add(p, SEG_WHERE_POINTER, "/params/target/segment", 0,
					"a segment is named by its id");
		return;
	}
	json_t *name = a ? a : m;
	const char *ptr = a ? "/params/target/attr" : "/params/target/metric";
	const char *n = json_string_value(name);
	if (!n || json_string_length(name) == 0 || json_string_length(name) > 200 ||
	    strlen(n) != json_string_length(name) || !seg_utf8_valid(n, json_string_length(name))) {
		seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
				"the target's name is a string of 1 to 200 bytes");
		return;
	}
	int kind = m ? seg_feature_metric_kind(n) : 1;
	if (kind == 0)
		seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
				"unknown metric \"%s\" (SPEC §4: orders, revenue, avg_order_value, "
				"recency_days, tenure_days, events, rfm_r, rfm_f, rfm_m, clv, "
				"p_alive, predicted_orders, factor_n)",
				n);
	else if (kind != 1)
		seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
				"metric \"%s\" is not a number: the target is numeric", n);
	/* the target cannot explain itself */
	json_t *features = json_object_get(params, "features");
	for (size_t i = 0; i < json_array_size(features); i++) {
		const char *o = seg_analysis_feature_name(json_array_get(features, i));
		if (o && strcmp(o, n) == 0) {
			char fp[64];
			snprintf(fp, sizeof(fp), "/params/features/%zu", i);
			seg_problem_add(p, SEG_WHERE_POINTER, fp, 0,
					"\"%s\" is the target: it cannot be a feature too", n);
		}
	}
}

/* An integer param in lo..hi, def when absent. */
static void seg__contrast_int(json_t *params, const char *key, json_int_t lo, json_int_t hi,
			      json_int_t def, struct seg_problem *p)
{
	json_t *v = json_object_get(params, key);
	char ptr[64];
	if (!v) {
		json_object_set_new(params, key, json_integer(def));
		return;
	}
	if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi)
		return;
	snprintf(ptr, sizeof(ptr), "/params/%s", key);
	seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0, "%s is an integer from %lld to %lld", key,
			(long long)lo, (long long)hi);
}

static size_t seg__contrast_check(json_t *params, struct seg_problem *p)
{
	static const char *const keys[] = {"target",   "features", "max_depth",
					   "min_size", "filter",   NULL};
	size_t before = p->count + p->dropped;

	seg_json_object_check(params, keys, "/params", p);
	seg_analysis_features_check(params, "features", 1, SEG__CONTRAST_FEATURES_MAX, true, p);
	seg__contrast_target_check(params, p);
	seg__contrast_int(params, "max_depth", 0, SEG__CONTRAST_DEPTH_MAX, 3, p);
	seg__contrast_int(params, "min_size", 1, SEG__CONTRAST_MIN_SIZE_MAX, 50, p);
	seg_analysis_filter_check(params, p);
	return p->count + p->dropped - before;
}

/* The engine's progress and cancellation, through the run's hooks, over [from, from + span]. */
struct seg__contrast_tick {
	const struct seg_job_hooks *hooks;
	double from, span;
};

static bool seg__contrast_tick(void *ctx, double fraction)
{
	const struct seg__contrast_tick *t = ctx;
	if (t->hooks->stopping(t->hooks->ctx))
		return false;
	t->hooks->progress(t->hooks->ctx, t->from + t->span * fraction);
	return true;
}

/* The split of node as a §3 condition (a yes step). */
static json_t *seg__contrast_cond(const struct seg_features *f, const struct seg_ct_node *node)
{
	const struct seg_feature_column *col = &f->cols[node->feature];
	const char *key = col->source == SEG_FEATURE_ATTR ? "attr" : "metric";
	json_t *value;
	const char *op;

	if (col->categorical) {
		op = "in";
		value = json_array();
		for (size_t i = 0; i < node->ncategories; i++) {
			const char *name = col->categories[node->categories[i]];
			json_array_append_new(value,
					      col->boolean ? json_boolean(strcmp(name, "true") == 0)
							   : json_string(name));
		}
	} else {
		double t = node->threshold;
		op = "lte";
		/* a whole number as an integer ("lte 3"); any other as the double it is */
		value = t == floor(t) && fabs(t) < 9007199254740992.0 ? json_integer((json_int_t)t)
								      : json_real(t);
	}
	return json_pack("{s:s, s:s, s:o}", key, col->name, "op", op, "value", value);
}

/* Leaf l's rule: {"all": [the conditions from the root down]}. */
static json_t *seg__contrast_rule(const struct seg_features *f, const struct seg_ct_tree *t,
				  size_t l)
{
	struct seg_ct_step steps[SEG_CT_MAX_DEPTH];
	size_t k = seg_ct_leaf_path(t, l, steps);
	json_t *all = json_array();
	for (size_t i = 0; i < k; i++) {
		json_t *c = seg__contrast_cond(f, &t->nodes[steps[i].node]);
		json_array_append_new(all, steps[i].yes ? c : json_pack("{s:o}", "not", c));
	}
	return json_pack("{s:o}", "all", all);
}

/* The subtree of node i: {"size", "mean", "split": {...} | null, "children": [yes, no]}. */
static json_t *seg__contrast_node(const struct seg_features *f, const struct seg_ct_tree *t,
				  size_t i)
{
	const struct seg_ct_node *node = &t->nodes[i];
	json_t *out = json_pack("{s:I, s:o}", "size", (json_int_t)node->size, "mean",
				seg_analysis_real(node->mean));
	if (node->feature == SEG_CT_NONE) {
		json_object_set_new(out, "split", json_null());
		json_object_set_new(out, "children", json_array());
		json_object_set_new(out, "leaf", json_integer((json_int_t)node->leaf + 1));
		return out;
	}
	json_t *cond = seg__contrast_cond(f, node);
	json_t *split =
		json_pack("{s:s, s:O, s:O, s:o}", "feature", f->cols[node->feature].name, "op",
			  json_object_get(cond, "op"), "value", json_object_get(cond, "value"),
			  "gain", seg_analysis_real(node->gain));
	json_decref(cond);
	json_object_set_new(out, "split", split);
	json_object_set_new(out, "children",
			    json_pack("[o, o]", seg__contrast_node(f, t, node->yes),
				      seg__contrast_node(f, t, node->no)));
	return out;
}

/* The leaf row (a stride of d + 1 doubles) falls in, by the leaves' rules. */
static size_t seg__contrast_route(const struct seg_ct_tree *t, const struct seg_features *f,
				  const double *row)
{
	size_t i = 0;
	while (t->nodes[i].feature != SEG_CT_NONE) {
		const struct seg_ct_node *node = &t->nodes[i];
		double v = row[node->feature];
		bool yes = false;
		if (isnan(v))
			yes = false;
		else if (f->cols[node->feature].categorical) {
			for (size_t c = 0; c < node->ncategories && !yes; c++)
				yes = (double)node->categories[c] == v;
		} else
			yes = v <= node->threshold;
		i = yes ? node->yes : node->no;
	}
	return t->nodes[i].leaf;
}

static json_t *seg__contrast_result(const json_t *params, const struct seg_features *f,
				    const struct seg_ct_tree *t, const uint32_t *leaf)
{
	size_t d = f->d - 1;
	json_t *features = json_array(), *missing = json_object(), *leaves = json_array();
	size_t *customers = seg_calloc(t->nleaves ? t->nleaves : 1, sizeof(*customers));

	for (size_t i = 0; i < f->n; i++)
		customers[leaf[i]]++;
	for (size_t j = 0; j < d; j++) {
		json_array_append_new(features, json_string(f->cols[j].name));
		json_object_set_new(missing, f->cols[j].name,
				    json_integer((json_int_t)f->cols[j].missing));
	}
	for (size_t l = 0; l < t->nleaves; l++) {
		const struct seg_ct_node *node = &t->nodes[t->leaves[l]];
		json_array_append_new(
			leaves, json_pack("{s:I, s:o, s:I, s:o, s:o, s:I}", "index",
					  (json_int_t)l + 1, "rule", seg__contrast_rule(f, t, l),
					  "size", (json_int_t)node->size, "share",
					  seg_analysis_real((double)node->size / (double)t->n),
					  "mean", seg_analysis_real(node->mean), "customers",
					  (json_int_t)customers[l]));
	}
	free(customers);
	return json_pack("{s:O, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "target",
			 json_object_get(params, "target"), "n", (json_int_t)t->n, "customers",
			 (json_int_t)f->n, "excluded", (json_int_t)(f->n - t->n), "mean",
			 seg_analysis_real(t->mean), "sst", seg_analysis_real(t->sst), "explained",
			 seg_analysis_real(t->explained), "features", features, "missing", missing,
			 "tree", seg__contrast_node(f, t, 0), "leaves", leaves);
}

/* A problem of the run, with a pointer when one is given. */
static json_t *seg__contrast_problem(const char *detail, const char *pointer)
{
	json_t *p = seg_analysis_problem(detail);
	if (pointer)
		json_object_set_new(p, "pointer", json_string(pointer));
	return p;
}

static enum seg_err seg__contrast_run(const struct seg_analysis_ctx *ctx, json_t **result,
				      json_t **problem)
{
	struct seg_features f = {0};
	struct seg_ct_tree tree = {0};
	struct seg_ct_data *data = NULL;
	struct seg_feature_spec *specs = NULL;
	struct seg_ct_feature *cf = NULL;
	double *x = NULL, *y = NULL, *target = NULL;
	uint32_t *fit_leaf = NULL, *leaf = NULL;
	char *filter = NULL;
	char detail[512], ptr[96];
	const json_t *tv = json_object_get(ctx->params, "target");
	const json_t *fv = json_object_get(ctx->params, "filter");
	const char *tkey = json_object_get(tv, "attr")	   ? "attr"
			   : json_object_get(tv, "metric") ? "metric"
							   : "segment";
	size_t d = 0, nt = 0;
	int feature = -1;
	enum seg_err err;

	*result = *problem = NULL;
	if (ctx->hooks->stopping(ctx->hooks->ctx))
		return SEG_ERR_CANCELLED;
	/* the features, then the target as the last column */
	struct seg_feature_spec *given = seg_analysis_features_specs(ctx->params, "features", &d);
	specs = seg_calloc(d + 1, sizeof(*specs));
	memcpy(specs, given, d * sizeof(*specs));
	free(given);
	specs[d].source = strcmp(tkey, "attr") == 0	? SEG_FEATURE_ATTR
			  : strcmp(tkey, "metric") == 0 ? SEG_FEATURE_METRIC
							: SEG_FEATURE_SEGMENT;
	specs[d].name = json_string_value(json_object_get(tv, tkey));
	filter = fv && !json_is_null(fv) ? json_dumps(fv, JSON_COMPACT) : NULL;
	struct seg_features_request rq = {
		.tenant = ctx->tenant,
		.features = specs,
		.d = d + 1,
		.filter = filter,
		.categorical = true,
		.memory_limit = seg_analysis_memory_limit(),
		/* the fit's copy of the features, y, target, leaves; the engine's sort orders
		 * and its own 40 bytes a customer */
		.extra_per_row = 8 * d + 8 + 8 + 4 + 4 + 4 * d + 40,
		.hooks = ctx->hooks,
		.progress_from = 0.05,
		.progress_to = 0.45,
	};
	err = seg_db_features_read(ctx->db, &rq, &f, detail, sizeof(detail), &feature);
	if (err == SEG_ERR_INVALID) {
		if (feature >= 0 && (size_t)feature < d)
			snprintf(ptr, sizeof(ptr), "/params/features/%d", feature);
		else
			snprintf(ptr, sizeof(ptr), "/params/target/%s", tkey);
		*problem = seg__contrast_problem(detail, feature >= 0 ? ptr : NULL);
	}
	if (err)
		goto out;
	if (f.n == 0) {
		*problem = seg_analysis_problem(
			!filter ? "the tenant has no customers: there is nothing to analyse"
				: "the filter matches no customer: there is nothing to analyse");
		err = SEG_ERR_INVALID;
		goto out;
	}
	if (f.cols[d].categorical) {
		snprintf(detail, sizeof(detail),
			 "attribute \"%s\" is registered as a %s: the target is a number",
			 f.cols[d].name, f.cols[d].boolean ? "boolean" : "string");
		*problem = seg__contrast_problem(detail, "/params/target/attr");
		err = SEG_ERR_INVALID;
		goto out;
	}
	nt = f.n - f.cols[d].missing;
	if (nt == 0) {
		snprintf(detail, sizeof(detail),
			 "none of the %zu customers read has a value of the target \"%s\"", f.n,
			 f.cols[d].name);
		*problem = seg__contrast_problem(detail, NULL);
		err = SEG_ERR_INVALID;
		goto out;
	}
	/* the customers with a target: their features and target */
	x = malloc(nt * (d ? d : 1) * sizeof(double));
	y = malloc(nt * sizeof(double));
	target = malloc(f.n * sizeof(double));
	fit_leaf = malloc(nt * sizeof(uint32_t));
	leaf = malloc(f.n * sizeof(uint32_t));
	if (!x || !y || !target || !fit_leaf || !leaf) {
		*problem = seg_analysis_problem("the contrast tree does not fit in memory");
		err = SEG_ERR_INVALID;
		goto out;
	}
	for (size_t i = 0, k = 0; i < f.n; i++) {
		const double *row = f.x + i * (d + 1);
		target[i] = row[d];
		if (isnan(row[d]))
			continue;
		memcpy(x + k * d, row, d * sizeof(double));
		y[k++] = row[d];
	}
	cf = seg_calloc(d ? d : 1, sizeof(*cf));
	for (size_t j = 0; j < d; j++) {
		cf[j].categorical = f.cols[j].categorical;
		cf[j].ncat = f.cols[j].ncategories;
		cf[j].names = (const char *const *)f.cols[j].categories;
	}
	struct seg__contrast_tick tick = {ctx->hooks, 0.45, 0.1};
	struct seg_ct_params cp;
	seg_ct_params_init(&cp);
	cp.max_depth = (int)json_integer_value(json_object_get(ctx->params, "max_depth"));
	cp.min_size = (size_t)json_integer_value(json_object_get(ctx->params, "min_size"));
	cp.threads = 2;
	cp.tick = seg__contrast_tick;
	cp.ctx = &tick;
	err = seg_ct_data_new(x, nt, d, cf, &cp, &data, detail, sizeof(detail));
	if (!err) {
		tick.from = 0.55;
		tick.span = 0.25;
		err = seg_ct_fit(data, y, &cp, &tree, fit_leaf, detail, sizeof(detail));
	}
	if (err == SEG_ERR_INVALID)
		*problem = seg_analysis_problem(detail);
	if (err)
		goto out;
	/* every customer's leaf by the rules; those of the fit must agree */
	for (size_t i = 0, k = 0; i < f.n; i++) {
		size_t l = seg__contrast_route(&tree, &f, f.x + i * (d + 1));
		if (!isnan(target[i]) && l != fit_leaf[k++]) {
			err = SEG_ERR_INTERNAL; /* the rules would not say what the fit did */
			goto out;
		}
		leaf[i] = (uint32_t)l;
	}
	ctx->hooks->progress(ctx->hooks->ctx, 0.85);
	err = seg_db_contrast_store(ctx->db, ctx->store, &f, leaf, target, ctx->hooks);
	if (err)
		goto out;
	ctx->hooks->progress(ctx->hooks->ctx, 0.95);
	*result = seg__contrast_result(ctx->params, &f, &tree, leaf);
	if (!*result)
		err = SEG_ERR_INTERNAL;
out:
	seg_ct_data_free(data);
	seg_ct_tree_release(&tree);
	free(cf);
	free(x);
	free(y);
	free(target);
	free(fit_leaf);
	free(leaf);
	free(filter);
	free(specs);
	seg_features_release(&f);
	return err;
}

/* One dynamic segment per leaf, its rule the leaf's: MECE over every customer. */
static json_t *seg__contrast_segments(const json_t *params, const json_t *result)
{
	(void)params;
	json_t *leaves = json_object_get(result, "leaves");
	json_t *out = json_array();
	for (size_t l = 0; l < json_array_size(leaves); l++) {
		json_t *leaf = json_array_get(leaves, l);
		json_t *mean = json_object_get(leaf, "mean");
		char name[96];
		if (json_is_number(mean))
			snprintf(name, sizeof(name), "Leaf %zu (mean %.6g)", l + 1,
				 json_number_value(mean));
		else
			snprintf(name, sizeof(name), "Leaf %zu", l + 1);
		char description[160];
		json_t *share = json_object_get(leaf, "share");
		snprintf(description, sizeof(description),
			 "contrast-group leaf %zu: %lld customers with a target (%.1f %%), their "
			 "mean "
			 "%.6g",
			 l + 1, (long long)json_integer_value(json_object_get(leaf, "size")),
			 json_is_number(share) ? 100 * json_number_value(share) : 0.0,
			 json_is_number(mean) ? json_number_value(mean) : 0.0);
		json_array_append_new(out, json_pack("{s:s, s:O, s:s}", "name", name, "rule",
						     json_object_get(leaf, "rule"), "description",
						     description));
	}
	return out;
}

static const char *const seg__contrast_columns[] = {"leaf", "target", NULL};

const struct seg_analysis_kind seg_analysis_contrast = {
	.type = "contrast",
	.check = seg__contrast_check,
	.run = seg__contrast_run,
	.metrics = NULL,
	.columns = seg__contrast_columns,
	.segments = seg__contrast_segments,
};

/*
 * The factor analysis type (SPEC §6 `factor`, §6.2; the contract: handlers/analysiskinds.h;
 * h-fe): params {"features": [{"attr"} | {"metric"}, ...] (numeric, 2 to 100), "n_factors":
 * integer | "auto", "rotation": "varimax" | "none", "filter": rule | null}. The run reads the
 * features of the customers the filter matches (db/analysis_features.c), fits on those that
 * have every feature (analytics/factor.c), scores every customer that has every feature by the
 * regression method, and writes each matched customer's factor_1 .. factor_k (NULL without
 * every feature) into its store through COPY (db/analysis_factor.c).
 *
 * Materialising makes the analysis the tenant's source of the metrics factor_1 .. factor_k
 * (customer_scores.factors) and a scheme of k + 1 dynamic segments, MECE by construction: for
 * each factor j in order, "Factor j: <label>" holds the customers whose factor_j is above 0
 * (above the average of the fit) and no earlier factor is; "No factor above average" holds the
 * rest, also the customers without scores. db/README.md "Features" and the README say so.
 */
#include "analysiskinds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "factor.h"
#include "rule.h"
#include "validate.h"

#define SEG__FACTOR_FEATURES_MAX SEG_RULE_MAX_FACTOR

static size_t seg__factor_check(json_t *params, struct seg_problem *p)
{
	static const char *const keys[] = {"features", "n_factors", "rotation", "filter", NULL};
	size_t before = p->count + p->dropped;
	json_t *v;

	seg_json_object_check(params, keys, "/params", p);
	seg_analysis_features_check(params, "features", 2, SEG__FACTOR_FEATURES_MAX, false, p);
	size_t d = json_array_size(json_object_get(params, "features"));
	v = json_object_get(params, "n_factors");
	if (!v)
		json_object_set_new(params, "n_factors", json_string("auto"));
	else if (!(json_is_string(v) && strcmp(json_string_value(v), "auto") == 0) &&
		 !(json_is_integer(v) && json_integer_value(v) >= 1 &&
		   (d < 2 || (size_t)json_integer_value(v) <= d)))
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/n_factors", 0,
				"n_factors is \"auto\" (the eigenvalues above 1) or an integer "
				"from 1 to the number of features");
	v = json_object_get(params, "rotation");
	if (!v)
		json_object_set_new(params, "rotation", json_string("varimax"));
	else if (!json_is_string(v) || (strcmp(json_string_value(v), "varimax") != 0 &&
					strcmp(json_string_value(v), "none") != 0))
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/rotation", 0,
				"rotation is \"varimax\" or \"none\"");
	seg_analysis_filter_check(params, p);
	return p->count + p->dropped - before;
}

/* The engine's progress and cancellation, through the run's hooks, over [0.5, 0.8]. */
static bool seg__factor_tick(void *ctx, double fraction)
{
	const struct seg_job_hooks *h = ctx;
	if (h->stopping(h->ctx))
		return false;
	h->progress(h->ctx, 0.5 + 0.3 * fraction);
	return true;
}

static json_t *seg__factor_result(const json_t *params, const struct seg_features *f,
				  const struct seg_factor *fa)
{
	json_t *features = json_array(), *eig = json_array(), *expl = json_array(),
	       *cum = json_array(), *load = json_object(), *comm = json_object(),
	       *factors = json_array(), *msa = json_object(), *missing = json_object();
	for (size_t i = 0; i < f->d; i++) {
		const char *name = f->cols[i].name;
		json_t *row = json_array();
		for (size_t j = 0; j < fa->k; j++)
			json_array_append_new(row, seg_analysis_real(fa->loadings[i * fa->k + j]));
		json_array_append_new(features, json_string(name));
		json_object_set_new(load, name, row);
		json_object_set_new(comm, name, seg_analysis_real(fa->communalities[i]));
		json_object_set_new(msa, name, seg_analysis_real(fa->msa[i]));
		json_object_set_new(missing, name, json_integer((json_int_t)f->cols[i].missing));
	}
	for (size_t i = 0; i < fa->p; i++)
		json_array_append_new(eig, seg_analysis_real(fa->eigenvalues[i]));
	for (size_t j = 0; j < fa->k; j++) {
		char metric[32];
		snprintf(metric, sizeof(metric), "factor_%zu", j + 1);
		json_array_append_new(expl, seg_analysis_real(fa->explained[j]));
		json_array_append_new(cum, seg_analysis_real(fa->cumulative[j]));
		json_array_append_new(
			factors, json_pack("{s:I, s:s, s:o, s:s}", "index", (json_int_t)(j + 1),
					   "label", fa->labels[j] ? fa->labels[j] : "", "explained",
					   seg_analysis_real(fa->explained[j]), "metric", metric));
	}
	return json_pack("{s:I, s:I, s:I, s:o, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
			 "s:{s:o, s:o, s:o}, s:o, s:i}",
			 "n", (json_int_t)fa->n, "customers", (json_int_t)f->n, "excluded",
			 (json_int_t)(f->n - fa->n), "features", features, "n_factors",
			 (json_int_t)fa->k, "rotation",
			 json_string_value(json_object_get(params, "rotation")), "eigenvalues", eig,
			 "explained", expl, "cumulative", cum, "loadings", load, "communalities",
			 comm, "factors", factors, "kmo", seg_analysis_real(fa->kmo), "msa", msa,
			 "bartlett", "chi2", seg_analysis_real(fa->bartlett_chi2), "df",
			 seg_analysis_real(fa->bartlett_df), "p", seg_analysis_real(fa->bartlett_p),
			 "missing", missing, "rotation_iterations", fa->rotation_iterations);
}

static enum seg_err seg__factor_run(const struct seg_analysis_ctx *ctx, json_t **result,
				    json_t **problem)
{
	struct seg_features f = {0};
	struct seg_factor fa = {0};
	const char **names = NULL;
	double *scores = NULL;
	char msg[300];
	const json_t *nf = json_object_get(ctx->params, "n_factors");
	const char *rotation = json_string_value(json_object_get(ctx->params, "rotation"));
	size_t d = json_array_size(json_object_get(ctx->params, "features"));
	enum seg_err err;

	*result = *problem = NULL;
	if (ctx->hooks->stopping(ctx->hooks->ctx))
		return SEG_ERR_CANCELLED;
	/* the scores (n x k, k <= d) beside the matrix */
	err = seg_analysis_features_read(ctx, "features", false, d * sizeof(double), 0.05, 0.5, &f,
					 problem);
	if (err)
		goto out;
	if (f.n == 0) {
		*problem = seg_analysis_problem(
			json_is_null(json_object_get(ctx->params, "filter"))
				? "the tenant has no customers: there is nothing to analyse"
				: "the filter matches no customer: there is nothing to analyse");
		err = SEG_ERR_INVALID;
		goto out;
	}
	names = seg_calloc(f.d, sizeof(*names));
	for (size_t i = 0; i < f.d; i++)
		names[i] = f.cols[i].name;
	struct seg_factor_params fp = {
		.n_factors = json_is_integer(nf) ? (size_t)json_integer_value(nf) : 0,
		.rotation = rotation && strcmp(rotation, "none") == 0 ? SEG_FACTOR_NO_ROTATION
								      : SEG_FACTOR_VARIMAX,
		.names = names,
		.tick = seg__factor_tick,
		.tick_ctx = (void *)ctx->hooks,
	};
	enum seg_factor_fail fail = seg_factor_fit(f.x, f.n, f.d, &fp, &fa, msg, sizeof(msg));
	if (fail == SEG_FACTOR_CANCELLED) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}
	if (fail != SEG_FACTOR_OK) {
		struct seg_buf detail = SEG_BUF_INIT;
		seg_buf_addstr(&detail, msg);
		if (fail == SEG_FACTOR_TOO_FEW)
			seg_buf_addf(&detail,
				     " (%zu of the %zu customers read have every feature; a "
				     "customer without one takes no part)",
				     f.complete, f.n);
		*problem = seg_analysis_problem(detail.data);
		seg_buf_release(&detail);
		err = SEG_ERR_INVALID;
		goto out;
	}
	if (ctx->hooks->stopping(ctx->hooks->ctx)) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}
	scores = malloc((f.n > 0 && fa.k > 0 ? f.n * fa.k : 1) * sizeof(double));
	if (!scores) {
		*problem = seg_analysis_problem("the factor scores do not fit in memory");
		err = SEG_ERR_INVALID;
		goto out;
	}
	seg_factor_scores(&fa, f.x, f.n, scores);
	ctx->hooks->progress(ctx->hooks->ctx, 0.85);
	err = seg_db_factor_store(ctx->db, ctx->store, &f, scores, fa.k, ctx->hooks);
	if (err)
		goto out;
	ctx->hooks->progress(ctx->hooks->ctx, 0.95);
	*result = seg__factor_result(ctx->params, &f, &fa);
	if (!*result)
		err = SEG_ERR_INTERNAL;
out:
	free(scores);
	free(names);
	seg_factor_release(&fa);
	seg_features_release(&f);
	return err;
}

/* A leaf: factor_<j> > 0. */
static json_t *seg__factor_above(size_t j)
{
	char metric[32];
	snprintf(metric, sizeof(metric), "factor_%zu", j);
	return json_pack("{s:s, s:s, s:i}", "metric", metric, "op", "gt", "value", 0);
}

/* Any of factor_1 .. factor_k above 0. */
static json_t *seg__factor_any_above(size_t k)
{
	json_t *any = json_array();
	for (size_t j = 1; j <= k; j++)
		json_array_append_new(any, seg__factor_above(j));
	return json_pack("{s:o}", "any", any);
}

/* "Factor j: label", the label cut to at most 80 bytes at a character's start. */
static json_t *seg__factor_segment_name(size_t j, const char *label)
{
	struct seg_buf b = SEG_BUF_INIT;
	size_t len = label ? strlen(label) : 0;
	if (len > 80) {
		len = 80;
		while (len > 0 && ((unsigned char)label[len] & 0xc0) == 0x80)
			len--;
	}
	seg_buf_addf(&b, "Factor %zu", j);
	if (len) {
		seg_buf_addstr(&b, ": ");
		seg_buf_add(&b, label, len);
	}
	json_t *s = json_string(b.data);
	seg_buf_release(&b);
	return s;
}

static json_t *seg__factor_segments(const json_t *params, const json_t *result)
{
	(void)params;
	json_t *factors = json_object_get(result, "factors");
	size_t k = json_array_size(factors);
	json_t *out = json_array();
	for (size_t j = 1; j <= k; j++) {
		const char *label =
			json_string_value(json_object_get(json_array_get(factors, j - 1), "label"));
		json_t *rule = j == 1 ? seg__factor_above(1)
				      : json_pack("{s:[o, {s:o}]}", "all", seg__factor_above(j),
						  "not", seg__factor_any_above(j - 1));
		json_array_append_new(out,
				      json_pack("{s:o, s:o}", "name",
						seg__factor_segment_name(j, label), "rule", rule));
	}
	json_array_append_new(out, json_pack("{s:s, s:{s:o}}", "name", "No factor above average",
					     "rule", "not", seg__factor_any_above(k)));
	return out;
}

static const struct seg_analysis_metric seg__factor_metrics[] = {
	{"factors", "double precision[]"},
	{NULL, NULL},
};

/* The CSV columns of one analysis: factor_1 .. factor_k. */
static json_t *seg__factor_columns(const json_t *params, const json_t *result)
{
	(void)params;
	json_t *out = json_array();
	json_int_t k = json_integer_value(json_object_get(result, "n_factors"));
	for (json_int_t j = 1; j <= k && j <= SEG_RULE_MAX_FACTOR; j++) {
		char c[32];
		snprintf(c, sizeof(c), "factor_%lld", (long long)j);
		json_array_append_new(out, json_string(c));
	}
	return out;
}

const struct seg_analysis_kind seg_analysis_factor = {
	.type = "factor",
	.check = seg__factor_check,
	.run = seg__factor_run,
	.metrics = seg__factor_metrics,
	.columns_of = seg__factor_columns,
	.segments = seg__factor_segments,
};

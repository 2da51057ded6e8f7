/*
 * The ABC type (SPEC §6, §6.1): params {"metric": "revenue" | "orders" | "events" |
 * "avg_order_value", "a": 0.8, "b": 0.95}; each customer's abc_class; a scheme of three
 * segments A, B and C, where C is "neither A nor B", so every customer (also one without a
 * value) is in exactly one. The mathematics is analytics/abc.c, the SQL db/analysis_abc.c.
 */
#include "analysiskinds.h"

#include <stdio.h>
#include <string.h>

#include "abc.h"
#include "validate.h"

static const char *const seg__abc_metrics[] = {"revenue", "orders", "events", "avg_order_value",
					       NULL};

/* A share param: a number in (lo, hi] (lo_open) or (lo, hi); *x its value. */
static bool seg__abc_share(json_t *params, const char *key, double dflt, double *x)
{
	json_t *v = json_object_get(params, key);
	if (!v) {
		json_object_set_new(params, key, json_real(dflt));
		*x = dflt;
		return true;
	}
	if (!json_is_number(v))
		return false;
	*x = json_number_value(v);
	return true;
}

static size_t seg__abc_check(json_t *params, struct seg_problem *p)
{
	static const char *const keys[] = {"metric", "a", "b", NULL};
	size_t before = p->count + p->dropped;
	json_t *v;
	double a = 0.8, b = 0.95;

	seg_json_object_check(params, keys, "/params", p);
	v = json_object_get(params, "metric");
	if (!v)
		json_object_set_new(params, "metric", json_string("revenue"));
	else {
		bool ok = false;
		for (size_t i = 0; json_is_string(v) && seg__abc_metrics[i]; i++)
			ok = ok || strcmp(json_string_value(v), seg__abc_metrics[i]) == 0;
		if (!ok)
			seg_problem_add(p, SEG_WHERE_POINTER, "/params/metric", 0,
					"metric is one of revenue, orders, events, "
					"avg_order_value");
	}
	bool a_ok = seg__abc_share(params, "a", 0.8, &a) && a > 0 && a < 1;
	if (!a_ok)
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/a", 0,
				"a is the share of the total that class A reaches: a number "
				"greater than 0 and less than 1");
	if (!seg__abc_share(params, "b", 0.95, &b) || !(b <= 1) || (a_ok && !(b > a)) || !(b > 0))
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/b", 0,
				"b is the share of the total that classes A and B reach: a number "
				"greater than a and at most 1");
	return p->count + p->dropped - before;
}

static json_t *seg__abc_class_json(const struct seg_abc_class *c, char name)
{
	char cls[2] = {name, 0};
	return json_pack("{s:s, s:I, s:f, s:f, s:o}", "class", cls, "count", (json_int_t)c->count,
			 "share", c->share, "value_share", c->value_share, "threshold",
			 c->empty ? json_null() : json_real(c->threshold));
}

static enum seg_err seg__abc_run(const struct seg_analysis_ctx *ctx, json_t **result,
				 json_t **problem)
{
	struct seg_abc_summary s;
	struct seg_buf a = SEG_BUF_INIT, b = SEG_BUF_INIT;
	bool ok = false;
	const char *metric = json_string_value(json_object_get(ctx->params, "metric"));
	double av = json_number_value(json_object_get(ctx->params, "a"));
	double bv = json_number_value(json_object_get(ctx->params, "b"));

	*result = *problem = NULL;
	if (!metric)
		return SEG_ERR_INTERNAL;
	if (ctx->hooks->stopping(ctx->hooks->ctx))
		return SEG_ERR_CANCELLED;
	ctx->hooks->progress(ctx->hooks->ctx, 0.05);
	/* the shares as the client wrote them (0.8, not 0.80000000000000004): exact in SQL */
	seg_json_add_double(&a, av);
	seg_json_add_double(&b, bv);
	enum seg_err err = seg_db_analysis_abc(ctx->db, ctx->tenant, ctx->store, metric, a.data,
					       b.data, &s, &ok);
	seg_buf_release(&a);
	seg_buf_release(&b);
	if (err)
		return err;
	if (ctx->hooks->stopping(ctx->hooks->ctx))
		return SEG_ERR_CANCELLED;
	ctx->hooks->progress(ctx->hooks->ctx, 0.9);
	if (!ok) {
		char detail[200];
		snprintf(detail, sizeof(detail),
			 s.customers == 0
				 ? "the tenant has no customers: there is nothing to classify"
				 : "no customer has a positive %s: the classes are shares "
				   "of a total of 0",
			 metric);
		*problem = seg_analysis_problem(detail);
		return SEG_ERR_INVALID;
	}
	json_t *classes = json_array(), *curve = json_array();
	for (int i = 0; i < 3; i++)
		json_array_append_new(classes, seg__abc_class_json(&s.classes[i], (char)('A' + i)));
	for (size_t i = 0; i < s.ncurve; i++)
		json_array_append_new(curve, json_pack("[f, f]", s.curve[i][0], s.curve[i][1]));
	*result = json_pack("{s:s, s:f, s:I, s:I, s:o, s:o}", "metric", metric, "total", s.total,
			    "customers", (json_int_t)s.customers, "scored", (json_int_t)s.scored,
			    "classes", classes, "curve", curve);
	return *result ? SEG_OK : SEG_ERR_INTERNAL;
}

static json_t *seg__abc_segment(const char *name, json_t *rule)
{
	return json_pack("{s:s, s:o}", "name", name, "rule", rule);
}

static json_t *seg__abc_segments(const json_t *params, const json_t *result)
{
	(void)params;
	(void)result;
	return json_pack(
		"[o, o, o]",
		seg__abc_segment("A", json_pack("{s:s, s:s, s:s}", "metric", "abc_class", "op",
						"eq", "value", "A")),
		seg__abc_segment("B", json_pack("{s:s, s:s, s:s}", "metric", "abc_class", "op",
						"eq", "value", "B")),
		seg__abc_segment("C", json_pack("{s:{s:s, s:s, s:[s, s]}}", "not", "metric",
						"abc_class", "op", "in", "value", "A", "B")));
}

static const struct seg_analysis_metric seg__abc_metrics_out[] = {
	{"abc_class", "text"},
	{NULL, NULL},
};

static const char *const seg__abc_columns[] = {"abc_class", "value", "rank", NULL};

const struct seg_analysis_kind seg_analysis_abc = {
	.type = "abc",
	.check = seg__abc_check,
	.run = seg__abc_run,
	.metrics = seg__abc_metrics_out,
	.columns = seg__abc_columns,
	.segments = seg__abc_segments,
};

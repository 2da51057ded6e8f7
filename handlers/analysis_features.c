/*
 * What the multivariate analysis types share (handlers/analysiskinds.h, h-fe): the check of
 * their features and filter params, reading the features of a run's customers
 * (db/analysis_features.c, db/README.md "Features"), and the memory limit of a run
 * (SEGMENTD_ANALYSIS_MEMORY).
 */
#include "analysiskinds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "rule.h"
#include "text.h"
#include "validate.h"

static size_t seg__memory_limit = (size_t)1024 << 20;

void seg_analysis_memory_limit_set(size_t bytes)
{
	seg__memory_limit = bytes;
}

size_t seg_analysis_memory_limit(void)
{
	return seg__memory_limit;
}

json_t *seg_analysis_real(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

const char *seg_analysis_feature_name(const json_t *feature)
{
	const char *a = json_string_value(json_object_get(feature, "attr"));
	return a ? a : json_string_value(json_object_get(feature, "metric"));
}

size_t seg_analysis_features_check(json_t *params, const char *key, size_t min, size_t max,
				   bool categorical, struct seg_problem *p)
{
	static const char *const attr_keys[] = {"attr", NULL}, *const metric_keys[] = {"metric",
										       NULL};
	size_t before = p->count + p->dropped;
	json_t *v = json_object_get(params, key);
	char ptr[96];

	snprintf(ptr, sizeof(ptr), "/params/%s", key);
	if (!json_is_array(v) || json_array_size(v) < min || json_array_size(v) > max) {
		seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
				"%s must be a list of %zu to %zu features, each {\"attr\": name} "
				"or {\"metric\": name}",
				key, min, max);
		return p->count + p->dropped - before;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *f = json_array_get(v, i);
		json_t *a = json_object_get(f, "attr"), *m = json_object_get(f, "metric");
		snprintf(ptr, sizeof(ptr), "/params/%s/%zu", key, i);
		if (!json_is_object(f) || json_object_size(f) != 1 || (!a && !m)) {
			seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
					"a feature is {\"attr\": name} or {\"metric\": name}");
			continue;
		}
		seg_json_object_check(f, a ? attr_keys : metric_keys, ptr, p);
		json_t *name = a ? a : m;
		const char *s = json_string_value(name);
		snprintf(ptr, sizeof(ptr), "/params/%s/%zu/%s", key, i, a ? "attr" : "metric");
		if (!s || json_string_length(name) == 0 || json_string_length(name) > 200 ||
		    strlen(s) != json_string_length(name) ||
		    !seg_utf8_valid(s, json_string_length(name))) {
			seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
					"a feature's name is a string of 1 to 200 bytes");
			continue;
		}
		if (m) {
			int kind = seg_feature_metric_kind(s);
			if (kind == 0)
				seg_problem_add(
					p, SEG_WHERE_POINTER, ptr, 0,
					"unknown metric \"%s\" (SPEC §4: orders, revenue, "
					"avg_order_value, recency_days, tenure_days, events, "
					"rfm_r, rfm_f, rfm_m, clv, p_alive, predicted_orders, "
					"factor_1 ... factor_%d%s)",
					s, SEG_RULE_MAX_FACTOR,
					categorical ? ", rfm_score, rfm_segment, abc_class, "
						      "frequency_class"
						    : "");
			else if (kind == 3)
				seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
						"metric \"%s\" is a timestamp, not a number: use "
						"recency_days or tenure_days",
						s);
			else if (kind == 2 && !categorical)
				seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
						"metric \"%s\" is a string: this analysis takes "
						"numeric features only",
						s);
		}
		for (size_t j = 0; j < i; j++) {
			const char *o = seg_analysis_feature_name(json_array_get(v, j));
			if (o && strcmp(o, s) == 0) {
				seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
						"feature \"%s\" is named twice (features are "
						"named by their attribute or metric, so each name "
						"once)",
						s);
				break;
			}
		}
	}
	return p->count + p->dropped - before;
}

struct seg_feature_spec *seg_analysis_features_specs(const json_t *params, const char *key,
						     size_t *d)
{
	json_t *v = json_object_get(params, key);
	*d = json_array_size(v);
	struct seg_feature_spec *s = seg_calloc(*d ? *d : 1, sizeof(*s));
	for (size_t i = 0; i < *d; i++) {
		json_t *f = json_array_get(v, i);
		s[i].source = json_object_get(f, "attr") ? SEG_FEATURE_ATTR : SEG_FEATURE_METRIC;
		s[i].name = seg_analysis_feature_name(f);
	}
	return s;
}

size_t seg_analysis_filter_check(json_t *params, struct seg_problem *p)
{
	size_t before = p->count + p->dropped;
	json_t *v = json_object_get(params, "filter");
	if (!v || json_is_null(v)) {
		json_object_set_new(params, "filter", json_null());
		return 0;
	}
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text) {
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/filter", 0,
				"filter must be a rule (SPEC §3)");
		return 1;
	}
	struct seg_rule_env env = {0};
	struct seg_rule *rule = seg_rule_parse(text, strlen(text), &env, "/params/filter", p);
	if (!rule && p->count + p->dropped == before)
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/filter", 0,
				"filter must be a rule (SPEC §3)");
	seg_rule_free(rule);
	free(text);
	return p->count + p->dropped - before;
}

enum seg_err seg_analysis_features_read(const struct seg_analysis_ctx *ctx, const char *key,
					bool categorical, size_t extra_per_row, double from,
					double to, struct seg_features *out, json_t **problem)
{
	size_t d = 0;
	struct seg_feature_spec *specs = seg_analysis_features_specs(ctx->params, key, &d);
	json_t *fv = json_object_get(ctx->params, "filter");
	char *filter = json_is_null(fv) || !fv ? NULL : json_dumps(fv, JSON_COMPACT);
	char detail[512];
	int feature = -1;
	struct seg_features_request rq = {
		.tenant = ctx->tenant,
		.features = specs,
		.d = d,
		.filter = filter,
		.categorical = categorical,
		.memory_limit = seg__memory_limit,
		.extra_per_row = extra_per_row,
		.hooks = ctx->hooks,
		.progress_from = from,
		.progress_to = to,
	};
	enum seg_err err =
		seg_db_features_read(ctx->db, &rq, out, detail, sizeof(detail), &feature);

	*problem = NULL;
	if (err == SEG_ERR_INVALID) {
		*problem = seg_analysis_problem(detail);
		if (feature >= 0) {
			char ptr[96];
			snprintf(ptr, sizeof(ptr), "/params/%s/%d", key, feature);
			json_object_set_new(*problem, "pointer", json_string(ptr));
		}
	}
	free(specs);
	free(filter);
	return err;
}

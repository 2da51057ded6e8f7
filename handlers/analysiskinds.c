/*
 * The registry of analysis types (handlers/analysiskinds.h), and the run of one analysis as a
 * job of kind "analysis": the machinery every type shares. Each type adds one line to the
 * list below and lives in handlers/analysis_<type>.c.
 */
#include "analysiskinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

extern const struct seg_analysis_kind seg_analysis_abc;
extern const struct seg_analysis_kind seg_analysis_clv;
extern const struct seg_analysis_kind seg_analysis_conjoint;
extern const struct seg_analysis_kind seg_analysis_contrast;
extern const struct seg_analysis_kind seg_analysis_discriminant;
extern const struct seg_analysis_kind seg_analysis_factor;
extern const struct seg_analysis_kind seg_analysis_frequency;
extern const struct seg_analysis_kind seg_analysis_kmeans;
extern const struct seg_analysis_kind seg_analysis_rfm;

const struct seg_analysis_kind *const seg_analysis_kinds[] = {
	&seg_analysis_rfm,	 &seg_analysis_abc,
	&seg_analysis_frequency, &seg_analysis_clv,
	&seg_analysis_factor,	 &seg_analysis_kmeans,
	&seg_analysis_contrast,	 &seg_analysis_discriminant,
	&seg_analysis_conjoint,	 NULL,
};

const struct seg_analysis_kind *seg_analysis_kind_find(const char *type)
{
	for (size_t i = 0; type && seg_analysis_kinds[i]; i++)
		if (strcmp(seg_analysis_kinds[i]->type, type) == 0)
			return seg_analysis_kinds[i];
	return NULL;
}

static void seg__json_add(struct seg_buf *out, const json_t *v, int depth)
{
	if (depth > 64) {
		seg_buf_addstr(out, "null");
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *m;
		bool first = true;
		seg_buf_addch(out, '{');
		json_object_foreach((json_t *)v, key, m)
		{
			if (!first)
				seg_buf_addch(out, ',');
			first = false;
			seg_buf_add_json_string(out, key, strlen(key));
			seg_buf_addch(out, ':');
			seg__json_add(out, m, depth + 1);
		}
		seg_buf_addch(out, '}');
		break;
	}
	case JSON_ARRAY:
		seg_buf_addch(out, '[');
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				seg_buf_addch(out, ',');
			seg__json_add(out, json_array_get(v, i), depth + 1);
		}
		seg_buf_addch(out, ']');
		break;
	case JSON_STRING:
		seg_buf_add_json_string(out, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER: seg_buf_addf(out, "%lld", (long long)json_integer_value(v)); break;
	case JSON_REAL: seg_json_add_double(out, json_real_value(v)); break;
	case JSON_TRUE: seg_buf_addstr(out, "true"); break;
	case JSON_FALSE: seg_buf_addstr(out, "false"); break;
	default: seg_buf_addstr(out, "null"); break;
	}
}

void seg_analysis_json_add(struct seg_buf *out, const json_t *v)
{
	seg__json_add(out, v, 0);
}

json_t *seg_analysis_problem(const char *detail)
{
	return json_pack("{s:s, s:s, s:i, s:s}", "type",
			 "urn:segmentd:problem:analysis-not-possible", "title",
			 "Analysis not possible", "status", 422, "detail", detail);
}

enum seg_err seg_analysis_job_run(struct seg_db *db, const struct seg_job_claim *job,
				  const struct seg_job_hooks *hooks)
{
	struct seg_buf text = SEG_BUF_INIT;
	char *type = NULL, *params_text = NULL, *store = NULL;
	json_t *params = NULL, *result = NULL, *problem = NULL;
	const struct seg_analysis_kind *kind = NULL;
	enum seg_err err = seg_db_analysis_run_begin(db, job, &type, &params_text, &store);

	if (err == SEG_ERR_NOT_FOUND) /* deleted: nothing to run */
		return seg_db_analysis_run_succeed(db, job, NULL, NULL, NULL, NULL);
	if (err)
		goto out;
	kind = seg_analysis_kind_find(type);
	params = json_loads(params_text ? params_text : "{}", 0, NULL);
	if (!kind || !json_is_object(params)) {
		seg_error("analysis %lld: unknown type \"%s\" or unreadable params",
			  (long long)job->target, type ? type : "");
		err = SEG_ERR_INTERNAL;
		goto out;
	}
	struct seg_analysis_ctx ctx = {db, job, hooks, job->tenant, job->target, params, store};
	hooks->progress(hooks->ctx, 0.01);
	err = kind->run(&ctx, &result, &problem);
	if (err == SEG_ERR_INVALID && problem) {
		seg_db_rollback(db);
		seg_analysis_json_add(&text, problem);
		err = seg_db_analysis_run_fail(db, job, text.data);
		if (!err) {
			seg_info("analysis %lld (job %lld) failed: %s", (long long)job->target,
				 (long long)job->id,
				 json_string_value(json_object_get(problem, "detail")));
			err = SEG_ERR_INVALID; /* the worker records nothing more */
		}
		goto out;
	}
	if (!err && !result)
		err = SEG_ERR_INTERNAL;
	if (err)
		goto out;
	seg_analysis_json_add(&text, result);
	err = seg_db_analysis_run_succeed(
		db, job, store, text.data, kind->metrics,
		/* not NULL: static segments may follow (their own columns) */
		kind->groups ? (kind->group_column ? kind->group_column : "") : NULL);
	if (!err)
		hooks->progress(hooks->ctx, 1);
out:
	if (err)
		seg_db_rollback(db); /* nothing left to roll back after seg_db_analysis_run_fail */
	json_decref(params);
	json_decref(result);
	json_decref(problem);
	seg_buf_release(&text);
	free(type);
	free(params_text);
	free(store);
	return err;
}

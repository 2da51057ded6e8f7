/*
 * Analyses (SPEC §5.6, §6): create (the params checked by the type, every default filled in,
 * the first run queued), list, get, cancel, run again now, delete; each customer's own result
 * as JSON pages and as a streamed CSV export; and :materialize, which makes a scheme of
 * dynamic segments over the analysis's metrics. The types are handlers/analysis_<type>.c
 * (handlers/analysiskinds.h); the runs are jobs of kind "analysis".
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "analysiskinds.h"
#include "csvexport.h"
#include "rule.h"
#include "text.h"
#include "validate.h"

static const char *const seg__no_params[] = {NULL};

/* The analysis id of the path (digits); anything else names no analysis (404). */
static enum seg_err seg__analysis_id(struct seg_req *r, int64_t *id)
{
	const char *s = seg_req_param(r, 0);
	if (!seg_id_parse(s, s ? strlen(s) : 0, id))
		return seg_req_fail(r, SEG_ERR_NOT_FOUND, "no analysis with id \"%s\"", s ? s : "");
	return SEG_OK;
}

static enum seg_err seg__not_found(struct seg_req *r, enum seg_err err, int64_t id)
{
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no analysis with id \"%lld\"", (long long)id);
	return err;
}

/* SEG_ERR_CONFLICT of the functions that need a result: the analysis has none yet. */
static enum seg_err seg__no_result(struct seg_req *r, enum seg_err err, int64_t id)
{
	if (err == SEG_ERR_CONFLICT && r->problem.detail)
		return err; /* a conflict that said what it is (a name taken, a type without
			       segments) */
	if (err == SEG_ERR_CONFLICT)
		return seg_req_fail(r, err,
				    "analysis \"%lld\" has no succeeded run yet: wait until its "
				    "status is succeeded (GET /v1/analyses/%lld)",
				    (long long)id, (long long)id);
	return seg__not_found(r, err, id);
}

/* The known types, for a message: "abc, rfm, ...". */
static void seg__types(struct seg_buf *out)
{
	for (size_t i = 0; seg_analysis_kinds[i]; i++)
		seg_buf_addf(out, "%s%s", i ? ", " : "", seg_analysis_kinds[i]->type);
}

enum seg_err seg_h_analysis_create(struct seg_req *r)
{
	static const char *const keys[] = {"type", "params", "schedule", NULL};
	const struct seg_analysis_kind *kind = NULL;
	struct seg_buf params_text = SEG_BUF_INIT;
	struct seg_db *db;
	json_t *body = NULL, *params = NULL;
	char *json = NULL;
	const char *schedule = NULL;
	int64_t id = 0;
	enum seg_err err = seg_req_check_query(r, seg__no_params);

	if (!err)
		err = seg_req_json(r, &body);
	if (err)
		goto out;
	if (seg_json_object_check(body, keys, "", &r->problem) && !json_is_object(body)) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	json_t *t = json_object_get(body, "type");
	kind = seg_analysis_kind_find(json_string_value(t));
	if (!kind) {
		struct seg_buf known = SEG_BUF_INIT;
		seg__types(&known);
		if (json_is_string(t) && strlen(json_string_value(t)) <= 64 &&
		    seg_utf8_valid(json_string_value(t), json_string_length(t)))
			seg_req_invalid(r, "/type", "unknown analysis type \"%s\" (known: %s)",
					json_string_value(t), known.data);
		else
			seg_req_invalid(r, "/type",
					"type must be the name of an analysis type (%s)",
					known.data);
		seg_buf_release(&known);
	}
	json_t *s = json_object_get(body, "schedule");
	if (s && !json_is_null(s)) {
		schedule = json_string_value(s);
		if (!schedule ||
		    (strcmp(schedule, "daily") != 0 && strcmp(schedule, "weekly") != 0))
			seg_req_invalid(r, "/schedule",
					"schedule is \"daily\", \"weekly\" or null (no schedule)");
	}
	json_t *pv = json_object_get(body, "params");
	if (pv && !json_is_object(pv) && !json_is_null(pv))
		seg_req_invalid(r, "/params", "params must be a JSON object");
	if (r->problem.count) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	params = json_is_object(pv) ? json_deep_copy(pv) : json_object();
	if (!params || kind->check(params, &r->problem) > 0) {
		err = params ? SEG_ERR_INVALID : SEG_ERR_INTERNAL;
		goto out;
	}
	seg_analysis_json_add(&params_text, params);
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_analysis_create(db, r->tenant, kind->type, params_text.data, schedule,
					     &id, &json);
	if (err)
		goto out;
	seg_req_set_location(r, "/v1/analyses/%lld", (long long)id);
	seg_req_reply_json_take(r, 202, json);
out:
	json_decref(body);
	json_decref(params);
	seg_buf_release(&params_text);
	return err;
}

enum seg_err seg_h_analysis_list(struct seg_req *r)
{
	static const char *const params[] = {"type", "status", "limit", "cursor", NULL};
	struct seg_page page;
	struct seg_db *db;
	const char *after = NULL, *status, *type;
	int limit = 100;
	enum seg_err err = seg_req_check_query(r, params);

	seg_page_init(&page);
	type = seg_req_query(r, "type", &err);
	err = seg_h_status_param(r, &status, err);
	if (!err && type && !seg_analysis_kind_find(type)) {
		struct seg_buf known = SEG_BUF_INIT;
		seg__types(&known);
		seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "type", 0,
				"type is one of the analysis types (%s)", known.data);
		seg_buf_release(&known);
		err = SEG_ERR_INVALID;
	}
	if (!err)
		err = seg_req_page_params(r, &limit, &after);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_analysis_list(db, r->tenant, type, status, after, limit, &page);
	err = seg_req_page_result(r, err);
	if (!err)
		seg_req_reply_page(r, &page);
	seg_page_release(&page);
	return err;
}

/*
 * GET, :cancel and :run of one analysis: act on it and answer with the analysis (200; 202
 * with its Location when the act queued or stopped a run).
 */
static enum seg_err
seg__analysis_act(struct seg_req *r,
		  enum seg_err (*act)(struct seg_db *, int64_t, int64_t, char **), int status)
{
	struct seg_db *db;
	char *json = NULL;
	int64_t id = 0;
	enum seg_err err = seg__analysis_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = act(db, r->tenant, id, &json);
	if (!err && status == 202)
		seg_req_set_location(r, "/v1/analyses/%lld", (long long)id);
	if (!err)
		seg_req_reply_json_take(r, status, json);
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_analysis_get(struct seg_req *r)
{
	return seg__analysis_act(r, seg_db_analysis_get, 200);
}

enum seg_err seg_h_analysis_cancel(struct seg_req *r)
{
	return seg__analysis_act(r, seg_db_analysis_cancel, 202);
}

enum seg_err seg_h_analysis_run(struct seg_req *r)
{
	return seg__analysis_act(r, seg_db_analysis_run_now, 202);
}

enum seg_err seg_h_analysis_delete(struct seg_req *r)
{
	static const char *const params[] = {"force", NULL};
	struct seg_db *db;
	int64_t id = 0;
	bool force = false, source = false;
	enum seg_err err = seg__analysis_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, params);
	if (!err)
		err = seg_req_query_bool(r, "force", &force);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_analysis_delete(db, r->tenant, id, force, &source);
	if (err == SEG_ERR_CONFLICT)
		return seg_req_fail(
			r, err,
			"analysis \"%lld\" provides its type's metrics to rules (it was "
			"materialised last); materialise another analysis of its type "
			"first, or delete with ?force=true (the metrics are then "
			"emptied and the segments that read them refreshed)",
			(long long)id);
	if (!err)
		seg_req_reply_empty(r, 204);
	return seg__not_found(r, err, id);
}

/* ---- each customer's result ----------------------------------------------------------- */

static enum seg_err seg__customers_csv(struct seg_req *r, int64_t id)
{
	struct seg_buf header = SEG_BUF_INIT, columns = SEG_BUF_INIT;
	struct seg_db *db;
	json_t *doc = NULL, *dyn = NULL;
	char *type = NULL, *json = NULL, filename[64];
	const struct seg_analysis_kind *kind;
	enum seg_err err = seg_req_check_query(r, seg__no_params);

	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_analysis_customers_check(db, r->tenant, id, &type);
	if (err)
		goto out;
	kind = seg_analysis_kind_find(type);
	if (kind && kind->columns_of) { /* columns that depend on the run (factor_1 .. factor_k) */
		err = seg_db_analysis_get(db, r->tenant, id, &json);
		doc = err ? NULL : json_loads(json, 0, NULL);
		if (!err)
			dyn = kind->columns_of(json_object_get(doc, "params"),
					       json_object_get(doc, "result"));
		if (err)
			goto out;
	}
	seg_buf_addstr(&header, "customer_id");
	seg_buf_addch(&columns, '[');
	for (size_t i = 0;
	     kind && (dyn ? i < json_array_size(dyn) : kind->columns && kind->columns[i]); i++) {
		const char *c = dyn ? json_string_value(json_array_get(dyn, i)) : kind->columns[i];
		if (!c)
			c = "";
		seg_buf_addch(&header, ',');
		seg_csv_field(&header, c, strlen(c));
		if (i)
			seg_buf_addch(&columns, ',');
		seg_buf_add_json_string(&columns, c, strlen(c));
	}
	seg_buf_addstr(&header, "\r\n");
	seg_buf_addch(&columns, ']');
	snprintf(filename, sizeof(filename), "analysis-%lld.csv", (long long)id);
	seg_csv_export(r, filename, header.data, id, seg_db_analysis_customers_csv,
		       seg_buf_detach(&columns, NULL));
out:
	free(type);
	free(json);
	json_decref(doc);
	json_decref(dyn);
	seg_buf_release(&header);
	seg_buf_release(&columns);
	return seg__no_result(r, err, id);
}

enum seg_err seg_h_analysis_customers(struct seg_req *r)
{
	int64_t id = 0;
	enum seg_err err = seg__analysis_id(r, &id);

	if (!err && seg_csv_wanted(r))
		return seg__customers_csv(r, id);
	if (!err)
		err = seg_req_list_of(r, id, seg_db_analysis_customers);
	return seg__no_result(r, err, id);
}

/* ---- materialising -------------------------------------------------------------------- */

#define SEG__NAME_MAX 200 /* of a segment, as handlers/segments.c */

/*
 * A segment's rule as text (a new string; NULL for none) with every number as its shortest
 * exact decimal (seg_analysis_json_add): a rule compares the number as written, and
 * json_dumps prints 17 digits, 1.4 as 1.3999999999999999, which the customers at 1.4 are
 * above (h-tw: the contrast leaves' thresholds).
 */
static char *seg__rule_text(const json_t *rule)
{
	struct seg_buf b = SEG_BUF_INIT;
	if (!rule)
		return NULL;
	seg_analysis_json_add(&b, rule);
	return seg_buf_detach(&b, NULL);
}

/*
 * The type's segments for the analysis doc (its params and result), named
 * "<scheme_name>: <name>", with their rules as text and dependencies. Fills defs (n entries,
 * the strings owned by texts, a JSON array kept alive by the caller).
 */
static enum seg_err seg__materialize_defs(struct seg_req *r, const struct seg_analysis_kind *kind,
					  const json_t *doc, const char *scheme_name,
					  json_t **texts, struct seg_analysis_segment_def **defs,
					  size_t *n)
{
	bool groups = kind->groups != NULL;
	json_t *segs = (groups ? kind->groups : kind->segments)(json_object_get(doc, "params"),
								json_object_get(doc, "result"));
	enum seg_err err = SEG_OK;

	*texts = json_array();
	*defs = NULL;
	*n = 0;
	if (!json_is_array(segs)) {
		json_decref(segs);
		return SEG_ERR_INTERNAL;
	}
	if (json_array_size(segs) == 0) { /* h-cw: no result yet, or a run that formed no groups */
		json_decref(segs);
		if (!json_is_object(json_object_get(doc, "result")))
			return SEG_ERR_CONFLICT; /* the caller says: no succeeded run yet */
		return seg_req_fail(
			r, SEG_ERR_INVALID,
			"the analysis has nothing to materialise: its latest run formed "
			"no segments (a conjoint analysis without k)");
	}
	*defs = seg_calloc(json_array_size(segs), sizeof(**defs));
	for (size_t i = 0; i < json_array_size(segs) && !err; i++) {
		json_t *s = json_array_get(segs, i);
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *description = json_string_value(json_object_get(s, "description"));
		char *rule = groups ? NULL : seg__rule_text(json_object_get(s, "rule"));
		struct seg_rule *parsed = NULL;
		struct seg_buf full = SEG_BUF_INIT;
		if (!name || (!rule && !groups)) {
			free(rule);
			err = SEG_ERR_INTERNAL;
			break;
		}
		seg_buf_addf(&full, "%s: %s", scheme_name, name);
		/* a repeated name (static groups may share a label) gets " (2)", " (3)" ... */
		for (size_t rep = 2; groups; rep++) {
			bool taken = false;
			for (size_t j = 0; j < json_array_size(*texts) && !taken; j += 3)
				taken = strcmp(json_string_value(json_array_get(*texts, j)),
					       full.data) == 0;
			if (!taken)
				break;
			seg_buf_reset(&full);
			seg_buf_addf(&full, "%s: %s (%zu)", scheme_name, name, rep);
		}
		if (full.len > SEG__NAME_MAX)
			err = seg_req_invalid(r, "/scheme_name",
					      "scheme_name is too long: its segments are named "
					      "\"<scheme_name>: <segment>\", at most %d bytes",
					      SEG__NAME_MAX);
		if (!err && !groups) {
			struct seg_rule_env env = {0};
			parsed = seg_rule_parse(rule, strlen(rule), &env, "/rule", &r->problem);
			if (!parsed)
				err = SEG_ERR_INTERNAL; /* the type made a rule we refuse */
		}
		if (!err) {
			/* three texts per segment: its name, its rule and its description */
			json_array_append_new(*texts, json_string(full.data));
			json_array_append_new(*texts, rule ? json_string(rule) : json_null());
			json_array_append_new(*texts,
					      description ? json_string(description) : json_null());
			size_t k = json_array_size(*texts);
			(*defs)[i].name = json_string_value(json_array_get(*texts, k - 3));
			(*defs)[i].rule = json_string_value(json_array_get(*texts, k - 2));
			(*defs)[i].description = json_string_value(json_array_get(*texts, k - 1));
			(*defs)[i].deps = parsed ? parsed->deps : 0;
			*n = i + 1;
		}
		seg_rule_free(parsed);
		seg_buf_release(&full);
		free(rule);
	}
	json_decref(segs);
	return err;
}

enum seg_err seg_h_analysis_materialize(struct seg_req *r)
{
	const char *keys[16] = {"scheme_name", NULL};
	const struct seg_analysis_kind *kind;
	struct seg_analysis_segment_def *defs = NULL;
	struct seg_buf out = SEG_BUF_INIT;
	struct seg_scheme report;
	struct seg_db *db;
	json_t *body = NULL, *doc = NULL, *texts = NULL;
	char *json = NULL, *type = NULL;
	int64_t id = 0, scheme = 0, replaced = 0, *jobs = NULL;
	size_t n = 0;
	bool done = true;
	enum seg_err err = seg__analysis_id(r, &id);

	seg_scheme_init(&report);
	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_json(r, &body);
	if (err)
		goto out;
	if (!json_is_object(body)) {
		err = seg_req_invalid(r, "", "the body must be a JSON object");
		goto out;
	}
	json_t *nv = json_object_get(body, "scheme_name");
	const char *scheme_name = json_string_value(nv);
	bool ok = scheme_name && json_string_length(nv) >= 1 &&
		  json_string_length(nv) <= SEG__NAME_MAX &&
		  strlen(scheme_name) == json_string_length(nv);
	for (size_t i = 0; ok && scheme_name[i]; i++)
		ok = (unsigned char)scheme_name[i] >= 0x20 && scheme_name[i] != 0x7f;
	if (!ok) {
		err = seg_req_invalid(
			r, "/scheme_name",
			"scheme_name must be a string of 1 to %d bytes without control "
			"characters",
			SEG__NAME_MAX);
		goto out;
	}
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_analysis_customers_check(db, r->tenant, id, &type);
	if (!err)
		err = seg_db_analysis_get(db, r->tenant, id, &json);
	if (err)
		goto out;
	kind = seg_analysis_kind_find(type);
	doc = json_loads(json, 0, NULL);
	if (!kind || !doc) {
		err = SEG_ERR_INTERNAL;
		goto out;
	}
	if (!kind->segments && !kind->groups) {
		err = seg_req_fail(r, SEG_ERR_CONFLICT,
				   "an analysis of type \"%s\" cannot be materialised as segments",
				   kind->type);
		goto out;
	}
	/* the type's own keys of the body, and the store column it asks for (static groups) */
	for (size_t i = 0, k = 1;
	     kind->groups && kind->materialize_keys && kind->materialize_keys[i] &&
	     k + 1 < sizeof(keys) / sizeof(keys[0]);
	     i++)
		keys[k++] = kind->materialize_keys[i];
	if (seg_json_object_check(body, keys, "", &r->problem)) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	const char *column = !kind->groups	      ? NULL
			     : kind->group_column_for ? kind->group_column_for(body, &r->problem)
						      : kind->group_column;
	if (kind->groups && !column) {
		err = r->problem.count ? SEG_ERR_INVALID : SEG_ERR_INTERNAL;
		goto out;
	}
	err = seg__materialize_defs(r, kind, doc, scheme_name, &texts, &defs, &n);
	if (err)
		goto out;
	jobs = seg_calloc(n, sizeof(*jobs));
	struct seg_analysis_materialize m = {scheme_name, defs, n, kind->metrics, column};
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_analysis_materialize(db, r->tenant, id, &m, &scheme, jobs, &replaced);
	if (err == SEG_ERR_CONFLICT) {
		seg_req_invalid(r, "/scheme_name", "a scheme or segment of this name exists");
		err = seg_req_fail(r, err,
				   "a scheme named \"%s\", or a segment named \"%s: ...\", exists "
				   "(or the analysis has no succeeded run)",
				   scheme_name, scheme_name);
		goto out;
	}
	if (err == SEG_ERR_INVALID) {
		err = seg_req_fail(r, err,
				   "the tenant's dynamic segments would be too large together with "
				   "these");
		goto out;
	}
	if (err)
		goto out;
	/* the segments evaluated (within SEGMENTD_SYNC_TIMEOUT), so the report is exact */
	for (size_t i = 0; i < n && !err && done; i++)
		if (jobs[i])
			err = seg_h_job_await(r, jobs[i], &done);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_scheme_report(db, r->tenant, scheme, &report);
	if (err)
		goto out;
	seg_scheme_report_json(&report, &out);
	while (out.len && out.data[out.len - 1] != '}')
		out.len--;
	if (out.len)
		out.len--;
	seg_buf_addf(&out, ",\"analysis_id\":\"%lld\",\"metric_source_replaced\":", (long long)id);
	if (replaced)
		seg_buf_addf(&out, "\"%lld\"", (long long)replaced);
	else
		seg_buf_addstr(&out, "null");
	seg_buf_addstr(&out, ",\"pending_jobs\":[");
	for (size_t i = 0, k = 0; i < n && !done; i++)
		if (jobs[i])
			seg_buf_addf(&out, "%s\"%lld\"", k++ ? "," : "", (long long)jobs[i]);
	seg_buf_addstr(&out, "]}");
	seg_req_set_location(r, "/v1/schemes/%lld", (long long)scheme);
	seg_req_reply_json_take(r, done ? 201 : 202, seg_buf_detach(&out, NULL));
out:
	seg_scheme_release(&report);
	seg_buf_release(&out);
	json_decref(body);
	json_decref(doc);
	json_decref(texts);
	free(defs);
	free(jobs);
	free(json);
	free(type);
	return seg__no_result(r, err, id);
}

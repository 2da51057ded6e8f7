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
#include "text.h"
#include "validate.h"

static const char *const seg__no_params[] = {NULL};
static const char *const seg__statuses[] = {"queued", "running",   "succeeded",
					    "failed", "cancelled", NULL};

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
	status = seg_req_query(r, "status", &err);
	type = seg_req_query(r, "type", &err);
	if (!err && status) {
		bool known = false;
		for (size_t i = 0; seg__statuses[i]; i++)
			known = known || strcmp(status, seg__statuses[i]) == 0;
		if (!known)
			err = seg_req_bad_param(r, "status",
						"status is one of queued, running, succeeded, "
						"failed, cancelled");
	}
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

enum seg_err seg_h_analysis_get(struct seg_req *r)
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
		err = seg_db_analysis_get(db, r->tenant, id, &json);
	if (!err)
		seg_req_reply_json_take(r, 200, json);
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_analysis_cancel(struct seg_req *r)
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
		err = seg_db_analysis_cancel(db, r->tenant, id, &json);
	if (!err) {
		seg_req_set_location(r, "/v1/analyses/%lld", (long long)id);
		seg_req_reply_json_take(r, 202, json);
	}
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_analysis_run(struct seg_req *r)
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
		err = seg_db_analysis_run_now(db, r->tenant, id, &json);
	if (!err) {
		seg_req_set_location(r, "/v1/analyses/%lld", (long long)id);
		seg_req_reply_json_take(r, 202, json);
	}
	return seg__not_found(r, err, id);
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
	if (!err) {
		const char *f = seg_req_query(r, "force", &err);
		if (f && strcmp(f, "true") == 0)
			force = true;
		else if (f && strcmp(f, "false") != 0) {
			seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "force", 0,
					"force must be true or false");
			err = SEG_ERR_MALFORMED;
		}
	}
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
	char *type = NULL, filename[64];
	const struct seg_analysis_kind *kind;
	enum seg_err err = seg_req_check_query(r, seg__no_params);

	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_analysis_customers_check(db, r->tenant, id, &type);
	if (err)
		goto out;
	kind = seg_analysis_kind_find(type);
	seg_buf_addstr(&header, "customer_id");
	seg_buf_addch(&columns, '[');
	for (size_t i = 0; kind && kind->columns && kind->columns[i]; i++) {
		const char *c = kind->columns[i];
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

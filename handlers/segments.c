/*
 * Segments (SPEC §5.4): create, list, get, patch and delete; :refresh; members as JSON pages
 * and as a streamed CSV export; static member changes; a customer's segments; the size
 * history. A rule is parsed (rules/) against the tenant's attribute catalogue and segments,
 * and refused when it would close a cycle. Creating a dynamic segment, or changing its rule,
 * waits up to SEGMENTD_SYNC_TIMEOUT for the refresh job (the connection given back between
 * polls) and answers with the evaluated segment, or 202 with the job.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "csvexport.h"
#include "jsonspan.h"
#include "rule.h"
#include "text.h"
#include "validate.h"

#define SEG__NAME_MAX	     200
#define SEG__DESCRIPTION_MAX 10000
#define SEG__ADD_MAX	     10000
#define SEG__CSV_COLUMNS     50

static const char *const seg__no_params[] = {NULL};

/* A segment id from the path (digits); anything else names no segment (404). */
static enum seg_err seg__id_text(struct seg_req *r, const char *text, int64_t *id)
{
	if (!seg_id_parse(text, text ? strlen(text) : 0, id))
		return seg_req_fail(r, SEG_ERR_NOT_FOUND, "no segment with id \"%s\"",
				    text ? text : "");
	return SEG_OK;
}

static enum seg_err seg__segment_id(struct seg_req *r, int64_t *id)
{
	return seg__id_text(r, seg_req_param(r, 0), id);
}

static enum seg_err seg__not_found(struct seg_req *r, enum seg_err err, int64_t id)
{
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no segment with id \"%lld\"", (long long)id);
	return err;
}

/*
 * SEG_ERR_INVALID from a create or a patch: the rule would take the tenant's membership step
 * past PostgreSQL's 65,535 statement parameters (db/README.md "Memberships").
 */
static enum seg_err seg__too_large(struct seg_req *r, enum seg_err err)
{
	if (err != SEG_ERR_INVALID)
		return err;
	seg_req_invalid(
		r, "/rule",
		"with this rule, the tenant's dynamic segments would need more than 65,535 "
		"query parameters together to be kept current on every write; make rules "
		"smaller (an in with many values costs one parameter, as many eq leaves cost "
		"two each) or delete segments no longer used");
	return seg_req_fail(r, SEG_ERR_INVALID,
			    "the tenant's dynamic segments would be too large together");
}

/* ---- rules ---------------------------------------------------------------------------- */

struct seg__graph {
	struct seg_rule_graph_entry *entries;
	size_t n;
};

static bool seg__segment_exists(void *ctx, int64_t id)
{
	const struct seg__graph *g = ctx;
	size_t lo = 0, hi = g->n;
	while (lo < hi) { /* entries are ordered by id */
		size_t mid = lo + (hi - lo) / 2;
		if (g->entries[mid].id == id)
			return true;
		if (g->entries[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * Parses the rule text[0..len) of segment self (0: a new one) against the tenant's catalogue
 * and segments, and refuses a reference that closes a cycle. *deps receives its dependencies.
 */
static enum seg_err seg__rule_check(struct seg_req *r, int64_t self, const char *text, size_t len,
				    unsigned *deps)
{
	struct seg_attr_catalog catalog;
	struct seg__graph graph = {NULL, 0};
	struct seg_rule *rule = NULL;
	struct seg_db *db;
	enum seg_err err = seg_req_db(r, &db);

	seg_attr_catalog_init(&catalog);
	if (!err)
		err = seg_db_attr_catalog(db, r->tenant, &catalog);
	if (!err)
		err = seg_db_segment_graph(db, r->tenant, &graph.entries, &graph.n);
	if (err)
		goto out;
	struct seg_rule_env env = {.catalog = &catalog,
				   .segment_exists = seg__segment_exists,
				   .ctx = &graph,
				   .stored = false};
	rule = seg_rule_parse(text, len, &env, "/rule", &r->problem);
	if (!rule) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	int64_t cycle = seg_rule_cycle(rule, self, graph.entries, graph.n);
	if (cycle) {
		const struct seg_rule_node *node = seg_rule_find_segment(rule, cycle);
		struct seg_buf ptr = SEG_BUF_INIT;
		seg_buf_addf(&ptr, "/rule%s", node ? node->pointer : "");
		err = seg_req_invalid(r, ptr.data,
				      "the reference to segment \"%lld\" closes a cycle: that "
				      "segment depends on this one",
				      (long long)cycle);
		seg_buf_release(&ptr);
		goto out;
	}
	*deps = rule->deps;
out:
	seg_rule_free(rule);
	seg_segment_graph_free(graph.entries);
	seg_attr_catalog_release(&catalog);
	return err;
}

/*
 * The answer to a create or a rule change: the segment evaluated (status), or 202 with the
 * refresh job, its "segment" member the segment as saved, and Location the job.
 */
static enum seg_err seg__reply_after_refresh(struct seg_req *r, int64_t id, int64_t job, int status,
					     char *saved)
{
	struct seg_db *db;
	char *json = NULL;
	bool done = true;
	enum seg_err err = SEG_OK;

	if (job)
		err = seg_h_job_await(r, job, &done);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err && done) {
		err = seg_db_segment_get(db, r->tenant, id, &json);
		if (!err)
			seg_req_reply_json_take(r, status, json);
	} else if (!err) {
		err = seg_db_job_get(db, r->tenant, job, &json);
		if (!err) {
			struct seg_buf body = SEG_BUF_INIT;
			size_t n = strlen(json);
			while (n && json[n - 1] != '}')
				n--;
			seg_buf_add(&body, json, n ? n - 1 : 0);
			seg_buf_addstr(&body, ",\"segment\":");
			seg_buf_addstr(&body, saved);
			seg_buf_addch(&body, '}');
			seg_req_reply_json_take(r, 202, seg_buf_detach(&body, NULL));
			seg_req_set_location(r, "/v1/jobs/%lld", (long long)job);
		}
		free(json);
	}
	free(saved);
	return seg__not_found(r, err, id);
}

/* ---- create, get, list, patch, delete ------------------------------------------------- */

/* The span of member key of the body's top-level object, or false. */
static bool seg__span(struct seg_req *r, const char *key, const char **start, size_t *len)
{
	return seg_json_member_span(r->body.data, r->body.len, key, start, len);
}

static void seg__check_name(struct seg_req *r, const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s ? json_string_length(v) : 0;
	bool ok = s && n >= 1 && n <= SEG__NAME_MAX && strlen(s) == n;
	for (size_t i = 0; ok && i < n; i++)
		ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
	if (!ok)
		seg_req_invalid(r, "/name",
				"name must be a string of 1 to %d bytes without control characters",
				SEG__NAME_MAX);
}

/*
 * The members that create and patch share: name, description, profile. Fills in and leaves
 * the problem items in r.
 */
static void seg__check_common(struct seg_req *r, const json_t *body, bool create,
			      struct seg_segment_input *in, char **profile)
{
	const json_t *v;
	const char *start;
	size_t len;

	v = json_object_get(body, "name");
	if (v || create)
		seg__check_name(r, v);
	in->name = json_string_value(v);
	v = json_object_get(body, "description");
	if (v && (!json_is_string(v) || json_string_length(v) > SEG__DESCRIPTION_MAX ||
		  strlen(json_string_value(v)) != json_string_length(v)))
		seg_req_invalid(r, "/description",
				"description must be a string of at most %d bytes",
				SEG__DESCRIPTION_MAX);
	in->description = json_string_value(v);
	v = json_object_get(body, "profile");
	if (v && !json_is_object(v) && !(json_is_null(v) && !create))
		seg_req_invalid(r, "/profile", "profile must be a JSON object");
	else if (json_is_null(v))
		*profile = seg_strdup("null"); /* a merge patch's null: the profile is emptied */
	else if (v && seg__span(r, "profile", &start, &len))
		*profile = seg_strndup(start, len);
	in->profile = *profile;
}

enum seg_err seg_h_segment_create(struct seg_req *r)
{
	static const char *const keys[] = {"name", "description", "type", "rule", "profile", NULL};
	struct seg_segment_input in = {0};
	struct seg_db *db;
	json_t *body = NULL;
	char *profile = NULL, *rule = NULL, *json = NULL;
	int64_t id = 0, job = 0;
	const char *start;
	size_t len;
	enum seg_err err = seg_req_check_query(r, seg__no_params);

	if (!err)
		err = seg_req_json(r, &body);
	if (err)
		goto out;
	if (seg_json_object_check(body, keys, "", &r->problem) && !json_is_object(body)) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	seg__check_common(r, body, true, &in, &profile);
	in.type = json_string_value(json_object_get(body, "type"));
	if (!in.type || (strcmp(in.type, "static") != 0 && strcmp(in.type, "dynamic") != 0)) {
		seg_req_invalid(r, "/type", "type must be \"static\" or \"dynamic\"");
		in.type = NULL;
	}
	bool has_rule = json_object_get(body, "rule") != NULL;
	if (in.type && strcmp(in.type, "static") == 0 && has_rule)
		seg_req_invalid(r, "/rule",
				"a static segment has no rule: its members are added "
				"and removed explicitly");
	if (in.type && strcmp(in.type, "dynamic") == 0 && !has_rule)
		seg_req_invalid(r, "/rule", "a dynamic segment needs a rule");
	if (r->problem.count) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	if (has_rule && seg__span(r, "rule", &start, &len)) {
		err = seg__rule_check(r, 0, start, len, &in.deps);
		if (err)
			goto out;
		rule = seg_strndup(start, len);
		in.rule = rule;
	}
	err = seg_req_db(r, &db);
	if (!err)
		err = seg__too_large(r,
				     seg_db_segment_create(db, r->tenant, &in, &json, &id, &job));
	if (err == SEG_ERR_CONFLICT) {
		seg_req_invalid(r, "/name", "a segment with this name exists");
		err = seg_req_fail(r, SEG_ERR_CONFLICT, "a segment named \"%s\" exists", in.name);
	}
	if (err)
		goto out;
	seg_req_set_location(r, "/v1/segments/%lld", (long long)id);
	if (!job) {
		seg_req_reply_json_take(r, 201, json);
		json = NULL;
	} else {
		err = seg__reply_after_refresh(r, id, job, 201, json);
		json = NULL;
		if (!err && r->status == 201)
			seg_req_set_location(r, "/v1/segments/%lld", (long long)id);
	}
out:
	free(json);
	free(rule);
	free(profile);
	json_decref(body);
	return err;
}

enum seg_err seg_h_segment_get(struct seg_req *r)
{
	struct seg_db *db;
	char *json = NULL;
	int64_t id;
	enum seg_err err = seg__segment_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_segment_get(db, r->tenant, id, &json);
	if (!err)
		seg_req_reply_json_take(r, 200, json);
	return seg__not_found(r, err, id);
}

/* A key that the list did not hand out: 400, as for every other list. */
enum seg_err seg_h_segment_list(struct seg_req *r)
{
	return seg_req_list(r, seg_db_segment_list);
}

enum seg_err seg_h_segment_patch(struct seg_req *r)
{
	static const char *const keys[] = {"name", "description", "type", "rule", "profile", NULL};
	struct seg_segment_input in = {0};
	struct seg_db *db;
	json_t *body = NULL, *stored = NULL;
	char *profile = NULL, *rule = NULL, *json = NULL;
	int64_t id = 0, job = 0;
	const char *start, *type;
	size_t len;
	enum seg_err err = seg__segment_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_json(r, &body);
	if (err)
		goto out;
	if (seg_json_object_check(body, keys, "", &r->problem) && !json_is_object(body)) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	/* the stored segment says what may change */
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_segment_get(db, r->tenant, id, &json);
	if (!err && !(stored = json_loads(json, 0, NULL)))
		err = SEG_ERR_INTERNAL;
	free(json);
	json = NULL;
	if (err)
		goto out;
	type = json_string_value(json_object_get(stored, "type"));
	seg__check_common(r, body, false, &in, &profile);
	json_t *t = json_object_get(body, "type");
	if (t && !(json_is_string(t) && type && strcmp(json_string_value(t), type) == 0))
		seg_req_invalid(r, "/type",
				"the type of a segment cannot change (it is \"%s\"); create a new "
				"segment instead",
				type ? type : "");
	json_t *rv = json_object_get(body, "rule");
	if (rv && type && strcmp(type, "static") == 0)
		seg_req_invalid(r, "/rule", "a static segment has no rule");
	else if (rv && json_is_null(rv))
		seg_req_invalid(r, "/rule", "a dynamic segment needs a rule; it cannot be removed");
	if (r->problem.count) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	if (rv && seg__span(r, "rule", &start, &len)) {
		err = seg__rule_check(r, id, start, len, &in.deps);
		if (err)
			goto out;
		rule = seg_strndup(start, len);
		in.rule = rule;
	}
	err = seg_req_db(r, &db);
	if (!err)
		err = seg__too_large(r, seg_db_segment_patch(db, r->tenant, id, &in, &json, &job));
	if (err == SEG_ERR_CONFLICT) {
		seg_req_invalid(r, "/name", "a segment with this name exists");
		err = seg_req_fail(r, SEG_ERR_CONFLICT, "a segment named \"%s\" exists", in.name);
	}
	if (err)
		goto out;
	if (!job) {
		seg_req_reply_json_take(r, 200, json);
		json = NULL;
	} else {
		err = seg__reply_after_refresh(r, id, job, 200, json);
		json = NULL;
	}
out:
	free(json);
	free(rule);
	free(profile);
	json_decref(body);
	json_decref(stored);
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_segment_delete(struct seg_req *r)
{
	static const char *const params[] = {"force", NULL};
	struct seg_db *db;
	char *dependents = NULL, *schemes = NULL;
	int64_t id = 0;
	bool force = false;
	enum seg_err err = seg__segment_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, params);
	if (!err)
		err = seg_req_query_bool(r, "force", &force);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_segment_delete(db, r->tenant, id, force, &dependents, &schemes);
	if (err == SEG_ERR_CONFLICT && (dependents || schemes)) {
		seg_buf_addstr(&r->problem_extra, ",\"dependents\":");
		seg_buf_addstr(&r->problem_extra, dependents ? dependents : "[]");
		seg_buf_addstr(&r->problem_extra, ",\"schemes\":");
		seg_buf_addstr(&r->problem_extra, schemes ? schemes : "[]");
		seg_req_fail(r, err,
			     "%s%s%s; change them first, or delete with ?force=true (which also "
			     "removes the segment from those schemes)",
			     dependents ? "dynamic segments refer to this one in their rules" : "",
			     dependents && schemes ? ", and " : "",
			     schemes ? "schemes use this segment" : "");
	}
	free(dependents);
	free(schemes);
	if (!err)
		seg_req_reply_empty(r, 204);
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_segment_refresh(struct seg_req *r)
{
	struct seg_db *db;
	char *json = NULL;
	int64_t id = 0, job = 0;
	bool dynamic = false, joined;
	enum seg_err err = seg__segment_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_segment_type(db, r->tenant, id, &dynamic);
	if (!err && !dynamic)
		return seg_req_fail(r, SEG_ERR_CONFLICT,
				    "a static segment has no rule to evaluate: nothing to refresh");
	if (!err)
		err = seg_db_job_enqueue(db, r->tenant, "segment.refresh", id, NULL, &job, &joined);
	if (!err)
		err = seg_db_job_get(db, r->tenant, job, &json);
	if (!err) {
		seg_req_reply_json_take(r, 202, json);
		seg_req_set_location(r, "/v1/jobs/%lld", (long long)job);
	}
	return seg__not_found(r, err, id);
}

/* ---- members -------------------------------------------------------------------------- */

/*
 * ?attributes=a,b.c: the attribute columns of the export, as a JSON array of dotted paths
 * (*paths, malloc'ed), and their header cells (appended to header).
 */
static enum seg_err seg__csv_columns(struct seg_req *r, const char *list, char **paths_out,
				     struct seg_buf *header)
{
	struct seg_buf paths = SEG_BUF_INIT;
	size_t count = 0;
	const char *p = list;

	seg_buf_addch(&paths, '[');
	while (true) {
		size_t n = strcspn(p, ",");
		bool ok = n >= 1 && n <= 200 && p[0] != '.' && p[n - 1] != '.';
		for (size_t i = 0; ok && i + 1 < n; i++)
			ok = !(p[i] == '.' && p[i + 1] == '.');
		for (size_t i = 0; ok && i < n; i++)
			ok = (unsigned char)p[i] >= 0x20 && p[i] != 0x7f;
		if (!ok || ++count > SEG__CSV_COLUMNS) {
			seg_buf_release(&paths);
			seg_problem_add(
				&r->problem, SEG_WHERE_PARAMETER, "attributes", 0,
				"attributes is a comma-separated list of up to %d attribute "
				"paths (\"a\", \"address.city\"), each 1 to 200 bytes",
				SEG__CSV_COLUMNS);
			return SEG_ERR_MALFORMED;
		}
		if (count > 1)
			seg_buf_addch(&paths, ',');
		seg_buf_add_json_string(&paths, p, n);
		seg_buf_addch(header, ',');
		seg_csv_field(header, p, n);
		if (!p[n])
			break;
		p += n + 1;
	}
	seg_buf_addch(&paths, ']');
	*paths_out = seg_buf_detach(&paths, NULL);
	return SEG_OK;
}

static enum seg_err seg__members_csv(struct seg_req *r, int64_t id)
{
	static const char *const params[] = {"attributes", NULL};
	struct seg_buf header = SEG_BUF_INIT;
	struct seg_db *db;
	char *paths = NULL;
	bool dynamic;
	char filename[64];
	enum seg_err err = seg_req_check_query(r, params);

	seg_buf_addstr(&header, "customer_id,since");
	if (!err) {
		const char *list = seg_req_query(r, "attributes", &err);
		if (list && *list)
			err = seg__csv_columns(r, list, &paths, &header);
	}
	seg_buf_addstr(&header, "\r\n");
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_segment_type(db, r->tenant, id, &dynamic);
	if (!err) {
		snprintf(filename, sizeof(filename), "segment-%lld.csv", (long long)id);
		seg_csv_export(r, filename, header.data, id, seg_db_segment_members_csv, paths);
		paths = NULL;
	}
	free(paths);
	seg_buf_release(&header);
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_segment_members(struct seg_req *r)
{
	int64_t id = 0;
	enum seg_err err = seg__segment_id(r, &id);

	if (!err && seg_csv_wanted(r))
		return seg__members_csv(r, id);
	if (!err)
		err = seg_req_list_of(r, id, seg_db_segment_members);
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_segment_members_add(struct seg_req *r)
{
	static const char *const keys[] = {"customer_ids", NULL};
	struct seg_members_added added = {0};
	struct seg_db *db;
	json_t *body = NULL;
	int64_t id = 0;
	const char *start;
	size_t len;
	enum seg_err err = seg__segment_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_json(r, &body);
	if (err)
		goto out;
	if (seg_json_object_check(body, keys, "", &r->problem)) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	json_t *ids = json_object_get(body, "customer_ids");
	if (!json_is_array(ids) || json_array_size(ids) < 1 ||
	    json_array_size(ids) > SEG__ADD_MAX) {
		err = seg_req_invalid(r, "/customer_ids",
				      "customer_ids must be an array of 1 to %d customer ids",
				      SEG__ADD_MAX);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(ids); i++) {
		json_t *v = json_array_get(ids, i);
		if (!json_is_string(v) || !seg_customer_id_valid(json_string_value(v)) ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			char ptr[48];
			snprintf(ptr, sizeof(ptr), "/customer_ids/%zu", i);
			seg_req_invalid(r, ptr,
					"a customer id is a string of 1 to 128 bytes of printable "
					"UTF-8");
		}
	}
	if (r->problem.count || !seg__span(r, "customer_ids", &start, &len)) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	char *ids_json = seg_strndup(start, len);
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_segment_members_add(db, r->tenant, id, ids_json, &added);
	free(ids_json);
	if (err == SEG_ERR_CONFLICT)
		err = seg_req_fail(
			r, err,
			"segment \"%lld\" is dynamic: its members are whoever matches its "
			"rule, and cannot be added by hand",
			(long long)id);
	if (!err) {
		struct seg_buf out = SEG_BUF_INIT;
		seg_buf_addf(&out,
			     "{\"added\":%zu,\"already\":%zu,\"missing\":%zu,\"missing_ids\":%s}",
			     added.added, added.already, added.missing,
			     added.missing_ids ? added.missing_ids : "[]");
		seg_req_reply_json_take(r, 200, seg_buf_detach(&out, NULL));
	}
	free(added.missing_ids);
out:
	json_decref(body);
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_segment_member_remove(struct seg_req *r)
{
	struct seg_db *db;
	int64_t id = 0;
	bool found = false;
	const char *customer = seg_req_param(r, 1);
	enum seg_err err = seg__segment_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err && !seg_customer_id_valid(customer))
		return seg_req_bad_param(r, "customer_id",
					 "a customer id is 1 to 128 bytes of printable UTF-8");
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_segment_member_remove(db, r->tenant, id, customer, &found);
	if (err == SEG_ERR_NOT_FOUND && found)
		return seg_req_fail(r, err, "customer \"%s\" is not a member of segment \"%lld\"",
				    customer, (long long)id);
	if (err == SEG_ERR_CONFLICT)
		return seg_req_fail(r, err,
				    "segment \"%lld\" is dynamic: its members are whoever matches "
				    "its rule, and cannot be removed by hand",
				    (long long)id);
	if (!err)
		seg_req_reply_empty(r, 204);
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_segment_history(struct seg_req *r)
{
	int64_t id = 0;
	enum seg_err err = seg__segment_id(r, &id);

	if (!err)
		err = seg_req_list_of(r, id, seg_db_segment_history);
	return seg__not_found(r, err, id);
}

/* ---- a customer's segments, and the members' customer documents ----------------------- */

enum seg_err seg_h_customer_segments(struct seg_req *r)
{
	struct seg_db *db;
	char *json = NULL;
	const char *id = seg_req_param(r, 0);
	enum seg_err err;

	if (!seg_customer_id_valid(id))
		return seg_req_bad_param(r, "id",
					 "a customer id is 1 to 128 bytes of printable UTF-8");
	err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_customer_segments(db, r->tenant, id, &json);
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no customer with id \"%s\"", id);
	if (!err)
		seg_req_reply_json_take(r, 200, json);
	return err;
}

enum seg_err seg_h_customer_list_segment(struct seg_req *r, const char *segment)
{
	struct seg_page page;
	struct seg_db *db;
	const char *after;
	int64_t id = 0;
	int limit;
	enum seg_err err = seg__id_text(r, segment, &id);

	seg_page_init(&page);
	if (!err)
		err = seg_req_page_params(r, &limit, &after);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_customer_list_segment(db, r->tenant, id, after, limit, &page);
	if (!err)
		seg_req_reply_page(r, &page);
	seg_page_release(&page);
	return seg__not_found(r, err, id);
}

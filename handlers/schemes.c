/*
 * Schemes (SPEC §5.5): create, list, get (the report), patch and delete; the assignments as
 * JSON pages and as a streamed CSV export; snapshots of the assignment and the transition
 * matrix between two. The report's figures and warnings are computed by lib/schemereport.c
 * from the combination counts that db/schemes.c reads in one statement.
 *
 * Limits: 1 to SEG_SCHEME_SEGMENTS_MAX (64) segments per scheme (the report keeps each
 * customer's segments as one 64-bit mask; the guides recommend 3 to 8), names and the fallback
 * 1 to 200 bytes, min_segment_size 0 to 10^12.
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "csvexport.h"
#include "jsonspan.h"
#include "timefmt.h"
#include "text.h"
#include "validate.h"

#define SEG__NAME_MAX	  200
#define SEG__MIN_SIZE_MAX 1000000000000LL
#define SEG__SCHEME_KEYS                                                 \
	{                                                                \
		"name", "segments", "fallback", "min_segment_size", NULL \
	}

static const char *const seg__no_params[] = {NULL};

/* A scheme id from the path (digits); anything else names no scheme (404). */
static enum seg_err seg__scheme_id(struct seg_req *r, int64_t *id)
{
	const char *text = seg_req_param(r, 0);
	if (!seg_id_parse(text, text ? strlen(text) : 0, id))
		return seg_req_fail(r, SEG_ERR_NOT_FOUND, "no scheme with id \"%s\"",
				    text ? text : "");
	return SEG_OK;
}

static enum seg_err seg__not_found(struct seg_req *r, enum seg_err err, int64_t id)
{
	if (err == SEG_ERR_NOT_FOUND && !r->problem.detail)
		return seg_req_fail(r, err, "no scheme with id \"%lld\"", (long long)id);
	return err;
}

/* A name or a fallback: 1 to 200 bytes of UTF-8 without control characters. */
static bool seg__name_ok(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s ? json_string_length(v) : 0;
	bool ok = s && n >= 1 && n <= SEG__NAME_MAX && strlen(s) == n;
	for (size_t i = 0; ok && i < n; i++)
		ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
	return ok;
}

/* A segment id in a request: a string of 1 to 18 digits, or a positive JSON integer. */
static bool seg__segment_id(const json_t *v, int64_t *id)
{
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*id = (int64_t)json_integer_value(v);
		return true;
	}
	const char *s = json_string_value(v);
	return seg_id_parse(s, s ? json_string_length(v) : 0, id) && *id > 0;
}

/*
 * Checks a create or patch body into in (ids into *ids, malloc'ed), leaving problem items in
 * r; returns SEG_ERR_INVALID when there are any.
 */
static enum seg_err seg__check_body(struct seg_req *r, const json_t *body, bool create,
				    struct seg_scheme_input *in, int64_t **ids)
{
	static const char *const keys[] = SEG__SCHEME_KEYS;
	const json_t *v;

	if (seg_json_object_check(body, keys, "", &r->problem) && !json_is_object(body))
		return SEG_ERR_INVALID;
	v = json_object_get(body, "name");
	if ((v || create) && !seg__name_ok(v))
		seg_req_invalid(r, "/name",
				"name must be a string of 1 to %d bytes without control characters",
				SEG__NAME_MAX);
	in->name = json_string_value(v);
	v = json_object_get(body, "segments");
	if (v || create) {
		size_t n = json_array_size(v);
		in->set_segments = true;
		if (!json_is_array(v) || n < 1 || n > SEG_SCHEME_SEGMENTS_MAX) {
			seg_req_invalid(r, "/segments",
					"segments must be an array of 1 to %d segment ids, in "
					"priority order",
					SEG_SCHEME_SEGMENTS_MAX);
			n = 0;
		}
		*ids = seg_calloc(n + 1, sizeof(**ids));
		for (size_t i = 0; i < n; i++) {
			char ptr[32];
			snprintf(ptr, sizeof(ptr), "/segments/%zu", i);
			if (!seg__segment_id(json_array_get(v, i), &(*ids)[i])) {
				seg_req_invalid(r, ptr, "a segment id is a string of digits");
				continue;
			}
			for (size_t j = 0; j < i; j++)
				if ((*ids)[j] == (*ids)[i]) {
					seg_req_invalid(
						r, ptr,
						"segment \"%lld\" is listed twice (first at "
						"/segments/%zu): a scheme holds each segment "
						"once",
						(long long)(*ids)[i], j);
					break;
				}
		}
		in->segments = *ids;
		in->nsegments = n;
	}
	v = json_object_get(body, "fallback");
	if (v) {
		in->set_fallback = true;
		if (!json_is_null(v) && !seg__name_ok(v))
			seg_req_invalid(r, "/fallback",
					"fallback must be null or a name of 1 to %d bytes without "
					"control characters",
					SEG__NAME_MAX);
		in->fallback = json_string_value(v);
	}
	v = json_object_get(body, "min_segment_size");
	if (v) {
		in->set_min = true;
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > SEG__MIN_SIZE_MAX)
			seg_req_invalid(r, "/min_segment_size",
					"min_segment_size must be an integer from 0 to %lld",
					SEG__MIN_SIZE_MAX);
		else
			in->min_segment_size = (int64_t)json_integer_value(v);
	}
	return r->problem.count ? SEG_ERR_INVALID : SEG_OK;
}

/* The problem of a create or a patch that the database refused. */
static enum seg_err seg__write_failed(struct seg_req *r, enum seg_err err,
				      const struct seg_scheme_input *in, const bool *missing)
{
	if (err == SEG_ERR_CONFLICT) {
		seg_req_invalid(r, "/name", "a scheme with this name exists");
		return seg_req_fail(r, err, "a scheme named \"%s\" exists", in->name);
	}
	if (err == SEG_ERR_INVALID && missing) {
		for (size_t i = 0; i < in->nsegments; i++) {
			char ptr[32];
			snprintf(ptr, sizeof(ptr), "/segments/%zu", i);
			if (missing[i])
				seg_req_invalid(r, ptr, "no segment with id \"%lld\"",
						(long long)in->segments[i]);
		}
	}
	return err;
}

/* Answers status with the scheme's report. */
static enum seg_err seg__reply_report(struct seg_req *r, int status, int64_t id)
{
	struct seg_scheme s;
	struct seg_db *db;
	enum seg_err err = seg_req_db(r, &db);

	seg_scheme_init(&s);
	if (!err)
		err = seg_db_scheme_report(db, r->tenant, id, &s);
	if (!err) {
		struct seg_buf out = SEG_BUF_INIT;
		seg_scheme_report_json(&s, &out);
		seg_req_reply_json_take(r, status, seg_buf_detach(&out, NULL));
	}
	seg_scheme_release(&s);
	return err;
}

enum seg_err seg_h_scheme_create(struct seg_req *r)
{
	struct seg_scheme_input in = {0};
	struct seg_db *db;
	json_t *body = NULL;
	int64_t *ids = NULL, id = 0;
	bool *missing = NULL;
	enum seg_err err = seg_req_check_query(r, seg__no_params);

	if (!err)
		err = seg_req_json(r, &body);
	if (!err)
		err = seg__check_body(r, body, true, &in, &ids);
	if (err)
		goto out;
	missing = seg_calloc(in.nsegments + 1, sizeof(*missing));
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_scheme_create(db, r->tenant, &in, &id, missing);
	if (err) {
		err = seg__write_failed(r, err, &in, missing);
		goto out;
	}
	err = seg__reply_report(r, 201, id);
	if (!err)
		seg_req_set_location(r, "/v1/schemes/%lld", (long long)id);
out:
	free(missing);
	free(ids);
	json_decref(body);
	return err;
}

enum seg_err seg_h_scheme_get(struct seg_req *r)
{
	int64_t id = 0;
	enum seg_err err = seg__scheme_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg__reply_report(r, 200, id);
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_scheme_list(struct seg_req *r)
{
	return seg_req_list(r, seg_db_scheme_list);
}

enum seg_err seg_h_scheme_patch(struct seg_req *r)
{
	struct seg_scheme_input in = {0};
	struct seg_db *db;
	json_t *body = NULL;
	int64_t *ids = NULL, id = 0;
	bool *missing = NULL;
	enum seg_err err = seg__scheme_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_json(r, &body);
	if (!err)
		err = seg__check_body(r, body, false, &in, &ids);
	if (err)
		goto out;
	missing = seg_calloc(in.nsegments + 1, sizeof(*missing));
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_scheme_patch(db, r->tenant, id, &in, missing);
	if (err) {
		err = seg__write_failed(r, err, &in, missing);
		goto out;
	}
	err = seg__reply_report(r, 200, id);
out:
	free(missing);
	free(ids);
	json_decref(body);
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_scheme_delete(struct seg_req *r)
{
	struct seg_db *db;
	int64_t id = 0;
	enum seg_err err = seg__scheme_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_scheme_delete(db, r->tenant, id);
	if (!err)
		seg_req_reply_empty(r, 204);
	return seg__not_found(r, err, id);
}

/* ---- assignments ---------------------------------------------------------------------- */

/* One batch of the assignments export (it has no argument of its own). */
static enum seg_err seg__assignments_batch(struct seg_db *db, int64_t tenant, int64_t id,
					   const char *after_key, const char *arg, int limit,
					   struct seg_buf *out, char **last, size_t *rows)
{
	(void)arg;
	return seg_db_scheme_assignments_csv(db, tenant, id, after_key, limit, out, last, rows);
}

static enum seg_err seg__assignments_csv(struct seg_req *r, int64_t id)
{
	struct seg_db *db;
	char filename[64];
	enum seg_err err = seg_req_check_query(r, seg__no_params);

	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_scheme_exists(db, r->tenant, id);
	if (err)
		return seg__not_found(r, err, id);
	snprintf(filename, sizeof(filename), "scheme-%lld.csv", (long long)id);
	seg_csv_export(r, filename, "customer_id,segment_id,segment\r\n", id,
		       seg__assignments_batch, NULL);
	return SEG_OK;
}

enum seg_err seg_h_scheme_assignments(struct seg_req *r)
{
	int64_t id = 0;
	enum seg_err err = seg__scheme_id(r, &id);

	if (!err && seg_csv_wanted(r))
		return seg__assignments_csv(r, id);
	if (!err)
		err = seg_req_list_of(r, id, seg_db_scheme_assignments);
	return seg__not_found(r, err, id);
}

/* ---- snapshots and transitions -------------------------------------------------------- */

enum seg_err seg_h_scheme_snapshot(struct seg_req *r)
{
	struct seg_db *db;
	char *json = NULL;
	int64_t id = 0;
	enum seg_err err = seg__scheme_id(r, &id);

	if (!err)
		err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_scheme_snapshot(db, r->tenant, id, &json);
	if (!err) {
		seg_req_reply_json_take(r, 201, json);
		seg_req_set_location(r, "/v1/schemes/%lld/snapshots", (long long)id);
	}
	return seg__not_found(r, err, id);
}

enum seg_err seg_h_scheme_snapshots(struct seg_req *r)
{
	int64_t id = 0;
	enum seg_err err = seg__scheme_id(r, &id);

	if (!err)
		err = seg_req_list_of(r, id, seg_db_scheme_snapshots);
	return seg__not_found(r, err, id);
}

/* Query parameter name as an RFC 3339 timestamp, normalised into out; absent: *given false. */
static enum seg_err seg__time_param(struct seg_req *r, const char *name, int64_t *us,
				    char out[SEG_RFC3339_MAX], bool *given)
{
	enum seg_err err = SEG_OK;
	const char *v = seg_req_query(r, name, &err);

	*given = v != NULL;
	if (err || !v)
		return err;
	if (!seg_rfc3339_parse(v, strlen(v), us)) {
		seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, name, 0,
				"%s must be an RFC 3339 timestamp such as 2026-11-23T10:00:00Z",
				name);
		return SEG_ERR_MALFORMED;
	}
	seg_rfc3339_format(*us, out);
	return SEG_OK;
}

enum seg_err seg_h_scheme_transitions(struct seg_req *r)
{
	static const char *const params[] = {"from", "to", NULL};
	struct seg_scheme_transitions t;
	struct seg_db *db;
	char from[SEG_RFC3339_MAX], to[SEG_RFC3339_MAX];
	int64_t id = 0, from_us = 0, to_us = 0;
	bool has_from = false, has_to = false;
	enum seg_err err = seg__scheme_id(r, &id);

	memset(&t, 0, sizeof(t));
	if (!err)
		err = seg_req_check_query(r, params);
	if (!err)
		err = seg__time_param(r, "from", &from_us, from, &has_from);
	if (!err)
		err = seg__time_param(r, "to", &to_us, to, &has_to);
	if (!err && !has_from) {
		seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "from", 0,
				"from is required: an RFC 3339 timestamp");
		err = SEG_ERR_MALFORMED;
	}
	if (!err && !has_to) { /* now */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		to_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		seg_rfc3339_format(to_us, to);
	}
	if (!err && to_us < from_us) {
		seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "to", 0,
				"to (%s) is before from (%s)", to, from);
		err = SEG_ERR_MALFORMED;
	}
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_scheme_transitions(db, r->tenant, id, from, to, &t);
	if (!err && !t.from_found) {
		seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "from", 0,
				"scheme \"%lld\" has no snapshot at or before %s: choose a later "
				"time, or take one with POST /v1/schemes/%lld:snapshot",
				(long long)id, from, (long long)id);
		err = seg_req_fail(r, SEG_ERR_INVALID, "no snapshot at or before %s", from);
	}
	if (!err) {
		struct seg_buf out = SEG_BUF_INIT;
		seg_scheme_transitions_json(&t.from, &t.to, from, to, t.flows, t.nflows, &out);
		seg_req_reply_json_take(r, 200, seg_buf_detach(&out, NULL));
	}
	seg_scheme_transitions_release(&t);
	return seg__not_found(r, err, id);
}

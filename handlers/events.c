/* Events: one or a batch (POST /v1/events) and a customer's events, newest first (SPEC §5.2). */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonspan.h"
#include "validate.h"

#define SEG_MAX_BATCH 10000

struct seg__batch {
	json_t *events; /* the parsed array, for the checked fields */
	struct seg_buf *rows;
};

static int seg__add_span(void *ctx, size_t index, const char *start, size_t len)
{
	struct seg__batch *b = ctx;
	struct seg_event_doc ev;
	seg_event_check(json_array_get(b->events, index), "", NULL, &ev);
	seg_event_rows_add(b->rows, index + 1, ev.id, ev.customer_id, ev.type, ev.occurred_at,
			   start, len);
	return 0;
}

enum seg_err seg_h_events_post(struct seg_req *r)
{
	static const char *const no_params[] = {NULL};
	struct seg_buf rows = SEG_BUF_INIT;
	struct seg_event_doc ev;
	struct seg_db *db;
	json_t *body = NULL;
	size_t accepted = 0, duplicates = 0, faults = 0;
	enum seg_err err = seg_req_check_query(r, no_params);

	if (!err)
		err = seg_req_json(r, &body);
	if (err)
		goto out;
	if (json_is_array(body)) {
		size_t n = json_array_size(body);
		if (n == 0 || n > SEG_MAX_BATCH) {
			err = seg_req_invalid(r, "",
					      "send from 1 to %d events in an array, got %zu",
					      SEG_MAX_BATCH, n);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			char prefix[32];
			snprintf(prefix, sizeof(prefix), "/%zu", i);
			faults +=
				seg_event_check(json_array_get(body, i), prefix, &r->problem, &ev);
		}
		if (!faults) {
			struct seg__batch b = {body, &rows};
			seg_json_array_spans(r->body.data, r->body.len, seg__add_span, &b);
		}
	} else {
		faults = seg_event_check(body, "", &r->problem, &ev);
		if (!faults)
			seg_event_rows_add(&rows, 1, ev.id, ev.customer_id, ev.type, ev.occurred_at,
					   r->body.data, r->body.len);
	}
	if (faults) {
		err = seg_req_fail(r, SEG_ERR_INVALID,
				   "%zu problem%s in the events; none were stored", faults,
				   faults == 1 ? "" : "s");
		goto out;
	}
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_events_ingest(db, r->tenant, &rows, &accepted, &duplicates);
	if (!err) {
		char reply[96];
		snprintf(reply, sizeof(reply), "{\"accepted\":%zu,\"duplicates\":%zu}", accepted,
			 duplicates);
		seg_req_reply_json(r, 202, reply);
	}
out:
	seg_buf_release(&rows);
	json_decref(body);
	return err;
}

/* A timestamp query parameter: NULL when absent; 400 when it is not RFC 3339. */
static const char *seg__time_param(struct seg_req *r, const char *name, enum seg_err *err)
{
	int64_t us;
	char *v = (char *)seg_req_query(r, name, err);
	size_t n = v ? strlen(v) : 0;
	/* An offset's "+" that the client did not percent-encode arrives as a space. */
	if (n > 19 && v[n - 6] == ' ' && !seg_rfc3339_parse(v, n, &us))
		v[n - 6] = '+';
	if (v &&
	    (!seg_rfc3339_parse(v, n, &us) || us < SEG_RFC3339_MIN_US || us > SEG_RFC3339_MAX_US)) {
		seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, name, 0,
				"%s must be an RFC 3339 timestamp such as 2026-11-23T10:00:00Z",
				name);
		*err = SEG_ERR_MALFORMED;
	}
	return v;
}

enum seg_err seg_h_events_list(struct seg_req *r)
{
	static const char *const params[] = {"type", "since", "until", "limit", "cursor", NULL};
	struct seg_page page;
	struct seg_db *db;
	const char *id = seg_req_param(r, 0), *after = NULL, *type, *since, *until;
	int limit = 100;
	enum seg_err err = seg_req_check_query(r, params);

	seg_page_init(&page);
	if (!err && !seg_customer_id_valid(id))
		err = seg_req_bad_param(r, "id",
					"a customer id is 1 to 128 bytes of printable UTF-8");
	type = seg_req_query(r, "type", &err);
	since = seg__time_param(r, "since", &err);
	until = seg__time_param(r, "until", &err);
	if (!err)
		err = seg_req_page_params(r, &limit, &after);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_events_list(db, r->tenant, id, type, since, until, after, limit,
					 &page);
	if (err == SEG_ERR_NOT_FOUND)
		seg_req_fail(r, err, "no customer with id \"%s\"", id);
	err = seg_req_page_result(r, err);
	if (!err)
		seg_req_reply_page(r, &page);
	seg_page_release(&page);
	return err;
}

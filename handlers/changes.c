/*
 * The change feed (SPEC §5.4): GET /v1/changes?since=<cursor>&segment=<id>&limit. The cursor
 * is a decimal number as text (db/changes.c says why it is safe to follow); next_cursor is the
 * last item's cursor, or the given one ("0" without one) when there are no new changes, so a
 * client polls with whatever it got last.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"

enum seg_err seg_h_changes(struct seg_req *r)
{
	static const char *const params[] = {"since", "segment", "limit", NULL};
	struct seg_page page;
	struct seg_db *db;
	int64_t cursor = 0, segment = 0;
	int limit = 100;
	enum seg_err err = seg_req_check_query(r, params);
	const char *since = NULL, *seg = NULL, *lim = NULL;

	seg_page_init(&page);
	if (!err) {
		since = seg_req_query(r, "since", &err);
		seg = seg_req_query(r, "segment", &err);
		lim = seg_req_query(r, "limit", &err);
	}
	if (!err && since && !seg_change_cursor_parse(since, &cursor)) {
		seg_problem_add(
			&r->problem, SEG_WHERE_PARAMETER, "since", 0,
			"since must be a cursor of this feed (a number, as in next_cursor), "
			"got \"%s\"",
			since);
		err = SEG_ERR_MALFORMED;
	}
	if (!err && seg) {
		if (!seg_id_parse(seg, strlen(seg), &segment)) {
			seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "segment", 0,
					"segment must be a segment id, got \"%s\"", seg);
			err = SEG_ERR_MALFORMED;
		}
	}
	if (!err && lim) {
		char *end;
		long n = strtol(lim, &end, 10);
		if (!*lim || *end || n < 1 || n > 1000) {
			seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "limit", 0,
					"limit must be an integer from 1 to 1000, got \"%s\"", lim);
			err = SEG_ERR_MALFORMED;
		}
		limit = (int)n;
	}
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_changes(db, r->tenant, cursor, segment, limit, &page);
	if (!err) {
		struct seg_buf out = SEG_BUF_INIT;
		const char *next = page.next_key ? page.next_key : since ? since : "0";
		seg_buf_grow(&out, page.items.len + 64);
		seg_buf_addstr(&out, "{\"items\":[");
		seg_buf_add(&out, page.items.data, page.items.len);
		seg_buf_addstr(&out, "],\"next_cursor\":");
		seg_buf_add_json_string(&out, next, strlen(next));
		seg_buf_addch(&out, '}');
		seg_req_reply_json_take(r, 200, seg_buf_detach(&out, NULL));
	}
	seg_page_release(&page);
	return err;
}

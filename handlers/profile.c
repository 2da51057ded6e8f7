/*
 * GET /v1/segments/{id}/profile: what sets a segment apart (size, share, numeric statistics,
 * the most frequent values with their lift, the revenue figures, the persona card); GET
 * /v1/segments:overlap?ids=a,b,c: how far up to SEG_OVERLAP_MAX segments overlap (counts and
 * Jaccard indexes). SPEC §5.4; the computation is db/profile.c (db/README.md "Profiles and
 * overlap").
 */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static const char *const seg__no_params[] = {NULL};
static const char *const seg__overlap_params[] = {"ids", NULL};

enum seg_err seg_h_segment_profile(struct seg_req *r)
{
	const char *text = seg_req_param(r, 0);
	struct seg_db *db;
	char *json = NULL;
	int64_t id = 0;
	enum seg_err err = seg_req_check_query(r, seg__no_params);

	if (err)
		return err;
	if (!text || !seg_id_parse(text, strlen(text), &id))
		return seg_req_fail(r, SEG_ERR_NOT_FOUND, "no segment with id \"%s\"",
				    text ? text : "");
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_segment_profile(db, r->tenant, id, &json);
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no segment with id \"%lld\"", (long long)id);
	if (!err)
		seg_req_reply_json_take(r, 200, json);
	return err;
}

/* A problem with the ids parameter: 400, naming it. */
static enum seg_err seg__ids_bad(struct seg_req *r, const char *detail, const char *item)
{
	seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "ids", 0, "%s%s%s%s", detail,
			item ? " \"" : "", item ? item : "", item ? "\"" : "");
	return SEG_ERR_MALFORMED;
}

enum seg_err seg_h_segments_overlap(struct seg_req *r)
{
	int64_t ids[SEG_OVERLAP_MAX], unknown = 0;
	size_t n = 0;
	struct seg_db *db;
	char *json = NULL;
	enum seg_err err = seg_req_check_query(r, seg__overlap_params);
	const char *list = err ? NULL : seg_req_query(r, "ids", &err);

	if (err)
		return err;
	if (!list || !*list)
		return seg__ids_bad(
			r, "ids is required: a comma-separated list of 1 to 20 segment ids", NULL);
	for (const char *p = list;; p++) {
		size_t len = strcspn(p, ",");
		int64_t id;
		if (n == SEG_OVERLAP_MAX)
			return seg__ids_bad(r, "ids lists more than 20 segments", NULL);
		if (!seg_id_parse(p, len, &id)) {
			char item[64];
			snprintf(item, sizeof(item), "%.*s", len > 40 ? 40 : (int)len, p);
			return seg__ids_bad(r, "ids must be segment ids separated by commas, got",
					    item);
		}
		for (size_t i = 0; i < n; i++) {
			if (ids[i] == id) {
				char item[24];
				snprintf(item, sizeof(item), "%lld", (long long)id);
				return seg__ids_bad(r, "ids lists a segment twice:", item);
			}
		}
		ids[n++] = id;
		p += len;
		if (!*p)
			break;
	}
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_segments_overlap(db, r->tenant, ids, n, &unknown, &json);
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no segment with id \"%lld\"", (long long)unknown);
	if (!err)
		seg_req_reply_json_take(r, 200, json);
	return err;
}

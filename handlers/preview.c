/*
 * POST /v1/segments:preview {"rule"}: how many customers a rule matches now, their share of the
 * tenant's customers and a sample of their ids, without saving anything (SPEC §5.4).
 */
#include "handlers.h"

#include <stdlib.h>

#include "jsonspan.h"
#include "rule.h"
#include "validate.h"

/* The rule parser's question "does this segment exist?", asked of the database. */
struct seg__exists {
	struct seg_db *db;
	int64_t tenant;
	enum seg_err err; /* the first failure of the database, if any */
};

static bool seg__exists(void *ctx, int64_t id)
{
	struct seg__exists *e = ctx;
	bool found = false;
	if (!e->err)
		e->err = seg_db_segment_exists(e->db, e->tenant, id, &found);
	return found;
}

enum seg_err seg_h_segments_preview(struct seg_req *r)
{
	static const char *const keys[] = {"rule", NULL};
	static const char *const no_params[] = {NULL};
	struct seg_attr_catalog catalog;
	struct seg_rule *rule = NULL;
	struct seg__exists exists = {0};
	struct seg_db *db;
	json_t *body = NULL;
	const char *text;
	size_t len;
	char *out = NULL;
	enum seg_err err = seg_req_check_query(r, no_params);

	seg_attr_catalog_init(&catalog);
	if (!err)
		err = seg_req_json(r, &body);
	if (err)
		goto out;
	if (seg_json_object_check(body, keys, "", &r->problem)) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	if (!seg_json_member_span(r->body.data, r->body.len, "rule", &text, &len)) {
		err = seg_req_invalid(r, "/rule", "missing \"rule\"");
		goto out;
	}
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_attr_catalog(db, r->tenant, &catalog);
	if (err)
		goto out;
	exists.db = db;
	exists.tenant = r->tenant;
	struct seg_rule_env env = {
		.catalog = &catalog, .segment_exists = seg__exists, .ctx = &exists};
	rule = seg_rule_parse(text, len, &env, "/rule", &r->problem);
	if (exists.err) {
		err = exists.err;
		goto out;
	}
	if (!rule) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	err = seg_db_segment_preview(db, r->tenant, rule, &out);
	if (!err)
		seg_req_reply_json_take(r, 200, out);
out:
	seg_rule_free(rule);
	seg_attr_catalog_release(&catalog);
	json_decref(body);
	return err;
}

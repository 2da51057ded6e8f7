/* Customers: PUT, PATCH (JSON merge patch), GET, DELETE and the paged list (SPEC §5.1). */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#include "validate.h"

static const char *const seg__no_params[] = {NULL};
static const char *const seg__page_params[] = {"limit", "cursor", "segment", NULL};

/* The {id} path parameter, checked: a bad one is invalid (422). */
static enum seg_err seg__customer_id(struct seg_req *r, const char **id)
{
	*id = seg_req_param(r, 0);
	if (!seg_customer_id_valid(*id))
		return seg_req_bad_param(r, "id",
					 "a customer id is 1 to 128 bytes of printable UTF-8");
	return seg_req_check_query(r, seg__no_params);
}

/* Parses and checks a PUT or PATCH body against the tenant's attribute catalogue. */
static enum seg_err seg__read_doc(struct seg_req *r, enum seg_doc_mode mode,
				  struct seg_customer_doc *doc, json_t **json)
{
	struct seg_attr_catalog catalog;
	struct seg_db *db;
	enum seg_err err = seg_req_json(r, json);
	if (err)
		return err;
	err = seg_req_db(r, &db);
	if (err)
		return err;
	seg_attr_catalog_init(&catalog);
	err = seg_db_attr_catalog(db, r->tenant, &catalog);
	if (!err && seg_customer_doc_check(*json, mode, &catalog, "", &r->problem, doc))
		err = SEG_ERR_INVALID;
	seg_attr_catalog_release(&catalog);
	return err;
}

enum seg_err seg_h_customer_put(struct seg_req *r)
{
	struct seg_customer_doc doc;
	struct seg_db *db;
	json_t *json = NULL;
	char *out = NULL;
	bool created = false;
	const char *id;
	enum seg_err err = seg__customer_id(r, &id);

	if (!err)
		err = seg__read_doc(r, SEG_DOC_PUT, &doc, &json);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_customer_put(db, r->tenant, id, doc.kind, r->body.data, &created,
					  &out);
	if (!err) {
		if (created) {
			struct seg_buf loc = SEG_BUF_INIT;
			seg_req_url_escape(&loc, id);
			seg_req_set_location(r, "/v1/customers/%s", loc.data);
			seg_buf_release(&loc);
		}
		seg_req_reply_json_take(r, created ? 201 : 200, out);
	}
	json_decref(json);
	return err;
}

enum seg_err seg_h_customer_patch(struct seg_req *r)
{
	struct seg_customer_doc doc;
	struct seg_db *db;
	json_t *json = NULL;
	char *out = NULL;
	const char *id;
	enum seg_err err = seg__customer_id(r, &id);

	if (!err)
		err = seg__read_doc(r, SEG_DOC_PATCH, &doc, &json);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_customer_patch(db, r->tenant, id, doc.kind, r->body.data, &out);
	if (err == SEG_ERR_NOT_FOUND)
		seg_req_fail(r, err, "no customer with id \"%s\"", id);
	if (!err)
		seg_req_reply_json_take(r, 200, out);
	json_decref(json);
	return err;
}

enum seg_err seg_h_customer_get(struct seg_req *r)
{
	struct seg_db *db;
	char *out = NULL;
	const char *id;
	enum seg_err err = seg__customer_id(r, &id);

	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_customer_get(db, r->tenant, id, &out);
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no customer with id \"%s\"", id);
	if (!err)
		seg_req_reply_json_take(r, 200, out);
	return err;
}

enum seg_err seg_h_customer_delete(struct seg_req *r)
{
	struct seg_db *db;
	const char *id;
	enum seg_err err = seg__customer_id(r, &id);

	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_customer_delete(db, r->tenant, id);
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no customer with id \"%s\"", id);
	if (!err)
		seg_req_reply_empty(r, 204);
	return err;
}

enum seg_err seg_h_customer_list(struct seg_req *r)
{
	struct seg_page page;
	struct seg_db *db;
	const char *after;
	int limit;
	enum seg_err err = seg_req_check_query(r, seg__page_params);
	const char *segment = err ? NULL : seg_req_query(r, "segment", &err);

	if (!err && segment) /* the members of one segment (handlers/segments.c) */
		return seg_h_customer_list_segment(r, segment);
	seg_page_init(&page);
	if (!err)
		err = seg_req_page_params(r, &limit, &after);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_customer_list(db, r->tenant, after, limit, &page);
	if (!err)
		seg_req_reply_page(r, &page);
	seg_page_release(&page);
	return err;
}

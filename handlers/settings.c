/* Tenant settings (admin scope): which event types are revenue, i.e. orders. */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "validate.h"

static const char *const seg__no_params[] = {NULL};

enum seg_err seg_h_settings_get(struct seg_req *r)
{
	struct seg_db *db;
	char *out = NULL;
	enum seg_err err = seg_req_check_query(r, seg__no_params);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_settings_get(db, r->tenant, &out);
	if (!err)
		seg_req_reply_json_take(r, 200, out);
	return err;
}

enum seg_err seg_h_settings_patch(struct seg_req *r)
{
	static const char *const keys[] = {"revenue_event_types", NULL};
	struct seg_db *db;
	json_t *body = NULL, *types, *t;
	char *out = NULL, *types_text = NULL;
	size_t i;
	enum seg_err err = seg_req_check_query(r, seg__no_params);

	if (!err)
		err = seg_req_json(r, &body);
	if (err)
		goto out;
	if (seg_json_object_check(body, keys, "", &r->problem)) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	types = json_object_get(body, "revenue_event_types");
	if (!types) {
		err = seg_req_db(r, &db);
		if (!err)
			err = seg_db_settings_get(db, r->tenant, &out);
		goto reply;
	}
	if (!json_is_array(types) || json_array_size(types) > 100) {
		err = seg_req_invalid(
			r, "/revenue_event_types",
			"revenue_event_types must be an array of up to 100 event types");
		goto out;
	}
	json_array_foreach(types, i, t)
	{
		if (!json_is_string(t) ||
		    !seg_printable_valid(json_string_value(t), json_string_length(t), 1, 64)) {
			char ptr[64];
			snprintf(ptr, sizeof(ptr), "/revenue_event_types/%zu", i);
			err = seg_req_invalid(r, ptr,
					      "an event type is 1 to 64 bytes of printable UTF-8");
		}
	}
	if (err)
		goto out;
	types_text = json_dumps(types, JSON_COMPACT);
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_settings_set_revenue_types(db, r->tenant, types_text, &out);
reply:
	if (!err)
		seg_req_reply_json_take(r, 200, out);
out:
	free(types_text);
	json_decref(body);
	return err;
}

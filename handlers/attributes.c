/* The attribute catalogue: list, get, register (PUT) and delete definitions (SPEC §5.3). */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrs.h"
#include "text.h"
#include "validate.h"

static const char *const seg__no_params[] = {NULL};

static const char *const seg__categories[] = {"demographic",
					      "geographic",
					      "psychographic",
					      "behavioral",
					      "technographic",
					      "firmographic",
					      "needs",
					      "value",
					      "journey",
					      "other",
					      NULL};

static enum seg_err seg__name(struct seg_req *r, const char **name)
{
	*name = seg_req_param(r, 0);
	if (!seg_attr_name_valid(*name))
		return seg_req_bad_param(
			r, "name",
			"an attribute name is 1 to 64 bytes: [A-Za-z0-9_] segments joined by dots");
	return seg_req_check_query(r, seg__no_params);
}

enum seg_err seg_h_attr_list(struct seg_req *r)
{
	return seg_req_list(r, seg_db_attr_list);
}

enum seg_err seg_h_attr_get(struct seg_req *r)
{
	struct seg_db *db;
	char *out = NULL;
	const char *name;
	enum seg_err err = seg__name(r, &name);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_attr_get(db, r->tenant, name, &out);
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no attribute definition named \"%s\"", name);
	if (!err)
		seg_req_reply_json_take(r, 200, out);
	return err;
}

enum seg_err seg_h_attr_delete(struct seg_req *r)
{
	struct seg_db *db;
	const char *name;
	enum seg_err err = seg__name(r, &name);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_attr_delete(db, r->tenant, name);
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no attribute definition named \"%s\"", name);
	if (!err)
		seg_req_reply_empty(r, 204);
	return err;
}

/* An optional string member of at most max bytes; adds a problem otherwise. */
static const char *seg__opt_string(struct seg_req *r, json_t *body, const char *key, size_t max)
{
	json_t *v = json_object_get(body, key);
	char ptr[32];
	snprintf(ptr, sizeof(ptr), "/%s", key);
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    !seg_utf8_valid(json_string_value(v), json_string_length(v))) {
		seg_req_invalid(r, ptr, "%s must be a string of at most %zu bytes", key, max);
		return NULL;
	}
	return json_string_value(v);
}

/* Checks the enum of a definition: 1..1000 distinct values, each valid for the type. */
static void seg__check_enum(struct seg_req *r, json_t *values, enum seg_attr_type type)
{
	struct seg_attr_def def = {(char *)"enum",
				   type == SEG_ATTR_STRING_LIST ? SEG_ATTR_STRING : type, NULL};
	char why[256], ptr[32];
	size_t i, j;
	json_t *v;

	if (!json_is_array(values) || json_array_size(values) < 1 ||
	    json_array_size(values) > 1000) {
		seg_req_invalid(r, "/enum", "enum must be an array of 1 to 1000 values");
		return;
	}
	if (type == SEG_ATTR_BOOLEAN) {
		seg_req_invalid(r, "/enum", "a boolean attribute takes no enum");
		return;
	}
	json_array_foreach(values, i, v)
	{
		snprintf(ptr, sizeof(ptr), "/enum/%zu", i);
		if (json_is_null(v) || !seg_attr_check(&def, v, why, sizeof(why)))
			seg_req_invalid(r, ptr, "%s",
					json_is_null(v) ? "null is not an allowed value" : why);
		for (j = 0; j < i; j++)
			if (seg_json_equal(v, json_array_get(values, j)))
				seg_req_invalid(r, ptr, "this value repeats /enum/%zu", j);
	}
}

enum seg_err seg_h_attr_put(struct seg_req *r)
{
	static const char *const keys[] = {"name", "type", "category", "description",
					   "enum", "unit", NULL};
	struct seg_attr_input in = {0};
	enum seg_attr_type type;
	struct seg_db *db;
	json_t *body = NULL, *v;
	char *out = NULL, *offenders = NULL, *allowed = NULL;
	const char *name;
	bool created = false;
	enum seg_err err = seg__name(r, &name);

	if (!err)
		err = seg_req_json(r, &body);
	if (err)
		goto out;
	if (seg_json_object_check(body, keys, "", &r->problem) && !json_is_object(body)) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	v = json_object_get(body, "name");
	if (v && !(json_is_string(v) && strcmp(json_string_value(v), name) == 0))
		seg_req_invalid(r, "/name", "name, when given, must equal the name in the path");
	in.type = json_string_value(json_object_get(body, "type"));
	if (!in.type || !seg_attr_type_parse(in.type, &type))
		seg_req_invalid(r, "/type",
				"type must be one of number, integer, string, boolean, date, "
				"timestamp, string_list");
	in.category = "other";
	v = json_object_get(body, "category");
	if (v && !json_is_null(v)) {
		bool known = false;
		for (const char *const *c = seg__categories; *c && json_is_string(v) && !known; c++)
			known = strcmp(*c, json_string_value(v)) == 0;
		if (!known)
			seg_req_invalid(
				r, "/category",
				"category must be one of demographic, geographic, psychographic, "
				"behavioral, technographic, firmographic, needs, value, journey, "
				"other");
		else
			in.category = json_string_value(v);
	}
	in.description = seg__opt_string(r, body, "description", 1000);
	in.unit = seg__opt_string(r, body, "unit", 64);
	v = json_object_get(body, "enum");
	if (v && !json_is_null(v) && in.type && seg_attr_type_parse(in.type, &type)) {
		seg__check_enum(r, v, type);
		allowed = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
		in.allowed_json = allowed;
	}
	if (r->problem.count) {
		err = SEG_ERR_INVALID;
		goto out;
	}
	err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_attr_put(db, r->tenant, name, &in, &created, &out, &offenders);
	if (err == SEG_ERR_CONFLICT) {
		seg_req_fail(
			r, err,
			"existing customers have values of \"%s\" that this definition refuses",
			name);
		seg_buf_addf(&r->problem_extra, ",\"offenders\":%s", offenders ? offenders : "[]");
	}
	if (!err) {
		if (created)
			seg_req_set_location(r, "/v1/attributes/%s", name);
		seg_req_reply_json_take(r, created ? 201 : 200, out);
	}
out:
	free(allowed);
	free(offenders);
	json_decref(body);
	return err;
}

/* Checks of customer documents and events; see validate.h. */
#include "validate.h"

#include <string.h>

#include "buf.h"
#include "text.h"

static void seg__add(struct seg_problem *p, const char *prefix, const char *field, const char *msg)
{
	struct seg_buf ptr = SEG_BUF_INIT;
	if (!p)
		return; /* only counting */
	seg_buf_addstr(&ptr, prefix);
	if (field)
		seg_pointer_push(&ptr, field);
	seg_problem_add(p, SEG_WHERE_POINTER, ptr.data, 0, "%s", msg);
	seg_buf_release(&ptr);
}

size_t seg_json_object_check(const json_t *v, const char *const *allowed, const char *prefix,
			     struct seg_problem *p)
{
	const char *key;
	json_t *member;
	size_t n = 0;

	if (!json_is_object(v)) {
		seg__add(p, prefix, NULL, "expected a JSON object");
		return 1;
	}
	json_object_foreach((json_t *)v, key, member)
	{
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, key) == 0;
		if (!ok) {
			struct seg_buf msg = SEG_BUF_INIT;
			seg_buf_addstr(&msg, "unknown field ");
			seg_buf_add_json_string(&msg, key, strlen(key));
			seg__add(p, prefix, key, msg.data);
			seg_buf_release(&msg);
			n++;
		}
	}
	return n;
}

static size_t seg__depth(const json_t *v)
{
	size_t deepest = 0, d;
	const char *key;
	json_t *child;
	size_t i;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child) if ((d = seg__depth(child)) > deepest)
			deepest = d;
		return deepest + 1;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, child) if ((d = seg__depth(child)) > deepest) deepest = d;
		return deepest + 1;
	}
	return 0;
}

static bool seg__has_null(const json_t *obj)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key,
			    v) if (json_is_null(v) ||
				   (json_is_object(v) && seg__has_null(v))) return true;
	return false;
}

json_t *seg_json_load(const char *text, size_t len, json_error_t *error)
{
	const size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
	json_t *v = json_loadb(text, len, flags, error);
	if (!v && json_error_code(error) == json_error_numeric_overflow)
		v = json_loadb(text, len, flags | JSON_DECODE_INT_AS_REAL, error);
	return v;
}

bool seg_customer_id_valid(const char *s)
{
	return seg_printable_valid(s, strlen(s), 1, 128);
}

size_t seg_customer_doc_check(const json_t *doc, enum seg_doc_mode mode,
			      const struct seg_attr_catalog *catalog, const char *prefix,
			      struct seg_problem *p, struct seg_customer_doc *out)
{
	static const char *const import_keys[] = {"id", "kind", "attributes", NULL};
	static const char *const body_keys[] = {"kind", "attributes", NULL};
	size_t faults = 0;
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->flat = true;
	faults = seg_json_object_check(doc, mode == SEG_DOC_IMPORT ? import_keys : body_keys,
				       prefix, p);
	if (!json_is_object(doc))
		return faults;

	if (mode == SEG_DOC_IMPORT) {
		v = json_object_get(doc, "id");
		if (!json_is_string(v)) {
			seg__add(p, prefix, "id", "id is required and must be a string");
			faults++;
		} else if (!seg_customer_id_valid(json_string_value(v))) {
			seg__add(p, prefix, "id", "id must be 1 to 128 bytes of printable UTF-8");
			faults++;
		} else {
			out->id = json_string_value(v);
		}
	}

	v = json_object_get(doc, "kind");
	if (v && !(json_is_null(v) && mode != SEG_DOC_PATCH)) {
		const char *k = json_string_value(v);
		if (!k || (strcmp(k, "person") && strcmp(k, "company"))) {
			seg__add(p, prefix, "kind", "kind must be \"person\" or \"company\"");
			faults++;
		} else {
			out->kind = k;
		}
	}

	v = json_object_get(doc, "attributes");
	if (v && json_is_null(v) && mode == SEG_DOC_IMPORT) {
		seg__add(p, prefix, "attributes", "attributes must be an object");
		faults++;
	} else if (v && !json_is_null(v)) {
		if (!json_is_object(v)) {
			seg__add(p, prefix, "attributes", "attributes must be an object");
			faults++;
		} else if (seg__depth(v) > SEG_MAX_DEPTH) {
			seg__add(p, prefix, "attributes", "attributes nest deeper than 32 levels");
			faults++;
		} else {
			struct seg_buf ptr = SEG_BUF_INIT;
			const char *key;
			json_t *a;
			seg_buf_addstr(&ptr, prefix);
			seg_pointer_push(&ptr, "attributes");
			faults += seg_attr_validate(catalog, v, ptr.data, p);
			seg_buf_release(&ptr);
			json_object_foreach(v, key, a) if (json_is_object(a) || json_is_null(a))
				out->flat = false;
			out->has_null = seg__has_null(v);
		}
	} else if (v) {
		out->flat = false; /* attributes: null */
	}
	return faults;
}

static bool seg__text_field(const json_t *ev, const char *name, bool required, size_t max,
			    const char *prefix, struct seg_problem *p, const char **out)
{
	json_t *v = json_object_get(ev, name);
	char msg[128];
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (!required)
			return true;
		snprintf(msg, sizeof(msg), "%s is required", name);
	} else if (!json_is_string(v)) {
		snprintf(msg, sizeof(msg), "%s must be a string", name);
	} else if (!seg_printable_valid(json_string_value(v), json_string_length(v), 1, max)) {
		snprintf(msg, sizeof(msg), "%s must be 1 to %zu bytes of printable UTF-8", name,
			 max);
	} else {
		*out = json_string_value(v);
		return true;
	}
	seg__add(p, prefix, name, msg);
	return false;
}

size_t seg_event_check(const json_t *ev, const char *prefix, struct seg_problem *p,
		       struct seg_event_doc *out)
{
	static const char *const keys[] = {"id",     "customer_id", "type", "occurred_at",
					   "amount", "properties",  NULL};
	size_t faults = 0;
	json_t *v;
	int64_t us;

	memset(out, 0, sizeof(*out));
	faults = seg_json_object_check(ev, keys, prefix, p);
	if (!json_is_object(ev))
		return faults;
	faults += !seg__text_field(ev, "id", false, 128, prefix, p, &out->id);
	faults += !seg__text_field(ev, "customer_id", true, 128, prefix, p, &out->customer_id);
	faults += !seg__text_field(ev, "type", true, 64, prefix, p, &out->type);

	v = json_object_get(ev, "occurred_at");
	if (!json_is_string(v)) {
		seg__add(p, prefix, "occurred_at",
			 "occurred_at is required: an RFC 3339 timestamp");
		faults++;
	} else if (!seg_rfc3339_parse(json_string_value(v), json_string_length(v), &us)) {
		seg__add(p, prefix, "occurred_at",
			 "occurred_at is not an RFC 3339 timestamp such as 2026-11-23T10:00:00Z");
		faults++;
	} else if (us < SEG_RFC3339_MIN_US || us > SEG_RFC3339_MAX_US) {
		seg__add(p, prefix, "occurred_at",
			 "occurred_at must fall within the years 0001 to 9999 in UTC");
		faults++;
	} else {
		seg_rfc3339_format(us, out->occurred_at);
	}

	v = json_object_get(ev, "amount");
	if (v && !json_is_null(v) && !json_is_number(v)) {
		seg__add(p, prefix, "amount", "amount must be a number");
		faults++;
	}
	v = json_object_get(ev, "properties");
	if (v && !json_is_null(v)) {
		if (!json_is_object(v)) {
			seg__add(p, prefix, "properties", "properties must be an object");
			faults++;
		} else if (seg__depth(v) > SEG_MAX_DEPTH) {
			seg__add(p, prefix, "properties", "properties nest deeper than 32 levels");
			faults++;
		}
	}
	return faults;
}

void seg_problem_first_line(const struct seg_problem *p, struct seg_buf *out)
{
	if (p->count == 0) {
		seg_buf_addstr(out, p->detail ? p->detail : "invalid");
		return;
	}
	const struct seg_problem_item *it = &p->items[0];
	if (it->where == SEG_WHERE_POINTER && it->pointer && it->pointer[0])
		seg_buf_addf(out, "%s: ", it->pointer);
	seg_buf_addstr(out, it->detail);
}

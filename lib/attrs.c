/*
 * The attribute catalogue and the checks of values against it: JSON values from request
 * bodies (seg_attr_check, seg_attr_validate) and CSV cells (seg_attr_cell_to_json), with the
 * same rules and messages for both. See attrs.h.
 */
#include "attrs.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "text.h"
#include "timefmt.h"

/* Longest piece of a client's string quoted in a message. */
#define QUOTE_MAX 64

static const char *const type_names[] = {
#define XX(name, text) text,
	SEG_ATTR_TYPE_MAP(XX)
#undef XX
};

bool seg_attr_type_parse(const char *text, enum seg_attr_type *out)
{
	for (int t = 0; t < SEG_ATTR__COUNT; t++) {
		if (text && strcmp(text, type_names[t]) == 0) {
			*out = (enum seg_attr_type)t;
			return true;
		}
	}
	return false;
}

const char *seg_attr_type_name(enum seg_attr_type t)
{
	return (unsigned)t < SEG_ATTR__COUNT ? type_names[t] : "unknown";
}

void seg_attr_catalog_init(struct seg_attr_catalog *c)
{
	c->defs = NULL;
	c->count = 0;
}

void seg_attr_catalog_release(struct seg_attr_catalog *c)
{
	for (size_t i = 0; i < c->count; i++) {
		free(c->defs[i].name);
		json_decref(c->defs[i].allowed);
	}
	free(c->defs);
	seg_attr_catalog_init(c);
}

void seg_attr_catalog_add(struct seg_attr_catalog *c, const char *name, enum seg_attr_type type,
			  json_t *allowed)
{
	struct seg_attr_def *d;
	c->defs = seg_realloc(c->defs, (c->count + 1) * sizeof(*c->defs));
	d = &c->defs[c->count++];
	d->name = seg_strdup(name);
	d->type = type;
	d->allowed = json_incref(allowed);
}

const struct seg_attr_def *seg_attr_catalog_find(const struct seg_attr_catalog *c, const char *name)
{
	for (size_t i = 0; i < c->count; i++)
		if (strcmp(c->defs[i].name, name) == 0)
			return &c->defs[i];
	return NULL;
}

/* An integer and a real are equal when the real is exactly that integer. */
static bool int_equals_real(json_int_t i, double d)
{
	if (!isfinite(d) || d != floor(d))
		return false;
	if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
		return false;
	return (json_int_t)d == i;
}

bool seg_json_equal(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		if (json_is_real(a) && json_is_real(b))
			return json_real_value(a) == json_real_value(b);
		if (json_is_integer(a))
			return int_equals_real(json_integer_value(a), json_real_value(b));
		return int_equals_real(json_integer_value(b), json_real_value(a));
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a)) {
		size_t n = json_array_size(a);
		if (n != json_array_size(b))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!seg_json_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		const char *key;
		json_t *v;
		if (json_object_size(a) != json_object_size(b))
			return false;
		/* json_object_foreach wants a non-const object; it does not modify it. */
		json_object_foreach((json_t *)a, key, v)
		{
			if (!seg_json_equal(v, json_object_get(b, key)))
				return false;
		}
		return true;
	}
	return json_equal((json_t *)a, (json_t *)b);
}

/* Appends s[0..len) in double quotes, cut at a character boundary after QUOTE_MAX bytes. */
static void add_quoted(struct seg_buf *b, const char *s, size_t len)
{
	size_t n = len;
	if (n > QUOTE_MAX) {
		n = QUOTE_MAX;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	seg_buf_addch(b, '"');
	seg_buf_add(b, s, n);
	seg_buf_addstr(b, n < len ? "...\"" : "\"");
}

/* Appends a short rendering of a JSON value for a message: "text", 30.5, true, a list. */
static void add_value(struct seg_buf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: add_quoted(b, json_string_value(v), json_string_length(v)); break;
	case JSON_INTEGER: seg_buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
	case JSON_REAL: seg_buf_addf(b, "%.17g", json_real_value(v)); break;
	case JSON_TRUE: seg_buf_addstr(b, "true"); break;
	case JSON_FALSE: seg_buf_addstr(b, "false"); break;
	case JSON_NULL: seg_buf_addstr(b, "null"); break;
	case JSON_ARRAY: seg_buf_addstr(b, "an array"); break;
	case JSON_OBJECT: seg_buf_addstr(b, "an object"); break;
	}
}

static const char *kind_of(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_ARRAY: return "an array";
	case JSON_OBJECT: return "an object";
	case JSON_NULL: return "null";
	}
	return "a value";
}

static const char *expected(enum seg_attr_type t)
{
	switch (t) {
	case SEG_ATTR_NUMBER: return "a number";
	case SEG_ATTR_INTEGER: return "an integer";
	case SEG_ATTR_STRING: return "a string";
	case SEG_ATTR_BOOLEAN: return "a boolean";
	case SEG_ATTR_DATE: return "a date (YYYY-MM-DD)";
	case SEG_ATTR_TIMESTAMP: return "an RFC 3339 timestamp";
	case SEG_ATTR_STRING_LIST: return "a list of strings";
	case SEG_ATTR__COUNT: break;
	}
	return "a value";
}

static bool is_allowed(const json_t *allowed, const json_t *v)
{
	size_t i;
	json_t *a;
	if (!json_is_array(allowed))
		return true;
	json_array_foreach(allowed, i, a)
	{
		if (seg_json_equal(a, v))
			return true;
	}
	return false;
}

static bool not_allowed(const json_t *v, char *why, size_t whylen)
{
	struct seg_buf b = SEG_BUF_INIT;
	add_value(&b, v);
	seg_text_setf(why, whylen, "%s is not one of the allowed values", b.data);
	seg_buf_release(&b);
	return false;
}

/* The type check alone; on failure says what was expected and what came. */
static bool type_ok(enum seg_attr_type t, const json_t *v, char *why, size_t whylen)
{
	const char *s;
	struct seg_buf b = SEG_BUF_INIT;
	bool ok = false;

	switch (t) {
	case SEG_ATTR_NUMBER: ok = json_is_number(v); break;
	case SEG_ATTR_INTEGER:
		if (json_is_real(v) && json_real_value(v) != floor(json_real_value(v))) {
			add_value(&b, v);
			seg_text_setf(why, whylen, "expected an integer, got %s", b.data);
			seg_buf_release(&b);
			return false;
		}
		ok = json_is_number(v);
		break;
	case SEG_ATTR_STRING: ok = json_is_string(v); break;
	case SEG_ATTR_BOOLEAN: ok = json_is_boolean(v); break;
	case SEG_ATTR_DATE:
	case SEG_ATTR_TIMESTAMP:
		if (!json_is_string(v))
			break;
		s = json_string_value(v);
		int32_t days;
		int64_t us;
		if (t == SEG_ATTR_DATE ? seg_date_parse(s, json_string_length(v), &days)
				       : seg_rfc3339_parse(s, json_string_length(v), &us))
			return true;
		add_value(&b, v);
		seg_text_setf(why, whylen, "%s is not %s", b.data, expected(t));
		seg_buf_release(&b);
		return false;
	case SEG_ATTR_STRING_LIST:
		if (!json_is_array(v))
			break;
		for (size_t i = 0; i < json_array_size(v); i++) {
			const json_t *e = json_array_get(v, i);
			if (!json_is_string(e)) {
				seg_text_setf(why, whylen,
					      "expected a list of strings, element %zu is %s", i,
					      kind_of(e));
				return false;
			}
		}
		return true;
	case SEG_ATTR__COUNT: break;
	}
	if (!ok)
		seg_text_setf(why, whylen, "expected %s, got %s", expected(t), kind_of(v));
	return ok;
}

bool seg_attr_check(const struct seg_attr_def *def, const json_t *value, char *why, size_t whylen)
{
	if (!value || json_is_null(value))
		return true;
	if (!type_ok(def->type, value, why, whylen))
		return false;
	if (!def->allowed)
		return true;
	if (def->type == SEG_ATTR_STRING_LIST) {
		for (size_t i = 0; i < json_array_size(value); i++)
			if (!is_allowed(def->allowed, json_array_get(value, i)))
				return not_allowed(json_array_get(value, i), why, whylen);
		return true;
	}
	return is_allowed(def->allowed, value) ? true : not_allowed(value, why, whylen);
}

/* The value at a dotted path of an object, or NULL when a step is missing or not an object. */
static const json_t *lookup(const json_t *obj, const char *path)
{
	char key[65];
	while (obj && json_is_object(obj)) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		obj = json_object_get(obj, key);
		if (!dot)
			return obj;
		path = dot + 1;
	}
	return NULL;
}

size_t seg_attr_validate(const struct seg_attr_catalog *c, const json_t *attributes,
			 const char *pointer_prefix, struct seg_problem *p)
{
	size_t failures = 0;
	char why[256];

	for (size_t i = 0; i < c->count; i++) {
		const struct seg_attr_def *d = &c->defs[i];
		const json_t *v = lookup(attributes, d->name);
		if (seg_attr_check(d, v, why, sizeof(why)))
			continue;
		failures++;
		if (!p)
			continue;
		struct seg_buf ptr = SEG_BUF_INIT;
		char *path = seg_strdup(d->name), *save = NULL;
		seg_buf_addstr(&ptr, pointer_prefix ? pointer_prefix : "");
		for (char *t = strtok_r(path, ".", &save); t; t = strtok_r(NULL, ".", &save))
			seg_pointer_push(&ptr, t);
		seg_problem_add(p, SEG_WHERE_POINTER, ptr.data, 0, "%s", why);
		free(path);
		seg_buf_release(&ptr);
	}
	return failures;
}

/*
 * True when the JSON number s[0..len) (already valid) has an integral value: no non-zero
 * digit is left behind the decimal point once the exponent is applied.
 */
static bool number_is_integral(const char *s, size_t len)
{
	size_t i = 0, e = len;
	long long exp = 0, lowest = 0; /* lowest power of ten of a non-zero digit */
	bool any = false;

	for (size_t j = 0; j < len; j++)
		if (s[j] == 'e' || s[j] == 'E') {
			e = j;
			break;
		}
	if (e < len) {
		size_t j = e + 1;
		bool neg = s[j] == '-';
		if (s[j] == '+' || s[j] == '-')
			j++;
		for (; j < len; j++) {
			if (exp < 100000000)
				exp = exp * 10 + (s[j] - '0');
		}
		if (neg)
			exp = -exp;
	}
	if (s[i] == '-')
		i++;
	size_t dot = i;
	while (dot < e && s[dot] != '.')
		dot++;
	for (size_t j = i; j < e; j++) {
		if (s[j] == '.' || s[j] == '0')
			continue;
		long long pow10 = j < dot ? (long long)(dot - j - 1) : -(long long)(j - dot);
		if (!any || pow10 < lowest)
			lowest = pow10;
		any = true;
	}
	return !any || lowest + exp >= 0;
}

/* Appends the JSON text of a cell whose type is number or integer. */
static bool cell_number(const struct seg_attr_def *def, const char *cell, size_t len,
			struct seg_buf *out, char *why, size_t whylen)
{
	struct seg_buf b = SEG_BUF_INIT;
	if (!seg_json_number_valid(cell, len)) {
		add_quoted(&b, cell, len);
		seg_text_setf(why, whylen, "expected %s, got %s", expected(def->type), b.data);
		seg_buf_release(&b);
		return false;
	}
	if (def->type == SEG_ATTR_INTEGER && !number_is_integral(cell, len)) {
		add_quoted(&b, cell, len);
		seg_text_setf(why, whylen, "expected an integer, got %s", b.data);
		seg_buf_release(&b);
		return false;
	}
	seg_buf_add(&b, cell, len);
	errno = 0;
	double d = strtod(b.data, NULL);
	seg_buf_release(&b);
	if (isinf(d)) {
		seg_text_setf(why, whylen, "number out of range");
		return false;
	}
	seg_buf_add(out, cell, len);
	return true;
}

bool seg_attr_cell_to_json(const struct seg_attr_def *def, const char *cell, size_t len,
			   struct seg_buf *out, char *why, size_t whylen)
{
	size_t start = out->len;
	json_t *v = NULL;
	bool ok = false;
	struct seg_buf q = SEG_BUF_INIT;

	if (!seg_utf8_valid(cell, len) || memchr(cell, '\0', len)) {
		seg_text_setf(why, whylen, "value is not valid UTF-8 text");
		return false;
	}
	switch (def ? def->type : SEG_ATTR_STRING) {
	case SEG_ATTR_NUMBER:
	case SEG_ATTR_INTEGER:
		if (!cell_number(def, cell, len, out, why, whylen))
			goto out;
		break;
	case SEG_ATTR_BOOLEAN:
		if ((len == 4 && memcmp(cell, "true", 4) == 0) ||
		    (len == 5 && memcmp(cell, "false", 5) == 0)) {
			seg_buf_add(out, cell, len);
			break;
		}
		add_quoted(&q, cell, len);
		seg_text_setf(why, whylen, "expected true or false, got %s", q.data);
		goto out;
	case SEG_ATTR_STRING_LIST: {
		size_t i = 0;
		seg_buf_addch(out, '[');
		while (len) {
			size_t j = i;
			while (j < len && cell[j] != ';')
				j++;
			if (i)
				seg_buf_addch(out, ',');
			seg_buf_add_json_string(out, cell + i, j - i);
			if (j == len)
				break;
			i = j + 1;
		}
		seg_buf_addch(out, ']');
		break;
	}
	case SEG_ATTR_DATE:
	case SEG_ATTR_TIMESTAMP:
	case SEG_ATTR_STRING:
	default: seg_buf_add_json_string(out, cell, len); break;
	}
	if (!def) {
		ok = true;
		goto out;
	}
	/* The same check as for a JSON body: date and timestamp syntax, allowed values. */
	v = json_loadb(out->data + start, out->len - start,
		       JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
	if (!v) {
		seg_text_setf(why, whylen, "number out of range");
		goto out;
	}
	ok = seg_attr_check(def, v, why, whylen);
out:
	if (!ok)
		seg_buf_truncate(out, start);
	json_decref(v);
	seg_buf_release(&q);
	return ok;
}

/*
 * The attribute catalogue as the validator sees it: typed definitions and the checks of
 * values against them (SPEC §1 "attribute definition"). Pure: the caller loads definitions.
 * A definition applies to the value at its dotted path ("address.city" is
 * attributes.address.city). Null or absent values always pass (null means absent).
 * Thread-safe for concurrent readers.
 */
#ifndef SEG_ATTRS_H
#define SEG_ATTRS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "problem.h"

#define SEG_ATTR_TYPE_MAP(XX)      \
	XX(NUMBER, "number")       \
	XX(INTEGER, "integer")     \
	XX(STRING, "string")       \
	XX(BOOLEAN, "boolean")     \
	XX(DATE, "date")           \
	XX(TIMESTAMP, "timestamp") \
	XX(STRING_LIST, "string_list")

enum seg_attr_type {
#define XX(name, text) SEG_ATTR_##name,
	SEG_ATTR_TYPE_MAP(XX)
#undef XX
		SEG_ATTR__COUNT
};

struct seg_attr_def {
	char *name; /* dotted path */
	enum seg_attr_type type;
	json_t *allowed; /* NULL or a JSON array of allowed values (owned) */
};

struct seg_attr_catalog {
	struct seg_attr_def *defs;
	size_t count;
};

/* Parses a type name; false when unknown. */
bool seg_attr_type_parse(const char *text, enum seg_attr_type *out);
const char *seg_attr_type_name(enum seg_attr_type t);

void seg_attr_catalog_init(struct seg_attr_catalog *c);
void seg_attr_catalog_release(struct seg_attr_catalog *c);
/* Adds a definition; name is copied, allowed is borrowed (a reference is taken). */
void seg_attr_catalog_add(struct seg_attr_catalog *c, const char *name, enum seg_attr_type type,
			  json_t *allowed);
/* The definition named name, or NULL. */
const struct seg_attr_def *seg_attr_catalog_find(const struct seg_attr_catalog *c,
						 const char *name);

/*
 * Numbers compare by value (30 equals 30.0), everything else as json_equal. Used for enums.
 */
bool seg_json_equal(const json_t *a, const json_t *b);

/*
 * Checks one value against a definition: number → any JSON number; integer → a JSON integer
 * or a real with no fractional part; string; boolean; date → "YYYY-MM-DD" that exists;
 * timestamp → RFC 3339; string_list → array of strings. With allowed values, a scalar must
 * equal one of them and each element of a string_list must. Null passes. On failure writes a
 * lowercase message such as `expected an integer, got a string` or `"XL" is not one of the
 * allowed values` into why and returns false.
 */
bool seg_attr_check(const struct seg_attr_def *def, const json_t *value, char *why, size_t whylen);

/*
 * Checks every definition of c against an attributes object (the value at each dotted path,
 * when present). Each failure is added to p with the pointer prefix + "/" + the path
 * segments (prefix "/attributes" gives "/attributes/address/city"). Returns the number of
 * failures.
 */
size_t seg_attr_validate(const struct seg_attr_catalog *c, const json_t *attributes,
			 const char *pointer_prefix, struct seg_problem *p);

/*
 * Converts a CSV cell to JSON text appended to out, typed by def (NULL: a string):
 * number/integer → the cell must be a JSON number (integer: no fraction/exponent that leaves
 * a fraction), emitted as written; boolean → "true"/"false"; string_list → elements split on
 * ";" (each emitted as a string); date/timestamp/string → a string (date and timestamp must
 * parse). Allowed values are checked. On failure writes why and returns false.
 */
bool seg_attr_cell_to_json(const struct seg_attr_def *def, const char *cell, size_t len,
			   struct seg_buf *out, char *why, size_t whylen);

#endif

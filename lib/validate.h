/*
 * Checks of request documents shared by the single-object endpoints and the imports, so that
 * a customer or an event is judged the same way however it arrives. Each adds one problem
 * item per fault (JSON Pointers under prefix) and returns the number of faults.
 * p may be NULL to only count. Any thread; nothing here does I/O.
 */
#ifndef SEG_VALIDATE_H
#define SEG_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>

#include "attrs.h"
#include "problem.h"
#include "timefmt.h"

/* Nesting allowed inside attributes and event properties. */
#define SEG_MAX_DEPTH 32

/*
 * Checks that v is a JSON object whose keys are all in allowed (NULL-terminated): one item
 * "expected a JSON object" at prefix, or one "unknown field" item per stranger key.
 */
size_t seg_json_object_check(const json_t *v, const char *const *allowed, const char *prefix,
			     struct seg_problem *p);

enum seg_doc_mode {
	SEG_DOC_PUT,	/* {"kind"?, "attributes"?}; attributes null means {} */
	SEG_DOC_PATCH,	/* a merge patch: kind may not be null; attributes null clears */
	SEG_DOC_IMPORT, /* {"id", "kind"?, "attributes"?} */
};

struct seg_customer_doc {
	const char *id;	  /* borrowed from the document (IMPORT) */
	const char *kind; /* NULL: not given */
	bool flat;	  /* attributes hold no objects and no nulls */
	bool has_null;	  /* a null member somewhere in the attributes' objects */
};

size_t seg_customer_doc_check(const json_t *doc, enum seg_doc_mode mode,
			      const struct seg_attr_catalog *catalog, const char *prefix,
			      struct seg_problem *p, struct seg_customer_doc *out);

struct seg_event_doc {
	const char *id; /* NULL: none */
	const char *customer_id;
	const char *type;
	char occurred_at[SEG_RFC3339_MAX]; /* normalised to UTC */
};

size_t seg_event_check(const json_t *ev, const char *prefix, struct seg_problem *p,
		       struct seg_event_doc *out);

/*
 * Parses one JSON value (duplicate keys refused). An integer too large for jansson's 64 bits is
 * valid JSON: it is then read as a real (its text still reaches PostgreSQL exactly). Only a
 * number beyond a double's range fails with json_error_numeric_overflow.
 */
json_t *seg_json_load(const char *text, size_t len, json_error_t *error);

/* True when s is a valid customer id (1..128 bytes of printable UTF-8). */
bool seg_customer_id_valid(const char *s);

/*
 * Renders the first item of p as one line for an import error: "/attributes/age: expected an
 * integer, got a string" (appended to out).
 */
void seg_problem_first_line(const struct seg_problem *p, struct seg_buf *out);

#endif

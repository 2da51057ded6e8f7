/*
 * The rule compiler: a validated rule tree (rules/rule.h) → one parameterised boolean SQL
 * predicate over a row of customers, with the semantics of SPEC §3. The scheme (the SQL shape
 * of each leaf, why no leaf is ever NULL, event subqueries, the inlining of segment
 * references) is explained in db/README.md "Rule compilation". db-internal: only db/ includes
 * this.
 *
 * No value of a rule is ever spliced into the SQL text: every value (and every attribute
 * path, event type and property name) becomes a $n parameter, appended to a parameter list
 * whose numbering the caller may start anywhere (it may reserve $1 for the tenant, ...).
 *
 * Pure (no I/O): the caller resolves segment references through a callback. Thread-safe: a
 * compilation touches only its arguments.
 */
#ifndef SEG_DB_RULESQL_H
#define SEG_DB_RULESQL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "rule.h"

/* The text parameters of a statement: $1 is v[0]. */
struct seg__sqlparams {
	char **v; /* malloc'ed strings */
	size_t n, cap;
};
void seg__sqlparams_init(struct seg__sqlparams *p);
void seg__sqlparams_release(struct seg__sqlparams *p);
/* Appends a copy of text[0..len) and returns its parameter number (n after the append). */
size_t seg__sqlparams_add(struct seg__sqlparams *p, const char *text, size_t len);
/* Appends a copy of the NUL-terminated text; returns its parameter number. */
size_t seg__sqlparams_addstr(struct seg__sqlparams *p, const char *text);

/*
 * How a rule's references to other segments are resolved. resolve sets *rule to the parsed
 * rule of a dynamic segment (borrowed; it stays valid during the compilation), or to NULL for
 * a static one, and returns SEG_OK; SEG_ERR_NOT_FOUND when the tenant has no such segment
 * (the reference is then false, as a leaf without a subject); any other error ends the
 * compilation. Cycles must have been refused before (seg_rule_cycle); a chain of inlined
 * references deeper than SEG_RULE_MAX_DEPTH is refused with SEG_ERR_INVALID all the same.
 */
struct seg__rulesql_refs {
	enum seg_err (*resolve)(void *ctx, int64_t id, const struct seg_rule **rule);
	void *ctx;
};

/*
 * Appends to sql one parenthesised boolean expression that is true exactly when the customer
 * row `alias` (e.g. "c", a row of customers) satisfies node, and never NULL; its values are
 * appended to params. refs may be NULL when the rule refers to no segment (a reference is
 * then false). The expression may call the functions of migrations 0002 and 0003 and uses the
 * aliases e (events) and m (memberships) inside its own subqueries. SEG_ERR_INVALID when the
 * tree is malformed (a node of an unknown kind, a reference chain too deep).
 */
enum seg_err seg__rulesql_compile(const struct seg_rule_node *node, const char *alias,
				  const struct seg__rulesql_refs *refs, struct seg_buf *sql,
				  struct seg__sqlparams *params);

#endif

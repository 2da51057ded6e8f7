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

#include <stdbool.h>
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
/* Drops the parameters after the first n (those of a fragment that is not used after all). */
void seg__sqlparams_truncate(struct seg__sqlparams *p, size_t n);
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

/*
 * The hoisted form of event conditions, for a statement that evaluates many rules for few
 * customers (the membership step): instead of one correlated subquery per event condition,
 * every event condition compiled with seg__rulesql_compile_hoisted becomes a column of one
 * lateral aggregate over the customer's events (one index range scan per customer), appended
 * to the FROM clause by seg__rulesql_hoist_lateral, and the predicate compares that column
 * exactly as it would compare the subquery (same types; count and sum over nothing are 0, avg,
 * min and max over nothing NULL, so their leaf is false). One collector per FROM clause: every
 * predicate compiled with it must be evaluated in the scope of that lateral.
 */
struct seg__rulesql_hoist {
	const char *alias;    /* the lateral's alias (e.g. "ea"); its columns are a1, a2, ... */
	struct seg_buf cols;  /* "agg AS a1, agg AS a2, ..." */
	struct seg_buf types; /* text[] literal of the event types read */
	size_t n;	      /* columns */
	int64_t max_days;     /* the largest window; meaningful only when !unbounded */
	bool unbounded;	      /* a condition without a window */
	/*
	 * keys[i]: what column a(i + 1) computes (its SQL with the parameters numbered from its
	 * own first, and their values), so that conditions alike share one column
	 */
	char **keys;
};
void seg__rulesql_hoist_init(struct seg__rulesql_hoist *h, const char *alias);
void seg__rulesql_hoist_release(struct seg__rulesql_hoist *h);

/*
 * seg__rulesql_compile, with each event condition's aggregate added to h as a column and the
 * predicate reading `h->alias.aN`. The aggregates' values are appended to params like the
 * predicate's (the numbering is one list, whatever the order of the texts in the statement).
 */
enum seg_err seg__rulesql_compile_hoisted(const struct seg_rule_node *node, const char *alias,
					  const struct seg__rulesql_refs *refs,
					  struct seg__rulesql_hoist *h, struct seg_buf *sql,
					  struct seg__sqlparams *params);

/*
 * Appends to sql, when h holds at least one column, " LEFT JOIN LATERAL (SELECT <columns> FROM
 * events e WHERE e.tenant_id = alias.tenant_id AND e.customer_id = alias.id AND e.type =
 * ANY($t::text[]) [AND the largest window] OFFSET 0) <h->alias> ON true" (its values appended
 * to params); nothing when h is empty. To be placed in the FROM clause after the customers
 * row `alias` and before the predicates that read it.
 */
void seg__rulesql_hoist_lateral(const struct seg__rulesql_hoist *h, const char *alias,
				struct seg_buf *sql, struct seg__sqlparams *params);

#endif

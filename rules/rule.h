/*
 * The rule language of dynamic segments (SPEC §3): JSON text → validated syntax tree. Pure: no
 * I/O, no libpq, no libmicrohttpd; the caller supplies what the rule may refer to (the
 * attribute catalogue, and whether a segment exists). db/rulesql.c compiles a tree to one
 * parameterised SQL predicate; rules/README.md explains the semantics and that scheme.
 *
 * Values keep the exact text the client wrote (numbers are never rounded through a double), and
 * every node knows its JSON Pointer, so a 422 points at the offending node.
 *
 * Thread-safe: a tree is immutable once parsed, and may be read by several threads.
 */
#ifndef SEG_RULE_H
#define SEG_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attrs.h"
#include "problem.h"

/* Limits of SPEC §3. */
#define SEG_RULE_MAX_DEPTH  32	 /* nesting of all/any/not; a leaf at the top is depth 1 */
#define SEG_RULE_MAX_LEAVES 1000 /* leaves, where filters included */
/*
 * The longest time span a rule may name: within_days, and the offsets and durations of
 * before/after and within_last/older_than (1000 years, so that now minus it stays a timestamp
 * PostgreSQL can hold).
 */
#define SEG_RULE_MAX_DAYS 365250

enum seg_rule_kind {
	SEG_RULE_ALL,	  /* children: AND; none: true */
	SEG_RULE_ANY,	  /* children: OR; none: false */
	SEG_RULE_NOT,	  /* one child */
	SEG_RULE_ATTR,	  /* customer attribute at a dotted path */
	SEG_RULE_FIELD,	  /* built-in field */
	SEG_RULE_METRIC,  /* computed metric (SPEC §4) */
	SEG_RULE_EVENT,	  /* aggregate over the customer's events */
	SEG_RULE_SEGMENT, /* membership of another segment */
	SEG_RULE_PROP,	  /* a `where` filter of an event node: a property of the event */
};

#define SEG_RULE_OP_MAP(XX)            \
	XX(EQ, "eq")                   \
	XX(NE, "ne")                   \
	XX(LT, "lt")                   \
	XX(LTE, "lte")                 \
	XX(GT, "gt")                   \
	XX(GTE, "gte")                 \
	XX(BETWEEN, "between")         \
	XX(IN, "in")                   \
	XX(NOT_IN, "not_in")           \
	XX(CONTAINS, "contains")       \
	XX(STARTS_WITH, "starts_with") \
	XX(EXISTS, "exists")           \
	XX(NOT_EXISTS, "not_exists")   \
	XX(BEFORE, "before")           \
	XX(AFTER, "after")             \
	XX(WITHIN_LAST, "within_last") \
	XX(OLDER_THAN, "older_than")

enum seg_rule_op {
#define XX(name, text) SEG_RULE_OP_##name,
	SEG_RULE_OP_MAP(XX)
#undef XX
		SEG_RULE_OP__COUNT
};
const char *seg_rule_op_name(enum seg_rule_op op);

/* The kind of one comparison value. */
enum seg_rule_vtype {
	SEG_RULE_V_NUMBER,  /* text: the JSON number exactly as written */
	SEG_RULE_V_STRING,  /* text: the string, UTF-8, unescaped */
	SEG_RULE_V_BOOLEAN, /* text: "true" or "false" */
	/*
	 * An instant: a value of before/after, or a value compared with a subject that is a
	 * timestamp by its type (a timestamp field or metric, an attribute registered as date or
	 * timestamp). text is the instant in UTC as seg_rfc3339_format writes it, whatever the
	 * client wrote: "2026-01-01" (a date is its midnight UTC) gives "2026-01-01T00:00:00Z",
	 * "2026-01-01T01:00:00+01:00" gives "2026-01-01T00:00:00Z". Never zone-dependent.
	 */
	SEG_RULE_V_INSTANT,
	SEG_RULE_V_OFFSET,   /* before/after "-30d": seconds from now (negative: past) */
	SEG_RULE_V_DURATION, /* within_last/older_than "2w": seconds, > 0 */
};

struct seg_rule_value {
	enum seg_rule_vtype type;
	char *text;	 /* NUMBER, STRING, BOOLEAN, INSTANT (owned); NULL otherwise */
	size_t len;	 /* bytes of text (a string may hold NUL escapes: "\u0000") */
	int64_t seconds; /* OFFSET, DURATION */
};

/* Built-in fields and metrics, with the type of their subject. */
enum seg_rule_subject_type {
	SEG_RULE_S_STRING,
	SEG_RULE_S_NUMBER,
	SEG_RULE_S_TIMESTAMP,
};

#define SEG_RULE_AGG_MAP(XX) \
	XX(COUNT, "count")   \
	XX(SUM, "sum")       \
	XX(AVG, "avg")       \
	XX(MIN, "min")       \
	XX(MAX, "max")

enum seg_rule_agg {
#define XX(name, text) SEG_RULE_AGG_##name,
	SEG_RULE_AGG_MAP(XX)
#undef XX
		SEG_RULE_AGG__COUNT
};
const char *seg_rule_agg_name(enum seg_rule_agg agg);

struct seg_rule_node {
	enum seg_rule_kind kind;
	char *pointer; /* JSON Pointer of this node within the rule ("" for the root) */

	/* ALL, ANY, NOT: children (NOT has exactly one) */
	struct seg_rule_node **children;
	size_t nchildren;

	/*
	 * ATTR: name is the dotted path, split into path[0..npath); attr_type is its registered
	 * type, or SEG_ATTR__COUNT when it is not registered.
	 * FIELD, METRIC: name, and subject its type.
	 * EVENT: name is the event type; agg; prop the property aggregated (sum/avg/min/max;
	 * "amount" by default, NULL for count); within_days 0 for no window; where: PROP
	 * children in children[0..nchildren). Its op and values compare the aggregate (numbers
	 * only); a rule that gives neither (with agg count) gets op gte and the value 1: "at
	 * least one such event".
	 * PROP: name is the property ("amount" is the event's amount; subject is then
	 * SEG_RULE_S_NUMBER).
	 * SEGMENT: segment is the referenced segment's id.
	 */
	char *name;
	char **path;
	size_t npath;
	enum seg_attr_type attr_type;
	enum seg_rule_subject_type subject;
	enum seg_rule_agg agg;
	char *prop;
	int64_t within_days;
	int64_t segment;

	/*
	 * Leaves other than SEGMENT: op and its values. No value for exists/not_exists; two for
	 * between (lo, hi); one or more for in/not_in (all of one vtype); one otherwise.
	 */
	enum seg_rule_op op;
	struct seg_rule_value *values;
	size_t nvalues;

	/*
	 * Stored mode only (seg_rule_env.stored): the leaf conflicts with the attribute
	 * catalogue (the attribute was registered with another type after the rule was saved).
	 * Such a leaf is false for every customer (so its `not` is true); values are kept as
	 * written (a string compared with a timestamp attribute stays SEG_RULE_V_STRING).
	 */
	bool conflict;
};

/* What a rule may depend on, for deciding which segments a change can affect. */
enum {
	SEG_RULE_DEP_ATTRS = 1u << 0,	 /* attributes, kind, id */
	SEG_RULE_DEP_METRICS = 1u << 1,	 /* metrics (they change with events) */
	SEG_RULE_DEP_EVENTS = 1u << 2,	 /* event conditions */
	SEG_RULE_DEP_SEGMENTS = 1u << 3, /* other segments */
	SEG_RULE_DEP_CLOCK = 1u << 4,	 /* the current time: needs scheduled refreshes */
	/*
	 * analysis metrics (rfm_*, abc_class, frequency_class, clv, p_alive, predicted_orders,
	 * factor_n): changed only by an analysis run, which refreshes such segments in full; no
	 * write of a customer or an event changes them (SEG_RULE_DEP_METRICS is not set for them)
	 */
	SEG_RULE_DEP_SCORES = 1u << 5,
};

/* The largest n of a metric factor_<n> (SPEC §4: factor scores of a factor analysis). */
#define SEG_RULE_MAX_FACTOR 100

/*
 * Whether name is an analysis metric (a column of customer_scores); for factor_<n>, *factor
 * (when not NULL) receives n, else 0.
 */
bool seg_rule_metric_score(const char *name, int *factor);

struct seg_rule {
	struct seg_rule_node *root;
	size_t leaves;
	unsigned deps;	   /* SEG_RULE_DEP_* of this rule alone (not of the segments it uses) */
	int64_t *segments; /* the segment ids it refers to, distinct, ascending */
	size_t nsegments;
};

/* What the parser checks a rule against. */
struct seg_rule_env {
	/* Registered attributes: a rule that compares one with a value of another type is
	 * refused. NULL: no catalogue (every attribute unregistered). */
	const struct seg_attr_catalog *catalog;
	/*
	 * Whether a segment exists for the tenant; NULL: every id is accepted. A rule that refers
	 * to an unknown one is refused with a pointer to the reference.
	 */
	bool (*segment_exists)(void *ctx, int64_t id);
	void *ctx;
	/*
	 * Lenient: a stored rule, parsed again to compile it. Type conflicts with the catalogue
	 * (an attribute registered after the rule was saved) are not errors: such a leaf is
	 * simply false at run time, as SPEC §3 says for a value of the wrong type (the node's
	 * `conflict` says so). Neither is a reference to a segment that no longer exists (deleted
	 * with ?force=true): nobody is a member of it. Everything else is checked as strictly.
	 */
	bool stored;
};

/*
 * Parses and validates the rule text[0..len) (a JSON value; jansson has already checked it is
 * JSON, or the caller accepts a 422 for that too). On success returns a new tree (free with
 * seg_rule_free). On failure returns NULL and adds every error found (up to the problem's own
 * limit) to p, each with pointer_prefix + the node's pointer ("/rule" + "/all/1/op") and a
 * lowercase detail such as `unknown operator "gte_"`.
 */
struct seg_rule *seg_rule_parse(const char *text, size_t len, const struct seg_rule_env *env,
				const char *pointer_prefix, struct seg_problem *p);
void seg_rule_free(struct seg_rule *rule);

/*
 * Segment references as a graph, for cycle detection: the caller lists every dynamic segment
 * of the tenant with the ids its rule refers to.
 */
struct seg_rule_graph_entry {
	int64_t id;
	const int64_t *refs;
	size_t nrefs;
};
/*
 * Would saving `rule` as segment self (0: a new segment) close a cycle through the segments
 * of graph[0..n)? Returns the id of the reference in rule that leads back to self (the first
 * in ascending order), or 0 when there is no cycle.
 */
int64_t seg_rule_cycle(const struct seg_rule *rule, int64_t self,
		       const struct seg_rule_graph_entry *graph, size_t n);
/* The first node of rule that refers to segment id (for the error's pointer), or NULL. */
const struct seg_rule_node *seg_rule_find_segment(const struct seg_rule *rule, int64_t id);

#endif

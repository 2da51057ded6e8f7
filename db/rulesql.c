/*
 * The rule compiler: a rule tree → one boolean SQL predicate over a customers row, values as
 * parameters (see rulesql.h, and db/README.md "Rule compilation" for the scheme).
 *
 * Every leaf compiles to an expression that is never NULL: comparisons are wrapped in
 * coalesce(..., false), so a missing, null or mistyped subject makes the leaf false, and NOT
 * of it true (SPEC §3, two-valued logic). A subject is seen through typed views: seg_num,
 * seg_str, seg_bool and seg_instant (migration 0003) give the JSON value as a number, a
 * string, a boolean or an instant, or NULL when it is not one, so comparisons are typed.
 */
#include "rulesql.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

void seg__sqlparams_init(struct seg__sqlparams *p)
{
	p->v = NULL;
	p->n = p->cap = 0;
}

void seg__sqlparams_release(struct seg__sqlparams *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	seg__sqlparams_init(p);
}

size_t seg__sqlparams_add(struct seg__sqlparams *p, const char *text, size_t len)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->v = seg_realloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n++] = seg_strndup(text, len);
	return p->n;
}

void seg__sqlparams_truncate(struct seg__sqlparams *p, size_t n)
{
	while (p->n > n)
		free(p->v[--p->n]);
}

size_t seg__sqlparams_addstr(struct seg__sqlparams *p, const char *text)
{
	return seg__sqlparams_add(p, text, strlen(text));
}

/* One compilation. */
struct seg__cc {
	const char *alias;
	const struct seg__rulesql_refs *refs;
	struct seg_buf *sql;
	struct seg__sqlparams *params;
	int depth;			  /* segment references inlined around the current node */
	struct seg__rulesql_hoist *hoist; /* NULL: event conditions are correlated subqueries */
};

/*
 * How a subject is typed: a JSON value (an attribute, an event property), a JSON value that
 * is a timestamp by its type (an attribute registered as date or timestamp), or a typed
 * column (numeric, text, timestamptz).
 */
enum seg__stype { SEG__S_JSON, SEG__S_JSONTS, SEG__S_NUM, SEG__S_STR, SEG__S_TS };

struct seg__subj {
	enum seg__stype type;
	const char *expr; /* jsonb, numeric, text or timestamptz; NULL when there is no value */
	bool notnull;	  /* expr is never NULL */
};

static void seg__add(struct seg__cc *cc, const char *s)
{
	seg_buf_addstr(cc->sql, s);
}

/* Appends "$n::cast" for a new parameter holding text[0..len). */
static void seg__param(struct seg__cc *cc, const char *text, size_t len, const char *cast)
{
	size_t n = seg__sqlparams_add(cc->params, text, len);
	seg_buf_addf(cc->sql, "$%zu::%s", n, cast);
}

static void seg__param_str(struct seg__cc *cc, const char *text, const char *cast)
{
	seg__param(cc, text, strlen(text), cast);
}

/* Appends an element of a PostgreSQL array literal: quoted, with " and \ escaped. */
static void seg__array_elem(struct seg_buf *b, const char *s, size_t len)
{
	if (b->len > 1)
		seg_buf_addch(b, ',');
	seg_buf_addch(b, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			seg_buf_addch(b, '\\');
		seg_buf_addch(b, s[i]);
	}
	seg_buf_addch(b, '"');
}

/* Whether the subject can be seen as a number, a string, an instant, a boolean. */
static bool seg__json(const struct seg__subj *s)
{
	return s->type == SEG__S_JSON || s->type == SEG__S_JSONTS;
}
static bool seg__can_num(const struct seg__subj *s)
{
	return s->type == SEG__S_JSON || s->type == SEG__S_NUM;
}
static bool seg__can_str(const struct seg__subj *s)
{
	return s->type == SEG__S_JSON || s->type == SEG__S_STR;
}
static bool seg__can_ts(const struct seg__subj *s)
{
	return s->type != SEG__S_NUM;
}

/* Appends the typed views of a subject (each NULL when the value is not of that type). */
static void seg__as_num(struct seg__cc *cc, const struct seg__subj *s)
{
	seg_buf_addf(cc->sql, seg__json(s) ? "seg_num(%s)" : "%s", s->expr);
}
static void seg__as_str(struct seg__cc *cc, const struct seg__subj *s)
{
	seg_buf_addf(cc->sql, seg__json(s) ? "seg_str(%s)" : "%s", s->expr);
}
static void seg__as_ts(struct seg__cc *cc, const struct seg__subj *s)
{
	if (seg__json(s))
		seg_buf_addf(cc->sql, "seg_instant(seg_str(%s))", s->expr);
	else if (s->type == SEG__S_STR)
		seg_buf_addf(cc->sql, "seg_instant(%s)", s->expr);
	else
		seg__add(cc, s->expr);
}

static const char *seg__cmp_sql(enum seg_rule_op op)
{
	switch (op) {
	case SEG_RULE_OP_EQ: return "=";
	case SEG_RULE_OP_NE: return "<>";
	case SEG_RULE_OP_LT: return "<";
	case SEG_RULE_OP_LTE: return "<=";
	case SEG_RULE_OP_GT: return ">";
	default: return ">=";
	}
}

/*
 * A string value holding a NUL byte can equal no stored string (PostgreSQL text holds none).
 * Ordered against it, a string s compares as against its prefix p before the NUL: s < v and
 * s <= v when s <= p; s > v and s >= v when s > p.
 */
static void seg__cmp_str_nul(struct seg__cc *cc, const struct seg__subj *s, enum seg_rule_op op,
			     const struct seg_rule_value *v)
{
	if (op == SEG_RULE_OP_EQ) {
		seg__add(cc, "false");
		return;
	}
	seg__add(cc, "(");
	seg__as_str(cc, s);
	if (op == SEG_RULE_OP_NE) {
		seg__add(cc, " IS NOT NULL)");
		return;
	}
	seg__add(cc, " COLLATE \"C\"");
	seg__add(cc, op == SEG_RULE_OP_LT || op == SEG_RULE_OP_LTE ? " <= " : " > ");
	seg__param(cc, v->text, strlen(v->text), "text");
	seg__add(cc, ") IS TRUE");
}

/* subject op value, for op one of eq, ne, lt, lte, gt, gte; never NULL. */
static void seg__cmp(struct seg__cc *cc, const struct seg__subj *s, enum seg_rule_op op,
		     const struct seg_rule_value *v)
{
	const char *o = seg__cmp_sql(op);
	bool order = op != SEG_RULE_OP_EQ && op != SEG_RULE_OP_NE;

	switch (v->type) {
	case SEG_RULE_V_NUMBER:
		if (!seg__can_num(s))
			break;
		seg__add(cc, "coalesce(");
		seg__as_num(cc, s);
		seg_buf_addf(cc->sql, " %s ", o);
		seg__param(cc, v->text, v->len, "numeric");
		seg__add(cc, ", false)");
		return;
	case SEG_RULE_V_STRING:
		if (!seg__can_str(s))
			break;
		if (memchr(v->text, '\0', v->len)) {
			seg__cmp_str_nul(cc, s, op, v);
			return;
		}
		/* strings in byte order, never as instants (rules/README.md) */
		seg__add(cc, "coalesce(");
		seg__as_str(cc, s);
		seg_buf_addf(cc->sql, "%s %s ", order ? " COLLATE \"C\"" : "", o);
		seg__param(cc, v->text, v->len, "text");
		seg__add(cc, ", false)");
		return;
	case SEG_RULE_V_BOOLEAN:
		if (s->type != SEG__S_JSON || order)
			break;
		seg_buf_addf(cc->sql, "coalesce(seg_bool(%s) %s ", s->expr, o);
		seg__param(cc, v->text, v->len, "boolean");
		seg__add(cc, ", false)");
		return;
	case SEG_RULE_V_INSTANT:
		/* a subject that is a timestamp by its type, as an instant */
		if (!seg__can_ts(s))
			break;
		seg__add(cc, "coalesce(");
		seg__as_ts(cc, s);
		seg_buf_addf(cc->sql, " %s ", o);
		seg__param(cc, v->text, v->len, "timestamptz");
		seg__add(cc, ", false)");
		return;
	default: break;
	}
	seg__add(cc, "false"); /* a subject of a type the value cannot compare with */
}

/* in / not_in: the values share one type. */
static void seg__in(struct seg__cc *cc, const struct seg__subj *s, const struct seg_rule_node *n)
{
	struct seg_buf arr = SEG_BUF_INIT;
	enum seg_rule_vtype t = n->nvalues ? n->values[0].type : SEG_RULE_V_NUMBER;
	const char *cast = NULL;

	seg_buf_addch(&arr, '{');
	for (size_t i = 0; i < n->nvalues; i++) {
		const struct seg_rule_value *v = &n->values[i];
		if (v->type != t)
			goto never;
		if (t == SEG_RULE_V_STRING && memchr(v->text, '\0', v->len))
			continue; /* equals no stored string */
		seg__array_elem(&arr, v->text, v->len);
	}
	seg_buf_addch(&arr, '}');
	seg__add(cc, "coalesce(");
	if (t == SEG_RULE_V_NUMBER && seg__can_num(s)) {
		seg__as_num(cc, s);
		cast = "numeric[]";
	} else if (t == SEG_RULE_V_INSTANT && seg__can_ts(s)) {
		seg__as_ts(cc, s);
		cast = "timestamptz[]";
	} else if (t == SEG_RULE_V_STRING && seg__can_str(s)) {
		seg__as_str(cc, s);
		cast = "text[]";
	} else if (t == SEG_RULE_V_BOOLEAN && s->type == SEG__S_JSON) {
		seg_buf_addf(cc->sql, "seg_bool(%s)", s->expr);
		cast = "boolean[]";
	} else {
		seg_buf_truncate(cc->sql, cc->sql->len - strlen("coalesce("));
		goto never;
	}
	seg__add(cc, n->op == SEG_RULE_OP_IN ? " = ANY(" : " <> ALL(");
	seg__param(cc, arr.data, arr.len, cast);
	seg__add(cc, "), false)");
	seg_buf_release(&arr);
	return;
never:
	seg_buf_release(&arr);
	seg__add(cc, "false");
}

/* contains: a substring of a string subject, or an element of a list subject. */
static void seg__contains(struct seg__cc *cc, const struct seg__subj *s,
			  const struct seg_rule_value *v)
{
	bool nul = v->type == SEG_RULE_V_STRING && memchr(v->text, '\0', v->len);
	struct seg_buf arr = SEG_BUF_INIT;

	if (nul || (v->type != SEG_RULE_V_STRING && v->type != SEG_RULE_V_NUMBER &&
		    v->type != SEG_RULE_V_BOOLEAN)) {
		seg__add(cc, "false");
		return;
	}
	if (s->type == SEG__S_STR) {
		if (v->type != SEG_RULE_V_STRING) {
			seg__add(cc, "false");
			return;
		}
		seg_buf_addf(cc->sql, "coalesce(strpos(%s, ", s->expr);
		seg__param(cc, v->text, v->len, "text");
		seg__add(cc, ") > 0, false)");
		return;
	}
	if (s->type != SEG__S_JSON) {
		seg__add(cc, "false");
		return;
	}
	/* a list has the element: jsonb containment of [value] (numbers by value) */
	seg_buf_addch(&arr, '[');
	if (v->type == SEG_RULE_V_STRING)
		seg_buf_add_json_string(&arr, v->text, v->len);
	else
		seg_buf_add(&arr, v->text, v->len);
	seg_buf_addch(&arr, ']');
	seg_buf_addf(cc->sql, "CASE jsonb_typeof(%s) ", s->expr);
	if (v->type == SEG_RULE_V_STRING) {
		seg_buf_addf(cc->sql, "WHEN 'string' THEN strpos(%s #>> '{}', ", s->expr);
		seg__param(cc, v->text, v->len, "text");
		seg__add(cc, ") > 0 ");
	}
	seg_buf_addf(cc->sql, "WHEN 'array' THEN %s @> ", s->expr);
	seg__param(cc, arr.data, arr.len, "jsonb");
	seg__add(cc, " ELSE false END");
	seg_buf_release(&arr);
}

static void seg__starts_with(struct seg__cc *cc, const struct seg__subj *s,
			     const struct seg_rule_value *v)
{
	if (v->type != SEG_RULE_V_STRING || !seg__can_str(s) || memchr(v->text, '\0', v->len)) {
		seg__add(cc, "false");
		return;
	}
	seg__add(cc, "coalesce(starts_with(");
	seg__as_str(cc, s);
	seg__add(cc, ", ");
	seg__param(cc, v->text, v->len, "text");
	seg__add(cc, "), false)");
}

/* before / after / within_last / older_than: the subject as an instant. */
static void seg__time(struct seg__cc *cc, const struct seg__subj *s, enum seg_rule_op op,
		      const struct seg_rule_value *v)
{
	char iv[48];
	bool point = op == SEG_RULE_OP_BEFORE || op == SEG_RULE_OP_AFTER;

	/* a value of the wrong kind (the parser never makes one) makes the leaf false */
	if (!seg__can_ts(s) ||
	    (point && v->type != SEG_RULE_V_OFFSET && v->type != SEG_RULE_V_INSTANT) ||
	    (!point && v->type != SEG_RULE_V_DURATION)) {
		seg__add(cc, "false");
		return;
	}
	snprintf(iv, sizeof(iv), "%lld seconds", (long long)v->seconds);
	seg__add(cc, "coalesce(");
	seg__as_ts(cc, s);
	if (point) {
		seg__add(cc, op == SEG_RULE_OP_BEFORE ? " < " : " > ");
		if (v->type == SEG_RULE_V_OFFSET) {
			seg__add(cc, "now() + ");
			seg__param_str(cc, iv, "interval");
		} else {
			seg__param(cc, v->text, v->len, "timestamptz");
		}
	} else if (op == SEG_RULE_OP_OLDER_THAN) {
		seg__add(cc, " <= now() - ");
		seg__param_str(cc, iv, "interval");
	} else {
		/* within the last d: now() - d < t <= now() */
		seg__add(cc, " > now() - ");
		seg__param_str(cc, iv, "interval");
		seg__add(cc, " AND ");
		seg__as_ts(cc, s);
		seg__add(cc, " <= now()");
	}
	seg__add(cc, ", false)");
}

/* One leaf's comparison of its subject with its op and values. */
static void seg__leaf(struct seg__cc *cc, const struct seg__subj *s, const struct seg_rule_node *n)
{
	const struct seg_rule_value *v = n->nvalues ? &n->values[0] : NULL;

	if (n->conflict) {
		/* a stored leaf the catalogue now contradicts: false for everyone */
		seg__add(cc, "false");
		return;
	}
	switch (n->op) {
	case SEG_RULE_OP_EXISTS:
	case SEG_RULE_OP_NOT_EXISTS: {
		bool ex = n->op == SEG_RULE_OP_EXISTS;
		if (s->type == SEG__S_JSON)
			seg_buf_addf(cc->sql,
				     ex ? "coalesce(jsonb_typeof(%s) <> 'null', false)"
					: "coalesce(jsonb_typeof(%s) = 'null', true)",
				     s->expr);
		else if (s->notnull)
			seg__add(cc, ex ? "true" : "false");
		else
			seg_buf_addf(cc->sql, ex ? "(%s IS NOT NULL)" : "(%s IS NULL)", s->expr);
		return;
	}
	case SEG_RULE_OP_IN:
	case SEG_RULE_OP_NOT_IN: seg__in(cc, s, n); return;
	default: break;
	}
	if (!v) {
		seg__add(cc, "false");
		return;
	}
	switch (n->op) {
	case SEG_RULE_OP_EQ:
	case SEG_RULE_OP_NE:
	case SEG_RULE_OP_LT:
	case SEG_RULE_OP_LTE:
	case SEG_RULE_OP_GT:
	case SEG_RULE_OP_GTE: seg__cmp(cc, s, n->op, v); return;
	case SEG_RULE_OP_BETWEEN:
		if (n->nvalues != 2) {
			seg__add(cc, "false");
			return;
		}
		seg__add(cc, "(");
		seg__cmp(cc, s, SEG_RULE_OP_GTE, &n->values[0]);
		seg__add(cc, " AND ");
		seg__cmp(cc, s, SEG_RULE_OP_LTE, &n->values[1]);
		seg__add(cc, ")");
		return;
	case SEG_RULE_OP_CONTAINS: seg__contains(cc, s, v); return;
	case SEG_RULE_OP_STARTS_WITH: seg__starts_with(cc, s, v); return;
	case SEG_RULE_OP_BEFORE:
	case SEG_RULE_OP_AFTER:
	case SEG_RULE_OP_WITHIN_LAST:
	case SEG_RULE_OP_OLDER_THAN: seg__time(cc, s, n->op, v); return;
	default: seg__add(cc, "false"); return;
	}
}

/* Appends a text[] literal of the path's keys, for #>. */
static void seg__path_literal(struct seg_buf *b, char *const *path, size_t npath)
{
	seg_buf_addch(b, '{');
	for (size_t i = 0; i < npath; i++)
		seg__array_elem(b, path[i], strlen(path[i]));
	seg_buf_addch(b, '}');
}

/* The subject of an attribute leaf: the JSON value at its path. */
static void seg__attr_subject(struct seg__cc *cc, const struct seg_rule_node *n,
			      struct seg_buf *expr)
{
	size_t k;
	if (n->npath <= 1) {
		const char *key = n->npath ? n->path[0] : n->name;
		k = seg__sqlparams_addstr(cc->params, key);
		seg_buf_addf(expr, "(%s.attributes -> $%zu::text)", cc->alias, k);
	} else {
		struct seg_buf lit = SEG_BUF_INIT;
		seg__path_literal(&lit, n->path, n->npath);
		k = seg__sqlparams_add(cc->params, lit.data, lit.len);
		seg_buf_release(&lit);
		seg_buf_addf(expr, "(%s.attributes #> $%zu::text[])", cc->alias, k);
	}
}

/* Built-in fields and metrics: their SQL over the customer row, typed. */
static void seg__column_subject(struct seg__cc *cc, const struct seg_rule_node *n,
				struct seg_buf *expr, struct seg__subj *s)
{
	static const struct {
		enum seg_rule_kind kind;
		const char *name;
		enum seg__stype type;
		bool notnull;
		const char *sql; /* '@' stands for the alias */
	} cols[] = {
		{SEG_RULE_FIELD, "id", SEG__S_STR, true, "@.id"},
		{SEG_RULE_FIELD, "kind", SEG__S_STR, true, "@.kind"},
		{SEG_RULE_FIELD, "created_at", SEG__S_TS, true, "@.created_at"},
		{SEG_RULE_FIELD, "updated_at", SEG__S_TS, true, "@.updated_at"},
		{SEG_RULE_METRIC, "orders", SEG__S_NUM, true, "@.orders"},
		{SEG_RULE_METRIC, "revenue", SEG__S_NUM, true, "@.revenue"},
		{SEG_RULE_METRIC, "events", SEG__S_NUM, true, "@.events"},
		{SEG_RULE_METRIC, "avg_order_value", SEG__S_NUM, false,
		 "seg_avg_order_value(@.orders, @.revenue)"},
		{SEG_RULE_METRIC, "first_purchase_at", SEG__S_TS, false, "@.first_purchase_at"},
		{SEG_RULE_METRIC, "last_purchase_at", SEG__S_TS, false, "@.last_purchase_at"},
		{SEG_RULE_METRIC, "last_event_at", SEG__S_TS, false, "@.last_event_at"},
		{SEG_RULE_METRIC, "recency_days", SEG__S_NUM, false,
		 "seg_days_since(@.last_purchase_at)"},
		{SEG_RULE_METRIC, "tenure_days", SEG__S_NUM, true,
		 "seg_days_since(seg_tenure_start(@.created_at, @.first_event_at))"},
	};
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		if (cols[i].kind != n->kind || strcmp(cols[i].name, n->name) != 0)
			continue;
		seg_buf_addch(expr, '(');
		for (const char *p = cols[i].sql; *p; p++)
			if (*p == '@')
				seg_buf_addstr(expr, cc->alias);
			else
				seg_buf_addch(expr, *p);
		seg_buf_addch(expr, ')');
		s->type = cols[i].type;
		s->notnull = cols[i].notnull;
		return;
	}
	/*
	 * An analysis metric (db/README.md "Analyses"): the customer's row of customer_scores,
	 * looked up by primary key in a scalar subquery, so that no statement that compiles
	 * rules needs another FROM item; no row, or NULL, makes the leaf false as SPEC §4 says
	 * of a metric without a value. The column name is one of the parser's table.
	 */
	int factor = 0;
	if (n->kind == SEG_RULE_METRIC && seg_rule_metric_score(n->name, &factor)) {
		bool str = n->subject == SEG_RULE_S_STRING;
		/*
		 * The integer scores cast exactly; a double (clv, p_alive, ..., factors) goes
		 * through its shortest exact text, the number the customer document shows: a
		 * direct cast to numeric keeps only 15 digits in PostgreSQL 15.
		 */
		bool integer = strncmp(n->name, "rfm_", 4) == 0;
		seg_buf_addstr(expr, "(SELECT ");
		if (factor)
			seg_buf_addf(expr, "sc__.factors[%d]", factor);
		else
			seg_buf_addf(expr, "sc__.%s", n->name);
		seg_buf_addf(expr,
			     "%s FROM customer_scores sc__ WHERE sc__.tenant_id = %s.tenant_id "
			     "AND sc__.customer_id = %s.id)",
			     str       ? ""
			     : integer ? "::numeric"
				       : "::text::numeric",
			     cc->alias, cc->alias);
		s->type = str ? SEG__S_STR : SEG__S_NUM;
		s->notnull = false;
		return;
	}
	/*
	 * A metric with no column: no customer has a value, so every comparison is false, exists
	 * false and not_exists true.
	 */
	s->type = n->subject == SEG_RULE_S_STRING   ? SEG__S_STR
		  : n->subject == SEG_RULE_S_NUMBER ? SEG__S_NUM
						    : SEG__S_TS;
	s->notnull = false;
	seg_buf_addstr(expr, s->type == SEG__S_STR   ? "NULL::text"
			     : s->type == SEG__S_NUM ? "NULL::numeric"
						     : "NULL::timestamptz");
}

/* The value an event aggregate or filter reads: the amount, or a numeric property. */
static void seg__event_value(struct seg__cc *cc, const char *prop, struct seg_buf *expr)
{
	if (!prop || strcmp(prop, "amount") == 0) {
		seg_buf_addstr(expr, "e.amount");
		return;
	}
	size_t k = seg__sqlparams_addstr(cc->params, prop);
	seg_buf_addf(expr, "seg_num(e.properties -> $%zu::text)", k);
}

static enum seg_err seg__node(struct seg__cc *cc, const struct seg_rule_node *n);

/*
 * Adds the element "name" to the array literal types (open: "{" then elements) unless it is
 * there already. Inside an element a quote is always escaped, so {"name" or ,"name" followed by
 * a comma or the end is exactly that element.
 */
static void seg__type_once(struct seg_buf *types, const char *name)
{
	struct seg_buf el = SEG_BUF_INIT;
	seg_buf_addch(&el, '{'); /* so that seg__array_elem adds no comma */
	seg__array_elem(&el, name, strlen(name));
	for (const char *p = types->data; (p = strstr(p, el.data + 1)); p++)
		if ((p[-1] == '{' || p[-1] == ',') && (p[el.len - 1] == ',' || !p[el.len - 1]))
			goto out;
	seg__array_elem(types, name, strlen(name));
out:
	seg_buf_release(&el);
}

/*
 * What an aggregate computes, whatever its parameters' numbers: its SQL with each $N above
 * base numbered from 1, then the values of those parameters (a malloc'ed string).
 */
static char *seg__hoist_key(const char *sql, const struct seg__sqlparams *params, size_t base)
{
	struct seg_buf key = SEG_BUF_INIT;
	for (const char *p = sql; *p; p++) {
		if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
			char *end;
			unsigned long long k = strtoull(p + 1, &end, 10);
			seg_buf_addf(&key, "$%llu", k > base ? k - base : k);
			p = end - 1;
		} else
			seg_buf_addch(&key, *p);
	}
	for (size_t i = base; i < params->n; i++) {
		seg_buf_addch(&key, '\x1f');
		seg_buf_addstr(&key, params->v[i]);
	}
	return seg_buf_detach(&key, NULL);
}

/*
 * An event condition, hoisted: its aggregate, restricted by FILTER to the events of the type,
 * in the window, that pass every filter, becomes a column of the collector's lateral, and the
 * leaf compares that column as seg__event compares its subquery (same types, same results over
 * no events: FILTER leaves count(*) at 0 and sum, avg, min, max at NULL).
 */
static enum seg_err seg__event_hoisted(struct seg__cc *cc, const struct seg_rule_node *n)
{
	struct seg__rulesql_hoist *h = cc->hoist;
	struct seg_buf cond = SEG_BUF_INIT, val = SEG_BUF_INIT, col = SEG_BUF_INIT;
	struct seg_buf *outer = cc->sql;
	struct seg__subj s = {SEG__S_NUM, NULL, false};
	enum seg_err err = SEG_OK;
	size_t k;

	size_t base = cc->params->n;
	cc->sql = &cond;
	cc->hoist = NULL; /* the where filters are leaves on the event row */
	k = seg__sqlparams_addstr(cc->params, n->name);
	seg_buf_addf(&cond, "e.type = $%zu::text", k);
	if (n->within_days > 0) {
		char iv[32];
		snprintf(iv, sizeof(iv), "%lld days", (long long)n->within_days);
		seg__add(cc, " AND e.occurred_at > now() - ");
		seg__param_str(cc, iv, "interval");
		seg__add(cc, " AND e.occurred_at <= now()");
	}
	for (size_t i = 0; i < n->nchildren && !err; i++) {
		seg__add(cc, " AND ");
		err = seg__node(cc, n->children[i]);
	}
	cc->sql = outer;
	cc->hoist = h;
	if (err)
		goto out;
	switch (n->agg) {
	case SEG_RULE_AGG_COUNT:
		seg_buf_addf(&col, "count(*) FILTER (WHERE %s)", cond.data);
		s.notnull = true;
		break;
	case SEG_RULE_AGG_SUM:
		seg__event_value(cc, n->prop, &val);
		seg_buf_addf(&col, "coalesce(sum(%s) FILTER (WHERE %s), 0)", val.data, cond.data);
		s.notnull = true;
		break;
	default:
		seg__event_value(cc, n->prop, &val);
		seg_buf_addf(&col, "%s(%s) FILTER (WHERE %s)", seg_rule_agg_name(n->agg), val.data,
			     cond.data);
		break;
	}
	/* an aggregate already among the columns (the same condition in another rule) is read
	 * again rather than computed twice: its parameters go */
	char *key = seg__hoist_key(col.data, cc->params, base);
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->keys[i], key) == 0) {
			free(key);
			seg__sqlparams_truncate(cc->params, base);
			seg_buf_truncate(&col, 0);
			seg_buf_addf(&col, "%s.a%zu", h->alias, i + 1);
			s.expr = col.data;
			seg__leaf(cc, &s, n);
			goto out;
		}
	h->keys = seg_realloc(h->keys, (h->n + 1) * sizeof(*h->keys));
	h->keys[h->n] = key;
	h->n++;
	seg_buf_addf(&h->cols, "%s%s AS a%zu", h->n > 1 ? ", " : "", col.data, h->n);
	seg__type_once(&h->types, n->name);
	if (n->within_days <= 0)
		h->unbounded = true;
	else if (n->within_days > h->max_days)
		h->max_days = n->within_days;
	seg_buf_truncate(&col, 0);
	seg_buf_addf(&col, "%s.a%zu", h->alias, h->n);
	s.expr = col.data;
	seg__leaf(cc, &s, n);
out:
	seg_buf_release(&cond);
	seg_buf_release(&val);
	seg_buf_release(&col);
	return err;
}

/*
 * An event condition: a correlated aggregate over the customer's events of the type, in the
 * window, that pass every filter. The index events_customer_time (tenant_id, customer_id,
 * occurred_at) serves it: equality on the first two, the window as a range on the third.
 */
/*
 * Whether a count condition only asks whether there is a matching event: 1 for "at least one"
 * (gte v with 0 < v <= 1, gt v with 0 <= v < 1), -1 for "none" (lt v with 0 < v <= 1, lte v
 * with 0 <= v < 1, eq 0), 0 otherwise. Counts are whole numbers, so these are exact.
 */
static int seg__count_any(const struct seg_rule_node *n)
{
	if (n->agg != SEG_RULE_AGG_COUNT || n->conflict || n->nvalues != 1 ||
	    n->values[0].type != SEG_RULE_V_NUMBER)
		return 0;
	double v = strtod(n->values[0].text, NULL);
	switch (n->op) {
	case SEG_RULE_OP_GTE: return v > 0 && v <= 1;
	case SEG_RULE_OP_GT: return v >= 0 && v < 1;
	case SEG_RULE_OP_LT: return v > 0 && v <= 1 ? -1 : 0;
	case SEG_RULE_OP_LTE: return v >= 0 && v < 1 ? -1 : 0;
	case SEG_RULE_OP_EQ: return v == 0 ? -1 : 0;
	default: return 0;
	}
}

static enum seg_err seg__event(struct seg__cc *cc, const struct seg_rule_node *n)
{
	struct seg_buf expr = SEG_BUF_INIT, val = SEG_BUF_INIT, *outer = cc->sql;
	struct seg__subj s = {SEG__S_NUM, NULL, false};
	enum seg_err err = SEG_OK;
	size_t k, agg_end;

	/* between reads its subject twice: the aggregate is then computed once, as seg_a.v */
	bool twice = n->op == SEG_RULE_OP_BETWEEN;

	if (cc->hoist)
		return seg__event_hoisted(cc, n);
	cc->sql = &expr;
	seg__add(cc, "(SELECT ");
	switch (n->agg) {
	case SEG_RULE_AGG_COUNT:
		seg__add(cc, "count(*)");
		s.notnull = true;
		break;
	case SEG_RULE_AGG_SUM:
		seg__event_value(cc, n->prop, &val);
		seg_buf_addf(&expr, "coalesce(sum(%s), 0)", val.data);
		s.notnull = true;
		break;
	default:
		seg__event_value(cc, n->prop, &val);
		seg_buf_addf(&expr, "%s(%s)", seg_rule_agg_name(n->agg), val.data);
		break;
	}
	agg_end = expr.len;
	k = seg__sqlparams_addstr(cc->params, n->name);
	seg_buf_addf(&expr,
		     " FROM events e WHERE e.tenant_id = %s.tenant_id AND e.customer_id = %s.id"
		     " AND e.type = $%zu::text",
		     cc->alias, cc->alias, k);
	if (n->within_days > 0) {
		char iv[32];
		snprintf(iv, sizeof(iv), "%lld days", (long long)n->within_days);
		seg__add(cc, " AND e.occurred_at > now() - ");
		seg__param_str(cc, iv, "interval");
		seg__add(cc, " AND e.occurred_at <= now()");
	}
	for (size_t i = 0; i < n->nchildren && !err; i++) {
		seg__add(cc, " AND ");
		err = seg__node(cc, n->children[i]);
	}
	seg__add(cc, ")");
	cc->sql = outer;
	int any = seg__count_any(n);
	if (!err && any) {
		/*
		 * "at least one" (or "none"): EXISTS stops at the first event, and the planner can
		 * turn it into a semi-join (and a parallel plan) where it stands in a WHERE clause.
		 * EXISTS is never NULL.
		 */
		seg_buf_addf(cc->sql, "%sEXISTS (SELECT 1%s", any < 0 ? "NOT " : "",
			     expr.data + agg_end);
	} else if (!err && twice) {
		/* (SELECT <leaf on seg_a.v> FROM (SELECT agg AS v FROM events ...) seg_a): one row
		 */
		seg__add(cc, "(SELECT ");
		s.expr = "seg_a.v";
		seg__leaf(cc, &s, n);
		seg_buf_addf(cc->sql, " FROM %.*s AS v %s seg_a)", (int)agg_end, expr.data,
			     expr.data + agg_end);
	} else if (!err) {
		s.expr = expr.data;
		seg__leaf(cc, &s, n);
	}
	seg_buf_release(&expr);
	seg_buf_release(&val);
	return err;
}

/* A reference to another segment: its stored membership (static) or its rule (dynamic). */
static enum seg_err seg__segment(struct seg__cc *cc, const struct seg_rule_node *n)
{
	const struct seg_rule *rule = NULL;
	enum seg_err err =
		cc->refs ? cc->refs->resolve(cc->refs->ctx, n->segment, &rule) : SEG_ERR_NOT_FOUND;
	char id[24];

	if (err == SEG_ERR_NOT_FOUND) {
		seg__add(cc, "false");
		return SEG_OK;
	}
	if (err)
		return err;
	if (!rule) {
		snprintf(id, sizeof(id), "%lld", (long long)n->segment);
		seg_buf_addf(cc->sql,
			     "EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = %s.tenant_id"
			     " AND m.segment_id = ",
			     cc->alias);
		seg__param_str(cc, id, "bigint");
		seg_buf_addf(cc->sql, " AND m.customer_id = %s.id)", cc->alias);
		return SEG_OK;
	}
	if (cc->depth >= SEG_RULE_MAX_DEPTH)
		return SEG_ERR_INVALID; /* a cycle the caller should have refused */
	cc->depth++;
	err = seg__node(cc, rule->root);
	cc->depth--;
	return err;
}

/*
 * A rough cost of evaluating node for one customer, so that all/any evaluate their cheap
 * children first (AND and OR stop at the first false or true child): a leaf on a column of
 * the row costs 1, one on an attribute 2 (a jsonb lookup), a segment reference 20 (an index probe,
 * or a rule whose cost is not known here), an event condition 100 (a subquery; hoisted, a
 * column of an aggregate computed anyway, but the order stays harmless). Order does not
 * change the result: no leaf has side effects or can fail, and none is ever NULL.
 */
static unsigned seg__cost(const struct seg_rule_node *n)
{
	unsigned c = 0;
	switch (n->kind) {
	case SEG_RULE_ALL:
	case SEG_RULE_ANY:
	case SEG_RULE_NOT:
		for (size_t i = 0; i < n->nchildren; i++)
			c += seg__cost(n->children[i]);
		return c;
	case SEG_RULE_SEGMENT: return 20;
	case SEG_RULE_EVENT: return 100 + (unsigned)n->nchildren;
	case SEG_RULE_ATTR:
	case SEG_RULE_PROP: return 2; /* a lookup in a jsonb document */
	default: return 1;	      /* a column of the row */
	}
}

static enum seg_err seg__node(struct seg__cc *cc, const struct seg_rule_node *n)
{
	struct seg_buf expr = SEG_BUF_INIT;
	struct seg__subj s = {SEG__S_JSON, NULL, false};
	enum seg_err err = SEG_OK;
	size_t nparams = cc->params->n;

	if (!n)
		return SEG_ERR_INVALID;
	switch (n->kind) {
	case SEG_RULE_ALL:
	case SEG_RULE_ANY:
		if (!n->nchildren) {
			seg__add(cc, n->kind == SEG_RULE_ALL ? "true" : "false");
			return SEG_OK;
		}
		{
			/* the children by cost, cheapest first (a stable insertion sort) */
			const struct seg_rule_node **kids = seg_calloc(n->nchildren, sizeof(*kids));
			unsigned *cost = seg_calloc(n->nchildren, sizeof(*cost));
			for (size_t i = 0; i < n->nchildren; i++) {
				size_t j = i;
				unsigned c = seg__cost(n->children[i]);
				for (; j > 0 && cost[j - 1] > c; j--) {
					kids[j] = kids[j - 1];
					cost[j] = cost[j - 1];
				}
				kids[j] = n->children[i];
				cost[j] = c;
			}
			seg__add(cc, "(");
			for (size_t i = 0; i < n->nchildren && !err; i++) {
				if (i)
					seg__add(cc, n->kind == SEG_RULE_ALL ? " AND " : " OR ");
				err = seg__node(cc, kids[i]);
			}
			seg__add(cc, ")");
			free(kids);
			free(cost);
		}
		return err;
	case SEG_RULE_NOT:
		if (n->nchildren != 1)
			return SEG_ERR_INVALID;
		seg__add(cc, "(NOT ");
		err = seg__node(cc, n->children[0]);
		seg__add(cc, ")");
		return err;
	case SEG_RULE_ATTR:
		seg__attr_subject(cc, n, &expr);
		if (n->attr_type == SEG_ATTR_DATE || n->attr_type == SEG_ATTR_TIMESTAMP)
			s.type = SEG__S_JSONTS;
		break;
	case SEG_RULE_FIELD:
	case SEG_RULE_METRIC: seg__column_subject(cc, n, &expr, &s); break;
	case SEG_RULE_PROP:
		if (strcmp(n->name, "amount") == 0) {
			seg_buf_addstr(&expr, "e.amount");
			s.type = SEG__S_NUM;
		} else {
			size_t k = seg__sqlparams_addstr(cc->params, n->name);
			seg_buf_addf(&expr, "(e.properties -> $%zu::text)", k);
		}
		break;
	case SEG_RULE_EVENT: return seg__event(cc, n);
	case SEG_RULE_SEGMENT: return seg__segment(cc, n);
	default: return SEG_ERR_INVALID;
	}
	/*
	 * A conflicted leaf is "false" and reads no subject: the subject's parameters go again,
	 * or the statement would carry a parameter it never uses (PostgreSQL cannot type it).
	 */
	if (n->conflict)
		seg__sqlparams_truncate(cc->params, nparams);
	s.expr = expr.data;
	seg__leaf(cc, &s, n);
	seg_buf_release(&expr);
	return SEG_OK;
}

static enum seg_err seg__compile(const struct seg_rule_node *node, const char *alias,
				 const struct seg__rulesql_refs *refs, struct seg__rulesql_hoist *h,
				 struct seg_buf *sql, struct seg__sqlparams *params)
{
	struct seg__cc cc = {alias, refs, sql, params, 0, h};
	size_t start = sql->len;
	enum seg_err err;

	seg_buf_addch(sql, '(');
	err = seg__node(&cc, node);
	seg_buf_addch(sql, ')');
	if (err)
		seg_buf_truncate(sql, start);
	return err;
}

enum seg_err seg__rulesql_compile(const struct seg_rule_node *node, const char *alias,
				  const struct seg__rulesql_refs *refs, struct seg_buf *sql,
				  struct seg__sqlparams *params)
{
	return seg__compile(node, alias, refs, NULL, sql, params);
}

void seg__rulesql_hoist_init(struct seg__rulesql_hoist *h, const char *alias)
{
	h->alias = alias;
	seg_buf_init(&h->cols);
	seg_buf_init(&h->types);
	seg_buf_addch(&h->types, '{');
	h->n = 0;
	h->max_days = 0;
	h->unbounded = false;
	h->keys = NULL;
}

void seg__rulesql_hoist_release(struct seg__rulesql_hoist *h)
{
	seg_buf_release(&h->cols);
	seg_buf_release(&h->types);
	for (size_t i = 0; i < h->n; i++)
		free(h->keys[i]);
	free(h->keys);
	h->keys = NULL;
	h->n = 0;
}

enum seg_err seg__rulesql_compile_hoisted(const struct seg_rule_node *node, const char *alias,
					  const struct seg__rulesql_refs *refs,
					  struct seg__rulesql_hoist *h, struct seg_buf *sql,
					  struct seg__sqlparams *params)
{
	/* a failed compilation may leave columns in h that no predicate reads */
	return seg__compile(node, alias, refs, h, sql, params);
}

void seg__rulesql_hoist_lateral(const struct seg__rulesql_hoist *h, const char *alias,
				struct seg_buf *sql, struct seg__sqlparams *params)
{
	struct seg_buf types = SEG_BUF_INIT;
	size_t k;

	if (!h->n)
		return;
	/*
	 * One range of events_customer_time (tenant_id, customer_id, occurred_at) per customer:
	 * equality on the first two and, when every condition has a window, the largest window
	 * on the third; OFFSET 0 keeps the lateral a subquery of its own, evaluated per customer.
	 */
	seg_buf_addf(sql,
		     " LEFT JOIN LATERAL (SELECT %s FROM events e WHERE e.tenant_id = %s.tenant_id"
		     " AND e.customer_id = %s.id",
		     h->cols.data, alias, alias);
	if (!h->unbounded) {
		char iv[32];
		snprintf(iv, sizeof(iv), "%lld days", (long long)h->max_days);
		k = seg__sqlparams_addstr(params, iv);
		seg_buf_addf(
			sql,
			" AND e.occurred_at > now() - $%zu::interval AND e.occurred_at <= now()",
			k);
	}
	/* the rows of other types, read by no column, are left out before the aggregates */
	seg_buf_add(&types, h->types.data, h->types.len);
	seg_buf_addch(&types, '}');
	k = seg__sqlparams_add(params, types.data, types.len);
	seg_buf_release(&types);
	seg_buf_addf(sql, " AND e.type = ANY($%zu::text[]) OFFSET 0) %s ON true", k, h->alias);
}

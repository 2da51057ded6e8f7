/*
 * The rule parser (rule.h): JSON text → validated tree. jansson gives the structure; the raw
 * text gives each number exactly as the client wrote it (lib/jsonspan.h), so a number is never
 * rounded through a double. One walk does everything: it builds the nodes, checks every key,
 * operator and value against SPEC §3 and the attribute catalogue, counts leaves and depth, and
 * collects what the rule depends on. Errors are gathered (not stopped at) so that a client sees
 * every fault of a rule at once, each with the JSON Pointer of the offending part.
 *
 * The built-in fields and metrics live in one table each (seg__rule_fields, seg__rule_metrics):
 * a later metric (rfm_score, abc_class...) is one more line there.
 */
#include "rule.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "jsonspan.h"
#include "text.h"
#include "timefmt.h"

/*
 * A built-in subject: a field or a metric, its type, whether it moves with the clock, and
 * whether an analysis provides it (customer_scores: changed by runs, never by events).
 */
struct seg__rule_builtin {
	const char *name;
	enum seg_rule_subject_type type;
	bool clock;
	bool score;
};

static const struct seg__rule_builtin seg__rule_fields[] = {
	{"id", SEG_RULE_S_STRING, false, false},
	{"kind", SEG_RULE_S_STRING, false, false},
	{"created_at", SEG_RULE_S_TIMESTAMP, false, false},
	{"updated_at", SEG_RULE_S_TIMESTAMP, false, false},
};

/* SPEC §4. recency_days and tenure_days are computed as of now: they depend on the clock. */
static const struct seg__rule_builtin seg__rule_metrics[] = {
	{"orders", SEG_RULE_S_NUMBER, false, false},
	{"revenue", SEG_RULE_S_NUMBER, false, false},
	{"avg_order_value", SEG_RULE_S_NUMBER, false, false},
	{"events", SEG_RULE_S_NUMBER, false, false},
	{"recency_days", SEG_RULE_S_NUMBER, true, false},
	{"tenure_days", SEG_RULE_S_NUMBER, true, false},
	{"first_purchase_at", SEG_RULE_S_TIMESTAMP, false, false},
	{"last_purchase_at", SEG_RULE_S_TIMESTAMP, false, false},
	{"last_event_at", SEG_RULE_S_TIMESTAMP, false, false},
	/* the analyses' (SPEC §4, db/README.md "Analyses"); factor_<n> is matched apart */
	{"rfm_r", SEG_RULE_S_NUMBER, false, true},
	{"rfm_f", SEG_RULE_S_NUMBER, false, true},
	{"rfm_m", SEG_RULE_S_NUMBER, false, true},
	{"rfm_score", SEG_RULE_S_STRING, false, true},
	{"rfm_segment", SEG_RULE_S_STRING, false, true},
	{"abc_class", SEG_RULE_S_STRING, false, true},
	{"frequency_class", SEG_RULE_S_STRING, false, true},
	{"clv", SEG_RULE_S_NUMBER, false, true},
	{"p_alive", SEG_RULE_S_NUMBER, false, true},
	{"predicted_orders", SEG_RULE_S_NUMBER, false, true},
};

/* factor_<n>, n from 1 to SEG_RULE_MAX_FACTOR without leading zeros: *n. */
static bool seg__rule_factor(const char *name, int *n)
{
	static const char prefix[] = "factor_";
	if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
		return false;
	const char *d = name + sizeof(prefix) - 1;
	size_t len = strlen(d);
	if (len < 1 || len > 3 || d[0] == '0' || strspn(d, "0123456789") != len)
		return false;
	*n = atoi(d);
	return *n >= 1 && *n <= SEG_RULE_MAX_FACTOR;
}

bool seg_rule_metric_score(const char *name, int *factor)
{
	int n = 0;
	if (factor)
		*factor = 0;
	if (seg__rule_factor(name, &n)) {
		if (factor)
			*factor = n;
		return true;
	}
	for (size_t i = 0; i < sizeof(seg__rule_metrics) / sizeof(seg__rule_metrics[0]); i++)
		if (strcmp(seg__rule_metrics[i].name, name) == 0)
			return seg__rule_metrics[i].score;
	return false;
}

#define SEG__COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const seg__rule_op_names[] = {
#define XX(name, text) text,
	SEG_RULE_OP_MAP(XX)
#undef XX
};

static const char *const seg__rule_agg_names[] = {
#define XX(name, text) text,
	SEG_RULE_AGG_MAP(XX)
#undef XX
};

const char *seg_rule_op_name(enum seg_rule_op op)
{
	return (unsigned)op < SEG_RULE_OP__COUNT ? seg__rule_op_names[op] : "?";
}

const char *seg_rule_agg_name(enum seg_rule_agg agg)
{
	return (unsigned)agg < SEG_RULE_AGG__COUNT ? seg__rule_agg_names[agg] : "?";
}

/*
 * What a leaf compares, as far as the operators and values that make sense go. ANY is a
 * subject of unknown type (an unregistered attribute, an event property): every operator, and
 * a value of another type simply never matches.
 */
enum seg__subj {
	SUBJ_ANY,
	SUBJ_NUMBER,
	SUBJ_STRING,
	SUBJ_BOOLEAN,
	SUBJ_TIMESTAMP,
	SUBJ_LIST,
	SUBJ_AGG, /* the aggregate of an event node: a number, never missing */
};

static const char *const seg__subj_names[] = {
	"any", "number", "string", "boolean", "timestamp", "string list", "number",
};

/* A span of the raw text. */
struct seg__span {
	const char *s;
	size_t len;
};

/* The parse: its inputs, the pointer of where it is, and what it has found so far. */
struct seg__parser {
	const struct seg_rule_env *env;
	const char *prefix;
	struct seg_problem *p;
	struct seg_buf ptr; /* JSON Pointer of the current node, without the prefix */
	size_t errors;
	size_t leaves;
	bool stop; /* over the leaf limit: walk no further */
	unsigned deps;
	int64_t *segments;
	size_t nsegments, capsegments;
};

/* A value for a detail: at most 40 bytes of s, cut at a character, with "..." when cut. */
struct seg__quoted {
	char text[48];
};

static const char *seg__quote(struct seg__quoted *q, const char *s, size_t len)
{
	size_t n = 0;
	while (n < len && s[n] != '\0')
		n++;
	if (n > 40) {
		n = 40;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		memcpy(q->text, s, n);
		memcpy(q->text + n, "...", 4);
	} else {
		memcpy(q->text, s, n);
		q->text[n] = '\0';
	}
	return q->text;
}

/*
 * Adds an error at the current node's pointer, plus key (if not NULL) and index (if >= 0):
 * "/rule" + "/all/1" + "/value" + "/0".
 */
__attribute__((format(printf, 4, 5))) static void seg__fail(struct seg__parser *ps, const char *key,
							    long index, const char *fmt, ...)
{
	struct seg_buf ptr = SEG_BUF_INIT;
	va_list ap;

	seg_buf_addstr(&ptr, ps->prefix);
	seg_buf_add(&ptr, ps->ptr.data, ps->ptr.len);
	if (key)
		seg_pointer_push(&ptr, key);
	if (index >= 0)
		seg_pointer_push_index(&ptr, (size_t)index);
	va_start(ap, fmt);
	seg_problem_vadd(ps->p, SEG_WHERE_POINTER, ptr.data, 0, fmt, ap);
	va_end(ap);
	seg_buf_release(&ptr);
	ps->errors++;
}

/* The span of member key of the object span (the text is valid JSON and has that member). */
static struct seg__span seg__member(struct seg__span obj, const char *key)
{
	struct seg__span out = {NULL, 0};
	if (!seg_json_member_span(obj.s, obj.len, key, &out.s, &out.len))
		out.s = NULL;
	return out;
}

struct seg__spans {
	struct seg__span *v;
	size_t n, cap;
};

static int seg__collect(void *ctx, size_t index, const char *start, size_t len)
{
	struct seg__spans *a = ctx;
	(void)index;
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 8;
		a->v = seg_realloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n].s = start;
	a->v[a->n].len = len;
	a->n++;
	return 0;
}

/* The spans of the elements of the array span; NULL (no elements) when it is not an array. */
static struct seg__span *seg__elements(struct seg__span arr, size_t *n)
{
	struct seg__spans a = {NULL, 0, 0};
	if (arr.s && seg_json_array_spans(arr.s, arr.len, seg__collect, &a) != 0)
		a.n = 0;
	*n = a.n;
	return a.v;
}

/* Keys: every key of obj must be in allowed (NULL-terminated); one error per other key. */
static void seg__keys_check(struct seg__parser *ps, const json_t *obj, const char *const *allowed,
			    const char *what)
{
	for (void *it = json_object_iter((json_t *)obj); it;
	     it = json_object_iter_next((json_t *)obj, it)) {
		const char *key = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		struct seg__quoted q;
		bool known = false;
		if (strlen(key) != klen) {
			seg__fail(ps, NULL, -1, "a key of this %s holds a NUL character", what);
			continue;
		}
		for (size_t i = 0; allowed[i]; i++)
			known = known || strcmp(key, allowed[i]) == 0;
		if (!known)
			seg__fail(ps, key, -1, "unknown key \"%s\" in %s",
				  seg__quote(&q, key, klen), what);
	}
}

static char *seg__dup(const char *s, size_t len)
{
	char *d = seg_malloc(len + 1);
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* ----- values -------------------------------------------------------------------------------- */

enum {
	ACCEPT_NUMBER = 1u << 0,
	ACCEPT_STRING = 1u << 1,
	ACCEPT_BOOLEAN = 1u << 2,
};

static const char *seg__accept_text(unsigned accept)
{
	switch (accept) {
	case ACCEPT_NUMBER: return "a number";
	case ACCEPT_STRING: return "a string";
	case ACCEPT_BOOLEAN: return "a boolean";
	case ACCEPT_NUMBER | ACCEPT_STRING: return "a number or a string";
	default: return "a number, a string or a boolean";
	}
}

static const char *seg__json_type_text(const json_t *v)
{
	if (!v)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/*
 * Takes one scalar value (v with its span sp) of a type in accept into out; on failure adds an
 * error at "value" (index >= 0: "value/index") and returns false.
 */
static bool seg__scalar(struct seg__parser *ps, const json_t *v, struct seg__span sp, long index,
			unsigned accept, struct seg_rule_value *out)
{
	struct seg_json_number_form form;
	struct seg__quoted q;

	memset(out, 0, sizeof(*out));
	if (json_is_number(v) && (accept & ACCEPT_NUMBER)) {
		if (!sp.s || !seg_json_number_measure(sp.s, sp.len, &form)) {
			seg__fail(ps, "value", index, "expected a number");
			return false;
		}
		if (!form.storable || form.digits > SEG_NUMBER_MAX_DIGITS) {
			if (form.digits == UINT64_MAX)
				seg__fail(ps, "value", index,
					  "the number %s is out of range; at most %d digits are "
					  "stored",
					  seg__quote(&q, sp.s, sp.len), SEG_NUMBER_MAX_DIGITS);
			else
				seg__fail(ps, "value", index,
					  "the number %s has %llu digits when written out; at most "
					  "%d are stored",
					  seg__quote(&q, sp.s, sp.len),
					  (unsigned long long)form.digits, SEG_NUMBER_MAX_DIGITS);
			return false;
		}
		out->type = SEG_RULE_V_NUMBER;
		out->text = seg__dup(sp.s, sp.len);
		out->len = sp.len;
		return true;
	}
	if (json_is_string(v) && (accept & ACCEPT_STRING)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);
		if (memchr(s, '\0', len)) {
			seg__fail(ps, "value", index,
				  "a string may not hold a NUL character (\\u0000)");
			return false;
		}
		out->type = SEG_RULE_V_STRING;
		out->text = seg__dup(s, len);
		out->len = len;
		return true;
	}
	if (json_is_boolean(v) && (accept & ACCEPT_BOOLEAN)) {
		out->type = SEG_RULE_V_BOOLEAN;
		out->text = seg_strdup(json_is_true(v) ? "true" : "false");
		out->len = strlen(out->text);
		return true;
	}
	if (json_is_null(v))
		seg__fail(ps, "value", index,
			  "expected %s, got null (exists and not_exists test for null)",
			  seg__accept_text(accept));
	else
		seg__fail(ps, "value", index, "expected %s, got %s", seg__accept_text(accept),
			  seg__json_type_text(v));
	return false;
}

/*
 * Parses "<n>h", "<n>d" or "<n>w" (with a leading sign when offset, which is then required) into
 * seconds. Durations must be positive; both at most SEG_RULE_MAX_DAYS.
 */
static bool seg__span_parse(const char *s, size_t len, bool offset, int64_t *seconds)
{
	size_t i = 0;
	int64_t n = 0, unit, sign = 1;

	if (offset) {
		if (len < 1 || (s[0] != '+' && s[0] != '-'))
			return false;
		sign = s[0] == '-' ? -1 : 1;
		i = 1;
	}
	size_t digits = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		if (++digits > 9)
			return false;
		n = n * 10 + (s[i] - '0');
		i++;
	}
	if (digits == 0 || i + 1 != len)
		return false;
	switch (s[i]) {
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	case 'w': unit = 7 * 86400; break;
	default: return false;
	}
	if ((!offset && n == 0) || n * unit > (int64_t)SEG_RULE_MAX_DAYS * 86400)
		return false;
	*seconds = sign * n * unit;
	return true;
}

/*
 * Parses an RFC 3339 timestamp or a date into the normalised instant text (UTC, as
 * seg_rfc3339_format writes it). False when s is neither, or outside years 0001..9999 in UTC.
 */
static bool seg__instant_parse(const char *s, size_t len, char out[SEG_RFC3339_MAX])
{
	int64_t us;
	int32_t days;

	if (seg_date_parse(s, len, &days))
		us = (int64_t)days * 86400 * 1000000;
	else if (!seg_rfc3339_parse(s, len, &us))
		return false;
	if (us < SEG_RFC3339_MIN_US || us > SEG_RFC3339_MAX_US)
		return false;
	seg_rfc3339_format(us, out);
	return true;
}

/* Turns a string value into an instant, in place. */
static bool seg__value_to_instant(struct seg_rule_value *v)
{
	char out[SEG_RFC3339_MAX];
	if (v->type != SEG_RULE_V_STRING || !seg__instant_parse(v->text, v->len, out))
		return false;
	free(v->text);
	v->type = SEG_RULE_V_INSTANT;
	v->len = strlen(out);
	v->text = seg__dup(out, v->len);
	return true;
}

static void seg__values_free(struct seg_rule_value *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(values[i].text);
	free(values);
}

/* ----- leaves ------------------------------------------------------------------------------- */

/* What a leaf compares: its class, whether the class comes from the catalogue, its name. */
struct seg__subject {
	enum seg__subj subj;
	bool catalog;	  /* a conflict is lenient in stored mode */
	const char *what; /* "attribute \"age\"" */
};

/* Whether op applies to a subject of class subj at all. */
static bool seg__op_applies(enum seg__subj subj, enum seg_rule_op op)
{
	switch (subj) {
	case SUBJ_ANY: return true;
	case SUBJ_NUMBER:
	case SUBJ_BOOLEAN:
		if (subj == SUBJ_BOOLEAN && op >= SEG_RULE_OP_LT && op <= SEG_RULE_OP_BETWEEN)
			return false;
		return op <= SEG_RULE_OP_NOT_IN || op == SEG_RULE_OP_EXISTS ||
		       op == SEG_RULE_OP_NOT_EXISTS;
	case SUBJ_STRING: return op <= SEG_RULE_OP_NOT_EXISTS;
	case SUBJ_TIMESTAMP: return op != SEG_RULE_OP_CONTAINS && op != SEG_RULE_OP_STARTS_WITH;
	case SUBJ_LIST:
		return op == SEG_RULE_OP_CONTAINS || op == SEG_RULE_OP_EXISTS ||
		       op == SEG_RULE_OP_NOT_EXISTS;
	case SUBJ_AGG: return op <= SEG_RULE_OP_NOT_IN;
	}
	return false;
}

/* The value type a subject of class subj compares with (for eq..not_in); -1: any. */
static int seg__subj_vtype(enum seg__subj subj)
{
	switch (subj) {
	case SUBJ_NUMBER:
	case SUBJ_AGG: return SEG_RULE_V_NUMBER;
	case SUBJ_STRING:
	case SUBJ_LIST: return SEG_RULE_V_STRING;
	case SUBJ_BOOLEAN: return SEG_RULE_V_BOOLEAN;
	case SUBJ_TIMESTAMP: return SEG_RULE_V_INSTANT;
	default: return -1;
	}
}

/* A conflict with the subject's type: an error, or in stored mode a leaf that is false. */
__attribute__((format(printf, 6, 7))) static void
seg__conflict(struct seg__parser *ps, struct seg_rule_node *n, const struct seg__subject *sub,
	      const char *key, long index, const char *fmt, ...)
{
	va_list ap;
	char detail[256];

	if (sub->catalog && ps->env && ps->env->stored) {
		n->conflict = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	seg__fail(ps, key, index, "%s", detail);
}

/*
 * Reads op and value of a leaf object obj (span sp) into n, checked against the subject.
 * default_count: an event node, whose op and value may both be left out.
 */
static void seg__leaf_compare(struct seg__parser *ps, const json_t *obj, struct seg__span sp,
			      struct seg_rule_node *n, const struct seg__subject *sub)
{
	const json_t *jop = json_object_get(obj, "op"), *jv = json_object_get(obj, "value");
	struct seg__span vsp = jv ? seg__member(sp, "value") : (struct seg__span){NULL, 0};
	struct seg__quoted q;
	size_t nel = 0;
	struct seg__span *el = NULL;
	bool found = false;

	if (!jop) {
		if (sub->subj == SUBJ_AGG && !jv && n->agg == SEG_RULE_AGG_COUNT) {
			/* {"event": "purchase"}: at least one such event */
			n->op = SEG_RULE_OP_GTE;
			n->values = seg_calloc(1, sizeof(*n->values));
			n->values[0].type = SEG_RULE_V_NUMBER;
			n->values[0].text = seg_strdup("1");
			n->values[0].len = 1;
			n->nvalues = 1;
			return;
		}
		seg__fail(ps, "op", -1, "missing \"op\"");
		return;
	}
	if (!json_is_string(jop)) {
		seg__fail(ps, "op", -1, "expected an operator name (a string), got %s",
			  seg__json_type_text(jop));
		return;
	}
	const char *name = json_string_value(jop);
	size_t nlen = json_string_length(jop);
	for (int i = 0; i < SEG_RULE_OP__COUNT; i++) {
		if (strlen(seg__rule_op_names[i]) == nlen &&
		    strcmp(name, seg__rule_op_names[i]) == 0) {
			n->op = (enum seg_rule_op)i;
			found = true;
		}
	}
	if (!found) {
		seg__fail(ps, "op", -1, "unknown operator \"%s\"", seg__quote(&q, name, nlen));
		return;
	}
	const char *opname = seg__rule_op_names[n->op];

	if (!seg__op_applies(sub->subj, n->op)) {
		if (sub->subj == SUBJ_AGG)
			seg__fail(ps, "op", -1,
				  "operator \"%s\" cannot compare an event aggregate (a number)",
				  opname);
		else
			seg__conflict(ps, n, sub, "op", -1,
				      "operator \"%s\" cannot be used with %s, a %s", opname,
				      sub->what, seg__subj_names[sub->subj]);
		if (!n->conflict)
			return;
	}

	/* The value's shape, whatever the subject. */
	if (n->op == SEG_RULE_OP_EXISTS || n->op == SEG_RULE_OP_NOT_EXISTS) {
		if (jv)
			seg__fail(ps, "value", -1, "operator \"%s\" takes no value", opname);
		return;
	}
	if (!jv) {
		seg__fail(ps, "value", -1, "missing \"value\" (operator \"%s\" needs one)", opname);
		return;
	}
	switch (n->op) {
	case SEG_RULE_OP_EQ:
	case SEG_RULE_OP_NE:
	case SEG_RULE_OP_LT:
	case SEG_RULE_OP_LTE:
	case SEG_RULE_OP_GT:
	case SEG_RULE_OP_GTE:
	case SEG_RULE_OP_CONTAINS:
	case SEG_RULE_OP_STARTS_WITH: {
		unsigned accept = n->op <= SEG_RULE_OP_NE
					  ? ACCEPT_NUMBER | ACCEPT_STRING | ACCEPT_BOOLEAN
				  : n->op <= SEG_RULE_OP_GTE ? ACCEPT_NUMBER | ACCEPT_STRING
							     : ACCEPT_STRING;
		n->values = seg_calloc(1, sizeof(*n->values));
		if (!seg__scalar(ps, jv, vsp, -1, accept, &n->values[0]))
			goto bad;
		n->nvalues = 1;
		break;
	}
	case SEG_RULE_OP_BETWEEN:
	case SEG_RULE_OP_IN:
	case SEG_RULE_OP_NOT_IN: {
		bool between = n->op == SEG_RULE_OP_BETWEEN;
		size_t count = json_array_size(jv);
		if (!json_is_array(jv)) {
			seg__fail(ps, "value", -1, "expected %s, got %s",
				  between ? "[low, high]" : "a non-empty array",
				  seg__json_type_text(jv));
			goto bad;
		}
		if (between && count != 2) {
			seg__fail(ps, "value", -1, "expected [low, high], got %zu element%s", count,
				  count == 1 ? "" : "s");
			goto bad;
		}
		if (count == 0) {
			seg__fail(ps, "value", -1, "expected a non-empty array");
			goto bad;
		}
		el = seg__elements(vsp, &nel);
		if (nel != count) {
			seg__fail(ps, "value", -1, "expected an array");
			goto bad;
		}
		unsigned accept = between ? ACCEPT_NUMBER | ACCEPT_STRING
					  : ACCEPT_NUMBER | ACCEPT_STRING | ACCEPT_BOOLEAN;
		n->values = seg_calloc(count, sizeof(*n->values));
		bool ok = true;
		for (size_t i = 0; i < count; i++) {
			if (!seg__scalar(ps, json_array_get(jv, i), el[i], (long)i, accept,
					 &n->values[i])) {
				ok = false;
				continue;
			}
			n->nvalues = i + 1;
			if (i > 0 && ok && n->values[i].type != n->values[0].type) {
				seg__fail(ps, "value", (long)i,
					  "the elements must be of one type: expected %s like the "
					  "first",
					  n->values[0].type == SEG_RULE_V_NUMBER   ? "a number"
					  : n->values[0].type == SEG_RULE_V_STRING ? "a string"
										   : "a boolean");
				ok = false;
			}
		}
		n->nvalues = count;
		if (!ok)
			goto bad;
		break;
	}
	case SEG_RULE_OP_BEFORE:
	case SEG_RULE_OP_AFTER:
	case SEG_RULE_OP_WITHIN_LAST:
	case SEG_RULE_OP_OLDER_THAN: {
		bool within = n->op == SEG_RULE_OP_WITHIN_LAST || n->op == SEG_RULE_OP_OLDER_THAN;
		n->values = seg_calloc(1, sizeof(*n->values));
		n->nvalues = 1;
		if (!seg__scalar(ps, jv, vsp, -1, ACCEPT_STRING, &n->values[0]))
			goto bad;
		struct seg_rule_value *v = &n->values[0];
		int64_t seconds;
		if (within) {
			if (!seg__span_parse(v->text, v->len, false, &seconds)) {
				seg__fail(
					ps, "value", -1,
					"expected a duration such as \"30d\" (<n>h, <n>d or <n>w, "
					"at most %d days), got \"%s\"",
					SEG_RULE_MAX_DAYS, seg__quote(&q, v->text, v->len));
				goto bad;
			}
			free(v->text);
			v->text = NULL;
			v->len = 0;
			v->type = SEG_RULE_V_DURATION;
			v->seconds = seconds;
			ps->deps |= SEG_RULE_DEP_CLOCK;
		} else if (seg__span_parse(v->text, v->len, true, &seconds)) {
			free(v->text);
			v->text = NULL;
			v->len = 0;
			v->type = SEG_RULE_V_OFFSET;
			v->seconds = seconds;
			ps->deps |= SEG_RULE_DEP_CLOCK;
		} else if (!seg__value_to_instant(v)) {
			seg__fail(ps, "value", -1,
				  "expected an RFC 3339 timestamp, a date or an offset such as "
				  "\"-30d\", got \"%s\"",
				  seg__quote(&q, v->text, v->len));
			goto bad;
		}
		break;
	}
	default: break;
	}

	/* The values' type against the subject's (before/after and durations are checked). */
	int want = seg__subj_vtype(sub->subj);
	if (want < 0 || n->conflict || n->op >= SEG_RULE_OP_BEFORE)
		goto out;
	for (size_t i = 0; i < n->nvalues; i++) {
		struct seg_rule_value *v = &n->values[i];
		long index =
			n->nvalues > 1 || n->op == SEG_RULE_OP_IN || n->op == SEG_RULE_OP_NOT_IN
				? (long)i
				: -1;
		if (want == SEG_RULE_V_INSTANT) {
			char instant[SEG_RFC3339_MAX];
			if (v->type == SEG_RULE_V_STRING &&
			    seg__instant_parse(v->text, v->len, instant))
				continue;
			seg__conflict(
				ps, n, sub, "value", index,
				"expected an RFC 3339 timestamp or a date to compare with %s, "
				"a timestamp",
				sub->what);
			break;
		}
		if ((int)v->type != want) {
			seg__conflict(ps, n, sub, "value", index,
				      "expected %s to compare with %s, a %s",
				      want == SEG_RULE_V_NUMBER	  ? "a number"
				      : want == SEG_RULE_V_STRING ? "a string"
								  : "a boolean",
				      sub->what, seg__subj_names[sub->subj]);
			break;
		}
	}
	/* Every value is an instant, or none is converted (the leaf keeps one type of value). */
	for (size_t i = 0; want == SEG_RULE_V_INSTANT && !n->conflict && i < n->nvalues; i++)
		if (!seg__value_to_instant(&n->values[i]))
			break;
	goto out;
bad:
	seg__values_free(n->values, n->nvalues);
	n->values = NULL;
	n->nvalues = 0;
out:
	free(el);
}

/* ----- nodes -------------------------------------------------------------------------------- */

static void seg__node_free(struct seg_rule_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nchildren; i++)
		seg__node_free(n->children[i]);
	free(n->children);
	free(n->pointer);
	free(n->name);
	for (size_t i = 0; i < n->npath; i++)
		free(n->path[i]);
	free(n->path);
	free(n->prop);
	seg__values_free(n->values, n->nvalues);
	free(n);
}

/* Counts a leaf; false (with the error, once) when that is one too many. */
static bool seg__leaf_count(struct seg__parser *ps)
{
	if (++ps->leaves > SEG_RULE_MAX_LEAVES) {
		seg__fail(ps, NULL, -1, "the rule has more than %d conditions",
			  SEG_RULE_MAX_LEAVES);
		ps->stop = true;
		return false;
	}
	return true;
}

/* A string member that names something: non-empty, no NUL. Adds the error and returns NULL. */
static const char *seg__name(struct seg__parser *ps, const json_t *v, const char *key,
			     const char *what, size_t *len)
{
	if (!v) {
		seg__fail(ps, key, -1, "missing \"%s\"", key);
		return NULL;
	}
	if (!json_is_string(v)) {
		seg__fail(ps, key, -1, "expected %s (a string), got %s", what,
			  seg__json_type_text(v));
		return NULL;
	}
	const char *s = json_string_value(v);
	*len = json_string_length(v);
	if (*len == 0 || memchr(s, '\0', *len)) {
		seg__fail(ps, key, -1, "expected %s, got %s", what,
			  *len ? "a string with a NUL character" : "an empty string");
		return NULL;
	}
	return s;
}

static void seg__attr(struct seg__parser *ps, const json_t *obj, struct seg__span sp,
		      struct seg_rule_node *n)
{
	static const char *const keys[] = {"attr", "op", "value", NULL};
	struct seg__quoted q;
	char what[80];
	size_t len;

	n->kind = SEG_RULE_ATTR;
	n->attr_type = SEG_ATTR__COUNT;
	seg__keys_check(ps, obj, keys, "an attr condition");
	ps->deps |= SEG_RULE_DEP_ATTRS;
	const char *path =
		seg__name(ps, json_object_get(obj, "attr"), "attr", "an attribute path", &len);
	if (!path)
		return;
	/* "a.b": segments split on dots, none empty */
	size_t segs = 1;
	bool empty = path[0] == '.' || path[len - 1] == '.' || strstr(path, "..");
	for (size_t i = 0; i < len; i++)
		segs += path[i] == '.';
	if (empty || segs > SEG_RULE_MAX_DEPTH) {
		seg__fail(ps, "attr", -1,
			  empty ? "invalid attribute path \"%s\": an empty segment"
				: "invalid attribute path \"%s\": more than 32 segments",
			  seg__quote(&q, path, len));
		return;
	}
	n->name = seg__dup(path, len);
	n->path = seg_calloc(segs, sizeof(*n->path));
	for (const char *s = path; n->npath < segs;) {
		const char *dot = strchr(s, '.');
		size_t k = dot ? (size_t)(dot - s) : strlen(s);
		n->path[n->npath++] = seg__dup(s, k);
		s += k + 1;
	}

	struct seg__subject sub = {SUBJ_ANY, true, what};
	const struct seg_attr_def *def = ps->env && ps->env->catalog
						 ? seg_attr_catalog_find(ps->env->catalog, n->name)
						 : NULL;
	snprintf(what, sizeof(what), "attribute \"%s\"", seg__quote(&q, path, len));
	if (def) {
		n->attr_type = def->type;
		switch (def->type) {
		case SEG_ATTR_NUMBER:
		case SEG_ATTR_INTEGER: sub.subj = SUBJ_NUMBER; break;
		case SEG_ATTR_STRING: sub.subj = SUBJ_STRING; break;
		case SEG_ATTR_BOOLEAN: sub.subj = SUBJ_BOOLEAN; break;
		case SEG_ATTR_DATE:
		case SEG_ATTR_TIMESTAMP: sub.subj = SUBJ_TIMESTAMP; break;
		case SEG_ATTR_STRING_LIST: sub.subj = SUBJ_LIST; break;
		default: break;
		}
		if (sub.subj == SUBJ_NUMBER) {
			n->subject = SEG_RULE_S_NUMBER;
		} else if (sub.subj == SUBJ_TIMESTAMP) {
			n->subject = SEG_RULE_S_TIMESTAMP;
		}
	}
	seg__leaf_compare(ps, obj, sp, n, &sub);
}

static void seg__builtin(struct seg__parser *ps, const json_t *obj, struct seg__span sp,
			 struct seg_rule_node *n, bool metric)
{
	static const char *const field_keys[] = {"field", "op", "value", NULL};
	static const char *const metric_keys[] = {"metric", "op", "value", NULL};
	const char *key = metric ? "metric" : "field";
	const struct seg__rule_builtin *table = metric ? seg__rule_metrics : seg__rule_fields;
	size_t count = metric ? SEG__COUNT(seg__rule_metrics) : SEG__COUNT(seg__rule_fields);
	const struct seg__rule_builtin *b = NULL;
	struct seg__quoted q;
	char what[80];
	size_t len;

	struct seg__rule_builtin factor = {NULL, SEG_RULE_S_NUMBER, false, true};
	int nf;

	n->kind = metric ? SEG_RULE_METRIC : SEG_RULE_FIELD;
	seg__keys_check(ps, obj, metric ? metric_keys : field_keys,
			metric ? "a metric condition" : "a field condition");
	const char *name = seg__name(ps, json_object_get(obj, key), key,
				     metric ? "a metric name" : "a field name", &len);
	if (!name) {
		ps->deps |= metric ? SEG_RULE_DEP_METRICS : SEG_RULE_DEP_ATTRS;
		return;
	}
	for (size_t i = 0; i < count; i++)
		if (strcmp(table[i].name, name) == 0)
			b = &table[i];
	if (!b && metric && strlen(name) == len && seg__rule_factor(name, &nf)) {
		factor.name = name;
		b = &factor;
	}
	ps->deps |= !metric	    ? SEG_RULE_DEP_ATTRS
		    : b && b->score ? SEG_RULE_DEP_SCORES
				    : SEG_RULE_DEP_METRICS;
	if (!b) {
		struct seg_buf known = SEG_BUF_INIT;
		for (size_t i = 0; i < count; i++)
			seg_buf_addf(&known, "%s%s", i ? ", " : "", table[i].name);
		if (metric)
			seg_buf_addf(&known, ", factor_1 ... factor_%d", SEG_RULE_MAX_FACTOR);
		seg__fail(ps, key, -1, "unknown %s \"%s\" (known: %s)", key,
			  seg__quote(&q, name, len), known.data);
		seg_buf_release(&known);
		return;
	}
	n->name = seg_strdup(b->name);
	n->subject = b->type;
	if (b->clock)
		ps->deps |= SEG_RULE_DEP_CLOCK;
	snprintf(what, sizeof(what), "%s \"%s\"", key, b->name);
	struct seg__subject sub = {b->type == SEG_RULE_S_NUMBER	  ? SUBJ_NUMBER
				   : b->type == SEG_RULE_S_STRING ? SUBJ_STRING
								  : SUBJ_TIMESTAMP,
				   false, what};
	seg__leaf_compare(ps, obj, sp, n, &sub);
}

static void seg__prop(struct seg__parser *ps, const json_t *obj, struct seg__span sp,
		      struct seg_rule_node *n)
{
	static const char *const keys[] = {"prop", "op", "value", NULL};
	struct seg__quoted q;
	char what[80];
	size_t len;

	n->kind = SEG_RULE_PROP;
	if (!json_is_object(obj)) {
		seg__fail(ps, NULL, -1,
			  "expected a filter such as {\"prop\": \"channel\", \"op\": \"eq\", "
			  "\"value\": \"web\"}, got %s",
			  seg__json_type_text(obj));
		return;
	}
	seg__keys_check(ps, obj, keys, "a where filter");
	const char *name =
		seg__name(ps, json_object_get(obj, "prop"), "prop", "an event property name", &len);
	if (!name)
		return;
	n->name = seg__dup(name, len);
	bool amount = strcmp(n->name, "amount") == 0;
	if (amount)
		n->subject = SEG_RULE_S_NUMBER;
	snprintf(what, sizeof(what), "property \"%s\"", seg__quote(&q, name, len));
	struct seg__subject sub = {amount ? SUBJ_NUMBER : SUBJ_ANY, false, what};
	seg__leaf_compare(ps, obj, sp, n, &sub);
}

static void seg__event(struct seg__parser *ps, const json_t *obj, struct seg__span sp,
		       struct seg_rule_node *n)
{
	static const char *const keys[] = {"event", "within_days", "where", "agg",
					   "prop",  "op",	   "value", NULL};
	struct seg__quoted q;
	const json_t *v;
	size_t len;
	bool agg_ok = true;

	n->kind = SEG_RULE_EVENT;
	n->agg = SEG_RULE_AGG_COUNT;
	ps->deps |= SEG_RULE_DEP_EVENTS;
	seg__keys_check(ps, obj, keys, "an event condition");

	v = json_object_get(obj, "event");
	if (!json_is_string(v) ||
	    !seg_printable_valid(json_string_value(v), json_string_length(v), 1, 64)) {
		seg__fail(ps, "event", -1,
			  "expected an event type (1 to 64 bytes of printable UTF-8)");
	} else {
		n->name = seg__dup(json_string_value(v), json_string_length(v));
	}

	if ((v = json_object_get(obj, "within_days"))) {
		struct seg__span w = seg__member(sp, "within_days");
		int64_t days = 0;
		bool good = json_is_number(v) && w.s && w.len <= 9;
		for (size_t i = 0; good && i < w.len; i++) {
			good = w.s[i] >= '0' && w.s[i] <= '9';
			days = days * 10 + (w.s[i] - '0');
		}
		if (!good || days < 1 || days > SEG_RULE_MAX_DAYS) {
			seg__fail(ps, "within_days", -1,
				  "expected a whole number of days from 1 to %d",
				  SEG_RULE_MAX_DAYS);
		} else {
			n->within_days = days;
			ps->deps |= SEG_RULE_DEP_CLOCK;
		}
	}

	if ((v = json_object_get(obj, "agg"))) {
		bool found = false;
		if (json_is_string(v))
			for (int i = 0; i < SEG_RULE_AGG__COUNT; i++)
				if (strlen(seg__rule_agg_names[i]) == json_string_length(v) &&
				    strcmp(json_string_value(v), seg__rule_agg_names[i]) == 0) {
					n->agg = (enum seg_rule_agg)i;
					found = true;
				}
		if (!found) {
			if (json_is_string(v))
				seg__fail(ps, "agg", -1,
					  "unknown aggregate \"%s\" (count, sum, avg, min or max)",
					  seg__quote(&q, json_string_value(v),
						     json_string_length(v)));
			else
				seg__fail(
					ps, "agg", -1,
					"expected an aggregate (count, sum, avg, min or max), got "
					"%s",
					seg__json_type_text(v));
			agg_ok = false;
		}
	}

	if ((v = json_object_get(obj, "prop"))) {
		if (agg_ok && n->agg == SEG_RULE_AGG_COUNT) {
			seg__fail(ps, "prop", -1,
				  "\"prop\" cannot be used with agg \"count\" (it counts events)");
		} else {
			const char *name = seg__name(ps, v, "prop", "an event property name", &len);
			if (name)
				n->prop = seg__dup(name, len);
		}
	} else if (n->agg != SEG_RULE_AGG_COUNT) {
		n->prop = seg_strdup("amount");
	}

	if ((v = json_object_get(obj, "where"))) {
		size_t count = json_array_size(v), nel;
		struct seg__span *el = NULL;
		if (!json_is_array(v)) {
			seg__fail(ps, "where", -1, "expected an array of filters, got %s",
				  seg__json_type_text(v));
		} else if ((el = seg__elements(seg__member(sp, "where"), &nel)), nel != count) {
			seg__fail(ps, "where", -1, "expected an array of filters");
		} else {
			size_t mark = ps->ptr.len;
			n->children = seg_calloc(count ? count : 1, sizeof(*n->children));
			seg_pointer_push(&ps->ptr, "where");
			size_t wmark = ps->ptr.len;
			for (size_t i = 0; i < count && !ps->stop; i++) {
				seg_pointer_push_index(&ps->ptr, i);
				if (seg__leaf_count(ps)) {
					struct seg_rule_node *c = seg_calloc(1, sizeof(*c));
					c->pointer = seg__dup(ps->ptr.data, ps->ptr.len);
					n->children[n->nchildren++] = c;
					seg__prop(ps, json_array_get(v, i), el[i], c);
				}
				seg_buf_truncate(&ps->ptr, wmark);
			}
			seg_buf_truncate(&ps->ptr, mark);
		}
		free(el);
	}

	struct seg__subject sub = {SUBJ_AGG, false, "an event aggregate"};
	seg__leaf_compare(ps, obj, sp, n, &sub);
}

static void seg__segment(struct seg__parser *ps, const json_t *obj, struct seg_rule_node *n)
{
	static const char *const keys[] = {"segment", NULL};
	const json_t *v = json_object_get(obj, "segment");
	struct seg__quoted q;
	int64_t id = 0;

	n->kind = SEG_RULE_SEGMENT;
	ps->deps |= SEG_RULE_DEP_SEGMENTS;
	seg__keys_check(ps, obj, keys, "a segment condition");
	bool good = json_is_string(v);
	const char *s = good ? json_string_value(v) : "";
	size_t len = good ? json_string_length(v) : 0;
	good = good && len >= 1 && len <= 19 && s[0] >= '1' && s[0] <= '9';
	for (size_t i = 0; good && i < len; i++) {
		good = s[i] >= '0' && s[i] <= '9';
		if (good && id > (INT64_MAX - (s[i] - '0')) / 10)
			good = false;
		if (good)
			id = id * 10 + (s[i] - '0');
	}
	if (!good) {
		if (json_is_string(v))
			seg__fail(ps, "segment", -1, "expected a segment id, got \"%s\"",
				  seg__quote(&q, s, len));
		else
			seg__fail(ps, "segment", -1, "expected a segment id (a string), got %s",
				  seg__json_type_text(v));
		return;
	}
	n->segment = id;
	if (ps->nsegments == ps->capsegments) {
		ps->capsegments = ps->capsegments ? 2 * ps->capsegments : 4;
		ps->segments = seg_realloc(ps->segments, ps->capsegments * sizeof(*ps->segments));
	}
	ps->segments[ps->nsegments++] = id;
	if (ps->env && ps->env->segment_exists && !ps->env->stored &&
	    !ps->env->segment_exists(ps->env->ctx, id))
		seg__fail(ps, "segment", -1, "unknown segment \"%s\"", s);
}

static struct seg_rule_node *seg__node(struct seg__parser *ps, const json_t *v, struct seg__span sp,
				       int depth);

/* all/any: the array of children under key. */
static void seg__group(struct seg__parser *ps, const json_t *obj, struct seg__span sp,
		       struct seg_rule_node *n, const char *key, int depth)
{
	const char *const keys[] = {key, NULL};
	const json_t *arr = json_object_get(obj, key);
	size_t count = json_array_size(arr), nel = 0;
	struct seg__span *el = NULL;
	char what[32];

	snprintf(what, sizeof(what), "an \"%s\" condition", key);
	seg__keys_check(ps, obj, keys, what);
	if (!json_is_array(arr)) {
		seg__fail(ps, key, -1, "expected an array of conditions, got %s",
			  seg__json_type_text(arr));
		return;
	}
	el = seg__elements(seg__member(sp, key), &nel);
	if (nel != count) {
		seg__fail(ps, key, -1, "expected an array of conditions");
		free(el);
		return;
	}
	n->children = seg_calloc(count ? count : 1, sizeof(*n->children));
	size_t mark = ps->ptr.len;
	seg_pointer_push(&ps->ptr, key);
	size_t kmark = ps->ptr.len;
	for (size_t i = 0; i < count && !ps->stop; i++) {
		seg_pointer_push_index(&ps->ptr, i);
		struct seg_rule_node *c = seg__node(ps, json_array_get(arr, i), el[i], depth + 1);
		if (c)
			n->children[n->nchildren++] = c;
		seg_buf_truncate(&ps->ptr, kmark);
	}
	seg_buf_truncate(&ps->ptr, mark);
	free(el);
}

/* The condition v (its text sp) at ps->ptr, at depth (the root is 1). NULL: nothing built. */
static struct seg_rule_node *seg__node(struct seg__parser *ps, const json_t *v, struct seg__span sp,
				       int depth)
{
	static const char *const kinds[] = {"all",   "any",    "not",	"attr",
					    "field", "metric", "event", "segment"};
	struct seg_rule_node *n;
	const char *kind = NULL;

	if (ps->stop)
		return NULL;
	if (depth > SEG_RULE_MAX_DEPTH) {
		seg__fail(ps, NULL, -1, "the rule nests deeper than %d levels", SEG_RULE_MAX_DEPTH);
		return NULL;
	}
	if (!json_is_object(v)) {
		seg__fail(ps, NULL, -1,
			  "expected a condition (an object with one of all, any, not, attr, field, "
			  "metric, event or segment), got %s",
			  seg__json_type_text(v));
		return NULL;
	}
	for (size_t i = 0; i < SEG__COUNT(kinds) && !kind; i++)
		if (json_object_get(v, kinds[i]))
			kind = kinds[i];
	if (!kind) {
		seg__fail(ps, NULL, -1,
			  "expected a condition (an object with one of all, any, not, attr, field, "
			  "metric, event or segment)");
		return NULL;
	}
	bool leaf =
		strcmp(kind, "all") != 0 && strcmp(kind, "any") != 0 && strcmp(kind, "not") != 0;
	if (leaf && !seg__leaf_count(ps))
		return NULL;

	n = seg_calloc(1, sizeof(*n));
	n->pointer = seg__dup(ps->ptr.data, ps->ptr.len);
	n->attr_type = SEG_ATTR__COUNT;
	if (strcmp(kind, "all") == 0 || strcmp(kind, "any") == 0) {
		n->kind = kind[1] == 'l' ? SEG_RULE_ALL : SEG_RULE_ANY;
		seg__group(ps, v, sp, n, kind, depth);
	} else if (strcmp(kind, "not") == 0) {
		static const char *const keys[] = {"not", NULL};
		n->kind = SEG_RULE_NOT;
		seg__keys_check(ps, v, keys, "a \"not\" condition");
		size_t mark = ps->ptr.len;
		seg_pointer_push(&ps->ptr, "not");
		struct seg_rule_node *c =
			seg__node(ps, json_object_get(v, "not"), seg__member(sp, "not"), depth + 1);
		seg_buf_truncate(&ps->ptr, mark);
		if (c) {
			n->children = seg_calloc(1, sizeof(*n->children));
			n->children[n->nchildren++] = c;
		}
	} else if (strcmp(kind, "attr") == 0) {
		seg__attr(ps, v, sp, n);
	} else if (strcmp(kind, "field") == 0 || strcmp(kind, "metric") == 0) {
		seg__builtin(ps, v, sp, n, kind[0] == 'm');
	} else if (strcmp(kind, "event") == 0) {
		seg__event(ps, v, sp, n);
	} else {
		seg__segment(ps, v, n);
	}
	return n;
}

static int seg__id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

struct seg_rule *seg_rule_parse(const char *text, size_t len, const struct seg_rule_env *env,
				const char *pointer_prefix, struct seg_problem *p)
{
	const size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL;
	struct seg__parser ps;
	struct seg_rule *rule = NULL;
	struct seg_rule_node *root = NULL;
	json_error_t error;
	json_t *doc;

	memset(&ps, 0, sizeof(ps));
	seg_buf_init(&ps.ptr);
	ps.env = env;
	ps.prefix = pointer_prefix ? pointer_prefix : "";
	ps.p = p;

	doc = json_loadb(text, len, flags, &error);
	if (!doc && json_error_code(&error) == json_error_numeric_overflow)
		doc = json_loadb(text, len, flags | JSON_DECODE_INT_AS_REAL, &error);
	if (!doc) {
		seg__fail(&ps, NULL, -1, "the rule is not valid JSON: %s", error.text);
		goto out;
	}
	root = seg__node(&ps, doc, (struct seg__span){text, len}, 1);
	if (ps.errors)
		goto out;

	rule = seg_calloc(1, sizeof(*rule));
	rule->root = root;
	root = NULL;
	rule->leaves = ps.leaves;
	rule->deps = ps.deps;
	if (ps.nsegments) {
		qsort(ps.segments, ps.nsegments, sizeof(*ps.segments), seg__id_cmp);
		size_t k = 0;
		for (size_t i = 0; i < ps.nsegments; i++)
			if (k == 0 || ps.segments[k - 1] != ps.segments[i])
				ps.segments[k++] = ps.segments[i];
		rule->segments = ps.segments;
		rule->nsegments = k;
		ps.segments = NULL;
	}
out:
	seg__node_free(root);
	free(ps.segments);
	seg_buf_release(&ps.ptr);
	json_decref(doc);
	return rule;
}

void seg_rule_free(struct seg_rule *rule)
{
	if (!rule)
		return;
	seg__node_free(rule->root);
	free(rule->segments);
	free(rule);
}

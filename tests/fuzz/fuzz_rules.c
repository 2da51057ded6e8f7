/*
 * libFuzzer driver of the rule parser (rules/parse.c) and the reference graph (rules/graph.c).
 * The first byte chooses the environment (with or without a small catalogue, strict or stored,
 * with or without a segment_exists callback); the rest is the rule text. Finds crashes, leaks
 * and undefined behaviour, and asserts what the compiler and the handlers rely on:
 * - a rule is returned exactly when no error was added, and every error points under the
 *   prefix; the problem document renders as JSON;
 * - a tree keeps the limits (depth, leaves), every node's pointer leads to an object of the
 *   document, every number value is the exact text of the number jansson sees there, every
 *   string value is jansson's string (no NUL, valid UTF-8), instants are normalised;
 * - the segment list is sorted, distinct, and exactly the ids of the SEGMENT nodes, each found
 *   by seg_rule_find_segment; deps agree with the nodes;
 * - whatever strict mode accepts, stored mode accepts with the same tree shape;
 * - seg_rule_cycle finds the cycles of a graph built from the rule's own references.
 */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonspan.h"
#include "problem.h"
#include "rule.h"
#include "text.h"
#include "timefmt.h"
#include "validate.h"
#include "pointer.h"

static struct seg_attr_catalog catalog;

static void setup(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	json_t *allowed = json_loads("[\"basic\", \"pro\"]", 0, NULL);
	seg_attr_catalog_init(&catalog);
	seg_attr_catalog_add(&catalog, "age", SEG_ATTR_INTEGER, NULL);
	seg_attr_catalog_add(&catalog, "score", SEG_ATTR_NUMBER, NULL);
	seg_attr_catalog_add(&catalog, "plan", SEG_ATTR_STRING, allowed);
	seg_attr_catalog_add(&catalog, "vip", SEG_ATTR_BOOLEAN, NULL);
	seg_attr_catalog_add(&catalog, "address.since", SEG_ATTR_DATE, NULL);
	seg_attr_catalog_add(&catalog, "seen", SEG_ATTR_TIMESTAMP, NULL);
	seg_attr_catalog_add(&catalog, "tags", SEG_ATTR_STRING_LIST, NULL);
	json_decref(allowed);
}

/* Even ids exist. */
static bool even_exists(void *ctx, int64_t id)
{
	(void)ctx;
	return id % 2 == 0;
}

struct walk {
	json_t *doc;
	size_t leaves;
	unsigned deps;
	int64_t *ids;
	size_t nids;
};

/* The jansson value of value i of node n (the member "value", or its element i). */
static json_t *value_of(json_t *obj, const struct seg_rule_node *n, size_t i)
{
	json_t *v = json_object_get(obj, "value");
	if (n->op == SEG_RULE_OP_BETWEEN || n->op == SEG_RULE_OP_IN || n->op == SEG_RULE_OP_NOT_IN)
		return json_array_get(v, i);
	return v;
}

static void check_values(json_t *obj, const struct seg_rule_node *n, struct walk *w)
{
	json_error_t error;
	if (!obj || !json_object_get(obj, "op")) {
		/* an event's default: count >= 1 */
		assert(n->kind == SEG_RULE_EVENT && n->op == SEG_RULE_OP_GTE && n->nvalues == 1);
		assert(strcmp(n->values[0].text, "1") == 0);
		return;
	}
	assert(strcmp(json_string_value(json_object_get(obj, "op")), seg_rule_op_name(n->op)) == 0);
	if (n->op == SEG_RULE_OP_EXISTS || n->op == SEG_RULE_OP_NOT_EXISTS)
		assert(n->nvalues == 0 && !json_object_get(obj, "value"));
	else if (n->op == SEG_RULE_OP_BETWEEN)
		assert(n->nvalues == 2);
	else if (n->op == SEG_RULE_OP_IN || n->op == SEG_RULE_OP_NOT_IN)
		assert(n->nvalues >= 1 &&
		       n->nvalues == json_array_size(json_object_get(obj, "value")));
	else
		assert(n->nvalues == 1);
	for (size_t i = 0; i < n->nvalues; i++) {
		const struct seg_rule_value *v = &n->values[i];
		json_t *j = value_of(obj, n, i);
		assert(j);
		if (i > 0)
			assert(v->type == n->values[0].type);
		switch (v->type) {
		case SEG_RULE_V_NUMBER: {
			assert(json_is_number(j));
			assert(strlen(v->text) == v->len && seg_json_number_valid(v->text, v->len));
			json_t *again = json_loadb(
				v->text, v->len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &error);
			json_t *real = json_real(json_number_value(j));
			assert(again && json_equal(again, real));
			json_decref(real);
			json_decref(again);
			struct seg_json_number_form form;
			assert(seg_json_number_measure(v->text, v->len, &form));
			assert(form.storable && form.digits <= SEG_NUMBER_MAX_DIGITS);
			break;
		}
		case SEG_RULE_V_STRING:
			assert(json_is_string(j) && json_string_length(j) == v->len);
			assert(memcmp(json_string_value(j), v->text, v->len) == 0);
			assert(strlen(v->text) == v->len && seg_utf8_valid(v->text, v->len));
			assert(n->op < SEG_RULE_OP_BEFORE);
			break;
		case SEG_RULE_V_BOOLEAN:
			assert(json_is_boolean(j));
			assert(strcmp(v->text, json_is_true(j) ? "true" : "false") == 0);
			break;
		case SEG_RULE_V_INSTANT: {
			int64_t us;
			char again[SEG_RFC3339_MAX];
			assert(json_is_string(j));
			assert(seg_rfc3339_parse(v->text, v->len, &us));
			seg_rfc3339_format(us, again);
			assert(strcmp(again, v->text) == 0);
			break;
		}
		case SEG_RULE_V_OFFSET:
			assert(n->op == SEG_RULE_OP_BEFORE || n->op == SEG_RULE_OP_AFTER);
			assert(!v->text && json_is_string(j));
			assert(v->seconds >= -(int64_t)SEG_RULE_MAX_DAYS * 86400);
			assert(v->seconds <= (int64_t)SEG_RULE_MAX_DAYS * 86400);
			w->deps |= SEG_RULE_DEP_CLOCK;
			break;
		case SEG_RULE_V_DURATION:
			assert(n->op == SEG_RULE_OP_WITHIN_LAST || n->op == SEG_RULE_OP_OLDER_THAN);
			assert(!v->text && v->seconds > 0);
			assert(v->seconds <= (int64_t)SEG_RULE_MAX_DAYS * 86400);
			w->deps |= SEG_RULE_DEP_CLOCK;
			break;
		}
	}
}

static void walk_node(const struct seg_rule_node *n, int depth, struct walk *w)
{
	assert(n && n->pointer);
	json_t *obj = resolve(w->doc, n->pointer);
	assert(json_is_object(obj));
	switch (n->kind) {
	case SEG_RULE_ALL:
	case SEG_RULE_ANY:
		assert(depth <= SEG_RULE_MAX_DEPTH);
		assert(n->nchildren == json_array_size(json_object_get(
					       obj, n->kind == SEG_RULE_ALL ? "all" : "any")));
		for (size_t i = 0; i < n->nchildren; i++)
			walk_node(n->children[i], depth + 1, w);
		return;
	case SEG_RULE_NOT:
		assert(n->nchildren == 1);
		walk_node(n->children[0], depth + 1, w);
		return;
	case SEG_RULE_SEGMENT:
		assert(depth <= SEG_RULE_MAX_DEPTH);
		w->leaves++;
		w->deps |= SEG_RULE_DEP_SEGMENTS;
		assert(n->segment > 0);
		w->ids = realloc(w->ids, (w->nids + 1) * sizeof(*w->ids));
		w->ids[w->nids++] = n->segment;
		return;
	case SEG_RULE_ATTR:
		assert(n->npath >= 1 && n->name);
		w->deps |= SEG_RULE_DEP_ATTRS;
		break;
	case SEG_RULE_FIELD: w->deps |= SEG_RULE_DEP_ATTRS; break;
	case SEG_RULE_METRIC: {
		int factor;
		w->deps |= seg_rule_metric_score(n->name, &factor) ? SEG_RULE_DEP_SCORES
								   : SEG_RULE_DEP_METRICS;
		if (strcmp(n->name, "recency_days") == 0 || strcmp(n->name, "tenure_days") == 0)
			w->deps |= SEG_RULE_DEP_CLOCK;
		break;
	}
	case SEG_RULE_EVENT:
		w->deps |= SEG_RULE_DEP_EVENTS;
		if (n->within_days)
			w->deps |= SEG_RULE_DEP_CLOCK;
		assert(n->within_days >= 0 && n->within_days <= SEG_RULE_MAX_DAYS);
		assert((n->agg == SEG_RULE_AGG_COUNT) == (n->prop == NULL));
		for (size_t i = 0; i < n->nchildren; i++) {
			const struct seg_rule_node *c = n->children[i];
			assert(c->kind == SEG_RULE_PROP && c->name);
			w->leaves++;
			check_values(resolve(w->doc, c->pointer), c, w);
		}
		break;
	case SEG_RULE_PROP: assert(0); break;
	}
	assert(depth <= SEG_RULE_MAX_DEPTH);
	w->leaves++;
	check_values(obj, n, w);
}

static int id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The shape of a tree, for comparing strict and stored parses. */
static void shape(const struct seg_rule_node *n, struct seg_buf *out)
{
	seg_buf_addf(out, "(%d %s %d %zu", n->kind, n->pointer, n->op, n->nvalues);
	for (size_t i = 0; i < n->nchildren; i++)
		shape(n->children[i], out);
	seg_buf_addch(out, ')');
}

static void check_rule(const struct seg_rule *r, const char *text, size_t len)
{
	struct walk w = {0};
	json_error_t error;

	w.doc = seg_json_load(text, len, &error);
	if (!w.doc) /* a NUL escape: jansson accepts it only with JSON_ALLOW_NUL */
		w.doc = json_loadb(text, len,
				   JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES |
					   JSON_DECODE_INT_AS_REAL,
				   &error);
	assert(w.doc);
	walk_node(r->root, 1, &w);
	assert(w.leaves == r->leaves && r->leaves <= SEG_RULE_MAX_LEAVES);
	assert(w.deps == r->deps);
	if (w.nids)
		qsort(w.ids, w.nids, sizeof(*w.ids), id_cmp);
	size_t k = 0;
	for (size_t i = 0; i < w.nids; i++)
		if (k == 0 || w.ids[k - 1] != w.ids[i])
			w.ids[k++] = w.ids[i];
	assert(k == r->nsegments);
	for (size_t i = 0; i < k; i++) {
		assert(r->segments[i] == w.ids[i]);
		const struct seg_rule_node *f = seg_rule_find_segment(r, w.ids[i]);
		assert(f && f->kind == SEG_RULE_SEGMENT && f->segment == w.ids[i]);
	}
	/* Cycles: every reference of the rule refers back to self. */
	if (k) {
		struct seg_rule_graph_entry *g = calloc(k, sizeof(*g));
		const int64_t self = INT64_MAX - 1, other = INT64_MAX - 2;
		for (size_t i = 0; i < k; i++) {
			g[i].id = r->segments[k - 1 - i];
			g[i].refs = &self;
			g[i].nrefs = 1;
		}
		bool has_self = false, has_other = false;
		for (size_t i = 0; i < k; i++) {
			has_self = has_self || r->segments[i] == self;
			has_other = has_other || r->segments[i] == other;
		}
		if (!has_self)
			assert(seg_rule_cycle(r, self, g, k) == r->segments[0]);
		if (!has_other && !has_self)
			assert(seg_rule_cycle(r, other, g, k) == 0);
		assert(seg_rule_cycle(r, r->segments[0], NULL, 0) == r->segments[0]);
		free(g);
	}
	free(w.ids);
	json_decref(w.doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size == 0)
		return 0;
	unsigned mode = data[0];
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	struct seg_rule_env env = {mode & 1 ? &catalog : NULL, mode & 2 ? even_exists : NULL, NULL,
				   false};
	struct seg_problem p;
	struct seg_buf out = SEG_BUF_INIT;
	json_error_t error;

	seg_problem_init(&p);
	struct seg_rule *strict = seg_rule_parse(text, len, &env, "/rule", &p);
	assert((strict != NULL) == (p.count == 0 && p.dropped == 0));
	json_t *doc = json_loadb(text, len,
				 JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES |
					 JSON_DECODE_INT_AS_REAL,
				 &error);
	for (size_t i = 0; i < p.count; i++) {
		assert(p.items[i].where == SEG_WHERE_POINTER);
		assert(strncmp(p.items[i].pointer, "/rule", 5) == 0);
		/* an error points at a part of the rule, or at a missing member of one */
		if (doc && !resolve(doc, p.items[i].pointer + 5)) {
			char *parent = strdup(p.items[i].pointer + 5);
			*strrchr(parent, '/') = '\0';
			assert(resolve(doc, parent));
			free(parent);
		}
		assert(p.items[i].detail[0] &&
		       !(p.items[i].detail[0] >= 'A' && p.items[i].detail[0] <= 'Z'));
	}
	json_decref(doc);
	seg_problem_render(&p, SEG_ERR_INVALID, NULL, &out);
	json_t *back = json_loadb(out.data, out.len, 0, &error);
	assert(back);
	json_decref(back);
	seg_buf_release(&out);
	seg_problem_release(&p);

	env.stored = true;
	seg_problem_init(&p);
	struct seg_rule *stored = seg_rule_parse(text, len, &env, "", &p);
	assert((stored != NULL) == (p.count == 0 && p.dropped == 0));
	seg_problem_release(&p);
	if (strict) {
		assert(stored);
		struct seg_buf a = SEG_BUF_INIT, b = SEG_BUF_INIT;
		shape(strict->root, &a);
		shape(stored->root, &b);
		assert(strcmp(a.data, b.data) == 0);
		assert(strict->deps == stored->deps && strict->nsegments == stored->nsegments);
		seg_buf_release(&a);
		seg_buf_release(&b);
		check_rule(strict, text, len);
	}
	if (stored)
		check_rule(stored, text, len);
	seg_rule_free(strict);
	seg_rule_free(stored);
	return 0;
}

/*
 * libFuzzer driver of the checks segmentd runs on a JSON request body before anything reaches
 * the database: jansson (seg_json_load), the number bounds (seg_json_numbers_check), a customer
 * document in each mode against a small catalogue (seg_customer_doc_check, seg_attr_validate),
 * an event or an array of events as POST /v1/events takes them (seg_event_check, with the
 * element spans of lib/jsonspan.h), and a segment body's "rule" member, taken as raw text by
 * its span and parsed by seg_rule_parse. Finds crashes, leaks and undefined behaviour, and
 * asserts the invariants callers rely on: a refused number's pointer leads to a number, spans
 * hold exactly what jansson sees there, a rule error points under /rule, and every problem
 * document renders as JSON.
 */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonspan.h"
#include "problem.h"
#include "rule.h"
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

static void render_parses(const struct seg_problem *p)
{
	struct seg_buf out = SEG_BUF_INIT;
	json_error_t error;
	seg_problem_render(p, SEG_ERR_INVALID, "/v1/x", &out);
	json_t *back = json_loadb(out.data, out.len, 0, &error);
	assert(back && json_is_object(back));
	json_decref(back);
	seg_buf_release(&out);
}

struct elements {
	json_t *array;
	size_t seen;
};

/* Each element's span holds exactly the element jansson sees (integers read as reals). */
static int on_element(void *ctx, size_t index, const char *start, size_t len)
{
	struct elements *e = ctx;
	json_error_t error;
	assert(index == e->seen);
	e->seen++;
	json_t *v = json_loadb(start, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &error);
	assert(v && json_equal(v, json_array_get(e->array, index)));
	json_decref(v);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct seg_buf ptr = SEG_BUF_INIT;
	struct seg_problem p;
	json_error_t error;
	char detail[160];

	setup();
	json_t *doc = seg_json_load(text, size, &error);
	if (!doc)
		return 0;

	/* the number bounds: a refused number's pointer leads to a number */
	if (!seg_json_numbers_check(text, size, &ptr, detail, sizeof(detail)))
		assert(json_is_number(resolve(doc, ptr.data)) && detail[0]);
	seg_buf_release(&ptr);

	/* a customer, as PUT, PATCH and an import line */
	seg_problem_init(&p);
	for (int mode = SEG_DOC_PUT; mode <= SEG_DOC_IMPORT; mode++) {
		struct seg_customer_doc c;
		size_t n = seg_customer_doc_check(doc, mode, &catalog, "", &p, &c);
		assert(n == 0 || p.count + p.dropped > 0);
	}
	json_t *attrs = json_is_object(doc) ? json_object_get(doc, "attributes") : NULL;
	if (json_is_object(attrs))
		seg_attr_validate(&catalog, attrs, "/attributes", &p);
	render_parses(&p);
	seg_problem_release(&p);

	/* POST /v1/events: one event or an array of them */
	seg_problem_init(&p);
	json_t *whole = json_loadb(
		text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL,
		&error);
	assert(whole);
	if (json_is_array(doc)) {
		struct elements e = {whole, 0};
		assert(seg_json_array_spans(text, size, on_element, &e) == 0);
		assert(e.seen == json_array_size(whole));
		for (size_t i = 0; i < json_array_size(doc) && i < 64; i++) {
			struct seg_event_doc ev;
			char prefix[32];
			snprintf(prefix, sizeof(prefix), "/%zu", i);
			if (seg_event_check(json_array_get(doc, i), prefix, &p, &ev) == 0)
				assert(ev.customer_id && ev.type && ev.occurred_at[0]);
		}
	} else {
		struct seg_event_doc ev;
		if (seg_event_check(doc, "", &p, &ev) == 0)
			assert(ev.customer_id && ev.type && ev.occurred_at[0]);
	}
	render_parses(&p);
	seg_problem_release(&p);

	/* POST /v1/segments: the rule member, by its span of the raw text */
	const char *start;
	size_t n;
	json_t *rule = json_is_object(whole) ? json_object_get(whole, "rule") : NULL;
	bool found = seg_json_member_span(text, size, "rule", &start, &n);
	assert(found == (rule != NULL));
	if (found) {
		json_t *again =
			json_loadb(start, n, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &error);
		assert(again && json_equal(again, rule));
		json_decref(again);
		struct seg_rule_env env = {&catalog, NULL, NULL, false};
		seg_problem_init(&p);
		struct seg_rule *r = seg_rule_parse(start, n, &env, "/rule", &p);
		assert((r != NULL) == (p.count == 0));
		assert(!r || json_is_object(rule));
		for (size_t i = 0; i < p.count; i++)
			assert(strncmp(p.items[i].pointer, "/rule", 5) == 0);
		render_parses(&p);
		seg_problem_release(&p);
		seg_rule_free(r);
	}
	json_decref(whole);
	json_decref(doc);
	return 0;
}

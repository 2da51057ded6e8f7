/*
 * libFuzzer driver: an import body as it reaches segmentd. The input is cut into records
 * (lib/lines.c, NDJSON or CSV mode by the first byte), each record is parsed as JSON and
 * checked as a customer and as an event (lib/validate.c) against a small catalogue, and the
 * problem document is rendered and must parse back as JSON. Finds crashes, leaks and undefined
 * behaviour; asserts the invariants that callers rely on.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "jsonspan.h"
#include "lines.h"
#include "problem.h"
#include "validate.h"

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
	seg_attr_catalog_add(&catalog, "plan", SEG_ATTR_STRING, allowed);
	seg_attr_catalog_add(&catalog, "address.since", SEG_ATTR_DATE, NULL);
	seg_attr_catalog_add(&catalog, "seen", SEG_ATTR_TIMESTAMP, NULL);
	seg_attr_catalog_add(&catalog, "tags", SEG_ATTR_STRING_LIST, NULL);
	json_decref(allowed);
}

static int on_record(void *ctx, const char *data, size_t len, size_t number, bool overlong)
{
	struct seg_problem p;
	struct seg_customer_doc c;
	struct seg_event_doc e;
	struct seg_buf out = SEG_BUF_INIT;
	json_error_t error;
	(void)ctx;

	assert(number > 0);
	if (overlong) {
		assert(data == NULL && len == 0);
		return 0;
	}
	assert(len <= 4096);
	json_t *doc = seg_json_load(data, len, &error);
	if (!doc)
		return 0;
	/* The span of "attributes" holds exactly the value jansson sees there (both read with
	 * integers as reals, so that a huge integer elsewhere changes neither side). */
	const size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL;
	const char *start;
	size_t n;
	json_t *whole = json_loadb(data, len, flags, &error);
	json_t *attrs = json_is_object(whole) ? json_object_get(whole, "attributes") : NULL;
	bool found = seg_json_member_span(data, len, "attributes", &start, &n);
	assert(whole && found == (attrs != NULL));
	if (found) {
		json_t *again = json_loadb(start, n, flags, &error);
		assert(again && json_equal(again, attrs));
		json_decref(again);
	}
	json_decref(whole);
	seg_problem_init(&p);
	for (int mode = SEG_DOC_PUT; mode <= SEG_DOC_IMPORT; mode++) {
		size_t n = seg_customer_doc_check(doc, mode, &catalog, "/0", &p, &c);
		assert(n == 0 || p.count + p.dropped > 0);
		if (n == 0 && mode == SEG_DOC_IMPORT)
			assert(c.id && strlen(c.id) >= 1 && strlen(c.id) <= 128);
	}
	if (seg_event_check(doc, "", &p, &e) == 0)
		assert(e.customer_id && e.type && e.occurred_at[0]);
	seg_problem_render(&p, SEG_ERR_INVALID, NULL, &out);
	json_t *back = json_loadb(out.data, out.len, 0, &error);
	assert(back != NULL);
	json_decref(back);
	seg_buf_release(&out);
	seg_problem_release(&p);
	json_decref(doc);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seg_lines lines;
	setup();
	if (size == 0)
		return 0;
	seg_lines_init(&lines, 4096, data[0] & 1);
	/* Feed in uneven chunks, as a network would. */
	size_t at = 1;
	while (at < size) {
		size_t n = 1 + (data[at] % 61);
		if (n > size - at)
			n = size - at;
		seg_lines_feed(&lines, (const char *)data + at, n, on_record, NULL);
		at += n;
	}
	seg_lines_finish(&lines, on_record, NULL);
	seg_lines_release(&lines);
	return 0;
}

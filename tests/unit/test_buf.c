/* Unit tests of lib/buf.c: the growable buffer and its JSON and COPY escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"

static void test_empty(void **state)
{
	struct seg_buf b = SEG_BUF_INIT, c;
	(void)state;
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	assert_int_equal(b.len, 0);
	seg_buf_init(&c);
	assert_string_equal(c.data, "");
	/* Releasing, resetting and truncating an empty buffer are harmless. */
	seg_buf_release(&b);
	seg_buf_reset(&b);
	seg_buf_truncate(&b, 0);
	seg_buf_truncate(&b, 5);
	seg_buf_add(&b, "", 0);
	seg_buf_add(&b, NULL, 0);
	assert_int_equal(b.cap, 0);
	/* Detaching an empty buffer still gives memory to free. */
	size_t len = 99;
	char *p = seg_buf_detach(&b, &len);
	assert_non_null(p);
	assert_string_equal(p, "");
	assert_int_equal(len, 0);
	free(p);
}

static void test_add_and_grow(void **state)
{
	struct seg_buf b = SEG_BUF_INIT;
	(void)state;
	seg_buf_add(&b, "abc", 3);
	seg_buf_addch(&b, 'd');
	seg_buf_addstr(&b, "ef");
	seg_buf_addf(&b, "-%d-%s", 42, "x");
	assert_string_equal(b.data, "abcdef-42-x");
	assert_int_equal(b.len, 11);
	/* Growing keeps the content and the terminating NUL. */
	for (int i = 0; i < 10000; i++)
		seg_buf_addch(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 10011);
	assert_int_equal(strlen(b.data), 10011);
	assert_true(b.cap > b.len);
	assert_memory_equal(b.data, "abcdef-42-xabc", 14);
	/* Embedded NUL bytes are kept; len counts them. */
	seg_buf_reset(&b);
	seg_buf_add(&b, "a\0b", 3);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b\0", 4);
	/* An empty format adds nothing; a long one is complete. */
	seg_buf_reset(&b);
	seg_buf_addf(&b, "%s", "");
	assert_int_equal(b.len, 0);
	seg_buf_addf(&b, "%0500d", 7);
	assert_int_equal(b.len, 500);
	assert_int_equal(b.data[499], '7');
	assert_int_equal(b.data[500], '\0');
	seg_buf_release(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
}

static void test_truncate_reset_detach(void **state)
{
	struct seg_buf b = SEG_BUF_INIT;
	size_t len;
	(void)state;
	seg_buf_addstr(&b, "hello world");
	seg_buf_truncate(&b, 5);
	assert_string_equal(b.data, "hello");
	seg_buf_truncate(&b, 50); /* longer than the content: no change */
	assert_int_equal(b.len, 5);
	size_t cap = b.cap;
	seg_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(b.cap, cap); /* memory kept */
	seg_buf_addstr(&b, "kept");
	char *p = seg_buf_detach(&b, &len);
	assert_string_equal(p, "kept");
	assert_int_equal(len, 4);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	seg_buf_addstr(&b, "usable"); /* still usable after detach */
	assert_string_equal(b.data, "usable");
	free(p);
	p = seg_buf_detach(&b, NULL);
	free(p);
	seg_buf_release(&b);
}

static void test_grow(void **state)
{
	struct seg_buf b = SEG_BUF_INIT;
	(void)state;
	seg_buf_grow(&b, 1000);
	assert_true(b.cap >= 1001);
	assert_string_equal(b.data, "");
	char *before = b.data;
	for (int i = 0; i < 1000; i++)
		seg_buf_addch(&b, 'x');
	assert_ptr_equal(b.data, before); /* no reallocation within the reserve */
	seg_buf_release(&b);
}

static char *json_str(const char *s, size_t len)
{
	struct seg_buf b = SEG_BUF_INIT;
	seg_buf_add_json_string(&b, s, len);
	return seg_buf_detach(&b, NULL);
}

static void test_json_string(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} v[] = {
		{"", 0, "\"\""},
		{"abc", 3, "\"abc\""},
		{"a\"b", 3, "\"a\\\"b\""},
		{"a\\b", 3, "\"a\\\\b\""},
		{"\n\r\t", 3, "\"\\n\\r\\t\""},
		{"\x01\x1f", 2, "\"\\u0001\\u001f\""},
		{"\x7f", 1, "\"\\u007f\""},
		{"a\0b", 3, "\"a\\u0000b\""},
		{"/", 1, "\"/\""},
		{"caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
		{"\xe2\x80\xa8", 3, "\"\xe2\x80\xa8\""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *got = json_str(v[i].in, v[i].len);
		assert_string_equal(got, v[i].want);
		/* jansson reads back the same bytes. */
		json_t *j = json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		assert_non_null(j);
		assert_int_equal(json_string_length(j), v[i].len);
		if (v[i].len)
			assert_memory_equal(json_string_value(j), v[i].in, v[i].len);
		json_decref(j);
		free(got);
	}
	/* Every byte value below 0x80 round-trips. */
	char all[128];
	for (int c = 0; c < 128; c++)
		all[c] = (char)c;
	char *got = json_str(all, sizeof(all));
	json_t *j = json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	assert_non_null(j);
	assert_int_equal(json_string_length(j), 128);
	assert_memory_equal(json_string_value(j), all, 128);
	json_decref(j);
	free(got);
	/* Appends after what is there. */
	struct seg_buf b = SEG_BUF_INIT;
	seg_buf_addstr(&b, "{\"k\":");
	seg_buf_add_json_string(&b, "v", 1);
	seg_buf_addch(&b, '}');
	assert_string_equal(b.data, "{\"k\":\"v\"}");
	seg_buf_release(&b);
}

static void test_copy_field(void **state)
{
	struct seg_buf b = SEG_BUF_INIT;
	(void)state;
	seg_buf_add_copy_field(&b, "plain", 5);
	assert_string_equal(b.data, "plain");
	seg_buf_reset(&b);
	seg_buf_add_copy_field(&b, "a\\b\tc\nd\re", 9);
	assert_string_equal(b.data, "a\\\\b\\tc\\nd\\re");
	seg_buf_reset(&b);
	seg_buf_add_copy_field(&b, NULL, 0);
	assert_string_equal(b.data, "\\N");
	seg_buf_reset(&b);
	seg_buf_add_copy_field(&b, "", 0); /* empty string, not NULL */
	assert_int_equal(b.len, 0);
	seg_buf_add_copy_field(&b, "\\N", 2); /* the literal text \N is escaped */
	assert_string_equal(b.data, "\\\\N");
	seg_buf_reset(&b);
	seg_buf_add_copy_field(&b, "x", 1);
	seg_buf_addch(&b, '\t');
	seg_buf_add_copy_field(&b, "caf\xc3\xa9", 5);
	assert_string_equal(b.data, "x\tcaf\xc3\xa9");
	seg_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_add_and_grow),
		cmocka_unit_test(test_truncate_reset_detach),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_copy_field),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

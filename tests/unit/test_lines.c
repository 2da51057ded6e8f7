/* Unit tests of lib/lines.c: records from a stream fed in arbitrary chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "lines.h"

/* Collects the records as "number:data|" or "number:!|" for an overlong one. */
struct log {
	struct seg_buf text;
	size_t records;
	size_t stop_at; /* return 7 from the callback for this record number (0: never) */
};

static int record(void *ctx, const char *data, size_t len, size_t number, bool overlong)
{
	struct log *lg = ctx;
	lg->records++;
	seg_buf_addf(&lg->text, "%zu:", number);
	if (overlong) {
		assert_null(data);
		assert_int_equal(len, 0);
		seg_buf_addch(&lg->text, '!');
	} else {
		assert_non_null(data);
		seg_buf_add(&lg->text, data, len);
	}
	seg_buf_addch(&lg->text, '|');
	return number == lg->stop_at ? 7 : 0;
}

/* Splits in[0..len) at the positions cuts[0..ncuts) (ascending) and returns the log. */
static char *run_cuts(const char *in, size_t len, size_t max, bool csv, const size_t *cuts,
		      size_t ncuts)
{
	struct seg_lines l;
	struct log lg = {SEG_BUF_INIT, 0, 0};
	size_t from = 0;
	seg_lines_init(&l, max, csv);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		assert_int_equal(seg_lines_feed(&l, in + from, to - from, record, &lg), 0);
		from = to;
	}
	assert_int_equal(seg_lines_finish(&l, record, &lg), 0);
	assert_int_equal(l.number, lg.records);
	assert_int_equal(l.seen, len);
	seg_lines_release(&l);
	return seg_buf_detach(&lg.text, NULL);
}

static char *run(const char *in, size_t max, bool csv)
{
	return run_cuts(in, strlen(in), max, csv, NULL, 0);
}

static char *run_bytewise(const char *in, size_t len, size_t max, bool csv)
{
	struct seg_lines l;
	struct log lg = {SEG_BUF_INIT, 0, 0};
	seg_lines_init(&l, max, csv);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(seg_lines_feed(&l, in + i, 1, record, &lg), 0);
	assert_int_equal(seg_lines_finish(&l, record, &lg), 0);
	seg_lines_release(&l);
	return seg_buf_detach(&lg.text, NULL);
}

static void expect(const char *in, size_t max, bool csv, const char *want)
{
	char *got = run(in, max, csv);
	assert_string_equal(got, want);
	free(got);
	got = run_bytewise(in, strlen(in), max, csv);
	assert_string_equal(got, want);
	free(got);
}

#define NDJSON(in, want) expect(in, 1024, false, want)
#define CSV(in, want)	 expect(in, 1024, true, want)

static void test_empty_and_simple(void **state)
{
	(void)state;
	NDJSON("", "");
	NDJSON("a", "1:a|");
	NDJSON("a\n", "1:a|");
	NDJSON("a\nb\n", "1:a|2:b|");
	NDJSON("a\nb", "1:a|2:b|"); /* final record without "\n" */
	NDJSON("{\"id\":\"x\"}\n{\"id\":\"y\"}", "1:{\"id\":\"x\"}|2:{\"id\":\"y\"}|");
}

static void test_blank_lines_counted(void **state)
{
	(void)state;
	NDJSON("\n", "1:|");
	NDJSON("\n\n", "1:|2:|");
	NDJSON("a\n\n\nb\n", "1:a|2:|3:|4:b|");
	NDJSON("a\r\n\r\nb", "1:a|2:|3:b|");
	NDJSON("   \n", "1:   |");
}

static void test_crlf(void **state)
{
	(void)state;
	NDJSON("a\r\nb\r\n", "1:a|2:b|");
	NDJSON("a\r\nb", "1:a|2:b|");
	NDJSON("a\rb\n", "1:a\rb|"); /* a lone "\r" is data */
	NDJSON("a\r\r\n", "1:a\r|"); /* only the one just before "\n" goes */
	NDJSON("\r\n", "1:|");
	NDJSON("a\r", "1:a\r|"); /* no "\n" follows: the "\r" stays */
	NDJSON("\r", "1:\r|");
}

static void test_bom(void **state)
{
	(void)state;
	NDJSON("\xef\xbb\xbf", "");
	NDJSON("\xef\xbb\xbf\n", "1:|");
	NDJSON("\xef\xbb\xbf"
	       "a\nb\n",
	       "1:a|2:b|");
	NDJSON("\xef\xbb\xbf"
	       "a\r\n",
	       "1:a|");
	/* Only at the very start of the stream. */
	NDJSON("a\n\xef\xbb\xbf"
	       "b\n",
	       "1:a|2:\xef\xbb\xbf"
	       "b|");
	NDJSON("\n\xef\xbb\xbf"
	       "b",
	       "1:|2:\xef\xbb\xbf"
	       "b|");
	NDJSON("\xef\xbb\xbf\xef\xbb\xbf"
	       "a",
	       "1:\xef\xbb\xbf"
	       "a|");
	/* A partial byte order mark is data. */
	NDJSON("\xef\xbb"
	       "a\n",
	       "1:\xef\xbb"
	       "a|");
	NDJSON("\xef\n", "1:\xef|");
	NDJSON("\xef\xbb", "1:\xef\xbb|");
	NDJSON("\xef", "1:\xef|");
	NDJSON("\xbb\xbf", "1:\xbb\xbf|");
	CSV("\xef\xbb\xbf\"a\nb\",c\n", "1:\"a\nb\",c|");
}

static void test_overlong(void **state)
{
	(void)state;
	/* max 4: exactly at the limit passes, one over is reported once. */
	expect("abcd\nabcde\nxy\n", 4, false, "1:abcd|2:!|3:xy|");
	expect("abcde\n", 4, false, "1:!|");
	expect("abcdefghijklmnopqrstuvwxyz\nok\n", 4, false, "1:!|2:ok|");
	expect("abcdefghijklmnopqrstuvwxyz\n\nok", 4, false, "1:!|2:|3:ok|");
	expect("abcdefghij\nklmnopqrst\n", 4, false, "1:!|2:!|");
	/* The "\r" of a "\r\n" does not count; any other "\r" does. */
	expect("abcd\r\nx\n", 4, false, "1:abcd|2:x|");
	expect("abc\r\r\nx\n", 4, false, "1:abc\r|2:x|");
	expect("abcd\rx\n", 4, false, "1:!|");
	expect("abcd\rx\ny\n", 4, false, "1:!|2:y|");
	expect("abcd\r", 4, false, "1:!|");
	expect("abc\r", 4, false, "1:abc\r|");
	/* A final record without "\n". */
	expect("ab\nabcdefgh", 4, false, "1:ab|2:!|");
	expect("ab\nabcd", 4, false, "1:ab|2:abcd|");
	/* max 0 allows only blank records. */
	expect("\n\r\na\n\n", 0, false, "1:|2:|3:!|4:|");
	/* A byte order mark does not count towards the limit, even a small one. */
	expect("\xef\xbb\xbf"
	       "abcd\n",
	       4, false, "1:abcd|");
	expect("\xef\xbb\xbf"
	       "a\n",
	       1, false, "1:a|");
	expect("\xef\xbb"
	       "a\n",
	       1, false, "1:!|");
	expect("\xef\xbb", 1, false, "1:!|");
	/* CSV: a quoted newline inside an overlong record does not end it. */
	expect("\"abcdefghij\nklm\",n\nok\n", 8, true, "1:!|2:ok|");
	expect("x,\"\"\"abcdefghij\nklm\"\nok\n", 8, true, "1:!|2:ok|");
	expect("\"a\nb\",c\n", 8, true, "1:\"a\nb\",c|");
}

static void test_csv_quotes(void **state)
{
	(void)state;
	CSV("a,b\nc,d\n", "1:a,b|2:c,d|");
	CSV("a,\"b\nc\"\nd\n", "1:a,\"b\nc\"|2:d|");
	CSV("\"b\r\nc\"\r\nd\r\n", "1:\"b\r\nc\"|2:d|");
	CSV("\"a\"\"b\",c\nd\n", "1:\"a\"\"b\",c|2:d|");
	CSV("\"a\"\"\nb\"\nc\n", "1:\"a\"\"\nb\"|2:c|"); /* "" keeps the field open */
	CSV("\"\"\n", "1:\"\"|");			 /* an empty quoted field */
	CSV("\"\"\"\"\nx\n", "1:\"\"\"\"|2:x|");	 /* a field holding one quote */
	CSV("a,\"\",\"\n\"\n", "1:a,\"\",\"\n\"|");
	CSV("\"\n\n\"\n", "1:\"\n\n\"|");
	/* A quote inside an unquoted field is an ordinary character. */
	CSV("5\" screen,x\ny\n", "1:5\" screen,x|2:y|");
	CSV("a\"b\"c\nd\n", "1:a\"b\"c|2:d|");
	/* An unterminated quote runs to the end of the stream. */
	CSV("a,\"b\nc\nd", "1:a,\"b\nc\nd|");
	/* In NDJSON mode quotes mean nothing to the splitter. */
	NDJSON("\"a\nb\"\n", "1:\"a|2:b\"|");
}

/* A stream with every feature, split at every position and at every pair of positions. */
static void test_chunk_boundaries(void **state)
{
	static const struct {
		const char *in;
		size_t max;
		bool csv;
	} streams[] = {
		{"\xef\xbb\xbf{\"a\":1}\r\n\r\n{\"b\":2}\nthis line is far too "
		 "long\r\n\n{\"c\":\"x\"}\r",
		 12, false},
		{"\xef\xbb\xbfid,name\r\nc-1,\"multi\r\nline\"\r\n\r\nc-2,\"a \"\"q\"\"\"\n"
		 "c-3,\"way too long \"\"\n\" field\",x\nc-4,5\" tv\nc-5,end",
		 20, true},
		{"\xef\xbb"
		 "abc\n\xef\xbb\xbf\nabcdefgh\r\nx",
		 8, false},
	};
	(void)state;
	for (size_t s = 0; s < sizeof(streams) / sizeof(streams[0]); s++) {
		const char *in = streams[s].in;
		size_t n = strlen(in), max = streams[s].max;
		bool csv = streams[s].csv;
		char *whole = run(in, max, csv);
		char *bytes = run_bytewise(in, n, max, csv);
		assert_string_equal(bytes, whole);
		free(bytes);
		for (size_t a = 0; a <= n; a++) {
			for (size_t b = a; b <= n; b++) {
				size_t cuts[2] = {a, b};
				char *got = run_cuts(in, n, max, csv, cuts, 2);
				assert_string_equal(got, whole);
				free(got);
			}
		}
		free(whole);
	}
}

static void test_chunk_boundaries_expected(void **state)
{
	(void)state;
	/* What the first two streams above split into, spelled out once. */
	expect("\xef\xbb\xbf{\"a\":1}\r\n\r\n{\"b\":2}\nthis line is far too "
	       "long\r\n\n{\"c\":\"x\"}\r",
	       12, false, "1:{\"a\":1}|2:|3:{\"b\":2}|4:!|5:|6:{\"c\":\"x\"}\r|");
	expect("\xef\xbb\xbfid,name\r\nc-1,\"multi\r\nline\"\r\n\r\nc-2,\"a \"\"q\"\"\"\n"
	       "c-3,\"way too long \"\"\n\" field\",x\nc-4,5\" tv\nc-5,end",
	       20, true,
	       "1:id,name|2:c-1,\"multi\r\nline\"|3:|4:c-2,\"a \"\"q\"\"\"|5:!|6:c-4,5\" "
	       "tv|7:c-5,end|");
}

/* Random streams over the bytes that matter, cut into random chunks, split as when whole. */
static void test_random_chunks(void **state)
{
	static const char alphabet[] = {'a', ',', '"', '\r', '\n', '\xef', '\xbb', '\xbf'};
	uint32_t seed = 12345;
	char in[64];
	size_t cuts[8];
	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = 0, ncuts;
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 8) % sizeof(in);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alphabet[(seed >> 16) % sizeof(alphabet)];
		}
		if (round % 3 == 0 && n >= 3)
			memcpy(in, "\xef\xbb\xbf", 3);
		seed = seed * 1103515245u + 12345u;
		ncuts = (seed >> 8) % 8;
		for (size_t c = 0; c < ncuts; c++) {
			seed = seed * 1103515245u + 12345u;
			cuts[c] = n ? (seed >> 8) % (n + 1) : 0;
		}
		for (size_t c = 1; c < ncuts; c++) /* insertion sort */
			for (size_t d = c; d > 0 && cuts[d - 1] > cuts[d]; d--) {
				size_t t = cuts[d];
				cuts[d] = cuts[d - 1];
				cuts[d - 1] = t;
			}
		size_t max = (size_t)(round % 7);
		bool csv = round % 2;
		char *whole = run_cuts(in, n, max, csv, NULL, 0);
		char *parts = run_cuts(in, n, max, csv, cuts, ncuts);
		char *bytes = run_bytewise(in, n, max, csv);
		assert_string_equal(parts, whole);
		assert_string_equal(bytes, whole);
		free(whole);
		free(parts);
		free(bytes);
	}
}

static void test_callback_stops(void **state)
{
	struct seg_lines l;
	struct log lg = {SEG_BUF_INIT, 0, 2};
	(void)state;
	seg_lines_init(&l, 1024, false);
	assert_int_equal(seg_lines_feed(&l, "a\nb\nc\n", 6, record, &lg), 7);
	assert_string_equal(lg.text.data, "1:a|2:b|");
	assert_int_equal(l.number, 2);
	seg_lines_release(&l);
	seg_buf_release(&lg.text);

	/* From finish, and for an overlong record. */
	struct log lg2 = {SEG_BUF_INIT, 0, 1};
	seg_lines_init(&l, 1024, false);
	assert_int_equal(seg_lines_feed(&l, "tail", 4, record, &lg2), 0);
	assert_int_equal(seg_lines_finish(&l, record, &lg2), 7);
	seg_lines_release(&l);
	seg_buf_release(&lg2.text);

	struct log lg3 = {SEG_BUF_INIT, 0, 1};
	seg_lines_init(&l, 2, false);
	assert_int_equal(seg_lines_feed(&l, "toolong\nb\n", 10, record, &lg3), 7);
	assert_string_equal(lg3.text.data, "1:!|");
	seg_lines_release(&l);
	seg_buf_release(&lg3.text);
}

static void test_large_records(void **state)
{
	/* A record of exactly 1 MiB passes and one of 1 MiB + 1 does not, in 4 KiB chunks. */
	size_t max = (size_t)1 << 20, n = 2 * max + 3 + 2;
	char *in = malloc(n);
	struct seg_lines l;
	struct log lg = {SEG_BUF_INIT, 0, 0};
	(void)state;
	assert_non_null(in);
	memset(in, 'x', n);
	in[max] = '\n';
	in[2 * max + 2] = '\n';
	in[2 * max + 3] = 'o';
	in[2 * max + 4] = 'k';
	seg_lines_init(&l, max, false);
	for (size_t i = 0; i < n; i += 4096)
		assert_int_equal(
			seg_lines_feed(&l, in + i, n - i < 4096 ? n - i : 4096, record, &lg), 0);
	assert_int_equal(seg_lines_finish(&l, record, &lg), 0);
	assert_int_equal(lg.records, 3);
	assert_int_equal(lg.text.len, 2 + max + 1 + 4 + 5);
	assert_memory_equal(lg.text.data + 2 + max, "|2:!|3:ok|", 10);
	/* Memory stays bounded: the skipped record was never buffered. */
	assert_true(l.pending.cap <= 2 * max + 64);
	seg_lines_release(&l);
	seg_buf_release(&lg.text);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_simple),
		cmocka_unit_test(test_blank_lines_counted),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_csv_quotes),
		cmocka_unit_test(test_chunk_boundaries),
		cmocka_unit_test(test_chunk_boundaries_expected),
		cmocka_unit_test(test_random_chunks),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_large_records),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of lib/text.c: UTF-8, identifiers, percent decoding, base64url, JSON numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "text.h"

#define UTF8(s) seg_utf8_valid(s, sizeof(s) - 1)

static void test_id_parse(void **state)
{
	(void)state;
	int64_t id = -1;
	assert_true(seg_id_parse("1", 1, &id));
	assert_int_equal(id, 1);
	assert_true(seg_id_parse("999999999999999999", 18, &id));
	assert_true(id == 999999999999999999LL);
	assert_true(seg_id_parse("0042", 4, &id));
	assert_int_equal(id, 42);
	assert_true(seg_id_parse("12,34", 2, &id)); /* only the first len bytes */
	assert_int_equal(id, 12);
	id = -1;
	assert_false(seg_id_parse("1234567890123456789", 19, &id)); /* could overflow */
	assert_false(seg_id_parse("", 0, &id));
	assert_false(seg_id_parse(NULL, 0, &id));
	assert_false(seg_id_parse("12a", 3, &id));
	assert_false(seg_id_parse("-1", 2, &id));
	assert_false(seg_id_parse("+1", 2, &id));
	assert_false(seg_id_parse(" 1", 2, &id));
	assert_int_equal(id, -1); /* untouched on failure */
}

static void test_utf8_valid(void **state)
{
	(void)state;
	assert_true(seg_utf8_valid("", 0));
	assert_true(seg_utf8_valid(NULL, 0));
	assert_true(UTF8("plain ascii"));
	assert_true(UTF8("\x00"));	       /* U+0000 is well-formed */
	assert_true(UTF8("caf\xc3\xa9"));      /* é, 2 bytes */
	assert_true(UTF8("\xe2\x82\xac"));     /* €, 3 bytes */
	assert_true(UTF8("\xf0\x9f\x98\x80")); /* U+1F600, 4 bytes */
	assert_true(UTF8("\xc2\x80"));	       /* U+0080, lowest 2-byte */
	assert_true(UTF8("\xdf\xbf"));	       /* U+07FF */
	assert_true(UTF8("\xe0\xa0\x80"));     /* U+0800, lowest 3-byte */
	assert_true(UTF8("\xed\x9f\xbf"));     /* U+D7FF, just below surrogates */
	assert_true(UTF8("\xee\x80\x80"));     /* U+E000, just above surrogates */
	assert_true(UTF8("\xef\xbf\xbf"));     /* U+FFFF */
	assert_true(UTF8("\xf0\x90\x80\x80")); /* U+10000 */
	assert_true(UTF8("\xf4\x8f\xbf\xbf")); /* U+10FFFF, the last code point */

	assert_false(UTF8("\x80")); /* lone continuation byte */
	assert_false(UTF8("\xbf"));
	assert_false(UTF8("\xc0\x80"));			/* overlong NUL */
	assert_false(UTF8("\xc1\xbf"));			/* overlong U+007F */
	assert_false(UTF8("\xe0\x80\x80"));		/* overlong 3-byte */
	assert_false(UTF8("\xe0\x9f\xbf"));		/* overlong U+07FF */
	assert_false(UTF8("\xf0\x80\x80\x80"));		/* overlong 4-byte */
	assert_false(UTF8("\xf0\x8f\xbf\xbf"));		/* overlong U+FFFF */
	assert_false(UTF8("\xed\xa0\x80"));		/* U+D800 */
	assert_false(UTF8("\xed\xbf\xbf"));		/* U+DFFF */
	assert_false(UTF8("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 surrogate pair */
	assert_false(UTF8("\xf4\x90\x80\x80"));		/* U+110000 */
	assert_false(UTF8("\xf5\x80\x80\x80"));
	assert_false(UTF8("\xf8\x88\x80\x80\x80")); /* 5-byte form */
	assert_false(UTF8("\xfe"));
	assert_false(UTF8("\xff"));
	assert_false(UTF8("\xc3"));	    /* truncated 2-byte */
	assert_false(UTF8("\xe2\x82"));	    /* truncated 3-byte */
	assert_false(UTF8("\xf0\x9f\x98")); /* truncated 4-byte */
	assert_false(UTF8("a\xc3"
			  "b")); /* continuation replaced by ASCII */
	assert_false(UTF8("\xe2\x28\xa1"));
	/* The length is honoured: a valid prefix of an invalid buffer. */
	assert_true(seg_utf8_valid("ab\xff", 2));
	assert_false(seg_utf8_valid("\xc3\xa9", 1));
}

#define PRINTABLE(s, min, max) seg_printable_valid(s, sizeof(s) - 1, min, max)

static void test_printable_valid(void **state)
{
	char buf[130];
	(void)state;
	assert_true(PRINTABLE("c-1", 1, 128));
	assert_true(PRINTABLE("caf\xc3\xa9 \xf0\x9f\x98\x80", 1, 128));
	assert_true(PRINTABLE(" ", 1, 128));	    /* space is printable */
	assert_true(PRINTABLE("\xc2\xa0", 1, 128)); /* U+00A0, first after C1 */
	assert_false(PRINTABLE("", 1, 128));
	assert_true(PRINTABLE("", 0, 128));
	assert_false(PRINTABLE("a\x00"
			       "b",
			       1, 128));
	assert_false(PRINTABLE("a\tb", 1, 128));
	assert_false(PRINTABLE("a\nb", 1, 128));
	assert_false(PRINTABLE("\x1f", 1, 128));
	assert_false(PRINTABLE("\x7f", 1, 128));     /* DEL */
	assert_false(PRINTABLE("\xc2\x80", 1, 128)); /* U+0080, C1 */
	assert_false(PRINTABLE("\xc2\x85", 1, 128)); /* U+0085 NEL */
	assert_false(PRINTABLE("\xc2\x9f", 1, 128)); /* U+009F, last C1 */
	assert_false(PRINTABLE("\xc0\xa0", 1, 128)); /* overlong space */
	assert_false(PRINTABLE("\xed\xa0\x80", 1, 128));
	assert_false(PRINTABLE("\xf4\x90\x80\x80", 1, 128));

	/* Lengths are bytes: exactly at the limit and one over. */
	memset(buf, 'x', sizeof(buf));
	assert_true(seg_printable_valid(buf, 128, 1, 128));
	assert_false(seg_printable_valid(buf, 129, 1, 128));
	assert_true(seg_printable_valid(buf, 64, 1, 64));
	assert_false(seg_printable_valid(buf, 65, 1, 64));
	/* 32 four-byte characters are 128 bytes; 33 are too many. */
	for (int i = 0; i < 32; i++)
		memcpy(buf + 4 * i, "\xf0\x9f\x98\x80", 4);
	assert_true(seg_printable_valid(buf, 128, 1, 128));
	assert_false(seg_printable_valid(buf, 127, 1, 128)); /* cut inside a character */
	memcpy(buf + 128, "ab", 2);
	assert_false(seg_printable_valid(buf, 129, 1, 128));
}

static void test_attr_name_valid(void **state)
{
	char buf[80];
	(void)state;
	assert_true(seg_attr_name_valid("age"));
	assert_true(seg_attr_name_valid("address.city"));
	assert_true(seg_attr_name_valid("a.b.c"));
	assert_true(seg_attr_name_valid("_"));
	assert_true(seg_attr_name_valid("A_9.z"));
	assert_false(seg_attr_name_valid(NULL));
	assert_false(seg_attr_name_valid(""));
	assert_false(seg_attr_name_valid("."));
	assert_false(seg_attr_name_valid(".age"));
	assert_false(seg_attr_name_valid("age."));
	assert_false(seg_attr_name_valid("a..b"));
	assert_false(seg_attr_name_valid("a-b"));
	assert_false(seg_attr_name_valid("a b"));
	assert_false(seg_attr_name_valid("a/b"));
	assert_false(seg_attr_name_valid("caf\xc3\xa9"));

	memset(buf, 'a', sizeof(buf));
	buf[64] = '\0';
	assert_true(seg_attr_name_valid(buf));
	buf[64] = 'a';
	buf[65] = '\0';
	assert_false(seg_attr_name_valid(buf));
	buf[63] = '.';
	buf[64] = '\0';
	assert_false(seg_attr_name_valid(buf)); /* trailing dot at the limit */
	buf[62] = '.';
	buf[63] = 'b';
	assert_true(seg_attr_name_valid(buf));
}

static bool pct(const char *in, const char *want)
{
	struct seg_buf b = SEG_BUF_INIT;
	bool ok = seg_percent_decode(in, strlen(in), &b);
	if (ok && want)
		ok = b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
	seg_buf_release(&b);
	return ok;
}

static void test_percent_decode(void **state)
{
	struct seg_buf b = SEG_BUF_INIT;
	(void)state;
	assert_true(pct("", ""));
	assert_true(pct("abc", "abc"));
	assert_true(pct("a+b", "a+b"));
	assert_true(pct("a%20b", "a b"));
	assert_true(pct("%2F%2f", "//"));
	assert_true(pct("%41%42%43", "ABC"));
	assert_true(pct("%25", "%"));
	assert_true(pct("%C3%A9", "\xc3\xa9"));
	assert_true(pct("%F0%9F%98%80", "\xf0\x9f\x98\x80"));
	assert_true(pct("caf%c3%a9!", "caf\xc3\xa9!"));

	assert_false(pct("%", NULL));
	assert_false(pct("%4", NULL));
	assert_false(pct("abc%", NULL));
	assert_false(pct("abc%2", NULL));
	assert_false(pct("%GG", NULL));
	assert_false(pct("%4G", NULL));
	assert_false(pct("%G4", NULL));
	assert_false(pct("% 4", NULL));
	assert_false(pct("%00", NULL)); /* decoded NUL */
	assert_false(pct("a%00b", NULL));
	assert_false(pct("%C3", NULL));		 /* truncated UTF-8 */
	assert_false(pct("%C0%80", NULL));	 /* overlong NUL */
	assert_false(pct("%ED%A0%80", NULL));	 /* surrogate */
	assert_false(pct("%F4%90%80%80", NULL)); /* > U+10FFFF */
	assert_false(pct("%FF", NULL));

	/* Appends to what out holds; the length bounds the input. */
	seg_buf_addstr(&b, "x=");
	assert_true(seg_percent_decode("%41BC", 4, &b));
	assert_string_equal(b.data, "x=AB");
	/* Only the appended part is validated. */
	seg_buf_reset(&b);
	seg_buf_add(&b, "\xff", 1);
	assert_true(seg_percent_decode("ok", 2, &b));
	seg_buf_release(&b);
}

static void test_base64url_round_trip(void **state)
{
	unsigned char data[64];
	struct seg_buf enc = SEG_BUF_INIT, dec = SEG_BUF_INIT;
	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 251); /* covers high bytes, '+' and '/' values */
	for (size_t len = 0; len <= sizeof(data); len++) {
		seg_buf_reset(&enc);
		seg_buf_reset(&dec);
		seg_base64url_encode(data, len, &enc);
		assert_int_equal(enc.len, (len * 4 + 2) / 3);
		assert_null(strpbrk(enc.data, "+/="));
		assert_true(seg_base64url_decode(enc.data, enc.len, &dec));
		assert_int_equal(dec.len, len);
		if (len)
			assert_memory_equal(dec.data, data, len);
	}
	/* All 0xff bytes give the two characters outside the standard alphabet. */
	memset(data, 0xff, 3);
	seg_buf_reset(&enc);
	seg_base64url_encode(data, 3, &enc);
	assert_string_equal(enc.data, "____");
	memset(data, 0xfb, 3);
	seg_buf_reset(&enc);
	seg_base64url_encode(data, 3, &enc);
	assert_string_equal(enc.data, "-_v7");
	seg_buf_release(&enc);
	seg_buf_release(&dec);
}

static void test_base64url_known(void **state)
{
	struct seg_buf b = SEG_BUF_INIT;
	static const struct {
		const char *plain, *enc;
	} v[] = {
		/* RFC 4648 §10, without padding */
		{"", ""},	    {"f", "Zg"},	  {"fo", "Zm8"},	  {"foo", "Zm9v"},
		{"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		seg_buf_reset(&b);
		seg_base64url_encode(v[i].plain, strlen(v[i].plain), &b);
		assert_string_equal(b.data, v[i].enc);
		seg_buf_reset(&b);
		assert_true(seg_base64url_decode(v[i].enc, strlen(v[i].enc), &b));
		assert_string_equal(b.data, v[i].plain);
	}
	seg_buf_release(&b);
}

static bool b64_ok(const char *s)
{
	struct seg_buf b = SEG_BUF_INIT;
	bool ok = seg_base64url_decode(s, strlen(s), &b);
	seg_buf_release(&b);
	return ok;
}

static void test_base64url_invalid(void **state)
{
	(void)state;
	assert_true(b64_ok(""));
	assert_false(b64_ok("Z")); /* 4n + 1 characters */
	assert_false(b64_ok("Zm9vY"));
	assert_false(b64_ok("Zg==")); /* padding */
	assert_false(b64_ok("Zm8="));
	assert_false(b64_ok("Zm+v")); /* standard alphabet */
	assert_false(b64_ok("Zm/v"));
	assert_false(b64_ok("Zm 9v"));
	assert_false(b64_ok("Zm9v\n"));
	assert_false(b64_ok("Zm.v"));
	assert_false(b64_ok("Zm\x80v"));
	assert_false(b64_ok("Zh"));  /* unused bits set: not the canonical "Zg" */
	assert_false(b64_ok("Zm9")); /* not the canonical "Zm8" */
	assert_true(b64_ok("AA"));
	assert_true(b64_ok("AAA"));
	assert_true(b64_ok("-_-_"));
}

#define NUM(s) seg_json_number_valid(s, sizeof(s) - 1)

static void test_json_number(void **state)
{
	(void)state;
	assert_true(NUM("0"));
	assert_true(NUM("-0"));
	assert_true(NUM("7"));
	assert_true(NUM("30"));
	assert_true(NUM("-30"));
	assert_true(NUM("30.0"));
	assert_true(NUM("0.5"));
	assert_true(NUM("-0.5"));
	assert_true(NUM("1e5"));
	assert_true(NUM("1E5"));
	assert_true(NUM("1e+5"));
	assert_true(NUM("1e-5"));
	assert_true(NUM("0e0"));
	assert_true(NUM("-1.25e-07"));
	assert_true(NUM("123456789012345678901234567890"));

	assert_false(seg_json_number_valid("", 0));
	assert_false(NUM("-"));
	assert_false(NUM("01"));
	assert_false(NUM("-01"));
	assert_false(NUM("00"));
	assert_false(NUM("1."));
	assert_false(NUM(".5"));
	assert_false(NUM("-.5"));
	assert_false(NUM("1e"));
	assert_false(NUM("1e+"));
	assert_false(NUM("1e-"));
	assert_false(NUM("1.e5"));
	assert_false(NUM("+1"));
	assert_false(NUM(" 1"));
	assert_false(NUM("1 "));
	assert_false(NUM("1,5"));
	assert_false(NUM("0x10"));
	assert_false(NUM("NaN"));
	assert_false(NUM("Infinity"));
	assert_false(NUM("-Infinity"));
	assert_false(NUM("1e5.5"));
	assert_false(NUM("--1"));
	assert_false(NUM("1\x00"));
	/* The length bounds the input. */
	assert_true(seg_json_number_valid("12x", 2));
	assert_false(seg_json_number_valid("1.5", 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_parse),	cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_printable_valid), cmocka_unit_test(test_attr_name_valid),
		cmocka_unit_test(test_percent_decode),	cmocka_unit_test(test_base64url_round_trip),
		cmocka_unit_test(test_base64url_known), cmocka_unit_test(test_base64url_invalid),
		cmocka_unit_test(test_json_number),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Text helpers with no I/O: UTF-8 validation (Unicode's table of well-formed byte sequences),
 * the identifier rules of the API, percent decoding, base64url and the JSON number grammar.
 * See text.h.
 */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>

#include <string.h>

/*
 * Decodes one well-formed UTF-8 sequence at s[0..len) (len > 0). Returns its length and sets
 * *cp, or returns 0 when the bytes there are not well-formed (overlong, surrogate, beyond
 * U+10FFFF, truncated, stray continuation byte).
 */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0; /* no overlongs */
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates D800..DFFF */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90; /* no overlongs */
		else if (c == 0xf4)
			hi = 0x8f; /* nothing above U+10FFFF */
	} else {
		return 0; /* 80..C1 (continuation or overlong lead), F5..FF */
	}
	if (len < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	v = (v << 6) | (s[1] & 0x3f);
	for (size_t i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	*cp = v;
	return n;
}

bool seg_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_decode(p + i, len - i, &cp);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

bool seg_printable_valid(const char *s, size_t len, size_t min, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	if (len < min || len > max)
		return false;
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (!n)
			return false;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return false;
		i += n;
	}
	return true;
}

static bool is_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

bool seg_attr_name_valid(const char *s)
{
	size_t len, seg = 0;
	if (!s)
		return false;
	len = strlen(s);
	if (len < 1 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (!seg)
				return false; /* leading or double dot */
			seg = 0;
		} else if (is_name_char(s[i])) {
			seg++;
		} else {
			return false;
		}
	}
	return seg > 0; /* no trailing dot */
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool seg_percent_decode(const char *s, size_t len, struct seg_buf *out)
{
	size_t start = out->len, i = 0, run = 0;
	seg_buf_grow(out, len);
	while (i < len) {
		if (s[i] != '%') {
			i++;
			run++;
			continue;
		}
		seg_buf_add(out, s + i - run, run);
		run = 0;
		if (len - i < 3)
			return false;
		int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
		if (hi < 0 || lo < 0)
			return false;
		seg_buf_addch(out, (char)(hi << 4 | lo));
		i += 3;
	}
	seg_buf_add(out, s + len - run, run);
	if (memchr(out->data + start, '\0', out->len - start))
		return false;
	return seg_utf8_valid(out->data + start, out->len - start);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void seg_base64url_encode(const void *data, size_t len, struct seg_buf *out)
{
	const unsigned char *p = data;
	char q[4];
	size_t i = 0;
	seg_buf_grow(out, (len + 2) / 3 * 4);
	for (; len - i >= 3; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		q[0] = b64url[v >> 18];
		q[1] = b64url[(v >> 12) & 63];
		q[2] = b64url[(v >> 6) & 63];
		q[3] = b64url[v & 63];
		seg_buf_add(out, q, 4);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		q[0] = b64url[v >> 18];
		q[1] = b64url[(v >> 12) & 63];
		seg_buf_add(out, q, 2);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		q[0] = b64url[v >> 18];
		q[1] = b64url[(v >> 12) & 63];
		q[2] = b64url[(v >> 6) & 63];
		seg_buf_add(out, q, 3);
	}
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Strict: besides characters outside the alphabet and padding, refuses a length of 4n + 1
 * and unused trailing bits that are not zero, so every byte string has exactly one encoding.
 */
bool seg_base64url_decode(const char *s, size_t len, struct seg_buf *out)
{
	uint32_t acc = 0;
	int bits = 0;
	if (len % 4 == 1)
		return false;
	seg_buf_grow(out, len / 4 * 3 + 2);
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(s[i]);
		if (v < 0)
			return false;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			seg_buf_addch(out, (char)((acc >> bits) & 0xff));
		}
	}
	return (acc & ((1u << bits) - 1)) == 0;
}

static size_t digits(const char *s, size_t len, size_t i)
{
	size_t j = i;
	while (j < len && s[j] >= '0' && s[j] <= '9')
		j++;
	return j - i;
}

bool seg_json_number_valid(const char *s, size_t len)
{
	size_t i = 0, n;
	if (i < len && s[i] == '-')
		i++;
	if (i >= len)
		return false;
	if (s[i] == '0') {
		i++;
	} else {
		n = digits(s, len, i);
		if (!n)
			return false;
		i += n;
	}
	if (i < len && s[i] == '.') {
		n = digits(s, len, ++i);
		if (!n)
			return false;
		i += n;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		n = digits(s, len, i);
		if (!n)
			return false;
		i += n;
	}
	return i == len;
}

bool seg_id_parse(const char *s, size_t len, int64_t *id)
{
	int64_t v = 0;
	if (!s || len < 1 || len > 18)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*id = v;
	return true;
}

void seg_text_setf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	seg_text_vsetf(buf, size, fmt, ap);
	va_end(ap);
}

void seg_text_vsetf(char *buf, size_t size, const char *fmt, va_list ap)
{
	if (!buf || !size)
		return;
	vsnprintf(buf, size, fmt, ap);
	size_t n = strlen(buf);
	while (n && !seg_utf8_valid(buf, n))
		buf[--n] = '\0';
}

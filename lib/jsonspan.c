/*
 * Scans of validated JSON text: element and member spans, and the bounds on numbers; see
 * jsonspan.h. The number check reads the text once, token by token, without tracking where it
 * is; only when a number is refused does a second pass up to it find its JSON Pointer, keeping
 * the open arrays and objects on a stack in a seg_buf (so nesting costs no C stack).
 */
#include "jsonspan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "problem.h"
#include "text.h"

static size_t seg__skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

static size_t seg__skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i < len ? i + 1 : len;
}

/* Appends code point cp to out as UTF-8. */
static void seg__add_utf8(struct seg_buf *out, uint32_t cp)
{
	char u[4];
	if (cp < 0x80) {
		seg_buf_addch(out, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		seg_buf_add(out, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		seg_buf_add(out, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		seg_buf_add(out, u, 4);
	}
}

/* The value of the four hex digits at s[i..i+4), or -1. */
static int32_t seg__hex4(const char *s, size_t len, size_t i)
{
	int32_t v = 0;
	if (len < 4 || i > len - 4)
		return -1;
	for (size_t k = i; k < i + 4; k++) {
		char c = s[k];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * Appends the decoded value of the JSON string token s[0..len) (quotes included) to out as
 * UTF-8. A lone surrogate (which jansson refuses anyway) becomes U+FFFD.
 */
static void seg__string_decode(const char *s, size_t len, struct seg_buf *out)
{
	size_t i = 1, end = len > 1 && s[len - 1] == '"' ? len - 1 : len;
	while (i < end) {
		size_t run = i;
		while (run < end && s[run] != '\\')
			run++;
		seg_buf_add(out, s + i, run - i);
		i = run;
		if (i + 1 >= end)
			break;
		char c = s[i + 1];
		i += 2;
		switch (c) {
		case 'b': seg_buf_addch(out, '\b'); break;
		case 'f': seg_buf_addch(out, '\f'); break;
		case 'n': seg_buf_addch(out, '\n'); break;
		case 'r': seg_buf_addch(out, '\r'); break;
		case 't': seg_buf_addch(out, '\t'); break;
		case 'u': {
			int32_t cp = seg__hex4(s, end, i), lo;
			if (cp < 0)
				break;
			i += 4;
			if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < end && s[i] == '\\' &&
			    s[i + 1] == 'u' && (lo = seg__hex4(s, end, i + 2)) >= 0xdc00 &&
			    lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				cp = 0xfffd;
			}
			seg__add_utf8(out, (uint32_t)cp);
			break;
		}
		default: seg_buf_addch(out, c); break; /* " \ / */
		}
	}
}

/* Returns the index just after the value that starts at i. */
static size_t seg__skip_value(const char *s, size_t len, size_t i)
{
	if (s[i] == '"')
		return seg__skip_string(s, len, i);
	if (s[i] == '[' || s[i] == '{') {
		int depth = 0;
		while (i < len) {
			char c = s[i];
			if (c == '"') {
				i = seg__skip_string(s, len, i);
				continue;
			}
			if (c == '[' || c == '{')
				depth++;
			else if ((c == ']' || c == '}') && --depth == 0)
				return i + 1;
			i++;
		}
		return len;
	}
	while (i < len && s[i] != ',' && s[i] != ']' && s[i] != '}' && s[i] != ' ' &&
	       s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
		i++;
	return i;
}

int seg_json_array_spans(const char *text, size_t len, seg_json_span_cb cb, void *ctx)
{
	size_t i = seg__skip_ws(text, len, 0), index = 0;

	if (i >= len || text[i] != '[')
		return -1;
	i = seg__skip_ws(text, len, i + 1);
	if (i < len && text[i] == ']')
		return 0;
	while (i < len) {
		size_t end = seg__skip_value(text, len, i);
		int rc = cb(ctx, index++, text + i, end - i);
		if (rc)
			return rc;
		i = seg__skip_ws(text, len, end);
		if (i >= len || text[i] != ',')
			break;
		i = seg__skip_ws(text, len, i + 1);
	}
	return 0;
}

/* Whether the string token s[0..n) (quotes included) spells key. */
static bool seg__key_is(const char *s, size_t n, const char *key)
{
	size_t klen = strlen(key);
	if (!memchr(s, '\\', n))
		return n == klen + 2 && memcmp(s + 1, key, klen) == 0;
	struct seg_buf decoded = SEG_BUF_INIT;
	seg__string_decode(s, n, &decoded);
	bool same = decoded.len == klen && memcmp(decoded.data, key, klen) == 0;
	seg_buf_release(&decoded);
	return same;
}

bool seg_json_member_span(const char *text, size_t len, const char *key, const char **start,
			  size_t *vlen)
{
	size_t i = seg__skip_ws(text, len, 0);

	if (i >= len || text[i] != '{')
		return false;
	i = seg__skip_ws(text, len, i + 1);
	while (i < len && text[i] == '"') {
		size_t kend = seg__skip_string(text, len, i);
		bool match = seg__key_is(text + i, kend - i, key);
		i = seg__skip_ws(text, len, kend);
		if (i >= len || text[i] != ':')
			return false;
		i = seg__skip_ws(text, len, i + 1);
		if (i >= len)
			return false;
		size_t vend = seg__skip_value(text, len, i);
		if (match) {
			*start = text + i;
			*vlen = vend - i;
			return true;
		}
		i = seg__skip_ws(text, len, vend);
		if (i >= len || text[i] != ',')
			return false;
		i = seg__skip_ws(text, len, i + 1);
	}
	return false;
}

/* ----- numbers ------------------------------------------------------------------------------ */

/* A number with too many digits for numeric also has too many for us: one message covers both. */
_Static_assert(SEG_NUMBER_MAX_DIGITS <= SEG_NUMERIC_MAX_SCALE &&
		       SEG_NUMBER_MAX_DIGITS <= SEG_NUMERIC_MAX_INT_DIGITS,
	       "SEG_NUMBER_MAX_DIGITS within numeric's limits");

static bool seg__is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool seg_json_number_measure(const char *s, size_t len, struct seg_json_number_form *out)
{
	size_t i = 0, ndigits = 0, nint, lead = 0;
	bool neg = false, exp_neg = false;
	uint64_t exp = 0;

	if (!seg_json_number_valid(s, len))
		return false;
	if (s[i] == '-') {
		neg = true;
		i++;
	}
	/* The digits before and after the point, and the zeros that lead them all. */
	for (; i < len && seg__is_digit(s[i]); i++, ndigits++)
		if (s[i] == '0' && lead == ndigits)
			lead++;
	nint = ndigits;
	if (i < len && s[i] == '.')
		for (i++; i < len && seg__is_digit(s[i]); i++, ndigits++)
			if (s[i] == '0' && lead == ndigits)
				lead++;
	if (i < len) { /* e or E */
		i++;
		if (s[i] == '-' || s[i] == '+')
			exp_neg = s[i++] == '-';
		/* Stop adding up once past the limit, so that no exponent overflows. */
		for (; i < len; i++)
			if (exp <= SEG_NUMERIC_MAX_EXPONENT)
				exp = exp * 10 + (uint64_t)(s[i] - '0');
	}
	if (exp > SEG_NUMERIC_MAX_EXPONENT) {
		out->storable = false;
		out->digits = out->length = UINT64_MAX;
		return true;
	}

	/* With the exponent applied, the point falls after `point` of the digits (< 0: zeros
	 * come between it and them). */
	bool zero = lead == ndigits;
	int64_t point = (int64_t)nint + (exp_neg ? -(int64_t)exp : (int64_t)exp);
	int64_t scale = (int64_t)ndigits - point;
	int64_t int_digits = point - (int64_t)lead;
	if (scale < 0)
		scale = 0;
	if (zero || int_digits < 1)
		int_digits = 1;
	out->storable = scale <= SEG_NUMERIC_MAX_SCALE && int_digits <= SEG_NUMERIC_MAX_INT_DIGITS;
	out->digits = (uint64_t)(int_digits + scale);
	out->length = out->digits + (scale > 0) + (neg && !zero);
	return true;
}

/* Returns the index just after the number token that starts at i. */
static size_t seg__skip_number(const char *s, size_t len, size_t i)
{
	while (i < len && (seg__is_digit(s[i]) || s[i] == '-' || s[i] == '+' || s[i] == '.' ||
			   s[i] == 'e' || s[i] == 'E'))
		i++;
	return i;
}

/* Writes the number s[0..len) to q for a message, its middle cut to "…" past 40 characters. */
static void seg__quote_number(const char *s, size_t len, char q[48])
{
	if (len <= 40)
		snprintf(q, 48, "%.*s", (int)len, s);
	else
		snprintf(q, 48, "%.28s\u2026%.11s", s, s + len - 11);
}

/* An open array (at: the index of the current element) or object (at: its current key). */
struct seg__frame {
	bool object;
	size_t at;
};

/* Appends the reference token of one frame to pointer. */
static void seg__pointer_add(struct seg_buf *pointer, const char *text, size_t len,
			     const struct seg__frame *f, struct seg_buf *scratch)
{
	if (!f->object) {
		seg_pointer_push_index(pointer, f->at);
		return;
	}
	seg_buf_reset(scratch);
	seg__string_decode(text + f->at, seg__skip_string(text, len, f->at) - f->at, scratch);
	seg_buf_addch(pointer, '/');
	for (size_t i = 0; i < scratch->len; i++) {
		if (scratch->data[i] == '~')
			seg_buf_add(pointer, "~0", 2);
		else if (scratch->data[i] == '/')
			seg_buf_add(pointer, "~1", 2);
		else
			seg_buf_addch(pointer, scratch->data[i]);
	}
}

/* Appends the JSON Pointer of the value that starts at text[target] to pointer. */
static void seg__pointer_to(const char *text, size_t len, size_t target, struct seg_buf *pointer)
{
	struct seg_buf stack = SEG_BUF_INIT, scratch = SEG_BUF_INIT;
	struct seg__frame top = {false, 0}, f;
	size_t depth = 0, i = 0;
	bool want_key = false;

	/* The frames below the innermost one (top) are kept, in order, in stack. */
	while (i < target) {
		switch (text[i]) {
		case '[':
		case '{':
			if (depth++)
				seg_buf_add(&stack, &top, sizeof(top));
			top.object = text[i] == '{';
			top.at = 0;
			want_key = top.object;
			i++;
			break;
		case ']':
		case '}':
			if (depth && --depth) {
				memcpy(&top, stack.data + stack.len - sizeof(top), sizeof(top));
				seg_buf_truncate(&stack, stack.len - sizeof(top));
			}
			want_key = false;
			i++;
			break;
		case ',':
			if (top.object)
				want_key = true;
			else
				top.at++;
			i++;
			break;
		case '"':
			if (want_key) {
				top.at = i;
				want_key = false;
			}
			i = seg__skip_string(text, len, i);
			break;
		default: i++; break;
		}
	}
	for (size_t at = 0; at < stack.len; at += sizeof(f)) {
		memcpy(&f, stack.data + at, sizeof(f));
		seg__pointer_add(pointer, text, len, &f, &scratch);
	}
	if (depth)
		seg__pointer_add(pointer, text, len, &top, &scratch);
	seg_buf_release(&scratch);
	seg_buf_release(&stack);
}

bool seg_json_numbers_check(const char *text, size_t len, struct seg_buf *pointer, char *detail,
			    size_t detail_size)
{
	enum { FINE, NOT_A_NUMBER, EXPONENT, DIGITS, GROWTH } why = FINE;
	struct seg_json_number_form form;
	uint64_t growth = 0;
	size_t i = 0, n = 0;
	char q[48];

	while (i < len && why == FINE) {
		if (text[i] == '"') {
			i = seg__skip_string(text, len, i);
			continue;
		}
		if (text[i] != '-' && !seg__is_digit(text[i])) {
			i++; /* punctuation, white space, true, false, null */
			continue;
		}
		n = seg__skip_number(text, len, i) - i;
		if (!seg_json_number_measure(text + i, n, &form))
			why = NOT_A_NUMBER;
		else if (form.digits == UINT64_MAX)
			why = EXPONENT;
		else if (form.digits > SEG_NUMBER_MAX_DIGITS || !form.storable)
			why = DIGITS;
		else if ((growth += form.length > n ? form.length - n : 0) > SEG_NUMBERS_MAX_GROWTH)
			why = GROWTH;
		if (why == FINE)
			i += n;
	}
	if (why == FINE)
		return true;

	seg__quote_number(text + i, n, q);
	switch (why) {
	case NOT_A_NUMBER: seg_text_setf(detail, detail_size, "%s is not a JSON number", q); break;
	case EXPONENT:
		seg_text_setf(detail, detail_size,
			      "the number %s cannot be stored: its exponent is beyond %d", q,
			      SEG_NUMERIC_MAX_EXPONENT);
		break;
	case DIGITS:
		seg_text_setf(
			detail, detail_size,
			"the number %s has %llu digits when written out; at most %d are stored", q,
			(unsigned long long)form.digits, SEG_NUMBER_MAX_DIGITS);
		break;
	case GROWTH:
		seg_text_setf(
			detail, detail_size,
			"the numbers up to this one (%s) grow by %llu bytes when written out; "
			"at most %d are allowed",
			q, (unsigned long long)growth, SEG_NUMBERS_MAX_GROWTH);
		break;
	case FINE: break;
	}
	seg__pointer_to(text, len, i, pointer);
	return false;
}

/*
 * libFuzzer driver of the number bounds (seg_json_numbers_check in lib/jsonspan.c). Any input
 * is checked, so that nothing crashes or reads out of bounds. For every input that jansson
 * accepts, the verdict is compared with an oracle written another way: each number's form is
 * built as the string PostgreSQL would print (not worked out by the formula), and the pointer
 * of a refused number must be that of the same number in jansson's own tree, in document
 * order. A document of small numbers therefore always passes.
 */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "jsonspan.h"
#include "problem.h"
#include "text.h"
#include "validate.h"

/* Oracle strings built per input at most; past that, the input is only checked for crashes. */
#define BUDGET (8u << 20)

enum verdict { FINE, REFUSED };

/*
 * The oracle for one number token s[0..n): whether it is refused on its own, and otherwise how
 * many bytes it grows by. *budget is charged for the string built.
 */
static bool oracle_number(const char *s, size_t n, bool *refused, uint64_t *growth,
			  uint64_t *digits, size_t *budget)
{
	size_t i = 0;
	bool neg = s[0] == '-';
	struct seg_buf d = SEG_BUF_INIT, out = SEG_BUF_INIT;

	if (neg)
		i++;
	size_t int_start = i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	size_t nint = i - int_start;
	seg_buf_add(&d, s + int_start, nint);
	if (i < n && s[i] == '.') {
		size_t f = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		seg_buf_add(&d, s + f, i - f);
	}
	long long e = 0;
	bool huge = false;
	if (i < n) {
		bool eneg = s[++i] == '-';
		if (s[i] == '-' || s[i] == '+')
			i++;
		for (; i < n; i++) {
			e = e * 10 + (s[i] - '0');
			if (e > 10000000000LL) {
				huge = true;
				e = 10000000000LL;
			}
		}
		if (eneg)
			e = -e;
	}
	bool zero = strspn(d.data, "0") == d.len;
	*digits = 0;
	*growth = 0;
	if (huge || e >= 1073741823 || e <= -1073741823) {
		*refused = true; /* numeric_in refuses the exponent itself */
		seg_buf_release(&d);
		return true;
	}
	if (e > 200000 || e < -200000) {
		/* Too long to build. A zero prints "0"; anything else has more than 300 digits
		 * (inputs are shorter than 200000 - 300 bytes). */
		*refused = !(zero && e > 0);
		seg_buf_release(&d);
		return true;
	}
	long long p = (long long)nint + e;
	size_t cost = d.len + (size_t)(p < 0 ? -p : p) + 2;
	if (*budget < cost) {
		seg_buf_release(&d);
		return false;
	}
	*budget -= cost;

	/* Write it out: move the point, pad with zeros, then strip the leading zeros. */
	if (p <= 0) {
		seg_buf_addstr(&out, "0.");
		for (long long k = 0; k < -p; k++)
			seg_buf_addch(&out, '0');
		seg_buf_add(&out, d.data, d.len);
	} else if ((size_t)p >= d.len) {
		seg_buf_add(&out, d.data, d.len);
		for (long long k = 0; k < p - (long long)d.len; k++)
			seg_buf_addch(&out, '0');
	} else {
		seg_buf_add(&out, d.data, (size_t)p);
		seg_buf_addch(&out, '.');
		seg_buf_add(&out, d.data + p, d.len - (size_t)p);
	}
	size_t skip = 0;
	while (skip + 1 < out.len && out.data[skip] == '0' && out.data[skip + 1] != '.')
		skip++;
	const char *form = out.data + skip;
	size_t len = out.len - skip;
	const char *dot = memchr(form, '.', len);
	size_t int_digits = dot ? (size_t)(dot - form) : len;
	size_t scale = dot ? len - int_digits - 1 : 0;
	*digits = int_digits + scale;
	len += neg && !zero;
	*refused = *digits > SEG_NUMBER_MAX_DIGITS || scale > 16383 || int_digits > 131072;
	*growth = len > n ? len - n : 0;
	seg_buf_release(&out);
	seg_buf_release(&d);
	return true;
}

/*
 * Walks text as the oracle: returns false when over budget; otherwise sets *v, and *index and
 * *digits (0 if not built) for the first refused number.
 */
static bool oracle(const char *text, size_t len, enum verdict *v, size_t *index, uint64_t *digits)
{
	size_t budget = BUDGET, count = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < len;) {
		if (text[i] == '"') {
			for (i++; i < len && text[i] != '"'; i++)
				if (text[i] == '\\')
					i++;
			i++;
			continue;
		}
		if (!strchr("-0123456789", text[i]) || text[i] == '\0') {
			i++;
			continue;
		}
		size_t start = i;
		while (i < len && text[i] && strchr("0123456789+-.eE", text[i]))
			i++;
		bool refused;
		uint64_t growth;
		if (!oracle_number(text + start, i - start, &refused, &growth, digits, &budget))
			return false;
		total += growth;
		if (refused || total > SEG_NUMBERS_MAX_GROWTH) {
			if (!refused)
				*digits = 0;
			*v = REFUSED;
			*index = count;
			return true;
		}
		count++;
	}
	*v = FINE;
	return true;
}

/* Finds the pointer of the number numbered *left (counting down) in v, in document order. */
static bool nth_number(const json_t *v, size_t *left, struct seg_buf *ptr)
{
	size_t mark = ptr->len;
	if (json_is_number(v))
		return (*left)-- == 0;
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			seg_pointer_push_index(ptr, i);
			if (nth_number(json_array_get(v, i), left, ptr))
				return true;
			seg_buf_truncate(ptr, mark);
		}
	} else if (json_is_object(v)) {
		const char *key;
		json_t *member;
		json_object_foreach((json_t *)v, key, member)
		{
			seg_pointer_push(ptr, key);
			if (nth_number(member, left, ptr))
				return true;
			seg_buf_truncate(ptr, mark);
		}
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct seg_buf ptr = SEG_BUF_INIT, want = SEG_BUF_INIT;
	char detail[160];
	json_error_t error;

	seg_buf_addstr(&ptr, "/7");
	bool ok = seg_json_numbers_check(text, size, &ptr, detail, sizeof(detail));
	json_t *doc = seg_json_load(text, size, &error);
	enum verdict v;
	size_t index;
	uint64_t digits;
	if (doc && size < 100000 && oracle(text, size, &v, &index, &digits)) {
		assert(ok == (v == FINE));
		if (ok) {
			assert(strcmp(ptr.data, "/7") == 0);
		} else {
			assert(seg_utf8_valid(detail, strlen(detail)));
			assert(strlen(detail) > 20 && strlen(detail) < 150);
			seg_buf_addstr(&want, "/7");
			assert(nth_number(doc, &index, &want));
			assert(strcmp(ptr.data, want.data) == 0);
			if (digits > SEG_NUMBER_MAX_DIGITS) {
				char has[40];
				snprintf(has, sizeof(has), " has %llu digits ",
					 (unsigned long long)digits);
				assert(strstr(detail, has));
			}
		}
	}
	json_decref(doc);
	seg_buf_release(&want);
	seg_buf_release(&ptr);
	return 0;
}

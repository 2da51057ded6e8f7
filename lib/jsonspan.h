/*
 * Scans of JSON text as the client wrote it, which segmentd passes on to PostgreSQL with its
 * numbers exactly as written: the byte spans of the elements of an array or of a member of an
 * object, and the bounds on those numbers. The text must already have been validated as JSON
 * (by jansson): these only skip over values. Pure and thread-safe: no I/O, and no allocation
 * but through seg_buf (the caller's, and a scratch one released before returning).
 */
#ifndef SEG_JSONSPAN_H
#define SEG_JSONSPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Called for each element; a non-zero return stops the walk and is returned. */
typedef int (*seg_json_span_cb)(void *ctx, size_t index, const char *start, size_t len);

/*
 * Calls cb for each element of the array text[0..len). Returns 0, the callback's value, or -1
 * when the text is not an array.
 */
int seg_json_array_spans(const char *text, size_t len, seg_json_span_cb cb, void *ctx);

/*
 * Finds the value of member key in the object text[0..len) (its top level only) and sets
 * *start and *vlen to its span. Keys written with escapes are compared after decoding. Returns
 * false when the text is not an object or has no such member.
 */
bool seg_json_member_span(const char *text, size_t len, const char *key, const char **start,
			  size_t *vlen);

/*
 * Numbers. PostgreSQL keeps a jsonb or numeric number exactly and prints it with no exponent
 * and every digit of its scale, so "1e-16383" comes back as 16,385 bytes. segmentd refuses, in
 * C and before PostgreSQL sees them, the numbers it could not store or would blow up.
 */

/* Digits a number may have when written out in full (PostgreSQL's form). */
#define SEG_NUMBER_MAX_DIGITS 300
/* Bytes by which the numbers of one document may grow, together, when written out in full. */
#define SEG_NUMBERS_MAX_GROWTH 65536

/*
 * The limits of PostgreSQL 15's numeric_in (src/backend/utils/adt/numeric.c), beyond which it
 * raises "value overflows numeric format": an exponent of 1073741823 (INT_MAX / 2) or more
 * either way, a scale (digits after the point) above 16383, or more than 131072 digits before
 * the point. jsonb numbers go through the same function.
 */
#define SEG_NUMERIC_MAX_EXPONENT   1073741822
#define SEG_NUMERIC_MAX_SCALE	   16383
#define SEG_NUMERIC_MAX_INT_DIGITS 131072

/* What PostgreSQL makes of one JSON number. */
struct seg_json_number_form {
	/* numeric_in accepts it: within the three SEG_NUMERIC_ limits above. */
	bool storable;
	/*
	 * Digits of its exact decimal form as PostgreSQL prints it: no exponent, the integer
	 * part without leading zeros (at least "0"), and the scale max(0, fraction digits -
	 * exponent) after the point. "0.001e2" prints "0.1" (2 digits), "1.50" "1.50" (3).
	 * UINT64_MAX when the exponent is beyond SEG_NUMERIC_MAX_EXPONENT.
	 */
	uint64_t digits;
	/* Bytes of that form: digits, point and sign (none for a zero); UINT64_MAX as above. */
	uint64_t length;
};

/*
 * Works out the form of the JSON number s[0..len) in O(len). Returns false, leaving *out
 * untouched, when s is not exactly one JSON number.
 */
bool seg_json_number_measure(const char *s, size_t len, struct seg_json_number_form *out);

/*
 * Checks every number of text[0..len), a JSON text that jansson has already parsed (so valid
 * JSON; numbers inside strings are not numbers). A number is refused when PostgreSQL's numeric
 * could not hold it, when its exact decimal form has more than SEG_NUMBER_MAX_DIGITS digits, or
 * when with it the numbers so far grow by more than SEG_NUMBERS_MAX_GROWTH bytes when written
 * out (the growth of a number is max(0, its form's length - its length in text)). Returns true
 * when none is refused, and leaves pointer alone. Otherwise returns false, appends to pointer
 * the RFC 6901 JSON Pointer of the first refused number (after whatever pointer holds, e.g.
 * "/3" for the fourth record of an import; nothing for a number that is the whole text), and
 * writes a lowercase sentence to detail (if detail_size is not 0), quoting at most 40
 * characters of the number: "the number 1e-16383 has 16384 digits when written out; at most
 * 300 are stored". O(len), with no recursion: any depth of nesting is fine.
 */
bool seg_json_numbers_check(const char *text, size_t len, struct seg_buf *pointer, char *detail,
			    size_t detail_size);

#endif

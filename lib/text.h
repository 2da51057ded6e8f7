/*
 * Text helpers with no I/O: UTF-8 validation, the identifier rules of the API, percent
 * decoding of URL parts, base64url, JSON number syntax. Thread-safe; nothing here allocates
 * except into a caller's seg_buf.
 */
#ifndef SEG_TEXT_H
#define SEG_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool seg_utf8_valid(const char *s, size_t len);

/*
 * Formats a message into buf[0..size) (nothing when buf is NULL or size 0): cut to fit, and a
 * character that the cut split dropped, so the text stays UTF-8. The engines' and parsers'
 * error sentences are written through it.
 */
void seg_text_setf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with a va_list. */
void seg_text_vsetf(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/*
 * True when s[0..len) is printable UTF-8 of min..max bytes: well-formed, and no C0 control
 * (U+0000..U+001F), DEL (U+007F) or C1 control (U+0080..U+009F). Used for customer ids
 * (1..128), event types (1..64) and event ids (1..128).
 */
bool seg_printable_valid(const char *s, size_t len, size_t min, size_t max);

/*
 * True when s is an attribute name: 1..64 bytes, one or more segments of [A-Za-z0-9_]+
 * joined by single dots ("age", "address.city"); no leading, trailing or double dot.
 */
bool seg_attr_name_valid(const char *s);

/*
 * Decodes %HH escapes of s[0..len) into out (appended). "+" stays "+". Returns false (out
 * content then unspecified) on a malformed escape, a decoded NUL byte, or a result that is
 * not valid UTF-8.
 */
bool seg_percent_decode(const char *s, size_t len, struct seg_buf *out);

/* Appends the unpadded base64url (RFC 4648 §5) encoding of data[0..len) to out. */
void seg_base64url_encode(const void *data, size_t len, struct seg_buf *out);
/* Decodes unpadded base64url s[0..len) into out (appended); false on any invalid input. */
bool seg_base64url_decode(const char *s, size_t len, struct seg_buf *out);

/* True when s[0..len) is exactly one JSON number (RFC 8259 grammar: -?int frac? exp?). */
bool seg_json_number_valid(const char *s, size_t len);
/*
 * A server-made id (segments, schemes, jobs...): s[0..len) is 1 to 18 ASCII digits, so it fits
 * in an int64_t; then *id is its value.
 */
bool seg_id_parse(const char *s, size_t len, int64_t *id);

#endif

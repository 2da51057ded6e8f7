/*
 * seg_buf: the one growable byte buffer of segmentd (after Git's strbuf). Its data is never
 * NULL and always NUL-terminated, so it can be printed at any time. seg_buf_detach() hands the
 * memory to the caller (malloc'ed; free() it) and leaves the buffer empty and usable.
 * A seg_buf is not thread-safe; each belongs to one thread at a time.
 */
#ifndef SEG_BUF_H
#define SEG_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct seg_buf {
	char *data; /* never NULL, NUL-terminated */
	size_t len;
	size_t cap; /* 0 while data points at the shared empty string */
};

#define SEG_BUF_INIT                         \
	{                                    \
		(char *)seg__buf_empty, 0, 0 \
	}
extern const char seg__buf_empty[1];

void seg_buf_init(struct seg_buf *b);
/* Frees the memory and leaves b empty and usable. */
void seg_buf_release(struct seg_buf *b);
/* Empties b but keeps its memory. */
void seg_buf_reset(struct seg_buf *b);
/* Makes room for at least extra more bytes. */
void seg_buf_grow(struct seg_buf *b, size_t extra);
void seg_buf_truncate(struct seg_buf *b, size_t len);
/* Returns the data (malloc'ed, to be free()d) and leaves b empty. *len gets the length if set. */
char *seg_buf_detach(struct seg_buf *b, size_t *len);

void seg_buf_add(struct seg_buf *b, const void *data, size_t len);
void seg_buf_addstr(struct seg_buf *b, const char *s);
void seg_buf_addch(struct seg_buf *b, char c);
void seg_buf_addf(struct seg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void seg_buf_vaddf(struct seg_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Appends s[0..len) as a JSON string literal, quotes included. s must be valid UTF-8. */
void seg_buf_add_json_string(struct seg_buf *b, const char *s, size_t len);
/*
 * Appends x as a JSON number: the shortest decimal that reads back as exactly x (0.25, not
 * 0.25000000000000000; 1/3 as 0.3333333333333333); 0 for NaN or an infinity.
 */
void seg_json_add_double(struct seg_buf *out, double x);
/*
 * Appends s[0..len) escaped for a field of PostgreSQL's COPY text format (backslash, tab,
 * newline and carriage return escaped). A NULL s appends \N.
 */
void seg_buf_add_copy_field(struct seg_buf *b, const char *s, size_t len);

#endif

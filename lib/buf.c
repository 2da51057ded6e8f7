/* The growable byte buffer; see buf.h. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

const char seg__buf_empty[1] = "";

void seg_buf_init(struct seg_buf *b)
{
	b->data = (char *)seg__buf_empty;
	b->len = 0;
	b->cap = 0;
}

void seg_buf_release(struct seg_buf *b)
{
	if (b->cap)
		free(b->data);
	seg_buf_init(b);
}

void seg_buf_reset(struct seg_buf *b)
{
	seg_buf_truncate(b, 0);
}

void seg_buf_grow(struct seg_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap < ((size_t)1 << 30) ? cap * 2 : cap + ((size_t)1 << 30);
	if (b->cap) {
		b->data = seg_realloc(b->data, cap);
	} else {
		b->data = seg_malloc(cap);
		b->data[0] = '\0';
	}
	b->cap = cap;
}

void seg_buf_truncate(struct seg_buf *b, size_t len)
{
	if (!b->cap || len > b->len)
		return;
	b->len = len;
	b->data[len] = '\0';
}

char *seg_buf_detach(struct seg_buf *b, size_t *len)
{
	char *p;
	if (len)
		*len = b->len;
	if (b->cap) {
		p = b->data;
	} else {
		p = seg_malloc(1);
		p[0] = '\0';
	}
	seg_buf_init(b);
	return p;
}

void seg_buf_add(struct seg_buf *b, const void *data, size_t len)
{
	if (!len)
		return;
	seg_buf_grow(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void seg_buf_addstr(struct seg_buf *b, const char *s)
{
	seg_buf_add(b, s, strlen(s));
}

void seg_buf_addch(struct seg_buf *b, char c)
{
	seg_buf_add(b, &c, 1);
}

void seg_buf_vaddf(struct seg_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n <= 0)
		return;
	seg_buf_grow(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void seg_buf_addf(struct seg_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	seg_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void seg_buf_add_json_string(struct seg_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;
	seg_buf_grow(b, len + 2);
	seg_buf_addch(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[7];
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c < 0x20 || c == 0x7f) {
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = '\0';
			esc = u;
		}
		if (esc) {
			seg_buf_add(b, s + start, i - start);
			seg_buf_addstr(b, esc);
			start = i + 1;
		}
	}
	seg_buf_add(b, s + start, len - start);
	seg_buf_addch(b, '"');
}

void seg_buf_add_copy_field(struct seg_buf *b, const char *s, size_t len)
{
	size_t start = 0;
	if (!s) {
		seg_buf_add(b, "\\N", 2);
		return;
	}
	seg_buf_grow(b, len);
	for (size_t i = 0; i < len; i++) {
		const char *esc = NULL;
		switch (s[i]) {
		case '\\': esc = "\\\\"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		default: break;
		}
		if (esc) {
			seg_buf_add(b, s + start, i - start);
			seg_buf_add(b, esc, 2);
			start = i + 1;
		}
	}
	seg_buf_add(b, s + start, len - start);
}

void seg_json_add_double(struct seg_buf *out, double x)
{
	char text[40];
	if (!(x == x) || x > 1e308 || x < -1e308) {
		seg_buf_addstr(out, "0");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, x);
		if (strtod(text, NULL) == x)
			break;
	}
	seg_buf_addstr(out, text);
}

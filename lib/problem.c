/*
 * seg_problem: error items gathered while a request is checked, rendered as an RFC 9457
 * problem document. Text that came from a client can end up in a detail or a pointer, so
 * rendering replaces any byte sequence that is not UTF-8 with U+FFFD and the output is always
 * valid JSON. See problem.h.
 */
#include "problem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "text.h"

void seg_problem_init(struct seg_problem *p)
{
	memset(p, 0, sizeof(*p));
}

void seg_problem_release(struct seg_problem *p)
{
	free(p->detail);
	for (size_t i = 0; i < p->count; i++) {
		free(p->items[i].pointer);
		free(p->items[i].detail);
	}
	seg_problem_init(p);
}

static char *vformat(const char *fmt, va_list ap)
{
	struct seg_buf b = SEG_BUF_INIT;
	seg_buf_vaddf(&b, fmt, ap);
	return seg_buf_detach(&b, NULL);
}

void seg_problem_detail(struct seg_problem *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(p->detail);
	p->detail = vformat(fmt, ap);
	va_end(ap);
}

void seg_problem_vadd(struct seg_problem *p, enum seg_problem_where where, const char *pointer,
		      size_t line, const char *fmt, va_list ap)
{
	struct seg_problem_item *it;
	if (p->count >= SEG_PROBLEM_MAX) {
		p->dropped++;
		return;
	}
	it = &p->items[p->count++];
	it->where = where;
	it->pointer = where == SEG_WHERE_LINE || !pointer ? NULL : seg_strdup(pointer);
	it->line = where == SEG_WHERE_LINE ? line : 0;
	it->detail = vformat(fmt, ap);
}

void seg_problem_add(struct seg_problem *p, enum seg_problem_where where, const char *pointer,
		     size_t line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	seg_problem_vadd(p, where, pointer, line, fmt, ap);
	va_end(ap);
}

/* Appends s as a JSON string, with each ill-formed UTF-8 byte replaced by U+FFFD. */
static void add_text(struct seg_buf *out, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	if (seg_utf8_valid(s ? s : "", len)) {
		seg_buf_add_json_string(out, s ? s : "", len);
		return;
	}
	struct seg_buf clean = SEG_BUF_INIT;
	size_t i = 0;
	while (i < len) {
		size_t n = 1;
		while (n <= 4 && i + n <= len && !seg_utf8_valid(s + i, n))
			n++;
		if (n <= 4 && i + n <= len) {
			seg_buf_add(&clean, s + i, n);
			i += n;
		} else {
			seg_buf_addstr(&clean, "\xef\xbf\xbd");
			i++;
		}
	}
	seg_buf_add_json_string(out, clean.data, clean.len);
	seg_buf_release(&clean);
}

void seg_problem_render(const struct seg_problem *p, enum seg_err err, const char *instance,
			struct seg_buf *out)
{
	const char *detail = seg_err_detail(err);
	if (p && p->detail)
		detail = p->detail;
	else if (p && p->count)
		detail = p->items[0].detail;

	seg_buf_addstr(out, "{\"type\":");
	seg_buf_addch(out, '"');
	seg_buf_addstr(out, "urn:segmentd:problem:");
	seg_buf_addstr(out, seg_err_slug(err));
	seg_buf_addstr(out, "\",\"title\":");
	add_text(out, seg_err_title(err));
	seg_buf_addf(out, ",\"status\":%d,\"detail\":", seg_err_status(err));
	add_text(out, detail);
	if (instance) {
		seg_buf_addstr(out, ",\"instance\":");
		add_text(out, instance);
	}
	if (p && p->count) {
		seg_buf_addstr(out, ",\"errors\":[");
		for (size_t i = 0; i < p->count; i++) {
			const struct seg_problem_item *it = &p->items[i];
			if (i)
				seg_buf_addch(out, ',');
			switch (it->where) {
			case SEG_WHERE_LINE: seg_buf_addf(out, "{\"line\":%zu", it->line); break;
			case SEG_WHERE_PARAMETER:
				seg_buf_addstr(out, "{\"parameter\":");
				add_text(out, it->pointer);
				break;
			case SEG_WHERE_POINTER:
			default:
				seg_buf_addstr(out, "{\"pointer\":");
				add_text(out, it->pointer);
				break;
			}
			seg_buf_addstr(out, ",\"detail\":");
			add_text(out, it->detail);
			seg_buf_addch(out, '}');
		}
		seg_buf_addch(out, ']');
	}
	if (p && p->dropped)
		seg_buf_addf(out, ",\"errors_truncated\":%zu", p->dropped);
	seg_buf_addch(out, '}');
}

void seg_pointer_push(struct seg_buf *ptr, const char *token)
{
	seg_buf_addch(ptr, '/');
	for (const char *c = token; *c; c++) {
		if (*c == '~')
			seg_buf_add(ptr, "~0", 2);
		else if (*c == '/')
			seg_buf_add(ptr, "~1", 2);
		else
			seg_buf_addch(ptr, *c);
	}
}

void seg_pointer_push_index(struct seg_buf *ptr, size_t index)
{
	seg_buf_addf(ptr, "/%zu", index);
}

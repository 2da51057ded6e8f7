/*
 * seg_problem: what was wrong with a request, gathered while it is checked, and rendered as
 * an RFC 9457 problem document (application/problem+json). Keeps at most SEG_PROBLEM_MAX
 * error items and counts the rest. Not thread-safe; one per request.
 */
#ifndef SEG_PROBLEM_H
#define SEG_PROBLEM_H

#include <stdarg.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

#define SEG_PROBLEM_MAX 100

enum seg_problem_where { SEG_WHERE_POINTER, SEG_WHERE_PARAMETER, SEG_WHERE_LINE };

struct seg_problem_item {
	enum seg_problem_where where;
	char *pointer; /* JSON Pointer or parameter name (POINTER, PARAMETER) */
	size_t line;   /* LINE */
	char *detail;
};

struct seg_problem {
	char *detail; /* the problem's own detail, or NULL */
	struct seg_problem_item items[SEG_PROBLEM_MAX];
	size_t count;	/* items kept */
	size_t dropped; /* items beyond SEG_PROBLEM_MAX */
};

void seg_problem_init(struct seg_problem *p);
void seg_problem_release(struct seg_problem *p);
/* Sets the top-level detail (replaces an earlier one). */
void seg_problem_detail(struct seg_problem *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Adds an item. pointer is copied; for LINE items pass NULL and the line number. */
void seg_problem_add(struct seg_problem *p, enum seg_problem_where where, const char *pointer,
		     size_t line, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void seg_problem_vadd(struct seg_problem *p, enum seg_problem_where where, const char *pointer,
		      size_t line, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/*
 * Appends the problem document for err to out: {"type", "title", "status", "detail"
 * [, "errors": [...]]}. instance, if not NULL, is added as "instance". When p has no detail
 * the first item's detail, or the error's default detail (seg_err_detail), is used.
 */
void seg_problem_render(const struct seg_problem *p, enum seg_err err, const char *instance,
			struct seg_buf *out);

/* Appends "/" + the RFC 6901 escape of token ("~" -> "~0", "/" -> "~1") to a pointer. */
void seg_pointer_push(struct seg_buf *ptr, const char *token);
void seg_pointer_push_index(struct seg_buf *ptr, size_t index);

#endif

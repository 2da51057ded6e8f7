/* Allocation wrappers that abort on out-of-memory; see alloc.h. */
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void seg__oom(size_t n)
{
	fprintf(stderr, "segmentd: out of memory allocating %zu bytes\n", n);
	abort();
}

void *seg_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		seg__oom(n);
	return p;
}

void *seg_calloc(size_t count, size_t n)
{
	void *p = calloc(count ? count : 1, n ? n : 1);
	if (!p)
		seg__oom(count * n);
	return p;
}

void *seg_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		seg__oom(n);
	return q;
}

char *seg_strdup(const char *s)
{
	return seg_strndup(s, strlen(s));
}

char *seg_strndup(const char *s, size_t n)
{
	char *p = seg_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * Allocation wrappers that abort the process when memory runs out (as Redis's zmalloc).
 * Callers therefore never check for NULL. All memory comes from malloc(3), so a buffer from
 * these functions may be handed to libmicrohttpd with MHD_RESPMEM_MUST_FREE.
 * Thread-safe.
 */
#ifndef SEG_ALLOC_H
#define SEG_ALLOC_H

#include <stddef.h>

void *seg_malloc(size_t n);
void *seg_calloc(size_t count, size_t n);
void *seg_realloc(void *p, size_t n);
char *seg_strdup(const char *s);
char *seg_strndup(const char *s, size_t n);

#endif

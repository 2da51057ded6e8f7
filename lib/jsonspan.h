/*
 * Byte spans of the elements of a JSON array, so that each element's own text (with its
 * numbers exactly as the client wrote them) can be passed on. The text must already have been
 * validated as JSON (by jansson): this only skips over values. Pure and thread-safe.
 */
#ifndef SEG_JSONSPAN_H
#define SEG_JSONSPAN_H

#include <stdbool.h>
#include <stddef.h>

/* Called for each element; a non-zero return stops the walk and is returned. */
typedef int (*seg_json_span_cb)(void *ctx, size_t index, const char *start, size_t len);

/*
 * Calls cb for each element of the array text[0..len). Returns 0, the callback's value, or -1
 * when the text is not an array.
 */
int seg_json_array_spans(const char *text, size_t len, seg_json_span_cb cb, void *ctx);

#endif

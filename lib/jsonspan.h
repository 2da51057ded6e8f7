/*
 * Byte spans of the elements of a JSON array, or of a member of an object, so that a value's
 * own text (with its
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

/*
 * Finds the value of member key in the object text[0..len) (its top level only) and sets
 * *start and *vlen to its span. Keys written with escapes are compared after decoding. Returns
 * false when the text is not an object or has no such member.
 */
bool seg_json_member_span(const char *text, size_t len, const char *key, const char **start,
			  size_t *vlen);

#endif

/*
 * What the fuzz drivers share: resolving a JSON Pointer that a checker reported, to check that
 * it points into the document. Included by the drivers (each is one translation unit).
 */
#ifndef SEG_FUZZ_POINTER_H
#define SEG_FUZZ_POINTER_H

#include <jansson.h>
#include <stdlib.h>

#include "buf.h"

/* The value at RFC 6901 pointer ptr in doc, or NULL. */
static json_t *resolve(json_t *doc, const char *ptr)
{
	struct seg_buf token = SEG_BUF_INIT;
	json_t *v = doc;
	while (v && *ptr == '/') {
		ptr++;
		seg_buf_reset(&token);
		for (; *ptr && *ptr != '/'; ptr++) {
			if (*ptr == '~' && ptr[1] == '0') {
				seg_buf_addch(&token, '~');
				ptr++;
			} else if (*ptr == '~' && ptr[1] == '1') {
				seg_buf_addch(&token, '/');
				ptr++;
			} else {
				seg_buf_addch(&token, *ptr);
			}
		}
		if (json_is_object(v)) {
			v = json_object_get(v, token.data);
		} else if (json_is_array(v)) {
			char *end;
			unsigned long i = strtoul(token.data, &end, 10);
			v = *end || !token.len ? NULL : json_array_get(v, i);
		} else {
			v = NULL;
		}
	}
	seg_buf_release(&token);
	return v;
}

#endif

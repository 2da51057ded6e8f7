/*
 * libFuzzer driver for the text parsers of lib/: RFC 3339 and dates (with the format round
 * trip), percent decoding, base64url (with the round trip), the JSON number grammar (checked
 * against jansson), and the CSV cell conversion for every attribute type (its output must be
 * JSON that jansson accepts).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "attrs.h"
#include "text.h"
#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct seg_buf out = SEG_BUF_INIT;
	int64_t us, us2;
	int32_t days;
	char text[SEG_RFC3339_MAX];

	if (seg_rfc3339_parse(s, size, &us)) {
		size_t n = seg_rfc3339_format(us, text);
		if (us >= -62135596800000000LL && us <= 253402300799999999LL) {
			assert(seg_rfc3339_parse(text, n, &us2));
			assert(us == us2);
		}
	}
	(void)seg_date_parse(s, size, &days);

	if (seg_percent_decode(s, size, &out))
		assert(seg_utf8_valid(out.data, out.len) && !memchr(out.data, 0, out.len));
	seg_buf_reset(&out);

	seg_base64url_encode(s, size, &out);
	struct seg_buf back = SEG_BUF_INIT;
	assert(seg_base64url_decode(out.data, out.len, &back));
	assert(back.len == size && (size == 0 || memcmp(back.data, s, size) == 0));
	seg_buf_release(&back);
	seg_buf_reset(&out);
	(void)seg_base64url_decode(s, size, &out);
	seg_buf_reset(&out);

	if (seg_json_number_valid(s, size)) {
		json_error_t error;
		json_t *v = json_loadb(s, size, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &error);
		assert(v || json_error_code(&error) == json_error_numeric_overflow);
		assert(!v || json_is_number(v));
		json_decref(v);
	}

	for (int t = 0; t < SEG_ATTR__COUNT; t++) {
		struct seg_attr_def def = {(char *)"x", (enum seg_attr_type)t, NULL};
		char why[256];
		seg_buf_reset(&out);
		if (seg_attr_cell_to_json(&def, s, size, &out, why, sizeof(why))) {
			json_error_t error;
			json_t *v = json_loadb(out.data, out.len,
					       JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &error);
			assert(v || json_error_code(&error) == json_error_numeric_overflow);
			json_decref(v);
		}
	}
	seg_buf_release(&out);
	return 0;
}

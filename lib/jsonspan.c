/* Element spans of a validated JSON array; see jsonspan.h. */
#include "jsonspan.h"

#include <jansson.h>
#include <string.h>

static size_t seg__skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

static size_t seg__skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i < len ? i + 1 : len;
}

/* Returns the index just after the value that starts at i. */
static size_t seg__skip_value(const char *s, size_t len, size_t i)
{
	if (s[i] == '"')
		return seg__skip_string(s, len, i);
	if (s[i] == '[' || s[i] == '{') {
		int depth = 0;
		while (i < len) {
			char c = s[i];
			if (c == '"') {
				i = seg__skip_string(s, len, i);
				continue;
			}
			if (c == '[' || c == '{')
				depth++;
			else if ((c == ']' || c == '}') && --depth == 0)
				return i + 1;
			i++;
		}
		return len;
	}
	while (i < len && s[i] != ',' && s[i] != ']' && s[i] != '}' && s[i] != ' ' &&
	       s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
		i++;
	return i;
}

int seg_json_array_spans(const char *text, size_t len, seg_json_span_cb cb, void *ctx)
{
	size_t i = seg__skip_ws(text, len, 0), index = 0;

	if (i >= len || text[i] != '[')
		return -1;
	i = seg__skip_ws(text, len, i + 1);
	if (i < len && text[i] == ']')
		return 0;
	while (i < len) {
		size_t end = seg__skip_value(text, len, i);
		int rc = cb(ctx, index++, text + i, end - i);
		if (rc)
			return rc;
		i = seg__skip_ws(text, len, end);
		if (i >= len || text[i] != ',')
			break;
		i = seg__skip_ws(text, len, i + 1);
	}
	return 0;
}

/* Whether the string token s[0..n) (quotes included) spells key. */
static bool seg__key_is(const char *s, size_t n, const char *key)
{
	size_t klen = strlen(key);
	if (!memchr(s, '\\', n))
		return n == klen + 2 && memcmp(s + 1, key, klen) == 0;
	json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	bool same =
		v && json_string_length(v) == klen && memcmp(json_string_value(v), key, klen) == 0;
	json_decref(v);
	return same;
}

bool seg_json_member_span(const char *text, size_t len, const char *key, const char **start,
			  size_t *vlen)
{
	size_t i = seg__skip_ws(text, len, 0);

	if (i >= len || text[i] != '{')
		return false;
	i = seg__skip_ws(text, len, i + 1);
	while (i < len && text[i] == '"') {
		size_t kend = seg__skip_string(text, len, i);
		bool match = seg__key_is(text + i, kend - i, key);
		i = seg__skip_ws(text, len, kend);
		if (i >= len || text[i] != ':')
			return false;
		i = seg__skip_ws(text, len, i + 1);
		if (i >= len)
			return false;
		size_t vend = seg__skip_value(text, len, i);
		if (match) {
			*start = text + i;
			*vlen = vend - i;
			return true;
		}
		i = seg__skip_ws(text, len, vend);
		if (i >= len || text[i] != ',')
			return false;
		i = seg__skip_ws(text, len, i + 1);
	}
	return false;
}

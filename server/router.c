/* Route matching; see router.h. */
#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "text.h"

#define SEG_MAX_SEGMENTS 16

struct seg__segments {
	const char *start[SEG_MAX_SEGMENTS];
	size_t len[SEG_MAX_SEGMENTS];
	int n;
};

/* Splits "/a/b/c" into a, b, c; false when there are too many or an empty one. */
static bool seg__split(const char *path, struct seg__segments *out)
{
	out->n = 0;
	if (*path != '/')
		return false;
	while (*path == '/') {
		path++;
		size_t n = strcspn(path, "/");
		if (n == 0 || out->n == SEG_MAX_SEGMENTS)
			return false;
		out->start[out->n] = path;
		out->len[out->n++] = n;
		path += n;
	}
	return *path == '\0';
}

/*
 * The length of the literal suffix of a parameter segment: 7 for "{id}:cancel" (":cancel"),
 * 0 for "{id}".
 */
static size_t seg__suffix_len(const char *seg, size_t len)
{
	const char *close = memchr(seg, '}', len);
	return close ? len - (size_t)(close + 1 - seg) : 0;
}

static bool seg__matches(const struct seg__segments *pat, const struct seg__segments *path)
{
	if (pat->n != path->n)
		return false;
	for (int i = 0; i < pat->n; i++) {
		if (pat->start[i][0] == '{') {
			/* "{id}:cancel": a non-empty value, then the literal suffix */
			size_t sl = seg__suffix_len(pat->start[i], pat->len[i]);
			if (sl &&
			    (path->len[i] <= sl || memcmp(path->start[i] + path->len[i] - sl,
							  pat->start[i] + pat->len[i] - sl, sl)))
				return false;
			continue;
		}
		if (pat->len[i] != path->len[i] ||
		    memcmp(pat->start[i], path->start[i], pat->len[i]))
			return false;
	}
	return true;
}

enum seg_route_result seg_route_match(struct seg_req *r, const char *method, const char *path,
				      struct seg_buf *allow)
{
	struct seg__segments segs, pat;
	const struct seg_route *found = NULL;
	bool path_known = false;

	seg_buf_reset(allow);
	if (!seg__split(path, &segs))
		return SEG_ROUTE_NOT_FOUND;
	for (const struct seg_route *rt = seg_routes; rt->method; rt++) {
		seg__split(rt->pattern, &pat);
		if (!seg__matches(&pat, &segs))
			continue;
		path_known = true;
		if (!strstr(allow->data, rt->method)) {
			if (allow->len)
				seg_buf_addstr(allow, ", ");
			seg_buf_addstr(allow, rt->method);
		}
		if (!found && strcmp(rt->method, method) == 0)
			found = rt;
	}
	if (!found)
		return path_known ? SEG_ROUTE_BAD_METHOD : SEG_ROUTE_NOT_FOUND;

	seg__split(found->pattern, &pat);
	r->route = found;
	r->nparams = 0;
	for (int i = 0; i < pat.n && r->nparams < SEG_MAX_PARAMS; i++) {
		struct seg_buf v = SEG_BUF_INIT;
		if (pat.start[i][0] != '{')
			continue;
		size_t sl = seg__suffix_len(pat.start[i], pat.len[i]);
		if (!seg_percent_decode(segs.start[i], segs.len[i] - sl, &v)) {
			seg_buf_release(&v);
			return SEG_ROUTE_BAD_PATH;
		}
		r->params[r->nparams++] = seg_buf_detach(&v, NULL);
	}
	return SEG_ROUTE_FOUND;
}

/*
 * The route table and its matcher. A pattern is a path of segments: literals ("v1",
 * "customers:import"), parameters ("{id}") and parameters with a literal suffix ("{id}:cancel":
 * a non-empty value followed by ":cancel"), matched segment by segment after the raw path
 * is split at "/"; each parameter is then percent-decoded, so "%2F" inside an id stays part of
 * the id. Read-only after start; any thread.
 */
#ifndef SEG_ROUTER_H
#define SEG_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "request.h"

typedef enum seg_err (*seg_handler_fn)(struct seg_req *r);

/*
 * For routes whose body is streamed (imports). begin runs before the body is read, data with
 * each piece of the body as it arrives (up to a few hundred KiB at a time), end once it is
 * all there; all three on request workers, one at a time.
 */
struct seg_stream_ops {
	enum seg_err (*begin)(struct seg_req *r);
	enum seg_err (*data)(struct seg_req *r, const char *data, size_t len);
	enum seg_err (*end)(struct seg_req *r);
};

struct seg_route {
	const char *method;
	const char *pattern;
	seg_handler_fn handler;		     /* NULL for streaming routes */
	const struct seg_stream_ops *stream; /* NULL for buffered routes */
	unsigned scope;			     /* 0: no authentication */
	const char *const *content_types;    /* accepted body types; NULL: no body expected */
	unsigned flags;			     /* SEG_ROUTE_* */
};

/*
 * The handler never waits (no database, no lock held for long): it runs on the HTTP thread,
 * so it answers even when every request worker is busy (/healthz, /metrics).
 */
#define SEG_ROUTE_INLINE 1u

/* The routes of every handler file, ended by an entry with a NULL method. */
extern const struct seg_route seg_routes[];

enum seg_route_result {
	SEG_ROUTE_FOUND,
	SEG_ROUTE_NOT_FOUND,
	SEG_ROUTE_BAD_METHOD,
	SEG_ROUTE_BAD_PATH
};

/*
 * Finds the route for method and raw path. On FOUND, r->route and r->params are set. On
 * BAD_METHOD, allow receives the allowed methods ("GET, PUT"). BAD_PATH: a parameter did not
 * decode.
 */
enum seg_route_result seg_route_match(struct seg_req *r, const char *method, const char *path,
				      struct seg_buf *allow);

#endif

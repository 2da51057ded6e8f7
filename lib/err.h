/*
 * The one error type of segmentd. SEG_ERR_MAP lists every error with its HTTP status, the slug
 * of its RFC 9457 problem type (urn:segmentd:problem:<slug>), its title and the detail a client
 * reads when nothing more precise was said, as libuv's UV_ERRNO_MAP does; the enum and the
 * lookup functions are generated from it.
 * Functions that can fail return enum seg_err (SEG_OK is 0) and give results through
 * out-parameters. Every 503 is answered with Retry-After: the conditions behind them pass.
 */
#ifndef SEG_ERR_H
#define SEG_ERR_H

/* clang-format off */
#define SEG_ERR_MAP(XX)                                                                        \
	XX(OK, 200, "ok", "OK", "")                                                            \
	XX(MALFORMED, 400, "malformed-request", "Malformed request",                           \
	   "the request could not be read")                                                    \
	XX(UNAUTHENTICATED, 401, "unauthenticated", "Unauthenticated",                         \
	   "an API key is required: Authorization: Bearer <key>")                              \
	XX(FORBIDDEN, 403, "forbidden", "Forbidden", "this API key may not do this")           \
	XX(NOT_FOUND, 404, "not-found", "Not found", "there is nothing here")                  \
	XX(METHOD_NOT_ALLOWED, 405, "method-not-allowed", "Method not allowed",                \
	   "this method is not allowed here")                                                  \
	XX(CONFLICT, 409, "conflict", "Conflict", "the request conflicts with what is stored") \
	XX(TOO_LARGE, 413, "payload-too-large", "Payload too large", "the body is too large")  \
	XX(URI_TOO_LONG, 414, "uri-too-long", "URI too long", "the URI is too long")           \
	XX(UNSUPPORTED_MEDIA, 415, "unsupported-media-type", "Unsupported media type",         \
	   "this Content-Type is not accepted here")                                           \
	XX(INVALID, 422, "validation-failed", "Validation failed", "the request is not valid") \
	XX(RATE_LIMITED, 429, "rate-limited", "Too many requests",                             \
	   "too many requests for this tenant; try again shortly")                             \
	XX(INTERNAL, 500, "internal", "Internal error", "the server failed to handle this")    \
	/* the database cannot be reached (down, frozen, refusing connections) */              \
	XX(UNAVAILABLE, 503, "unavailable", "Service unavailable",                             \
	   "the database is unreachable; try again shortly")                                   \
	/* every database connection or request worker is taken */                             \
	XX(BUSY, 503, "busy", "Service busy",                                                  \
	   "every database connection is busy; try again shortly")                             \
	/* a statement ran past its deadline (ours or the server's statement_timeout) */       \
	XX(TIMEOUT, 503, "timeout", "Timed out",                                               \
	   "the database did not answer in time; try again shortly")                           \
	/* a deadlock or serialization failure that retrying inside did not resolve */         \
	XX(RETRY, 503, "transient-conflict", "Transient conflict",                             \
	   "the request met a concurrent change; send it again")                               \
	/* the work was cancelled before it ran to its end (the server is stopping) */         \
	XX(CANCELLED, 503, "cancelled", "Cancelled",                                           \
	   "the request was cancelled because the server is stopping; send it again")
/* clang-format on */

enum seg_err {
#define XX(name, status, slug, title, detail) SEG_ERR_##name,
	SEG_ERR_MAP(XX)
#undef XX
		SEG_ERR__COUNT
};

#define SEG_OK SEG_ERR_OK

/* The HTTP status that answers a request failing with err. */
int seg_err_status(enum seg_err err);
/* The problem type slug ("not-found"), title ("Not found") and default detail; static strings. */
const char *seg_err_slug(enum seg_err err);
const char *seg_err_title(enum seg_err err);
const char *seg_err_detail(enum seg_err err);
/* True for the errors that pass by themselves (every 503): answered with Retry-After. */
int seg_err_transient(enum seg_err err);

#endif

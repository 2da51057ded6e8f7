/*
 * The one error type of segmentd. SEG_ERR_MAP lists every error with its HTTP status, the slug
 * of its RFC 9457 problem type (urn:segmentd:problem:<slug>) and its title, as libuv's
 * UV_ERRNO_MAP does; the enum and the lookup functions are generated from it.
 * Functions that can fail return enum seg_err (SEG_OK is 0) and give results through
 * out-parameters.
 */
#ifndef SEG_ERR_H
#define SEG_ERR_H

#define SEG_ERR_MAP(XX)                                                                \
	XX(OK, 200, "ok", "OK")                                                        \
	XX(MALFORMED, 400, "malformed-request", "Malformed request")                   \
	XX(UNAUTHENTICATED, 401, "unauthenticated", "Unauthenticated")                 \
	XX(FORBIDDEN, 403, "forbidden", "Forbidden")                                   \
	XX(NOT_FOUND, 404, "not-found", "Not found")                                   \
	XX(METHOD_NOT_ALLOWED, 405, "method-not-allowed", "Method not allowed")        \
	XX(CONFLICT, 409, "conflict", "Conflict")                                      \
	XX(TOO_LARGE, 413, "payload-too-large", "Payload too large")                   \
	XX(UNSUPPORTED_MEDIA, 415, "unsupported-media-type", "Unsupported media type") \
	XX(INVALID, 422, "validation-failed", "Validation failed")                     \
	XX(RATE_LIMITED, 429, "rate-limited", "Too many requests")                     \
	XX(INTERNAL, 500, "internal", "Internal error")                                \
	XX(UNAVAILABLE, 503, "unavailable", "Service unavailable")

enum seg_err {
#define XX(name, status, slug, title) SEG_ERR_##name,
	SEG_ERR_MAP(XX)
#undef XX
		SEG_ERR__COUNT
};

#define SEG_OK SEG_ERR_OK

/* The HTTP status that answers a request failing with err. */
int seg_err_status(enum seg_err err);
/* The problem type slug ("not-found") and title ("Not found") of err; static strings. */
const char *seg_err_slug(enum seg_err err);
const char *seg_err_title(enum seg_err err);

#endif

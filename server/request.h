/*
 * struct seg_req: one HTTP request as a handler sees it, and the helpers handlers use to read
 * it and to answer: the request API, the only part of server/ that handlers/ may use.
 *
 * Threads: the server (http.c) creates a request on the HTTP thread that owns the connection,
 * checks what can be checked from the headers there, and runs the route's handler (and a
 * streaming route's begin/data/end) on a request worker while the connection is suspended; a
 * request is handled by one thread at a time. A handler may wait on the database; it holds
 * its connection (seg_req_db) only while it runs, since the server gives it back when the
 * handler returns. When the response has been sent the request is freed with everything it
 * owns (a request is one memory context, released at once).
 *
 * A handler returns SEG_OK after setting a reply with seg_req_reply*, or an error; for an
 * error the server answers with a problem document built from r->problem (and
 * r->problem_extra, extra members for it), or the error's default detail.
 */
#ifndef SEG_REQUEST_H
#define SEG_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "err.h"
#include "problem.h"

#define SEG_MAX_PARAMS 4

enum seg_scope { SEG_SCOPE_READ = 1, SEG_SCOPE_WRITE = 2, SEG_SCOPE_ADMIN = 4 };

struct seg_route;
struct seg_server;

struct seg_req {
	struct seg_server *server;
	const struct seg_route *route;
	void *conn; /* the MHD connection; only http.c looks inside */
	const char *method;
	char *params[SEG_MAX_PARAMS]; /* decoded path parameters, in pattern order */
	int nparams;
	int64_t tenant;
	unsigned scopes;
	char request_id[129];
	char *content_type;  /* media type without parameters, lowercase; NULL if none */
	struct seg_buf body; /* the whole body, for routes that do not stream */

	struct seg_problem problem;
	struct seg_buf problem_extra; /* ,"name":value members added to the problem */

	int status;
	struct seg_buf reply;
	const char *reply_type;
	char *location;
	int retry_after;

	struct seg_db *db;  /* borrowed on first seg_req_db, returned at the end */
	void *reply_stream; /* a streamed reply (seg_req_reply_stream), until http.c sends it */
	void *stream;	    /* a streaming handler's state */
	void (*stream_free)(void *stream);
	char **query_values; /* decoded query values and cursor keys, freed at the end */
	size_t nquery_values;
	int64_t started_us;
};

/*
 * A path parameter whose value is invalid (an id too long, a control character): adds a
 * "parameter" item and returns SEG_ERR_INVALID (422: the URL is well-formed, the value is not).
 */
enum seg_err seg_req_bad_param(struct seg_req *r, const char *name, const char *detail);

/* A path parameter by position. */
const char *seg_req_param(const struct seg_req *r, int i);

/*
 * The percent-decoded value of query parameter name, or NULL. A value that does not decode
 * (bad escape, NUL, invalid UTF-8) makes the request fail: *err is set to SEG_ERR_MALFORMED
 * with a problem item, and NULL is returned.
 */
const char *seg_req_query(struct seg_req *r, const char *name, enum seg_err *err);
/*
 * A boolean query parameter: *out true for "true", false for "false" or when absent; any
 * other value is SEG_ERR_MALFORMED with a problem item (as a value that does not decode).
 */
enum seg_err seg_req_query_bool(struct seg_req *r, const char *name, bool *out);
/* SEG_ERR_MALFORMED (with one item per parameter) when a query parameter is not in allowed. */
enum seg_err seg_req_check_query(struct seg_req *r, const char *const *allowed);

/* limit (1..1000, default 100) and the decoded cursor key (NULL: from the start). */
enum seg_err seg_req_page_params(struct seg_req *r, int *limit, const char **after_key);
/* Answers 200 {"items": [...], "next_cursor": ...} from a page. */
void seg_req_reply_page(struct seg_req *r, const struct seg_page *page);
/*
 * Passes on a list function's result, except that SEG_ERR_MALFORMED (the cursor decoded but is
 * not a key that list made) gets the cursor's problem item, as a cursor that does not decode.
 */
enum seg_err seg_req_page_result(struct seg_req *r, enum seg_err err);
/* A db function listing a tenant's objects: a page of at most limit after the key. */
typedef enum seg_err (*seg_req_lister)(struct seg_db *db, int64_t tenant, const char *after_key,
				       int limit, struct seg_page *page);
/*
 * The whole of a list endpoint without filters: only limit and cursor are accepted, then one
 * page of list for the request's tenant, answered as seg_req_reply_page does.
 */
enum seg_err seg_req_list(struct seg_req *r, seg_req_lister list);
/* The same for a list within one object of the tenant (a segment's members, its history...). */
typedef enum seg_err (*seg_req_lister_of)(struct seg_db *db, int64_t tenant, int64_t id,
					  const char *after_key, int limit, struct seg_page *page);
enum seg_err seg_req_list_of(struct seg_req *r, int64_t id, seg_req_lister_of list);

/*
 * Parses the body as JSON (duplicate keys refused). Not JSON → SEG_ERR_MALFORMED with the
 * position. *out is a new reference.
 */
enum seg_err seg_req_json(struct seg_req *r, json_t **out);

/*
 * Borrows the request's database connection (SEG_ERR_UNAVAILABLE when the database is
 * unreachable, SEG_ERR_BUSY when every connection stays taken). Request workers only; the
 * connection goes back to the pool when the handler returns.
 */
enum seg_err seg_req_db(struct seg_req *r, struct seg_db **db);
/* Gives the request's connection back early. */
void seg_req_db_release(struct seg_req *r);
/*
 * A connection for a thread of the handler's own (an import's batch writer): borrowed and
 * returned by that thread, independent of the request's own connection.
 */
enum seg_err seg_req_db_borrow(struct seg_req *r, struct seg_db **db);
void seg_req_db_return(struct seg_req *r, struct seg_db *db);

/* The Prometheus text of the server's metrics (requests, pool, workers, connections). */
void seg_req_server_metrics(struct seg_req *r, struct seg_buf *out);
/*
 * Whether the server is ready (the database answered its last probe, every migration is
 * applied); *why says what is not. Never waits on the database.
 */
bool seg_req_server_ready(struct seg_req *r, const char **why);

/* Sets a JSON reply; the text is copied. */
void seg_req_reply_json(struct seg_req *r, int status, const char *json);
/* Sets a JSON reply, taking ownership of malloc'ed text. */
void seg_req_reply_json_take(struct seg_req *r, int status, char *json);
/* 204 No Content. */
void seg_req_reply_empty(struct seg_req *r, int status);
void seg_req_set_location(struct seg_req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Streamed replies (a CSV export of a million rows): the body is made in batches by produce,
 * which the server runs on request workers, one batch per call, each call with a database
 * connection borrowed for that call alone. A batch goes to the client as it comes (chunked
 * transfer encoding); the next one is made while the previous one is being sent, and at most
 * about one batch beyond SEG_STREAM_LOW_WATER bytes is held, so memory stays flat whatever the
 * size. The HTTP thread only copies bytes out and never waits on the database: when no bytes
 * are ready it suspends the connection, and the worker that finishes the batch resumes it.
 *
 * produce appends its batch to out and sets *done after the last one (a batch may be empty
 * only when it is the last). An error after the first batch cannot change the status any
 * more: the response is cut short (the client sees an incomplete chunked body) and the error
 * logged. ctx belongs to the stream from this call on; ctx_free (NULL: none) is called once,
 * on any thread, after the last call of produce. HEAD gets the headers only.
 */
typedef enum seg_err (*seg_stream_produce_fn)(void *ctx, struct seg_db *db, struct seg_buf *out,
					      bool *done);
#define SEG_STREAM_LOW_WATER (512 * 1024)
/*
 * Sets a streamed reply of status and content_type (a static string) with extra response
 * header disposition (Content-Disposition; NULL: none; copied). Request workers (a handler).
 */
void seg_req_reply_stream(struct seg_req *r, int status, const char *content_type,
			  const char *disposition, seg_stream_produce_fn produce, void *ctx,
			  void (*ctx_free)(void *ctx));

/*
 * How long a request may wait for a background evaluation before it answers 202 with the job
 * instead (SEGMENTD_SYNC_TIMEOUT), in milliseconds; 0: never wait.
 */
int seg_req_sync_timeout_ms(const struct seg_req *r);

/* The value of the request header name (the first one, when repeated), or NULL. */
const char *seg_req_header(struct seg_req *r, const char *name);

/* Adds a problem item at a JSON Pointer and returns SEG_ERR_INVALID (422). */
enum seg_err seg_req_invalid(struct seg_req *r, const char *pointer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sets the problem's detail and returns err. */
enum seg_err seg_req_fail(struct seg_req *r, enum seg_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends a path segment percent-encoded (for Location headers). */
void seg_req_url_escape(struct seg_buf *out, const char *segment);

#endif

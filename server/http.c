/*
 * The HTTP layer on libmicrohttpd: the daemons (every limit set explicitly), the request
 * lifecycle, strict parsing, and turning a handler's result into a response.
 *
 * The request model (STYLE.md rule 9; docs/ARCHITECTURE.md, "Threads"): the HTTP threads poll
 * connections and never wait on the database; handlers run on request workers.
 *  1. Request line (the URI callback, HTTP thread): the request is created; its raw URI is
 *     remembered, so that a NUL byte hidden in it can be found later, and a query with too
 *     many parameters is cut off before libmicrohttpd parses it (parsing them would exhaust
 *     the connection's memory and leave the request unanswered).
 *  2. Headers complete (first access call, HTTP thread): everything that the headers decide
 *     without the database — strict framing (Content-Length, Transfer-Encoding), NUL and
 *     control bytes, URI length and parameter count, route (404/405), CORS, Content-Type
 *     (415), Content-Length (413), a cached API key (401/403) and the rate limit (429) — is
 *     answered at once. Routes marked SEG_ROUTE_INLINE are answered here too. Otherwise the
 *     connection is suspended and a task goes to the request workers: for a route without a
 *     body, the whole handler; for a route with one, what must come before the body (the key
 *     when it was not in the cache, a stream's begin).
 *  3. Body chunks (HTTP thread): buffered up to SEGMENTD_MAX_BODY (413 beyond), or, for
 *     streams, gathered into an inbox that a worker task takes (the connection suspended) each
 *     time it holds SEG_INBOX_BYTES.
 *  4. End of the body (HTTP thread): a task runs the handler, or the stream's last data and
 *     its end.
 *  5. After the last task resumed the connection (HTTP thread): the response is queued.
 *  6. Completed (HTTP thread): metrics and access log; the request is freed, on a worker when
 *     a stream may still have a writer thread to join.
 * A task is the only owner of its request while it runs; it resumes the connection as its very
 * last act, and the HTTP thread takes the request back from there.
 */
#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "request.h"
#include "router.h"

#define SEG_INBOX_BYTES	     (256 * 1024) /* stream data handed to a worker at a time */
#define SEG_MAX_URI	     8192	  /* longer: 414 */
#define SEG_MAX_QUERY_PARAMS 32		  /* more: 400 */
#define SEG_QUEUE_TIMEOUT_MS 5000	  /* a task queued longer is answered 503 busy */
#define SEG_FD_RESERVE	     64		  /* descriptors kept for everything but clients */
#define SEG_STOP_IDLE_MS     500	  /* while stopping, a connection this quiet is closed */

static const char seg__unmatched[] = "unmatched";

static int64_t seg__now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Where a request stands; see the lifecycle above. */
enum seg__phase {
	SEG__NEW,   /* the request line arrived; headers not yet seen by us */
	SEG__BEGIN, /* a task does what must come before the body */
	SEG__BODY,  /* reading the body (a stream's data task may be running) */
	SEG__RUN,   /* a task runs the handler */
	SEG__DONE   /* a response is queued */
};

enum seg__task_kind { SEG__TASK_BEGIN, SEG__TASK_DATA, SEG__TASK_RUN, SEG__TASK_FREE };

struct seg__http_req {
	struct seg_req r;
	struct seg_task task;
	enum seg__task_kind kind;
	enum seg__phase phase;
	struct seg_conn *conn; /* the registry's entry of the connection */
	enum seg_err err;      /* decided failure */
	bool answered;	       /* a response is queued */
	bool authed;	       /* key, scope and rate limit passed (or not needed) */
	bool content_checked;  /* Content-Type and Content-Length passed (or not needed) */
	bool close;	       /* answer with Connection: close */
	bool streaming;	       /* the route streams and its begin succeeded */
	/* from the request line (the URI callback) */
	const char *raw_uri;
	size_t raw_uri_len;
	bool uri_control; /* a control byte in the URI */
	bool uri_too_long;
	size_t nquery;
	size_t body_seen;
	struct seg_buf inbox; /* stream data not yet given to the stream */
	struct seg_buf allow;
	char *origin; /* the request's Origin when CORS allows it */
};

static void seg__task_main(struct seg_task *task, enum seg_worker_run how);

/* libmicrohttpd must not decode the path: "%2F" inside an id is not a separator. */
static size_t seg__no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static bool seg__request_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (id[i] < 0x20 || id[i] > 0x7e)
			return false;
	return true;
}

/*
 * A new request id: 128 random bits from a per-thread xorshift128+ generator seeded once from
 * getrandom(2), so that a request costs no system call for it. Ids need to be unique, not
 * secret.
 */
static void seg__new_request_id(char out[129])
{
	static const char hex[] = "0123456789abcdef";
	static _Thread_local uint64_t state[2];
	if (!state[0] && !state[1]) {
		if (getrandom(state, sizeof(state), 0) != (ssize_t)sizeof(state) ||
		    (!state[0] && !state[1])) {
			state[0] = (uint64_t)seg__now_us() ^ (uint64_t)(uintptr_t)&state;
			state[1] = 0x9e3779b97f4a7c15ull;
		}
	}
	for (int half = 0; half < 2; half++) {
		uint64_t a = state[0], b = state[1];
		state[0] = b;
		a ^= a << 23;
		state[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
		uint64_t v = state[1] + b;
		for (int i = 0; i < 16; i++)
			out[half * 16 + i] = hex[(v >> (60 - 4 * i)) & 15];
	}
	out[32] = '\0';
}

/* The media type of a Content-Type value, lowercase, without parameters. */
static char *seg__media_type(const char *value)
{
	if (!value)
		return NULL;
	while (*value == ' ')
		value++;
	size_t n = strcspn(value, "; \t");
	char *t = seg_strndup(value, n);
	for (char *p = t; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return t;
}

/* Whether origin is allowed by SEGMENTD_CORS_ORIGINS (comma-separated, "*" for any). */
static bool seg__cors_allowed(const struct seg_config *c, const char *origin)
{
	const char *list = c->cors_origins;
	size_t n = strlen(origin);
	if (!origin[0] || !list[0])
		return false;
	while (*list) {
		while (*list == ' ' || *list == ',')
			list++;
		size_t m = strcspn(list, ", ");
		if ((m == 1 && *list == '*') || (m == n && strncmp(list, origin, n) == 0))
			return true;
		list += m;
	}
	return false;
}

/* ---- strict parsing ------------------------------------------------------------------- */

/* RFC 9110 tchar: the characters of a token (header names, methods). */
static bool seg__tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool seg__token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!seg__tchar((unsigned char)s[i]))
			return false;
	return true;
}

/* A control byte that may not appear in a header value (HTAB may). */
static bool seg__ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* True when p[0..n) are all NUL bytes and n is within [lo, hi]. */
static bool seg__zeros(const char *p, size_t n, size_t lo, size_t hi)
{
	if (n < lo || n > hi)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

struct seg__header {
	const char *key, *value;
	size_t key_len, value_len;
};

struct seg__headers {
	struct seg__header *items;
	size_t n, cap;
};

static enum MHD_Result seg__collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
					   size_t key_size, const char *value, size_t value_size)
{
	struct seg__headers *hs = cls;
	(void)kind;
	if (hs->n == hs->cap) {
		hs->cap = hs->cap ? hs->cap * 2 : 32;
		hs->items = seg_realloc(hs->items, hs->cap * sizeof(*hs->items));
	}
	hs->items[hs->n++] =
		(struct seg__header){key, value ? value : "", key_size, value ? value_size : 0};
	return MHD_YES;
}

/*
 * Finds the NUL bytes that libmicrohttpd's C strings hide. libmicrohttpd 0.9.75 parses the
 * request line and the headers in place in one buffer, replacing separators (the spaces of the
 * request line, each ':' and each CR/LF) with NUL bytes, and hands over C strings; a NUL the
 * client sent ends such a string early and the rest is silently dropped. The buffer itself
 * still shows it: the header block runs from the method (the start of the buffer) for
 * MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE bytes, and between the strings we were given there
 * may be nothing but the separators libmicrohttpd wrote. So: the URI must end where the
 * version begins; after the version and after each value there may be only one line end (one
 * or two NULs, for LF or CRLF) before the next header name, and after the last value a line
 * end and the empty line (two to four NULs); between a name and its value only the ':' (a
 * NUL) and blanks. A NUL at the very end of a header value, with nothing after it, loses no
 * byte of the value and cannot be told from a line end; every other NUL shows as a gap.
 * Returns NULL when the request is clean, else what is wrong.
 */
static const char *seg__check_raw(struct seg__http_req *h, struct MHD_Connection *conn,
				  const char *method, const char *url, const char *version)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	struct seg__headers hs = {NULL, 0, 0};
	const char *why = NULL;

	size_t mlen = strlen(method);
	if (!seg__token(method, mlen))
		return "the method is not a token";
	if (h->raw_uri &&
	    (h->raw_uri <= method + mlen ||
	     strspn(method + mlen + 1, " ") != (size_t)(h->raw_uri - method - mlen - 1)))
		return "the request line holds a NUL byte";
	if (h->uri_control)
		return "the request line holds a control byte";
	if (!h->raw_uri || url != h->raw_uri || version != h->raw_uri + h->raw_uri_len + 1)
		return "the request line holds a NUL byte";
	if (!info)
		return NULL; /* cannot happen once the headers are in */
	const char *end = method + info->header_size;

	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, seg__collect_header, &hs);
	const char *prev = version + strlen(version); /* where the previous string ended */
	for (size_t i = 0; i < hs.n && !why; i++) {
		const struct seg__header *x = &hs.items[i];
		if (x->key < prev || x->key + x->key_len >= end)
			why = "a header line is malformed or folded over lines";
		else if (!seg__zeros(prev, (size_t)(x->key - prev), 1, 2))
			why = "the request holds a NUL byte";
		else if (!seg__token(x->key, x->key_len))
			why = "a header name is not a token (no blanks before the colon)";
		else if (x->value < x->key + x->key_len + 1 || x->value + x->value_len > end)
			why = "a header line is malformed or folded over lines";
		else if (x->key[x->key_len] != '\0' ||
			 strspn(x->key + x->key_len + 1, " \t") <
				 (size_t)(x->value - (x->key + x->key_len + 1)))
			why = "a header holds a NUL byte";
		else {
			for (size_t j = 0; j < x->value_len && !why; j++)
				if (seg__ctl((unsigned char)x->value[j]))
					why = "a header value holds a control byte";
		}
		prev = x->value + x->value_len;
	}
	if (!why && (prev > end || !seg__zeros(prev, (size_t)(end - prev), 2, 4)))
		why = "the request holds a NUL byte";
	free(hs.items);
	return why;
}

/*
 * Message framing as RFC 9112 wants it, so that no proxy in front of us can read a request's
 * end differently: one Content-Length of digits at most, no Content-Length with
 * Transfer-Encoding, Transfer-Encoding only "chunked", one Host.
 */
static const char *seg__check_framing(struct MHD_Connection *conn)
{
	struct seg__headers hs = {NULL, 0, 0};
	const char *why = NULL;
	int cl = 0, te = 0, host = 0;

	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, seg__collect_header, &hs);
	for (size_t i = 0; i < hs.n && !why; i++) {
		const struct seg__header *x = &hs.items[i];
		if (strcasecmp(x->key, "Content-Length") == 0) {
			if (++cl > 1)
				why = "Content-Length is given more than once";
			else if (x->value_len == 0 ||
				 strspn(x->value, "0123456789") != x->value_len)
				why = "Content-Length is not a number";
		} else if (strcasecmp(x->key, "Transfer-Encoding") == 0) {
			if (++te > 1)
				why = "Transfer-Encoding is given more than once";
			else if (strcasecmp(x->value, "chunked") != 0)
				why = "Transfer-Encoding may only be \"chunked\"";
		} else if (strcasecmp(x->key, "Host") == 0) {
			if (++host > 1)
				why = "Host is given more than once";
		}
	}
	if (!why && cl && te)
		why = "Content-Length and Transfer-Encoding may not be given together";
	free(hs.items);
	return why;
}

/* ---- streamed replies (seg_req_reply_stream) ------------------------------------------ */

/*
 * A streamed reply. Shared by the response's content reader (HTTP thread) and the task that
 * makes the next batch (a request worker), under lock; freed by whichever lets go last: the
 * response (its free callback, once libmicrohttpd is done with it) or a task still running.
 * The connection is suspended only while the reader found nothing to send and a batch is
 * being made; that task resumes it, and while it is suspended it cannot end, so the task's
 * resume always finds it.
 */
struct seg__out {
	pthread_mutex_t lock;
	struct seg_task task;
	struct seg_server *server;
	struct MHD_Connection *conn;
	seg_stream_produce_fn produce;
	void *ctx;
	void (*ctx_free)(void *ctx);
	const char *content_type;
	char *disposition;
	int status;
	char request_id[129];
	struct seg_buf ready; /* made, not yet sent: ready.data[off..len) */
	size_t off;
	bool producing;	  /* a task is making a batch */
	bool done;	  /* the last batch is made (or making failed) */
	bool failed;	  /* making failed: the body is cut short */
	bool suspended;	  /* the reader suspended the connection to wait for a batch */
	bool reader_gone; /* libmicrohttpd freed the response */
};

static void seg__out_free(struct seg__out *o)
{
	if (!o)
		return;
	if (o->ctx_free)
		o->ctx_free(o->ctx);
	seg_buf_release(&o->ready);
	free(o->disposition);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

/*
 * Whether to start making the next batch (little is left to send and no task is making one);
 * marks it started. Under o->lock; the caller submits the task after unlocking (a submit may
 * run the task at once when the workers have stopped).
 */
static bool seg__out_more(struct seg__out *o)
{
	if (o->producing || o->done || o->reader_gone ||
	    o->ready.len - o->off >= SEG_STREAM_LOW_WATER)
		return false;
	o->producing = true;
	return true;
}

/* A request worker makes one batch. */
static void seg__out_task(struct seg_task *task, enum seg_worker_run how)
{
	struct seg__out *o = (struct seg__out *)((char *)task - offsetof(struct seg__out, task));
	struct seg_buf batch = SEG_BUF_INIT;
	struct seg_db *db = NULL;
	enum seg_err err = how == SEG_WORKER_CANCELLED ? SEG_ERR_CANCELLED : SEG_OK;
	bool done = false, gone, wake, more = false;

	/* a queue wait (SEG_WORKER_EXPIRED) does not stop a reply under way */
	seg_log_set_request(o->request_id);
	pthread_mutex_lock(&o->lock);
	gone = o->reader_gone;
	pthread_mutex_unlock(&o->lock);
	if (!err && !gone)
		err = seg_pool_acquire(o->server->pool, &db);
	if (!err && !gone)
		err = o->produce(o->ctx, db, &batch, &done);
	seg_pool_release(o->server->pool, db);
	if (err && !gone)
		seg_warn("a streamed reply was cut short: %s", seg_err_detail(err));

	pthread_mutex_lock(&o->lock);
	if (err) {
		o->failed = o->done = true;
	} else if (!gone) {
		/* keep what is unsent at the front, so the buffer never grows past one batch */
		if (o->off) {
			memmove(o->ready.data, o->ready.data + o->off, o->ready.len - o->off);
			seg_buf_truncate(&o->ready, o->ready.len - o->off);
			o->off = 0;
		}
		seg_buf_add(&o->ready, batch.data, batch.len);
		o->done = done;
	}
	o->producing = false;
	if (!o->done && !batch.len) /* nothing yet: ask again */
		more = seg__out_more(o);
	wake = o->suspended && !o->producing;
	if (wake)
		o->suspended = false;
	gone = o->reader_gone && !o->producing;
	pthread_mutex_unlock(&o->lock);
	seg_buf_release(&batch);
	seg_log_set_request(NULL);
	if (wake)
		MHD_resume_connection(o->conn); /* suspended: it cannot have ended */
	if (more)
		seg_workers_submit(o->server->workers, &o->task);
	if (gone)
		seg__out_free(o);
}

/* libmicrohttpd's content reader (HTTP thread): copies out what is ready, never waits. */
static ssize_t seg__out_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct seg__out *o = cls;
	ssize_t n;
	bool more = false;
	(void)pos;

	pthread_mutex_lock(&o->lock);
	if (o->off < o->ready.len) {
		size_t k = o->ready.len - o->off < max ? o->ready.len - o->off : max;
		memcpy(buf, o->ready.data + o->off, k);
		o->off += k;
		if (o->off == o->ready.len) {
			seg_buf_reset(&o->ready);
			o->off = 0;
		}
		more = seg__out_more(o);
		n = (ssize_t)k;
	} else if (o->done) {
		n = o->failed ? MHD_CONTENT_READER_END_WITH_ERROR
			      : MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		more = seg__out_more(o);
		o->suspended = true;
		MHD_suspend_connection(o->conn); /* the batch's task resumes it */
		n = 0;
	}
	pthread_mutex_unlock(&o->lock);
	if (more)
		seg_workers_submit(o->server->workers, &o->task);
	return n;
}

/* libmicrohttpd is done with the response (HTTP thread). */
static void seg__out_reader_gone(void *cls)
{
	struct seg__out *o = cls;
	bool free_now;
	pthread_mutex_lock(&o->lock);
	o->reader_gone = true;
	free_now = !o->producing;
	pthread_mutex_unlock(&o->lock);
	if (free_now)
		seg__out_free(o);
}

void seg_req_reply_stream(struct seg_req *r, int status, const char *content_type,
			  const char *disposition, seg_stream_produce_fn produce, void *ctx,
			  void (*ctx_free)(void *ctx))
{
	struct seg__out *o = seg_calloc(1, sizeof(*o));
	pthread_mutex_init(&o->lock, NULL);
	o->task.run = seg__out_task;
	o->server = r->server;
	o->conn = r->conn;
	o->produce = produce;
	o->ctx = ctx;
	o->ctx_free = ctx_free;
	o->content_type = content_type;
	o->disposition = disposition ? seg_strdup(disposition) : NULL;
	o->status = status;
	snprintf(o->request_id, sizeof(o->request_id), "%s", r->request_id);
	seg_buf_init(&o->ready);
	seg__out_free(r->reply_stream);
	r->reply_stream = o;
	seg_buf_reset(&r->reply);
	r->status = status;
	r->reply_type = content_type;
}

/* ---- responses ------------------------------------------------------------------------ */

static enum MHD_Result seg__queue(struct seg__http_req *h)
{
	struct seg_req *r = &h->r;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char num[32];
	size_t len;

	if (h->err) {
		struct seg_buf body = SEG_BUF_INIT;
		if (h->err == SEG_ERR_INTERNAL) {
			seg_problem_release(&r->problem);
			seg_problem_init(&r->problem);
			seg_problem_detail(
				&r->problem,
				"the server failed to handle this request (request id %s)",
				r->request_id);
		}
		seg_problem_render(&r->problem, h->err, NULL, &body);
		if (r->problem_extra.len) {
			seg_buf_truncate(&body, body.len - 1); /* the closing brace */
			seg_buf_add(&body, r->problem_extra.data, r->problem_extra.len);
			seg_buf_addch(&body, '}');
		}
		seg_buf_release(&r->reply);
		r->reply = body;
		r->status = seg_err_status(h->err);
		r->reply_type = "application/problem+json";
		if ((seg_err_transient(h->err) || h->err == SEG_ERR_RATE_LIMITED) &&
		    !r->retry_after)
			r->retry_after = 2;
	}
	struct seg__out *out = r->reply_stream;
	r->reply_stream = NULL;
	if (out && h->err) {
		seg__out_free(out);
		out = NULL;
	}
	if (out) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, seg__out_read,
							 out, seg__out_reader_gone);
		if (!resp) {
			seg__out_free(out);
			return MHD_NO;
		}
		if (out->disposition)
			MHD_add_response_header(resp, "Content-Disposition", out->disposition);
	} else {
		char *data = seg_buf_detach(&r->reply, &len);
		resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(data);
			return MHD_NO;
		}
	}
	if (r->reply_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->reply_type);
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (h->close || __atomic_load_n(&r->server->stopping, __ATOMIC_ACQUIRE))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (r->location)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
	if (r->retry_after) {
		snprintf(num, sizeof(num), "%d", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (h->err == SEG_ERR_UNAUTHENTICATED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"segmentd\"");
	if (h->allow.len && (h->err == SEG_ERR_METHOD_NOT_ALLOWED || r->status == 204))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, h->allow.data);
	if (h->origin) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", h->origin);
		MHD_add_response_header(resp, "Vary", "Origin");
		MHD_add_response_header(resp, "Access-Control-Expose-Headers",
					"X-Request-Id, Location, Retry-After, Allow");
		if (strcmp(r->method, "OPTIONS") == 0) {
			MHD_add_response_header(resp, "Access-Control-Allow-Methods",
						h->allow.data);
			MHD_add_response_header(resp, "Access-Control-Allow-Headers",
						"Authorization, Content-Type, X-Request-Id");
			MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
		}
	}
	ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	h->answered = true;
	h->phase = SEG__DONE;
	seg_conn_phase(r->server->conns, h->conn, SEG_CONN_BUSY);
	return ret;
}

/* Fails the request with a 400 that closes the connection (framing and byte-level faults). */
static enum seg_err seg__refuse(struct seg__http_req *h, const char *why)
{
	h->close = true;
	return seg_req_fail(&h->r, SEG_ERR_MALFORMED, "%s", why);
}

/* ---- authentication ------------------------------------------------------------------- */

/*
 * The key, its scope and the tenant's rate limit. may_wait: the key may be looked up in the
 * database (request workers). Without it, *miss says that only the database can tell.
 */
static enum seg_err seg__authorize(struct seg__http_req *h, bool may_wait, bool *miss)
{
	struct seg_req *r = &h->r;
	struct seg_server *s = r->server;
	const char *v;
	enum seg_err err;

	*miss = false;
	if (h->authed || !r->route->scope) {
		h->authed = true;
		return SEG_OK;
	}
	v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (may_wait)
		err = seg_auth_verify(s->auth, s->pool, v, &r->tenant, &r->scopes);
	else
		err = seg_auth_cached(s->auth, v, &r->tenant, &r->scopes, miss);
	if (*miss)
		return SEG_OK;
	if (err == SEG_ERR_UNAUTHENTICATED)
		return seg_req_fail(r, err,
				    v ? "the API key is not valid"
				      : "an API key is required: Authorization: Bearer <key>");
	if (err)
		return err;
	if (!(r->scopes & r->route->scope))
		return seg_req_fail(r, SEG_ERR_FORBIDDEN, "this API key lacks the \"%s\" scope",
				    r->route->scope == SEG_SCOPE_READ	 ? "read"
				    : r->route->scope == SEG_SCOPE_WRITE ? "write"
									 : "admin");
	if (!seg_ratelimit_take(s->ratelimit, r->tenant, &r->retry_after))
		return seg_req_fail(r, SEG_ERR_RATE_LIMITED,
				    "too many requests for this tenant; retry after %d s",
				    r->retry_after);
	h->authed = true;
	return SEG_OK;
}

/*
 * What a body's headers must say, checked after the key (401/403/429 come first): the
 * Content-Type (415) and the Content-Length (413). On the HTTP thread, or in the begin task
 * when the key was not in the cache: libmicrohttpd leaves a suspended connection alone, so a
 * task may read its headers (handlers read their query parameters the same way).
 */
static enum seg_err seg__check_content(struct seg__http_req *h)
{
	struct seg_req *r = &h->r;
	const char *v;

	h->content_checked = true;
	if (!r->route->content_types)
		return SEG_OK;
	bool ok = false;
	v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	r->content_type = seg__media_type(v);
	for (const char *const *t = r->route->content_types; *t && r->content_type && !ok; t++)
		ok = strcmp(*t, r->content_type) == 0;
	if (!ok) {
		struct seg_buf list = SEG_BUF_INIT;
		for (const char *const *t = r->route->content_types; *t; t++)
			seg_buf_addf(&list, "%s%s", t == r->route->content_types ? "" : ", ", *t);
		seg_req_fail(r, SEG_ERR_UNSUPPORTED_MEDIA,
			     "Content-Type \"%s\" is not accepted here; use %s", v ? v : "",
			     list.data);
		seg_buf_release(&list);
		return SEG_ERR_UNSUPPORTED_MEDIA;
	}
	v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!r->route->stream && v && strtoull(v, NULL, 10) > r->server->config->max_body)
		return seg_req_fail(r, SEG_ERR_TOO_LARGE, "the body is %s bytes; the limit is %zu",
				    v, r->server->config->max_body);
	return SEG_OK;
}

/* ---- tasks ---------------------------------------------------------------------------- */

/*
 * Hands the request to a worker; the connection sleeps until the task resumes it. The caller
 * must not touch h afterwards: the task may already be running.
 */
static void seg__submit(struct seg__http_req *h, enum seg__task_kind kind)
{
	h->kind = kind;
	seg_conn_phase(h->r.server->conns, h->conn, SEG_CONN_BUSY);
	MHD_suspend_connection(h->r.conn);
	seg_workers_submit(h->r.server->workers, &h->task);
}

static void seg__http_req_free(struct seg__http_req *h)
{
	struct seg_req *r = &h->r;
	if (r->stream && r->stream_free)
		r->stream_free(r->stream);
	seg__out_free(r->reply_stream); /* set, but never sent */
	seg_pool_release(r->server->pool, r->db);
	for (int i = 0; i < r->nparams; i++)
		free(r->params[i]);
	for (size_t i = 0; i < r->nquery_values; i++)
		free(r->query_values[i]);
	free(r->query_values);
	free(r->content_type);
	free(r->location);
	free(h->origin);
	seg_buf_release(&r->body);
	seg_buf_release(&r->reply);
	seg_buf_release(&r->problem_extra);
	seg_buf_release(&h->allow);
	seg_buf_release(&h->inbox);
	seg_problem_release(&r->problem);
	free(h);
}

/* The stream's data: what the inbox holds. */
static enum seg_err seg__feed(struct seg__http_req *h)
{
	enum seg_err err = SEG_OK;
	if (h->inbox.len)
		err = h->r.route->stream->data(&h->r, h->inbox.data, h->inbox.len);
	seg_buf_reset(&h->inbox);
	return err;
}

/* A request worker runs this; see the lifecycle atop this file. */
static void seg__task_main(struct seg_task *task, enum seg_worker_run how)
{
	struct seg__http_req *h =
		(struct seg__http_req *)((char *)task - offsetof(struct seg__http_req, task));
	struct seg_req *r = &h->r;
	const struct seg_route *rt = r->route;
	enum seg_err err = SEG_OK;
	bool miss;

	if (h->kind == SEG__TASK_FREE) {
		seg__http_req_free(h);
		return;
	}
	seg_log_set_request(r->request_id);
	if (how == SEG_WORKER_EXPIRED && h->streaming)
		how = SEG_WORKER_RUN; /* a stream under way goes on: the wait was the queue's */
	if (how == SEG_WORKER_CANCELLED)
		err = SEG_ERR_CANCELLED;
	else if (how == SEG_WORKER_EXPIRED)
		err = seg_req_fail(r, SEG_ERR_BUSY,
				   "every request worker stayed busy for %d ms; try again shortly",
				   SEG_QUEUE_TIMEOUT_MS);
	if (!err)
		err = seg__authorize(h, true, &miss);
	switch (h->kind) {
	case SEG__TASK_BEGIN:
		if (!err && !h->content_checked)
			err = seg__check_content(h);
		if (!err && rt->stream) {
			err = rt->stream->begin(r);
			h->streaming = !err;
		}
		break;
	case SEG__TASK_DATA:
		if (!err)
			err = seg__feed(h);
		break;
	case SEG__TASK_RUN:
		if (!err && h->streaming)
			err = seg__feed(h);
		if (!err && h->streaming)
			err = rt->stream->end(r);
		else if (!err && rt->handler)
			err = rt->handler(r);
		if (!err && !r->status) {
			seg_error("handler for %s %s set no reply", rt->method, rt->pattern);
			err = SEG_ERR_INTERNAL;
		}
		break;
	case SEG__TASK_FREE: break;
	}
	if (err && !h->err)
		h->err = err;
	seg_req_db_release(r); /* a request holds a connection only while a task runs */
	seg_log_set_request(NULL);
	MHD_resume_connection(r->conn); /* the last act: the HTTP thread owns h from here */
}

/* ---- libmicrohttpd callbacks (HTTP threads) -------------------------------------------- */

/*
 * The request line is in (before libmicrohttpd touches the URI or parses the query): creates
 * the request, which libmicrohttpd then hands to the access handler as its context.
 */
static void *seg__on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct seg_server *s = cls;
	struct seg__http_req *h = seg_calloc(1, sizeof(*h));
	const union MHD_ConnectionInfo *sc =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	h->task.run = seg__task_main;
	h->r.server = s;
	h->r.conn = conn;
	h->r.started_us = seg__now_us();
	seg_buf_init(&h->r.body);
	seg_buf_init(&h->r.reply);
	seg_buf_init(&h->r.problem_extra);
	seg_buf_init(&h->allow);
	seg_buf_init(&h->inbox);
	seg_problem_init(&h->r.problem);
	h->conn = sc ? sc->socket_context : NULL;
	__atomic_add_fetch(&s->active, 1, __ATOMIC_ACQ_REL);
	seg_conn_phase(s->conns, h->conn, SEG_CONN_HEADERS);
	if (!uri)
		return h;

	h->raw_uri = uri;
	h->raw_uri_len = strlen(uri);
	for (size_t i = 0; i < h->raw_uri_len; i++)
		if ((unsigned char)uri[i] < 0x20 || uri[i] == 0x7f)
			h->uri_control = true;
	h->uri_too_long = h->raw_uri_len > SEG_MAX_URI;
	char *q = memchr(uri, '?', h->raw_uri_len);
	if (q && q[1]) {
		h->nquery = 1;
		for (const char *p = q + 1; *p; p++)
			h->nquery += *p == '&';
	}
	/*
	 * Too many parameters, or too long a URI: blank the query out, so that libmicrohttpd,
	 * which found this '?' before calling us, parses no parameters (their records would
	 * exhaust the connection's memory). The bytes are the connection's own read buffer; the
	 * request is refused at the first access call anyway.
	 */
	if (q && (h->nquery > SEG_MAX_QUERY_PARAMS || h->uri_too_long))
		q[1] = '\0';
	return h;
}

/*
 * Step 2: everything that can be decided from the headers (HTTP thread). *task is set to the
 * task to submit next, or -1 for none.
 */
static enum seg_err seg__begin(struct seg__http_req *h, const char *url, const char *version,
			       int *task)
{
	struct seg_req *r = &h->r;
	struct seg_server *s = r->server;
	const char *why;
	enum seg_err err;
	bool miss;

	*task = -1;
	if ((why = seg__check_raw(h, r->conn, r->method, url, version)) != NULL)
		return seg__refuse(h, why);
	if ((why = seg__check_framing(r->conn)) != NULL)
		return seg__refuse(h, why);
	if (h->uri_too_long)
		return seg_req_fail(r, SEG_ERR_URI_TOO_LONG,
				    "the URI is %zu bytes long; at most %d are read",
				    h->raw_uri_len, SEG_MAX_URI);
	if (h->nquery > SEG_MAX_QUERY_PARAMS)
		return seg_req_fail(r, SEG_ERR_MALFORMED,
				    "the query has %zu parameters; at most %d are read", h->nquery,
				    SEG_MAX_QUERY_PARAMS);

	const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
	if (origin && seg__cors_allowed(s->config, origin))
		h->origin = seg_strdup(origin);

	/* OPTIONS lists the allowed methods; HEAD is answered as GET, without the body. */
	const char *method = strcmp(r->method, "OPTIONS") == 0 ? ""
			     : strcmp(r->method, "HEAD") == 0  ? "GET"
							       : r->method;
	switch (seg_route_match(r, method, url, &h->allow)) {
	case SEG_ROUTE_FOUND: break;
	case SEG_ROUTE_NOT_FOUND:
		return seg_req_fail(r, SEG_ERR_NOT_FOUND, "no resource at \"%s\"", url);
	case SEG_ROUTE_BAD_METHOD:
		if (!*method) { /* OPTIONS: the allowed methods, and the CORS preflight */
			seg_req_reply_empty(r, 204);
			return SEG_OK;
		}
		return seg_req_fail(r, SEG_ERR_METHOD_NOT_ALLOWED,
				    "%s is not allowed on \"%s\"; allowed: %s", r->method, url,
				    h->allow.data);
	case SEG_ROUTE_BAD_PATH:
		return seg_req_bad_param(
			r, "path",
			"a path segment does not decode to text (a NUL byte or not UTF-8)");
	}

	err = seg__authorize(h, false, &miss);
	if (err)
		return err;

	if (!miss && (err = seg__check_content(h)) != SEG_OK)
		return err;

	if (r->route->content_types && (miss || r->route->stream)) {
		h->phase = SEG__BEGIN; /* the key, or a stream's begin, before the body */
		*task = SEG__TASK_BEGIN;
	} else {
		h->phase = SEG__BODY;
		seg_conn_phase(s->conns, h->conn, SEG_CONN_BODY);
	}
	return SEG_OK;
}

/* Whether the request carries a body (libmicrohttpd read its framing already). */
static bool seg__has_body(struct MHD_Connection *conn)
{
	const char *cl =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
	       (cl && strtoull(cl, NULL, 10) > 0);
}

/* Step 3: a chunk of the body (HTTP thread). */
static void seg__body(struct seg__http_req *h, const char *data, size_t len)
{
	struct seg_req *r = &h->r;
	size_t max = r->server->config->max_body;

	h->body_seen += len;
	seg_conn_body_progress(r->server->conns, h->conn, len);
	if (h->err || r->status || !r->route || !r->route->content_types || h->phase != SEG__BODY)
		return; /* discarded: the answer is decided, or the route takes no body */
	if (h->streaming) {
		seg_buf_add(&h->inbox, data, len);
		if (h->inbox.len >= SEG_INBOX_BYTES)
			seg__submit(h, SEG__TASK_DATA); /* h is the task's from here */
		return;
	}
	if (h->body_seen > max) {
		seg_buf_release(&r->body);
		h->err = seg_req_fail(r, SEG_ERR_TOO_LARGE,
				      "the body is larger than the limit of %zu bytes", max);
		return;
	}
	seg_buf_add(&r->body, data, len);
}

static enum MHD_Result seg__on_request(void *cls, struct MHD_Connection *conn, const char *url,
				       const char *method, const char *version,
				       const char *upload_data, size_t *upload_data_size,
				       void **con_cls)
{
	struct seg__http_req *h = *con_cls;
	(void)cls;

	if (!h) /* no URI callback ran: cannot happen, but never crash on it */
		return MHD_NO;
	if (h->phase == SEG__NEW) {
		struct seg_req *r = &h->r;
		r->method = method;
		const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
		if (seg__request_id_ok(id))
			snprintf(r->request_id, sizeof(r->request_id), "%s", id);
		else
			seg__new_request_id(r->request_id);
		seg_log_set_request(r->request_id);
		int task;
		h->err = seg__begin(h, url, version, &task);
		/*
		 * Decided from the headers alone. With a body to come, answer now, before any of it
		 * is read (libmicrohttpd then closes the connection). Without one, answer at the
		 * final call, which keeps the connection alive: libmicrohttpd 0.9.75 closes every
		 * connection whose response was queued from the first call.
		 */
		if (h->err || h->r.status) {
			if (h->close || seg__has_body(conn))
				return seg__queue(h);
			h->phase = SEG__BODY;
			return MHD_YES;
		}
		if (task >= 0)
			seg__submit(h, (enum seg__task_kind)task); /* h is the task's from here */
		return MHD_YES;
	}
	/*
	 * While a task has the request, libmicrohttpd may still call us from the loop that feeds a
	 * chunked body piece by piece; leave those bytes where they are (unprocessed: the loop
	 * stops) and touch nothing of the request. They come again after the resume.
	 */
	const union MHD_ConnectionInfo *susp =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_SUSPENDED);
	if (susp && susp->suspended)
		return MHD_YES;
	seg_log_set_request(h->r.request_id);
	if (h->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		seg__body(h, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	switch (h->phase) {
	case SEG__BEGIN: /* the begin task resumed us, before the body */
		if (h->err)
			return seg__queue(h);
		h->phase = SEG__BODY;
		seg_conn_phase(h->r.server->conns, h->conn, SEG_CONN_BODY);
		return MHD_YES;
	case SEG__BODY: /* the whole body is here (or there was none) */
		if (h->err || h->r.status)
			return seg__queue(h);
		if (h->r.route->flags & SEG_ROUTE_INLINE) {
			h->err = h->r.route->handler(&h->r);
			return seg__queue(h);
		}
		h->phase = SEG__RUN;
		seg__submit(h, SEG__TASK_RUN); /* h is the task's from here */
		return MHD_YES;
	case SEG__RUN: /* the handler's task resumed us */ return seg__queue(h);
	case SEG__NEW:
	case SEG__DONE: break;
	}
	return MHD_YES;
}

static void seg__on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode code)
{
	struct seg_server *s = cls;
	struct seg__http_req *h = *con_cls;
	struct seg_req *r;

	if (!h)
		return;
	*con_cls = NULL;
	r = &h->r;
	double ms = (double)(seg__now_us() - r->started_us) / 1000;
	const char *route = r->route ? r->route->pattern : seg__unmatched;
	int st = h->answered ? r->status : 499; /* the client went away first */
	if (h->phase == SEG__NEW) {
		/*
		 * Never reached the handler: refused by libmicrohttpd itself (a malformed or
		 * oversized request head: its status), cut for missing the header deadline (408,
		 * though nothing was sent), or abandoned by the client (499).
		 */
		const union MHD_ConnectionInfo *i =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
		st = i ? (int)i->http_status : seg_conn_cut(s->conns, h->conn) ? 408 : 499;
		r->method = "-";
		route = seg__unmatched;
	} else if (!h->answered && seg_conn_cut(s->conns, h->conn)) {
		st = 408; /* cut for missing the body deadline, or by the shutdown */
	}
	seg_metrics_observe(s->metrics, r->method, route, st, ms / 1000);
	enum seg_log_level level =
		code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? SEG_LOG_INFO : SEG_LOG_WARN;
	enum seg_access_log al = s->config->access_log;
	if (seg_log_enabled(level) &&
	    (al == SEG_ACCESS_LOG_ALL || (al == SEG_ACCESS_LOG_ERRORS && st >= 400))) {
		struct seg_log_field f[] = {
			SEG_LOG_STR("method", r->method), SEG_LOG_STR("route", route),
			SEG_LOG_NUM("status", st),
			SEG_LOG_NUM("duration_ms", (int64_t)(ms * 1000) / 1000.0),
			SEG_LOG_STR("client", seg_conn_address(h->conn))};
		seg_log_set_request(r->request_id[0] ? r->request_id : NULL);
		seg_log_fields(level, "request", f, sizeof(f) / sizeof(f[0]));
	}
	seg_log_set_request(NULL);
	seg_conn_phase(s->conns, h->conn, SEG_CONN_WAIT);
	__atomic_sub_fetch(&s->active, 1, __ATOMIC_ACQ_REL);

	if (r->stream) { /* its writer thread may still be storing a batch: join it elsewhere */
		h->kind = SEG__TASK_FREE;
		seg_workers_submit(s->workers, &h->task);
	} else {
		seg__http_req_free(h);
	}
}

static void seg__on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			       enum MHD_ConnectionNotificationCode code)
{
	struct seg_server *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *addr =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		*socket_context = seg_conns_open(s->conns, fd ? fd->connect_fd : -1,
						 addr ? addr->client_addr : NULL);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		seg_conns_close(s->conns, *socket_context);
		*socket_context = NULL;
	}
}

static enum MHD_Result seg__on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct seg_server *s = cls;
	return seg_conns_admit(s->conns, addr, len) ? MHD_YES : MHD_NO;
}

static void seg__mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct seg_buf b = SEG_BUF_INIT;
	(void)cls;
	seg_buf_vaddf(&b, fmt, ap);
	while (b.len && b.data[b.len - 1] == '\n')
		seg_buf_truncate(&b, b.len - 1);
	/*
	 * libmicrohttpd reports what clients do wrong (closed sockets, malformed heads): the
	 * access log and /metrics tell those already, and at warn an attack would flood the log.
	 */
	seg_debug("http: %s", b.data);
	seg_buf_release(&b);
}

/* ---- start and stop (main thread) ----------------------------------------------------- */

/*
 * Raises the soft limit on open files to the hard one, and returns how many connections fit
 * below it (the pool, the listening sockets, logs and import writers need some).
 */
static int seg__fit_connections(const struct seg_config *c)
{
	struct rlimit rl;
	int want = c->max_connections;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return want;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = old;
	}
	long room = (long)rl.rlim_cur - SEG_FD_RESERVE - 2L * c->db_pool - 2L * c->http_threads;
	if (rl.rlim_cur != RLIM_INFINITY && room < want) {
		int fit = room > 16 ? (int)room : 16;
		seg_warn(
			"the file-descriptor limit is %llu: serving at most %d connections instead "
			"of %d (raise it with ulimit -n)",
			(unsigned long long)rl.rlim_cur, fit, want);
		return fit;
	}
	return want;
}

enum seg_err seg_http_start(struct seg_server *s)
{
	const struct seg_config *c = s->config;
	struct sockaddr_in6 a6;
	struct sockaddr_in a4;
	const struct sockaddr *addr;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	const char *host = strcmp(c->listen_host, "localhost") == 0 ? "127.0.0.1" : c->listen_host;
	if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons((uint16_t)c->listen_port);
		addr = (const struct sockaddr *)&a4;
	} else {
		char h6[64];
		snprintf(h6, sizeof(h6), "%s", host);
		if (h6[0] == '[') { /* [::1] */
			memmove(h6, h6 + 1, strlen(h6));
			h6[strcspn(h6, "]")] = '\0';
		}
		if (inet_pton(AF_INET6, h6, &a6.sin6_addr) != 1) {
			seg_error("could not parse listen address \"%s\": use an IPv4 or IPv6 "
				  "address",
				  c->listen_host);
			return SEG_ERR_INVALID;
		}
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons((uint16_t)c->listen_port);
		addr = (const struct sockaddr *)&a6;
		flags |= MHD_USE_IPv6;
	}

	int max_conn = seg__fit_connections(c);
	struct seg_conns_config cc = {max_conn, c->max_connections_per_address,
				      c->idle_timeout * 1000, c->header_timeout * 1000,
				      c->body_timeout * 1000};
	s->conns = seg_conns_new(&cc);
	s->workers = seg_workers_new(c->request_workers, SEG_QUEUE_TIMEOUT_MS);

	/*
	 * One daemon per HTTP thread, each with its own listening socket on the same port
	 * (SO_REUSEPORT): the kernel spreads new connections over them evenly. The limits on
	 * connections hold for the whole process (the accept policy and the registry of
	 * conns.c); each daemon's own limit is only a backstop.
	 */
	s->nmhd = c->http_threads;
	s->mhd = seg_calloc((size_t)s->nmhd, sizeof(void *));
	for (int i = 0; i < s->nmhd; i++) {
		/* One option per line. */
		/* clang-format off */
		s->mhd[i] = MHD_start_daemon(
			flags, 0, seg__on_accept, s, seg__on_request, s,
			MHD_OPTION_EXTERNAL_LOGGER, seg__mhd_log, NULL, /* first, for every message */
			MHD_OPTION_SOCK_ADDR, addr,
			MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
			MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->idle_timeout,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
			/* Headers and read buffer. libmicrohttpd clears it for every request, so it
			 * is kept small; import bodies arrive in chunks of up to this size. */
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
			MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)512,
			MHD_OPTION_URI_LOG_CALLBACK, seg__on_uri, s,
			MHD_OPTION_NOTIFY_COMPLETED, seg__on_completed, s,
			MHD_OPTION_NOTIFY_CONNECTION, seg__on_connection, s,
			MHD_OPTION_UNESCAPE_CALLBACK, seg__no_unescape, NULL,
			MHD_OPTION_END);
		/* clang-format on */
		if (!s->mhd[i]) {
			seg_error("could not listen on %s:%d (address in use, or not allowed)",
				  c->listen_host, c->listen_port);
			seg_http_stop(s);
			return SEG_ERR_UNAVAILABLE;
		}
		if (i == 0 && c->listen_port == 0) {
			/* port 0: the others join the port the first one was given */
			const union MHD_DaemonInfo *info =
				MHD_get_daemon_info(s->mhd[0], MHD_DAEMON_INFO_BIND_PORT);
			uint16_t port = htons(info ? info->port : 0);
			a4.sin_port = a6.sin6_port = port;
		}
	}
	return SEG_OK;
}

void seg_http_quiesce(struct seg_server *s)
{
	__atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < s->nmhd; i++) {
		MHD_socket fd = s->mhd[i] ? MHD_quiesce_daemon(s->mhd[i]) : MHD_INVALID_SOCKET;
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	seg_http_reap(s);
}

int seg_http_reap(struct seg_server *s)
{
	if (!s->conns)
		return 0;
	/*
	 * While stopping, a keep-alive connection is closed once it has been quiet for a moment: a
	 * client that is busy on it sends its next request within milliseconds and gets an answer
	 * with Connection: close, instead of a connection closed under a request on the wire.
	 */
	return seg_conns_reap(
		s->conns, __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE) ? SEG_STOP_IDLE_MS : -1);
}

int seg_http_active(struct seg_server *s)
{
	return __atomic_load_n(&s->active, __ATOMIC_ACQUIRE);
}

void seg_http_stop(struct seg_server *s)
{
	int queued = 0, running = 0;
	int64_t waited_ms = 0;

	if (s->conns)
		seg_conns_close_all(s->conns);
	/*
	 * No daemon may stop with a suspended connection: let every task resume its own, cutting
	 * their waits on the database short (they answer 503 cancelled; what they stored stays).
	 */
	if (s->workers)
		seg_pool_interrupt(s->pool);
	while (s->workers) {
		seg_workers_stats(s->workers, &queued, &running);
		if (!queued && !running)
			break;
		if (waited_ms % 5000 == 0)
			seg_info("waiting for %d request handlers to finish", queued + running);
		usleep(10000);
		waited_ms += 10;
	}
	for (int i = 0; i < s->nmhd; i++)
		if (s->mhd[i])
			MHD_stop_daemon(s->mhd[i]);
	free(s->mhd);
	s->mhd = NULL;
	s->nmhd = 0;
	seg_workers_free(s->workers); /* runs the frees the daemons' last completions queued */
	s->workers = NULL;
	seg_conns_free(s->conns);
	s->conns = NULL;
}

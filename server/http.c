/*
 * The HTTP layer on libmicrohttpd: daemon options (every limit set explicitly), the request
 * lifecycle, and turning a handler's result into a response.
 *
 * Lifecycle of a request (all on the HTTP thread that owns the connection):
 *  1. Headers arrived (first call): request id, routing (404/405), authentication (401),
 *     scope (403), rate limit (429), Content-Type (415) and Content-Length (413) are checked
 *     before any of the body is read; a failure is answered at once.
 *  2. Body chunks: buffered up to SEGMENTD_MAX_BODY for ordinary routes (a chunked body that
 *     grows past it is discarded and answered with 413), or handed to the route's stream
 *     callbacks (imports), which keep memory flat.
 *  3. Last call: the handler runs and the response is queued.
 *  4. Completed (MHD_OPTION_NOTIFY_COMPLETED): metrics, access log, and the request with all
 *     it owns (database connection included) is released.
 */
#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "request.h"
#include "router.h"

static const char seg__unmatched[] = "unmatched";

static int64_t seg__now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct seg__http_req {
	struct seg_req r;
	enum seg_err err; /* decided failure, answered at the end of the body */
	bool answered;	  /* a response is queued */
	bool streaming;	  /* the route streams and begin() succeeded */
	size_t body_seen;
	struct seg_buf allow;
	char *origin; /* the request's Origin when CORS allows it */
};

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
	char *data = seg_buf_detach(&r->reply, &len);
	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(data);
		return MHD_NO;
	}
	if (r->reply_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->reply_type);
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
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
	return ret;
}

/* Step 1: everything that can be decided from the headers. */
static enum seg_err seg__begin(struct seg__http_req *h, const char *url)
{
	struct seg_req *r = &h->r;
	struct seg_server *s = r->server;
	const char *v;

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

	if (r->route->scope) {
		v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						MHD_HTTP_HEADER_AUTHORIZATION);
		enum seg_err err = seg_auth_verify(s->auth, s->pool, v, &r->tenant, &r->scopes);
		if (err == SEG_ERR_UNAUTHENTICATED)
			return seg_req_fail(
				r, err,
				v ? "the API key is not valid"
				  : "an API key is required: Authorization: Bearer <key>");
		if (err)
			return err;
		if (!(r->scopes & r->route->scope))
			return seg_req_fail(r, SEG_ERR_FORBIDDEN,
					    "this API key lacks the \"%s\" scope",
					    r->route->scope == SEG_SCOPE_READ	 ? "read"
					    : r->route->scope == SEG_SCOPE_WRITE ? "write"
										 : "admin");
		if (!seg_ratelimit_take(s->ratelimit, r->tenant, &r->retry_after))
			return seg_req_fail(r, SEG_ERR_RATE_LIMITED,
					    "too many requests for this tenant; retry after %d s",
					    r->retry_after);
	}

	if (r->route->content_types) {
		bool ok = false;
		v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						MHD_HTTP_HEADER_CONTENT_TYPE);
		r->content_type = seg__media_type(v);
		for (const char *const *t = r->route->content_types; *t && r->content_type && !ok;
		     t++)
			ok = strcmp(*t, r->content_type) == 0;
		if (!ok) {
			struct seg_buf list = SEG_BUF_INIT;
			for (const char *const *t = r->route->content_types; *t; t++)
				seg_buf_addf(&list, "%s%s",
					     t == r->route->content_types ? "" : ", ", *t);
			seg_req_fail(r, SEG_ERR_UNSUPPORTED_MEDIA,
				     "Content-Type \"%s\" is not accepted here; use %s", v ? v : "",
				     list.data);
			seg_buf_release(&list);
			return SEG_ERR_UNSUPPORTED_MEDIA;
		}
		v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (!r->route->stream && v && strtoull(v, NULL, 10) > s->config->max_body)
			return seg_req_fail(r, SEG_ERR_TOO_LARGE,
					    "the body is %s bytes; the limit is %zu", v,
					    s->config->max_body);
	}

	if (r->route->stream) {
		enum seg_err err = r->route->stream->begin(r);
		if (err)
			return err;
		h->streaming = true;
	}
	return SEG_OK;
}

/* Step 2: a chunk of the body. */
static void seg__body(struct seg__http_req *h, const char *data, size_t len)
{
	struct seg_req *r = &h->r;
	size_t max = r->server->config->max_body;

	h->body_seen += len;
	if (h->err || !r->route || !r->route->content_types)
		return; /* discarded: the answer is decided, or the route takes no body */
	if (h->streaming) {
		h->err = r->route->stream->data(r, data, len);
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

/* Step 3: the whole body is here. */
static void seg__finish(struct seg__http_req *h)
{
	struct seg_req *r = &h->r;
	if (h->err)
		return;
	if (h->streaming)
		h->err = r->route->stream->end(r);
	else if (r->route->handler)
		h->err = r->route->handler(r);
	if (!h->err && !r->status) {
		seg_error("handler for %s %s set no reply", r->route->method, r->route->pattern);
		h->err = SEG_ERR_INTERNAL;
	}
}

static enum MHD_Result seg__on_request(void *cls, struct MHD_Connection *conn, const char *url,
				       const char *method, const char *version,
				       const char *upload_data, size_t *upload_data_size,
				       void **con_cls)
{
	struct seg_server *s = cls;
	struct seg__http_req *h = *con_cls;
	(void)version;

	if (!h) {
		h = seg_calloc(1, sizeof(*h));
		*con_cls = h;
		__atomic_add_fetch(&s->active, 1, __ATOMIC_ACQ_REL);
		struct seg_req *r = &h->r;
		r->server = s;
		r->conn = conn;
		r->method = method;
		r->started_us = seg__now_us();
		seg_buf_init(&r->body);
		seg_buf_init(&r->reply);
		seg_buf_init(&r->problem_extra);
		seg_buf_init(&h->allow);
		seg_problem_init(&r->problem);
		const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
		if (seg__request_id_ok(id))
			snprintf(r->request_id, sizeof(r->request_id), "%s", id);
		else
			seg__new_request_id(r->request_id);
		seg_log_set_request(r->request_id);
		h->err = seg__begin(h, url);
		/* Decided from the headers alone: answer now, before any of the body is read. */
		if (h->err || h->r.status)
			return seg__queue(h);
		return MHD_YES;
	}
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
	seg__finish(h);
	return seg__queue(h);
}

static void seg__on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode code)
{
	struct seg_server *s = cls;
	struct seg__http_req *h = *con_cls;
	struct seg_req *r;
	(void)conn;

	if (!h)
		return;
	r = &h->r;
	double seconds = (double)(seg__now_us() - r->started_us) / 1e6;
	const char *route = r->route ? r->route->pattern : seg__unmatched;
	int st = h->answered ? r->status : 499; /* the client went away first */
	seg_metrics_observe(s->metrics, r->method, route, st, seconds);
	enum seg_log_level level =
		code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? SEG_LOG_INFO : SEG_LOG_WARN;
	if (seg_log_enabled(level)) {
		struct seg_log_field f[] = {
			SEG_LOG_STR("method", r->method), SEG_LOG_STR("route", route),
			SEG_LOG_NUM("status", st),
			SEG_LOG_NUM("duration_ms", (double)(int64_t)(seconds * 1e6) / 1000)};
		seg_log_fields(level, "request", f, sizeof(f) / sizeof(f[0]));
	}
	seg_log_set_request(NULL);

	if (r->stream && r->stream_free)
		r->stream_free(r->stream);
	seg_pool_release(s->pool, r->db);
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
	seg_problem_release(&r->problem);
	free(h);
	*con_cls = NULL;
	__atomic_sub_fetch(&s->active, 1, __ATOMIC_ACQ_REL);
}

static void seg__mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct seg_buf b = SEG_BUF_INIT;
	(void)cls;
	seg_buf_vaddf(&b, fmt, ap);
	while (b.len && b.data[b.len - 1] == '\n')
		seg_buf_truncate(&b, b.len - 1);
	seg_warn("http: %s", b.data);
	seg_buf_release(&b);
}

enum seg_err seg_http_start(struct seg_server *s)
{
	const struct seg_config *c = s->config;
	struct sockaddr_in6 a6;
	struct sockaddr_in a4;
	const struct sockaddr *addr;
	unsigned flags =
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;

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

	/*
	 * One daemon per HTTP thread, each with its own listening socket on the same port
	 * (SO_REUSEPORT): the kernel spreads new connections over them evenly, where one shared
	 * socket let a few threads take most connections and the rest wait behind them.
	 */
	s->nmhd = c->http_threads;
	s->mhd = seg_calloc((size_t)s->nmhd, sizeof(void *));
	for (int i = 0; i < s->nmhd; i++) {
		/* One option per line. */
		/* clang-format off */
		s->mhd[i] = MHD_start_daemon(
			flags, 0, NULL, NULL, seg__on_request, s,
			MHD_OPTION_EXTERNAL_LOGGER, seg__mhd_log, NULL, /* first, for every message */
			MHD_OPTION_SOCK_ADDR, addr,
			MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,       /* seconds idle */
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)(1024 / s->nmhd + 1),
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)256,
			/* Headers and read buffer. libmicrohttpd clears it for every request, so it
			 * is kept small; import bodies arrive in chunks of up to this size. */
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
			MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)512,
			MHD_OPTION_NOTIFY_COMPLETED, seg__on_completed, s,
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
	for (int i = 0; i < s->nmhd; i++) {
		MHD_socket fd = s->mhd[i] ? MHD_quiesce_daemon(s->mhd[i]) : MHD_INVALID_SOCKET;
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
}

int seg_http_active(struct seg_server *s)
{
	return __atomic_load_n(&s->active, __ATOMIC_ACQUIRE);
}

void seg_http_stop(struct seg_server *s)
{
	for (int i = 0; i < s->nmhd; i++)
		if (s->mhd[i])
			MHD_stop_daemon(s->mhd[i]);
	free(s->mhd);
	s->mhd = NULL;
	s->nmhd = 0;
}

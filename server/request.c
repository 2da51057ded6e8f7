/* Helpers that handlers use to read a request and to answer it; see request.h. */
#include "request.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jsonspan.h"
#include "server.h"
#include "text.h"
#include "validate.h"

enum seg_err seg_req_bad_param(struct seg_req *r, const char *name, const char *detail)
{
	seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, name, 0, "%s", detail);
	return SEG_ERR_INVALID;
}

const char *seg_req_param(const struct seg_req *r, int i)
{
	return i < r->nparams ? r->params[i] : NULL;
}

const char *seg_req_query(struct seg_req *r, const char *name, enum seg_err *err)
{
	const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	struct seg_buf v = SEG_BUF_INIT;

	if (!raw)
		return NULL;
	if (!seg_percent_decode(raw, strlen(raw), &v)) {
		seg_buf_release(&v);
		seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, name, 0,
				"could not decode the value of \"%s\": bad escape or not UTF-8",
				name);
		*err = SEG_ERR_MALFORMED;
		return NULL;
	}
	r->query_values = seg_realloc(r->query_values, (r->nquery_values + 1) * sizeof(char *));
	r->query_values[r->nquery_values] = seg_buf_detach(&v, NULL);
	return r->query_values[r->nquery_values++];
}

enum seg_err seg_req_query_bool(struct seg_req *r, const char *name, bool *out)
{
	enum seg_err err = SEG_OK;
	const char *v = seg_req_query(r, name, &err);

	*out = v && strcmp(v, "true") == 0;
	if (v && !*out && strcmp(v, "false") != 0) {
		seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, name, 0,
				"%s must be true or false", name);
		err = SEG_ERR_MALFORMED;
	}
	return err;
}

struct seg__query_check {
	struct seg_req *r;
	const char *const *allowed;
	const char *seen[16];
	size_t nseen;
	bool bad;
};

static enum MHD_Result seg__check_one(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct seg__query_check *c = cls;
	(void)kind;
	(void)value;
	for (const char *const *a = c->allowed; a && *a; a++) {
		if (strcmp(*a, key) != 0)
			continue;
		for (size_t i = 0; i < c->nseen; i++) {
			if (c->seen[i] == *a) {
				seg_problem_add(&c->r->problem, SEG_WHERE_PARAMETER, key, 0,
						"query parameter \"%s\" is given more than once",
						key);
				c->bad = true;
				return MHD_YES;
			}
		}
		if (c->nseen < sizeof(c->seen) / sizeof(c->seen[0]))
			c->seen[c->nseen++] = *a;
		return MHD_YES;
	}
	seg_problem_add(&c->r->problem, SEG_WHERE_PARAMETER, key, 0,
			"unknown query parameter \"%s\"", key);
	c->bad = true;
	return MHD_YES;
}

enum seg_err seg_req_check_query(struct seg_req *r, const char *const *allowed)
{
	struct seg__query_check c = {.r = r, .allowed = allowed};
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, seg__check_one, &c);
	return c.bad ? SEG_ERR_MALFORMED : SEG_OK;
}

enum seg_err seg_req_page_result(struct seg_req *r, enum seg_err err)
{
	if (err == SEG_ERR_MALFORMED && !r->problem.count)
		seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "cursor", 0,
				"cursor is not one that this service handed out");
	return err;
}

/* One page of a list: of the tenant's objects (list), or of one object's (list_of, id). */
static enum seg_err seg__req_page(struct seg_req *r, seg_req_lister list, seg_req_lister_of list_of,
				  int64_t id)
{
	static const char *const params[] = {"limit", "cursor", NULL};
	struct seg_page page;
	struct seg_db *db;
	const char *after;
	int limit;
	enum seg_err err = seg_req_check_query(r, params);

	seg_page_init(&page);
	if (!err)
		err = seg_req_page_params(r, &limit, &after);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_req_page_result(r,
					  list ? list(db, r->tenant, after, limit, &page)
					       : list_of(db, r->tenant, id, after, limit, &page));
	if (!err)
		seg_req_reply_page(r, &page);
	seg_page_release(&page);
	return err;
}

enum seg_err seg_req_list(struct seg_req *r, seg_req_lister list)
{
	return seg__req_page(r, list, NULL, 0);
}

enum seg_err seg_req_list_of(struct seg_req *r, int64_t id, seg_req_lister_of list)
{
	return seg__req_page(r, NULL, list, id);
}

enum seg_err seg_req_page_params(struct seg_req *r, int *limit, const char **after_key)
{
	enum seg_err err = SEG_OK;
	const char *l = seg_req_query(r, "limit", &err);
	const char *c = seg_req_query(r, "cursor", &err);

	*limit = 100;
	*after_key = NULL;
	if (err)
		return err;
	if (l) {
		char *end;
		long n = strtol(l, &end, 10);
		if (!*l || *end || n < 1 || n > 1000) {
			seg_problem_add(&r->problem, SEG_WHERE_PARAMETER, "limit", 0,
					"limit must be an integer from 1 to 1000, got \"%s\"", l);
			return SEG_ERR_MALFORMED;
		}
		*limit = (int)n;
	}
	if (c) {
		struct seg_buf key = SEG_BUF_INIT;
		if (!*c || !seg_base64url_decode(c, strlen(c), &key) || key.len == 0 ||
		    memchr(key.data, '\0', key.len) || !seg_utf8_valid(key.data, key.len)) {
			seg_buf_release(&key);
			return seg_req_page_result(r, SEG_ERR_MALFORMED);
		}
		r->query_values =
			seg_realloc(r->query_values, (r->nquery_values + 1) * sizeof(char *));
		r->query_values[r->nquery_values] = seg_buf_detach(&key, NULL);
		*after_key = r->query_values[r->nquery_values++];
	}
	return SEG_OK;
}

void seg_req_reply_page(struct seg_req *r, const struct seg_page *page)
{
	struct seg_buf out = SEG_BUF_INIT;
	seg_buf_grow(&out, page->items.len + 64);
	seg_buf_addstr(&out, "{\"items\":[");
	seg_buf_add(&out, page->items.data, page->items.len);
	seg_buf_addstr(&out, "],\"next_cursor\":");
	if (page->next_key) {
		seg_buf_addch(&out, '"');
		seg_base64url_encode(page->next_key, strlen(page->next_key), &out);
		seg_buf_addch(&out, '"');
	} else {
		seg_buf_addstr(&out, "null");
	}
	seg_buf_addch(&out, '}');
	seg_req_reply_json_take(r, 200, seg_buf_detach(&out, NULL));
}

enum seg_err seg_req_json(struct seg_req *r, json_t **out)
{
	json_error_t error;
	*out = seg_json_load(r->body.data, r->body.len, &error);
	if (!*out && json_error_code(&error) == json_error_numeric_overflow)
		return seg_req_fail(r, SEG_ERR_INVALID,
				    "a number is too large to handle (line %d, column %d)",
				    error.line, error.column);
	if (!*out)
		return seg_req_fail(r, SEG_ERR_MALFORMED,
				    "could not parse the body as JSON: %s (line %d, column %d)",
				    error.text, error.line, error.column);
	/* numbers are stored exactly as written: refuse those PostgreSQL cannot hold or blow up */
	struct seg_buf pointer = SEG_BUF_INIT;
	char detail[256];
	if (!seg_json_numbers_check(r->body.data, r->body.len, &pointer, detail, sizeof(detail))) {
		seg_req_invalid(r, pointer.data, "%s", detail);
		seg_buf_release(&pointer);
		json_decref(*out);
		*out = NULL;
		return SEG_ERR_INVALID;
	}
	seg_buf_release(&pointer);
	return SEG_OK;
}

enum seg_err seg_req_db(struct seg_req *r, struct seg_db **db)
{
	if (!r->db) {
		enum seg_err err = seg_pool_acquire(r->server->pool, &r->db);
		if (err) {
			*db = NULL;
			return err;
		}
	}
	*db = r->db;
	return SEG_OK;
}

void seg_req_db_release(struct seg_req *r)
{
	seg_pool_release(r->server->pool, r->db);
	r->db = NULL;
}

enum seg_err seg_req_db_borrow(struct seg_req *r, struct seg_db **db)
{
	return seg_pool_acquire(r->server->pool, db);
}

void seg_req_db_return(struct seg_req *r, struct seg_db *db)
{
	seg_pool_release(r->server->pool, db);
}

int seg_req_sync_timeout_ms(const struct seg_req *r)
{
	return r->server->config->sync_timeout * 1000;
}

const char *seg_req_header(struct seg_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

bool seg_req_server_ready(struct seg_req *r, const char **why)
{
	struct seg_pool_health h;

	seg_pool_health(r->server->pool, &h);
	*why = NULL;
	if (!h.reachable)
		*why = "the database is unreachable";
	else if (!h.migrated)
		*why = "migrations are not applied yet";
	return *why == NULL;
}

void seg_req_server_metrics(struct seg_req *r, struct seg_buf *out)
{
	struct seg_server *s = r->server;
	int queued, running;

	seg_metrics_render(s->metrics, s->pool, out);
	seg_workers_stats(s->workers, &queued, &running);
	seg_buf_addf(out,
		     "# HELP segmentd_request_workers Request worker threads.\n"
		     "# TYPE segmentd_request_workers gauge\nsegmentd_request_workers %d\n"
		     "# HELP segmentd_request_tasks Request tasks by state.\n"
		     "# TYPE segmentd_request_tasks gauge\n"
		     "segmentd_request_tasks{state=\"queued\"} %d\n"
		     "segmentd_request_tasks{state=\"running\"} %d\n",
		     s->config->request_workers, queued, running);
	seg_conns_metrics(s->conns, out);
	seg_jobs_metrics(s->jobs, out);
}

void seg_req_reply_json_take(struct seg_req *r, int status, char *json)
{
	seg_buf_release(&r->reply);
	r->reply.data = json;
	r->reply.len = strlen(json);
	r->reply.cap = r->reply.len + 1;
	r->status = status;
	r->reply_type = "application/json";
}

void seg_req_reply_json(struct seg_req *r, int status, const char *json)
{
	seg_req_reply_json_take(r, status, seg_strdup(json));
}

void seg_req_reply_empty(struct seg_req *r, int status)
{
	seg_buf_reset(&r->reply);
	r->status = status;
	r->reply_type = NULL;
}

void seg_req_set_location(struct seg_req *r, const char *fmt, ...)
{
	struct seg_buf b = SEG_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	seg_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	free(r->location);
	r->location = seg_buf_detach(&b, NULL);
}

enum seg_err seg_req_invalid(struct seg_req *r, const char *pointer, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	seg_problem_vadd(&r->problem, SEG_WHERE_POINTER, pointer, 0, fmt, ap);
	va_end(ap);
	return SEG_ERR_INVALID;
}

enum seg_err seg_req_fail(struct seg_req *r, enum seg_err err, const char *fmt, ...)
{
	struct seg_buf b = SEG_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	seg_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	seg_problem_detail(&r->problem, "%s", b.data);
	seg_buf_release(&b);
	return err;
}

void seg_req_url_escape(struct seg_buf *out, const char *segment)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)segment; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			seg_buf_addch(out, (char)*p);
		} else {
			seg_buf_addch(out, '%');
			seg_buf_addch(out, hex[*p >> 4]);
			seg_buf_addch(out, hex[*p & 15]);
		}
	}
}

/*
 * Operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document. All four
 * run on the HTTP thread (SEG_ROUTE_INLINE): none waits, so they answer even when every request
 * worker is busy or the database is frozen; readiness is the database watchdog's last verdict.
 */
#include "handlers.h"

#include <string.h>

#include "embedded.h"

enum seg_err seg_h_healthz(struct seg_req *r)
{
	seg_req_reply_json(r, 200, "{\"status\":\"ok\"}");
	return SEG_OK;
}

enum seg_err seg_h_readyz(struct seg_req *r)
{
	const char *why;
	if (!seg_req_server_ready(r, &why))
		return seg_req_fail(r, SEG_ERR_UNAVAILABLE, "%s", why);
	seg_req_reply_json(r, 200, "{\"status\":\"ok\"}");
	return SEG_OK;
}

enum seg_err seg_h_metrics(struct seg_req *r)
{
	seg_buf_reset(&r->reply);
	seg_req_server_metrics(r, &r->reply);
	r->status = 200;
	r->reply_type = "text/plain; version=0.0.4; charset=utf-8";
	return SEG_OK;
}

enum seg_err seg_h_openapi(struct seg_req *r)
{
	for (const struct seg_embedded *e = seg_embedded_files; e->path; e++) {
		if (strcmp(e->path, "openapi.yaml") == 0) {
			seg_buf_reset(&r->reply);
			seg_buf_add(&r->reply, e->data, e->len);
			r->status = 200;
			r->reply_type = "application/yaml";
			return SEG_OK;
		}
	}
	return seg_req_fail(r, SEG_ERR_NOT_FOUND, "this build has no openapi.yaml");
}

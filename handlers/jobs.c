/*
 * Jobs (SPEC §5.6): list a tenant's jobs, get one, and cancel one (a queued job at once, a
 * running one at its next check point). The queue itself is db/jobs.c and server/jobs.c.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text.h"

static const char *const seg__statuses[] = {"queued", "running",   "succeeded",
					    "failed", "cancelled", NULL};

enum seg_err seg_h_status_param(struct seg_req *r, const char **status, enum seg_err err)
{
	*status = seg_req_query(r, "status", &err);
	if (err || !*status)
		return err;
	for (size_t i = 0; seg__statuses[i]; i++)
		if (strcmp(*status, seg__statuses[i]) == 0)
			return SEG_OK;
	return seg_req_bad_param(r, "status",
				 "status is one of queued, running, succeeded, failed, cancelled");
}

/* The job id of the path: 1 to 18 digits. */
static enum seg_err seg__job_id(struct seg_req *r, int64_t *id)
{
	const char *s = seg_req_param(r, 0);
	if (!seg_id_parse(s, s ? strlen(s) : 0, id))
		return seg_req_bad_param(r, "id", "a job id is a string of 1 to 18 digits");
	return SEG_OK;
}

enum seg_err seg_h_job_list(struct seg_req *r)
{
	static const char *const params[] = {"status", "kind", "limit", "cursor", NULL};
	struct seg_page page;
	struct seg_db *db;
	const char *after = NULL, *status, *kind;
	int limit = 100;
	enum seg_err err = seg_req_check_query(r, params);

	seg_page_init(&page);
	kind = seg_req_query(r, "kind", &err);
	err = seg_h_status_param(r, &status, err);
	if (!err && kind && (strlen(kind) < 1 || strlen(kind) > 64))
		err = seg_req_bad_param(r, "kind", "a job kind is 1 to 64 bytes");
	if (!err)
		err = seg_req_page_params(r, &limit, &after);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_job_list(db, r->tenant, status, kind, after, limit, &page);
	err = seg_req_page_result(r, err);
	if (!err)
		seg_req_reply_page(r, &page);
	seg_page_release(&page);
	return err;
}

enum seg_err seg_h_job_get(struct seg_req *r)
{
	static const char *const params[] = {NULL};
	struct seg_db *db;
	char *out = NULL;
	int64_t id = 0;
	enum seg_err err = seg_req_check_query(r, params);
	if (!err)
		err = seg__job_id(r, &id);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_job_get(db, r->tenant, id, &out);
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no job with id \"%lld\"", (long long)id);
	if (!err)
		seg_req_reply_json_take(r, 200, out);
	return err;
}

enum seg_err seg_h_job_cancel(struct seg_req *r)
{
	static const char *const params[] = {NULL};
	struct seg_db *db;
	char *out = NULL;
	int64_t id = 0;
	enum seg_err err = seg_req_check_query(r, params);
	if (!err)
		err = seg__job_id(r, &id);
	if (!err)
		err = seg_req_db(r, &db);
	if (!err)
		err = seg_db_job_cancel(db, r->tenant, id, &out);
	if (err == SEG_ERR_NOT_FOUND)
		return seg_req_fail(r, err, "no job with id \"%lld\"", (long long)id);
	if (!err) {
		seg_req_set_location(r, "/v1/jobs/%lld", (long long)id);
		seg_req_reply_json_take(r, 202, out);
	}
	return err;
}

/* ---- waiting for a job ---------------------------------------------------------------- */

#define SEG__POLL_MS 50

static int64_t seg__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool seg__job_final(const char *status)
{
	return strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
	       strcmp(status, "cancelled") == 0;
}

enum seg_err seg_h_job_await(struct seg_req *r, int64_t job, bool *succeeded)
{
	int timeout = seg_req_sync_timeout_ms(r);
	int64_t deadline = seg__now_ms() + timeout;
	enum seg_err err = SEG_OK;

	*succeeded = false;
	while (timeout > 0) {
		struct seg_db *db;
		const char *status = "queued";
		err = seg_req_db(r, &db);
		if (!err)
			err = seg_db_job_status(db, r->tenant, job, &status);
		if (err || seg__job_final(status)) {
			*succeeded = !err && strcmp(status, "succeeded") == 0;
			break;
		}
		int64_t left = deadline - seg__now_ms();
		if (left <= 0)
			break;
		seg_req_db_release(r);
		struct timespec ts = {0, (left < SEG__POLL_MS ? left : SEG__POLL_MS) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return err;
}

/*
 * The job queue (SPEC §5.6, §7; the model: server/README.md "Jobs"). A job is a row of `jobs`:
 * queued → running (claimed FOR UPDATE SKIP LOCKED, attempts + 1 as the claim's fencing token,
 * a lease the claiming daemon renews) → succeeded, failed or cancelled; a failed attempt or an
 * expired lease sends it back to queued after a backoff while attempts remain. Every write a
 * worker makes is conditional on its attempt, so a claim that was lost changes nothing.
 *
 * Threads: like every db/ function, on the thread that borrowed the connection.
 */
#include "internal.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backoff.h"
#include "log.h"
#include "problem.h"

/* The attempts of seg_backoff_array that the SQL below indexes (later ones use the last). */
#define SEG__BACKOFF_STEPS 16

#define SEG_JOB_JSON                                                                     \
	"json_build_object('id', j.id::text, 'kind', j.kind, 'target', j.target::text, " \
	"'status', j.status, 'progress', j.progress, 'attempts', j.attempts, "           \
	"'max_attempts', j.max_attempts, 'params', j.params, 'result', j.result, "       \
	"'error', j.error, 'cancel_requested', seg_job_cancel_wanted(j), "               \
	"'created_at', seg_ts(j.created_at), 'started_at', seg_ts(j.started_at), "       \
	"'finished_at', seg_ts(j.finished_at), 'run_after', seg_ts(j.run_after))::text"

/*
 * Joins a queued job of the same kind and target, or inserts one and notifies. The insert waits
 * for a concurrent one of the same key; when that one commits, this statement's snapshot does
 * not see it, and the caller asks again.
 */
SEG_STMT(job_enqueue,
	 "WITH ins AS (INSERT INTO jobs (tenant_id, kind, target, params) "
	 "VALUES ($1, $2, $3, coalesce($4::jsonb, '{}')) "
	 "ON CONFLICT (tenant_id, kind, target) WHERE status = 'queued' AND target IS NOT NULL "
	 "DO NOTHING RETURNING id) "
	 "SELECT id, false, pg_notify('segmentd_jobs', $2) FROM ins "
	 "UNION ALL SELECT id, true, NULL FROM jobs WHERE tenant_id = $1 AND kind = $2 "
	 "AND target = $3 AND status = 'queued' AND NOT EXISTS (SELECT 1 FROM ins)");
SEG_STMT(job_get, "SELECT " SEG_JOB_JSON " FROM jobs j WHERE j.tenant_id = $1 AND j.id = $2");
SEG_STMT(job_status, "SELECT status FROM jobs WHERE tenant_id = $1 AND id = $2");
SEG_STMT(job_list, "SELECT " SEG_JOB_JSON ", j.id::text FROM jobs j WHERE j.tenant_id = $1 "
		   "AND ($2::text IS NULL OR j.status = $2) AND ($3::text IS NULL OR j.kind = $3) "
		   "AND ($4::bigint IS NULL OR j.id < $4) ORDER BY j.id DESC LIMIT $5");
/*
 * A queued job is cancelled at once; a running one gets cancel_requested, or, when its own
 * transaction holds its row (SKIP LOCKED passes it by), a row in job_cancel_requests. A queued
 * row that a claim holds at this moment is recorded there too: its worker's heartbeat sees it.
 */
SEG_STMT(job_cancel,
	 "WITH cur AS (SELECT id, status FROM jobs WHERE tenant_id = $1 AND id = $2), "
	 "l AS (SELECT id FROM jobs WHERE tenant_id = $1 AND id = $2 "
	 "AND status IN ('queued', 'running') FOR UPDATE SKIP LOCKED), "
	 "u AS (UPDATE jobs j SET status = CASE WHEN j.status = 'queued' THEN 'cancelled' "
	 "ELSE j.status END, cancel_requested = true, "
	 "finished_at = CASE WHEN j.status = 'queued' THEN now() ELSE j.finished_at END, "
	 "updated_at = now() FROM l WHERE j.tenant_id = $1 AND j.id = l.id RETURNING j.id), "
	 "r AS (INSERT INTO job_cancel_requests (job_id) SELECT id FROM cur "
	 "WHERE status IN ('queued', 'running') AND NOT EXISTS (SELECT 1 FROM u) "
	 "ON CONFLICT DO NOTHING RETURNING 1) "
	 "SELECT (SELECT count(*) FROM cur), (SELECT count(*) FROM u), (SELECT count(*) FROM r)");
SEG_STMT(job_lock, "SELECT 1 FROM jobs WHERE id = $1 AND status = 'running' AND attempts = $2 "
		   "FOR UPDATE");
SEG_STMT(job_succeed, "UPDATE jobs SET status = 'succeeded', result = $3::jsonb, progress = 1, "
		      "error = NULL, lease_until = NULL, finished_at = clock_timestamp(), "
		      "updated_at = clock_timestamp() "
		      "WHERE id = $1 AND status = 'running' AND attempts = $2 RETURNING 1");
SEG_STMT(job_fail_final,
	 "UPDATE jobs SET status = 'failed', error = $3::jsonb, lease_until = NULL, "
	 "finished_at = clock_timestamp(), updated_at = clock_timestamp() "
	 "WHERE id = $1 AND status = 'running' AND attempts = $2 RETURNING 1");

/* --- workers --- */

SEG_STMT(job_claim,
	 "UPDATE jobs j SET status = 'running', attempts = j.attempts + 1, progress = 0, "
	 "lease_until = now() + $1 * interval '1 second', worker = $2, started_at = now(), "
	 "updated_at = now() FROM (SELECT tenant_id, id FROM jobs WHERE status = 'queued' "
	 "AND run_after <= now() AND kind = ANY ($3::text[]) ORDER BY run_after, id LIMIT 1 "
	 "FOR UPDATE SKIP LOCKED) c WHERE j.tenant_id = c.tenant_id AND j.id = c.id "
	 "RETURNING j.id, j.tenant_id, j.kind, coalesce(j.target, 0), j.params::text, "
	 "j.attempts, j.max_attempts");
/*
 * Renews the leases of the rows it can lock at once (a job inside its own transaction holds its
 * row, and needs no lease while it does: no rescue can take a locked row either), stores the
 * progress, and reads every job's cancel request and whether the claim still holds.
 */
SEG_STMT(job_heartbeat,
	 "WITH v AS (SELECT * FROM unnest($2::bigint[], $3::int[], $4::float8[]) "
	 "AS v(id, attempt, progress)), "
	 "l AS (SELECT j.id FROM jobs j JOIN v ON v.id = j.id AND v.attempt = j.attempts "
	 "WHERE j.status = 'running' FOR UPDATE OF j SKIP LOCKED), "
	 "u AS (UPDATE jobs j SET lease_until = now() + $1 * interval '1 second', "
	 "progress = greatest(0, least(1, v.progress)), updated_at = now() FROM l, v "
	 "WHERE j.id = l.id AND v.id = l.id RETURNING j.id) "
	 "SELECT v.id, coalesce(j.status = 'running' AND j.attempts = v.attempt, false), "
	 "coalesce(seg_job_cancel_wanted(j), false) FROM v LEFT JOIN jobs j ON j.id = v.id");
/* The status after a failed attempt: cancelled when asked, failed without attempts left. */
#define SEG__AFTER_FAILURE                                     \
	"CASE WHEN seg_job_cancel_wanted(j) THEN 'cancelled' " \
	"WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'queued' END"
#define SEG__DELAY                                                                     \
	"($3::float8[])[least(greatest(j.attempts, 1), cardinality($3::float8[]))] * " \
	"interval '1 second'"
SEG_STMT(job_fail, "UPDATE jobs j SET status = " SEG__AFTER_FAILURE ", error = $4::jsonb, "
		   "run_after = now() + " SEG__DELAY ", lease_until = NULL, worker = NULL, "
		   "finished_at = CASE WHEN " SEG__AFTER_FAILURE " = 'queued' THEN NULL "
		   "ELSE now() END, updated_at = now() "
		   "WHERE j.id = $1 AND j.status = 'running' AND j.attempts = $2 "
		   "RETURNING j.status");
SEG_STMT(job_cancelled, "UPDATE jobs SET status = 'cancelled', lease_until = NULL, "
			"finished_at = now(), updated_at = now() "
			"WHERE id = $1 AND status = 'running' AND attempts = $2 RETURNING 1");
/*
 * Back to the queue, runnable now, the attempt not counted (attempts - 1: the next claim reuses
 * the token, which is safe because this worker has stopped). A job asked to stop is cancelled.
 */
SEG_STMT(job_hand_back,
	 "UPDATE jobs j SET status = CASE WHEN seg_job_cancel_wanted(j) THEN 'cancelled' "
	 "ELSE 'queued' END, attempts = CASE WHEN seg_job_cancel_wanted(j) THEN j.attempts "
	 "ELSE j.attempts - 1 END, run_after = now(), lease_until = NULL, worker = NULL, "
	 "finished_at = CASE WHEN seg_job_cancel_wanted(j) THEN now() END, updated_at = now() "
	 "WHERE j.id = $1 AND j.status = 'running' AND j.attempts = $2 RETURNING j.status");
/*
 * Running jobs whose lease ran out: their worker died or lost the database. The attempt counts;
 * several daemons may run this at once (SKIP LOCKED, and the condition is checked again on the
 * locked row).
 */
SEG_STMT(job_rescue,
	 "WITH r AS (SELECT tenant_id, id FROM jobs WHERE status = 'running' "
	 "AND lease_until < now() ORDER BY lease_until LIMIT 100 FOR UPDATE SKIP LOCKED) "
	 "UPDATE jobs j SET status = " SEG__AFTER_FAILURE ", "
	 "error = jsonb_build_object('type', 'urn:segmentd:problem:job-lease-expired', "
	 "'title', 'Worker lost', 'status', 503, 'detail', format('attempt %s of %s: its worker "
	 "(%s) stopped renewing the lease%s', j.attempts, j.max_attempts, j.worker, "
	 "CASE WHEN j.attempts >= j.max_attempts THEN '; no attempts left' END)), "
	 "run_after = now() + ($1::float8[])[least(greatest(j.attempts, 1), "
	 "cardinality($1::float8[]))] * interval '1 second', lease_until = NULL, worker = NULL, "
	 "finished_at = CASE WHEN " SEG__AFTER_FAILURE " = 'queued' THEN NULL ELSE now() END, "
	 "updated_at = now() FROM r WHERE j.tenant_id = r.tenant_id AND j.id = r.id "
	 "RETURNING j.id, j.status");
/* Cancel requests of jobs that have ended are of no more use. */
SEG_STMT(job_cancel_tidy,
	 "DELETE FROM job_cancel_requests r WHERE NOT EXISTS (SELECT 1 FROM jobs j "
	 "WHERE j.id = r.job_id AND j.status IN ('queued', 'running'))");
/*
 * Clock-dependent dynamic segments not refreshed within the interval, and without a refresh
 * queued or running: one statement, so several daemons doing it at once queue each refresh once
 * (the partial unique index jobs_one_queued settles a race).
 */
SEG_STMT(job_schedule_refresh,
	 "WITH ins AS (INSERT INTO jobs (tenant_id, kind, target) "
	 "SELECT s.tenant_id, 'segment.refresh', s.id FROM segments s "
	 "WHERE s.type = 'dynamic' AND s.clock "
	 "AND (s.refreshed_at IS NULL OR s.refreshed_at < now() - $1 * interval '1 second') "
	 "AND NOT EXISTS (SELECT 1 FROM jobs q WHERE q.tenant_id = s.tenant_id "
	 "AND q.kind = 'segment.refresh' AND q.target = s.id "
	 "AND q.status IN ('queued', 'running')) "
	 "ON CONFLICT (tenant_id, kind, target) WHERE status = 'queued' AND target IS NOT NULL "
	 "DO NOTHING RETURNING 1) "
	 "SELECT count(*) FROM ins");
SEG_STMT(job_notify, "SELECT pg_notify('segmentd_jobs', $1)");
/*
 * At most 10,000 a time (oldest first), so that a backlog never makes one long delete. An
 * analysis whose current run's job goes keeps its outcome (db/README.md "Analyses").
 */
SEG_STMT(job_purge,
	 "WITH d AS (DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status IN "
	 "('succeeded', 'failed', 'cancelled') AND finished_at < now() - $1 * interval '1 second' "
	 "ORDER BY finished_at LIMIT 10000) RETURNING id, tenant_id, kind, target, status, error), "
	 "r AS (DELETE FROM job_cancel_requests c USING d WHERE c.job_id = d.id), "
	 "a AS (UPDATE analyses x SET status = d.status, error = CASE WHEN d.status = 'failed' "
	 "THEN coalesce(x.error, d.error) END, job_id = NULL FROM d WHERE d.kind = 'analysis' "
	 "AND x.tenant_id = d.tenant_id AND x.id = d.target AND x.job_id = d.id) "
	 "SELECT count(*) FROM d");
SEG_STMT(job_depth, "SELECT count(*) FILTER (WHERE status = 'queued' AND run_after <= now()), "
		    "count(*) FILTER (WHERE status = 'queued' AND run_after > now()), "
		    "count(*) FILTER (WHERE status = 'running') FROM jobs "
		    "WHERE status IN ('queued', 'running')");

void seg_job_claim_release(struct seg_job_claim *job)
{
	if (!job)
		return;
	free(job->kind);
	free(job->params);
	memset(job, 0, sizeof(*job));
}

static const char *seg__status_name(const char *s)
{
	static const char *const names[] = {"queued", "running", "succeeded", "failed",
					    "cancelled"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return names[i];
	return "unknown";
}

enum seg_err seg_db_job_enqueue(struct seg_db *db, int64_t tenant, const char *kind, int64_t target,
				const char *params, int64_t *id, bool *joined)
{
	char tid[SEG_INT_TEXT], tgt[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), kind, target ? seg__db_int(tgt, target) : NULL,
			   params};
	enum seg_err err = SEG_ERR_INTERNAL;

	*id = 0;
	*joined = false;
	/* A queued job that commits or is claimed between two tries is met by the next. */
	for (int attempt = 0; attempt < 5; attempt++) {
		PGresult *res;
		err = seg__db_exec(db, &job_enqueue, 4, p, &res);
		if (err)
			return err;
		if (PQntuples(res) > 0) {
			*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			*joined = PQgetvalue(res, 0, 1)[0] == 't';
			PQclear(res);
			return SEG_OK;
		}
		PQclear(res);
		err = SEG_ERR_RETRY; /* the next statement's snapshot sees the winner */
	}
	seg_warn("could not queue a %s job: its queued twin kept changing", kind);
	return err;
}

enum seg_err seg_db_job_get(struct seg_db *db, int64_t tenant, int64_t id, char **json)
{
	char tid[SEG_INT_TEXT], jid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(jid, id)};
	return seg__db_json_row(db, &job_get, 2, p, json);
}

enum seg_err seg_db_job_status(struct seg_db *db, int64_t tenant, int64_t id, const char **status)
{
	char tid[SEG_INT_TEXT], jid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(jid, id)};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &job_status, 2, p, &res);
	*status = NULL;
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	else
		*status = seg__status_name(PQgetvalue(res, 0, 0));
	PQclear(res);
	return err;
}

enum seg_err seg_db_job_list(struct seg_db *db, int64_t tenant, const char *status,
			     const char *kind, const char *after_key, int limit,
			     struct seg_page *page)
{
	char tid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	PGresult *res;

	if (after_key && (!after_key[0] || strspn(after_key, "0123456789") != strlen(after_key) ||
			  strlen(after_key) > 18))
		return SEG_ERR_MALFORMED;
	const char *p[] = {seg__db_int(tid, tenant), status, kind, after_key,
			   seg__db_int(lim, limit + 1)};
	enum seg_err err = seg__db_exec(db, &job_list, 5, p, &res);
	if (err)
		return err;
	seg__db_page_fill(page, res, limit);
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_job_cancel(struct seg_db *db, int64_t tenant, int64_t id, char **json)
{
	char tid[SEG_INT_TEXT], jid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(jid, id)};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &job_cancel, 2, p, &res);

	*json = NULL;
	if (err)
		return err;
	bool found = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	PQclear(res);
	if (!found)
		return SEG_ERR_NOT_FOUND;
	return seg__db_json_row(db, &job_get, 2, p, json);
}

enum seg_err seg_db_job_lock(struct seg_db *db, const struct seg_job_claim *job)
{
	char jid[SEG_INT_TEXT], att[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(jid, job->id), seg__db_int(att, job->attempt)};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &job_lock, 2, p, &res);
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = SEG_ERR_CONFLICT;
	PQclear(res);
	return err;
}

enum seg_err seg_db_job_succeed(struct seg_db *db, const struct seg_job_claim *job,
				const char *result)
{
	char jid[SEG_INT_TEXT], att[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(jid, job->id), seg__db_int(att, job->attempt), result};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &job_succeed, 3, p, &res);
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = SEG_ERR_CONFLICT;
	PQclear(res);
	return err;
}

enum seg_err seg_db_job_fail_final(struct seg_db *db, const struct seg_job_claim *job,
				   const char *error)
{
	char jid[SEG_INT_TEXT], att[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(jid, job->id), seg__db_int(att, job->attempt), error};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &job_fail_final, 3, p, &res);
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = SEG_ERR_CONFLICT;
	PQclear(res);
	return err;
}

/* --- workers --- */

enum seg_err seg_db_job_claim(struct seg_db *db, const struct seg_job_policy *policy,
			      const char *worker, const char *const *kinds,
			      struct seg_job_claim *out, bool *found)
{
	struct seg_buf arr = SEG_BUF_INIT;
	char lease[SEG_INT_TEXT];
	PGresult *res = NULL;
	enum seg_err err;

	*found = false;
	memset(out, 0, sizeof(*out));
	seg_buf_addch(&arr, '{');
	for (size_t i = 0; kinds[i]; i++) {
		if (i)
			seg_buf_addch(&arr, ',');
		seg_buf_add_json_string(&arr, kinds[i], strlen(kinds[i]));
	}
	seg_buf_addch(&arr, '}');
	const char *p[] = {seg__db_int(lease, policy->lease_s), worker, arr.data};
	err = seg__db_exec(db, &job_claim, 3, p, &res);
	if (err || PQntuples(res) == 0)
		goto out;
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->tenant = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	out->kind = seg__db_strdup(res, 0, 2);
	out->target = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	out->params = seg__db_strdup(res, 0, 4);
	out->attempt = atoi(PQgetvalue(res, 0, 5));
	out->max_attempts = atoi(PQgetvalue(res, 0, 6));
	*found = true;
out:
	PQclear(res);
	seg_buf_release(&arr);
	return err;
}

enum seg_err seg_db_job_heartbeat(struct seg_db *db, const struct seg_job_policy *policy,
				  struct seg_job_beat *beats, size_t n)
{
	struct seg_buf ids = SEG_BUF_INIT, atts = SEG_BUF_INIT, progs = SEG_BUF_INIT;
	char lease[SEG_INT_TEXT];
	PGresult *res = NULL;
	enum seg_err err;

	seg_buf_addch(&ids, '{');
	seg_buf_addch(&atts, '{');
	seg_buf_addch(&progs, '{');
	for (size_t i = 0; i < n; i++) {
		const char *sep = i ? "," : "";
		seg_buf_addf(&ids, "%s%lld", sep, (long long)beats[i].id);
		seg_buf_addf(&atts, "%s%d", sep, beats[i].attempt);
		seg_buf_addf(&progs, "%s%.6f", sep, beats[i].progress);
		beats[i].held = true; /* unless the database says otherwise */
		beats[i].cancel = false;
	}
	seg_buf_addch(&ids, '}');
	seg_buf_addch(&atts, '}');
	seg_buf_addch(&progs, '}');
	const char *p[] = {seg__db_int(lease, policy->lease_s), ids.data, atts.data, progs.data};
	err = seg__db_exec(db, &job_heartbeat, 4, p, &res);
	if (err)
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		for (size_t i = 0; i < n; i++) {
			if (beats[i].id != id)
				continue;
			beats[i].held = PQgetvalue(res, r, 1)[0] == 't';
			beats[i].cancel = PQgetvalue(res, r, 2)[0] == 't';
		}
	}
out:
	PQclear(res);
	seg_buf_release(&ids);
	seg_buf_release(&atts);
	seg_buf_release(&progs);
	return err;
}

enum seg_err seg_db_job_fail(struct seg_db *db, const struct seg_job_policy *policy,
			     const struct seg_job_claim *job, enum seg_err why, const char **status)
{
	struct seg_buf delays = SEG_BUF_INIT, error = SEG_BUF_INIT;
	struct seg_problem problem;
	char jid[SEG_INT_TEXT], att[SEG_INT_TEXT];
	PGresult *res = NULL;
	enum seg_err err;

	*status = NULL;
	seg_problem_init(&problem);
	if (job->attempt >= job->max_attempts)
		seg_problem_detail(&problem, "attempt %d of %d failed: %s; no attempts left",
				   job->attempt, job->max_attempts, seg_err_detail(why));
	else
		seg_problem_detail(&problem, "attempt %d of %d failed: %s; it will be retried",
				   job->attempt, job->max_attempts, seg_err_detail(why));
	seg_problem_render(&problem, why, NULL, &error);
	seg_backoff_array(&delays, SEG__BACKOFF_STEPS, policy->backoff_s, policy->backoff_cap_s);
	const char *p[] = {seg__db_int(jid, job->id), seg__db_int(att, job->attempt), delays.data,
			   error.data};
	err = seg__db_exec(db, &job_fail, 4, p, &res);
	if (err)
		goto out;
	if (PQntuples(res) == 0)
		err = SEG_ERR_CONFLICT;
	else
		*status = seg__status_name(PQgetvalue(res, 0, 0));
out:
	PQclear(res);
	seg_problem_release(&problem);
	seg_buf_release(&delays);
	seg_buf_release(&error);
	return err;
}

/* Runs a fenced update of one job whose only result is whether it matched. */
static enum seg_err seg__job_fenced(struct seg_db *db, struct seg_stmt *stmt,
				    const struct seg_job_claim *job, const char **status)
{
	char jid[SEG_INT_TEXT], att[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(jid, job->id), seg__db_int(att, job->attempt)};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, stmt, 2, p, &res);
	if (status)
		*status = NULL;
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = SEG_ERR_CONFLICT;
	else if (status)
		*status = seg__status_name(PQgetvalue(res, 0, 0));
	PQclear(res);
	return err;
}

enum seg_err seg_db_job_cancelled(struct seg_db *db, const struct seg_job_claim *job)
{
	return seg__job_fenced(db, &job_cancelled, job, NULL);
}

enum seg_err seg_db_job_hand_back(struct seg_db *db, const struct seg_job_claim *job,
				  const char **status)
{
	return seg__job_fenced(db, &job_hand_back, job, status);
}

enum seg_err seg_db_job_rescue(struct seg_db *db, const struct seg_job_policy *policy,
			       int *requeued, int *ended)
{
	struct seg_buf delays = SEG_BUF_INIT;
	PGresult *res = NULL;
	enum seg_err err;

	*requeued = *ended = 0;
	seg_backoff_array(&delays, SEG__BACKOFF_STEPS, policy->backoff_s, policy->backoff_cap_s);
	const char *p[] = {delays.data};
	err = seg__db_exec(db, &job_rescue, 1, p, &res);
	if (err)
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *st = PQgetvalue(res, r, 1);
		if (strcmp(st, "queued") == 0)
			++*requeued;
		else
			++*ended;
		seg_warn("job %s: its worker stopped renewing the lease; now %s",
			 PQgetvalue(res, r, 0), st);
	}
	err = seg__db_exec(db, &job_cancel_tidy, 0, NULL, NULL);
out:
	PQclear(res);
	seg_buf_release(&delays);
	return err;
}

enum seg_err seg_db_job_schedule_refresh(struct seg_db *db, int interval_s, int *queued)
{
	char iv[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(iv, interval_s)};
	const char *kind[] = {"segment.refresh"};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &job_schedule_refresh, 1, p, &res);

	*queued = 0;
	if (err)
		return err;
	*queued = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (*queued > 0 && seg__db_exec(db, &job_notify, 1, kind, NULL) != SEG_OK)
		seg_debug("could not notify the workers of the scheduled refreshes");
	return SEG_OK;
}

enum seg_err seg_db_job_purge(struct seg_db *db, int retention_s, int *purged)
{
	char s[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(s, retention_s)};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &job_purge, 1, p, &res);

	*purged = 0;
	if (err)
		return err;
	*purged = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_job_depth(struct seg_db *db, struct seg_job_depth *out)
{
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &job_depth, 0, NULL, &res);
	if (err)
		return err;
	out->ready = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->delayed = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	out->running = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	return SEG_OK;
}

/* Takes the notifications libpq has received; true when there was one. */
static bool seg__job_notified(struct seg_db *db)
{
	PGnotify *n;
	bool any = false;
	while ((n = PQnotifies(db->conn)) != NULL) {
		any = true;
		PQfreemem(n);
	}
	return any;
}

enum seg_err seg_db_job_listen_wait(struct seg_db *db, int *listening, int timeout_ms, bool *woken)
{
	struct pollfd pfd;
	enum seg_err err;

	*woken = false;
	if (!db->conn || db->pid != *listening) {
		/* a new connection (or the first): LISTEN again; what passed meanwhile is unknown
		 */
		*listening = 0;
		err = seg__db_query(db, "LISTEN segmentd_jobs", 0, NULL, NULL);
		if (err)
			return err;
		*listening = db->pid;
		*woken = true;
		return SEG_OK;
	}
	if (seg__job_notified(db)) {
		*woken = true;
		return SEG_OK;
	}
	pfd.fd = PQsocket(db->conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0 || (poll(&pfd, 1, timeout_ms) > 0 && !PQconsumeInput(db->conn))) {
		seg__conn_close(db, "connection lost while listening");
		*listening = 0;
		return SEG_ERR_UNAVAILABLE;
	}
	*woken = seg__job_notified(db);
	return SEG_OK;
}

/*
 * TEMPORARY stand-ins (weak symbols) for seg_db_job_lock and seg_db_job_succeed, so that
 * db/members.c links and its refresh can be tested before the job queue (branch h-jobs,
 * db/jobs.c) lands. The real definitions override these; delete this file when merging.
 */
#include "internal.h"

SEG_STMT(standin_job_lock, "SELECT 1 FROM jobs WHERE tenant_id = $1 AND id = $2 "
			   "AND status = 'running' AND attempts = $3::integer FOR UPDATE");
SEG_STMT(standin_job_succeed,
	 "UPDATE jobs SET status = 'succeeded', progress = 1, result = $3::jsonb, "
	 "finished_at = now(), updated_at = now() WHERE tenant_id = $1 AND id = $2");

__attribute__((weak)) enum seg_err seg_db_job_lock(struct seg_db *db,
						   const struct seg_job_claim *job)
{
	char t[SEG_INT_TEXT], i[SEG_INT_TEXT], a[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(t, job->tenant), seg__db_int(i, job->id),
				seg__db_int(a, job->attempt)};
	PGresult *res = NULL;
	enum seg_err err = seg__db_exec(db, &standin_job_lock, 3, params, &res);
	if (!err && PQntuples(res) == 0)
		err = SEG_ERR_CONFLICT;
	PQclear(res);
	return err;
}

__attribute__((weak)) enum seg_err
seg_db_job_succeed(struct seg_db *db, const struct seg_job_claim *job, const char *result)
{
	char t[SEG_INT_TEXT], i[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(t, job->tenant), seg__db_int(i, job->id), result};
	return seg__db_exec(db, &standin_job_succeed, 3, params, NULL);
}

/*
 * The job kind table: every kind of background job and the function that runs it.
 *
 * "test.sleep" exists for the tests of the job engine (tests/api/test_q_jobs.py): only a
 * daemon started with SEGMENTD_TEST_JOBS=1 claims it, and only SQL can queue it. Its params:
 * "seconds" (0 to 50) to sleep at check points 50 ms apart, reporting progress; "hold" (the
 * sleep happens inside the job's transaction, holding its row, as a segment refresh does);
 * "fail" (the attempt fails at the end instead of succeeding).
 */
#include "jobkinds.h"

#include "analysiskinds.h"

#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void seg__nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static enum seg_err seg__test_sleep(struct seg_db *db, const struct seg_job_claim *job,
				    const struct seg_job_hooks *hooks)
{
	json_t *params = json_loads(job->params ? job->params : "{}", 0, NULL);
	json_t *secs = json_object_get(params, "seconds");
	bool hold = json_is_true(json_object_get(params, "hold"));
	bool fail = json_is_true(json_object_get(params, "fail"));
	double seconds = json_is_number(secs) ? json_number_value(secs) : 0;
	enum seg_err err = SEG_OK;
	char result[64];

	json_decref(params);
	if (!(seconds >= 0) || seconds > 50)
		seconds = 0;
	if (hold && !(err = seg_db_begin(db)))
		err = seg_db_job_lock(db, job);
	long steps = (long)(seconds * 20);
	for (long i = 0; i < steps && !err; i++) {
		if (hooks->stopping(hooks->ctx))
			err = SEG_ERR_CANCELLED;
		else {
			hooks->progress(hooks->ctx, (double)i / (double)steps);
			seg__nap_ms(50);
		}
	}
	if (!err && fail)
		err = SEG_ERR_INTERNAL;
	if (!err && !hold && !(err = seg_db_begin(db)))
		err = seg_db_job_lock(db, job);
	snprintf(result, sizeof(result), "{\"slept\": %g}", seconds);
	if (!err)
		err = seg_db_job_succeed(db, job, result);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	return err;
}

/*
 * A segment's full refresh, then a snapshot of every scheme that uses the segment (SPEC
 * §5.5), each in a transaction of its own once the refresh has committed: the refresh's
 * transaction holds the tenant's change counter to its commit, and a snapshot reads every
 * customer. A snapshot that fails is logged; the refresh stands.
 */
static enum seg_err seg__segment_refresh(struct seg_db *db, const struct seg_job_claim *job,
					 const struct seg_job_hooks *hooks)
{
	int taken = 0;
	enum seg_err err = seg_db_segment_refresh(db, job, hooks);
	if (!err) {
		enum seg_err e2 =
			seg_db_scheme_snapshot_segment(db, job->tenant, job->target, hooks, &taken);
		if (e2)
			seg_warn("could not snapshot the schemes of segment %lld after its refresh "
				 "(job %lld): %s",
				 (long long)job->target, (long long)job->id, seg_err_slug(e2));
	}
	return err;
}

const struct seg_job_kind seg_job_kinds[] = {
	{"segment.refresh", seg__segment_refresh},
	{"analysis", seg_analysis_job_run},
	{"test.sleep", seg__test_sleep},
	{NULL, NULL},
};

const struct seg_job_kind *seg_job_kind_find(const char *name)
{
	for (const struct seg_job_kind *k = seg_job_kinds; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

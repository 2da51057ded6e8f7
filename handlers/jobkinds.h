/*
 * The kinds of background job, as the route table lists the endpoints: each name maps to the
 * function that runs one claimed job. The job workers (server/jobs.c) claim only the kinds
 * listed here, so a daemon never takes a job it cannot run.
 *
 * A run works on the job worker's own connection (never the request pool's), in transactions
 * of its own. It commits its result together with the job's completion: a transaction that
 * takes seg_db_job_lock (first, as seg_db_segment_refresh does, or late, as an analysis run
 * does so that the heartbeat can store its progress meanwhile) and ends with
 * seg_db_job_succeed. It returns SEG_OK once that committed; SEG_ERR_CONFLICT when seg_db_job_lock
 * or seg_db_job_succeed said the claim was lost (the worker drops the job without a word); any
 * other error fails the attempt (retried with backoff). It checks hooks->stopping at its check
 * points and returns (SEG_ERR_CANCELLED) when asked: a cancel request, or the daemon stopping.
 * Runs on a job worker thread.
 */
#ifndef SEG_JOBKINDS_H
#define SEG_JOBKINDS_H

#include "db.h"

struct seg_job_kind {
	const char *name;
	enum seg_err (*run)(struct seg_db *db, const struct seg_job_claim *job,
			    const struct seg_job_hooks *hooks);
};

/* Every kind, ended by an entry with a NULL name. */
extern const struct seg_job_kind seg_job_kinds[];

/* The kind named name, or NULL. */
const struct seg_job_kind *seg_job_kind_find(const char *name);

#endif

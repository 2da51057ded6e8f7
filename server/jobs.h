/*
 * The job engine of a daemon (the model: server/README.md "Jobs"): SEGMENTD_WORKERS job worker
 * threads, which claim jobs of the kinds in handlers/jobkinds.h and run them, and one listener
 * thread, which LISTENs for new jobs and wakes idle workers, renews the leases of the running
 * jobs (heartbeat), takes over jobs whose lease ran out (rescue), queues the scheduled segment
 * refreshes, and samples the queue's depth for /metrics. All of them use a database pool of
 * their own (workers + 1 connections, with its own watchdog), never the request pool.
 *
 * Threads: seg_jobs_start, seg_jobs_quiesce, seg_jobs_stop on the main thread;
 * seg_jobs_running and seg_jobs_metrics on any thread (they never wait on the database).
 */
#ifndef SEG_JOBS_H
#define SEG_JOBS_H

#include "buf.h"
#include "config.h"

struct seg_jobs;

/* Starts the threads; connects lazily. NULL when a thread could not be created. */
struct seg_jobs *seg_jobs_start(const struct seg_config *config);
/*
 * Begins the shutdown: no more claims; every running job is asked to stop (hooks->stopping)
 * and, once its run returned, handed back to the queue. Heartbeats go on meanwhile.
 */
void seg_jobs_quiesce(struct seg_jobs *jobs);
/* The jobs this daemon is running now. */
int seg_jobs_running(struct seg_jobs *jobs);
/*
 * Ends it: when jobs are still running (the shutdown timeout passed), their waits on the
 * database are cut short (their claims then run out and another daemon takes them over); joins
 * every thread and closes the pool. NULL is ignored.
 */
void seg_jobs_stop(struct seg_jobs *jobs);
/* Appends the Prometheus text of the job metrics (queue depth, durations, counters). */
void seg_jobs_metrics(struct seg_jobs *jobs, struct seg_buf *out);

#endif

/*
 * Request workers: the threads that run request handlers, so that the threads polling HTTP
 * connections never wait on the database (STYLE.md rule 9). An HTTP thread suspends the
 * connection, submits a task, and goes back to polling; a worker runs the task (which may wait
 * on PostgreSQL, bounded by the db layer's deadlines) and resumes the connection.
 *
 * Tasks run in the order they were submitted. A task that waited in the queue longer than the
 * queue timeout runs with SEG_WORKER_EXPIRED (the request is answered 503 at once instead of
 * after a wait nobody is left for); when the workers stop, tasks still queued run with
 * SEG_WORKER_CANCELLED. Either way every task runs exactly once, so whoever submitted it can
 * rely on its completion.
 */
#ifndef SEG_WORKERS_H
#define SEG_WORKERS_H

#include <stdint.h>

enum seg_worker_run { SEG_WORKER_RUN, SEG_WORKER_EXPIRED, SEG_WORKER_CANCELLED };

/* A unit of work, embedded in the submitter's own struct (no allocation per task). */
struct seg_task {
	void (*run)(struct seg_task *task, enum seg_worker_run how);
	struct seg_task *next;
	int64_t queued_ms;
};

struct seg_workers;

/* Starts n threads. queue_timeout_ms: see above (0: none). Main thread. */
struct seg_workers *seg_workers_new(int n, int queue_timeout_ms);
/* Queues a task. Any thread. After seg_workers_stop began, the task runs CANCELLED at once. */
void seg_workers_submit(struct seg_workers *w, struct seg_task *task);
/* Counts for /metrics and shutdown: tasks queued, tasks running. Any thread. */
void seg_workers_stats(struct seg_workers *w, int *queued, int *running);
/*
 * Stops: queued tasks run CANCELLED, running ones finish, the threads are joined. Main
 * thread.
 */
void seg_workers_stop(struct seg_workers *w);
void seg_workers_free(struct seg_workers *w);

#endif

/*
 * The serving process: the parts every request needs (configuration, pool, auth, metrics,
 * rate limiter, request workers, connection registry) and the HTTP daemons. Created on the
 * main thread before any other thread starts; afterwards the other threads only read it (the
 * parts they touch lock for themselves; `stopping` is atomic).
 */
#ifndef SEG_SERVER_H
#define SEG_SERVER_H

#include <stdbool.h>

#include "auth.h"
#include "config.h"
#include "conns.h"
#include "jobs.h"
#include "db.h"
#include "metrics.h"
#include "ratelimit.h"
#include "workers.h"

struct seg_server {
	const struct seg_config *config;
	struct seg_pool *pool;
	struct seg_auth *auth;
	struct seg_metrics *metrics;
	struct seg_ratelimit *ratelimit;
	struct seg_workers *workers;
	struct seg_conns *conns;
	struct seg_jobs *jobs; /* the job engine (jobs.h) */
	void **mhd;	       /* struct MHD_Daemon, one per HTTP thread */
	int nmhd;
	int active;   /* requests in flight (atomic) */
	int stopping; /* SIGTERM received: answer with Connection: close (atomic) */
};

/*
 * Starts the request workers and listens: one libmicrohttpd daemon per HTTP thread. Raises the
 * file-descriptor limit as far as allowed and keeps the connection limit below it. Main thread.
 */
enum seg_err seg_http_start(struct seg_server *s);
/*
 * Begins a shutdown: stops accepting, marks every later response Connection: close and closes
 * idle keep-alive connections. Main thread.
 */
void seg_http_quiesce(struct seg_server *s);
/*
 * Called every few milliseconds while stopping and by the reaper timer: closes connections
 * past their deadlines (and, while stopping, idle ones). Returns the connections still open.
 * Main thread.
 */
int seg_http_reap(struct seg_server *s);
/* The number of requests in flight. */
int seg_http_active(struct seg_server *s);
/*
 * Stops everything HTTP: connections that are not running a handler are closed, running
 * handlers finish (bounded by the database deadlines), queued ones are cancelled, the daemons
 * and the request workers stop. Main thread.
 */
void seg_http_stop(struct seg_server *s);

/* `segmentd serve`: runs until SIGTERM/SIGINT; returns the exit status. Main thread. */
int seg_serve(const struct seg_config *config);

#endif

/*
 * The serving process: the parts every request needs (configuration, pool, auth, metrics,
 * rate limiter) and the HTTP daemon. Created on the main thread; the HTTP threads only read
 * it (the parts they touch lock for themselves).
 */
#ifndef SEG_SERVER_H
#define SEG_SERVER_H

#include <stdbool.h>

#include "auth.h"
#include "config.h"
#include "db.h"
#include "metrics.h"
#include "ratelimit.h"

struct seg_server {
	const struct seg_config *config;
	struct seg_pool *pool;
	struct seg_auth *auth;
	struct seg_metrics *metrics;
	struct seg_ratelimit *ratelimit;
	void **mhd; /* struct MHD_Daemon, one per HTTP thread */
	int nmhd;
	int active; /* requests in flight (atomic) */
};

/* Starts listening with libmicrohttpd's thread pool. Main thread. */
enum seg_err seg_http_start(struct seg_server *s);
/* Stops accepting new connections; requests in flight go on. Main thread. */
void seg_http_quiesce(struct seg_server *s);
/* The number of requests in flight. */
int seg_http_active(struct seg_server *s);
/* Stops the daemon and its threads. Main thread. */
void seg_http_stop(struct seg_server *s);

/* `segmentd serve`: runs until SIGTERM/SIGINT; returns the exit status. Main thread. */
int seg_serve(const struct seg_config *config);

#endif

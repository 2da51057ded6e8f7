/*
 * `segmentd serve`: migrate, start HTTP, and run the libuv loop on the main thread until
 * SIGTERM or SIGINT. The loop owns the signal handlers and the timers: the connection reaper
 * (deadlines of conns.c, four times a second), the pool's idle-connection reaper, and the
 * shutdown drain; the segment refresh scheduler will join them.
 *
 * Shutdown (SIGTERM/SIGINT): stop accepting; every later response says Connection: close and
 * idle keep-alive connections are closed at once; wait until the open connections are gone or
 * SEGMENTD_SHUTDOWN_TIMEOUT passed; then close what is left (a handler that is running
 * finishes first), stop the request workers, close the pool, exit 0. The job engine
 * (server/jobs.h) stops claiming at the signal and asks its running jobs to stop; each hands
 * its job back to the queue when its run returns. The drain waits for them too, within the
 * same timeout; jobs still running then have their database waits cut short, and their claims
 * run out and are taken over by another daemon (or this one, restarted).
 */
#include "server.h"
#include "version.h"

#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "jobs.h"
#include "log.h"

struct seg__serve {
	struct seg_server server;
	uv_loop_t loop;
	uv_signal_t sigterm, sigint;
	uv_timer_t reaper, pool_reaper, drain;
	uint64_t drain_started;
	bool stopping;
};

static void seg__close_all(struct seg__serve *sv)
{
	uv_close((uv_handle_t *)&sv->sigterm, NULL);
	uv_close((uv_handle_t *)&sv->sigint, NULL);
	uv_close((uv_handle_t *)&sv->reaper, NULL);
	uv_close((uv_handle_t *)&sv->pool_reaper, NULL);
	uv_close((uv_handle_t *)&sv->drain, NULL);
}

static void seg__on_drain(uv_timer_t *t)
{
	struct seg__serve *sv = t->data;
	int open = seg_http_reap(&sv->server);
	int jobs = seg_jobs_running(sv->server.jobs);
	uint64_t waited = uv_now(&sv->loop) - sv->drain_started;
	uint64_t limit = (uint64_t)sv->server.config->shutdown_timeout * 1000;
	if ((open > 0 || jobs > 0) && waited < limit)
		return;
	if (open > 0)
		seg_warn("stopping with %d connections still open after %llu ms", open,
			 (unsigned long long)limit);
	uv_timer_stop(&sv->drain);
	seg__close_all(sv);
}

static void seg__on_signal(uv_signal_t *sig, int signum)
{
	struct seg__serve *sv = sig->data;
	if (sv->stopping)
		return;
	sv->stopping = true;
	seg_info("received %s: no new connections; finishing %d requests in flight",
		 signum == SIGTERM ? "SIGTERM" : "SIGINT", seg_http_active(&sv->server));
	seg_http_quiesce(&sv->server);
	seg_jobs_quiesce(sv->server.jobs);
	sv->drain_started = uv_now(&sv->loop);
	uv_timer_start(&sv->drain, seg__on_drain, 0, 20);
}

static void seg__on_reap(uv_timer_t *t)
{
	struct seg__serve *sv = t->data;
	seg_http_reap(&sv->server);
}

static void seg__on_pool_reap(uv_timer_t *t)
{
	struct seg__serve *sv = t->data;
	seg_pool_reap(sv->server.pool, 5 * 60 * 1000);
}

/* Applies migrations, waiting up to 30 s for the database to come up. */
static enum seg_err seg__migrate_at_start(struct seg_pool *pool)
{
	enum seg_err err = SEG_ERR_UNAVAILABLE;
	for (int attempt = 0; attempt < 30; attempt++) {
		struct seg_db *db = NULL;
		int applied = 0;
		err = seg_pool_acquire(pool, &db);
		if (!err)
			err = seg_db_migrate(db, &applied);
		seg_pool_release(pool, db);
		if (!seg_err_transient(err))
			break;
		if (attempt == 0)
			seg_warn("waiting for the database to apply migrations");
		sleep(1);
	}
	return err;
}

int seg_serve(const struct seg_config *config)
{
	struct seg__serve sv;
	struct seg_pool_config pc = {
		.conninfo = config->database_url,
		.size = config->db_pool,
		.statement_timeout_ms = config->statement_timeout_ms,
		.acquire_timeout_ms = 5000,
		.watchdog = true,
	};
	int status = 1;

	memset(&sv, 0, sizeof(sv));
	signal(SIGPIPE, SIG_IGN);
	json_object_seed(0);
	sv.server.config = config;
	sv.server.pool = seg_pool_new(&pc);
	sv.server.auth = seg_auth_new();
	sv.server.metrics = seg_metrics_new();
	sv.server.ratelimit = seg_ratelimit_new(config->rate_limit);

	if (seg__migrate_at_start(sv.server.pool) != SEG_OK) {
		seg_error("could not apply migrations; not serving");
		goto out;
	}
	if (seg_http_start(&sv.server) != SEG_OK)
		goto out;
	seg_info("segmentd %s listening on %s:%d", SEG_VERSION, config->listen_host,
		 config->listen_port);
	sv.server.jobs = seg_jobs_start(config);
	if (!sv.server.jobs)
		goto out;

	uv_loop_init(&sv.loop);
	uv_signal_init(&sv.loop, &sv.sigterm);
	uv_signal_init(&sv.loop, &sv.sigint);
	uv_timer_init(&sv.loop, &sv.reaper);
	uv_timer_init(&sv.loop, &sv.pool_reaper);
	uv_timer_init(&sv.loop, &sv.drain);
	sv.sigterm.data = sv.sigint.data = sv.reaper.data = sv.pool_reaper.data = sv.drain.data =
		&sv;
	uv_signal_start(&sv.sigterm, seg__on_signal, SIGTERM);
	uv_signal_start(&sv.sigint, seg__on_signal, SIGINT);
	uv_timer_start(&sv.reaper, seg__on_reap, 250, 250);
	uv_timer_start(&sv.pool_reaper, seg__on_pool_reap, 60000, 60000);
	uv_run(&sv.loop, UV_RUN_DEFAULT);
	uv_loop_close(&sv.loop);

	seg_jobs_stop(sv.server.jobs);
	sv.server.jobs = NULL;
	seg_http_stop(&sv.server);
	seg_info("stopped");
	status = 0;
out:
	seg_jobs_stop(sv.server.jobs);
	seg_http_stop(&sv.server);
	seg_ratelimit_free(sv.server.ratelimit);
	seg_metrics_free(sv.server.metrics);
	seg_auth_free(sv.server.auth);
	seg_pool_free(sv.server.pool);
	return status;
}

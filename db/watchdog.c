/*
 * The pool's watchdog: a thread of its own with a connection of its own (never one of the
 * pool's slots) that probes PostgreSQL every SEG__PROBE_INTERVAL_MS with one round trip,
 * "SELECT count(*) FROM schema_migrations WHERE version = ANY($1)", which tells at once
 * whether the server answers and whether every embedded migration is applied.
 *
 * Verdict: any answer within SEG__PROBE_DEADLINE_MS (connecting included) means reachable,
 * even an error such as "too many clients" (53300), "the database system is starting up" or a
 * missing schema_migrations (then not migrated). No answer within the deadline, or a refused
 * or failed connection, means down: the pool is marked down (down_gen is incremented, so that
 * waits under way give up within 100 ms, and seg_pool_acquire fails at once), its idle
 * connections are closed, and nothing connects until a probe gets an answer again. Each
 * transition is logged once.
 *
 * It also runs the pg_cancel_backend requests of waits that expired (seg__watchdog_cancel), on
 * its own connection, each bounded by SEG__PROBE_DEADLINE_MS, and probes again at once when
 * asked to (seg__watchdog_reprobe: the migrations were just applied).
 *
 * Threads: seg__watchdog_start/stop run on the thread that creates and frees the pool;
 * seg__watchdog_cancel on any thread; everything else on the watchdog thread, which takes the
 * pool lock only to read or write the pool's state, never while waiting on the network.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* How often the database is probed. */
#define SEG__PROBE_INTERVAL_MS 1000
/* How long a probe (connecting included) or a cancel may take: db/README.md documents it. */
#define SEG__PROBE_DEADLINE_MS 2000 /* the messages below say "2 s" */

/*
 * The watchdog's session: short server-side timeouts (a lock on schema_migrations answers
 * with an error rather than silence), and no warnings (pg_cancel_backend of a backend that
 * already ended warns).
 */
#define SEG__WATCHDOG_SETUP                                                                  \
	"SET statement_timeout = 1000; SET lock_timeout = 500; "                             \
	"SET idle_in_transaction_session_timeout = 60000; SET client_min_messages = error; " \
	"SET client_connection_check_interval = 2000"

struct seg__verdict {
	bool reachable;
	bool migrated;
	char *why; /* why not reachable or not migrated (malloc'ed), or NULL */
};

/* The migrations the probe looks for, made once. */
struct seg__watch {
	struct seg_pool *pool;
	struct seg_db db; /* the watchdog's own connection: slot -1 */
	char *versions;	  /* "{1,2}" */
	int nversions;
};

static void seg__why(struct seg__verdict *v, const char *text)
{
	free(v->why);
	v->why = seg__one_line(text);
}

/* One probe within SEG__PROBE_DEADLINE_MS: connects when needed, then asks. */
static void seg__probe(struct seg__watch *wd, struct seg__verdict *v)
{
	const char *params[] = {wd->versions};
	struct seg__req req = {
		.kind = SEG__REQ_QUERY, .sql = SEG__MIGRATED_SQL, .n = 1, .params = params};
	struct seg_db *db = &wd->db;
	struct seg__wait w;

	memset(v, 0, sizeof(*v));
	seg__wait_start(&w, db, SEG__PROBE_DEADLINE_MS);
	for (int attempt = 0; attempt < 2; attempt++) {
		PGresult *res = NULL;
		bool fresh = false;
		enum seg__end end;

		if (!db->conn) {
			bool answered;
			char *why = NULL;
			end = seg__conn_open(db, wd->pool->conninfo, "segmentd watchdog",
					     SEG__WATCHDOG_SETUP, &w, &answered, &why);
			free(v->why); /* what the first attempt said, if any */
			v->why = why;
			if (end != SEG__END_DONE) {
				v->reachable = answered;
				return;
			}
			fresh = true;
		}
		end = seg__conn_roundtrip(db, &req, &w, &res);
		if (end == SEG__END_DONE) {
			v->reachable = true;
			if (PQresultStatus(res) == PGRES_TUPLES_OK)
				v->migrated = atoi(PQgetvalue(res, 0, 0)) == wd->nversions;
			else
				seg__why(v, PQresultErrorMessage(res));
			if (PQresultStatus(res) == PGRES_TUPLES_OK && !v->migrated)
				seg__why(v, "migrations are not all applied");
			PQclear(res);
			return;
		}
		if (end == SEG__END_LOST && res)
			seg__why(v, PQresultErrorMessage(res));
		else if (end == SEG__END_LOST)
			seg__why(v, PQerrorMessage(db->conn));
		else if (end == SEG__END_EXPIRED)
			seg__why(v, "no answer within 2 s");
		else
			seg__why(v, "the pool is closing");
		PQclear(res);
		seg__conn_close(db, end == SEG__END_LOST      ? "connection lost"
				    : end == SEG__END_EXPIRED ? "probe expired"
							      : "pool closed");
		/* a connection that broke since the last probe (a restart): try a new one */
		if (end != SEG__END_LOST || fresh)
			return;
	}
}

/* Records v as the pool's verdict; marks the pool down or up and logs the transitions. */
static void seg__verdict_apply(struct seg__watch *wd, const struct seg__verdict *v)
{
	struct seg_pool *pool = wd->pool;
	bool went_down = false, came_up = false, changed;

	pthread_mutex_lock(&pool->lock);
	changed = !pool->probed_ms || pool->health.reachable != v->reachable ||
		  pool->health.migrated != v->migrated;
	pool->health.reachable = v->reachable;
	pool->health.migrated = v->migrated;
	pool->probed_ms = seg__now_ms();
	if (!v->reachable && !pool->down) {
		__atomic_store_n(&pool->down, true, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&pool->down_gen, 1, __ATOMIC_SEQ_CST);
		pool->down_logged = true;
		pool->ncancel = 0; /* its connections are gone; the server forgets their queries */
		went_down = true;
	} else if (v->reachable && pool->down) {
		__atomic_store_n(&pool->down, false, __ATOMIC_SEQ_CST);
		pool->down_logged = false;
		pool->down_until_ms = 0;
		came_up = true;
	}
	pthread_mutex_unlock(&pool->lock);

	if (changed)
		seg_debug("watchdog: the database is %s%s%s",
			  !v->reachable ? "unreachable"
			  : v->migrated ? "reachable and migrated"
					: "reachable but not migrated",
			  v->why ? ": " : "", v->why ? v->why : "");
	if (went_down) {
		seg_warn("database unreachable: %s; requests fail at once until it answers again",
			 v->why ? v->why : "no answer");
		seg__pool_close_idle(pool, -1, "database down");
	}
	if (came_up)
		seg_info("database connection restored");
}

/* Runs the queued pg_cancel_backend requests while the database answers. */
static void seg__cancels_run(struct seg__watch *wd)
{
	struct seg_pool *pool = wd->pool;
	struct seg_db *db = &wd->db;

	for (;;) {
		char pidtext[16];
		const char *params[] = {pidtext};
		struct seg__req req = {.kind = SEG__REQ_QUERY,
				       .sql = "SELECT pg_cancel_backend($1)",
				       .n = 1,
				       .params = params};
		PGresult *res = NULL;
		struct seg__wait w;
		int pid;

		pthread_mutex_lock(&pool->lock);
		if (pool->ncancel == 0 || pool->down) {
			pthread_mutex_unlock(&pool->lock);
			return;
		}
		pid = pool->cancels[--pool->ncancel];
		pthread_mutex_unlock(&pool->lock);

		snprintf(pidtext, sizeof(pidtext), "%d", pid);
		seg__wait_start(&w, db, SEG__PROBE_DEADLINE_MS);
		enum seg__end end =
			db->conn ? seg__conn_roundtrip(db, &req, &w, &res) : SEG__END_LOST;
		if (end == SEG__END_DONE && PQresultStatus(res) == PGRES_TUPLES_OK)
			seg_debug("sent pg_cancel_backend(%d): %s", pid,
				  PQgetvalue(res, 0, 0)[0] == 't' ? "signalled"
								  : "no such backend any more");
		else
			seg_debug("could not send pg_cancel_backend(%d)", pid);
		PQclear(res);
		if (end != SEG__END_DONE && db->conn)
			seg__conn_close(db, "cancel failed");
	}
}

/* Sleeps until next (CLOCK_MONOTONIC ms), or until stopping, a cancel or a reprobe request. */
static void seg__watchdog_sleep(struct seg_pool *pool, int64_t next)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t ms = next - seg__now_ms();
	if (ms <= 0)
		return;
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&pool->lock);
	while (!pool->stopping && !(pool->ncancel && !pool->down) && !pool->reprobe)
		if (pthread_cond_timedwait(&pool->wake, &pool->lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&pool->lock);
}

static void *seg__watchdog_main(void *arg)
{
	struct seg__watch wd = {.pool = arg};
	int64_t next = 0;

	wd.db.pool = wd.pool;
	wd.db.slot = -1;
	wd.versions = seg__db_migration_versions(&wd.nversions);
	while (!__atomic_load_n(&wd.pool->stopping, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&wd.pool->lock);
		bool now = wd.pool->reprobe || seg__now_ms() >= next;
		wd.pool->reprobe = false; /* a request during this probe asks for another one */
		pthread_mutex_unlock(&wd.pool->lock);
		if (now) {
			struct seg__verdict v;
			next = seg__now_ms() + SEG__PROBE_INTERVAL_MS;
			seg__probe(&wd, &v);
			if (!__atomic_load_n(&wd.pool->stopping, __ATOMIC_SEQ_CST))
				seg__verdict_apply(&wd, &v);
			free(v.why);
		}
		seg__cancels_run(&wd);
		seg__watchdog_sleep(wd.pool, next);
	}
	if (wd.db.conn)
		seg__conn_close(&wd.db, "pool closed");
	free(wd.versions);
	return NULL;
}

bool seg__watchdog_start(struct seg_pool *pool)
{
	pthread_condattr_t attr;
	int rc;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->wake, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&pool->watchdog, NULL, seg__watchdog_main, pool);
	if (rc != 0) {
		seg_error("could not start the database watchdog: %s", strerror(rc));
		pthread_cond_destroy(&pool->wake);
		return false;
	}
	return true;
}

void seg__watchdog_stop(struct seg_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	__atomic_store_n(&pool->stopping, true, __ATOMIC_SEQ_CST);
	pthread_cond_signal(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	pthread_join(pool->watchdog, NULL);
	pthread_cond_destroy(&pool->wake);
}

void seg__watchdog_reprobe(struct seg_pool *pool)
{
	if (!pool->has_watchdog)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->reprobe = true;
	pthread_cond_signal(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
}

void seg__watchdog_cancel(struct seg_pool *pool, int pid)
{
	bool queued = false;

	if (!pool->has_watchdog || pid <= 0)
		return;
	pthread_mutex_lock(&pool->lock);
	if (!pool->down && pool->ncancel < SEG__CANCEL_MAX) {
		pool->cancels[pool->ncancel++] = pid;
		pthread_cond_signal(&pool->wake);
		queued = true;
	}
	pthread_mutex_unlock(&pool->lock);
	if (queued)
		seg_debug("asked the watchdog to cancel the statement of backend %d", pid);
}

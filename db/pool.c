/*
 * The connection pool and the statement helpers of db/.
 *
 * Model: a fixed array of slots, each holding at most one PGconn. A borrower takes a free
 * slot (waiting on a condition variable up to acquire_timeout_ms), connects it if it has no
 * connection, and gives it back with seg_pool_release. A connection that fails at the
 * connection level, or whose statement ran past its deadline, is closed at once; the next
 * borrower of its slot reconnects. Statements are prepared per connection on first use, so
 * after a reconnect they are prepared again. Every round trip waits through
 * seg__conn_roundtrip (db/conn.c), with a deadline: statement_timeout_ms +
 * SEG__DEADLINE_SLACK_MS for a statement, so that the server's own statement_timeout (SQLSTATE
 * 57014) normally fires first.
 *
 * Down: with a watchdog (db/watchdog.c), the pool is down from the probe that got no answer to
 * the next one that does; meanwhile seg_pool_acquire fails at once with SEG_ERR_UNAVAILABLE,
 * nothing connects, and waits already under way give up. Without one, a failed connect keeps
 * the others from trying for a second, so requests fail fast with 503 instead of queueing
 * behind connect timeouts.
 *
 * Threads: the pool's shared state (free slots, waiters, the down state) is under its mutex,
 * which is never held while waiting on the network. A borrowed struct seg_db belongs to its
 * borrower's thread until it is released.
 */
#include "internal.h"
#include "text.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"

/* How long after the server's statement_timeout we stop waiting for its answer. */
#define SEG__DEADLINE_SLACK_MS 2000
/* Statements that take longer than this are named in the debug log. */
#define SEG__SLOW_MS 1000
/* How long a rollback may take before its connection is dropped instead. */
#define SEG__ROLLBACK_TIMEOUT_MS 2000
/* connect_timeout_ms when the configuration says 0. */
#define SEG__CONNECT_TIMEOUT_MS 5000

static int seg__next_slot;

struct seg_pool *seg_pool_new(const struct seg_pool_config *cfg)
{
	struct seg_pool *pool = seg_calloc(1, sizeof(*pool));
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->freed, NULL);
	pool->size = cfg->size > 0 ? cfg->size : 1;
	pool->slots = seg_calloc((size_t)pool->size, sizeof(*pool->slots));
	pool->free_stack = seg_calloc((size_t)pool->size, sizeof(int));
	for (int i = 0; i < pool->size; i++) {
		pool->slots[i].pool = pool;
		pool->slots[i].slot = i;
		pool->free_stack[i] = pool->size - 1 - i;
	}
	pool->nfree = pool->size;
	pool->conninfo = seg_strdup(cfg->conninfo ? cfg->conninfo : "");
	pool->statement_timeout_ms = cfg->statement_timeout_ms;
	pool->acquire_timeout_ms = cfg->acquire_timeout_ms;
	pool->connect_timeout_ms =
		cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : SEG__CONNECT_TIMEOUT_MS;
	if (cfg->watchdog)
		pool->has_watchdog = seg__watchdog_start(pool);
	return pool;
}

void seg_pool_free(struct seg_pool *pool)
{
	if (!pool)
		return;
	if (pool->has_watchdog)
		seg__watchdog_stop(pool);
	for (int i = 0; i < pool->size; i++)
		if (pool->slots[i].conn)
			seg__conn_close(&pool->slots[i], "pool closed");
	free(pool->slots);
	free(pool->free_stack);
	free(pool->conninfo);
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

/* Connects db; called without the pool lock. */
static enum seg_err seg__db_connect(struct seg_pool *pool, struct seg_db *db)
{
	struct seg__wait w;
	char setup[512];
	char *why = NULL;
	bool answered;
	enum seg__end end;

	snprintf(setup, sizeof(setup),
		 "SET statement_timeout = %d; SET lock_timeout = %d; "
		 "SET idle_in_transaction_session_timeout = 60000; SET TimeZone = 'UTC'; "
		 "SET client_min_messages = warning; SET client_connection_check_interval = 2000; "
		 "SET jit = off",
		 pool->statement_timeout_ms, pool->statement_timeout_ms);
	seg__wait_start(&w, db, pool->connect_timeout_ms);
	end = seg__conn_open(db, pool->conninfo, "segmentd", setup, &w, &answered, &why);
	if (end == SEG__END_DONE) {
		pthread_mutex_lock(&pool->lock);
		/* with a watchdog, a declared outage ends with its verdict, not here */
		if (pool->down_logged && !pool->down)
			seg_info("database connection restored");
		if (!pool->down)
			pool->down_logged = false;
		pool->down_until_ms = 0;
		pthread_mutex_unlock(&pool->lock);
		return SEG_OK;
	}
	pthread_mutex_lock(&pool->lock);
	if (!pool->down_logged && end != SEG__END_DOWN)
		seg_error("could not connect to the database: %s", why);
	pool->down_logged = true;
	pool->down_until_ms = seg__now_ms() + 1000;
	pthread_mutex_unlock(&pool->lock);
	free(why);
	return SEG_ERR_UNAVAILABLE;
}

enum seg_err seg_pool_acquire(struct seg_pool *pool, struct seg_db **out)
{
	struct timespec deadline;
	struct seg_db *db;
	bool down;

	*out = NULL;
	if (__atomic_load_n(&pool->interrupted, __ATOMIC_SEQ_CST))
		return SEG_ERR_CANCELLED;
	if (__atomic_load_n(&pool->down, __ATOMIC_SEQ_CST))
		return SEG_ERR_UNAVAILABLE; /* the watchdog's verdict: fail fast */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += pool->acquire_timeout_ms / 1000;
	deadline.tv_nsec += (long)(pool->acquire_timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&pool->lock);
	while (pool->nfree == 0) {
		pool->waiting++;
		int rc = pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline);
		pool->waiting--;
		if (rc != 0 && pool->nfree == 0) {
			pthread_mutex_unlock(&pool->lock);
			seg_warn("no database connection came free within %d ms",
				 pool->acquire_timeout_ms);
			return SEG_ERR_BUSY;
		}
	}
	db = &pool->slots[pool->free_stack[--pool->nfree]];
	down = !db->conn && seg__now_ms() < pool->down_until_ms;
	pthread_mutex_unlock(&pool->lock);

	if (down || (!db->conn && seg__db_connect(pool, db) != SEG_OK)) {
		seg_pool_release(pool, db);
		return SEG_ERR_UNAVAILABLE;
	}
	*out = db;
	return SEG_OK;
}

void seg_pool_interrupt(struct seg_pool *pool)
{
	__atomic_store_n(&pool->interrupted, true, __ATOMIC_SEQ_CST);
}

void seg_pool_release(struct seg_pool *pool, struct seg_db *db)
{
	if (!db)
		return;
	if (db->conn && PQstatus(db->conn) != CONNECTION_OK)
		seg__conn_close(db, "connection lost");
	if (db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		seg_db_rollback(db);
	db->in_tx = 0;
	db->long_tx = false;
	db->idle_since_ms = seg__now_ms();
	pthread_mutex_lock(&pool->lock);
	pool->free_stack[pool->nfree++] = (int)(db - pool->slots);
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
}

void seg_pool_stats(struct seg_pool *pool, int *size, int *in_use, int *waiting)
{
	pthread_mutex_lock(&pool->lock);
	*size = pool->size;
	*in_use = pool->size - pool->nfree;
	*waiting = pool->waiting;
	pthread_mutex_unlock(&pool->lock);
}

void seg_pool_health(struct seg_pool *pool, struct seg_pool_health *out)
{
	if (!pool->has_watchdog) {
		*out = (struct seg_pool_health){.reachable = true, .migrated = true, .age_ms = -1};
		return;
	}
	pthread_mutex_lock(&pool->lock);
	*out = pool->health;
	out->age_ms = pool->probed_ms ? seg__now_ms() - pool->probed_ms : -1;
	pthread_mutex_unlock(&pool->lock);
}

void seg__pool_close_idle(struct seg_pool *pool, int64_t idle_ms, const char *why)
{
	struct seg_db *gone = seg_calloc((size_t)pool->size, sizeof(*gone));
	int n = 0;
	int64_t now = seg__now_ms();

	/* moved out under the lock, so that no borrower sees them; closed after it */
	pthread_mutex_lock(&pool->lock);
	for (int i = 0; i < pool->nfree; i++) {
		struct seg_db *db = &pool->slots[pool->free_stack[i]];
		if (db->conn && (idle_ms < 0 || now - db->idle_since_ms > idle_ms)) {
			gone[n++] = *db;
			db->conn = NULL;
			db->pid = 0;
			memset(db->prepared, 0, sizeof(db->prepared));
		}
	}
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < n; i++)
		seg__conn_close(&gone[i], why);
	free(gone);
}

void seg_pool_reap(struct seg_pool *pool, int64_t idle_ms)
{
	seg__pool_close_idle(pool, idle_ms, "idle");
}

/* Maps a failed result to an error; drops the connection when it is gone. */
enum seg_err seg__db_fail(struct seg_db *db, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *text = res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
			   : db->conn			       ? PQerrorMessage(db->conn)
							       : "no connection";
	char *msg = seg__one_line(text);
	enum seg_err err;

	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK || !state) {
		seg_warn("database connection lost during %s: %s", what, msg);
		if (db->conn)
			seg__conn_close(db, "connection lost");
		err = SEG_ERR_UNAVAILABLE;
	} else if (strcmp(state, "23505") == 0) {
		err = SEG_ERR_CONFLICT;
	} else if (strncmp(state, "22", 2) == 0 || strncmp(state, "54", 2) == 0) {
		seg_warn("database refused a value in %s: %s", what, msg);
		err = SEG_ERR_INVALID;
	} else if (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0) {
		seg_warn("database could not complete %s: %s (%s)", what, msg, state);
		err = SEG_ERR_RETRY;
	} else if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0) {
		seg_warn("database could not complete %s in time: %s (%s)", what, msg, state);
		err = SEG_ERR_TIMEOUT;
	} else if (strcmp(state, "53300") == 0 || strncmp(state, "08", 2) == 0 ||
		   strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
		   strcmp(state, "57P03") == 0) {
		seg_warn("database could not complete %s: %s (%s)", what, msg, state);
		err = SEG_ERR_UNAVAILABLE;
	} else {
		seg_error("database error in %s: %s (%s)", what, msg, state);
		err = SEG_ERR_INTERNAL;
	}
	free(msg);
	PQclear(res);
	return err;
}

int seg__db_retryable(const struct seg_db *db)
{
	return strcmp(db->sqlstate, "40P01") == 0 || strcmp(db->sqlstate, "40001") == 0;
}

static int seg__stmt_slot(struct seg_stmt *stmt)
{
	int slot = __atomic_load_n(&stmt->slot, __ATOMIC_ACQUIRE);
	if (slot)
		return slot;
	int mine = __atomic_add_fetch(&seg__next_slot, 1, __ATOMIC_ACQ_REL);
	if (mine > SEG_STMT_MAX)
		abort(); /* raise SEG_STMT_MAX */
	int expected = 0;
	if (__atomic_compare_exchange_n(&stmt->slot, &expected, mine, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return mine;
	return expected; /* another thread assigned it first; our number stays unused */
}

/* The deadline of a statement on db: none inside a long transaction. */
static int seg__db_timeout(const struct seg_db *db)
{
	if (db->long_tx || db->pool->statement_timeout_ms <= 0)
		return 0;
	return db->pool->statement_timeout_ms + SEG__DEADLINE_SLACK_MS;
}

/*
 * A wait ended without an answer (end is SEG__END_EXPIRED or SEG__END_DOWN): the connection is
 * dropped and its statement lost. When only our deadline passed the server may still be
 * running it, so the watchdog is asked to cancel it.
 */
static enum seg_err seg__db_abandon(struct seg_db *db, enum seg__end end, const struct seg__wait *w,
				    const char *what)
{
	int pid = db->pid;

	db->sqlstate[0] = '\0';
	if (end == SEG__END_DOWN && __atomic_load_n(&db->pool->interrupted, __ATOMIC_SEQ_CST)) {
		seg_warn("cancelled %s: the server is stopping", what);
		seg__conn_close(db, "interrupted");
		seg__watchdog_cancel(db->pool, pid);
		return SEG_ERR_CANCELLED;
	}
	if (end == SEG__END_DOWN) {
		if (w->was_down)
			seg_debug("not running %s: the database is down", what);
		else
			seg_warn("gave up waiting for %s: the database stopped answering", what);
		seg__conn_close(db, "database down");
		return SEG_ERR_UNAVAILABLE;
	}
	seg_warn("database did not answer %s within %lld ms; closing its connection", what,
		 (long long)(seg__now_ms() - w->start_ms));
	seg__conn_close(db, "deadline expired");
	seg__watchdog_cancel(db->pool, pid);
	return SEG_ERR_TIMEOUT;
}

static bool seg__succeeded(const PGresult *res)
{
	return PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
}

/* A short name for sql in the log: its beginning, up to 40 characters of its first line. */
static const char *seg__db_what(const char *sql, char buf[48])
{
	size_t n = strcspn(sql, "\n");
	snprintf(buf, 48, "\"%.*s%s\"", (int)(n > 40 ? 40 : n), sql, n > 40 ? "..." : "");
	return buf;
}

/* Names a statement that the server answered after more than SEG__SLOW_MS. */
static void seg__db_slow(const struct seg__wait *w, const char *what, enum seg__end end)
{
	int64_t ms = seg__now_ms() - w->start_ms;
	if (end == SEG__END_DONE && ms > SEG__SLOW_MS)
		seg_debug("statement %s took %lld ms", what, (long long)ms);
}

static enum seg_err seg__db_run_named(struct seg_db *db, struct seg_stmt *stmt, const char *dname,
				      const char *sql, bool script, const char *what, int n,
				      const char *const *params, PGresult **out, bool *dprepared);

/*
 * Runs stmt (prepared), or sql with parameters, or a script (several statements, the simple
 * protocol, no deadline of its own).
 */
static enum seg_err seg__db_run(struct seg_db *db, struct seg_stmt *stmt, const char *sql,
				bool script, const char *what, int n, const char *const *params,
				PGresult **out)
{
	return seg__db_run_named(db, stmt, NULL, sql, script, what, n, params, out, NULL);
}

/*
 * The same, and for a statement named by the caller (dname): prepared from sql first when
 * sql is not NULL (*dprepared then says whether that succeeded), then run by its name.
 */
static enum seg_err seg__db_run_named(struct seg_db *db, struct seg_stmt *stmt, const char *dname,
				      const char *sql, bool script, const char *what, int n,
				      const char *const *params, PGresult **out, bool *dprepared)
{
	char name[16], sqlname[48];
	struct seg__req req = {.sql = sql, .n = n, .params = params};

	if (!what)
		what = stmt ? stmt->name : seg__db_what(sql, sqlname);
	if (out)
		*out = NULL;
	db->sqlstate[0] = '\0';
	for (int attempt = 0;; attempt++) {
		PGresult *res = NULL;
		struct seg__wait w;
		enum seg__end end;
		bool fresh = false;

		if (!db->conn) {
			if (db->in_tx)
				return SEG_ERR_UNAVAILABLE; /* its transaction went with it */
			enum seg_err err = seg__db_connect(db->pool, db);
			if (err)
				return err;
			fresh = true;
		}
		seg__wait_start(&w, db, script ? 0 : seg__db_timeout(db));
		if (stmt) {
			int slot = seg__stmt_slot(stmt);
			snprintf(name, sizeof(name), "s%d", slot);
			if (!db->prepared[slot]) {
				req.kind = SEG__REQ_PREPARE;
				req.name = name;
				req.sql = stmt->sql;
				end = seg__conn_roundtrip(db, &req, &w, &res);
				if (end != SEG__END_DONE || !seg__succeeded(res))
					goto failed;
				PQclear(res);
				db->prepared[slot] = 1;
				seg_debug("prepared %s as %s on %s, backend pid %d", stmt->name,
					  name, seg__conn_name(db).text, db->pid);
			}
			req.kind = SEG__REQ_PREPARED;
			req.name = name;
		} else if (dname) {
			if (sql && !*dprepared) {
				req.kind = SEG__REQ_PREPARE;
				req.name = dname;
				req.sql = sql;
				end = seg__conn_roundtrip(db, &req, &w, &res);
				if (end != SEG__END_DONE || !seg__succeeded(res))
					goto failed;
				PQclear(res);
				res = NULL;
				*dprepared = true;
			}
			req.kind = SEG__REQ_PREPARED;
			req.name = dname;
		} else {
			req.kind = script ? SEG__REQ_SCRIPT : SEG__REQ_QUERY;
		}
		end = seg__conn_roundtrip(db, &req, &w, &res);
		seg__db_slow(&w, what, end);
		if (end == SEG__END_DONE && seg__succeeded(res)) {
			if (out)
				*out = res;
			else
				PQclear(res);
			return SEG_OK;
		}
	failed:
		if (end == SEG__END_EXPIRED || end == SEG__END_DOWN) {
			PQclear(res);
			return seg__db_abandon(db, end, &w, what);
		}
		if (end == SEG__END_LOST && !db->in_tx && !fresh && attempt == 0) {
			/* A connection that went stale while idle: try once on a new one. */
			PQclear(res);
			seg__conn_close(db, "connection lost");
			continue;
		}
		bool tx = db->in_tx;
		enum seg_err err = seg__db_fail(db, res, what);
		if (tx && db->conn)
			db->in_tx = 2; /* failed transaction: only a rollback helps */
		return err;
	}
}

enum seg_err seg__db_exec(struct seg_db *db, struct seg_stmt *stmt, int n,
			  const char *const *params, PGresult **out)
{
	return seg__db_run(db, stmt, NULL, false, NULL, n, params, out);
}

enum seg_err seg__db_exec_named(struct seg_db *db, const char *name, const char *sql, int n,
				const char *const *params, PGresult **out, bool *prepared)
{
	if (prepared)
		*prepared = false;
	return seg__db_run_named(db, NULL, name, sql, false, name, n, params, out, prepared);
}

enum seg_err seg__db_query(struct seg_db *db, const char *sql, int n, const char *const *params,
			   PGresult **out)
{
	return seg__db_run(db, NULL, sql, false, NULL, n, params, out);
}

enum seg_err seg__db_query_binary(struct seg_db *db, const char *sql, int n,
				  const char *const *params, PGresult **out)
{
	db->binary = true;
	enum seg_err err = seg__db_run(db, NULL, sql, false, NULL, n, params, out);
	db->binary = false;
	return err;
}

enum seg_err seg__db_script(struct seg_db *db, const char *sql, const char *what)
{
	return seg__db_run(db, NULL, sql, true, what, 0, NULL, NULL);
}

enum seg_err seg__db_copy(struct seg_db *db, const char *copy_sql, const char *data, size_t len)
{
	struct seg__req req = {.kind = SEG__REQ_QUERY, .sql = copy_sql};
	PGresult *res = NULL;
	struct seg__wait w;
	enum seg__end end;

	db->sqlstate[0] = '\0';
	if (!db->conn)
		return SEG_ERR_UNAVAILABLE;
	/* one deadline for the whole COPY, as the server's statement_timeout covers it whole */
	seg__wait_start(&w, db, seg__db_timeout(db));
	end = seg__conn_roundtrip(db, &req, &w, &res);
	if (end == SEG__END_DONE && PQresultStatus(res) == PGRES_COPY_IN) {
		PQclear(res);
		end = seg__conn_copy(db, data, len, &w, &res);
	}
	seg__db_slow(&w, "copy", end);
	if (end == SEG__END_DONE && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		return SEG_OK;
	}
	if (end == SEG__END_EXPIRED || end == SEG__END_DOWN) {
		PQclear(res);
		return seg__db_abandon(db, end, &w, "copy");
	}
	bool tx = db->in_tx;
	enum seg_err err = seg__db_fail(db, res, "copy");
	if (tx && db->conn)
		db->in_tx = 2;
	return err;
}

void seg__db_array_add(struct seg_buf *arr, const char *s)
{
	if (arr->len)
		arr->data[arr->len - 1] = ','; /* over the closing brace */
	else
		seg_buf_addch(arr, '{');
	seg_buf_addch(arr, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			seg_buf_addch(arr, '\\');
		seg_buf_addch(arr, *s);
	}
	seg_buf_add(arr, "\"}", 2);
}

enum seg_err seg__db_batch(struct seg_db *db, const struct seg__batch *spec, int64_t tenant,
			   const struct seg_buf *rows, size_t *count0, size_t *count1)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant)};
	enum seg_err err = SEG_OK;
	bool careful = false;

	*count0 = *count1 = 0;
	if (!rows->len)
		return SEG_OK;
	/* a unique violation means another writer committed: it tries again, up to 10 times */
	for (int attempt = 0; attempt < (careful ? 10 : 5); attempt++) {
		PGresult *res = NULL;
		err = seg_db_begin(db);
		if (!err)
			err = seg__members_lock(db, tenant);
		if (!err)
			err = seg__db_query(db, spec->stage_sql, 0, NULL, NULL);
		if (!err && spec->created_sql)
			err = seg__db_query(db, spec->created_sql, 0, NULL, NULL);
		if (!err)
			err = seg__db_copy(db, spec->copy_sql, rows->data, rows->len);
		if (!err && spec->apply)
			err = spec->apply(db, tenant, rows, careful, count0, count1);
		else if (!err && !(err = seg__db_query(db, spec->sql, 1, params, &res))) {
			*count0 = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
			*count1 = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
			PQclear(res);
		}
		if (!err)
			err = seg__members_step(db, tenant, spec->changed, NULL, spec->what, NULL,
						NULL);
		if (!err)
			err = seg_db_commit(db);
		if (!err)
			return SEG_OK;
		seg_db_rollback(db);
		/* a unique violation: again, carefully (a concurrent writer took an id since) */
		if (spec->apply && strcmp(db->sqlstate, "23505") == 0)
			careful = true;
		else if (!seg__db_retryable(db))
			break;
	}
	*count0 = *count1 = 0;
	return err;
}

enum seg_err seg_db_begin(struct seg_db *db)
{
	enum seg_err err = seg__db_query(db, "BEGIN", 0, NULL, NULL);
	if (err == SEG_OK)
		db->in_tx = 1;
	return err;
}

enum seg_err seg__db_begin_long(struct seg_db *db)
{
	enum seg_err err = seg_db_begin(db);
	if (!err) {
		db->long_tx = true;
		err = seg__db_query(db, "SET LOCAL statement_timeout = 0", 0, NULL, NULL);
	}
	if (err)
		seg_db_rollback(db);
	return err;
}

enum seg_err seg_db_commit(struct seg_db *db)
{
	enum seg_err err = seg__db_query(db, "COMMIT", 0, NULL, NULL);
	db->in_tx = 0;
	db->long_tx = false;
	db->members_tenant = 0;
	return err;
}

void seg_db_rollback(struct seg_db *db)
{
	/* nothing to roll back when the server is outside a transaction (a failed COMMIT) */
	if (db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
		struct seg__req req = {.kind = SEG__REQ_QUERY, .sql = "ROLLBACK"};
		PGresult *res = NULL;
		struct seg__wait w;

		seg__wait_start(&w, db, SEG__ROLLBACK_TIMEOUT_MS);
		enum seg__end end = seg__conn_roundtrip(db, &req, &w, &res);
		PQclear(res);
		if (end == SEG__END_EXPIRED)
			seg_warn("database did not roll back within %d ms; closing the connection",
				 SEG__ROLLBACK_TIMEOUT_MS);
		if (end != SEG__END_DONE)
			seg__conn_close(db, end == SEG__END_EXPIRED ? "rollback deadline expired"
					    : end == SEG__END_DOWN  ? "database down"
								    : "connection lost");
	}
	db->in_tx = 0;
	db->long_tx = false;
	db->members_tenant = 0;
}

char *seg__db_strdup(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return seg_strndup(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

enum seg_err seg__db_json_row(struct seg_db *db, struct seg_stmt *stmt, int n,
			      const char *const *params, char **json)
{
	PGresult *res;
	enum seg_err err = seg__db_exec(db, stmt, n, params, &res);
	*json = NULL;
	if (err)
		return err;
	if (PQntuples(res) >= 1)
		*json = seg__db_strdup(res, 0, 0);
	PQclear(res);
	return *json ? SEG_OK : SEG_ERR_NOT_FOUND;
}

const char *seg__db_int(char buf[SEG_INT_TEXT], int64_t v)
{
	snprintf(buf, SEG_INT_TEXT, "%lld", (long long)v);
	return buf;
}

void seg_page_init(struct seg_page *p)
{
	seg_buf_init(&p->items);
	p->count = 0;
	p->next_key = NULL;
}

void seg_page_release(struct seg_page *p)
{
	seg_buf_release(&p->items);
	free(p->next_key);
	p->next_key = NULL;
	p->count = 0;
}

void seg__db_page_fill(struct seg_page *page, const PGresult *res, int limit)
{
	int rows = PQntuples(res);
	for (int i = 0; i < rows && i < limit; i++) {
		if (page->count++)
			seg_buf_addch(&page->items, ',');
		seg_buf_add(&page->items, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
	}
	free(page->next_key);
	page->next_key = rows > limit ? seg__db_strdup(res, limit - 1, 1) : NULL;
}

enum seg_err seg__db_page(struct seg_db *db, struct seg_stmt *stmt, int n,
			  const char *const *params, int limit, struct seg_page *page)
{
	PGresult *res;
	enum seg_err err = seg__db_exec(db, stmt, n, params, &res);
	if (err)
		return err;
	seg__db_page_fill(page, res, limit);
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg__db_csv_chunk(struct seg_db *db, struct seg_stmt *stmt, int n,
			       const char *const *params, struct seg_buf *out, char **last,
			       size_t *rows)
{
	PGresult *res;
	enum seg_err err = seg__db_exec(db, stmt, n, params, &res);

	*last = NULL;
	*rows = 0;
	if (err)
		return err;
	seg__db_csv_fill(res, out, last, rows);
	PQclear(res);
	return SEG_OK;
}

void seg__db_csv_fill(const PGresult *res, struct seg_buf *out, char **last, size_t *rows)
{
	seg_buf_add(out, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	*last = seg__db_strdup(res, 0, 1);
	*rows = (size_t)strtoull(PQgetvalue(res, 0, 2), NULL, 10);
}

bool seg__db_int_key(const char *key)
{
	int64_t id;
	return !key || seg_id_parse(key, strlen(key), &id);
}

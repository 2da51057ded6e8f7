/*
 * The connection pool and the statement helpers of db/.
 *
 * Model: a fixed array of slots, each holding at most one PGconn. A borrower takes a free
 * slot (waiting on a condition variable up to acquire_timeout_ms), connects it if it has no
 * connection, and gives it back with seg_pool_release. A connection that fails at the
 * connection level is closed at once; the next borrower of its slot reconnects. While
 * PostgreSQL is down, connecting is not retried more than once a second, so requests fail
 * fast with 503 instead of queueing behind connect timeouts. Statements are prepared per
 * connection on first use, so after a reconnect they are prepared again.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"

struct seg_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct seg_db *slots;
	int *free_stack; /* indexes of free slots; the top was used most recently */
	int nfree;
	int size;
	int waiting;
	int64_t down_until_ms; /* no connect attempts before this */
	bool down_logged;
	char *conninfo;
	int statement_timeout_ms;
	int acquire_timeout_ms;
};

static int seg__next_slot;

static int64_t seg__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
		pool->free_stack[i] = pool->size - 1 - i;
	}
	pool->nfree = pool->size;
	pool->conninfo = seg_strdup(cfg->conninfo ? cfg->conninfo : "");
	pool->statement_timeout_ms = cfg->statement_timeout_ms;
	pool->acquire_timeout_ms = cfg->acquire_timeout_ms;
	return pool;
}

static void seg__db_disconnect(struct seg_db *db)
{
	PQfinish(db->conn);
	db->conn = NULL;
	db->in_tx = 0;
	memset(db->prepared, 0, sizeof(db->prepared));
}

void seg_pool_free(struct seg_pool *pool)
{
	if (!pool)
		return;
	for (int i = 0; i < pool->size; i++)
		seg__db_disconnect(&pool->slots[i]);
	free(pool->slots);
	free(pool->free_stack);
	free(pool->conninfo);
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

/*
 * libpq's notice processor on every connection: server notices and warnings (and libpq's own)
 * go to our log at warn level, on one line, instead of to stderr.
 */
static void seg__db_notice(void *arg, const char *message)
{
	char *msg = seg_strdup(message);
	size_t n = strlen(msg);

	(void)arg;
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	seg_warn("database notice: %s", msg);
	free(msg);
}

/* Connects db; called without the pool lock. */
static enum seg_err seg__db_connect(struct seg_pool *pool, struct seg_db *db)
{
	const char *keys[] = {"dbname",	    "connect_timeout", "application_name",
			      "keepalives", "keepalives_idle", NULL};
	const char *vals[] = {pool->conninfo, "5", "segmentd", "1", "30", NULL};
	int skip = pool->conninfo[0] ? 0 : 1; /* no conninfo: libpq's PG* variables */
	char setup[256];
	PGresult *res;

	db->conn = PQconnectdbParams(keys + skip, vals + skip, 1);
	if (db->conn)
		PQsetNoticeProcessor(db->conn, seg__db_notice, NULL);
	if (PQstatus(db->conn) != CONNECTION_OK)
		goto fail;
	snprintf(setup, sizeof(setup),
		 "SET statement_timeout = %d; SET lock_timeout = %d; "
		 "SET idle_in_transaction_session_timeout = 60000; SET TimeZone = 'UTC'; "
		 "SET client_min_messages = warning",
		 pool->statement_timeout_ms, pool->statement_timeout_ms);
	res = PQexec(db->conn, setup);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	pthread_mutex_lock(&pool->lock);
	if (pool->down_logged)
		seg_info("database connection restored");
	pool->down_logged = false;
	pool->down_until_ms = 0;
	pthread_mutex_unlock(&pool->lock);
	return SEG_OK;
fail:
	pthread_mutex_lock(&pool->lock);
	if (!pool->down_logged) {
		char *msg = seg_strdup(PQerrorMessage(db->conn));
		msg[strcspn(msg, "\n")] = '\0';
		seg_error("could not connect to the database: %s", msg);
		free(msg);
	}
	pool->down_logged = true;
	pool->down_until_ms = seg__now_ms() + 1000;
	pthread_mutex_unlock(&pool->lock);
	seg__db_disconnect(db);
	return SEG_ERR_UNAVAILABLE;
}

enum seg_err seg_pool_acquire(struct seg_pool *pool, struct seg_db **out)
{
	struct timespec deadline;
	struct seg_db *db;
	bool down;

	*out = NULL;
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

void seg_pool_release(struct seg_pool *pool, struct seg_db *db)
{
	if (!db)
		return;
	if (db->conn && PQstatus(db->conn) != CONNECTION_OK)
		seg__db_disconnect(db);
	if (db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		seg_db_rollback(db);
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

void seg_pool_reap(struct seg_pool *pool, int64_t idle_ms)
{
	int64_t now = seg__now_ms();
	pthread_mutex_lock(&pool->lock);
	for (int i = 0; i < pool->nfree; i++) {
		struct seg_db *db = &pool->slots[pool->free_stack[i]];
		if (db->conn && now - db->idle_since_ms > idle_ms)
			seg__db_disconnect(db);
	}
	pthread_mutex_unlock(&pool->lock);
}

/* Maps a failed result to an error; drops the connection when it is gone. */
enum seg_err seg__db_fail(struct seg_db *db, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char *msg = seg_strdup(res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
								   : PQerrorMessage(db->conn));
	enum seg_err err;

	msg[strcspn(msg, "\n")] = '\0';
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
	if (PQstatus(db->conn) != CONNECTION_OK || !state) {
		seg_warn("database connection lost during %s: %s", what, msg);
		seg__db_disconnect(db);
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

static enum seg_err seg__db_run(struct seg_db *db, struct seg_stmt *stmt, const char *sql, int n,
				const char *const *params, PGresult **out)
{
	const char *what = stmt ? stmt->name : "query";
	PGresult *res;
	char name[16];

	if (out)
		*out = NULL;
	db->sqlstate[0] = '\0';
	for (int attempt = 0;; attempt++) {
		bool fresh = false;
		if (!db->conn) {
			if (db->in_tx || seg__db_connect(db->pool, db) != SEG_OK)
				return SEG_ERR_UNAVAILABLE;
			fresh = true;
		}
		if (stmt) {
			int slot = seg__stmt_slot(stmt);
			snprintf(name, sizeof(name), "s%d", slot);
			if (!db->prepared[slot]) {
				res = PQprepare(db->conn, name, stmt->sql, 0, NULL);
				if (PQresultStatus(res) != PGRES_COMMAND_OK)
					goto failed;
				PQclear(res);
				db->prepared[slot] = 1;
			}
			res = PQexecPrepared(db->conn, name, n, params, NULL, NULL, 0);
		} else {
			res = PQexecParams(db->conn, sql, n, NULL, params, NULL, NULL, 0);
		}
		if (PQresultStatus(res) == PGRES_COMMAND_OK ||
		    PQresultStatus(res) == PGRES_TUPLES_OK) {
			if (out)
				*out = res;
			else
				PQclear(res);
			return SEG_OK;
		}
	failed:
		if (PQstatus(db->conn) != CONNECTION_OK && !db->in_tx && !fresh && attempt == 0) {
			/* A connection that went stale while idle: try once on a new one. */
			PQclear(res);
			seg__db_disconnect(db);
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
	return seg__db_run(db, stmt, NULL, n, params, out);
}

enum seg_err seg__db_query(struct seg_db *db, const char *sql, int n, const char *const *params,
			   PGresult **out)
{
	return seg__db_run(db, NULL, sql, n, params, out);
}

enum seg_err seg__db_copy(struct seg_db *db, const char *copy_sql, const char *data, size_t len)
{
	PGresult *res;
	enum seg_err err = SEG_OK;

	if (!db->conn)
		return SEG_ERR_UNAVAILABLE;
	res = PQexec(db->conn, copy_sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		return seg__db_fail(db, res, "copy");
	PQclear(res);
	while (len > 0) {
		int chunk = len > (1 << 20) ? (1 << 20) : (int)len;
		if (PQputCopyData(db->conn, data, chunk) != 1)
			return seg__db_fail(db, NULL, "copy");
		data += chunk;
		len -= (size_t)chunk;
	}
	if (PQputCopyEnd(db->conn, NULL) != 1)
		return seg__db_fail(db, NULL, "copy");
	while ((res = PQgetResult(db->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && err == SEG_OK)
			err = seg__db_fail(db, res, "copy");
		else
			PQclear(res);
		if (!db->conn)
			break;
	}
	return err;
}

enum seg_err seg__db_batch(struct seg_db *db, const char *stage_sql, const char *copy_sql,
			   const struct seg_buf *rows, const char *const *sqls, int nsqls,
			   const char *tenant, size_t *count0, size_t *count1)
{
	const char *params[] = {tenant};
	enum seg_err err = SEG_OK;

	*count0 = *count1 = 0;
	if (!rows->len)
		return SEG_OK;
	for (int attempt = 0; attempt < 5; attempt++) {
		PGresult *res = NULL;
		err = seg_db_begin(db);
		if (!err)
			err = seg__db_query(db, stage_sql, 0, NULL, NULL);
		if (!err)
			err = seg__db_copy(db, copy_sql, rows->data, rows->len);
		for (int i = 0; i < nsqls && !err; i++)
			err = seg__db_query(db, sqls[i], 1, params, i == nsqls - 1 ? &res : NULL);
		if (!err) {
			*count0 = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
			*count1 = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
			PQclear(res);
			err = seg_db_commit(db);
		}
		if (!err)
			return SEG_OK;
		seg_db_rollback(db);
		if (!seg__db_retryable(db))
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
	if (!err)
		err = seg__db_query(db, "SET LOCAL statement_timeout = 0", 0, NULL, NULL);
	if (err)
		seg_db_rollback(db);
	return err;
}

enum seg_err seg_db_commit(struct seg_db *db)
{
	enum seg_err err = seg__db_query(db, "COMMIT", 0, NULL, NULL);
	db->in_tx = 0;
	return err;
}

void seg_db_rollback(struct seg_db *db)
{
	if (db->conn) {
		PGresult *res = PQexec(db->conn, "ROLLBACK");
		PQclear(res);
		if (PQstatus(db->conn) != CONNECTION_OK)
			seg__db_disconnect(db);
	}
	db->in_tx = 0;
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

/*
 * What the files of db/ share: the connection struct, statements prepared on demand, the one
 * helper through which every round trip waits (db/conn.c), and the helpers that run SQL and map
 * libpq failures to enum seg_err (db/pool.c). Only the files of db/ include this (and so
 * libpq-fe.h).
 *
 * Threads: a struct seg_db, and everything here that takes one, is used by one thread at a time
 * (the one that borrowed it from the pool). Nothing here blocks without a bound except the
 * statements of a long transaction (seg__db_begin_long) and of migrations.
 */
#ifndef SEG_DB_INTERNAL_H
#define SEG_DB_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>

#include "db.h"

/*
 * A statement prepared on each connection the first time that connection runs it. Define one
 * per query with SEG_STMT(name, "SQL"); slot numbers are handed out on first use.
 */
struct seg_stmt {
	const char *name;
	const char *sql;
	int slot; /* 0: not yet assigned; then 1..SEG_STMT_MAX */
};
#define SEG_STMT_MAX	    256
#define SEG_STMT(var, text) static struct seg_stmt var = {#var, text, 0}

/*
 * A compiled membership step prepared on one connection (db/members.c), under the name of its
 * cache entry: at most SEG__STEPS_MAX per connection, the least recently used deallocated.
 */
#define SEG__STEPS_MAX 32
struct seg__prepared_step {
	char name[24];	/* "seg_step_<n>" */
	int64_t tenant; /* the step's tenant, source and what (its key but the version) */
	unsigned key;	/* source << 8 | what */
	uint64_t used;	/* last use, for LRU */
};

struct seg_db {
	PGconn *conn; /* NULL: not connected; otherwise in non-blocking mode */
	int pid;      /* the backend's process id (PQbackendPID), 0 when not connected */
	int slot;     /* index in the pool; -1: the watchdog's own connection */
	int64_t idle_since_ms;
	int in_tx; /* 0: none; 1: open; 2: failed or its connection lost, only a rollback helps */
	bool long_tx; /* in a seg__db_begin_long transaction: no deadline of its own */
	unsigned char prepared[SEG_STMT_MAX + 1]; /* by slot */
	char sqlstate[6];			  /* of the last failure, "" if none */
	struct seg_pool *pool;

	/*
	 * Membership (db/members.c): what seg__members_lock read in the current transaction
	 * (members_tenant 0: nothing; reset when the transaction ends), and the steps prepared
	 * on this connection (forgotten with the connection).
	 */
	int64_t members_tenant;
	int64_t members_version;
	bool members_segments; /* the tenant has segments at all */
	struct seg__prepared_step steps[SEG__STEPS_MAX];
	int nsteps;

	/* seg__db_query_binary: the statement being sent asks for its results in binary */
	bool binary;
};

/* --- the pool (db/pool.c) and its watchdog (db/watchdog.c) --- */

/* Slots that may wait to be cancelled by the watchdog; more requests are dropped. */
#define SEG__CANCEL_MAX 32

/*
 * Everything below lock is under it. down and down_gen are written by the watchdog (under
 * lock) and read without it by waits (atomics); stopping likewise by seg_pool_free.
 */
struct seg_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed; /* a slot came free */
	struct seg_db *slots;
	int *free_stack; /* indexes of free slots; the top was used most recently */
	int nfree;
	int size;
	int waiting;
	int64_t down_until_ms; /* no connect attempts before this (after a failed one) */
	bool down_logged;      /* the current outage was logged */
	char *conninfo;
	int statement_timeout_ms;
	int acquire_timeout_ms;
	int connect_timeout_ms;

	/* the watchdog (db/watchdog.c) */
	bool has_watchdog;
	bool down;		       /* atomic: the last probe got no answer */
	unsigned long down_gen;	       /* atomic: +1 each time the watchdog declares it down */
	bool stopping;		       /* atomic: seg_pool_free wants the watchdog to end */
	bool interrupted;	       /* atomic: seg_pool_interrupt ends every wait on a slot */
	pthread_t watchdog;	       /* valid when has_watchdog */
	pthread_cond_t wake;	       /* CLOCK_MONOTONIC; stopping, or a cancel queued */
	struct seg_pool_health health; /* the last verdict; age_ms unused here */
	int64_t probed_ms;	       /* when the last probe finished; 0: none yet */
	int cancels[SEG__CANCEL_MAX];  /* backend pids to pg_cancel_backend */
	int ncancel;
	bool reprobe; /* probe again now: what the last probe saw has changed */
};

/*
 * Closes the connections of free slots unused for longer than idle_ms (all of them when
 * idle_ms < 0). They are taken out under the pool lock and closed after it. Any thread.
 */
void seg__pool_close_idle(struct seg_pool *pool, int64_t idle_ms, const char *why);

/* Starts the watchdog thread of pool (seg_pool_new); false when no thread could be made. */
bool seg__watchdog_start(struct seg_pool *pool);
/* Stops and joins it (seg_pool_free). */
void seg__watchdog_stop(struct seg_pool *pool);
/*
 * Asks the watchdog to run pg_cancel_backend(pid) on its own connection, for a statement whose
 * wait expired (its connection is already closed). Best effort: nothing happens without a
 * watchdog, while the database is down, or when too many requests are queued. Never waits.
 * Any thread.
 */
void seg__watchdog_cancel(struct seg_pool *pool, int pid);
/*
 * Asks the watchdog to probe again at once, because what its last probe saw has changed (the
 * migrations were just applied). Nothing happens without a watchdog. Never waits. Any thread.
 */
void seg__watchdog_reprobe(struct seg_pool *pool);

/* --- one connection and its waits (db/conn.c) --- */

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t seg__now_ms(void);
/*
 * A copy of a libpq or server message on one log line (malloc'ed): its line breaks and tabs
 * become one space, trailing blanks go.
 */
char *seg__one_line(const char *msg);
/* How the log names db's connection: "slot 3", or "watchdog". */
struct seg__conn_name {
	char text[24];
};
struct seg__conn_name seg__conn_name(const struct seg_db *db);

/*
 * The limits of one wait: when it began, when it must end, and the pool's down generation
 * then. A wait on a pool connection ends as soon as the watchdog declares the database down
 * (or when it was down already); a wait of the watchdog's own ends when the pool is closing.
 */
struct seg__wait {
	int64_t start_ms;
	int64_t deadline_ms; /* CLOCK_MONOTONIC; 0: no deadline of its own */
	unsigned long gen;   /* pool->down_gen when the wait began */
	bool was_down;	     /* pool->down when the wait began */
};
/* Starts a wait on db that ends timeout_ms from now (0 or less: no deadline of its own). */
void seg__wait_start(struct seg__wait *w, const struct seg_db *db, int timeout_ms);

/* How a round trip ended. */
enum seg__end {
	SEG__END_DONE,	  /* the server answered: its result, success or error, is in *out */
	SEG__END_LOST,	  /* the connection broke; *out, when not NULL, is the error that says so */
	SEG__END_EXPIRED, /* the deadline passed first */
	SEG__END_DOWN,	  /* given up: the database was declared down, the pool is closing, or
			     the server interrupted the pool (seg_pool_interrupt) */
};

/* One request: a statement with parameters (extended protocol), or several (simple protocol). */
struct seg__req {
	enum { SEG__REQ_QUERY, SEG__REQ_PREPARE, SEG__REQ_PREPARED, SEG__REQ_SCRIPT } kind;
	const char *name; /* the prepared statement's name: PREPARE and PREPARED */
	const char *sql;  /* QUERY, PREPARE, and SCRIPT (several statements, no parameters) */
	int n;
	const char *const *params;
};

/*
 * Connects db->conn (which must be NULL) with PQconnectStartParams and PQconnectPoll within w:
 * conninfo ("" for libpq's PG* variables) expanded as dbname, then our application_name and
 * keepalive parameters; then runs setup (several statements) within the same wait. On success
 * the connection is in non-blocking mode and every notice on it goes to the log. On failure
 * db->conn stays NULL, *why receives libpq's message, on one line (malloc'ed), and *answered
 * tells whether the server answered at all (with an error such as "too many clients", or by
 * closing the connection it had accepted) rather than refusing or staying silent.
 */
enum seg__end seg__conn_open(struct seg_db *db, const char *conninfo, const char *app,
			     const char *setup, const struct seg__wait *w, bool *answered,
			     char **why);
/*
 * The one helper through which every round trip waits: sends req, flushes it (waiting for the
 * socket to be writable), then waits for the socket to be readable and collects every result
 * until PQgetResult returns NULL, or up to a PGRES_COPY_IN. *out is the first failed result, or
 * else the last one; the caller PQclears it. Waits in slices of at most 100 ms until w's
 * deadline or the watchdog's verdict (see struct seg__wait); when the database is already
 * down nothing is sent. On SEG__END_EXPIRED and SEG__END_DOWN the connection is in an unknown
 * state: close it.
 */
enum seg__end seg__conn_roundtrip(struct seg_db *db, const struct seg__req *req,
				  const struct seg__wait *w, PGresult **out);
/*
 * After a PGRES_COPY_IN: sends data[0..len) (PQputCopyData, waiting for room whenever libpq
 * cannot queue more), ends the copy and collects its result into *out, all within w.
 */
enum seg__end seg__conn_copy(struct seg_db *db, const char *data, size_t len,
			     const struct seg__wait *w, PGresult **out);
/*
 * Closes db's connection (PQfinish: it queues a Terminate message on the non-blocking socket
 * and never waits). A transaction it was in can only be rolled back (in_tx becomes 2); the
 * statements prepared on it are forgotten. why goes to the debug log.
 */
void seg__conn_close(struct seg_db *db, const char *why);

/* --- statements (db/pool.c) --- */

/*
 * Runs a statement with text parameters (NULL = SQL NULL). On success *out holds the result
 * (PQclear it) when out is not NULL. Failures are logged and mapped by seg__db_fail:
 * connection loss → SEG_ERR_UNAVAILABLE (the connection is dropped; outside a transaction a
 * statement that lost its connection is retried once on a new one); statement or lock timeout →
 * SEG_ERR_TIMEOUT; deadlock or serialization failure → SEG_ERR_RETRY; unique violation →
 * SEG_ERR_CONFLICT; a value PostgreSQL refuses → SEG_ERR_INVALID.
 */
enum seg_err seg__db_exec(struct seg_db *db, struct seg_stmt *stmt, int n,
			  const char *const *params, PGresult **out);
/*
 * Runs the statement prepared under name on this connection, preparing it from sql first when
 * sql is not NULL (*prepared then tells whether the preparation succeeded, even when the
 * execution failed). The caller keeps track of what it prepared (db/members.c). Inside a
 * transaction only: a reconnect would lose the preparation.
 */
enum seg_err seg__db_exec_named(struct seg_db *db, const char *name, const char *sql, int n,
				const char *const *params, PGresult **out, bool *prepared);
/* The same for SQL that must not be prepared (it uses a temporary table, or runs once). */
enum seg_err seg__db_query(struct seg_db *db, const char *sql, int n, const char *const *params,
			   PGresult **out);
/*
 * seg__db_query with the results in binary format (each type's send function: a float8 as 8
 * bytes in network order, a text as its bytes), for bulk reads (db/analysis_features.c).
 */
enum seg_err seg__db_query_binary(struct seg_db *db, const char *sql, int n,
				  const char *const *params, PGresult **out);
/*
 * Runs sql, several statements without parameters (a migration file), through the simple query
 * protocol. It has no deadline of its own; what names it in the log.
 */
enum seg_err seg__db_script(struct seg_db *db, const char *sql, const char *what);
/* Sends data[0..len) through "COPY ... FROM STDIN" (text format). */
enum seg_err seg__db_copy(struct seg_db *db, const char *copy_sql, const char *data, size_t len);
/*
 * Maps a failed result (consumed) to an error, logging it; drops a lost connection. SQLSTATE
 * 23505 → SEG_ERR_CONFLICT; classes 22 and 54 → SEG_ERR_INVALID; 40P01, 40001 → SEG_ERR_RETRY;
 * 57014, 55P03 → SEG_ERR_TIMEOUT; 53300, 57P01-03, class 08 → SEG_ERR_UNAVAILABLE; anything
 * else → SEG_ERR_INTERNAL.
 */
enum seg_err seg__db_fail(struct seg_db *db, PGresult *res, const char *what);
/*
 * Begins a transaction without the statement timeout, for work over every customer of a tenant
 * (recomputing metrics, checking a new attribute definition) or a migration, that may take
 * longer than a request's statement. Its statements have no deadline of their own either (only
 * the watchdog ends their waits). The timeout comes back with the transaction's end.
 */
enum seg_err seg__db_begin_long(struct seg_db *db);
/* True when the last failure on db was a deadlock or serialization failure (worth a retry). */
int seg__db_retryable(const struct seg_db *db);

/*
 * Runs stmt and copies column 0 of its single row into *json. SEG_ERR_NOT_FOUND when there
 * is no row. Used by every "return the object as JSON" query.
 */
enum seg_err seg__db_json_row(struct seg_db *db, struct seg_stmt *stmt, int n,
			      const char *const *params, char **json);
/*
 * Adds s as an element to the text[] literal in arr (an empty buffer is the empty array), so
 * arr always holds a complete literal: {"a","b"}.
 */
void seg__db_array_add(struct seg_buf *arr, const char *s);
/* Formats a bigint parameter. */
#define SEG_INT_TEXT 24
const char *seg__db_int(char buf[SEG_INT_TEXT], int64_t v);

/* Copies column col of row 0 (or NULL when SQL NULL) into a malloc'ed string. */
char *seg__db_strdup(const PGresult *res, int row, int col);
/* Fills page from a result whose rows are (json, key), fetched with LIMIT limit + 1. */
void seg__db_page_fill(struct seg_page *page, const PGresult *res, int limit);
/* Runs stmt (rows (json, key), LIMIT limit + 1) and fills page from it. */
enum seg_err seg__db_page(struct seg_db *db, struct seg_stmt *stmt, int n,
			  const char *const *params, int limit, struct seg_page *page);
/*
 * Runs stmt, a chunk of a streamed CSV export whose one row is (the chunk's CSV text, the last
 * key in it, its number of rows): appends the text to out, *last (malloc'ed, NULL: none) and
 * *rows receive the others.
 */
enum seg_err seg__db_csv_chunk(struct seg_db *db, struct seg_stmt *stmt, int n,
			       const char *const *params, struct seg_buf *out, char **last,
			       size_t *rows);
/* The same from the result of such a statement run otherwise (rows: exactly one). */
void seg__db_csv_fill(const PGresult *res, struct seg_buf *out, char **last, size_t *rows);
/* A cursor key of an id-ordered list: NULL or 1 to 18 digits; otherwise not one of ours. */
bool seg__db_int_key(const char *key);

/* --- analyses (db/analyses.c) --- */

/*
 * Writes a run's store: CREATE TABLE store AS select (its rows: customer_id first, then one
 * column per key of the type's customer documents; params p[0..n)), then its primary key on
 * customer_id. store is the name seg_db_analysis_run_begin gave the run. *rows (unless NULL):
 * the rows written. Inside the run's transaction.
 */
enum seg_err seg__analysis_store(struct seg_db *db, const char *store, const char *select, int n,
				 const char *const *params, int64_t *rows);
/* Appends sql to out with every "@store" in it replaced by store (a name of ours). */
void seg__analysis_sql(struct seg_buf *out, const char *sql, const char *store);
/*
 * Writes a run's store from rows computed in C (h-fe): CREATE TABLE store (customer_id text
 * COLLATE "C" NOT NULL, columns), where columns is SQL of db/ ("factor_1 double precision,
 * ..."), never input; then n rows through COPY store FROM STDIN (text format) in batches of
 * about 4 MiB, row i written by row(ctx, i, line) as its COPY text line without the line
 * break (customer_id first; fields separated by tabs, written with seg__copy_text and
 * seg__copy_double); then its primary key on customer_id, as seg__analysis_store. hooks (may
 * be NULL) are asked between batches whether to stop (SEG_ERR_CANCELLED). Inside the run's
 * transaction.
 */
enum seg_err seg__analysis_store_copy(struct seg_db *db, const char *store, const char *columns,
				      size_t n,
				      void (*row)(void *ctx, size_t i, struct seg_buf *line),
				      void *ctx, const struct seg_job_hooks *hooks);
/* Appends s as a field of COPY's text format (backslash, tab and line breaks escaped). */
void seg__copy_text(struct seg_buf *line, const char *s);
/* Appends x as a field of COPY's text format: 17 significant digits (read back exactly), \N when
 * not finite. */
void seg__copy_double(struct seg_buf *line, double x);

/* --- migrations (db/migrate.c) --- */

/*
 * The versions of the embedded migrations as a PostgreSQL array literal ("{1,2}"), malloc'ed,
 * and their number in *count.
 */
char *seg__db_migration_versions(int *count);
/*
 * How many of the versions in $1 (that literal) schema_migrations holds: every embedded
 * migration is applied when it is their count. The watchdog's probe asks it, and takes
 * "relation does not exist" as "not migrated" (readiness is its verdict: seg_pool_health).
 */
#define SEG__MIGRATED_SQL "SELECT count(*) FROM schema_migrations WHERE version = ANY($1::int[])"

/* --- membership (db/members.c; the model: db/README.md "Memberships") --- */

/* Where the customers that changed are: the source of a membership step. */
enum seg__changed {
	SEG__CHANGED_IDS,	      /* the text[] literal `ids` */
	SEG__CHANGED_STAGE_EVENTS,    /* the customer_id column of seg_stage_events */
	SEG__CHANGED_STAGE_CUSTOMERS, /* the id column of seg_stage_customers */
	SEG__CHANGED_ALL,	      /* every customer of the tenant */
};

/*
 * The first statement of every transaction that writes customers, before any of its row locks:
 * takes the tenant's definitions lock in shared mode (held to the end of the transaction, so
 * no definition changes under it) and reads tenants.segments_version, which the step then
 * uses. Taking it first keeps the lock order (definitions lock, then customer rows) the same
 * everywhere, so writers and definition changes never deadlock.
 */
enum seg_err seg__members_lock(struct seg_db *db, int64_t tenant);

/*
 * The one membership step, which every write path ends with, inside its own transaction (that
 * began with seg__members_lock) and after its writes: re-evaluates, for the changed
 * customers, every dynamic segment whose rule depends on `what` changed (SEG_RULE_DEP_* bits;
 * customers created by this transaction are evaluated against every segment), stores the
 * differences with the membership, and records them in the change feed. A changed customer
 * that no longer exists leaves every segment it was in, static ones included. One statement
 * for all segments, compiled once per version of the tenant's definitions and prepared on
 * each connection. *entered and *exited, when not NULL, receive the counts.
 */
enum seg_err seg__members_step(struct seg_db *db, int64_t tenant, enum seg__changed src,
			       const char *ids, unsigned what, size_t *entered, size_t *exited);

/*
 * Records the membership changes of the relation d (columns segment_id, customer_id, change;
 * a CTE name or a parenthesised query with an alias-free select list) in the change feed: as
 * CTEs "ctr" and "chg" of a WITH (append to the list; chg RETURNING change), with $1 the tenant.
 * The cursors come from the tenant's change_counters row, whose lock is held to the commit, so
 * cursors are handed out in commit order and the committed ones are always a prefix. Use it as
 * late as the transaction allows, after the other row locks it takes (from here to its commit,
 * it holds up every other writer of the tenant's feed). Every writer of the feed uses this, so
 * the order has one definition.
 */
#define SEG__CHANGES_RECORD(d)                                                                 \
	"ctr AS (INSERT INTO change_counters AS k (tenant_id, last) SELECT $1, c.n FROM "      \
	"(SELECT count(*) AS n FROM " d ") c WHERE c.n > 0 ON CONFLICT (tenant_id) DO UPDATE " \
	"SET last = k.last + EXCLUDED.last RETURNING k.last - (SELECT count(*) FROM " d        \
	") AS base), "                                                                         \
	"chg AS (INSERT INTO changes (tenant_id, cursor, segment_id, customer_id, change) "    \
	"SELECT $1, ctr.base + row_number() OVER (ORDER BY x.customer_id, x.segment_id), "     \
	"x.segment_id, x.customer_id, x.change FROM " d " x, ctr RETURNING change) "

/*
 * Inside the caller's transaction, before it changes the tenant's segment definitions or its
 * attribute catalogue (which compiled rules depend on): takes the definitions lock exclusively
 * (so every write of the tenant still in flight has committed, and later ones see the change)
 * and bumps tenants.segments_version.
 */
enum seg_err seg__members_definitions_changed(struct seg_db *db, int64_t tenant);

/* PostgreSQL's limit on a statement's parameters (the protocol counts them in 16 bits). */
#define SEG__PARAMS_MAX 65535
/*
 * Inside the transaction that changed the tenant's definitions: SEG_ERR_INVALID when the
 * membership step of the definitions as they now stand would need more than SEG__PARAMS_MAX
 * parameters for some source (every write of the tenant would then fail); *params receives the
 * largest count.
 */
enum seg_err seg__members_check_capacity(struct seg_db *db, int64_t tenant, size_t *params);

/*
 * A staged batch (imports, events): its staging table, how rows reach it, the one statement
 * that applies it, and what the membership step re-evaluates afterwards.
 */
struct seg__batch {
	const char *stage_sql;	   /* creates the connection's temporary staging table if needed */
	const char *created_sql;   /* NULL, or creates seg_stage_created (SEG__STAGE_CREATED_SQL) if
				      needed: sql then inserts into it the customers it created */
	const char *copy_sql;	   /* "COPY <staging table> FROM STDIN" */
	const char *sql;	   /* applies the batch; $1 is the tenant; its first two columns are
				      returned as counts */
	enum seg__changed changed; /* where the changed customers are, for the step */
	unsigned what;		   /* SEG_RULE_DEP_* bits of what changed */
	/*
	 * NULL, or applies the staged batch instead of sql, setting the two counts. careful is
	 * false at first: a unique violation (SQLSTATE 23505) then tries the batch again with
	 * careful true (a write that can collide with stored rows checks them first only then).
	 */
	enum seg_err (*apply)(struct seg_db *db, int64_t tenant, const struct seg_buf *rows,
			      bool careful, size_t *count0, size_t *count1);
};
/*
 * The ids of the customers the batch's transaction created, for the step of an events batch
 * (seg__members_step, SEG__CHANGED_STAGE_EVENTS): so it finds them without probing every
 * customer of the batch.
 */
#define SEG__STAGE_CREATED_SQL                                                                \
	"CREATE TEMP TABLE IF NOT EXISTS seg_stage_created (id text COLLATE \"C\" NOT NULL) " \
	"ON COMMIT DELETE ROWS"
/*
 * One staged batch in one transaction, the shape every batched write takes: seg__members_lock,
 * creates the staging table if needed, COPYs rows into it, runs spec->sql (or spec->apply),
 * then the membership step. On a deadlock or serialization failure (or a unique violation, with
 * spec->apply) the whole batch is tried again (up to 5 times).
 */
enum seg_err seg__db_batch(struct seg_db *db, const struct seg__batch *spec, int64_t tenant,
			   const struct seg_buf *rows, size_t *count0, size_t *count1);

/* --- events (db/events.c) --- */
/*
 * Inside the caller's transaction, which holds the definitions lock (the revenue event types
 * changed): recomputes every metric of the tenant's customers from their events with the
 * ingest's own formulas, then runs the membership step over every customer for the segments
 * that depend on metrics.
 */
enum seg_err seg__events_recompute_metrics(struct seg_db *db, int64_t tenant);

/* --- segments and schemes inside a caller's transaction (materialising an analysis) --- */
/*
 * seg_db_segment_create without its transaction: the caller has begun one and called
 * seg__members_definitions_changed for the tenant.
 */
enum seg_err seg__segment_insert(struct seg_db *db, int64_t tenant,
				 const struct seg_segment_input *in, char **json, int64_t *id,
				 int64_t *job);
/*
 * A filter rule (SPEC §3, JSON text) compiled over the customer row alias, appended to sql
 * with its values appended to params (h-fe, for seg_db_features_read): parsed against the
 * tenant's catalogue in stored mode, its segment references resolved as a refresh does.
 * SEG_ERR_INVALID when it does not parse any more (the first problem's detail in
 * detail[0..detail_len)).
 */
struct seg__sqlparams;
enum seg_err seg__members_filter_sql(struct seg_db *db, int64_t tenant, const char *rule,
				     const char *alias, struct seg_buf *sql,
				     struct seg__sqlparams *params, char *detail,
				     size_t detail_len);
/*
 * Distinct strings numbered in order of first appearance (db/analysis_features.c; the
 * categories of a string feature, the levels of a conjoint attribute): open addressing on
 * FNV-1a. Zero-initialised to start; seg__cats_release frees and empties it.
 */
struct seg__cats {
	char **names; /* by code, in order of first appearance */
	size_t n, cap;
	size_t *slots; /* code + 1; 0: empty */
	size_t nslots; /* a power of 2 */
};
/* The code of s[0..len), added (copied) when new. */
size_t seg__cats_code(struct seg__cats *c, const char *s, size_t len);
void seg__cats_release(struct seg__cats *c);
/* seg_db_scheme_create without its transaction. */
enum seg_err seg__scheme_insert(struct seg_db *db, int64_t tenant,
				const struct seg_scheme_input *in, int64_t *id, bool *missing);

/* --- CSV exports (db/segments.c, db/schemes.c) --- */
/*
 * A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes
 * doubled. x is a text expression.
 */
#define SEG__CSV(x)                                                                           \
	"(CASE WHEN " x " ~ '[\",\\r\\n]' THEN '\"' || replace(" x ", '\"', '\"\"') || '\"' " \
	"ELSE " x " END)"

#endif

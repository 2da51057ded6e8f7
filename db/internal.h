/*
 * What the files of db/ share: the connection struct, statements prepared on demand, and
 * the helpers that run SQL and map libpq failures to enum seg_err. Only the files of db/ include
 * this (and so libpq-fe.h).
 */
#ifndef SEG_DB_INTERNAL_H
#define SEG_DB_INTERNAL_H

#include <libpq-fe.h>
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

struct seg_db {
	PGconn *conn;
	int64_t idle_since_ms;
	int in_tx;
	unsigned char prepared[SEG_STMT_MAX + 1]; /* by slot */
	char sqlstate[6];			  /* of the last failure, "" if none */
	struct seg_pool *pool;
};

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
/* The same for SQL that must not be prepared (it uses a temporary table, or runs once). */
enum seg_err seg__db_query(struct seg_db *db, const char *sql, int n, const char *const *params,
			   PGresult **out);
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
 * One staged batch in one transaction: creates the connection's temporary staging table if
 * needed (stage_sql), COPYs rows into it (copy_sql), then runs each of sqls with params (one
 * parameter: the tenant). The last statement's two first columns are returned as counts.
 * On a deadlock or serialization failure the whole batch is tried again (up to 5 times).
 */
enum seg_err seg__db_batch(struct seg_db *db, const char *stage_sql, const char *copy_sql,
			   const struct seg_buf *rows, const char *const *sqls, int nsqls,
			   const char *tenant, size_t *count0, size_t *count1);
/*
 * Begins a transaction without the statement timeout, for work over every customer of a tenant
 * (recomputing metrics, checking a new attribute definition) that may take longer than a
 * request's statement. The timeout comes back with the transaction's end.
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
/* Formats a bigint parameter. */
#define SEG_INT_TEXT 24
const char *seg__db_int(char buf[SEG_INT_TEXT], int64_t v);

/* Copies column col of row 0 (or NULL when SQL NULL) into a malloc'ed string. */
char *seg__db_strdup(const PGresult *res, int row, int col);
/* Fills page from a result whose rows are (json, key), fetched with LIMIT limit + 1. */
void seg__db_page_fill(struct seg_page *page, const PGresult *res, int limit);

#endif

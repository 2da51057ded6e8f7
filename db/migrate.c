/*
 * Forward-only migrations. The files migrations/NNNN_name.sql are embedded in the binary
 * (scripts/embed.sh). seg_db_migrate takes a session-level advisory lock, so that several
 * daemons starting at once apply each migration exactly once, then applies every pending
 * file in its own transaction and records it in schema_migrations. Waiting for the lock and
 * running a file may legitimately take long: neither has a timeout, on the server's side or
 * ours (the pool's watchdog still ends the wait when the database stops answering).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "embedded.h"
#include "log.h"

/* An arbitrary constant that names segmentd's migration lock. */
#define SEG_MIGRATION_LOCK "7163829104"

static int seg__migration_version(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return atoi(base);
}

static bool seg__is_migration(const struct seg_embedded *e)
{
	return strncmp(e->path, "migrations/", 11) == 0 && strstr(e->path, ".sql") != NULL;
}

char *seg__db_migration_versions(int *count)
{
	struct seg_buf b = SEG_BUF_INIT;

	*count = 0;
	seg_buf_addch(&b, '{');
	for (const struct seg_embedded *e = seg_embedded_files; e->path; e++) {
		if (!seg__is_migration(e))
			continue;
		seg_buf_addf(&b, "%s%d", *count ? "," : "", seg__migration_version(e->path));
		(*count)++;
	}
	seg_buf_addch(&b, '}');
	return seg_buf_detach(&b, NULL);
}

static enum seg_err seg__applied(struct seg_db *db, int **versions, int *count)
{
	PGresult *res = NULL;
	enum seg_err err = seg__db_query(
		db, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL, &res);
	*versions = NULL;
	*count = 0;
	if (err)
		return err;
	*count = PQntuples(res);
	*versions = seg_calloc((size_t)*count + 1, sizeof(int));
	for (int i = 0; i < *count; i++)
		(*versions)[i] = atoi(PQgetvalue(res, i, 0));
	PQclear(res);
	return SEG_OK;
}

static bool seg__contains(const int *v, int n, int x)
{
	for (int i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

enum seg_err seg_db_migrate(struct seg_db *db, int *applied)
{
	int *done = NULL, ndone = 0;
	enum seg_err err;

	*applied = 0;
	/* the lock outlives this transaction, which only lifts the timeouts while it waits */
	err = seg__db_begin_long(db);
	if (!err)
		err = seg__db_query(db, "SET LOCAL lock_timeout = 0", 0, NULL, NULL);
	if (!err)
		err = seg__db_query(db, "SELECT pg_advisory_lock(" SEG_MIGRATION_LOCK ")", 0, NULL,
				    NULL);
	if (!err)
		err = seg_db_commit(db);
	if (err) {
		seg_db_rollback(db);
		return err;
	}
	err = seg__db_query(db,
			    "CREATE TABLE IF NOT EXISTS schema_migrations ("
			    " version integer PRIMARY KEY, name text NOT NULL,"
			    " applied_at timestamptz NOT NULL DEFAULT now())",
			    0, NULL, NULL);
	if (err)
		goto out;
	err = seg__applied(db, &done, &ndone);
	if (err)
		goto out;
	for (const struct seg_embedded *e = seg_embedded_files; e->path; e++) {
		if (!seg__is_migration(e))
			continue;
		int version = seg__migration_version(e->path);
		char vtext[16];
		const char *params[2];
		if (seg__contains(done, ndone, version))
			continue;
		char *sql = seg_strndup(e->data, e->len);
		err = seg__db_begin_long(db);
		if (!err) {
			err = seg__db_script(db, sql, e->path);
			if (err)
				seg_error("migration %s failed", e->path);
		}
		free(sql);
		if (!err) {
			snprintf(vtext, sizeof(vtext), "%d", version);
			params[0] = vtext;
			params[1] = e->path;
			err = seg__db_query(
				db, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
				2, params, NULL);
		}
		if (!err)
			err = seg_db_commit(db);
		if (err) {
			seg_db_rollback(db);
			goto out;
		}
		seg_info("applied migration %s", e->path);
		(*applied)++;
	}
out:
	free(done);
	if (db->conn)
		seg__db_query(db, "SELECT pg_advisory_unlock(" SEG_MIGRATION_LOCK ")", 0, NULL,
			      NULL);
	if (!err)
		seg__watchdog_reprobe(db->pool); /* so that readiness follows at once */
	return err;
}

/*
 * Analyses (SPEC §5.6, §6): the rows of `analyses`, their runs as jobs of kind "analysis"
 * (target: the analysis), each customer's own result (the run's store, a table of
 * seg_results) as pages and CSV batches, the stores retired and dropped, the copy of a metric
 * source's metrics into customer_scores, schedules, and materialising a result as a scheme of
 * dynamic segments. The model is in db/README.md
 * ("Analyses"); the SQL of each type is in db/analysis_<type>.c.
 *
 * A run is one transaction (seg_db_analysis_run_begin ... seg_db_analysis_run_succeed): what
 * the type reads and writes (its new store), then the job's row (seg_db_job_lock, taken
 * late so that the heartbeat stores the progress meanwhile), the analysis's row,
 * customer_scores, and the refresh jobs it queues; the job's completion and the commit last. So a
 * run's result, its metrics and its completion commit together, or not at all.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "rule.h"

/* The analysis document; a is the analyses row, j its current job (LEFT JOIN, may be NULL). */
#define SEG__ANALYSIS_JSON                                                               \
	"json_build_object('id', a.id::text, 'type', a.type, 'params', a.params, "       \
	"'schedule', a.schedule, 'status', coalesce(j.status, a.status), "               \
	"'progress', CASE WHEN coalesce(j.status, a.status) = 'succeeded' THEN 1 "       \
	"ELSE coalesce(j.progress, 0) END, "                                             \
	"'error', CASE WHEN coalesce(j.status, a.status) = 'failed' "                    \
	"THEN coalesce(a.error, j.error) END, "                                          \
	"'job_id', a.job_id::text, 'attempts', coalesce(j.attempts, 0), "                \
	"'result', a.result, 'succeeded_at', seg_ts(a.succeeded_at), 'runs', a.runs, "   \
	"'next_run_at', seg_ts(a.next_run_at), 'metric_source', EXISTS (SELECT 1 FROM "  \
	"analysis_metric_sources m WHERE m.tenant_id = a.tenant_id AND m.type = a.type " \
	"AND m.analysis_id = a.id), 'created_at', seg_ts(a.created_at), "                \
	"'updated_at', seg_ts(a.updated_at))::text"
#define SEG__ANALYSIS_FROM \
	" FROM analyses a LEFT JOIN jobs j ON j.tenant_id = a.tenant_id AND j.id = a.job_id "
/* The next run of a schedule after now, in the phase of next_run_at (x: the row). */
#define SEG__PERIOD(x)                                               \
	"(CASE " x ".schedule WHEN 'weekly' THEN interval '7 days' " \
	"ELSE interval '1 day' END)"
#define SEG__NEXT_RUN(x)                                                                          \
	"(" x ".next_run_at + " SEG__PERIOD(x) " * (floor(extract(epoch FROM now() - " x          \
					       ".next_run_at) / extract(epoch FROM " SEG__PERIOD( \
						       x) ")) + 1))"

SEG_STMT(analysis_insert,
	 "INSERT INTO analyses (tenant_id, type, params, schedule, next_run_at) "
	 "VALUES ($1, $2, $3::jsonb, $4, now() + CASE $4 WHEN 'daily' THEN interval '1 day' "
	 "WHEN 'weekly' THEN interval '7 days' END) RETURNING id");
/* A run queued (or joined): the row follows that job, with no error until it ends. */
SEG_STMT(analysis_queued,
	 "UPDATE analyses SET job_id = $3, status = 'queued', error = NULL, updated_at = now() "
	 "WHERE tenant_id = $1 AND id = $2 RETURNING 1");
SEG_STMT(analysis_get,
	 "SELECT " SEG__ANALYSIS_JSON SEG__ANALYSIS_FROM "WHERE a.tenant_id = $1 AND a.id = $2");
SEG_STMT(analysis_list,
	 "SELECT " SEG__ANALYSIS_JSON ", a.id::text" SEG__ANALYSIS_FROM
	 "WHERE a.tenant_id = $1 AND ($2::text IS NULL OR a.type = $2) "
	 "AND ($3::text IS NULL OR coalesce(j.status, a.status) = $3) "
	 "AND ($4::bigint IS NULL OR a.id < $4::bigint) ORDER BY a.id DESC LIMIT $5");
SEG_STMT(analysis_job, "SELECT job_id, succeeded_at IS NOT NULL, type, store FROM analyses "
		       "WHERE tenant_id = $1 AND id = $2");
/*
 * A store's rows as documents, by customer id: every column but customer_id as a key, so every
 * document of a type has the same keys (a column's NULL is null; the alias is no column name
 * of any type, as "x" would be). $1 after this id (NULL: from the first),
 * $2 the limit.
 */
#define SEG__STORE_ROWS                                                                 \
	"SELECT store_row.customer_id, to_jsonb(store_row) - 'customer_id' AS data "    \
	"FROM @store store_row WHERE ($1::text IS NULL OR store_row.customer_id > $1) " \
	"ORDER BY store_row.customer_id LIMIT $2"
static const char seg__customers_page_sql[] =
	"SELECT '{\"customer_id\":' || to_json(ac.customer_id)::text || CASE WHEN ac.data = "
	"'{}' THEN '}' ELSE ',' || substr(ac.data::text, 2) END, ac.customer_id "
	"FROM (" SEG__STORE_ROWS ") ac";
/* A value of data as CSV text: a string as itself, null or absent empty, else as JSON. */
#define SEG__DATA_TEXT                                                                 \
	"(CASE jsonb_typeof(v.v) WHEN 'string' THEN v.v #>> '{}' WHEN 'null' THEN '' " \
	"ELSE coalesce(v.v::text, '') END)"
/* $3 the columns, a JSON array of keys of data. */
static const char seg__customers_csv_sql[] =
	"SELECT coalesce(string_agg(b.line, '' ORDER BY b.id), ''), max(b.id), count(*) FROM "
	"(SELECT ac.customer_id AS id, " SEG__CSV(
		"ac.customer_id") " || "
				  "coalesce((SELECT string_agg(',' || " SEG__CSV(
					  SEG__DATA_TEXT) ", '' ORDER BY k.o) "
							  "FROM "
							  "jsonb_array_elements_text($3::jsonb) "
							  "WITH ORDINALITY k(p, o) "
							  "CROSS JOIN LATERAL (SELECT ac.data -> "
							  "k.p AS v) v), '') || E'\\r\\n' AS line "
							  "FROM (" SEG__STORE_ROWS ") ac) b";
SEG_STMT(analysis_source_of, "SELECT 1 FROM analysis_metric_sources WHERE tenant_id = $1 "
			     "AND analysis_id = $2");
/* The analysis's store (if any) retired, in the transaction that deletes the analysis. */
/* The oldest retired store no other daemon is dropping, and forgetting it once dropped. */
SEG_STMT(analysis_store_retired, "SELECT name FROM analysis_stores_retired "
				 "ORDER BY retired_at LIMIT 1 FOR UPDATE SKIP LOCKED");
SEG_STMT(analysis_store_forget, "DELETE FROM analysis_stores_retired WHERE name = $1");
SEG_STMT(analysis_retire_store,
	 "INSERT INTO analysis_stores_retired (name) SELECT store FROM analyses "
	 "WHERE tenant_id = $1 AND id = $2 AND store IS NOT NULL ON CONFLICT DO NOTHING");
SEG_STMT(analysis_delete_source, "DELETE FROM analysis_metric_sources WHERE tenant_id = $1 "
				 "AND analysis_id = $2 RETURNING type");
SEG_STMT(analysis_delete, "DELETE FROM analyses WHERE tenant_id = $1 AND id = $2 RETURNING 1");
SEG_STMT(analysis_lock, "SELECT type FROM analyses WHERE tenant_id = $1 AND id = $2 FOR UPDATE");

/* --- runs --- */

/* The type, the params, and the name of the store this run is to write. */
SEG_STMT(analysis_run_read,
	 "SELECT type, params::text, 'seg_results.a' || id || '_' || nextval('analysis_store_seq') "
	 "FROM analyses WHERE tenant_id = $1 AND id = $2");
SEG_STMT(analysis_store_exists, "SELECT to_regclass($1) IS NOT NULL");
/* The result and the run's store ($4) recorded; the store it replaces retired. */
SEG_STMT(analysis_run_store,
	 "WITH o AS (SELECT store FROM analyses WHERE tenant_id = $1 AND id = $2 FOR UPDATE), "
	 "r AS (INSERT INTO analysis_stores_retired (name) SELECT o.store FROM o "
	 "WHERE o.store IS NOT NULL AND o.store IS DISTINCT FROM $4 ON CONFLICT DO NOTHING) "
	 "UPDATE analyses SET result = $3::jsonb, store = $4, status = 'succeeded', error = NULL, "
	 "succeeded_at = clock_timestamp(), runs = runs + 1, updated_at = clock_timestamp() "
	 "WHERE tenant_id = $1 AND id = $2 RETURNING 1");
SEG_STMT(analysis_run_failed,
	 "UPDATE analyses SET status = 'failed', error = $3::jsonb, updated_at = now() "
	 "WHERE tenant_id = $1 AND id = $2 AND job_id = $4");
/*
 * The dynamic segments whose rules read an analysis metric, and those that refer to them,
 * directly or through others (a refresh inlines the rules it refers to).
 */
#define SEG__READS_SCORES(r)                                                      \
	"jsonb_path_exists(" r ", 'lax $.**.metric ? (@ starts with \"rfm_\" || " \
	"@ == \"abc_class\" || @ == \"frequency_class\" || @ == \"clv\" || "      \
	"@ == \"p_alive\" || @ == \"predicted_orders\" || @ starts with \"factor_\")')"
#define SEG__REFERS(r, id)                                                             \
	"jsonb_path_exists(" r ", 'lax $.** ? (@.segment == $s || @.segment == $n)', " \
	"jsonb_build_object('s', (" id ")::text, 'n', " id "))"
SEG_STMT(analysis_refresh_scores,
	 "WITH RECURSIVE dep(id) AS (SELECT s.id FROM segments s WHERE s.tenant_id = $1 "
	 "AND s.type = 'dynamic' AND " SEG__READS_SCORES(
		 "s.rule") " UNION "
			   "SELECT s.id FROM segments s JOIN dep ON " SEG__REFERS(
				   "s.rule",
				   "dep.id") " "
					     "WHERE s.tenant_id = $1 AND s.type = 'dynamic'), "
					     "ins AS (INSERT INTO jobs (tenant_id, kind, target) "
					     "SELECT $1, 'segment.refresh', "
					     "dep.id FROM dep ON CONFLICT (tenant_id, kind, "
					     "target) WHERE status = 'queued' "
					     "AND target IS NOT NULL DO NOTHING RETURNING 1) "
					     "SELECT count(*), pg_notify('segmentd_jobs', "
					     "'segment.refresh') FROM ins");

/* --- materialising --- */

SEG_STMT(analysis_materialize_lock,
	 "SELECT type, succeeded_at IS NOT NULL, store FROM analyses WHERE tenant_id = $1 "
	 "AND id = $2 FOR UPDATE");
/* This analysis becomes the type's source; the previous one (the row's old value) returned. */
SEG_STMT(analysis_source_set,
	 "INSERT INTO analysis_metric_sources AS m (tenant_id, type, analysis_id) "
	 "VALUES ($1, $2, $3) ON CONFLICT (tenant_id, type) DO UPDATE "
	 "SET analysis_id = EXCLUDED.analysis_id RETURNING (SELECT o.analysis_id FROM "
	 "analysis_metric_sources o WHERE o.tenant_id = $1 AND o.type = $2)");

/* --- static materialisation (db/README.md "Static materialisation") --- */

/*
 * The static segments materialised from analysis $2, of every scheme, with their group index
 * (or only those of the bigint[] $3 when it is not NULL).
 */
#define SEG__GROUP_SEGMENTS                                                    \
	"SELECT s.id, s.analysis_group AS g, s.size_cursor FROM segments s "   \
	"WHERE s.tenant_id = $1 AND s.analysis_id = $2 AND s.type = 'static' " \
	"AND s.analysis_group IS NOT NULL AND ($3::bigint[] IS NULL OR s.id = ANY ($3::bigint[]))"
SEG_STMT(analysis_group_set,
	 "UPDATE segments SET analysis_group = $3 WHERE tenant_id = $1 AND id = $2");
/* Their rows, in id order, before any customer's (as a static member change takes them). */
SEG_STMT(analysis_group_lock,
	 "SELECT count(*) FROM (SELECT s.id FROM segments s WHERE s.tenant_id = $1 "
	 "AND s.analysis_id = $2 AND s.type = 'static' AND s.analysis_group IS NOT NULL "
	 "ORDER BY s.id FOR UPDATE) x");
/* The point in the feed: the tenant's change counter, locked (db/members.c does the same). */
SEG_STMT(analysis_group_cursor,
	 "INSERT INTO change_counters AS k (tenant_id, last) VALUES ($1, 0) "
	 "ON CONFLICT (tenant_id) DO UPDATE SET last = k.last RETURNING k.last");
/*
 * In a statement after that one: each segment's history point (its size counted, the changes
 * since its size_cursor up to the point $4) and its size as of $4.
 */
SEG_STMT(analysis_group_points,
	 "WITH pt AS MATERIALIZED (SELECT sel.id, (SELECT count(*) FROM memberships m "
	 "WHERE m.tenant_id = $1 AND m.segment_id = sel.id) AS size, e.e, e.x FROM "
	 "(" SEG__GROUP_SEGMENTS ") sel CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE "
	 "ch.change = 'entered') AS e, count(*) FILTER (WHERE ch.change = 'exited') AS x "
	 "FROM changes ch WHERE ch.tenant_id = $1 AND ch.segment_id = sel.id "
	 "AND ch.cursor > sel.size_cursor AND ch.cursor <= $4::bigint) e), "
	 "h AS (INSERT INTO segment_history (tenant_id, segment_id, size, entered, exited) "
	 "SELECT $1, pt.id, pt.size, pt.e, pt.x FROM pt), "
	 "u AS (UPDATE segments s SET size = pt.size, size_cursor = $4::bigint, "
	 "refreshed_at = now() FROM pt WHERE s.tenant_id = $1 AND s.id = pt.id) "
	 "SELECT count(*) FROM pt");

static bool seg__store_name(const char *name);

/* Whether name is a plain lower-case SQL identifier (a store column named by a type). */
static bool seg__column_name(const char *name)
{
	if (!name || !*name || strlen(name) > 63 || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	return true;
}

/*
 * Gives the static segments of analysis id (those of ids, a bigint[] literal, when not NULL)
 * the members that the store's column places in their group: one statement computes the
 * differences with their memberships, inserts and deletes them for the customers that exist
 * and records the changes. lock: the customers whose membership changes are locked (ascending
 * id) and their rev bumped, as a static member change does, and the dynamic segments that refer
 * to these follow (the membership step; the transaction began with seg__members_lock); without
 * it (materialising, under the definitions lock held exclusively, with no referrer yet) the
 * customers are only looked up. Then each segment's history point and size.
 */
static enum seg_err seg__groups_sync(struct seg_db *db, int64_t tenant, int64_t id,
				     const char *store, const char *column, const char *ids,
				     bool lock, size_t *entered, size_t *exited)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(aid, id), ids, NULL};
	struct seg_buf sql = SEG_BUF_INIT;
	PGresult *res = NULL;
	enum seg_err err = SEG_OK;

	*entered = *exited = 0;
	if (!store || !seg__store_name(store) || !seg__column_name(column)) {
		seg_error("analysis %lld: \"%s\".\"%s\" is no group column of a store of ours",
			  (long long)id, store ? store : "(null)", column ? column : "(null)");
		return SEG_ERR_INTERNAL;
	}
	seg_buf_addf(
		&sql,
		"WITH sel AS MATERIALIZED (" SEG__GROUP_SEGMENTS "), "
		"want AS MATERIALIZED (SELECT sel.id AS segment_id, st.customer_id FROM %s st "
		"JOIN sel ON sel.g = st.%s), "
		"have AS MATERIALIZED (SELECT m.segment_id, m.customer_id FROM memberships m "
		"JOIN sel ON m.segment_id = sel.id WHERE m.tenant_id = $1), "
		"diff AS MATERIALIZED (SELECT coalesce(w.segment_id, h.segment_id) AS segment_id, "
		"coalesce(w.customer_id, h.customer_id) AS customer_id, h.segment_id IS NULL AS "
		"enter FROM want w FULL JOIN have h ON h.segment_id = w.segment_id "
		"AND h.customer_id = w.customer_id WHERE w.segment_id IS NULL "
		"OR h.segment_id IS NULL), "
		"found AS MATERIALIZED (SELECT d.segment_id, d.customer_id, d.enter FROM diff d "
		"JOIN customers c ON c.tenant_id = $1 AND c.id = d.customer_id%s), %s"
		"ins AS (INSERT INTO memberships (tenant_id, segment_id, customer_id) "
		"SELECT $1, f.segment_id, f.customer_id FROM found f WHERE f.enter "
		"ORDER BY f.customer_id, f.segment_id "
		"ON CONFLICT DO NOTHING RETURNING segment_id, customer_id), "
		"del AS (DELETE FROM memberships m USING diff d WHERE NOT d.enter "
		"AND m.tenant_id = $1 AND m.segment_id = d.segment_id "
		"AND m.customer_id = d.customer_id RETURNING m.segment_id, m.customer_id), "
		"chd AS (SELECT segment_id, customer_id, 'entered' AS change FROM ins "
		"UNION ALL SELECT segment_id, customer_id, 'exited' FROM "
		"del), " SEG__CHANGES_RECORD(
			"chd") "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM del), "
			       "(SELECT array_agg(DISTINCT customer_id) FROM chd), "
			       "(SELECT count(*) FROM chg)",
		store, column, lock ? " ORDER BY c.id FOR NO KEY UPDATE OF c" : "",
		lock ? "bump AS (UPDATE customers c SET rev = c.rev + 1 FROM (SELECT DISTINCT "
		       "customer_id FROM found) f WHERE c.tenant_id = $1 AND c.id = "
		       "f.customer_id), "
		     : "");
	err = seg__db_query(db, sql.data, 3, p, &res);
	if (err)
		goto out;
	*entered = (size_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	*exited = (size_t)strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	if (lock && !PQgetisnull(res, 0, 2))
		err = seg__members_step(db, tenant, SEG__CHANGED_IDS, PQgetvalue(res, 0, 2),
					SEG_RULE_DEP_SEGMENTS, NULL, NULL);
	PQclear(res);
	res = NULL;
	/* the history points, as of the counter's last cursor (its lock held to the commit) */
	if (!err)
		err = seg__db_exec(db, &analysis_group_cursor, 1, p, &res);
	if (!err) {
		p[3] = PQgetvalue(res, 0, 0);
		err = seg__db_exec(db, &analysis_group_points, 4, p, NULL);
	}
out:
	PQclear(res);
	seg_buf_release(&sql);
	return err;
}

/*
 * After a run that stored its store: the static segments materialised from the analysis
 * follow it (nothing when there is none).
 */
static enum seg_err seg__groups_follow(struct seg_db *db, int64_t tenant, int64_t id,
				       const char *store, const char *column)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(aid, id)};
	PGresult *res = NULL;
	size_t entered, exited;
	enum seg_err err = seg__db_exec(db, &analysis_group_lock, 2, p, &res);
	if (err)
		return err;
	bool any = strtoll(PQgetvalue(res, 0, 0), NULL, 10) > 0;
	PQclear(res);
	if (!any)
		return SEG_OK;
	err = seg__groups_sync(db, tenant, id, store, column, NULL, true, &entered, &exited);
	if (!err)
		seg_info("analysis %lld: its static segments followed the run (%zu entered, %zu "
			 "exited)",
			 (long long)id, entered, exited);
	return err;
}

/* --- schedules --- */

SEG_STMT(analysis_schedule,
	 "WITH due AS (SELECT tenant_id, id FROM analyses WHERE schedule IS NOT NULL "
	 "AND next_run_at <= now() ORDER BY next_run_at LIMIT 100 FOR UPDATE SKIP LOCKED), "
	 "ins AS (INSERT INTO jobs (tenant_id, kind, target) SELECT tenant_id, 'analysis', id "
	 "FROM due ON CONFLICT (tenant_id, kind, target) WHERE status = 'queued' "
	 "AND target IS NOT NULL DO NOTHING RETURNING tenant_id, target, id), "
	 "upd AS (UPDATE analyses a SET next_run_at = " SEG__NEXT_RUN(
		 "a") ", "
		      "job_id = coalesce(i.id, a.job_id), status = CASE WHEN i.id IS NULL THEN "
		      "a.status "
		      "ELSE 'queued' END, error = CASE WHEN i.id IS NULL THEN a.error END, "
		      "updated_at = now() "
		      "FROM due d LEFT JOIN ins i ON i.tenant_id = d.tenant_id AND i.target = d.id "
		      "WHERE a.tenant_id = d.tenant_id AND a.id = d.id RETURNING i.id) "
		      "SELECT count(i.id), count(*) FROM upd i");
SEG_STMT(analysis_notify, "SELECT pg_notify('segmentd_jobs', 'analysis')");

static enum seg_err seg__scores_refresh(struct seg_db *db, int64_t tenant);
static bool seg__store_name(const char *name);
static enum seg_err seg__scores_clear(struct seg_db *db, int64_t tenant, const char *type);

/* --- the API --- */

/* Queues a run of analysis id (or joins the queued one) and points the row at it. */
static enum seg_err seg__queue_run(struct seg_db *db, int64_t tenant, int64_t id)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT], jid[SEG_INT_TEXT];
	int64_t job = 0;
	bool joined;
	enum seg_err err = seg_db_job_enqueue(db, tenant, "analysis", id, NULL, &job, &joined);
	if (err)
		return err;
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(aid, id), seg__db_int(jid, job)};
	PGresult *res;
	err = seg__db_exec(db, &analysis_queued, 3, p, &res);
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	PQclear(res);
	return err;
}

enum seg_err seg_db_analysis_create(struct seg_db *db, int64_t tenant, const char *type,
				    const char *params, const char *schedule, int64_t *id,
				    char **json)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	PGresult *res = NULL;
	enum seg_err err;

	*id = 0;
	*json = NULL;
	err = seg_db_begin(db);
	if (err)
		return err;
	const char *p[] = {seg__db_int(tid, tenant), type, params, schedule};
	err = seg__db_exec(db, &analysis_insert, 4, p, &res);
	if (err)
		goto out;
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	err = seg__queue_run(db, tenant, *id);
	if (err)
		goto out;
	const char *pg[] = {tid, seg__db_int(aid, *id)};
	err = seg__db_json_row(db, &analysis_get, 2, pg, json);
	if (!err)
		err = seg_db_commit(db);
out:
	PQclear(res);
	if (err) {
		seg_db_rollback(db);
		free(*json);
		*json = NULL;
	}
	return err;
}

enum seg_err seg_db_analysis_get(struct seg_db *db, int64_t tenant, int64_t id, char **json)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(aid, id)};
	return seg__db_json_row(db, &analysis_get, 2, p, json);
}

enum seg_err seg_db_analysis_list(struct seg_db *db, int64_t tenant, const char *type,
				  const char *status, const char *after_key, int limit,
				  struct seg_page *page)
{
	char tid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	if (!seg__db_int_key(after_key))
		return SEG_ERR_MALFORMED;
	const char *p[] = {seg__db_int(tid, tenant), type, status, after_key,
			   seg__db_int(lim, limit + 1)};
	return seg__db_page(db, &analysis_list, 5, p, limit, page);
}

/*
 * The analysis's current job (0: none), whether it has a succeeded run, its type and its store
 * (malloc'ed, NULL: none) when type and store are not NULL.
 */
static enum seg_err seg__analysis_state(struct seg_db *db, int64_t tenant, int64_t id, int64_t *job,
					bool *succeeded, char **type, char **store)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(aid, id)};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &analysis_job, 2, p, &res);
	if (err)
		return err;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return SEG_ERR_NOT_FOUND;
	}
	*job = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*succeeded = PQgetvalue(res, 0, 1)[0] == 't';
	if (type)
		*type = seg__db_strdup(res, 0, 2);
	if (store) {
		*store = seg__db_strdup(res, 0, 3);
		if (*store && !seg__store_name(*store)) {
			seg_error("analysis %lld: \"%s\" is no store of ours", (long long)id,
				  *store);
			free(*store);
			*store = NULL;
			PQclear(res);
			return SEG_ERR_INTERNAL;
		}
	}
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_analysis_cancel(struct seg_db *db, int64_t tenant, int64_t id, char **json)
{
	int64_t job = 0;
	bool succeeded;
	char *jjson = NULL;
	enum seg_err err = seg__analysis_state(db, tenant, id, &job, &succeeded, NULL, NULL);

	*json = NULL;
	if (!err && job)
		err = seg_db_job_cancel(db, tenant, job, &jjson);
	if (err == SEG_ERR_NOT_FOUND && job)
		err = SEG_OK; /* the job was purged: it had ended long ago */
	free(jjson);
	if (!err)
		err = seg_db_analysis_get(db, tenant, id, json);
	return err;
}

enum seg_err seg_db_analysis_run_now(struct seg_db *db, int64_t tenant, int64_t id, char **json)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(aid, id)};
	enum seg_err err;

	*json = NULL;
	err = seg_db_begin(db);
	if (!err)
		err = seg__queue_run(db, tenant, id);
	if (!err)
		err = seg__db_json_row(db, &analysis_get, 2, p, json);
	if (!err)
		err = seg_db_commit(db);
	if (err) {
		seg_db_rollback(db);
		free(*json);
		*json = NULL;
	}
	return err;
}

enum seg_err seg_db_analysis_delete(struct seg_db *db, int64_t tenant, int64_t id, bool force,
				    bool *source)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(aid, id)};
	PGresult *res = NULL;
	int64_t job = 0;
	bool succeeded;
	enum seg_err err;

	*source = false;
	err = seg_db_begin(db);
	if (err)
		return err;
	err = seg__db_exec(db, &analysis_lock, 2, p, &res);
	if (!err && PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	if (err)
		goto out;
	char *type = seg__db_strdup(res, 0, 0);
	PQclear(res);
	res = NULL;
	err = seg__db_exec(db, &analysis_source_of, 2, p, &res);
	if (!err)
		*source = PQntuples(res) > 0;
	PQclear(res);
	res = NULL;
	if (!err && *source && !force)
		err = SEG_ERR_CONFLICT;
	if (!err && *source)
		err = seg__scores_clear(db, tenant, type);
	free(type);
	if (!err)
		err = seg__db_exec(db, &analysis_delete_source, 2, p, NULL);
	if (!err)
		err = seg__analysis_state(db, tenant, id, &job, &succeeded, NULL, NULL);
	if (!err && job) {
		char *jjson = NULL;
		err = seg_db_job_cancel(db, tenant, job, &jjson);
		free(jjson);
		if (err == SEG_ERR_NOT_FOUND)
			err = SEG_OK;
	}
	if (!err)
		err = seg__db_exec(db, &analysis_retire_store, 2, p, NULL);
	if (!err)
		err = seg__db_exec(db, &analysis_delete, 2, p, NULL);
	if (!err && *source)
		err = seg__scores_refresh(db, tenant);
	if (!err)
		err = seg_db_commit(db);
out:
	PQclear(res);
	if (err)
		seg_db_rollback(db);
	return err;
}

/*
 * Runs sql (its "@store" the analysis's store) with params p[0..n) after the store is looked
 * up. SEG_ERR_NOT_FOUND: no such analysis; SEG_ERR_CONFLICT: no succeeded run yet. A store
 * dropped between the look-up and the read (a newer run retired it, and the housekeeping
 * dropped it) is looked up again.
 */
static enum seg_err seg__store_read(struct seg_db *db, int64_t tenant, int64_t id,
				    const char *sql_tmpl, int n, const char *const *p,
				    PGresult **res)
{
	enum seg_err err = SEG_OK;
	*res = NULL;
	for (int attempt = 0; attempt < 3; attempt++) {
		int64_t job;
		bool succeeded = false;
		char *store = NULL;
		struct seg_buf sql = SEG_BUF_INIT;
		err = seg__analysis_state(db, tenant, id, &job, &succeeded, NULL, &store);
		if (!err && (!succeeded || !store))
			err = SEG_ERR_CONFLICT;
		if (!err) {
			seg__analysis_sql(&sql, sql_tmpl, store);
			err = seg__db_query(db, sql.data, n, p, res);
		}
		free(store);
		seg_buf_release(&sql);
		if (!err || strcmp(db->sqlstate, "42P01") != 0)
			break;
	}
	return err;
}

enum seg_err seg_db_analysis_customers(struct seg_db *db, int64_t tenant, int64_t id,
				       const char *after_key, int limit, struct seg_page *page)
{
	char lim[SEG_INT_TEXT];
	const char *p[] = {after_key, seg__db_int(lim, limit + 1)};
	PGresult *res;
	enum seg_err err = seg__store_read(db, tenant, id, seg__customers_page_sql, 2, p, &res);
	if (err)
		return err;
	seg__db_page_fill(page, res, limit);
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_analysis_customers_check(struct seg_db *db, int64_t tenant, int64_t id,
					     char **type)
{
	int64_t job;
	bool succeeded = false;
	enum seg_err err = seg__analysis_state(db, tenant, id, &job, &succeeded, type, NULL);
	if (!err && !succeeded)
		err = SEG_ERR_CONFLICT;
	return err;
}

enum seg_err seg_db_analysis_customers_csv(struct seg_db *db, int64_t tenant, int64_t id,
					   const char *after_key, const char *columns, int limit,
					   struct seg_buf *out, char **last, size_t *rows)
{
	char lim[SEG_INT_TEXT];
	const char *p[] = {after_key, seg__db_int(lim, limit), columns ? columns : "[]"};
	PGresult *res;
	enum seg_err err = seg__store_read(db, tenant, id, seg__customers_csv_sql, 3, p, &res);

	*last = NULL;
	*rows = 0;
	if (err)
		return err;
	seg__db_csv_fill(res, out, last, rows);
	PQclear(res);
	return SEG_OK;
}

/* --- runs --- */

enum seg_err seg_db_analysis_run_begin(struct seg_db *db, const struct seg_job_claim *job,
				       char **type, char **params, char **store)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, job->tenant), seg__db_int(aid, job->target)};
	PGresult *res = NULL;
	enum seg_err err;

	*type = *params = *store = NULL;
	err = seg__db_begin_long(db);
	if (!err)
		err = seg__db_exec(db, &analysis_run_read, 2, p, &res);
	if (!err && PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	if (!err) {
		*type = seg__db_strdup(res, 0, 0);
		*params = seg__db_strdup(res, 0, 1);
		*store = seg__db_strdup(res, 0, 2);
	}
	PQclear(res);
	if (err && err != SEG_ERR_NOT_FOUND)
		seg_db_rollback(db);
	return err;
}

void seg__analysis_sql(struct seg_buf *out, const char *sql, const char *store)
{
	static const char mark[] = "@store";
	for (const char *at; (at = strstr(sql, mark)); sql = at + sizeof(mark) - 1) {
		seg_buf_add(out, sql, (size_t)(at - sql));
		seg_buf_addstr(out, store);
	}
	seg_buf_addstr(out, sql);
}

/* Whether name is one of ours: seg_results.a<digits>_<digits>, nothing to quote. */
static bool seg__store_name(const char *name)
{
	static const char prefix[] = "seg_results.a";
	const char *s = name;
	size_t digits = 0;
	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return false;
	s += sizeof(prefix) - 1;
	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (!digits || *s++ != '_')
		return false;
	for (digits = 0; *s >= '0' && *s <= '9'; s++)
		digits++;
	return digits && !*s && s - name < 64;
}

enum seg_err seg__analysis_store(struct seg_db *db, const char *store, const char *select, int n,
				 const char *const *params, int64_t *rows)
{
	struct seg_buf sql = SEG_BUF_INIT;
	PGresult *res = NULL;
	enum seg_err err = SEG_OK;

	if (rows)
		*rows = 0;
	if (!store || !seg__store_name(store)) {
		seg_error("\"%s\" is no store of ours", store ? store : "(null)");
		return SEG_ERR_INTERNAL;
	}
	seg_buf_addf(&sql, "CREATE TABLE %s AS %s", store, select);
	err = seg__db_query(db, sql.data, n, params, &res);
	if (err)
		goto out;
	if (rows)
		*rows = strtoll(PQcmdTuples(res), NULL, 10);
	seg_buf_reset(&sql);
	seg_buf_addf(&sql, "ALTER TABLE %s ADD PRIMARY KEY (customer_id)", store);
	err = seg__db_query(db, sql.data, 0, NULL, NULL);
out:
	PQclear(res);
	seg_buf_release(&sql);
	return err;
}

void seg__copy_text(struct seg_buf *line, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\': seg_buf_addstr(line, "\\\\"); break;
		case '\t': seg_buf_addstr(line, "\\t"); break;
		case '\n': seg_buf_addstr(line, "\\n"); break;
		case '\r': seg_buf_addstr(line, "\\r"); break;
		default: seg_buf_addch(line, *s); break;
		}
	}
}

void seg__copy_double(struct seg_buf *line, double x)
{
	/* 17 significant digits read back exactly (the shortest form costs up to 17 tries) */
	if (isfinite(x))
		seg_buf_addf(line, "%.17g", x);
	else
		seg_buf_addstr(line, "\\N");
}

/* The rows of a store computed in C are sent in COPYs of about this many bytes. */
#define SEG__STORE_COPY_BYTES (4u << 20)

enum seg_err seg__analysis_store_copy(struct seg_db *db, const char *store, const char *columns,
				      size_t n,
				      void (*row)(void *ctx, size_t i, struct seg_buf *line),
				      void *ctx, const struct seg_job_hooks *hooks)
{
	struct seg_buf sql = SEG_BUF_INIT, copy = SEG_BUF_INIT, data = SEG_BUF_INIT;
	enum seg_err err = SEG_OK;

	if (!store || !seg__store_name(store)) {
		seg_error("\"%s\" is no store of ours", store ? store : "(null)");
		return SEG_ERR_INTERNAL;
	}
	seg_buf_addf(&sql, "CREATE TABLE %s (customer_id text COLLATE \"C\" NOT NULL%s%s)", store,
		     columns && *columns ? ", " : "", columns ? columns : "");
	err = seg__db_query(db, sql.data, 0, NULL, NULL);
	seg_buf_addf(&copy, "COPY %s FROM STDIN", store);
	for (size_t i = 0; !err && i < n; i++) {
		row(ctx, i, &data);
		seg_buf_addch(&data, '\n');
		if (data.len < SEG__STORE_COPY_BYTES && i + 1 < n)
			continue;
		if (hooks && hooks->stopping(hooks->ctx))
			err = SEG_ERR_CANCELLED;
		if (!err)
			err = seg__db_copy(db, copy.data, data.data, data.len);
		seg_buf_reset(&data);
	}
	seg_buf_reset(&sql);
	seg_buf_addf(&sql, "ALTER TABLE %s ADD PRIMARY KEY (customer_id)", store);
	if (!err)
		err = seg__db_query(db, sql.data, 0, NULL, NULL);
	seg_buf_release(&sql);
	seg_buf_release(&copy);
	seg_buf_release(&data);
	return err;
}

enum seg_err seg_db_analysis_stores_drop(struct seg_db *db, int *dropped)
{
	enum seg_err err = SEG_OK;
	*dropped = 0;
	/* a few a pass: each is one short transaction */
	for (int i = 0; i < 20; i++) {
		PGresult *res = NULL;
		struct seg_buf sql = SEG_BUF_INIT;
		err = seg_db_begin(db);
		if (!err)
			err = seg__db_exec(db, &analysis_store_retired, 0, NULL, &res);
		if (!err && PQntuples(res) == 0) {
			PQclear(res);
			return seg_db_commit(db);
		}
		const char *name = err ? NULL : PQgetvalue(res, 0, 0);
		const char *p[] = {name};
		if (!err && !seg__store_name(name)) {
			seg_error("\"%s\" retired is no store of ours: forgotten", name);
		} else if (!err) {
			/* a reader still on it (a page looked it up before the run committed):
			 * left for the next pass rather than waited for */
			err = seg__db_query(db, "SET LOCAL lock_timeout = '100ms'", 0, NULL, NULL);
			seg_buf_addf(&sql, "DROP TABLE IF EXISTS %s", name);
			if (!err)
				err = seg__db_query(db, sql.data, 0, NULL, NULL);
		}
		if (!err)
			err = seg__db_exec(db, &analysis_store_forget, 1, p, NULL);
		if (!err)
			err = seg_db_commit(db);
		PQclear(res);
		seg_buf_release(&sql);
		if (err) {
			seg_db_rollback(db);
			return err == SEG_ERR_TIMEOUT ? SEG_OK : err;
		}
		(*dropped)++;
	}
	return SEG_OK;
}

/* Queues a full refresh of every dynamic segment that reads analysis metrics. */
static enum seg_err seg__scores_refresh(struct seg_db *db, int64_t tenant)
{
	char tid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant)};
	return seg__db_exec(db, &analysis_refresh_scores, 1, p, NULL);
}

/* Whether name is one of customer_scores' metric columns (and sqltype one we cast to). */
static bool seg__score_column(const char *name, const char *sqltype)
{
	static const char *const columns[] = {"rfm_r",		 "rfm_f",
					      "rfm_m",		 "rfm_score",
					      "rfm_segment",	 "abc_class",
					      "frequency_class", "clv",
					      "p_alive",	 "predicted_orders",
					      "factors",	 NULL};
	static const char *const types[] = {"smallint", "text", "double precision",
					    "double precision[]", NULL};
	bool col = false, typ = false;
	for (size_t i = 0; columns[i]; i++)
		col = col || strcmp(name, columns[i]) == 0;
	for (size_t i = 0; sqltype && types[i]; i++)
		typ = typ || strcmp(sqltype, types[i]) == 0;
	return col && (typ || !sqltype);
}

/* Empties the columns of customer_scores that analyses of type write. */
static enum seg_err seg__scores_clear(struct seg_db *db, int64_t tenant, const char *type)
{
	/* the columns a type writes are named after it (abc_class, rfm_*, ...) */
	static const struct {
		const char *type, *set, *any;
	} cols[] = {
		{"rfm",
		 "rfm_r = NULL, rfm_f = NULL, rfm_m = NULL, rfm_score = NULL, "
		 "rfm_segment = NULL",
		 "rfm_r IS NOT NULL OR rfm_f IS NOT NULL OR rfm_m IS NOT NULL OR rfm_score IS "
		 "NOT NULL OR rfm_segment IS NOT NULL"},
		{"abc", "abc_class = NULL", "abc_class IS NOT NULL"},
		{"frequency", "frequency_class = NULL", "frequency_class IS NOT NULL"},
		{"clv", "clv = NULL, p_alive = NULL, predicted_orders = NULL",
		 "clv IS NOT NULL OR p_alive IS NOT NULL OR predicted_orders IS NOT NULL"},
		{"factor", "factors = NULL", "factors IS NOT NULL"},
	};
	char tid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant)};
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		if (strcmp(type, cols[i].type) != 0)
			continue;
		struct seg_buf sql = SEG_BUF_INIT;
		seg_buf_addf(&sql, "UPDATE customer_scores SET %s WHERE tenant_id = $1 AND (%s)",
			     cols[i].set, cols[i].any);
		enum seg_err err = seg__db_query(db, sql.data, 1, p, NULL);
		seg_buf_release(&sql);
		return err;
	}
	return SEG_OK;
}

/* The store's columns factor_1 .. factor_k, in order: "ac.factor_1, ac.factor_2". */
SEG_STMT(analysis_store_factors,
	 "SELECT coalesce(string_agg('ac.' || quote_ident(attname), ', ' "
	 "ORDER BY substr(attname, 8)::int), '') FROM pg_attribute "
	 "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped "
	 "AND attname ~ '^factor_[1-9][0-9]{0,2}$'");

/*
 * Appends to sel the factors of the store ac (a factor analysis's, h-fe): the array of its
 * columns factor_1 .. factor_k, NULL when all of them are (a customer without a score).
 */
static enum seg_err seg__scores_factors(struct seg_db *db, const char *store, struct seg_buf *sel,
					const char *sep)
{
	const char *p[] = {store};
	PGresult *res = NULL;
	enum seg_err err = seg__db_exec(db, &analysis_store_factors, 1, p, &res);
	if (err)
		return err;
	const char *cols = PQgetvalue(res, 0, 0);
	if (*cols)
		seg_buf_addf(sel,
			     "%sCASE WHEN num_nonnulls(%s) > 0 THEN ARRAY[%s]::double precision[] "
			     "END AS factors",
			     sep, cols, cols);
	else
		seg_buf_addf(sel, "%sNULL::double precision[] AS factors", sep);
	PQclear(res);
	return SEG_OK;
}

/*
 * Copies the metrics of an analysis's store into customer_scores: each customer's columns from
 * the store's columns of the same names, and NULL for the customers with a value but no row
 * any more. The column names come from the type's table (never from input) and are checked
 * against the columns of customer_scores.
 */
static enum seg_err seg__scores_copy(struct seg_db *db, int64_t tenant, const char *store,
				     const struct seg_analysis_metric *metrics)
{
	struct seg_buf sql = SEG_BUF_INIT, sel = SEG_BUF_INIT, cols = SEG_BUF_INIT,
		       set = SEG_BUF_INIT, differ = SEG_BUF_INIT, null = SEG_BUF_INIT,
		       any = SEG_BUF_INIT;
	char tid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant)};
	enum seg_err err = SEG_OK;

	if (!metrics || !metrics[0].name)
		return SEG_OK;
	if (!store || !seg__store_name(store)) {
		seg_error("\"%s\" is no store of ours", store ? store : "(null)");
		return SEG_ERR_INTERNAL;
	}
	for (size_t i = 0; metrics[i].name; i++) {
		const char *m = metrics[i].name, *sep = i ? ", " : "";
		if (!seg__score_column(m, metrics[i].sqltype)) {
			seg_error("analysis metric \"%s\" (%s) is no column of customer_scores", m,
				  metrics[i].sqltype ? metrics[i].sqltype : "?");
			err = SEG_ERR_INTERNAL;
			goto out;
		}
		if (strcmp(m, "factors") == 0) {
			err = seg__scores_factors(db, store, &sel, sep);
			if (err)
				goto out;
		} else
			seg_buf_addf(&sel, "%sac.%s::%s AS %s", sep, m, metrics[i].sqltype, m);
		seg_buf_addf(&cols, "%s%s", sep, m);
		seg_buf_addf(&set, "%s%s = EXCLUDED.%s", sep, m, m);
		seg_buf_addf(&differ, "%ss.%s IS DISTINCT FROM EXCLUDED.%s", i ? " OR " : "", m, m);
		seg_buf_addf(&null, "%s%s = NULL", sep, m);
		seg_buf_addf(&any, "%ss.%s IS NOT NULL", i ? " OR " : "", m);
	}
	seg_buf_addf(&sql,
		     "WITH src AS (SELECT ac.customer_id, %s FROM %s ac), "
		     "up AS (INSERT INTO customer_scores AS s (tenant_id, customer_id, %s) "
		     "SELECT $1, src.* FROM src ON CONFLICT (tenant_id, customer_id) DO UPDATE "
		     "SET %s WHERE %s RETURNING 1) "
		     "UPDATE customer_scores s SET %s WHERE s.tenant_id = $1 AND (%s) "
		     "AND NOT EXISTS (SELECT 1 FROM src WHERE src.customer_id = s.customer_id)",
		     sel.data, store, cols.data, set.data, differ.data, null.data, any.data);
	err = seg__db_query(db, sql.data, 1, p, NULL);
out:
	seg_buf_release(&sql);
	seg_buf_release(&sel);
	seg_buf_release(&cols);
	seg_buf_release(&set);
	seg_buf_release(&differ);
	seg_buf_release(&null);
	seg_buf_release(&any);
	return err;
}

enum seg_err seg_db_analysis_run_succeed(struct seg_db *db, const struct seg_job_claim *job,
					 const char *store, const char *result,
					 const struct seg_analysis_metric *metrics,
					 const char *group_column)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT], summary[64];
	const char *p[] = {seg__db_int(tid, job->tenant), seg__db_int(aid, job->target), result,
			   store};
	PGresult *res = NULL;
	bool stored = false, source = false;
	/*
	 * The job's row is locked here, at the end, rather than first: while the type computes,
	 * the heartbeat can still store the run's progress and renew its lease. The claim is
	 * checked all the same before anything commits (a lost claim rolls everything back).
	 */
	enum seg_err err = SEG_OK;

	/* a type materialised as static segments writes memberships: the definitions lock first */
	if (group_column && result && store)
		err = seg__members_lock(db, job->tenant);
	if (!err)
		err = seg_db_job_lock(db, job);
	if (!err && result && store) {
		err = seg__db_exec(db, &analysis_store_exists, 1, p + 3, &res);
		if (!err && PQgetvalue(res, 0, 0)[0] != 't') {
			seg_error("analysis %lld: the run wrote no store", (long long)job->target);
			err = SEG_ERR_INTERNAL;
		}
		PQclear(res);
		res = NULL;
	}
	if (!err && result && store) {
		err = seg__db_exec(db, &analysis_run_store, 4, p, &res);
		stored = !err && PQntuples(res) > 0;
		PQclear(res);
		res = NULL;
	}
	if (!err && !stored && store && seg__store_name(store)) {
		/* deleted meanwhile: the store this run wrote goes too (no one else knows it) */
		struct seg_buf sql = SEG_BUF_INIT;
		seg_buf_addf(&sql, "DROP TABLE IF EXISTS %s", store);
		err = seg__db_query(db, sql.data, 0, NULL, NULL);
		seg_buf_release(&sql);
	}
	/*
	 * Whether it is the metric source, in a statement of its own: its snapshot is taken after
	 * the row lock of the update, so a :materialize that committed meanwhile is seen.
	 */
	if (!err && stored) {
		err = seg__db_exec(db, &analysis_source_of, 2, p, &res);
		source = !err && PQntuples(res) > 0;
		PQclear(res);
		res = NULL;
	}
	if (!err && stored && group_column)
		err = seg__groups_follow(db, job->tenant, job->target, store, group_column);
	if (!err && source)
		err = seg__scores_copy(db, job->tenant, store, metrics);
	if (!err && source)
		err = seg__scores_refresh(db, job->tenant);
	if (!err) {
		snprintf(summary, sizeof(summary), "{\"analysis_id\":\"%lld\",\"stored\":%s}",
			 (long long)job->target, stored ? "true" : "false");
		err = seg_db_job_succeed(db, job, summary);
	}
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	return err;
}

enum seg_err seg_db_analysis_run_fail(struct seg_db *db, const struct seg_job_claim *job,
				      const char *problem)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT], jid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, job->tenant), seg__db_int(aid, job->target), problem,
			   seg__db_int(jid, job->id)};
	enum seg_err err = seg_db_begin(db);
	if (!err)
		err = seg_db_job_lock(db, job);
	if (!err)
		err = seg__db_exec(db, &analysis_run_failed, 4, p, NULL);
	if (!err)
		err = seg_db_job_fail_final(db, job, problem);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	return err;
}

enum seg_err seg_db_analysis_materialize(struct seg_db *db, int64_t tenant, int64_t id,
					 const struct seg_analysis_materialize *m, int64_t *scheme,
					 int64_t *jobs, int64_t *replaced)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(aid, id)};
	int64_t *ids = seg_calloc(m->nsegments ? m->nsegments : 1, sizeof(*ids));
	bool *missing = seg_calloc(m->nsegments ? m->nsegments : 1, sizeof(*missing));
	PGresult *res = NULL;
	char *type = NULL, *store = NULL;
	enum seg_err err;

	*scheme = *replaced = 0;
	err = seg_db_begin(db);
	if (!err)
		err = seg__members_definitions_changed(db, tenant);
	if (!err)
		err = seg__db_exec(db, &analysis_materialize_lock, 2, p, &res);
	if (!err && PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	else if (!err && PQgetvalue(res, 0, 1)[0] != 't')
		err = SEG_ERR_CONFLICT; /* no succeeded run: the handler checked, but it raced */
	if (err)
		goto out;
	type = seg__db_strdup(res, 0, 0);
	store = seg__db_strdup(res, 0, 2);
	PQclear(res);
	res = NULL;
	const char *ps[] = {tid, type, aid};
	err = seg__db_exec(db, &analysis_source_set, 3, ps, &res);
	if (err)
		goto out;
	if (!PQgetisnull(res, 0, 0)) {
		int64_t old = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*replaced = old != id ? old : 0;
	}
	err = seg__scores_copy(db, tenant, store, m->metrics);
	if (!err)
		err = seg__scores_refresh(db, tenant);
	for (size_t i = 0; !err && i < m->nsegments; i++) {
		struct seg_segment_input in = {.name = m->segments[i].name,
					       .description = m->segments[i].description,
					       .type = m->group_column ? "static" : "dynamic",
					       .rule = m->group_column ? NULL : m->segments[i].rule,
					       .source = type,
					       .deps = m->group_column ? 0 : m->segments[i].deps,
					       .analysis = id};
		char *json = NULL;
		err = seg__segment_insert(db, tenant, &in, &json, &ids[i], &jobs[i]);
		free(json);
		if (!err && m->group_column) {
			char sid[SEG_INT_TEXT], gi[SEG_INT_TEXT];
			const char *pg[] = {tid, seg__db_int(sid, ids[i]),
					    seg__db_int(gi, (int64_t)i)};
			err = seg__db_exec(db, &analysis_group_set, 3, pg, NULL);
		}
	}
	if (!err && m->group_column) {
		/* the new segments' members: those the analysis's store places in their groups */
		struct seg_buf lit = SEG_BUF_INIT;
		size_t entered, exited;
		seg_buf_addch(&lit, '{');
		for (size_t i = 0; i < m->nsegments; i++)
			seg_buf_addf(&lit, "%s%lld", i ? "," : "", (long long)ids[i]);
		seg_buf_addch(&lit, '}');
		err = seg__groups_sync(db, tenant, id, store, m->group_column, lit.data, false,
				       &entered, &exited);
		seg_buf_release(&lit);
	}
	if (!err) {
		struct seg_scheme_input in = {.name = m->scheme_name,
					      .segments = ids,
					      .nsegments = m->nsegments,
					      .set_segments = true};
		err = seg__scheme_insert(db, tenant, &in, scheme, missing);
	}
	if (!err)
		err = seg_db_commit(db);
out:
	PQclear(res);
	if (err) {
		seg_db_rollback(db);
		*scheme = *replaced = 0;
	}
	free(type);
	free(store);
	free(ids);
	free(missing);
	return err;
}

enum seg_err seg_db_analysis_schedule(struct seg_db *db, int *queued)
{
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &analysis_schedule, 0, NULL, &res);

	*queued = 0;
	if (err)
		return err;
	*queued = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (*queued > 0 && seg__db_exec(db, &analysis_notify, 0, NULL, NULL) != SEG_OK)
		seg_debug("could not notify the workers of the scheduled analyses");
	return SEG_OK;
}

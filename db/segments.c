/*
 * Segments (SPEC §5.4): their definitions, their members as JSON pages and as CSV batches,
 * static member changes, a customer's segments, and the size history. The documents are built
 * by PostgreSQL; sizes come from seg_segment_size() (db/README.md "Memberships"), never from a
 * counter that writes would have to update.
 *
 * Every change of a definition (create, a changed rule, delete) runs in one transaction that
 * begins with seg__members_definitions_changed, so writes in flight finish first and later
 * ones compile the new definitions. Static member changes begin with seg__members_lock, lock
 * the customers' rows (ascending id) before the memberships, and end with the membership step
 * for the segments that refer to the static one.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "rule.h"

#define SEG__SEGMENT_JSON                                                                    \
	"json_build_object('id', s.id::text, 'name', s.name, 'description', s.description, " \
	"'type', s.type, 'rule', s.rule, 'source', s.source, "                               \
	"'analysis_id', s.analysis_id::text, 'profile', s.profile, "                         \
	"'size', seg_segment_size(s), 'refreshed_at', seg_ts(s.refreshed_at), "              \
	"'created_at', seg_ts(s.created_at), 'updated_at', seg_ts(s.updated_at))::text"

/*
 * Whether the rule r refers to the segment whose id is the bigint expression id: a node
 * {"segment": "<id>"} anywhere in it (the id as a string, or as a number).
 */
#define SEG__REFERS(r, id)                                                             \
	"jsonb_path_exists(" r ", 'lax $.** ? (@.segment == $s || @.segment == $n)', " \
	"jsonb_build_object('s', (" id ")::text, 'n', " id "))"

SEG_STMT(segment_insert,
	 "INSERT INTO segments AS s (tenant_id, name, description, type, rule, source, profile, "
	 "clock, analysis_id) VALUES ($1, $2, coalesce($3, ''), $4, $5::jsonb, $6, "
	 "coalesce($7::jsonb, '{}'), $8::boolean, $9::bigint) RETURNING s.id, " SEG__SEGMENT_JSON);
SEG_STMT(segment_history_first, "INSERT INTO segment_history (tenant_id, segment_id, size, "
				"entered, exited) VALUES ($1, $2, 0, 0, 0)");
SEG_STMT(segment_get,
	 "SELECT " SEG__SEGMENT_JSON " FROM segments s WHERE s.tenant_id = $1 AND s.id = $2");
SEG_STMT(segment_list, "SELECT " SEG__SEGMENT_JSON ", s.id::text FROM segments s "
		       "WHERE s.tenant_id = $1 AND ($2::bigint IS NULL OR s.id > $2::bigint) "
		       "ORDER BY s.id LIMIT $3");
SEG_STMT(segment_type, "SELECT s.type, s.rule IS DISTINCT FROM coalesce($3::jsonb, s.rule) "
		       "FROM segments s WHERE s.tenant_id = $1 AND s.id = $2 FOR UPDATE");
SEG_STMT(segment_update,
	 "UPDATE segments s SET name = coalesce($3, s.name), "
	 "description = coalesce($4, s.description), profile = CASE WHEN $5::jsonb IS NULL "
	 "THEN s.profile WHEN jsonb_typeof($5::jsonb) = 'null' THEN '{}' "
	 "ELSE seg_merge_patch(s.profile, $5::jsonb) END, "
	 "rule = coalesce($6::jsonb, s.rule), "
	 "rule_version = s.rule_version + (s.rule IS DISTINCT FROM coalesce($6::jsonb, "
	 "s.rule))::int, "
	 "clock = CASE WHEN $6::jsonb IS NULL THEN s.clock ELSE $7::boolean END, "
	 "updated_at = now() WHERE s.tenant_id = $1 AND s.id = $2 RETURNING " SEG__SEGMENT_JSON);
/* The dynamic segments whose rules refer to $2, directly or through others. */
SEG_STMT(segment_dependents_all,
	 "WITH RECURSIVE dep(id) AS (SELECT $2::bigint UNION "
	 "SELECT s.id FROM segments s JOIN dep ON " SEG__REFERS(
		 "s.rule", "dep.id") " "
				     "WHERE s.tenant_id = $1 AND s.type = 'dynamic') "
				     "SELECT id FROM dep WHERE id <> $2 ORDER BY id");
/* The segments whose rules refer to $2 directly, as [{"id", "name"}]. */
SEG_STMT(segment_dependents,
	 "SELECT json_agg(json_build_object('id', s.id::text, 'name', s.name) ORDER BY s.id)::text "
	 "FROM segments s WHERE s.tenant_id = $1 AND s.type = 'dynamic' AND s.id <> $2 "
	 "AND " SEG__REFERS("s.rule", "$2::bigint"));
/* The schemes that use $2, as [{"id", "name"}] (db/schemes.c). */
SEG_STMT(segment_schemes,
	 "SELECT json_agg(json_build_object('id', k.id::text, 'name', k.name) ORDER BY k.id)::text "
	 "FROM scheme_segments ss JOIN schemes k ON k.tenant_id = ss.tenant_id "
	 "AND k.id = ss.scheme_id WHERE ss.tenant_id = $1 AND ss.segment_id = $2");
SEG_STMT(segment_lock,
	 "SELECT s.type FROM segments s WHERE s.tenant_id = $1 AND s.id = $2 FOR UPDATE");
/* Its members leave it, each recorded as exited, so that a mirror of the feed stays exact. */
SEG_STMT(segment_empty,
	 "WITH gone AS (DELETE FROM memberships WHERE tenant_id = $1 AND segment_id = $2 "
	 "RETURNING customer_id), chd AS (SELECT $2::bigint AS segment_id, customer_id, "
	 "'exited' AS change FROM gone), " SEG__CHANGES_RECORD("chd") "SELECT count(*) FROM chg");
SEG_STMT(segment_delete_history,
	 "DELETE FROM segment_history WHERE tenant_id = $1 AND segment_id = $2");
/* Its jobs still to run or running (seg_db_job_cancel stops each without waiting on its row). */
SEG_STMT(segment_jobs, "SELECT id FROM jobs WHERE tenant_id = $1 AND target = $2 "
		       "AND kind LIKE 'segment.%' AND status IN ('queued', 'running')");
SEG_STMT(segment_delete, "DELETE FROM segments WHERE tenant_id = $1 AND id = $2");
/* Every segment of the tenant, with the segment ids its rule refers to (one row per pair). */
SEG_STMT(segment_graph,
	 "SELECT s.id, r.ref FROM segments s LEFT JOIN LATERAL (SELECT DISTINCT "
	 "(v #>> '{}')::bigint AS ref FROM jsonb_path_query(s.rule, 'lax $.**.segment') v "
	 "WHERE (v #>> '{}') ~ '^[0-9]{1,18}$') r ON true WHERE s.tenant_id = $1 "
	 "ORDER BY s.id, r.ref");

SEG_STMT(segment_exists, "SELECT s.type FROM segments s WHERE s.tenant_id = $1 AND s.id = $2");
SEG_STMT(members_page,
	 "SELECT json_build_object('customer_id', m.customer_id, 'since', seg_ts(m.since))::text, "
	 "m.customer_id FROM memberships m WHERE m.tenant_id = $1 AND m.segment_id = $2 "
	 "AND ($3::text IS NULL OR m.customer_id > $3) ORDER BY m.customer_id LIMIT $4");

/* An attribute as CSV text: a string as itself, null or absent empty, anything else as JSON. */
#define SEG__ATTR_TEXT                                                                 \
	"(CASE jsonb_typeof(v.v) WHEN 'string' THEN v.v #>> '{}' WHEN 'null' THEN '' " \
	"ELSE coalesce(v.v::text, '') END)"
/*
 * One batch of the CSV export: up to $4 lines after customer $3, each "customer_id,since"
 * plus one column per dotted attribute path of the JSON array $5, joined into one text.
 */
SEG_STMT(members_csv,
	 "SELECT coalesce(string_agg(b.line, '' ORDER BY b.id), ''), max(b.id), count(*) FROM "
	 "(SELECT m.customer_id AS id, " SEG__CSV(
		 "m.customer_id") " || ',' || seg_ts(m.since) || "
				  "coalesce((SELECT string_agg(',' || " SEG__CSV(
					  SEG__ATTR_TEXT) ", '' ORDER BY a.o) "
							  "FROM "
							  "jsonb_array_elements_text($5::jsonb) "
							  "WITH ORDINALITY a(p, o) "
							  "CROSS JOIN LATERAL (SELECT c.attributes "
							  "#> string_to_array(a.p, '.') AS v) v), "
							  "'') "
							  "|| E'\\r\\n' AS line FROM memberships m "
							  "LEFT JOIN customers c "
							  "ON c.tenant_id = m.tenant_id AND c.id = "
							  "m.customer_id "
							  "WHERE m.tenant_id = $1 AND m.segment_id "
							  "= $2 AND ($3::text IS NULL OR "
							  "m.customer_id > $3) "
							  "ORDER BY m.customer_id LIMIT $4) b");

/*
 * Static member changes. The customers' rows are locked (ascending id) before the memberships,
 * so that a customer being erased cannot keep a membership its erasure did not see, and their
 * rev is bumped like any write's: a refresh of a dynamic segment that refers to this one, which
 * computed from a snapshot before the change, then leaves these customers to the change's own
 * membership step (db/README.md "Memberships"). The
 * requested ids drive the lookup, one key probe each (a lateral subquery with a locking clause
 * is never flattened), whatever the planner believes of the tenant's size: with statistics
 * stale after an import, a join driven from customers re-scanned the request list per customer.
 */
SEG_STMT(members_add,
	 "WITH req AS (SELECT DISTINCT e COLLATE \"C\" AS id "
	 "FROM jsonb_array_elements_text($3::jsonb) e), "
	 "found AS MATERIALIZED (SELECT c.id FROM (SELECT id FROM req ORDER BY id) r "
	 "CROSS JOIN LATERAL (SELECT c.id FROM customers c WHERE c.tenant_id = $1 "
	 "AND c.id = r.id FOR NO KEY UPDATE) c), "
	 "bump AS (UPDATE customers c SET rev = c.rev + 1 FROM found f WHERE c.tenant_id = $1 "
	 "AND c.id = f.id), "
	 "ins AS (INSERT INTO memberships (tenant_id, segment_id, customer_id) "
	 "SELECT $1, $2, id FROM found ORDER BY id ON CONFLICT DO NOTHING RETURNING customer_id), "
	 "chd AS (SELECT $2::bigint AS segment_id, customer_id, 'entered' AS change FROM "
	 "ins), " SEG__CHANGES_RECORD(
		 "chd") "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM found), "
			"(SELECT count(*) FROM req), (SELECT array_agg(customer_id ORDER BY "
			"customer_id) FROM "
			"ins), "
			"(SELECT coalesce(json_agg(id ORDER BY id), '[]') FROM (SELECT r.id FROM "
			"req r "
			"WHERE NOT EXISTS (SELECT 1 FROM found f WHERE f.id = r.id) ORDER BY r.id "
			"LIMIT 100) x), "
			"(SELECT count(*) FROM chg)");
/*
 * Static member changes of one segment are serialised by an advisory lock (two-key form, class
 * "SEGS"+1; db/members.c uses "SEGE" for refreshes), so that two of them never interleave
 * their membership writes and size updates.
 */
SEG_STMT(static_lock,
	 "SELECT pg_advisory_xact_lock(1397050694, ($1::bigint % 2147483647)::integer)");
/*
 * After a static member change that recorded changes (so it holds the tenant's change counter,
 * and every smaller cursor is committed): the size this statement sees becomes the counted
 * size as of the counter's last cursor (this transaction's own last one), so that
 * seg_segment_size() only ever adds the few changes since instead of every change of the
 * segment.
 */
SEG_STMT(static_size, "UPDATE segments s SET size = seg_segment_size(s), "
		      "size_cursor = (SELECT k.last FROM change_counters k WHERE k.tenant_id = $1) "
		      "WHERE s.tenant_id = $1 AND s.id = $2");
SEG_STMT(member_touch_customer,
	 "UPDATE customers SET rev = rev + 1 WHERE tenant_id = $1 AND id = $2");
SEG_STMT(member_remove,
	 "WITH del AS (DELETE FROM memberships WHERE tenant_id = $1 AND segment_id = $2 "
	 "AND customer_id = $3 RETURNING customer_id), "
	 "chd AS (SELECT $2::bigint AS segment_id, customer_id, 'exited' AS change FROM "
	 "del), " SEG__CHANGES_RECORD("chd") "SELECT 1 FROM chg");

SEG_STMT(customer_segments,
	 "SELECT CASE WHEN EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = $1 AND c.id = $2) "
	 "THEN json_build_object('items', coalesce((SELECT json_agg(json_build_object("
	 "'segment_id', s.id::text, 'name', s.name, 'since', seg_ts(m.since)) ORDER BY s.id) "
	 "FROM memberships m JOIN segments s ON s.tenant_id = m.tenant_id AND s.id = m.segment_id "
	 "WHERE m.tenant_id = $1 AND m.customer_id = $2), '[]'))::text END");
SEG_STMT(
	customer_list_segment,
	"SELECT seg_customer_json(c)::text, c.id FROM memberships m JOIN customers c "
	"ON c.tenant_id = m.tenant_id AND c.id = m.customer_id "
	"WHERE m.tenant_id = $1 AND m.segment_id = $2 AND ($3::text IS NULL OR m.customer_id > $3) "
	"ORDER BY m.customer_id LIMIT $4");
SEG_STMT(segment_history,
	 "SELECT json_build_object('at', seg_ts(h.at), 'size', h.size, 'entered', h.entered, "
	 "'exited', h.exited)::text, h.seq::text FROM segment_history h "
	 "WHERE h.tenant_id = $1 AND h.segment_id = $2 AND ($3::bigint IS NULL OR h.seq > "
	 "$3::bigint) "
	 "ORDER BY h.seq LIMIT $4");

/* Runs stmt and fails with SEG_ERR_NOT_FOUND when it returns no row. */
static enum seg_err seg__exec_found(struct seg_db *db, struct seg_stmt *stmt, int n,
				    const char *const *params, PGresult **res)
{
	enum seg_err err = seg__db_exec(db, stmt, n, params, res);
	if (!err && PQntuples(*res) == 0) {
		PQclear(*res);
		*res = NULL;
		err = SEG_ERR_NOT_FOUND;
	}
	return err;
}

/* Queues a refresh of segment id in the open transaction. */
static enum seg_err seg__enqueue_refresh(struct seg_db *db, int64_t tenant, int64_t id,
					 int64_t *job)
{
	bool joined;
	return seg_db_job_enqueue(db, tenant, "segment.refresh", id, NULL, job, &joined);
}

enum seg_err seg__segment_insert(struct seg_db *db, int64_t tenant,
				 const struct seg_segment_input *in, char **json, int64_t *id,
				 int64_t *job)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	bool dynamic = strcmp(in->type, "dynamic") == 0;
	const char *source = in->source ? in->source : dynamic ? "rule" : "manual";
	const char *clock = (in->deps & SEG_RULE_DEP_CLOCK) ? "true" : "false";
	char aid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant),
				in->name,
				in->description,
				in->type,
				in->rule,
				source,
				in->profile,
				clock,
				in->analysis ? seg__db_int(aid, in->analysis) : NULL};
	PGresult *res = NULL;
	enum seg_err err;

	*json = NULL;
	*id = 0;
	*job = 0;
	err = seg__db_exec(db, &segment_insert, 9, params, &res);
	if (!err) {
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*json = seg__db_strdup(res, 0, 1);
		seg__db_int(sid, *id);
	}
	if (!err && dynamic) {
		size_t n;
		err = seg__members_check_capacity(db, tenant, &n);
		if (!err)
			err = seg__enqueue_refresh(db, tenant, *id, job);
	} else if (!err) {
		const char *hp[] = {tid, sid};
		err = seg__db_exec(db, &segment_history_first, 2, hp, NULL);
	}
	if (err) {
		free(*json);
		*json = NULL;
	}
	PQclear(res);
	return err;
}

enum seg_err seg_db_segment_create(struct seg_db *db, int64_t tenant,
				   const struct seg_segment_input *in, char **json, int64_t *id,
				   int64_t *job)
{
	enum seg_err err = seg_db_begin(db);

	*json = NULL;
	*id = 0;
	*job = 0;
	if (!err)
		err = seg__members_definitions_changed(db, tenant);
	if (!err)
		err = seg__segment_insert(db, tenant, in, json, id, job);
	if (!err)
		err = seg_db_commit(db);
	if (err) {
		seg_db_rollback(db);
		free(*json);
		*json = NULL;
	}
	return err;
}

enum seg_err seg_db_segment_get(struct seg_db *db, int64_t tenant, int64_t id, char **json)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id)};
	return seg__db_json_row(db, &segment_get, 2, params, json);
}

enum seg_err seg_db_segment_list(struct seg_db *db, int64_t tenant, const char *after_key,
				 int limit, struct seg_page *page)
{
	char tid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), after_key, seg__db_int(lim, limit + 1)};
	if (!seg__db_int_key(after_key))
		return SEG_ERR_MALFORMED;
	return seg__db_page(db, &segment_list, 3, params, limit, page);
}

enum seg_err seg_db_segment_patch(struct seg_db *db, int64_t tenant, int64_t id,
				  const struct seg_segment_input *in, char **json, int64_t *job)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *clock = (in->deps & SEG_RULE_DEP_CLOCK) ? "true" : "false";
	const char *tp[] = {seg__db_int(tid, tenant), seg__db_int(sid, id), in->rule};
	const char *up[] = {tid, sid, in->name, in->description, in->profile, in->rule, clock};
	PGresult *res = NULL;
	bool changed = false;
	enum seg_err err;

	*json = NULL;
	*job = 0;
	err = seg_db_begin(db);
	if (!err && in->rule) /* the definitions lock first, before the segment's row */
		err = seg__members_definitions_changed(db, tenant);
	if (!err)
		err = seg__exec_found(db, &segment_type, 3, tp, &res);
	if (!err) {
		changed = strcmp(PQgetvalue(res, 0, 0), "dynamic") == 0 &&
			  PQgetvalue(res, 0, 1)[0] == 't';
		PQclear(res);
		res = NULL;
		err = seg__db_json_row(db, &segment_update, 7, up, json);
	}
	if (!err && changed) {
		size_t n;
		err = seg__members_check_capacity(db, tenant, &n);
	}
	if (!err && changed)
		err = seg__enqueue_refresh(db, tenant, id, job);
	if (!err && changed) { /* and every segment whose rule uses it, directly or not */
		err = seg__db_exec(db, &segment_dependents_all, 2, tp, &res);
		for (int i = 0; !err && i < PQntuples(res); i++) {
			int64_t other;
			err = seg__enqueue_refresh(
				db, tenant, strtoll(PQgetvalue(res, i, 0), NULL, 10), &other);
		}
	}
	if (!err)
		err = seg_db_commit(db);
	if (err) {
		seg_db_rollback(db);
		free(*json);
		*json = NULL;
		*job = 0;
	}
	PQclear(res);
	return err;
}

enum seg_err seg_db_segment_delete(struct seg_db *db, int64_t tenant, int64_t id, bool force,
				   char **dependents, char **schemes)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id)};
	PGresult *res = NULL;
	enum seg_err err;

	*dependents = NULL;
	*schemes = NULL;
	err = seg_db_begin(db);
	if (!err)
		err = seg__members_definitions_changed(db, tenant);
	if (!err)
		err = seg__exec_found(db, &segment_lock, 2, params, &res);
	PQclear(res);
	res = NULL;
	if (!err && !force) {
		err = seg__db_exec(db, &segment_dependents, 2, params, &res);
		if (!err && !PQgetisnull(res, 0, 0)) {
			*dependents = seg__db_strdup(res, 0, 0);
			err = SEG_ERR_CONFLICT;
		}
		PQclear(res);
		res = NULL;
	}
	if ((!err || err == SEG_ERR_CONFLICT) && !force) { /* and the schemes that use it */
		enum seg_err e2 = seg__db_exec(db, &segment_schemes, 2, params, &res);
		if (!e2 && !PQgetisnull(res, 0, 0)) {
			*schemes = seg__db_strdup(res, 0, 0);
			e2 = SEG_ERR_CONFLICT;
		}
		if (e2 && err != SEG_ERR_CONFLICT)
			err = e2;
		PQclear(res);
		res = NULL;
	}
	if (!err)
		err = seg__db_exec(db, &segment_empty, 2, params, NULL);
	if (!err)
		err = seg__db_exec(db, &segment_delete_history, 2, params, NULL);
	if (!err)
		err = seg__db_exec(db, &segment_jobs, 2, params, &res);
	for (int i = 0; !err && i < PQntuples(res); i++) {
		char *job = NULL;
		err = seg_db_job_cancel(db, tenant, strtoll(PQgetvalue(res, i, 0), NULL, 10), &job);
		if (err == SEG_ERR_NOT_FOUND)
			err = SEG_OK;
		free(job);
	}
	if (!err)
		err = seg__db_exec(db, &segment_delete, 2, params, NULL);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	PQclear(res);
	return err;
}

enum seg_err seg_db_segment_graph(struct seg_db *db, int64_t tenant,
				  struct seg_rule_graph_entry **graph, size_t *n)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant)};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &segment_graph, 1, params, &res);

	*graph = NULL;
	*n = 0;
	if (err)
		return err;
	int rows = PQntuples(res);
	struct seg_rule_graph_entry *g = seg_calloc((size_t)rows + 1, sizeof(*g));
	/* one block of refs for all entries, each entry pointing into it */
	int64_t *refs = seg_calloc((size_t)rows + 1, sizeof(int64_t));
	size_t count = 0, nrefs = 0;
	for (int i = 0; i < rows; i++) {
		int64_t sid = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (!count || g[count - 1].id != sid) {
			g[count].id = sid;
			g[count].refs = refs + nrefs;
			g[count].nrefs = 0;
			count++;
		}
		if (!PQgetisnull(res, i, 1)) {
			refs[nrefs++] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
			g[count - 1].nrefs++;
		}
	}
	PQclear(res);
	if (!count) { /* keep the refs block reachable through the first entry */
		g[0].refs = refs;
	}
	*graph = g;
	*n = count;
	return SEG_OK;
}

void seg_segment_graph_free(struct seg_rule_graph_entry *graph)
{
	if (!graph)
		return;
	free((void *)graph[0].refs);
	free(graph);
}

enum seg_err seg_db_segment_type(struct seg_db *db, int64_t tenant, int64_t id, bool *dynamic)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id)};
	PGresult *res;
	enum seg_err err = seg__exec_found(db, &segment_exists, 2, params, &res);
	if (err)
		return err;
	*dynamic = strcmp(PQgetvalue(res, 0, 0), "dynamic") == 0;
	PQclear(res);
	return SEG_OK;
}

/*
 * A page of one segment's rows (members, member documents, history): SEG_ERR_NOT_FOUND when
 * the tenant has no such segment; stmt takes (tenant, segment, after_key, limit + 1).
 */
static enum seg_err seg__segment_page(struct seg_db *db, struct seg_stmt *stmt, int64_t tenant,
				      int64_t id, const char *after_key, int limit,
				      struct seg_page *page)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id), after_key,
				seg__db_int(lim, limit + 1)};
	bool dynamic;
	enum seg_err err = seg_db_segment_type(db, tenant, id, &dynamic);
	if (!err)
		err = seg__db_page(db, stmt, 4, params, limit, page);
	return err;
}

enum seg_err seg_db_segment_members(struct seg_db *db, int64_t tenant, int64_t id,
				    const char *after_key, int limit, struct seg_page *page)
{
	return seg__segment_page(db, &members_page, tenant, id, after_key, limit, page);
}

enum seg_err seg_db_segment_members_csv(struct seg_db *db, int64_t tenant, int64_t id,
					const char *after_key, const char *paths, int limit,
					struct seg_buf *out, char **last, size_t *rows)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id), after_key,
				seg__db_int(lim, limit), paths ? paths : "[]"};
	return seg__db_csv_chunk(db, &members_csv, 5, params, out, last, rows);
}

/*
 * Locks the segment for a static member change (before anything is written): NOT_FOUND, or
 * CONFLICT when it is dynamic.
 */
static enum seg_err seg__static_segment(struct seg_db *db, const char *const *params)
{
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &static_lock, 1, params + 1, NULL);
	/* its row before any customer's, as a refresh takes the rows of the segments it reads */
	if (!err)
		err = seg__exec_found(db, &segment_lock, 2, params, &res);
	if (err)
		return err;
	err = strcmp(PQgetvalue(res, 0, 0), "static") == 0 ? SEG_OK : SEG_ERR_CONFLICT;
	PQclear(res);
	return err;
}

enum seg_err seg_db_segment_members_add(struct seg_db *db, int64_t tenant, int64_t id,
					const char *ids_json, struct seg_members_added *out)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id), ids_json};
	PGresult *res = NULL;
	enum seg_err err;

	memset(out, 0, sizeof(*out));
	err = seg_db_begin(db);
	if (!err)
		err = seg__members_lock(db, tenant);
	if (!err)
		err = seg__static_segment(db, params);
	if (!err)
		err = seg__db_exec(db, &members_add, 3, params, &res);
	if (!err) {
		size_t found = (size_t)strtoull(PQgetvalue(res, 0, 1), NULL, 10);
		size_t asked = (size_t)strtoull(PQgetvalue(res, 0, 2), NULL, 10);
		out->added = (size_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		out->already = found - out->added;
		out->missing = asked - found;
		out->missing_ids = seg__db_strdup(res, 0, 4);
		if (out->added) /* the segments that refer to this one follow */
			err = seg__members_step(db, tenant, SEG__CHANGED_IDS, PQgetvalue(res, 0, 3),
						SEG_RULE_DEP_SEGMENTS, NULL, NULL);
		if (!err && out->added)
			err = seg__db_exec(db, &static_size, 2, params, NULL);
	}
	if (!err)
		err = seg_db_commit(db);
	if (err) {
		seg_db_rollback(db);
		free(out->missing_ids);
		memset(out, 0, sizeof(*out));
	}
	PQclear(res);
	return err;
}

enum seg_err seg_db_segment_member_remove(struct seg_db *db, int64_t tenant, int64_t id,
					  const char *customer_id, bool *segment_found)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id), customer_id};
	const char *cp[] = {tid, customer_id};
	PGresult *res = NULL;
	enum seg_err err;

	*segment_found = false;
	err = seg_db_begin(db);
	if (!err)
		err = seg__members_lock(db, tenant);
	if (!err)
		err = seg__static_segment(db, params);
	if (err == SEG_OK || err == SEG_ERR_CONFLICT)
		*segment_found = true;
	if (!err)
		err = seg__db_exec(db, &member_touch_customer, 2, cp, NULL);
	if (!err)
		err = seg__exec_found(db, &member_remove, 3, params, &res);
	if (!err) {
		/* the customer's id as a one-element text[] literal, quoted */
		struct seg_buf ids = SEG_BUF_INIT;
		seg_buf_addstr(&ids, "{\"");
		for (const char *p = customer_id; *p; p++) {
			if (*p == '"' || *p == '\\')
				seg_buf_addch(&ids, '\\');
			seg_buf_addch(&ids, *p);
		}
		seg_buf_addstr(&ids, "\"}");
		err = seg__members_step(db, tenant, SEG__CHANGED_IDS, ids.data,
					SEG_RULE_DEP_SEGMENTS, NULL, NULL);
		seg_buf_release(&ids);
	}
	if (!err)
		err = seg__db_exec(db, &static_size, 2, params, NULL);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	PQclear(res);
	return err;
}

enum seg_err seg_db_customer_segments(struct seg_db *db, int64_t tenant, const char *customer_id,
				      char **json)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), customer_id};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &customer_segments, 2, params, &res);
	*json = NULL;
	if (err)
		return err;
	*json = seg__db_strdup(res, 0, 0);
	PQclear(res);
	return *json ? SEG_OK : SEG_ERR_NOT_FOUND;
}

enum seg_err seg_db_customer_list_segment(struct seg_db *db, int64_t tenant, int64_t segment,
					  const char *after_key, int limit, struct seg_page *page)
{
	return seg__segment_page(db, &customer_list_segment, tenant, segment, after_key, limit,
				 page);
}

enum seg_err seg_db_segment_history(struct seg_db *db, int64_t tenant, int64_t id,
				    const char *after_key, int limit, struct seg_page *page)
{
	if (!seg__db_int_key(after_key))
		return SEG_ERR_MALFORMED;
	return seg__segment_page(db, &segment_history, tenant, id, after_key, limit, page);
}

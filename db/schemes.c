/*
 * Schemes (SPEC §5.5): their definitions, the report's combination counts, assignments as
 * JSON pages and CSV batches, snapshots of the assignment and the transitions between two.
 * The model (tables, the report's one pass, compact snapshots) is in db/README.md ("Schemes").
 *
 * The report and a snapshot read the scheme's memberships in one pass (segment_id = ANY of the
 * scheme's ids, grouped by customer): each customer's segments as a bit mask (the report) or
 * the first of them in priority order (a snapshot). They run unprepared, planned with the ids
 * they read.
 *
 * Lock order: a scheme's row (FOR UPDATE by a change, FOR NO KEY UPDATE by a snapshot, so both
 * serialise per scheme), then the rows of the segments it names (FOR KEY SHARE, id order),
 * then scheme_segments. Deleting a segment takes that segment's row FOR UPDATE first, so a
 * scheme can never gain a segment that is being deleted.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define SEG__SNAPSHOT_JSON                                                                \
	"json_build_object('id', s.id::text, 'at', seg_ts(s.at), 'trigger', s.trigger, "  \
	"'customers', s.customers, 'assigned', s.assigned, 'unassigned', s.customers - "  \
	"s.assigned, 'changed', s.changed, 'segments', coalesce((SELECT json_agg("        \
	"json_build_object('id', u.id::text, 'name', u.name) ORDER BY u.o) FROM "         \
	"unnest(s.segment_ids, s.segment_names) WITH ORDINALITY u(id, name, o)), '[]'), " \
	"'fallback', s.fallback)::text"

/* The segments named in $2 (bigint[]) that the tenant has, locked against deletion. */
SEG_STMT(scheme_lock_segments, "SELECT s.id FROM segments s WHERE s.tenant_id = $1 "
			       "AND s.id = ANY($2::bigint[]) ORDER BY s.id FOR KEY SHARE");
SEG_STMT(scheme_insert, "INSERT INTO schemes (tenant_id, name, fallback, min_segment_size) "
			"VALUES ($1, $2, $3, coalesce($4::bigint, 1)) RETURNING id");
SEG_STMT(scheme_segments_clear,
	 "DELETE FROM scheme_segments WHERE tenant_id = $1 AND scheme_id = $2");
SEG_STMT(scheme_segments_insert,
	 "INSERT INTO scheme_segments (tenant_id, scheme_id, position, segment_id) "
	 "SELECT $1, $2, u.o, u.id FROM unnest($3::bigint[]) WITH ORDINALITY u(id, o)");
SEG_STMT(scheme_lock, "SELECT 1 FROM schemes WHERE tenant_id = $1 AND id = $2 FOR UPDATE");
SEG_STMT(scheme_update,
	 "UPDATE schemes SET name = coalesce($3, name), "
	 "fallback = CASE WHEN $4::boolean THEN $5 ELSE fallback END, "
	 "min_segment_size = coalesce($6::bigint, min_segment_size), updated_at = now() "
	 "WHERE tenant_id = $1 AND id = $2");
SEG_STMT(scheme_delete, "DELETE FROM schemes WHERE tenant_id = $1 AND id = $2 RETURNING id");
SEG_STMT(scheme_delete_assignments,
	 "DELETE FROM scheme_assignments WHERE tenant_id = $1 AND scheme_id = $2");
SEG_STMT(scheme_delete_snapshots,
	 "DELETE FROM scheme_snapshots WHERE tenant_id = $1 AND scheme_id = $2");
SEG_STMT(scheme_list,
	 "SELECT json_build_object('id', k.id::text, 'name', k.name, 'segments', "
	 "coalesce((SELECT json_agg(json_build_object('id', s.id::text, 'name', s.name) "
	 "ORDER BY ss.position) FROM scheme_segments ss JOIN segments s ON s.tenant_id = "
	 "ss.tenant_id AND s.id = ss.segment_id WHERE ss.tenant_id = k.tenant_id "
	 "AND ss.scheme_id = k.id), '[]'), 'fallback', k.fallback, 'min_segment_size', "
	 "k.min_segment_size, 'created_at', seg_ts(k.created_at), 'updated_at', "
	 "seg_ts(k.updated_at))::text, k.id::text FROM schemes k WHERE k.tenant_id = $1 "
	 "AND ($2::bigint IS NULL OR k.id > $2::bigint) ORDER BY k.id LIMIT $3");
SEG_STMT(scheme_get, "SELECT k.name, k.fallback, k.min_segment_size, seg_ts(k.created_at), "
		     "seg_ts(k.updated_at) FROM schemes k WHERE k.tenant_id = $1 AND k.id = $2");
SEG_STMT(scheme_exists, "SELECT 1 FROM schemes WHERE tenant_id = $1 AND id = $2");
/* A snapshot locks its scheme (after the scheme's own changes, before its segments). */
SEG_STMT(scheme_snapshot_lock, "SELECT k.fallback FROM schemes k WHERE k.tenant_id = $1 "
			       "AND k.id = $2 FOR NO KEY UPDATE");
SEG_STMT(scheme_segment_rows,
	 "SELECT ss.segment_id, s.name FROM scheme_segments ss JOIN segments s "
	 "ON s.tenant_id = ss.tenant_id AND s.id = ss.segment_id "
	 "WHERE ss.tenant_id = $1 AND ss.scheme_id = $2 ORDER BY ss.position");
SEG_STMT(scheme_snapshot_insert,
	 "INSERT INTO scheme_snapshots (tenant_id, scheme_id, trigger, segment_ids, "
	 "segment_names, fallback) VALUES ($1, $2, $3, $4::bigint[], $5::text[], $6) RETURNING id");
SEG_STMT(scheme_snapshot_list, "SELECT " SEG__SNAPSHOT_JSON ", s.id::text FROM scheme_snapshots s "
			       "WHERE s.tenant_id = $1 AND s.scheme_id = $2 AND ($3::bigint IS "
			       "NULL OR s.id > $3::bigint) ORDER BY s.id LIMIT $4");
SEG_STMT(scheme_of_segment, "SELECT scheme_id FROM scheme_segments WHERE tenant_id = $1 "
			    "AND segment_id = $2 ORDER BY scheme_id");
/* The latest snapshot at or before $3. */
SEG_STMT(scheme_snapshot_at, "SELECT s.id, seg_ts(s.at), s.fallback FROM scheme_snapshots s "
			     "WHERE s.tenant_id = $1 AND s.scheme_id = $2 AND s.at <= "
			     "$3::timestamptz ORDER BY s.at DESC, s.id DESC LIMIT 1");
SEG_STMT(scheme_snapshot_segments,
	 "SELECT u.id, u.name FROM scheme_snapshots s CROSS JOIN LATERAL "
	 "unnest(s.segment_ids, s.segment_names) WITH ORDINALITY u(id, name, o) "
	 "WHERE s.tenant_id = $1 AND s.id = $2 ORDER BY u.o");
/*
 * The transitions between snapshots $3 and $4 ($3 <= $4): each customer's latest row at or
 * before each, by two scans of the scheme's rows in customer order (the unique index), merged
 * by customer; customers gone or absent at either are left out.
 */
#define SEG__LATEST(snap)                                                            \
	"(SELECT DISTINCT ON (h.customer_id) h.customer_id, h.segment_id, h.gone "   \
	"FROM scheme_assignments h WHERE h.tenant_id = $1 AND h.scheme_id = $2 AND " \
	"h.snapshot_id <= " snap " ORDER BY h.customer_id, h.snapshot_id DESC)"
SEG_STMT(scheme_transitions,
	 "SELECT coalesce(f.segment_id, 0), coalesce(t.segment_id, 0), count(*) "
	 "FROM " SEG__LATEST("$3") " f JOIN " SEG__LATEST(
		 "$4") " t ON t.customer_id = "
		       "f.customer_id WHERE NOT f.gone AND NOT t.gone GROUP BY 1, 2");

/*
 * A customer's assignment: the first of the scheme's segments (by position) it belongs to, by
 * one probe of memberships per segment of the scheme; c is the customers row, k the scheme's.
 */
#define SEG__ASSIGNED                                                                             \
	"LEFT JOIN LATERAL (SELECT s.id AS sid, s.name FROM scheme_segments ss JOIN memberships " \
	"m ON m.tenant_id = ss.tenant_id AND m.segment_id = ss.segment_id AND m.customer_id = "   \
	"c.id JOIN segments s ON s.tenant_id = ss.tenant_id AND s.id = ss.segment_id WHERE "      \
	"ss.tenant_id = k.tenant_id AND ss.scheme_id = k.id ORDER BY ss.position LIMIT 1) a ON "  \
	"true "
#define SEG__PAGE_CUSTOMERS                                                                       \
	"FROM schemes k CROSS JOIN LATERAL (SELECT c.id FROM customers c WHERE c.tenant_id = $1 " \
	"AND ($3::text IS NULL OR c.id > $3) ORDER BY c.id LIMIT $4) c "
SEG_STMT(scheme_assignments_page,
	 "SELECT json_build_object('customer_id', c.id, 'segment_id', a.sid::text, 'segment', "
	 "CASE WHEN a.sid IS NULL THEN k.fallback ELSE a.name END)::text, c.id " SEG__PAGE_CUSTOMERS
		 SEG__ASSIGNED "WHERE k.tenant_id = $1 AND k.id = $2 ORDER BY c.id");
SEG_STMT(scheme_assignments_csv,
	 "SELECT coalesce(string_agg(b.line, '' ORDER BY b.id), ''), "
	 "max(b.id), count(*) FROM "
	 "(SELECT c.id, " SEG__CSV("c.id") " || ',' || coalesce(a.sid::text, '') || ',' "
					   "|| " SEG__CSV(
						   "coalesce(CASE WHEN a.sid IS NULL "
						   "THEN k.fallback ELSE a.name END, "
						   "'')") " || "
							  "E'\\r\\n' AS "
							  "line " SEG__PAGE_CUSTOMERS SEG__ASSIGNED
							  "WHERE k.tenant_id = $1 AND "
							  "k.id = $2) b");

/*
 * Each customer's segments of the scheme as a mask (bit p: element p + 1 of the bigint[] $2),
 * from one pass over the scheme's memberships, grouped by customer. Run unprepared, so that it
 * is planned with the ids it reads (a scan of memberships_customer in customer order, or the
 * segments' ranges of the primary key and a hash, as their share of the tenant's memberships
 * says).
 */
#define SEG__MASKS(ids)                                                                           \
	"SELECT m.customer_id, bit_or(1::bigint << (array_position(" ids ", m.segment_id) - 1)) " \
	"AS mask FROM memberships m WHERE m.tenant_id = $1 AND m.segment_id = ANY(" ids ") "      \
	"GROUP BY m.customer_id"
/* The tenant's customers (mask NULL), then the customers of each combination of segments. */
static const char seg__report_sql[] =
	"SELECT NULL::bigint, count(*) FROM customers c WHERE c.tenant_id = $1 UNION ALL "
	"SELECT x.mask, count(*) FROM (" SEG__MASKS("$2::bigint[]") ") x GROUP BY x.mask";
/*
 * A snapshot ($3, its row inserted) of scheme $2 whose segments are $4: every customer's
 * assignment (the first of its segments in the scheme's order), beside the previous snapshot's
 * (each customer's latest row); the customers whose assignment differs are stored, then the counts.
 */
static const char seg__snapshot_sql[] =
	"WITH cur AS MATERIALIZED (SELECT c.id AS customer_id, ($4::bigint[])[a.p] AS sid "
	"FROM customers c LEFT JOIN (SELECT m.customer_id, min(array_position($4::bigint[], "
	"m.segment_id)) AS p FROM memberships m WHERE m.tenant_id = $1 AND m.segment_id = "
	"ANY($4::bigint[]) GROUP BY m.customer_id) a ON a.customer_id = c.id "
	"WHERE c.tenant_id = $1), "
	"prev AS (SELECT DISTINCT ON (h.customer_id) h.customer_id, h.segment_id, h.gone "
	"FROM scheme_assignments h WHERE h.tenant_id = $1 AND h.scheme_id = $2 "
	"ORDER BY h.customer_id, h.snapshot_id DESC), "
	"ins AS (INSERT INTO scheme_assignments (tenant_id, scheme_id, customer_id, "
	"snapshot_id, segment_id, gone) SELECT $1, $2, coalesce(cur.customer_id, "
	"p.customer_id), $3, cur.sid, cur.customer_id IS NULL FROM cur FULL JOIN "
	"(SELECT * FROM prev WHERE NOT prev.gone) p ON p.customer_id = cur.customer_id "
	"WHERE cur.customer_id IS NULL OR p.customer_id IS NULL "
	"OR cur.sid IS DISTINCT FROM p.segment_id RETURNING 1), "
	"upd AS (UPDATE scheme_snapshots s SET customers = (SELECT count(*) FROM cur), "
	"assigned = (SELECT count(cur.sid) FROM cur), changed = (SELECT count(*) FROM ins) "
	"WHERE s.tenant_id = $1 AND s.id = $3::bigint RETURNING s.*) "
	"SELECT " SEG__SNAPSHOT_JSON " FROM upd s";

/* ids[0..n) as a bigint[] literal. */
static void seg__ids_literal(struct seg_buf *out, const int64_t *ids, size_t n)
{
	seg_buf_addch(out, '{');
	for (size_t i = 0; i < n; i++)
		seg_buf_addf(out, i ? ",%lld" : "%lld", (long long)ids[i]);
	seg_buf_addch(out, '}');
}

/*
 * Checks that every id of ids[0..n) names a segment of the tenant and locks them (FOR KEY
 * SHARE) for the transaction. SEG_ERR_INVALID with missing[i] set for each one that does not.
 */
static enum seg_err seg__lock_segments(struct seg_db *db, const char *tid, const int64_t *ids,
				       size_t n, bool *missing)
{
	struct seg_buf lit = SEG_BUF_INIT;
	PGresult *res;
	enum seg_err err;
	bool any = false;

	seg__ids_literal(&lit, ids, n);
	const char *params[] = {tid, lit.data};
	err = seg__db_exec(db, &scheme_lock_segments, 2, params, &res);
	seg_buf_release(&lit);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		bool found = false;
		for (int r = 0; r < PQntuples(res) && !found; r++)
			found = strtoll(PQgetvalue(res, r, 0), NULL, 10) == ids[i];
		missing[i] = !found;
		any = any || !found;
	}
	PQclear(res);
	return any ? SEG_ERR_INVALID : SEG_OK;
}

static enum seg_err seg__segments_write(struct seg_db *db, const char *tid, const char *sid,
					const int64_t *ids, size_t n)
{
	struct seg_buf lit = SEG_BUF_INIT;
	const char *params[] = {tid, sid, NULL};
	enum seg_err err = seg__db_exec(db, &scheme_segments_clear, 2, params, NULL);
	seg__ids_literal(&lit, ids, n);
	params[2] = lit.data;
	if (!err)
		err = seg__db_exec(db, &scheme_segments_insert, 3, params, NULL);
	seg_buf_release(&lit);
	return err;
}

enum seg_err seg__scheme_insert(struct seg_db *db, int64_t tenant,
				const struct seg_scheme_input *in, int64_t *id, bool *missing)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT], min[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), in->name, in->fallback,
				in->set_min ? seg__db_int(min, in->min_segment_size) : NULL};
	PGresult *res = NULL;
	enum seg_err err;

	*id = 0;
	err = seg__lock_segments(db, tid, in->segments, in->nsegments, missing);
	if (!err)
		err = seg__db_exec(db, &scheme_insert, 4, params, &res);
	if (!err) {
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		err = seg__segments_write(db, tid, seg__db_int(sid, *id), in->segments,
					  in->nsegments);
	}
	if (err)
		*id = 0;
	PQclear(res);
	return err;
}

enum seg_err seg_db_scheme_create(struct seg_db *db, int64_t tenant,
				  const struct seg_scheme_input *in, int64_t *id, bool *missing)
{
	enum seg_err err = seg_db_begin(db);

	*id = 0;
	if (!err)
		err = seg__scheme_insert(db, tenant, in, id, missing);
	if (!err)
		err = seg_db_commit(db);
	if (err) {
		seg_db_rollback(db);
		*id = 0;
	}
	return err;
}

enum seg_err seg_db_scheme_patch(struct seg_db *db, int64_t tenant, int64_t id,
				 const struct seg_scheme_input *in, bool *missing)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT], min[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant),
				seg__db_int(sid, id),
				in->name,
				in->set_fallback ? "true" : "false",
				in->fallback,
				in->set_min ? seg__db_int(min, in->min_segment_size) : NULL};
	PGresult *res = NULL;
	enum seg_err err = seg_db_begin(db);

	if (!err)
		err = seg__db_exec(db, &scheme_lock, 2, params, &res);
	if (!err && PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	if (!err && in->set_segments)
		err = seg__lock_segments(db, tid, in->segments, in->nsegments, missing);
	if (!err)
		err = seg__db_exec(db, &scheme_update, 6, params, NULL);
	if (!err && in->set_segments)
		err = seg__segments_write(db, tid, sid, in->segments, in->nsegments);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	PQclear(res);
	return err;
}

enum seg_err seg_db_scheme_delete(struct seg_db *db, int64_t tenant, int64_t id)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id)};
	PGresult *res = NULL;
	enum seg_err err = seg_db_begin(db);

	if (!err)
		err = seg__db_exec(db, &scheme_delete, 2, params, &res);
	if (!err && PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	if (!err)
		err = seg__db_exec(db, &scheme_delete_assignments, 2, params, NULL);
	if (!err)
		err = seg__db_exec(db, &scheme_delete_snapshots, 2, params, NULL);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	PQclear(res);
	return err;
}

enum seg_err seg_db_scheme_list(struct seg_db *db, int64_t tenant, const char *after_key, int limit,
				struct seg_page *page)
{
	char tid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), after_key, seg__db_int(lim, limit + 1)};
	if (!seg__db_int_key(after_key))
		return SEG_ERR_MALFORMED;
	return seg__db_page(db, &scheme_list, 3, params, limit, page);
}

/* The scheme's segments (ids and names in priority order) into s. */
static enum seg_err seg__segment_rows(struct seg_db *db, const char *const *params,
				      struct seg_scheme *s)
{
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &scheme_segment_rows, 2, params, &res);
	if (err)
		return err;
	for (int i = 0; i < PQntuples(res); i++)
		seg_scheme_add_segment(s, strtoll(PQgetvalue(res, i, 0), NULL, 10),
				       PQgetvalue(res, i, 1));
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_scheme_report(struct seg_db *db, int64_t tenant, int64_t id,
				  struct seg_scheme *out)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id), NULL};
	struct seg_buf ids = SEG_BUF_INIT;
	PGresult *res = NULL;
	enum seg_err err;

	seg_scheme_release(out);
	out->id = id;
	/* the definition and the counts from one snapshot */
	err = seg_db_begin(db);
	if (!err)
		err = seg__db_query(db,
				    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0,
				    NULL, NULL);
	if (!err)
		err = seg__db_exec(db, &scheme_get, 2, params, &res);
	if (!err && PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	if (err)
		goto out;
	out->name = seg__db_strdup(res, 0, 0);
	out->fallback = seg__db_strdup(res, 0, 1);
	out->min_segment_size = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	out->created_at = seg__db_strdup(res, 0, 3);
	out->updated_at = seg__db_strdup(res, 0, 4);
	PQclear(res);
	res = NULL;
	err = seg__segment_rows(db, params, out);
	if (err)
		goto out;
	if (out->nsegments > SEG_SCHEME_SEGMENTS_MAX) {
		err = SEG_ERR_INTERNAL;
		goto out;
	}
	seg_buf_addch(&ids, '{');
	for (size_t i = 0; i < out->nsegments; i++)
		seg_buf_addf(&ids, i ? ",%lld" : "%lld", (long long)out->segments[i].id);
	seg_buf_addch(&ids, '}');
	params[1] = ids.data;
	/*
	 * The tenant's customers (a NULL mask), then one row per combination of segments with its
	 * customers: each customer's mask of segments, from one pass over the memberships.
	 */
	err = seg__db_query(db, seg__report_sql, 2, params, &res);
	if (err)
		goto out;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t count = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		if (PQgetisnull(res, i, 0))
			out->customers = count;
		else
			seg_scheme_add_combo(
				out, (uint64_t)strtoll(PQgetvalue(res, i, 0), NULL, 10), count);
	}
	err = seg_db_commit(db);
out:
	if (err)
		seg_db_rollback(db);
	PQclear(res);
	seg_buf_release(&ids);
	return err;
}

/* SEG_ERR_NOT_FOUND when the tenant has no such scheme. */
static enum seg_err seg__scheme_exists(struct seg_db *db, const char *const *params)
{
	PGresult *res = NULL;
	enum seg_err err = seg__db_exec(db, &scheme_exists, 2, params, &res);
	if (!err && PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	PQclear(res);
	return err;
}

enum seg_err seg_db_scheme_assignments(struct seg_db *db, int64_t tenant, int64_t id,
				       const char *after_key, int limit, struct seg_page *page)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id), after_key,
				seg__db_int(lim, limit + 1)};
	enum seg_err err = seg__scheme_exists(db, params);
	if (!err)
		err = seg__db_page(db, &scheme_assignments_page, 4, params, limit, page);
	return err;
}

enum seg_err seg_db_scheme_assignments_csv(struct seg_db *db, int64_t tenant, int64_t id,
					   const char *after_key, int limit, struct seg_buf *out,
					   char **last, size_t *rows)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id), after_key,
				seg__db_int(lim, limit)};
	return seg__db_csv_chunk(db, &scheme_assignments_csv, 4, params, out, last, rows);
}

enum seg_err seg_db_scheme_exists(struct seg_db *db, int64_t tenant, int64_t id)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id)};
	return seg__scheme_exists(db, params);
}

/*
 * One snapshot of one scheme in one transaction: lock the scheme, record its definition, then
 * one statement computes every customer's assignment (one merged pass over the memberships,
 * beside the customers in id order), diffs it with the previous snapshot's (each customer's
 * latest row, one index scan), stores the differences and the counts.
 */
static enum seg_err seg__snapshot(struct seg_db *db, int64_t tenant, int64_t id,
				  const char *trigger, bool long_tx, char **json)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *params[] = {
		seg__db_int(tid, tenant), seg__db_int(sid, id), NULL, NULL, NULL, NULL};
	struct seg_scheme s;
	struct seg_buf ids = SEG_BUF_INIT, names = SEG_BUF_INIT;
	char *fallback = NULL, *snap = NULL;
	PGresult *res = NULL;
	enum seg_err err;

	seg_scheme_init(&s);
	*json = NULL;
	err = long_tx ? seg__db_begin_long(db) : seg_db_begin(db);
	if (err)
		return err;
	err = seg__db_exec(db, &scheme_snapshot_lock, 2, params, &res);
	if (!err && PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	if (err)
		goto out;
	fallback = seg__db_strdup(res, 0, 0);
	PQclear(res);
	res = NULL;
	err = seg__segment_rows(db, params, &s);
	if (err)
		goto out;
	seg_buf_addch(&ids, '{');
	for (size_t i = 0; i < s.nsegments; i++) {
		seg_buf_addf(&ids, i ? ",%lld" : "%lld", (long long)s.segments[i].id);
		seg__db_array_add(&names, s.segments[i].name);
	}
	seg_buf_addch(&ids, '}');
	if (!names.len)
		seg_buf_addstr(&names, "{}");
	const char *ip[] = {tid, sid, trigger, ids.data, names.data, fallback};
	err = seg__db_exec(db, &scheme_snapshot_insert, 6, ip, &res);
	if (err)
		goto out;
	snap = seg__db_strdup(res, 0, 0);
	PQclear(res);
	res = NULL;
	params[2] = snap;
	params[3] = ids.data;
	err = seg__db_query(db, seg__snapshot_sql, 4, params, &res);
	if (err)
		goto out;
	*json = seg__db_strdup(res, 0, 0);
	err = seg_db_commit(db);
out:
	if (err) {
		seg_db_rollback(db);
		free(*json);
		*json = NULL;
	}
	PQclear(res);
	free(fallback);
	free(snap);
	seg_buf_release(&ids);
	seg_buf_release(&names);
	seg_scheme_release(&s);
	return err;
}

enum seg_err seg_db_scheme_snapshot(struct seg_db *db, int64_t tenant, int64_t id, char **json)
{
	return seg__snapshot(db, tenant, id, "manual", false, json);
}

enum seg_err seg_db_scheme_snapshot_segment(struct seg_db *db, int64_t tenant, int64_t segment,
					    const struct seg_job_hooks *hooks, int *taken)
{
	char tid[SEG_INT_TEXT], gid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(gid, segment)};
	PGresult *res = NULL;
	enum seg_err err = seg__db_exec(db, &scheme_of_segment, 2, params, &res);

	*taken = 0;
	for (int i = 0; !err && i < PQntuples(res); i++) {
		char *json = NULL;
		if (hooks && hooks->stopping(hooks->ctx))
			break;
		err = seg__snapshot(db, tenant, strtoll(PQgetvalue(res, i, 0), NULL, 10), "refresh",
				    true, &json);
		if (err == SEG_ERR_NOT_FOUND) /* deleted meanwhile */
			err = SEG_OK;
		else if (!err)
			(*taken)++;
		free(json);
	}
	PQclear(res);
	return err;
}

enum seg_err seg_db_scheme_snapshots(struct seg_db *db, int64_t tenant, int64_t id,
				     const char *after_key, int limit, struct seg_page *page)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id), after_key,
				seg__db_int(lim, limit + 1)};
	enum seg_err err;
	if (!seg__db_int_key(after_key))
		return SEG_ERR_MALFORMED;
	err = seg__scheme_exists(db, params);
	if (!err)
		err = seg__db_page(db, &scheme_snapshot_list, 4, params, limit, page);
	return err;
}

/* The latest snapshot at or before at, with its segments; *found false when there is none. */
static enum seg_err seg__snapshot_at(struct seg_db *db, const char *const *params, const char *at,
				     struct seg_scheme_snap *out, bool *found)
{
	const char *p[] = {params[0], params[1], at};
	char snap[SEG_INT_TEXT];
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &scheme_snapshot_at, 3, p, &res);

	*found = false;
	if (err)
		return err;
	if (PQntuples(res) == 1) {
		*found = true;
		out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		out->at = seg__db_strdup(res, 0, 1);
		out->fallback = seg__db_strdup(res, 0, 2);
	}
	PQclear(res);
	if (!*found)
		return SEG_OK;
	p[1] = seg__db_int(snap, out->id);
	err = seg__db_exec(db, &scheme_snapshot_segments, 2, p, &res);
	if (err)
		return err;
	for (int i = 0; i < PQntuples(res); i++)
		seg_scheme_snap_add_segment(out, strtoll(PQgetvalue(res, i, 0), NULL, 10),
					    PQgetvalue(res, i, 1));
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_scheme_transitions(struct seg_db *db, int64_t tenant, int64_t id,
				       const char *from, const char *to,
				       struct seg_scheme_transitions *out)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT], a[SEG_INT_TEXT], b[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id), NULL, NULL};
	PGresult *res = NULL;
	enum seg_err err = seg__scheme_exists(db, params);

	if (!err)
		err = seg__snapshot_at(db, params, from, &out->from, &out->from_found);
	if (!err)
		err = seg__snapshot_at(db, params, to, &out->to, &out->to_found);
	if (err || !out->from_found || !out->to_found)
		return err;
	params[2] = seg__db_int(a, out->from.id);
	params[3] = seg__db_int(b, out->to.id);
	err = seg__db_exec(db, &scheme_transitions, 4, params, &res);
	if (err)
		return err;
	out->nflows = (size_t)PQntuples(res);
	out->flows = seg_calloc(out->nflows + 1, sizeof(*out->flows));
	for (size_t i = 0; i < out->nflows; i++) {
		out->flows[i].from = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
		out->flows[i].to = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
		out->flows[i].count = strtoll(PQgetvalue(res, (int)i, 2), NULL, 10);
	}
	PQclear(res);
	return SEG_OK;
}

void seg_scheme_transitions_release(struct seg_scheme_transitions *t)
{
	seg_scheme_snap_release(&t->from);
	seg_scheme_snap_release(&t->to);
	free(t->flows);
	memset(t, 0, sizeof(*t));
}

/*
 * Segment profiles and overlaps (SPEC §5.4: GET /v1/segments/{id}/profile and
 * GET /v1/segments:overlap). The model is db/README.md "Profiles and overlap".
 *
 * A profile is three statements in one REPEATABLE READ, READ ONLY transaction (one snapshot):
 * the segment's row; ONE pass over the segment's members (their attributes unnested with
 * jsonb_each and aggregated by attribute, JSON type and value, their metrics collected on the
 * first row of each member), which classifies the attributes, computes every numeric statistic
 * and picks the ten most frequent values of each categorical attribute; then ONE pass over the
 * tenant's customers, which counts those top values in the whole base (for lift), the
 * customers and their revenue (for share and revenue_share). Both statements run unprepared:
 * they are planned with their actual parameters, so the base pass can test each value against
 * a hashed constant array of the top values, and the planner sees the real sizes.
 *
 * An overlap is one pass over the memberships of the segments asked for: each customer's
 * memberships become a bitmask (bit i: the i-th segment), the customers are counted per mask,
 * and the pair counts are summed from the masks here.
 *
 * Threads: any thread with a borrowed connection.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* The segment's name (as a JSON string) and its persona card. */
SEG_STMT(profile_segment, "SELECT to_json(s.name)::text, s.profile::text FROM segments s "
			  "WHERE s.tenant_id = $1 AND s.id = $2");

/*
 * The pass over the members. $1 tenant, $2 segment, $3 the most attributes profiled.
 * Columns: size, the "numeric" object, the top values of the categorical attributes as
 * {attr: {"m": mode, "v": {value's JSON text: count}}}, the dotted paths read (text[]),
 * the members' revenue, the top values as "len:attr<JSON>" (text[], for the base pass), the
 * attributes whose lists count (text[]), the metrics object (without revenue_share), the
 * number of attributes there were to profile.
 *
 * g is the one pass: a row per (attribute, JSON type, listable value); ks/kc/kr classify and
 * rank the attributes (mode: numeric, string, boolean, list, or any for an unregistered
 * categorical one); num, cv/ct/cat and ms/met derive the numeric statistics, the top values
 * and the metrics from g alone.
 */
static const char seg__profile_members_sql[] =
	"WITH defs AS ( "
	"SELECT d.name AS key, d.type FROM attribute_definitions d WHERE d.tenant_id = $1), "
	"paths AS ( "
	"SELECT coalesce(array_agg(d.key ORDER BY d.key COLLATE \"C\") "
	"FILTER (WHERE strpos(d.key, '.') > 0), '{}') AS p FROM defs d), "
	"g AS MATERIALIZED ( "
	"SELECT e.key, jsonb_typeof(e.value) AS t, CASE jsonb_typeof(e.value) "
	"WHEN 'string' THEN CASE WHEN octet_length(e.value #>> '{}') <= 256 THEN e.value END "
	"WHEN 'boolean' THEN e.value WHEN 'array' THEN e.value END AS sv, "
	"count(*) AS n, "
	"array_agg(e.value::float8) FILTER (WHERE jsonb_typeof(e.value) = 'number') AS arr, "
	"count(*) FILTER (WHERE e.o IS NULL OR e.o = 1) AS members, "
	"sum(c.revenue) FILTER (WHERE e.o IS NULL OR e.o = 1) AS rev, "
	"array_agg(ARRAY[c.orders::float8, c.revenue::float8, "
	"seg_avg_order_value(c.orders, c.revenue)::float8, "
	"seg_days_since(c.last_purchase_at)::float8, "
	"seg_days_since(seg_tenure_start(c.created_at, c.first_event_at))::float8, "
	"c.events::float8]) FILTER (WHERE e.o IS NULL OR e.o = 1) AS mm "
	"FROM memberships m "
	"JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id "
	"CROSS JOIN paths "
	"LEFT JOIN LATERAL jsonb_each(CASE WHEN cardinality(paths.p) = 0 THEN c.attributes "
	"ELSE seg_profile_attrs(c.attributes, paths.p) END) "
	"WITH ORDINALITY e(key, value, o) ON true "
	"WHERE m.tenant_id = $1 AND m.segment_id = $2 "
	"GROUP BY 1, 2, 3), "
	"sz AS (SELECT coalesce(sum(g.members), 0)::bigint AS n, coalesce(sum(g.rev), 0) AS rev "
	"FROM g), "
	"ks AS ( "
	"SELECT g.key, sum(g.n) FILTER (WHERE g.t <> 'null') AS present, "
	"sum(g.n) FILTER (WHERE g.t = 'number') AS nnum, "
	"sum(g.n) FILTER (WHERE g.t IN ('string', 'boolean', 'array')) AS ncat, "
	"sum(g.n) FILTER (WHERE g.t = 'object') AS nobj "
	"FROM g WHERE g.key IS NOT NULL GROUP BY g.key), "
	"kc AS ( "
	"SELECT coalesce(d.key, ks.key) AS key, coalesce(ks.present, 0) AS present, "
	"CASE WHEN d.type IN ('number', 'integer') THEN 'numeric' "
	"WHEN d.type IN ('string', 'boolean') THEN d.type "
	"WHEN d.type = 'string_list' THEN 'list' "
	"WHEN d.type IS NOT NULL THEN NULL "
	"WHEN ks.nnum > 0 AND ks.ncat IS NULL AND ks.nobj IS NULL THEN 'numeric' "
	"WHEN ks.ncat > 0 THEN 'any' END AS mode "
	"FROM ks FULL JOIN defs d ON d.key = ks.key), "
	"kr AS ( "
	"SELECT kc.key, kc.mode, row_number() OVER (ORDER BY kc.present DESC, kc.key COLLATE "
	"\"C\") AS rk "
	"FROM kc WHERE kc.mode IS NOT NULL), "
	"kt AS (SELECT * FROM kr WHERE kr.rk <= $3), "
	"num AS ( "
	"SELECT coalesce(json_object_agg(kt.key, seg_profile_stats(g.arr, sz.n) "
	"ORDER BY kt.key COLLATE \"C\"), '{}') AS j "
	"FROM kt LEFT JOIN g ON g.key = kt.key AND g.t = 'number' CROSS JOIN sz "
	"WHERE kt.mode = 'numeric'), "
	"cv AS ( "
	"SELECT kt.key, g.sv AS v, g.n FROM kt JOIN g ON g.key = kt.key "
	"WHERE g.sv IS NOT NULL AND ((g.t = 'string' AND kt.mode IN ('string', 'any')) "
	"OR (g.t = 'boolean' AND kt.mode IN ('boolean', 'any'))) "
	"UNION ALL "
	"SELECT kt.key, e.v, g.n FROM kt JOIN g ON g.key = kt.key "
	"CROSS JOIN LATERAL (SELECT DISTINCT x AS v FROM jsonb_array_elements(g.sv) x "
	"WHERE jsonb_typeof(x) = 'string' AND octet_length(x #>> '{}') <= 256) e "
	"WHERE g.t = 'array' AND kt.mode IN ('list', 'any')), "
	"ct AS ( "
	"SELECT x.key, x.v, x.n FROM (SELECT cs.key, cs.v, cs.n, row_number() OVER (PARTITION BY "
	"cs.key "
	"ORDER BY cs.n DESC, cs.v #>> '{}' COLLATE \"C\", cs.v::text COLLATE \"C\") AS rn "
	"FROM (SELECT cv.key, cv.v, sum(cv.n) AS n FROM cv GROUP BY cv.key, cv.v) cs) x "
	"WHERE x.rn <= 10), "
	"cat AS ( "
	"SELECT coalesce(jsonb_object_agg(kt.key, jsonb_build_object('m', kt.mode, "
	"'v', coalesce(vv.o, '{}'))), '{}') AS o, "
	"coalesce(array_agg(kt.key) FILTER (WHERE kt.mode IN ('list', 'any')), '{}') AS lists, "
	"(SELECT coalesce(array_agg(length(ct.key) || ':' || ct.key || ct.v::text), '{}') "
	"FROM ct JOIN kt ON kt.key = ct.key WHERE kt.mode <> 'list') AS pairs "
	"FROM kt LEFT JOIN (SELECT ct.key, jsonb_object_agg(ct.v::text, ct.n) AS o FROM ct "
	"GROUP BY ct.key) vv ON vv.key = kt.key "
	"WHERE kt.mode <> 'numeric'), "
	"ms AS ( "
	"SELECT (u.o - 1) % 6 AS i, seg_profile_stats(array_agg(u.x), sz.n) AS s "
	"FROM g CROSS JOIN LATERAL unnest(g.mm) WITH ORDINALITY u(x, o) CROSS JOIN sz "
	"GROUP BY 1, sz.n), "
	"met AS ( "
	"SELECT coalesce((SELECT ms.s FROM ms WHERE ms.i = 0), seg_profile_stats(NULL, sz.n)) AS "
	"orders, "
	"coalesce((SELECT ms.s FROM ms WHERE ms.i = 1), seg_profile_stats(NULL, sz.n)) AS revenue, "
	"coalesce((SELECT ms.s FROM ms WHERE ms.i = 2), seg_profile_stats(NULL, sz.n)) AS aov, "
	"coalesce((SELECT ms.s FROM ms WHERE ms.i = 3), seg_profile_stats(NULL, sz.n)) AS recency, "
	"coalesce((SELECT ms.s FROM ms WHERE ms.i = 4), seg_profile_stats(NULL, sz.n)) AS tenure, "
	"coalesce((SELECT ms.s FROM ms WHERE ms.i = 5), seg_profile_stats(NULL, sz.n)) AS events "
	"FROM sz) "
	"SELECT sz.n, num.j::text, cat.o::text, paths.p::text, sz.rev::text, "
	"cat.pairs::text, cat.lists::text, "
	"json_build_object('avg_revenue', met.revenue -> 'mean', 'avg_orders', met.orders -> "
	"'mean', "
	"'avg_recency_days', met.recency -> 'mean', 'orders', met.orders, "
	"'revenue', met.revenue, 'avg_order_value', met.aov, 'recency_days', met.recency, "
	"'tenure_days', met.tenure, 'events', met.events)::text, "
	"(SELECT count(*) FROM kr) "
	"FROM sz, num, cat, paths, met ";

/*
 * The pass over the base. $1 tenant, $2 the top values object, $3 the dotted paths, $4 the
 * top values as "len:attr<JSON>", $5 the attributes whose lists count, $6 the segment's size,
 * $7 its revenue. x is the one pass (a row per attribute and top value or list, and per
 * attribute for the rest; customers and revenue counted on each customer's first row); bc
 * expands the lists; cat builds each attribute's list in order. Columns: the "categorical"
 * object, share, revenue_share.
 */
static const char seg__profile_base_sql[] =
	"WITH x AS ( "
	"SELECT e.key AS k, CASE WHEN CASE jsonb_typeof(e.value) WHEN 'array' THEN e.key = "
	"ANY($5::text[]) "
	"WHEN 'string' THEN length(e.key) || ':' || e.key || e.value::text = ANY($4::text[]) "
	"WHEN 'boolean' THEN length(e.key) || ':' || e.key || e.value::text = ANY($4::text[]) "
	"ELSE false END THEN e.value::text END AS w, "
	"count(*) AS n, count(*) FILTER (WHERE e.o IS NULL OR e.o = 1) AS customers, "
	"sum(c.revenue) FILTER (WHERE e.o IS NULL OR e.o = 1) AS rev "
	"FROM customers c "
	"LEFT JOIN LATERAL jsonb_each(CASE WHEN cardinality($3::text[]) = 0 THEN c.attributes "
	"ELSE seg_profile_attrs(c.attributes, $3::text[]) END) WITH ORDINALITY e(key, value, o) ON "
	"true "
	"WHERE c.tenant_id = $1 "
	"GROUP BY 1, 2), "
	"b AS (SELECT coalesce(sum(x.customers), 0) AS n, coalesce(sum(x.rev), 0) AS rev FROM x), "
	"bc AS ( "
	"SELECT q.k, q.j, sum(q.n) AS n FROM ( "
	"SELECT x.k, x.w AS j, x.n FROM x WHERE x.w IS NOT NULL AND left(x.w, 1) <> '[' "
	"UNION ALL "
	"SELECT x.k, e.e::text, x.n FROM x CROSS JOIN LATERAL (SELECT DISTINCT e FROM "
	"jsonb_array_elements(x.w::jsonb) e "
	"WHERE jsonb_typeof(e) = 'string') e "
	"WHERE x.w IS NOT NULL AND left(x.w, 1) = '[') q "
	"GROUP BY q.k, q.j), "
	"cat AS ( "
	"SELECT tk.key, coalesce(json_agg(json_build_object('value', tv.key::jsonb, "
	"'count', tv.value::bigint, 'share', tv.value::float8 / $6::bigint, "
	"'lift', (tv.value::float8 / $6::bigint) / (bc.n::float8 / b.n)) "
	"ORDER BY tv.value::bigint DESC, tv.key::jsonb #>> '{}' COLLATE \"C\", tv.key COLLATE "
	"\"C\") "
	"FILTER (WHERE tv.key IS NOT NULL), '[]') AS list "
	"FROM jsonb_each($2::jsonb) tk(key, val) "
	"LEFT JOIN LATERAL jsonb_each_text(tk.val -> 'v') tv ON true "
	"LEFT JOIN bc ON bc.k = tk.key AND bc.j = tv.key "
	"CROSS JOIN b "
	"GROUP BY tk.key) "
	"SELECT (SELECT coalesce(json_object_agg(cat.key, cat.list ORDER BY cat.key COLLATE "
	"\"C\"), '{}') FROM cat)::text, "
	"CASE WHEN b.n > 0 THEN $6::bigint::float8 / b.n ELSE 0 END, "
	"CASE WHEN b.rev <> 0 THEN $7::numeric::float8 / b.rev::float8 ELSE 0 END "
	"FROM b ";

/* Runs the statements of a profile; the caller's transaction holds the snapshot. */
static enum seg_err seg__profile(struct seg_db *db, int64_t tenant, int64_t id, char **json)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT], max[SEG_INT_TEXT];
	const char *p0[] = {seg__db_int(tid, tenant), seg__db_int(sid, id)};
	const char *p1[] = {tid, sid, seg__db_int(max, SEG_PROFILE_ATTRS_MAX)};
	PGresult *seg = NULL, *mem = NULL, *base = NULL;
	struct seg_buf out = SEG_BUF_INIT;
	enum seg_err err = seg__db_exec(db, &profile_segment, 2, p0, &seg);

	if (err)
		goto out;
	if (PQntuples(seg) == 0) {
		err = SEG_ERR_NOT_FOUND;
		goto out;
	}
	err = seg__db_query(db, seg__profile_members_sql, 3, p1, &mem);
	if (err)
		goto out;
	const char *p2[] = {tid,
			    PQgetvalue(mem, 0, 2),
			    PQgetvalue(mem, 0, 3),
			    PQgetvalue(mem, 0, 5),
			    PQgetvalue(mem, 0, 6),
			    PQgetvalue(mem, 0, 0),
			    PQgetvalue(mem, 0, 4)};
	err = seg__db_query(db, seg__profile_base_sql, 7, p2, &base);
	if (err)
		goto out;

	long long profiled = strtoll(PQgetvalue(mem, 0, 8), NULL, 10);
	const char *metrics = PQgetvalue(mem, 0, 7);
	seg_buf_addf(&out, "{\"segment_id\":\"%lld\",\"name\":%s,\"size\":%s,\"share\":%s,",
		     (long long)id, PQgetvalue(seg, 0, 0), PQgetvalue(mem, 0, 0),
		     PQgetvalue(base, 0, 1));
	seg_buf_addf(&out, "\"attributes\":{\"profiled\":%lld,\"truncated\":%s},",
		     profiled < SEG_PROFILE_ATTRS_MAX ? profiled : (long long)SEG_PROFILE_ATTRS_MAX,
		     profiled > SEG_PROFILE_ATTRS_MAX ? "true" : "false");
	seg_buf_addf(&out, "\"numeric\":%s,\"categorical\":%s,", PQgetvalue(mem, 0, 1),
		     PQgetvalue(base, 0, 0));
	/* the metrics object of the members' pass, with revenue_share from the base's in front */
	seg_buf_addf(&out, "\"metrics\":{\"revenue_share\":%s,", PQgetvalue(base, 0, 2));
	seg_buf_addstr(&out, metrics + strspn(metrics, "{ "));
	seg_buf_addf(&out, ",\"profile\":%s}", PQgetvalue(seg, 0, 1));
	*json = seg_buf_detach(&out, NULL);
out:
	seg_buf_release(&out);
	PQclear(seg);
	PQclear(mem);
	PQclear(base);
	return err;
}

enum seg_err seg_db_segment_profile(struct seg_db *db, int64_t tenant, int64_t id, char **json)
{
	enum seg_err err = seg_db_begin(db);

	*json = NULL;
	if (!err)
		err = seg__db_query(db,
				    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0,
				    NULL, NULL);
	if (!err)
		err = seg__profile(db, tenant, id, json);
	if (!err)
		err = seg_db_commit(db);
	if (err) {
		seg_db_rollback(db);
		free(*json);
		*json = NULL;
	}
	return err;
}

/* ----- overlap ---------------------------------------------------------------------------- */

SEG_STMT(overlap_segments, "SELECT s.id, to_json(s.name)::text FROM segments s "
			   "WHERE s.tenant_id = $1 AND s.id = ANY($2::bigint[])");
/*
 * The customers counted by the set of the segments ($2, in that order) they are members of:
 * bit i of mask is the (i+1)-th segment of $2. One pass over those memberships, which the
 * planner can read in customer order (memberships_customer) and group without hashing.
 */
SEG_STMT(overlap_masks,
	 "SELECT x.mask, count(*) FROM (SELECT bit_or(1::bigint << "
	 "(array_position($2::bigint[], m.segment_id) - 1)) AS mask FROM memberships m "
	 "WHERE m.tenant_id = $1 AND m.segment_id = ANY($2::bigint[]) "
	 "GROUP BY m.customer_id) x GROUP BY x.mask");

/* A Jaccard index as a JSON number: 0 when the union is empty. */
static void seg__jaccard_add(struct seg_buf *out, long long both, long long either)
{
	if (either == 0 || both == 0)
		seg_buf_addch(out, '0');
	else if (both == either)
		seg_buf_addch(out, '1');
	else
		seg_json_add_double(out, (double)both / (double)either);
}

enum seg_err seg_db_segments_overlap(struct seg_db *db, int64_t tenant, const int64_t *ids,
				     size_t n, int64_t *unknown, char **json)
{
	char tid[SEG_INT_TEXT];
	struct seg_buf arr = SEG_BUF_INIT, out = SEG_BUF_INIT;
	PGresult *segs = NULL, *masks = NULL;
	char **names = seg_calloc(n ? n : 1, sizeof(char *));
	long long *counts = seg_calloc(n > 0 ? n * n : 1, sizeof(long long));
	enum seg_err err;

	*json = NULL;
	*unknown = 0;
	seg_buf_addch(&arr, '{');
	for (size_t i = 0; i < n; i++)
		seg_buf_addf(&arr, "%s%lld", i ? "," : "", (long long)ids[i]);
	seg_buf_addch(&arr, '}');
	const char *params[] = {seg__db_int(tid, tenant), arr.data};

	err = seg_db_begin(db);
	if (!err)
		err = seg__db_query(db,
				    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0,
				    NULL, NULL);
	if (!err)
		err = seg__db_exec(db, &overlap_segments, 2, params, &segs);
	if (err)
		goto out;
	for (int r = 0; r < PQntuples(segs); r++) {
		long long sid = strtoll(PQgetvalue(segs, r, 0), NULL, 10);
		for (size_t i = 0; i < n; i++)
			if (ids[i] == sid && !names[i])
				names[i] = seg_strdup(PQgetvalue(segs, r, 1));
	}
	for (size_t i = 0; i < n; i++) {
		if (!names[i]) {
			*unknown = ids[i];
			err = SEG_ERR_NOT_FOUND;
			goto out;
		}
	}
	err = seg__db_exec(db, &overlap_masks, 2, params, &masks);
	if (err)
		goto out;
	for (int r = 0; r < PQntuples(masks); r++) {
		unsigned long long mask = strtoull(PQgetvalue(masks, r, 0), NULL, 10);
		long long c = strtoll(PQgetvalue(masks, r, 1), NULL, 10);
		for (size_t i = 0; i < n; i++) {
			if (!(mask >> i & 1))
				continue;
			for (size_t j = 0; j < n; j++)
				if (mask >> j & 1)
					counts[i * n + j] += c;
		}
	}
	err = seg_db_commit(db);
	if (err)
		goto out;

	seg_buf_addstr(&out, "{\"segments\":[");
	for (size_t i = 0; i < n; i++)
		seg_buf_addf(&out, "%s{\"id\":\"%lld\",\"name\":%s,\"size\":%lld}", i ? "," : "",
			     (long long)ids[i], names[i], counts[i * n + i]);
	seg_buf_addstr(&out, "],\"counts\":[");
	for (size_t i = 0; i < n; i++) {
		seg_buf_addstr(&out, i ? ",[" : "[");
		for (size_t j = 0; j < n; j++)
			seg_buf_addf(&out, "%s%lld", j ? "," : "", counts[i * n + j]);
		seg_buf_addch(&out, ']');
	}
	seg_buf_addstr(&out, "],\"jaccard\":[");
	for (size_t i = 0; i < n; i++) {
		seg_buf_addstr(&out, i ? ",[" : "[");
		for (size_t j = 0; j < n; j++) {
			long long both = counts[i * n + j];
			long long either = counts[i * n + i] + counts[j * n + j] - both;
			if (j)
				seg_buf_addch(&out, ',');
			seg__jaccard_add(&out, both, either);
		}
		seg_buf_addch(&out, ']');
	}
	seg_buf_addstr(&out, "]}");
	*json = seg_buf_detach(&out, NULL);
out:
	if (err)
		seg_db_rollback(db);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(counts);
	PQclear(segs);
	PQclear(masks);
	seg_buf_release(&arr);
	seg_buf_release(&out);
	return err;
}

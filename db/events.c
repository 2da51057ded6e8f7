/*
 * Events: the batched ingest (idempotent by client id, creating unknown customers, keeping
 * the customers' metrics current in the same transaction) and the per-customer list.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "rule.h"
#include "timefmt.h"

SEG_STMT(customer_exists, "SELECT 1 FROM customers WHERE tenant_id = $1 AND id = $2");
SEG_STMT(events_list,
	 "SELECT json_build_object('id', e.id, 'customer_id', e.customer_id, 'type', e.type, "
	 "'occurred_at', seg_ts(e.occurred_at), 'amount', e.amount, 'properties', e.properties, "
	 "'received_at', seg_ts(e.received_at))::text, seg_ts(e.occurred_at) || '|' || e.seq "
	 "FROM events e WHERE e.tenant_id = $1 AND e.customer_id = $2 "
	 "AND ($3::text IS NULL OR e.type = $3) "
	 "AND ($4::timestamptz IS NULL OR e.occurred_at >= $4) "
	 "AND ($5::timestamptz IS NULL OR e.occurred_at < $5) "
	 "AND ($6::timestamptz IS NULL OR (e.occurred_at, e.seq) < ($6, $7::bigint)) "
	 "ORDER BY e.occurred_at DESC, e.seq DESC LIMIT $8");

void seg_event_rows_add(struct seg_buf *rows, size_t line, const char *id, const char *customer_id,
			const char *type, const char *occurred_at, const char *doc, size_t doc_len)
{
	seg_buf_addf(rows, "%zu\t", line);
	seg_buf_add_copy_field(rows, id, id ? strlen(id) : 0);
	seg_buf_addch(rows, '\t');
	seg_buf_add_copy_field(rows, customer_id, strlen(customer_id));
	seg_buf_addch(rows, '\t');
	seg_buf_add_copy_field(rows, type, strlen(type));
	seg_buf_addch(rows, '\t');
	seg_buf_add_copy_field(rows, occurred_at, strlen(occurred_at));
	seg_buf_addch(rows, '\t');
	seg_buf_add_copy_field(rows, doc, doc_len);
	seg_buf_addch(rows, '\n');
}

static const char seg__stage_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS seg_stage_events (line bigint, id text COLLATE \"C\", "
	"customer_id text COLLATE \"C\", type text, occurred_at timestamptz, doc jsonb) "
	"ON COMMIT DELETE ROWS";

/*
 * The customers' metrics (SPEC §4) as a function of their events, written once: `src` is a
 * relation of (customer_id, type, occurred_at, amount) whose events are added to the metrics
 * of their customers, creating the customers that do not exist yet, in id order (so that
 * concurrent batches take the row locks in one order). Used by the ingest (the events a batch
 * inserted) and by the recompute (every event of the tenant, after zeroing the metrics).
 * Every customer it touches gets a new rev (db/README.md "Memberships").
 */
#define SEG__METRICS_ADD(src)                                                                  \
	"rt AS (SELECT revenue_event_types AS types FROM tenants WHERE id = $1), "             \
	"agg AS (SELECT i.customer_id, count(*) AS n, "                                        \
	"count(*) FILTER (WHERE i.type = ANY (rt.types)) AS orders, "                          \
	"coalesce(sum(i.amount) FILTER (WHERE i.type = ANY (rt.types)), 0) AS revenue, "       \
	"min(i.occurred_at) AS fe, max(i.occurred_at) AS le, "                                 \
	"min(i.occurred_at) FILTER (WHERE i.type = ANY (rt.types)) AS fp, "                    \
	"max(i.occurred_at) FILTER (WHERE i.type = ANY (rt.types)) AS lp "                     \
	"FROM " src " i CROSS JOIN rt GROUP BY i.customer_id), "                               \
	"upd AS (INSERT INTO customers AS c (tenant_id, id, events, orders, revenue, "         \
	"first_event_at, last_event_at, first_purchase_at, last_purchase_at) "                 \
	"SELECT $1, agg.customer_id, agg.n, agg.orders, agg.revenue, agg.fe, agg.le, agg.fp, " \
	"agg.lp FROM agg ORDER BY agg.customer_id "                                            \
	"ON CONFLICT (tenant_id, id) DO UPDATE SET events = c.events + EXCLUDED.events, "      \
	"orders = c.orders + EXCLUDED.orders, revenue = c.revenue + EXCLUDED.revenue, "        \
	"first_event_at = least(c.first_event_at, EXCLUDED.first_event_at), "                  \
	"last_event_at = greatest(c.last_event_at, EXCLUDED.last_event_at), "                  \
	"first_purchase_at = least(c.first_purchase_at, EXCLUDED.first_purchase_at), "         \
	"last_purchase_at = greatest(c.last_purchase_at, EXCLUDED.last_purchase_at), "         \
	"rev = c.rev + 1 RETURNING 1) "

/*
 * Inserts the staged events (a repeated id, stored or earlier in the batch, is skipped: the
 * first wins) and adds them to their customers' metrics, in one statement.
 */
static const char seg__ingest_sql[] =
	"WITH ins AS (INSERT INTO events (tenant_id, id, customer_id, type, occurred_at, amount, "
	"properties) SELECT $1, s.id, s.customer_id, s.type, s.occurred_at, "
	"(s.doc ->> 'amount')::numeric, "
	"CASE WHEN jsonb_typeof(s.doc -> 'properties') = 'object' THEN s.doc -> 'properties' "
	"ELSE '{}' END "
	"FROM seg_stage_events s ORDER BY s.line ON CONFLICT (tenant_id, id) DO NOTHING "
	"RETURNING customer_id, type, occurred_at, amount), " SEG__METRICS_ADD(
		"ins") "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM seg_stage_events) "
		       "- "
		       "(SELECT count(*) FROM ins), (SELECT count(*) FROM upd)";

static const char seg__zero_sql[] =
	"UPDATE customers SET events = 0, orders = 0, revenue = 0, first_event_at = NULL, "
	"last_event_at = NULL, first_purchase_at = NULL, last_purchase_at = NULL, rev = rev + 1 "
	"WHERE tenant_id = $1";
static const char seg__recompute_sql[] =
	"WITH " SEG__METRICS_ADD("(SELECT customer_id, type, occurred_at, amount FROM events "
				 "WHERE tenant_id = $1)") "SELECT count(*) FROM upd";

enum seg_err seg_db_events_ingest(struct seg_db *db, int64_t tenant, const struct seg_buf *rows,
				  size_t *accepted, size_t *duplicates)
{
	static const struct seg__batch spec = {
		.stage_sql = seg__stage_sql,
		.copy_sql = "COPY seg_stage_events FROM STDIN",
		.sql = seg__ingest_sql,
		.changed = SEG__CHANGED_STAGE_EVENTS,
		.what = SEG_RULE_DEP_EVENTS | SEG_RULE_DEP_METRICS,
	};
	return seg__db_batch(db, &spec, tenant, rows, accepted, duplicates);
}

enum seg_err seg__events_recompute_metrics(struct seg_db *db, int64_t tenant)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant)};
	enum seg_err err = seg__db_query(db, seg__zero_sql, 1, params, NULL);
	if (!err)
		err = seg__db_query(db, seg__recompute_sql, 1, params, NULL);
	if (!err)
		err = seg__members_step(db, tenant, SEG__CHANGED_ALL, NULL, SEG_RULE_DEP_METRICS,
					NULL, NULL);
	return err;
}

enum seg_err seg_db_events_list(struct seg_db *db, int64_t tenant, const char *customer_id,
				const char *type, const char *since, const char *until,
				const char *after_key, int limit, struct seg_page *page)
{
	char tid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	char *after_ts = NULL;
	const char *after_seq = NULL;
	PGresult *res = NULL;
	enum seg_err err;

	if (after_key) {
		const char *bar = strrchr(after_key, '|');
		int64_t us;
		if (!bar || !seg_rfc3339_parse(after_key, (size_t)(bar - after_key), &us) ||
		    !bar[1] || strspn(bar + 1, "0123456789") != strlen(bar + 1) ||
		    strlen(bar + 1) > 18)
			return SEG_ERR_MALFORMED;
		after_ts = seg_strndup(after_key, (size_t)(bar - after_key));
		after_seq = bar + 1;
	}
	const char *exists_params[] = {seg__db_int(tid, tenant), customer_id};
	err = seg__db_exec(db, &customer_exists, 2, exists_params, &res);
	if (err)
		goto out;
	if (PQntuples(res) == 0) {
		err = SEG_ERR_NOT_FOUND;
		goto out;
	}
	PQclear(res);
	res = NULL;
	const char *params[] = {tid,   customer_id, type,      since,
				until, after_ts,    after_seq, seg__db_int(lim, limit + 1)};
	err = seg__db_exec(db, &events_list, 8, params, &res);
	if (err)
		goto out;
	seg__db_page_fill(page, res, limit);
out:
	PQclear(res);
	free(after_ts);
	return err;
}

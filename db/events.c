/*
 * Events: the batched ingest (idempotent by client id, creating unknown customers, keeping
 * the customers' metrics current in the same transaction) and the per-customer list.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jsonspan.h"
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
	const char *v;
	size_t vlen;

	seg_buf_addf(rows, "%zu\t", line);
	seg_buf_add_copy_field(rows, id, id ? strlen(id) : 0);
	seg_buf_addch(rows, '\t');
	seg_buf_add_copy_field(rows, customer_id, strlen(customer_id));
	seg_buf_addch(rows, '\t');
	seg_buf_add_copy_field(rows, type, strlen(type));
	seg_buf_addch(rows, '\t');
	seg_buf_add_copy_field(rows, occurred_at, strlen(occurred_at));
	seg_buf_addch(rows, '\t');
	/* the amount's own text (a number or null, as checked), so it stays exact */
	if (seg_json_member_span(doc, doc_len, "amount", &v, &vlen) && *v != 'n')
		seg_buf_add(rows, v, vlen);
	else
		seg_buf_addstr(rows, "\\N");
	seg_buf_addch(rows, '\t');
	if (seg_json_member_span(doc, doc_len, "properties", &v, &vlen) && *v == '{')
		seg_buf_add_copy_field(rows, v, vlen);
	else
		seg_buf_addstr(rows, "{}");
	seg_buf_addch(rows, '\n');
}

/*
 * The staged events: properties as text (PostgreSQL parses them once, as the COPY into events
 * stores them). The events themselves are COPYed into events from the same rows (see
 * seg__events_copy), so that PostgreSQL inserts them in bulk, as a plain COPY does.
 */
static const char seg__stage_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS seg_stage_events (line bigint, id text COLLATE \"C\", "
	"customer_id text COLLATE \"C\", type text, occurred_at timestamptz, amount numeric, "
	"properties text) ON COMMIT DELETE ROWS";

/*
 * The customers' metrics (SPEC §4) as a function of their events, written once: `src` is a
 * relation of (customer_id, type, occurred_at, amount) whose events are added to the metrics
 * of their customers, creating the customers that do not exist yet, in id order (so that
 * concurrent batches take the row locks in one order). Used by the ingest (the events a batch
 * inserted) and by the recompute (every event of the tenant, after zeroing the metrics).
 * Every customer it touches gets a new rev (db/README.md "Memberships"). upd returns each
 * customer's id and whether this transaction created it.
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
	"rev = c.rev + 1 RETURNING c.id, c.created_at = now() AS created) "

/*
 * Adds the staged events to their customers' metrics, in one statement; the customers it
 * created go to seg_stage_created, for the step. Returns the counts of new and repeated
 * events, and the lines of the repeated ones ("" for none). seg__ingest_sql leaves out the
 * repeated ids (stored, or earlier in the batch: the first wins), each found by a probe of the
 * unique index (LIMIT 1 keeps it a probe per event whatever the planner believes of the
 * table's size); seg__ingest_new_sql, for a batch already COPYed into events (so none of its
 * ids was taken), counts them all.
 */
#define SEG__INGEST(dup)                                                                          \
	"WITH dup AS MATERIALIZED (" dup "), "                                                    \
	"ins AS MATERIALIZED (SELECT s.customer_id, s.type, s.occurred_at, s.amount "             \
	"FROM seg_stage_events s WHERE NOT EXISTS (SELECT 1 FROM dup "                            \
	"WHERE dup.line = s.line)), " SEG__METRICS_ADD(                                           \
		"ins") ", cr AS (INSERT INTO seg_stage_created (id) SELECT upd.id FROM upd "      \
		       "WHERE upd.created) "                                                      \
		       "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM dup), "          \
		       "(SELECT coalesce(string_agg(dup.line::text, ',' ORDER BY dup.line), '') " \
		       "FROM dup)"
static const char seg__ingest_sql[] = SEG__INGEST(
	"SELECT s.line FROM seg_stage_events s CROSS JOIN LATERAL (SELECT 1 FROM events e "
	"WHERE e.tenant_id = $1 AND e.id = s.id LIMIT 1) e WHERE s.id IS NOT NULL UNION "
	"SELECT w.line FROM (SELECT s.line, row_number() OVER (PARTITION BY s.id ORDER BY "
	"s.line) AS k FROM seg_stage_events s WHERE s.id IS NOT NULL) w WHERE w.k > 1");
static const char seg__ingest_new_sql[] = SEG__INGEST("SELECT NULL::bigint AS line WHERE false");

/*
 * COPYs the staged rows, but the lines of dup (ascending, comma-separated), into events: a row
 * of rows is "line\t<the events' columns>\n", so each becomes "<tenant>\t<the events'
 * columns>\n". PostgreSQL then inserts them in bulk, as a plain COPY does. An id taken
 * meanwhile by a concurrent transaction (or, with dup "", any taken id) fails the COPY as a
 * unique violation.
 */
static enum seg_err seg__events_copy(struct seg_db *db, int64_t tenant, const struct seg_buf *rows,
				     const char *dup)
{
	struct seg_buf out = SEG_BUF_INIT;
	char tid[SEG_INT_TEXT];
	enum seg_err err = SEG_OK;

	seg__db_int(tid, tenant);
	for (size_t at = 0; at < rows->len;) {
		const char *row = rows->data + at;
		const char *end = memchr(row, '\n', rows->len - at);
		size_t len = end ? (size_t)(end - row) + 1 : rows->len - at;
		const char *tab = memchr(row, '\t', len);
		at += len;
		if (!tab)
			continue;
		unsigned long long line = strtoull(row, NULL, 10);
		if (*dup && strtoull(dup, NULL, 10) == line) {
			dup = strchr(dup, ',');
			dup = dup ? dup + 1 : "";
			continue;
		}
		seg_buf_addstr(&out, tid);
		seg_buf_add(&out, tab, len - (size_t)(tab - row));
	}
	if (out.len)
		err = seg__db_copy(db,
				   "COPY events (tenant_id, id, customer_id, type, occurred_at, "
				   "amount, properties) FROM STDIN",
				   out.data, out.len);
	seg_buf_release(&out);
	return err;
}

/*
 * Applies a staged events batch. At first it is optimistic: the batch is COPYed into events
 * whole, then counted into the metrics; a repeated id fails the COPY at once (a unique
 * violation), and the batch is tried again carefully: the repeated ids are found first and
 * left out of the COPY.
 */
static enum seg_err seg__events_apply(struct seg_db *db, int64_t tenant, const struct seg_buf *rows,
				      bool careful, size_t *accepted, size_t *duplicates)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant)};
	PGresult *res = NULL;
	enum seg_err err = SEG_OK;

	if (!careful)
		err = seg__events_copy(db, tenant, rows, "");
	if (!err)
		err = seg__db_query(db, careful ? seg__ingest_sql : seg__ingest_new_sql, 1, params,
				    &res);
	if (!err) {
		*accepted = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		*duplicates = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
		if (careful)
			err = seg__events_copy(db, tenant, rows, PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return err;
}

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
		.created_sql = SEG__STAGE_CREATED_SQL,
		.copy_sql = "COPY seg_stage_events FROM STDIN",
		.apply = seg__events_apply,
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

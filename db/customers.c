/*
 * Customers: single-row writes and reads, the paged list, and the batched upsert behind the
 * import. Attributes arrive as the client's JSON text and are merged by seg_merge_patch in
 * SQL, so a concurrent PATCH never loses another one's keys (the row lock orders them).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "rule.h"

SEG_STMT(customer_put,
	 "INSERT INTO customers AS c (tenant_id, id, kind, attributes) "
	 "VALUES ($1, $2, $3, CASE WHEN jsonb_typeof($4::jsonb -> 'attributes') = 'object' "
	 "THEN seg_merge_patch('{}', $4::jsonb -> 'attributes') ELSE '{}' END) "
	 "ON CONFLICT (tenant_id, id) DO UPDATE SET kind = EXCLUDED.kind, "
	 "attributes = EXCLUDED.attributes, updated_at = now(), rev = c.rev + 1 "
	 "RETURNING seg_customer_json(c)::text, xmax = 0");
SEG_STMT(customer_patch, "UPDATE customers c SET kind = coalesce($3, c.kind), "
			 "attributes = CASE WHEN NOT $4::jsonb ? 'attributes' THEN c.attributes "
			 "WHEN jsonb_typeof($4::jsonb -> 'attributes') = 'null' THEN '{}' "
			 "ELSE seg_merge_patch(c.attributes, $4::jsonb -> 'attributes') END, "
			 "updated_at = now(), rev = c.rev + 1 WHERE c.tenant_id = $1 AND c.id = $2 "
			 "RETURNING seg_customer_json(c)::text");
SEG_STMT(customer_get, "SELECT seg_customer_json(c)::text FROM customers c "
		       "WHERE c.tenant_id = $1 AND c.id = $2");
/*
 * Erasure: its events, its rows in the stores of the tenant's analyses and its metrics (no
 * foreign keys), then the row. seg_analysis_forget (migration 0008) runs once, as the CTE
 * that the final DELETE reads (a CTE that is not read would not run).
 */
SEG_STMT(customer_delete,
	 "WITH e AS (DELETE FROM events WHERE tenant_id = $1 AND customer_id = $2), "
	 "a AS (SELECT seg_analysis_forget($1, ARRAY[$2::text]) AS n), "
	 "s AS (DELETE FROM customer_scores WHERE tenant_id = $1 AND customer_id = $2) "
	 "DELETE FROM customers WHERE tenant_id = $1 AND id = $2 "
	 "AND (SELECT a.n FROM a) IS NOT NULL RETURNING 1");
SEG_STMT(customer_list, "SELECT seg_customer_json(c)::text, c.id FROM customers c "
			"WHERE c.tenant_id = $1 AND ($2::text IS NULL OR c.id > $2) "
			"ORDER BY c.id LIMIT $3");

/*
 * One customer's write in one transaction, the shape of every single-customer write:
 * seg__members_lock, the statement, then the membership step for that customer (what:
 * SEG_RULE_DEP_* bits of what changed). *out gets the statement's result (NULL when it returned
 * no row: the step is skipped, nothing changed). Tried again on a deadlock.
 */
static enum seg_err seg__customer_write(struct seg_db *db, int64_t tenant, const char *id,
					struct seg_stmt *stmt, int n, const char *const *params,
					unsigned what, PGresult **out)
{
	struct seg_buf ids = SEG_BUF_INIT;
	enum seg_err err = SEG_OK;

	*out = NULL;
	seg__db_array_add(&ids, id);
	for (int attempt = 0; attempt < 5; attempt++) {
		err = seg_db_begin(db);
		if (!err)
			err = seg__members_lock(db, tenant);
		if (!err)
			err = seg__db_exec(db, stmt, n, params, out);
		if (!err && PQntuples(*out) > 0)
			err = seg__members_step(db, tenant, SEG__CHANGED_IDS, ids.data, what, NULL,
						NULL);
		if (!err)
			err = seg_db_commit(db);
		if (!err)
			break;
		PQclear(*out);
		*out = NULL;
		seg_db_rollback(db);
		if (!seg__db_retryable(db))
			break;
	}
	seg_buf_release(&ids);
	return err;
}

enum seg_err seg_db_customer_put(struct seg_db *db, int64_t tenant, const char *id,
				 const char *kind, const char *doc, bool *created, char **json)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), id, kind ? kind : "person", doc};
	PGresult *res;
	enum seg_err err = seg__customer_write(db, tenant, id, &customer_put, 4, params,
					       SEG_RULE_DEP_ATTRS, &res);
	*json = NULL;
	if (err)
		return err;
	*json = seg__db_strdup(res, 0, 0);
	*created = PQgetvalue(res, 0, 1)[0] == 't';
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_customer_patch(struct seg_db *db, int64_t tenant, const char *id,
				   const char *kind, const char *doc, char **json)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), id, kind, doc};
	PGresult *res;
	enum seg_err err = seg__customer_write(db, tenant, id, &customer_patch, 4, params,
					       SEG_RULE_DEP_ATTRS, &res);
	*json = NULL;
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	else
		*json = seg__db_strdup(res, 0, 0);
	PQclear(res);
	return err;
}

enum seg_err seg_db_customer_get(struct seg_db *db, int64_t tenant, const char *id, char **json)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), id};
	return seg__db_json_row(db, &customer_get, 2, params, json);
}

enum seg_err seg_db_customer_delete(struct seg_db *db, int64_t tenant, const char *id)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), id};
	PGresult *res;
	/* the step sees the customer gone: it leaves every segment, and the feed says so */
	enum seg_err err = seg__customer_write(db, tenant, id, &customer_delete, 2, params,
					       SEG_RULE_DEP_ATTRS, &res);
	if (err)
		return err;
	err = PQntuples(res) ? SEG_OK : SEG_ERR_NOT_FOUND;
	PQclear(res);
	return err;
}

enum seg_err seg_db_customer_list(struct seg_db *db, int64_t tenant, const char *after_key,
				  int limit, struct seg_page *page)
{
	char tid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), after_key, seg__db_int(lim, limit + 1)};
	return seg__db_page(db, &customer_list, 3, params, limit, page);
}

void seg_customer_rows_add(struct seg_buf *rows, size_t line, const char *id, const char *kind,
			   const char *doc, size_t doc_len, bool flat, bool has_null)
{
	seg_buf_addf(rows, "%zu\t", line);
	seg_buf_add_copy_field(rows, id, strlen(id));
	seg_buf_addch(rows, '\t');
	seg_buf_add_copy_field(rows, kind, kind ? strlen(kind) : 0);
	seg_buf_addch(rows, '\t');
	seg_buf_add_copy_field(rows, doc, doc_len);
	seg_buf_addf(rows, "\t%c\t%c\n", flat ? 't' : 'f', has_null ? 't' : 'f');
}

/*
 * The staging table lives as long as the connection and empties at every commit. Its primary
 * key serves the per-row lookups of the merge below.
 */
static const char seg__stage_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS seg_stage_customers (line bigint, "
	"id text COLLATE \"C\" PRIMARY KEY, kind text, doc jsonb, flat boolean, "
	"has_null boolean) ON COMMIT DELETE ROWS";

/*
 * Merge: a new customer gets the patch applied to {}; an existing one gets it applied to its
 * attributes ("||" when the patch is flat, which is the same and faster), and keeps its kind
 * unless the line gave one. The staged row is looked up by id because EXCLUDED holds only
 * what would have been inserted.
 */
static const char seg__merge_sql[] =
	"WITH up AS (INSERT INTO customers AS c (tenant_id, id, kind, attributes) "
	"SELECT $1, s.id, coalesce(s.kind, 'person'), "
	"CASE WHEN s.has_null THEN seg_merge_patch('{}', s.doc -> 'attributes') "
	"ELSE coalesce(s.doc -> 'attributes', '{}') END "
	"FROM seg_stage_customers s ORDER BY s.id "
	"ON CONFLICT (tenant_id, id) DO UPDATE SET (kind, attributes, updated_at, rev) = "
	"(SELECT coalesce(s.kind, c.kind), CASE WHEN NOT s.doc ? 'attributes' THEN c.attributes "
	"WHEN s.flat THEN c.attributes || (s.doc -> 'attributes') "
	"ELSE seg_merge_patch(c.attributes, s.doc -> 'attributes') END, now(), c.rev + 1 "
	"FROM seg_stage_customers s WHERE s.id = EXCLUDED.id) "
	"RETURNING xmax = 0 AS inserted) "
	"SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up";

static const char seg__replace_sql[] =
	"WITH up AS (INSERT INTO customers AS c (tenant_id, id, kind, attributes) "
	"SELECT $1, s.id, coalesce(s.kind, 'person'), "
	"CASE WHEN s.has_null THEN seg_merge_patch('{}', s.doc -> 'attributes') "
	"ELSE coalesce(s.doc -> 'attributes', '{}') END "
	"FROM seg_stage_customers s ORDER BY s.id "
	"ON CONFLICT (tenant_id, id) DO UPDATE SET kind = EXCLUDED.kind, "
	"attributes = EXCLUDED.attributes, updated_at = now(), rev = c.rev + 1 "
	"RETURNING xmax = 0 AS inserted) "
	"SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up";

enum seg_err seg_db_customers_upsert(struct seg_db *db, int64_t tenant, const struct seg_buf *rows,
				     bool replace, size_t *inserted, size_t *updated)
{
	const struct seg__batch spec = {
		.stage_sql = seg__stage_sql,
		.copy_sql = "COPY seg_stage_customers FROM STDIN",
		.sql = replace ? seg__replace_sql : seg__merge_sql,
		.changed = SEG__CHANGED_STAGE_CUSTOMERS,
		.what = SEG_RULE_DEP_ATTRS,
	};
	return seg__db_batch(db, &spec, tenant, rows, inserted, updated);
}

void seg_customer_new_rows_add(struct seg_buf *rows, int64_t tenant, const char *id,
			       const char *kind, const char *attributes, size_t attributes_len)
{
	seg_buf_addf(rows, "%lld\t", (long long)tenant);
	seg_buf_add_copy_field(rows, id, strlen(id));
	seg_buf_addch(rows, '\t');
	seg_buf_addstr(rows, kind ? kind : "person");
	seg_buf_addch(rows, '\t');
	seg_buf_add_copy_field(rows, attributes, attributes_len);
	seg_buf_addch(rows, '\n');
}

/*
 * The ids of COPY rows whose second column is the id, as a text[] literal: each field is
 * unescaped from COPY's text format (only the escapes seg_buf_add_copy_field writes).
 */
static void seg__ids_from_copy_rows(struct seg_buf *ids, const struct seg_buf *rows)
{
	struct seg_buf id = SEG_BUF_INIT;
	const char *p = rows->data, *end = rows->data + rows->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *f = memchr(p, '\t', (size_t)((nl ? nl : end) - p));
		if (!nl)
			nl = end;
		seg_buf_reset(&id);
		for (f = f ? f + 1 : nl; f < nl && *f != '\t'; f++) {
			if (*f != '\\' || f + 1 >= nl) {
				seg_buf_addch(&id, *f);
				continue;
			}
			f++;
			seg_buf_addch(&id, *f == 't'   ? '\t'
					   : *f == 'n' ? '\n'
					   : *f == 'r' ? '\r'
						       : *f);
		}
		seg__db_array_add(ids, id.data);
		p = nl + 1;
	}
	seg_buf_release(&id);
}

enum seg_err seg_db_customers_insert_new(struct seg_db *db, int64_t tenant,
					 const struct seg_buf *rows)
{
	struct seg_buf ids = SEG_BUF_INIT;
	enum seg_err err;
	if (!rows->len)
		return SEG_OK;
	err = seg_db_begin(db);
	if (!err)
		err = seg__members_lock(db, tenant);
	/* the ids cost a pass over the rows: only a tenant with segments needs them */
	if (!err && db->members_segments)
		seg__ids_from_copy_rows(&ids, rows);
	if (!err)
		err = seg__db_copy(db,
				   "COPY customers (tenant_id, id, kind, attributes) FROM STDIN",
				   rows->data, rows->len);
	if (!err)
		err = seg__members_step(db, tenant, SEG__CHANGED_IDS, ids.data, SEG_RULE_DEP_ATTRS,
					NULL, NULL);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	seg_buf_release(&ids);
	return err;
}

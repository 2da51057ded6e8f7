/*
 * Customers: single-row writes and reads, the paged list, and the batched upsert behind the
 * import. Attributes arrive as the client's JSON text and are merged by seg_merge_patch in
 * SQL, so a concurrent PATCH never loses another one's keys (the row lock orders them).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

SEG_STMT(customer_put,
	 "INSERT INTO customers AS c (tenant_id, id, kind, attributes) "
	 "VALUES ($1, $2, $3, CASE WHEN jsonb_typeof($4::jsonb -> 'attributes') = 'object' "
	 "THEN seg_merge_patch('{}', $4::jsonb -> 'attributes') ELSE '{}' END) "
	 "ON CONFLICT (tenant_id, id) DO UPDATE SET kind = EXCLUDED.kind, "
	 "attributes = EXCLUDED.attributes, updated_at = now() "
	 "RETURNING seg_customer_json(c)::text, xmax = 0");
SEG_STMT(customer_patch, "UPDATE customers c SET kind = coalesce($3, c.kind), "
			 "attributes = CASE WHEN NOT $4::jsonb ? 'attributes' THEN c.attributes "
			 "WHEN jsonb_typeof($4::jsonb -> 'attributes') = 'null' THEN '{}' "
			 "ELSE seg_merge_patch(c.attributes, $4::jsonb -> 'attributes') END, "
			 "updated_at = now() WHERE c.tenant_id = $1 AND c.id = $2 "
			 "RETURNING seg_customer_json(c)::text");
SEG_STMT(customer_get, "SELECT seg_customer_json(c)::text FROM customers c "
		       "WHERE c.tenant_id = $1 AND c.id = $2");
SEG_STMT(customer_delete, "DELETE FROM customers WHERE tenant_id = $1 AND id = $2 RETURNING 1");
SEG_STMT(customer_list, "SELECT seg_customer_json(c)::text, c.id FROM customers c "
			"WHERE c.tenant_id = $1 AND ($2::text IS NULL OR c.id > $2) "
			"ORDER BY c.id LIMIT $3");

enum seg_err seg_db_customer_put(struct seg_db *db, int64_t tenant, const char *id,
				 const char *kind, const char *doc, bool *created, char **json)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), id, kind ? kind : "person", doc};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &customer_put, 4, params, &res);
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
	return seg__db_json_row(db, &customer_patch, 4, params, json);
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
	enum seg_err err = seg__db_exec(db, &customer_delete, 2, params, &res);
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
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &customer_list, 3, params, &res);
	if (err)
		return err;
	seg__db_page_fill(page, res, limit);
	PQclear(res);
	return SEG_OK;
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
	"ON CONFLICT (tenant_id, id) DO UPDATE SET (kind, attributes, updated_at) = "
	"(SELECT coalesce(s.kind, c.kind), CASE WHEN NOT s.doc ? 'attributes' THEN c.attributes "
	"WHEN s.flat THEN c.attributes || (s.doc -> 'attributes') "
	"ELSE seg_merge_patch(c.attributes, s.doc -> 'attributes') END, now() "
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
	"attributes = EXCLUDED.attributes, updated_at = now() "
	"RETURNING xmax = 0 AS inserted) "
	"SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up";

enum seg_err seg_db_customers_upsert(struct seg_db *db, int64_t tenant, const struct seg_buf *rows,
				     bool replace, size_t *inserted, size_t *updated)
{
	char tid[SEG_INT_TEXT];
	const char *sql[] = {replace ? seg__replace_sql : seg__merge_sql};
	return seg__db_batch(db, seg__stage_sql, "COPY seg_stage_customers FROM STDIN", rows, sql,
			     1, seg__db_int(tid, tenant), inserted, updated);
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

enum seg_err seg_db_customers_insert_new(struct seg_db *db, const struct seg_buf *rows)
{
	enum seg_err err;
	if (!rows->len)
		return SEG_OK;
	err = seg_db_begin(db);
	if (!err)
		err = seg__db_copy(db,
				   "COPY customers (tenant_id, id, kind, attributes) FROM STDIN",
				   rows->data, rows->len);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	return err;
}

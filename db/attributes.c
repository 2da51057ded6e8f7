/*
 * The attribute catalogue: typed definitions that writes are validated against. Registering a
 * definition first looks for customers whose stored value would violate it (seg_attr_valid in
 * SQL mirrors seg_attr_check in lib/attrs.c) and refuses with their ids.
 */
#include "internal.h"

#include <stdlib.h>

#include "alloc.h"

SEG_STMT(attr_catalog, "SELECT name, type, allowed::text FROM attribute_definitions "
		       "WHERE tenant_id = $1 ORDER BY name");
#define SEG_ATTR_JSON                                                                \
	"json_build_object('name', a.name, 'type', a.type, 'category', a.category, " \
	"'description', a.description, 'enum', a.allowed, 'unit', a.unit, "          \
	"'created_at', seg_ts(a.created_at), 'updated_at', seg_ts(a.updated_at))::text"
SEG_STMT(attr_list, "SELECT " SEG_ATTR_JSON ", a.name FROM attribute_definitions a "
		    "WHERE a.tenant_id = $1 AND ($2::text IS NULL OR a.name > $2) "
		    "ORDER BY a.name LIMIT $3");
SEG_STMT(attr_get, "SELECT " SEG_ATTR_JSON " FROM attribute_definitions a "
		   "WHERE a.tenant_id = $1 AND a.name = $2");
SEG_STMT(attr_offenders,
	 "SELECT coalesce(json_agg(id), '[]')::text, count(*) FROM (SELECT c.id FROM customers c "
	 "WHERE c.tenant_id = $1 AND seg_attr_at(c.attributes, $2) IS NOT NULL "
	 "AND NOT seg_attr_valid(seg_attr_at(c.attributes, $2), $3, $4::jsonb) "
	 "ORDER BY c.id LIMIT 10) x");
SEG_STMT(attr_put,
	 "INSERT INTO attribute_definitions AS a (tenant_id, name, type, category, description, "
	 "allowed, unit) VALUES ($1, $2, $3, $4, coalesce($5, ''), $6::jsonb, $7) "
	 "ON CONFLICT (tenant_id, name) DO UPDATE SET type = EXCLUDED.type, "
	 "category = EXCLUDED.category, description = EXCLUDED.description, "
	 "allowed = EXCLUDED.allowed, unit = EXCLUDED.unit, updated_at = now() "
	 "RETURNING " SEG_ATTR_JSON ", xmax = 0");
SEG_STMT(attr_delete, "DELETE FROM attribute_definitions WHERE tenant_id = $1 AND name = $2 "
		      "RETURNING 1");

enum seg_err seg_db_attr_catalog(struct seg_db *db, int64_t tenant, struct seg_attr_catalog *out)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant)};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &attr_catalog, 1, params, &res);
	if (err)
		return err;
	for (int i = 0; i < PQntuples(res); i++) {
		enum seg_attr_type type;
		json_t *allowed = NULL;
		if (!seg_attr_type_parse(PQgetvalue(res, i, 1), &type))
			continue;
		if (!PQgetisnull(res, i, 2))
			allowed = json_loads(PQgetvalue(res, i, 2), JSON_DECODE_ANY, NULL);
		seg_attr_catalog_add(out, PQgetvalue(res, i, 0), type, allowed);
		json_decref(allowed);
	}
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_attr_list(struct seg_db *db, int64_t tenant, const char *after_key, int limit,
			      struct seg_page *page)
{
	char tid[SEG_INT_TEXT], lim[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), after_key, seg__db_int(lim, limit + 1)};
	return seg__db_page(db, &attr_list, 3, params, limit, page);
}

enum seg_err seg_db_attr_get(struct seg_db *db, int64_t tenant, const char *name, char **json)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), name};
	return seg__db_json_row(db, &attr_get, 2, params, json);
}

enum seg_err seg_db_attr_put(struct seg_db *db, int64_t tenant, const char *name,
			     const struct seg_attr_input *in, bool *created, char **json,
			     char **offenders)
{
	char tid[SEG_INT_TEXT];
	const char *check[] = {seg__db_int(tid, tenant), name, in->type, in->allowed_json};
	const char *params[] = {
		tid, name, in->type, in->category, in->description, in->allowed_json, in->unit};
	PGresult *res = NULL;
	enum seg_err err;

	*json = *offenders = NULL;
	/* compiled rules read the catalogue (a registered date or timestamp compares as one) */
	err = seg__db_begin_long(db);
	if (!err)
		err = seg__members_definitions_changed(db, tenant);
	if (!err)
		err = seg__db_exec(db, &attr_offenders, 4, check, &res);
	if (err)
		goto out;
	if (PQgetvalue(res, 0, 1)[0] != '0') {
		*offenders = seg__db_strdup(res, 0, 0);
		err = SEG_ERR_CONFLICT;
		goto out;
	}
	PQclear(res);
	res = NULL;
	err = seg__db_exec(db, &attr_put, 7, params, &res);
	if (err)
		goto out;
	*json = seg__db_strdup(res, 0, 0);
	*created = PQgetvalue(res, 0, 1)[0] == 't';
	err = seg_db_commit(db);
out:
	PQclear(res);
	if (err) {
		seg_db_rollback(db);
		if (err != SEG_ERR_CONFLICT) {
			free(*json);
			*json = NULL;
		}
	}
	return err;
}

enum seg_err seg_db_attr_delete(struct seg_db *db, int64_t tenant, const char *name)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), name};
	PGresult *res = NULL;
	enum seg_err err = seg_db_begin(db);
	if (!err)
		err = seg__members_definitions_changed(db, tenant);
	if (!err)
		err = seg__db_exec(db, &attr_delete, 2, params, &res);
	if (!err && PQntuples(res) == 0)
		err = SEG_ERR_NOT_FOUND;
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	PQclear(res);
	return err;
}

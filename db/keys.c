/* Tenants and API keys: only hashes and visible prefixes are stored. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

SEG_STMT(tenant_ensure, "INSERT INTO tenants (name) VALUES ($1) "
			"ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id");
SEG_STMT(key_insert, "INSERT INTO api_keys (tenant_id, prefix, hash, scopes) "
		     "VALUES ($1, $2, decode($3, 'hex'), string_to_array($4, ',')) RETURNING id");
SEG_STMT(key_lookup, "SELECT id, tenant_id, encode(hash, 'hex'), array_to_string(scopes, ','), "
		     "revoked_at IS NOT NULL FROM api_keys WHERE prefix = $1");
SEG_STMT(key_list, "SELECT k.id, t.name, k.prefix, array_to_string(k.scopes, ','), "
		   "seg_ts(k.created_at), coalesce(seg_ts(k.revoked_at), '-') "
		   "FROM api_keys k JOIN tenants t ON t.id = k.tenant_id ORDER BY k.id");
SEG_STMT(key_revoke, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
		     "WHERE id = $1 RETURNING 1");

enum seg_err seg_db_tenant_ensure(struct seg_db *db, const char *name, int64_t *tenant)
{
	const char *params[] = {name};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &tenant_ensure, 1, params, &res);
	if (err)
		return err;
	*tenant = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_key_insert(struct seg_db *db, int64_t tenant, const char *prefix,
			       const unsigned char hash[SEG_KEY_HASH_LEN], const char *scopes,
			       int64_t *id)
{
	char tid[24], hex[SEG_KEY_HASH_LEN * 2 + 1];
	const char *params[] = {tid, prefix, hex, scopes};
	PGresult *res;

	snprintf(tid, sizeof(tid), "%lld", (long long)tenant);
	for (int i = 0; i < SEG_KEY_HASH_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", hash[i]);
	enum seg_err err = seg__db_exec(db, &key_insert, 4, params, &res);
	if (err)
		return err;
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_key_lookup(struct seg_db *db, const char *prefix, struct seg_key_row *out)
{
	const char *params[] = {prefix};
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &key_lookup, 1, params, &res);
	if (err)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return SEG_ERR_NOT_FOUND;
	}
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->tenant = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	const char *hex = PQgetvalue(res, 0, 2);
	for (int i = 0; i < SEG_KEY_HASH_LEN; i++) {
		unsigned v = 0;
		sscanf(hex + 2 * i, "%2x", &v);
		out->hash[i] = (unsigned char)v;
	}
	snprintf(out->scopes, sizeof(out->scopes), "%s", PQgetvalue(res, 0, 3));
	out->revoked = PQgetvalue(res, 0, 4)[0] == 't';
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_key_list(struct seg_db *db, struct seg_buf *out)
{
	PGresult *res;
	enum seg_err err = seg__db_exec(db, &key_list, 0, NULL, &res);
	if (err)
		return err;
	for (int i = 0; i < PQntuples(res); i++) {
		for (int j = 0; j < PQnfields(res); j++)
			seg_buf_addf(out, "%s%s", j ? "\t" : "", PQgetvalue(res, i, j));
		seg_buf_addch(out, '\n');
	}
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg_db_key_revoke(struct seg_db *db, int64_t id)
{
	char idtext[24];
	const char *params[] = {idtext};
	PGresult *res;

	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	enum seg_err err = seg__db_exec(db, &key_revoke, 1, params, &res);
	if (err)
		return err;
	err = PQntuples(res) == 1 ? SEG_OK : SEG_ERR_NOT_FOUND;
	PQclear(res);
	return err;
}

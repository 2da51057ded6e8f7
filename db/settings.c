/* Tenant settings: the revenue event types, which decide what counts as an order. */
#include "internal.h"

SEG_STMT(settings_get, "SELECT json_build_object('revenue_event_types', "
		       "to_json(revenue_event_types))::text FROM tenants WHERE id = $1");
SEG_STMT(settings_set, "UPDATE tenants SET revenue_event_types = "
		       "ARRAY(SELECT DISTINCT jsonb_array_elements_text($2::jsonb) ORDER BY 1) "
		       "WHERE id = $1 RETURNING json_build_object('revenue_event_types', "
		       "to_json(revenue_event_types))::text");

enum seg_err seg_db_settings_get(struct seg_db *db, int64_t tenant, char **json)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant)};
	return seg__db_json_row(db, &settings_get, 1, params, json);
}

enum seg_err seg_db_settings_set_revenue_types(struct seg_db *db, int64_t tenant,
					       const char *types_json, char **json)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), types_json};
	enum seg_err err;

	*json = NULL;
	/*
	 * What counts as an order changes for every customer: no write of the tenant may run
	 * with the old types meanwhile (the ingest reads them under the shared definitions lock).
	 */
	err = seg__db_begin_long(db);
	if (!err)
		err = seg__members_definitions_changed(db, tenant);
	if (!err)
		err = seg__members_lock(db, tenant);
	if (!err)
		err = seg__db_json_row(db, &settings_set, 2, params, json);
	if (!err)
		err = seg__events_recompute_metrics(db, tenant);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	return err;
}

/* The route table: every endpoint, its handler, its scope and the bodies it accepts. */
#include "handlers.h"

#include <stddef.h>

static const char *const seg__json[] = {"application/json", NULL};
static const char *const seg__patch[] = {"application/merge-patch+json", "application/json", NULL};
static const char *const seg__ndjson[] = {"application/x-ndjson", NULL};
static const char *const seg__ndjson_csv[] = {"application/x-ndjson", "text/csv", NULL};

#define R SEG_SCOPE_READ
#define W SEG_SCOPE_WRITE
#define A SEG_SCOPE_ADMIN

const struct seg_route seg_routes[] = {
	{"GET", "/healthz", seg_h_healthz, NULL, 0, NULL, SEG_ROUTE_INLINE},
	{"GET", "/readyz", seg_h_readyz, NULL, 0, NULL, SEG_ROUTE_INLINE},
	{"GET", "/metrics", seg_h_metrics, NULL, 0, NULL, SEG_ROUTE_INLINE},
	{"GET", "/openapi.yaml", seg_h_openapi, NULL, 0, NULL, SEG_ROUTE_INLINE},

	{"GET", "/v1/customers", seg_h_customer_list, NULL, R, NULL, 0},
	{"POST", "/v1/customers:import", NULL, &seg_customers_import_ops, W, seg__ndjson_csv, 0},
	{"GET", "/v1/customers/{id}", seg_h_customer_get, NULL, R, NULL, 0},
	{"PUT", "/v1/customers/{id}", seg_h_customer_put, NULL, W, seg__json, 0},
	{"PATCH", "/v1/customers/{id}", seg_h_customer_patch, NULL, W, seg__patch, 0},
	{"DELETE", "/v1/customers/{id}", seg_h_customer_delete, NULL, W, NULL, 0},
	{"GET", "/v1/customers/{id}/events", seg_h_events_list, NULL, R, NULL, 0},

	{"POST", "/v1/events", seg_h_events_post, NULL, W, seg__json, 0},
	{"POST", "/v1/events:import", NULL, &seg_events_import_ops, W, seg__ndjson, 0},

	{"GET", "/v1/attributes", seg_h_attr_list, NULL, R, NULL, 0},
	{"GET", "/v1/attributes/{name}", seg_h_attr_get, NULL, R, NULL, 0},
	{"PUT", "/v1/attributes/{name}", seg_h_attr_put, NULL, W, seg__json, 0},
	{"DELETE", "/v1/attributes/{name}", seg_h_attr_delete, NULL, W, NULL, 0},

	{"GET", "/v1/settings", seg_h_settings_get, NULL, A, NULL, 0},
	{"PATCH", "/v1/settings", seg_h_settings_patch, NULL, A, seg__patch, 0},

	{"GET", "/v1/segments", seg_h_segment_list, NULL, R, NULL, 0},
	{"POST", "/v1/segments", seg_h_segment_create, NULL, W, seg__json, 0},
	{"GET", "/v1/segments/{id}", seg_h_segment_get, NULL, R, NULL, 0},
	{"PATCH", "/v1/segments/{id}", seg_h_segment_patch, NULL, W, seg__patch, 0},
	{"DELETE", "/v1/segments/{id}", seg_h_segment_delete, NULL, W, NULL, 0},
	{"POST", "/v1/segments/{id}:refresh", seg_h_segment_refresh, NULL, W, NULL, 0},
	{"GET", "/v1/segments/{id}/members", seg_h_segment_members, NULL, R, NULL, 0},
	{"POST", "/v1/segments/{id}/members", seg_h_segment_members_add, NULL, W, seg__json, 0},
	{"DELETE", "/v1/segments/{id}/members/{customer_id}", seg_h_segment_member_remove, NULL, W,
	 NULL, 0},
	{"GET", "/v1/segments/{id}/history", seg_h_segment_history, NULL, R, NULL, 0},
	{"GET", "/v1/customers/{id}/segments", seg_h_customer_segments, NULL, R, NULL, 0},
	{"GET", "/v1/changes", seg_h_changes, NULL, R, NULL, 0},

	{"GET", "/v1/jobs", seg_h_job_list, NULL, R, NULL, 0},
	{"GET", "/v1/jobs/{id}", seg_h_job_get, NULL, R, NULL, 0},
	{"POST", "/v1/jobs/{id}:cancel", seg_h_job_cancel, NULL, W, NULL, 0},

	{"POST", "/v1/segments:preview", seg_h_segments_preview, NULL, W, seg__json, 0},

	{"GET", "/v1/schemes", seg_h_scheme_list, NULL, R, NULL, 0},
	{"POST", "/v1/schemes", seg_h_scheme_create, NULL, W, seg__json, 0},
	{"GET", "/v1/schemes/{id}", seg_h_scheme_get, NULL, R, NULL, 0},
	{"PATCH", "/v1/schemes/{id}", seg_h_scheme_patch, NULL, W, seg__patch, 0},
	{"DELETE", "/v1/schemes/{id}", seg_h_scheme_delete, NULL, W, NULL, 0},
	{"POST", "/v1/schemes/{id}:snapshot", seg_h_scheme_snapshot, NULL, W, NULL, 0},
	{"GET", "/v1/schemes/{id}/assignments", seg_h_scheme_assignments, NULL, R, NULL, 0},
	{"GET", "/v1/schemes/{id}/snapshots", seg_h_scheme_snapshots, NULL, R, NULL, 0},
	{"GET", "/v1/schemes/{id}/transitions", seg_h_scheme_transitions, NULL, R, NULL, 0},

	{"GET", "/v1/segments/{id}/profile", seg_h_segment_profile, NULL, R, NULL, 0},
	{"GET", "/v1/segments:overlap", seg_h_segments_overlap, NULL, R, NULL, 0},

	{"GET", "/v1/analyses", seg_h_analysis_list, NULL, R, NULL, 0},
	{"POST", "/v1/analyses", seg_h_analysis_create, NULL, W, seg__json, 0},
	{"GET", "/v1/analyses/{id}", seg_h_analysis_get, NULL, R, NULL, 0},
	{"DELETE", "/v1/analyses/{id}", seg_h_analysis_delete, NULL, W, NULL, 0},
	{"POST", "/v1/analyses/{id}:cancel", seg_h_analysis_cancel, NULL, W, NULL, 0},
	{"POST", "/v1/analyses/{id}:run", seg_h_analysis_run, NULL, W, NULL, 0},
	{"POST", "/v1/analyses/{id}:materialize", seg_h_analysis_materialize, NULL, W, seg__json,
	 0},
	{"GET", "/v1/analyses/{id}/customers", seg_h_analysis_customers, NULL, R, NULL, 0},

	{NULL, NULL, NULL, NULL, 0, NULL, 0},
};

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
	{"GET", "/healthz", seg_h_healthz, NULL, 0, NULL},
	{"GET", "/readyz", seg_h_readyz, NULL, 0, NULL},
	{"GET", "/metrics", seg_h_metrics, NULL, 0, NULL},
	{"GET", "/openapi.yaml", seg_h_openapi, NULL, 0, NULL},

	{"GET", "/v1/customers", seg_h_customer_list, NULL, R, NULL},
	{"POST", "/v1/customers:import", NULL, &seg_customers_import_ops, W, seg__ndjson_csv},
	{"GET", "/v1/customers/{id}", seg_h_customer_get, NULL, R, NULL},
	{"PUT", "/v1/customers/{id}", seg_h_customer_put, NULL, W, seg__json},
	{"PATCH", "/v1/customers/{id}", seg_h_customer_patch, NULL, W, seg__patch},
	{"DELETE", "/v1/customers/{id}", seg_h_customer_delete, NULL, W, NULL},
	{"GET", "/v1/customers/{id}/events", seg_h_events_list, NULL, R, NULL},

	{"POST", "/v1/events", seg_h_events_post, NULL, W, seg__json},
	{"POST", "/v1/events:import", NULL, &seg_events_import_ops, W, seg__ndjson},

	{"GET", "/v1/attributes", seg_h_attr_list, NULL, R, NULL},
	{"GET", "/v1/attributes/{name}", seg_h_attr_get, NULL, R, NULL},
	{"PUT", "/v1/attributes/{name}", seg_h_attr_put, NULL, W, seg__json},
	{"DELETE", "/v1/attributes/{name}", seg_h_attr_delete, NULL, W, NULL},

	{"GET", "/v1/settings", seg_h_settings_get, NULL, A, NULL},
	{"PATCH", "/v1/settings", seg_h_settings_patch, NULL, A, seg__patch},

	{NULL, NULL, NULL, NULL, 0, NULL},
};

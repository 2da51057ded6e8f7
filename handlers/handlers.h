/*
 * The handlers of every route, one file per resource. Each runs on the HTTP thread of its
 * request, decodes the request, calls db/, and sets the reply (see server/request.h).
 */
#ifndef SEG_HANDLERS_H
#define SEG_HANDLERS_H

#include "router.h"

/* ops.c */
enum seg_err seg_h_healthz(struct seg_req *r);
enum seg_err seg_h_readyz(struct seg_req *r);
enum seg_err seg_h_metrics(struct seg_req *r);
enum seg_err seg_h_openapi(struct seg_req *r);

/* customers.c */
enum seg_err seg_h_customer_put(struct seg_req *r);
enum seg_err seg_h_customer_patch(struct seg_req *r);
enum seg_err seg_h_customer_get(struct seg_req *r);
enum seg_err seg_h_customer_delete(struct seg_req *r);
enum seg_err seg_h_customer_list(struct seg_req *r);

/* events.c */
enum seg_err seg_h_events_post(struct seg_req *r);
enum seg_err seg_h_events_list(struct seg_req *r);

/* import.c */
extern const struct seg_stream_ops seg_customers_import_ops;
extern const struct seg_stream_ops seg_events_import_ops;

/* attributes.c */
enum seg_err seg_h_attr_list(struct seg_req *r);
enum seg_err seg_h_attr_get(struct seg_req *r);
enum seg_err seg_h_attr_put(struct seg_req *r);
enum seg_err seg_h_attr_delete(struct seg_req *r);

/* settings.c */
enum seg_err seg_h_settings_get(struct seg_req *r);
enum seg_err seg_h_settings_patch(struct seg_req *r);

/* segments.c */
enum seg_err seg_h_segment_create(struct seg_req *r);
enum seg_err seg_h_segment_list(struct seg_req *r);
enum seg_err seg_h_segment_get(struct seg_req *r);
enum seg_err seg_h_segment_patch(struct seg_req *r);
enum seg_err seg_h_segment_delete(struct seg_req *r);
enum seg_err seg_h_segment_refresh(struct seg_req *r);
enum seg_err seg_h_segment_members(struct seg_req *r);
enum seg_err seg_h_segment_members_add(struct seg_req *r);
enum seg_err seg_h_segment_member_remove(struct seg_req *r);
enum seg_err seg_h_segment_history(struct seg_req *r);
enum seg_err seg_h_customer_segments(struct seg_req *r);
/* GET /v1/customers?segment=: the members' customer documents (customers.c calls it). */
enum seg_err seg_h_customer_list_segment(struct seg_req *r, const char *segment);

/* changes.c */
enum seg_err seg_h_changes(struct seg_req *r);

/* jobs.c */
enum seg_err seg_h_job_list(struct seg_req *r);
enum seg_err seg_h_job_get(struct seg_req *r);
enum seg_err seg_h_job_cancel(struct seg_req *r);
/*
 * Waits up to SEGMENTD_SYNC_TIMEOUT for job to end, reading its status every 50 ms and giving
 * the request's database connection back in between. *succeeded tells whether it ended so
 * (false also when the time ran out). A request worker.
 */
enum seg_err seg_h_job_await(struct seg_req *r, int64_t job, bool *succeeded);
/*
 * The query parameter status of a list of jobs or analyses (NULL when absent): one of the job
 * statuses, else 422. Passes an err already set on, after reading it.
 */
enum seg_err seg_h_status_param(struct seg_req *r, const char **status, enum seg_err err);

/* preview.c */
enum seg_err seg_h_segments_preview(struct seg_req *r);

/* schemes.c */
enum seg_err seg_h_scheme_create(struct seg_req *r);
enum seg_err seg_h_scheme_list(struct seg_req *r);
enum seg_err seg_h_scheme_get(struct seg_req *r);
enum seg_err seg_h_scheme_patch(struct seg_req *r);
enum seg_err seg_h_scheme_delete(struct seg_req *r);
enum seg_err seg_h_scheme_assignments(struct seg_req *r);
enum seg_err seg_h_scheme_snapshot(struct seg_req *r);
enum seg_err seg_h_scheme_snapshots(struct seg_req *r);
enum seg_err seg_h_scheme_transitions(struct seg_req *r);

/* profile.c */
enum seg_err seg_h_segment_profile(struct seg_req *r);
enum seg_err seg_h_segments_overlap(struct seg_req *r);

/* analyses.c */
enum seg_err seg_h_analysis_create(struct seg_req *r);
enum seg_err seg_h_analysis_list(struct seg_req *r);
enum seg_err seg_h_analysis_get(struct seg_req *r);
enum seg_err seg_h_analysis_cancel(struct seg_req *r);
enum seg_err seg_h_analysis_run(struct seg_req *r);
enum seg_err seg_h_analysis_delete(struct seg_req *r);
enum seg_err seg_h_analysis_customers(struct seg_req *r);
enum seg_err seg_h_analysis_materialize(struct seg_req *r);

#endif

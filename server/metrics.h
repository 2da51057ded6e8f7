/*
 * Prometheus metrics: request counts and latency histograms by method, route template and
 * status, plus gauges sampled at scrape time (database pool). Thread-safe.
 */
#ifndef SEG_METRICS_H
#define SEG_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "db.h"

struct seg_metrics;

struct seg_metrics *seg_metrics_new(void);
void seg_metrics_free(struct seg_metrics *m);
/* Records one finished request; route is the route template or "unmatched" (borrowed, static). */
void seg_metrics_observe(struct seg_metrics *m, const char *method, const char *route, int status,
			 double seconds);
/* Appends the text exposition format (version 0.0.4). */
void seg_metrics_render(struct seg_metrics *m, struct seg_pool *pool, struct seg_buf *out);

#endif

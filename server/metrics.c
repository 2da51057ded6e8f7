/*
 * Request metrics kept in a small list of series, one per (method, route, status); the route
 * strings are the static templates of the route table, so they are compared by pointer.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static const double seg__buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
				      0.25,  0.5,    1,	    2.5,  5,	 10};
#define SEG_NBUCKETS (sizeof(seg__buckets) / sizeof(seg__buckets[0]))

struct seg_series {
	const char *method, *route;
	int status;
	uint64_t count;
	double sum;
	uint64_t buckets[SEG_NBUCKETS];
};

struct seg_metrics {
	pthread_mutex_t lock;
	struct seg_series *series;
	size_t n, cap;
};

struct seg_metrics *seg_metrics_new(void)
{
	struct seg_metrics *m = seg_calloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void seg_metrics_free(struct seg_metrics *m)
{
	if (!m)
		return;
	free(m->series);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Unknown methods are folded into "other", so that clients cannot grow the table. */
static const char *seg__method_name(const char *method)
{
	static const char *const known[] = {"GET",    "PUT",	 "POST", "PATCH",
					    "DELETE", "OPTIONS", "HEAD"};
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (strcmp(method, known[k]) == 0)
			return known[k];
	return "other";
}

void seg_metrics_observe(struct seg_metrics *m, const char *method, const char *route, int status,
			 double seconds)
{
	struct seg_series *s = NULL;

	method = seg__method_name(method);
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n && !s; i++)
		if (m->series[i].route == route && m->series[i].status == status &&
		    m->series[i].method == method)
			s = &m->series[i];
	if (!s) {
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 32;
			m->series = seg_realloc(m->series, m->cap * sizeof(*m->series));
		}
		s = &m->series[m->n++];
		memset(s, 0, sizeof(*s));
		s->method = method;
		s->route = route;
		s->status = status;
	}
	s->count++;
	s->sum += seconds;
	for (size_t b = 0; b < SEG_NBUCKETS; b++)
		if (seconds <= seg__buckets[b])
			s->buckets[b]++;
	pthread_mutex_unlock(&m->lock);
}

void seg_metrics_render(struct seg_metrics *m, struct seg_pool *pool, struct seg_buf *out)
{
	int size, in_use, waiting;

	pthread_mutex_lock(&m->lock);
	seg_buf_addstr(out, "# HELP segmentd_http_requests_total HTTP requests answered.\n"
			    "# TYPE segmentd_http_requests_total counter\n");
	for (size_t i = 0; i < m->n; i++) {
		const struct seg_series *s = &m->series[i];
		seg_buf_addf(out,
			     "segmentd_http_requests_total{method=\"%s\",route=\"%s\",status=\"%"
			     "d\"} %llu\n",
			     s->method, s->route, s->status, (unsigned long long)s->count);
	}
	seg_buf_addstr(out,
		       "# HELP segmentd_http_request_duration_seconds Time to answer a request.\n"
		       "# TYPE segmentd_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < m->n; i++) {
		const struct seg_series *s = &m->series[i];
		char labels[256];
		snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",status=\"%d\"",
			 s->method, s->route, s->status);
		for (size_t b = 0; b < SEG_NBUCKETS; b++)
			seg_buf_addf(out,
				     "segmentd_http_request_duration_seconds_bucket{%s,le=\"%g\"} "
				     "%llu\n",
				     labels, seg__buckets[b], (unsigned long long)s->buckets[b]);
		seg_buf_addf(out,
			     "segmentd_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
			     labels, (unsigned long long)s->count);
		seg_buf_addf(out, "segmentd_http_request_duration_seconds_sum{%s} %.6f\n", labels,
			     s->sum);
		seg_buf_addf(out, "segmentd_http_request_duration_seconds_count{%s} %llu\n", labels,
			     (unsigned long long)s->count);
	}
	pthread_mutex_unlock(&m->lock);

	seg_pool_stats(pool, &size, &in_use, &waiting);
	seg_buf_addf(out,
		     "# HELP segmentd_db_pool_size Database connections the pool may hold.\n"
		     "# TYPE segmentd_db_pool_size gauge\nsegmentd_db_pool_size %d\n"
		     "# HELP segmentd_db_pool_connections Pool connections by state.\n"
		     "# TYPE segmentd_db_pool_connections gauge\n"
		     "segmentd_db_pool_connections{state=\"in_use\"} %d\n"
		     "segmentd_db_pool_connections{state=\"idle\"} %d\n"
		     "# HELP segmentd_db_pool_waiting Requests waiting for a database connection.\n"
		     "# TYPE segmentd_db_pool_waiting gauge\nsegmentd_db_pool_waiting %d\n",
		     size, in_use, size - in_use, waiting);
}

/*
 * The SQL of the frequency analysis (SPEC §6 `frequency`; the method: analytics/README.md
 * "Frequency"). One pass over the tenant's matching events, inside the run's transaction,
 * stores each customer's count and periods of exposure in a temporary table (dropped at the
 * commit); the distribution (one row: the counts and the occupied bins of the grid, binned by
 * width_bucket over the grid's edges, the very doubles of analytics/frequency.c) and, once the
 * thresholds are known, the CREATE TABLE AS that writes every customer's row into the run's
 * store and the count of the classes both read that table, so they see the same rates
 * even though the run's transaction is READ COMMITTED, and the events are read once.
 *
 * Threads: the job worker's, with its connection.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "frequency.h"

/*
 * The temporary table of one run (statements that use it are not prepared), made by CREATE
 * TABLE AS, which may scan the events in parallel (INSERT ... SELECT may not). $1 tenant, $2
 * event type (NULL: the tenant's revenue event types), $3 as_of (NULL: now(), the
 * transaction's start), $4 window in days (NULL: none), $5 days per period. a: per customer,
 * the matching events in the window and the first matching event up to as_of (whether in the
 * window or not: a customer known before the window is exposed from its start). Stored: the
 * customers with an event in the window, and their periods of exposure (at least one).
 */
#define FREQ_AS_OF "coalesce($3::timestamptz, now())"
#define FREQ_SINCE "(" FREQ_AS_OF " - make_interval(secs => $4::float8 * 86400))"
static const char freq_fill_sql[] =
	"CREATE TEMPORARY TABLE seg_freq_rates ON COMMIT DROP AS "
	"SELECT a.customer_id, a.n, greatest(1::float8, extract(epoch FROM " FREQ_AS_OF " - "
	"CASE WHEN $4::float8 IS NULL OR a.first_at > " FREQ_SINCE " THEN a.first_at "
	"ELSE " FREQ_SINCE " END)::float8 / ($5::float8 * 86400)) AS periods "
	"FROM (SELECT e.customer_id, "
	"count(*) FILTER (WHERE $4::float8 IS NULL OR e.occurred_at > " FREQ_SINCE ") AS n, "
	"min(e.occurred_at) AS first_at "
	"FROM events e WHERE e.tenant_id = $1 AND e.type = ANY (CASE WHEN $2::text IS NULL "
	"THEN (SELECT t.revenue_event_types FROM tenants t WHERE t.id = $1) "
	"ELSE ARRAY[$2::text] END) AND e.occurred_at <= " FREQ_AS_OF " "
	"GROUP BY e.customer_id) a WHERE a.n > 0";

/*
 * $1 tenant, $2 as_of (NULL: now()), $3 the least events of a customer counted in the bins,
 * $4 the grid's edges. One row: as_of, customers, active, single, the occupied bins as
 * "bin:count,..." (bin 0-based).
 */
static const char freq_distribution_sql[] =
	"WITH b AS (SELECT greatest(width_bucket(r.n / r.periods, $4::float8[]), 1) - 1 AS bin, "
	"count(*) AS c FROM seg_freq_rates r WHERE r.n >= $3 GROUP BY 1) "
	"SELECT seg_ts(coalesce($2::timestamptz, now())), "
	"(SELECT count(*) FROM customers c WHERE c.tenant_id = $1), "
	"(SELECT count(*) FROM seg_freq_rates), "
	"(SELECT count(*) FROM seg_freq_rates r WHERE r.n = 1), "
	"(SELECT coalesce(string_agg(b.bin || ':' || b.c, ',' ORDER BY b.bin), '') FROM b)";

/*
 * The class of the customer r of seg_freq_rates: N the class names (text[3], highest rate
 * first), T the thresholds (float8[], 1 or 2, ascending), O one_time (buyers), each a
 * parameter ("$3").
 */
#define FREQ_CLASS(N, T, O)                                                                       \
	"CASE WHEN " O "::boolean AND r.n = 1 THEN (" N "::text[])[3] "                           \
	"WHEN r.n / r.periods >= (" T "::float8[])[cardinality(" T "::float8[])] "                \
	"THEN (" N "::text[])[1] "                                                                \
	"WHEN " O "::boolean OR r.n / r.periods >= (" T "::float8[])[1] THEN (" N "::text[])[2] " \
	"ELSE (" N "::text[])[3] END"

/* $1 tenant, $2 names, $3 thresholds, $4 one_time: every customer's row of the store. */
static const char freq_write_sql[] =
	"SELECT c.id AS customer_id, CASE WHEN r.n IS NULL THEN '" SEG_FREQ_NONE "' "
	"ELSE " FREQ_CLASS(
		"$2", "$3",
		"$4") " END AS frequency_class, "
		      "coalesce(r.n, 0) AS events, r.periods, r.n / r.periods AS rate "
		      "FROM customers c LEFT JOIN seg_freq_rates r ON r.customer_id = c.id "
		      "WHERE c.tenant_id = $1";

/*
 * $1 names, $2 thresholds, $3 one_time: the customers of each class with an event (the rest
 * of the rows written are "none"). Counted here rather than returned by the write, which
 * would hold every row written.
 */
static const char freq_count_sql[] =
	"SELECT " FREQ_CLASS("$1", "$2", "$3") ", count(*) "
					       "FROM seg_freq_rates r GROUP BY 1";

/* A float8[] literal of v[0..n). */
static void float_array(struct seg_buf *b, const double *v, size_t n)
{
	seg_buf_add(b, "{", 1);
	for (size_t i = 0; i < n; i++)
		seg_buf_addf(b, "%s%.17g", i ? "," : "", v[i]);
	seg_buf_add(b, "}", 1);
}

enum seg_err seg_db_frequency_distribution(struct seg_db *db,
					   const struct seg_db_frequency_query *q,
					   struct seg_db_frequency_counts *out)
{
	char tenant[SEG_INT_TEXT], window[SEG_INT_TEXT], period[32], min[SEG_INT_TEXT];
	struct seg_buf edges = SEG_BUF_INIT;
	PGresult *res = NULL;
	enum seg_err err;
	const char *s;

	seg__db_int(tenant, q->tenant);
	snprintf(period, sizeof period, "%.17g", q->period_days);
	const char *fill[] = {tenant, q->event, q->as_of,
			      q->window_days > 0 ? seg__db_int(window, q->window_days) : NULL,
			      period};
	err = seg__db_query(db, freq_fill_sql, 5, fill, NULL);
	if (!err)
		err = seg__db_query(db, "ANALYZE seg_freq_rates", 0, NULL, NULL);
	if (err)
		goto out;
	float_array(&edges, seg_freq_grid(), SEG_FREQ_GRID_EDGES);
	const char *dist[] = {tenant, q->as_of, seg__db_int(min, q->min_events), edges.data};
	err = seg__db_query(db, freq_distribution_sql, 4, dist, &res);
	if (err)
		goto out;
	memset(out->bins, 0, SEG_FREQ_GRID_EDGES * sizeof *out->bins);
	snprintf(out->as_of, sizeof out->as_of, "%s", PQgetvalue(res, 0, 0));
	out->customers = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	out->active = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	out->single = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	for (s = PQgetvalue(res, 0, 4); *s;) {
		char *end;
		unsigned long long bin = strtoull(s, &end, 10), count;
		if (*end != ':')
			break;
		count = strtoull(end + 1, &end, 10);
		if (bin < SEG_FREQ_GRID_EDGES)
			out->bins[bin] = count;
		s = *end == ',' ? end + 1 : end;
	}
out:
	PQclear(res);
	seg_buf_release(&edges);
	return err;
}

enum seg_err seg_db_frequency_write(struct seg_db *db, int64_t tenant, const char *store,
				    const char *const *names, const double *t, size_t nt,
				    bool one_time, int64_t counts[4])
{
	char tid[SEG_INT_TEXT];
	struct seg_buf classes = SEG_BUF_INIT, thresholds = SEG_BUF_INIT;
	PGresult *res = NULL;
	int64_t written;
	enum seg_err err;

	seg__db_int(tid, tenant);
	for (size_t i = 0; i < 3; i++)
		seg__db_array_add(&classes, names[i]);
	float_array(&thresholds, t, nt);
	const char *p[] = {tid, classes.data, thresholds.data, one_time ? "true" : "false"};
	err = seg__analysis_store(db, store, freq_write_sql, 4, p, &written);
	if (err)
		goto out;
	err = seg__db_query(db, freq_count_sql, 3, p + 1, &res);
	if (err)
		goto out;
	memset(counts, 0, 4 * sizeof *counts);
	counts[3] = written;
	for (int row = 0; row < PQntuples(res); row++) {
		const char *cls = PQgetvalue(res, row, 0);
		int64_t n = strtoll(PQgetvalue(res, row, 1), NULL, 10);
		for (size_t i = 0; i < 3; i++)
			if (!strcmp(cls, names[i])) {
				counts[i] = n;
				counts[3] -= n;
			}
	}
out:
	PQclear(res);
	seg_buf_release(&classes);
	seg_buf_release(&thresholds);
	return err;
}

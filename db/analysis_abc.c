/*
 * ABC analysis (SPEC §6.1) over a tenant's customers, set-based: one statement orders the
 * customers by the metric (highest first, ties by id), computes each one's cumulative value
 * with a window function, classifies it (analytics/abc.h: A while the values before it sum to
 * less than a × total, B below b × total, else C; zero, negative or missing values are C),
 * and writes the run's store with it (CREATE TABLE AS: abc_class, value, rank); a second one
 * reads the store once for the per-class counts and sums and the curve samples (about 100
 * rows), from which seg_abc_finish makes the shares. Nothing is read back row by row.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abc.h"

/*
 * The store's rows; '@' stands for the metric's expression over the customer row c. $1
 * tenant, $2 a, $3 b. The running sum is "before": the values ranked above the customer;
 * "total", the sum of the positive values, comes from the same sort (a window over every row).
 */
static const char seg__abc_store_sql[] =
	"SELECT o.id AS customer_id, CASE WHEN o.v > 0 AND o.before < o.total * $2::numeric "
	"THEN 'A' WHEN o.v > 0 AND o.before < o.total * $3::numeric THEN 'B' ELSE 'C' END "
	"AS abc_class, o.v AS value, CASE WHEN o.v > 0 THEN o.rank END AS rank FROM "
	"(SELECT x.id, x.v, row_number() OVER w AS rank, "
	"sum(x.v) OVER (w ROWS UNBOUNDED PRECEDING) - x.v AS before, "
	"sum(x.v) FILTER (WHERE x.v > 0) OVER () AS total FROM "
	"(SELECT c.id, (@)::numeric AS v FROM customers c WHERE c.tenant_id = $1) x "
	"WINDOW w AS (ORDER BY x.v DESC NULLS LAST, x.id)) o";

/*
 * The summary of the store. Rows: ('c', class, count, value sum, threshold) per class;
 * ('t', NULL, customers, total, customers with a positive value); ('p', NULL, rank, cumulative
 * value, NULL) per curve sample, ascending: the ranks ceil(g × npos / 100) and the ends of A
 * and B. Each ranked row falls in the bucket of the first sample at or after its rank
 * (width_bucket, a binary search), and a sample's cumulative value is the sum of the buckets up
 * to its own: one pass over the store.
 */
static const char seg__abc_summary_sql[] =
	"WITH s AS (SELECT abc_class AS class, count(*) AS n, count(rank) AS npos, "
	"coalesce(sum(value) FILTER (WHERE value > 0), 0) AS value, "
	"min(greatest(coalesce(value, 0), 0))::float8 AS thr FROM @store GROUP BY 1), "
	"t AS (SELECT coalesce(sum(n), 0)::bigint AS n, coalesce(sum(npos), 0)::bigint AS npos, "
	"coalesce(sum(value), 0) AS total FROM s), "
	"r AS (SELECT array_agg(rank ORDER BY rank) AS ranks FROM ("
	"SELECT (g * t.npos + 99) / 100 AS rank FROM t, generate_series(1, 100) g "
	"UNION SELECT coalesce(sum(npos) FILTER (WHERE class = 'A'), 0)::bigint FROM s "
	"UNION SELECT coalesce(sum(npos) FILTER (WHERE class <> 'C'), 0)::bigint FROM s) x "
	"WHERE rank > 0), "
	"b AS (SELECT width_bucket(x.rank - 1, r.ranks) + 1 AS j, sum(x.value) AS v "
	"FROM @store x, r WHERE x.rank IS NOT NULL GROUP BY 1) "
	"SELECT 'c' AS k, class, n, value::float8, thr FROM s "
	"UNION ALL SELECT 't', NULL, t.n, t.total::float8, t.npos::float8 FROM t "
	"UNION ALL SELECT 'p', NULL, r.ranks[b.j], (sum(b.v) OVER (ORDER BY b.j))::float8, NULL "
	"FROM b, r WHERE b.j <= cardinality(r.ranks) "
	"ORDER BY 1, 3";

/* The metrics an ABC analysis may rank by, and their SQL over the customer row c. */
static const char *seg__abc_metric(const char *metric)
{
	static const struct {
		const char *name, *sql;
	} metrics[] = {
		{"revenue", "c.revenue"},
		{"orders", "c.orders"},
		{"events", "c.events"},
		{"avg_order_value", "seg_avg_order_value(c.orders, c.revenue)"},
	};
	for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
		if (strcmp(metric, metrics[i].name) == 0)
			return metrics[i].sql;
	return NULL;
}

enum seg_err seg_db_analysis_abc(struct seg_db *db, int64_t tenant, const char *store,
				 const char *metric, const char *a, const char *b,
				 struct seg_abc_summary *out, bool *ok)
{
	struct seg_abc_sample samples[SEG_ABC_CURVE_MAX];
	struct seg_buf sql = SEG_BUF_INIT;
	char tid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), a, b};
	const char *expr = seg__abc_metric(metric);
	PGresult *res = NULL;
	size_t ns = 0;
	enum seg_err err;

	memset(out, 0, sizeof(*out));
	*ok = false;
	if (!expr)
		return SEG_ERR_INTERNAL; /* the params were checked */
	/* the ordering sorts every customer: in memory, as a segment refresh does */
	err = seg__db_query(db, "SET LOCAL work_mem = '64MB'", 0, NULL, NULL);
	if (err)
		return err;
	for (const char *q = seg__abc_store_sql; *q; q++)
		if (*q == '@')
			seg_buf_addstr(&sql, expr);
		else
			seg_buf_addch(&sql, *q);
	err = seg__analysis_store(db, store, sql.data, 3, p, NULL);
	if (err)
		goto out;
	seg_buf_reset(&sql);
	seg__analysis_sql(&sql, seg__abc_summary_sql, store);
	err = seg__db_query(db, sql.data, 0, NULL, &res);
	if (err)
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		char k = PQgetvalue(res, r, 0)[0];
		long long n = strtoll(PQgetvalue(res, r, 2), NULL, 10);
		double value = strtod(PQgetvalue(res, r, 3), NULL);
		double x = PQgetisnull(res, r, 4) ? 0 : strtod(PQgetvalue(res, r, 4), NULL);
		if (k == 'c') {
			char c = PQgetvalue(res, r, 1)[0];
			if (c < 'A' || c > 'C')
				continue;
			out->classes[c - 'A'].count = n;
			out->classes[c - 'A'].value = value;
			out->classes[c - 'A'].threshold = x;
		} else if (k == 't') {
			out->customers = n;
			out->total = value;
			out->scored = (long long)x;
		} else if (k == 'p' && ns < SEG_ABC_CURVE_MAX - 2) {
			samples[ns++] = (struct seg_abc_sample){n, value};
		}
	}
	*ok = seg_abc_finish(out, samples, ns);
out:
	PQclear(res);
	seg_buf_release(&sql);
	return err;
}

/*
 * ABC analysis (SPEC §6.1) over a tenant's customers, set-based: one statement orders the
 * customers by the metric (highest first, ties by id), computes each one's cumulative value
 * with a window function, classifies it (analytics/abc.h: A while the values before it sum to
 * less than a × total, B below b × total, else C; zero, negative or missing values are C),
 * writes every customer's row of analysis_customers with one INSERT ... SELECT, and returns the
 * per-class counts and sums and the curve samples (about 100 rows), from which
 * seg_abc_finish makes the shares. Nothing is read back row by row.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abc.h"

/*
 * The statement; '@' stands for the metric's expression over the customer row c. $1 tenant, $2
 * analysis, $3 a, $4 b. Rows: ('c', class, count, value sum, threshold) per class;
 * ('t', NULL, customers, total, customers with a positive value); ('p', NULL, rank,
 * cumulative value, NULL) per curve sample, ascending.
 */
static const char seg__abc_sql[] =
	"WITH t AS (SELECT coalesce(sum(@) FILTER (WHERE @ > 0), 0) AS total, count(*) AS n, "
	"count(*) FILTER (WHERE @ > 0) AS npos FROM customers c WHERE c.tenant_id = $1), "
	"k AS (SELECT t.total * $3::numeric AS ta, t.total * $4::numeric AS tb FROM t), "
	/* one scan, one sort, the two running figures; the boundaries computed once */
	"cls AS MATERIALIZED (SELECT o.id, o.v, CASE WHEN o.v > 0 THEN o.rank END AS rank, "
	"o.before, CASE WHEN o.v > 0 AND o.before < k.ta THEN 'A' "
	"WHEN o.v > 0 AND o.before < k.tb THEN 'B' ELSE 'C' END AS class FROM "
	"(SELECT x.id, x.v, row_number() OVER w AS rank, "
	"sum(x.v) OVER (w ROWS UNBOUNDED PRECEDING) - x.v AS before FROM "
	"(SELECT c.id, (@)::numeric AS v FROM customers c WHERE c.tenant_id = $1) x "
	"WINDOW w AS (ORDER BY x.v DESC NULLS LAST, x.id)) o, k), "
	"ins AS (INSERT INTO analysis_customers (tenant_id, analysis_id, customer_id, data) "
	/*
	 * the row's document as text parsed once (a quarter cheaper than jsonb_build_object),
	 * inserted in primary-key order (the index grows at its right edge)
	 */
	"SELECT $1, $2, c.id, ('{\"abc_class\":\"' || c.class || '\",\"value\":' || "
	"coalesce(c.v::text, 'null') || ',\"rank\":' || coalesce(c.rank::text, 'null') || "
	"'}')::jsonb FROM cls c, t WHERE t.total > 0 ORDER BY c.id), "
	"s AS (SELECT class, count(*) AS n, coalesce(sum(v) FILTER (WHERE v > 0), 0)::float8 "
	"AS value, min(greatest(coalesce(v, 0), 0))::float8 AS thr FROM cls GROUP BY class), "
	/* the ranks sampled: 100 steps and the ends of A and B, joined by hash */
	"r AS (SELECT (g * t.npos + 99) / 100 AS rank FROM t, generate_series(1, 100) g "
	"UNION SELECT coalesce(sum(n) FILTER (WHERE class = 'A'), 0)::bigint FROM s "
	"UNION SELECT coalesce(sum(n) FILTER (WHERE class <> 'C'), 0)::bigint FROM s) "
	"SELECT 'c' AS k, class, n, value, thr FROM s "
	"UNION ALL SELECT 't', NULL, t.n, t.total::float8, t.npos::float8 FROM t "
	"UNION ALL SELECT 'p', NULL, c.rank, (c.before + c.v)::float8, NULL FROM cls c "
	"JOIN r ON r.rank = c.rank "
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

enum seg_err seg_db_analysis_abc(struct seg_db *db, int64_t tenant, int64_t analysis,
				 const char *metric, const char *a, const char *b,
				 struct seg_abc_summary *out, bool *ok)
{
	struct seg_abc_sample samples[SEG_ABC_CURVE_MAX];
	struct seg_buf sql = SEG_BUF_INIT;
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(aid, analysis), a, b};
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
	for (const char *q = seg__abc_sql; *q; q++)
		if (*q == '@')
			seg_buf_addstr(&sql, expr);
		else
			seg_buf_addch(&sql, *q);
	err = seg__db_query(db, sql.data, 4, p, &res);
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

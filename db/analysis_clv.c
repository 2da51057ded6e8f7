/*
 * The SQL of the CLV analysis (SPEC §6 `clv`; handlers/analysis_clv.c runs it, analytics/clv.c
 * fits the models). Everything runs inside the run's transaction:
 *
 * 1. seg_db_clv_prepare: ONE pass over the tenant's revenue events up to the calibration end
 *    builds a temporary table (dropped at commit) with each buying customer's summary, in
 *    whole UTC days: one transaction per customer and calendar day, valued at the day's sum;
 *    x = transaction days - 1, t_x = last day - first day, T = the calibration end's day -
 *    first day, revenue = the sum of every day, monetary = the mean value of the repeat days
 *    (every day but the first, as FHL's Gamma-Gamma wants; NULL without a repeat).
 * 2. seg_db_clv_summaries and seg_db_clv_values read it aggregated: the distinct (x, t_x, T)
 *    with their counts for BG/NBD, the distinct (x, monetary) of the repeat buyers with a
 *    positive monetary value for Gamma-Gamma. That is all C needs to fit, however many
 *    customers there are.
 * 3. seg_db_clv_store joins C's predictions per distinct summary back to the customers and, in
 *    ONE statement, computes each customer's expected value and CLV (Gamma-Gamma's closed form
 *    needs no special function, so SQL evaluates it) into the run's store; one more reads the
 *    result's figures (count, total, tiers, histogram) from the store.
 *
 * Threads: the job worker that runs the analysis, with its connection.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static const char seg__clv_table_sql[] =
	"CREATE TEMP TABLE seg_clv_summary (customer_id text COLLATE \"C\" NOT NULL, "
	"x integer NOT NULL, tx_days integer NOT NULL, t_days integer NOT NULL, "
	"revenue numeric NOT NULL, monetary float8) ON COMMIT DROP";

/* $1 tenant, $2 the calibration end (an instant: events at or before it count) */
static const char seg__clv_fill_sql[] =
	"INSERT INTO seg_clv_summary "
	"WITH d AS ("
	" SELECT e.customer_id, (e.occurred_at AT TIME ZONE 'UTC')::date AS day,"
	" sum(coalesce(e.amount, 0)) AS value"
	" FROM events e"
	" WHERE e.tenant_id = $1"
	" AND e.type = ANY ((SELECT t.revenue_event_types FROM tenants t WHERE t.id = $1)::text[])"
	" AND e.occurred_at <= $2::timestamptz"
	" GROUP BY 1, 2), "
	"k AS (SELECT d.customer_id, d.day, d.value,"
	" row_number() OVER (PARTITION BY d.customer_id ORDER BY d.day) AS n FROM d) "
	"SELECT k.customer_id, (count(*) - 1)::integer, max(k.day) - min(k.day),"
	" ($2::timestamptz AT TIME ZONE 'UTC')::date - min(k.day), sum(k.value),"
	" CASE WHEN count(*) > 1"
	" THEN (sum(k.value) FILTER (WHERE k.n > 1) / (count(*) - 1))::float8 END "
	"FROM k GROUP BY k.customer_id";

enum seg_err seg_db_clv_prepare(struct seg_db *db, int64_t tenant, const char *until,
				int64_t *customers)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), until};
	PGresult *res = NULL;
	enum seg_err err = seg__db_query(db, "DROP TABLE IF EXISTS seg_clv_summary", 0, NULL, NULL);
	if (!err)
		err = seg__db_query(db, seg__clv_table_sql, 0, NULL, NULL);
	if (!err)
		err = seg__db_query(db, seg__clv_fill_sql, 2, params, &res);
	if (err)
		goto out;
	*customers = strtoll(PQcmdTuples(res), NULL, 10);
	/* temporary tables are never analysed by autovacuum; the joins below want the sizes */
	err = seg__db_query(db, "ANALYZE seg_clv_summary", 0, NULL, NULL);
out:
	PQclear(res);
	return err;
}

enum seg_err seg_db_clv_summaries(struct seg_db *db, struct seg_clv_summary **out, size_t *n)
{
	PGresult *res = NULL;
	*out = NULL;
	*n = 0;
	enum seg_err err = seg__db_query(db,
					 "SELECT x, tx_days, t_days, count(*) FROM seg_clv_summary "
					 "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
					 0, NULL, &res);
	if (err)
		goto out;
	int rows = PQntuples(res);
	*out = seg_calloc(rows ? (size_t)rows : 1, sizeof **out);
	for (int r = 0; r < rows; r++) {
		struct seg_clv_summary *s = &(*out)[r];
		s->x = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		s->tx_days = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		s->t_days = strtoll(PQgetvalue(res, r, 2), NULL, 10);
		s->count = strtoll(PQgetvalue(res, r, 3), NULL, 10);
	}
	*n = (size_t)rows;
out:
	PQclear(res);
	return err;
}

enum seg_err seg_db_clv_values(struct seg_db *db, struct seg_clv_value **out, size_t *n)
{
	PGresult *res = NULL;
	*out = NULL;
	*n = 0;
	enum seg_err err = seg__db_query(db,
					 "SELECT x, monetary, count(*) FROM seg_clv_summary "
					 "WHERE x > 0 AND monetary > 0 GROUP BY 1, 2 ORDER BY 1, 2",
					 0, NULL, &res);
	if (err)
		goto out;
	int rows = PQntuples(res);
	*out = seg_calloc(rows ? (size_t)rows : 1, sizeof **out);
	for (int r = 0; r < rows; r++) {
		struct seg_clv_value *v = &(*out)[r];
		v->x = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		v->m = strtod(PQgetvalue(res, r, 1), NULL);
		v->count = strtoll(PQgetvalue(res, r, 2), NULL, 10);
	}
	*n = (size_t)rows;
out:
	PQclear(res);
	return err;
}

/*
 * The store: every scored customer with its clv (and for BG/NBD its p_alive, predicted orders
 * and expected value), t_x and T in the time unit. Parameters: $1 days per time unit; BG/NBD
 * adds $2-$7 the predictions per distinct summary (x, t_x days, T days as int[], p_alive,
 * predicted, discounted as float8[]) and $8-$10 Gamma-Gamma's p, q, gamma.
 */
#define SEG__CLV_COLUMNS                                                                      \
	"s.customer_id, s.x, s.tx_days / $1::float8 AS t_x, s.t_days / $1::float8 AS \"T\", " \
	"s.revenue, s.monetary, "
static const char seg__clv_store_bgnbd_sql[] =
	"SELECT " SEG__CLV_COLUMNS "p.p_alive, p.predicted AS predicted_orders, "
	"ev.v AS expected_value, p.discounted * ev.v AS clv "
	"FROM seg_clv_summary s JOIN unnest($2::int[], $3::int[], $4::int[], $5::float8[], "
	"$6::float8[], $7::float8[]) AS p(x, tx_days, t_days, p_alive, predicted, discounted) "
	"ON p.x = s.x AND p.tx_days = s.tx_days AND p.t_days = s.t_days, "
	"LATERAL (SELECT ($10::float8 * $8::float8 + $8::float8 * s.x "
	"* greatest(coalesce(s.monetary, 0), 0)) / ($8::float8 * s.x + $9::float8 - 1) AS v) ev";
static const char seg__clv_store_historic_sql[] =
	"SELECT " SEG__CLV_COLUMNS "NULL::float8 AS p_alive, NULL::float8 AS predicted_orders, "
	"NULL::float8 AS expected_value, s.revenue::float8 AS clv FROM seg_clv_summary s";

/*
 * The figures of the store, as JSON text: customers, total_clv, predicted_orders
 * (their sum; BG/NBD only), tiers (the clv at the 50th and 80th percentiles,
 * percentile_disc: values some customer has), and a histogram of clv in 20 bins: 19 of equal
 * width from min(0, lowest clv) to the 99th percentile, the 20th from there to the highest
 * (so a few very large values do not squash the chart); a single bin when every clv is the
 * same. The three percentiles are one sort.
 */
static const char seg__clv_stats_sql[] =
	"WITH st0 AS (SELECT count(*) AS n, sum(sc.clv) AS total, "
	"sum(sc.predicted_orders) AS predicted, least(min(sc.clv), 0) AS lo, "
	"max(sc.clv) AS hi_max, percentile_disc(ARRAY[0.5, 0.8, 0.99]) WITHIN GROUP "
	"(ORDER BY sc.clv) AS q FROM @store sc), "
	"st AS (SELECT st0.*, st0.q[1] AS medium, st0.q[2] AS high, st0.q[3] AS hi FROM st0), "
	"hist AS (SELECT CASE WHEN st.hi > st.lo "
	"THEN least(width_bucket(sc.clv, st.lo, st.hi, 19), 20) ELSE 20 END AS k, count(*) "
	"AS c FROM @store sc, st GROUP BY 1) "
	"SELECT json_build_object('customers', st.n, 'written', st.n,"
	" 'total_clv', coalesce(st.total, 0), 'predicted_orders', st.predicted,"
	" 'tiers', json_build_object('medium', st.medium, 'high', st.high),"
	" 'distribution', CASE WHEN st.hi > st.lo THEN"
	" (SELECT json_agg(json_build_object("
	"'from', CASE WHEN g.k = 20 THEN st.hi ELSE st.lo + (g.k - 1) * (st.hi - st.lo) / 19 END,"
	" 'to', CASE WHEN g.k = 20 THEN st.hi_max ELSE st.lo + g.k * (st.hi - st.lo) / 19 END,"
	" 'customers', coalesce(h.c, 0)) ORDER BY g.k)"
	" FROM generate_series(1, 20) g(k) LEFT JOIN hist h ON h.k = g.k)"
	" WHEN st.n > 0 THEN json_build_array(json_build_object('from', st.lo, 'to',"
	" st.hi_max, 'customers', st.n)) ELSE '[]'::json END)::text FROM st";

/* Appends x to the array literal in arr, opening it with '{' when it is empty. */
static void seg__clv_array_int(struct seg_buf *arr, int64_t x)
{
	seg_buf_addf(arr, "%s%lld", arr->len ? "," : "{", (long long)x);
}

static void seg__clv_array_double(struct seg_buf *arr, double x)
{
	seg_buf_addf(arr, "%s%.17g", arr->len ? "," : "{", x);
}

static const char *seg__clv_array_end(struct seg_buf *arr)
{
	if (!arr->len)
		seg_buf_addch(arr, '{');
	seg_buf_addch(arr, '}');
	return arr->data;
}

enum seg_err seg_db_clv_store(struct seg_db *db, const struct seg_clv_store *in, char **stats)
{
	char unit[32], p[32], q[32], g[32];
	struct seg_buf arr[6], sql = SEG_BUF_INIT;
	PGresult *res = NULL;
	enum seg_err err;

	*stats = NULL;
	for (int i = 0; i < 6; i++)
		seg_buf_init(&arr[i]);
	snprintf(unit, sizeof unit, "%.17g", in->days_per_unit);
	if (in->bgnbd) {
		for (size_t i = 0; i < in->npred; i++) {
			const struct seg_clv_prediction *pr = &in->pred[i];
			seg__clv_array_int(&arr[0], pr->x);
			seg__clv_array_int(&arr[1], pr->tx_days);
			seg__clv_array_int(&arr[2], pr->t_days);
			seg__clv_array_double(&arr[3], pr->p_alive);
			seg__clv_array_double(&arr[4], pr->predicted_orders);
			seg__clv_array_double(&arr[5], pr->discounted_orders);
		}
		snprintf(p, sizeof p, "%.17g", in->p);
		snprintf(q, sizeof q, "%.17g", in->q);
		snprintf(g, sizeof g, "%.17g", in->gamma);
		const char *params[] = {unit,
					seg__clv_array_end(&arr[0]),
					seg__clv_array_end(&arr[1]),
					seg__clv_array_end(&arr[2]),
					seg__clv_array_end(&arr[3]),
					seg__clv_array_end(&arr[4]),
					seg__clv_array_end(&arr[5]),
					p,
					q,
					g};
		err = seg__analysis_store(db, in->store, seg__clv_store_bgnbd_sql, 10, params,
					  NULL);
	} else {
		const char *params[] = {unit};
		err = seg__analysis_store(db, in->store, seg__clv_store_historic_sql, 1, params,
					  NULL);
	}
	if (err)
		goto out;
	seg__analysis_sql(&sql, seg__clv_stats_sql, in->store);
	err = seg__db_query(db, sql.data, 0, NULL, &res);
	if (err)
		goto out;
	if (PQntuples(res) != 1) {
		err = SEG_ERR_INTERNAL;
		goto out;
	}
	*stats = seg__db_strdup(res, 0, 0);
out:
	PQclear(res);
	seg_buf_release(&sql);
	for (int i = 0; i < 6; i++)
		seg_buf_release(&arr[i]);
	return err;
}

/*
 * RFM analyses (SPEC §6.1), set-based: one pass over the tenant's revenue events in the window
 * gives each scored customer's recency (whole days from the last such event to as_of, rounded
 * down, as the recency_days metric), frequency and monetary into a temporary table; one
 * statement takes the cut points at their exact positions (percentile_disc, sorting each
 * dimension once); one CREATE TABLE AS writes every customer's row into the run's store;
 * one aggregate counts the scored customers per (R, F, M) cell, from which the handler builds
 * the grid, the bins, and the segments' sizes and revenue shares. The design and its costs
 * are in analytics/README.md ("RFM").
 */
#include "db.h"
#include "internal.h"
#include "alloc.h"
#include "rfm.h"

#include <stdlib.h>
#include <string.h>

static const char seg__rfm_settings_sql[] =
	"SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)";

/* $1 the as_of given, or NULL: the time of the run. */
static const char seg__rfm_asof_sql[] = "SELECT seg_ts(coalesce($1::timestamptz, now()))";

/*
 * $1 tenant, $2 as_of, $3 window_days: every customer of the tenant in id order, with the
 * recency, frequency and monetary of its revenue events in the window (NULL, NULL, NULL
 * without one). Unprepared: it creates a temporary table, and CREATE TABLE AS may use parallel
 * workers for the pass over the events (INSERT ... SELECT may not). The aggregate comes out in
 * customer order when it is a group aggregate, so the join with the customers' primary key
 * needs no sort, and the store is written in the order of its primary key. The revenue event types
 * are the tenant's setting, read once (an InitPlan).
 */
static const char seg__rfm_agg_sql[] =
	"CREATE TEMP TABLE seg_rfm_agg ON COMMIT DROP AS "
	"SELECT c.id AS customer_id, a.recency, a.frequency, a.monetary "
	"FROM customers c LEFT JOIN ("
	"SELECT e.customer_id, "
	"floor(extract(epoch FROM $2::timestamptz - max(e.occurred_at)) / 86400)::bigint "
	"AS recency, count(*) AS frequency, coalesce(sum(e.amount), 0) AS monetary "
	"FROM events e "
	"WHERE e.tenant_id = $1 "
	"AND e.type = ANY ((SELECT t.revenue_event_types FROM tenants t WHERE t.id = $1)::text[]) "
	"AND e.occurred_at > $2::timestamptz - make_interval(days => $3::int) "
	"AND e.occurred_at <= $2::timestamptz "
	"GROUP BY e.customer_id) a ON a.customer_id = c.id "
	"WHERE c.tenant_id = $1 ORDER BY c.id";

static const char seg__rfm_count_sql[] = "SELECT count(recency) FROM seg_rfm_agg";

/*
 * The cut points of the dimensions whose fractions ($1, $2, $3: float8[], NULL for a dimension
 * given explicitly) are set. A fraction (p - 0.5) / n makes percentile_disc, which takes the
 * value at position ceil(fraction * n), pick exactly position p, whatever the rounding of the
 * product. The unscored customers' NULLs are ignored, as by every aggregate.
 */
static const char seg__rfm_cuts_sql[] =
	"SELECT percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY recency)::text, "
	"percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY frequency)::text, "
	"percentile_disc($3::float8[]) WITHIN GROUP (ORDER BY monetary)::text "
	"FROM seg_rfm_agg";

/*
 * The scores of a row a of seg_rfm_agg, given the bins and each dimension's cut points negated
 * and in reverse order (ascending again), as numeric[]. width_bucket(-v, those) counts the cut
 * points c with -c <= -v, that is c >= v, so the cut points strictly below v are (bins - 1)
 * minus it: R = bins - below = 1 + width_bucket, F and M = 1 + below = bins - width_bucket.
 * A binary search per value, whatever the bins; NULL for an unscored customer.
 */
#define SEG__RFM_SCORES(bins, rc, fc, mc)                                         \
	"(1 + width_bucket(-a.recency::numeric, " rc "::numeric[])) AS r, (" bins \
	" - width_bucket(-a.frequency::numeric, " fc "::numeric[])) AS f, (" bins \
	" - width_bucket(-a.monetary, " mc "::numeric[])) AS m"

/*
 * Every customer's row of the store, in the temporary table's order (customer id). $1 bins,
 * $2 .. $4 the cut points negated and reversed, $5 the names of the segments (text[]) by
 * (r - 1) * bins + f. The unscored have no scores, rfm_segment "Lost", frequency and monetary
 * 0. OFFSET 0 keeps the scores' subquery whole, so each score is computed once.
 */
static const char seg__rfm_store_sql[] =
	"SELECT s.customer_id, s.r::smallint AS rfm_r, s.f::smallint AS rfm_f, "
	"s.m::smallint AS rfm_m, s.r::text || s.f::text || s.m::text AS rfm_score, "
	"CASE WHEN s.r IS NULL THEN 'Lost' ELSE ($5::text[])[(s.r - 1) * $1 + s.f] END "
	"AS rfm_segment, s.recency, coalesce(s.frequency, 0) AS frequency, "
	"coalesce(s.monetary, 0) AS monetary "
	"FROM (SELECT a.customer_id, a.recency, a.frequency, a.monetary, " SEG__RFM_SCORES(
		"$1", "$2", "$3", "$4") " FROM seg_rfm_agg a OFFSET 0) s";

/* The scored customers per cell: $1 bins, $2 .. $4 the cut points as for the insert. */
static const char seg__rfm_cells_sql[] =
	"SELECT x.r, x.f, x.m, count(*), sum(x.monetary)::float8 "
	"FROM (SELECT a.monetary, " SEG__RFM_SCORES(
		"$1", "$2", "$3", "$4") " FROM seg_rfm_agg a "
					"WHERE a.recency IS NOT NULL) x GROUP BY 1, 2, 3";

static const char seg__rfm_drop_sql[] = "DROP TABLE seg_rfm_agg";

void seg_rfm_run_release(struct seg_rfm_run *run)
{
	free(run->as_of_used);
	run->as_of_used = NULL;
	for (int d = 0; d < SEG_RFM_DIMS; d++) {
		free(run->cut_points[d]);
		run->cut_points[d] = NULL;
	}
	free(run->cells);
	run->cells = NULL;
	run->ncells = 0;
}

/* "{1,2,3}" (a PostgreSQL array of numbers, no quotes) -> "[1,2,3]", malloc'ed. */
static char *seg__array_to_json(const char *arr)
{
	char *s = seg_strdup(arr);
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
		s[0] = '[';
		s[n - 1] = ']';
	}
	return s;
}

/* "[1,2,3]" or "{1,2,3}" -> "{-3,-2,-1}": negated, in reverse order. */
static void seg__negate_reverse(const char *arr, struct seg_buf *out)
{
	size_t n = strlen(arr);
	const char *end = arr + n - 1; /* the closing bracket */
	seg_buf_add(out, "{", 1);
	bool first = true;
	while (end > arr) {
		const char *start = end;
		while (start > arr + 1 && start[-1] != ',')
			start--;
		if (start < end) {
			if (!first)
				seg_buf_add(out, ",", 1);
			first = false;
			if (*start == '-')
				seg_buf_add(out, start + 1, (size_t)(end - start - 1));
			else {
				seg_buf_add(out, "-", 1);
				seg_buf_add(out, start, (size_t)(end - start));
			}
		}
		end = start - 1;
	}
	seg_buf_add(out, "}", 1);
}

static enum seg_err seg__rfm_check(const struct seg_job_hooks *hooks, double progress)
{
	if (hooks && hooks->stopping && hooks->stopping(hooks->ctx))
		return SEG_ERR_CANCELLED;
	if (hooks && hooks->progress)
		hooks->progress(hooks->ctx, progress);
	return SEG_OK;
}

enum seg_err seg_db_rfm_run(struct seg_db *db, const struct seg_job_hooks *hooks,
			    struct seg_rfm_run *run)
{
	PGresult *res = NULL;
	struct seg_buf frac[SEG_RFM_DIMS], neg[SEG_RFM_DIMS], names = SEG_BUF_INIT;
	char tenant[SEG_INT_TEXT], bins[SEG_INT_TEXT], window[SEG_INT_TEXT];
	enum seg_err err;
	for (int d = 0; d < SEG_RFM_DIMS; d++) {
		seg_buf_init(&frac[d]);
		seg_buf_init(&neg[d]);
	}
	seg__db_int(tenant, run->tenant);
	seg__db_int(bins, run->bins);
	seg__db_int(window, run->window_days);
	run->scored = run->customers = 0;

	const char *p_asof[1] = {run->as_of};
	err = seg__db_query(db, seg__rfm_asof_sql, 1, p_asof, &res);
	if (err)
		goto out;
	run->as_of_used = seg__db_strdup(res, 0, 0);
	PQclear(res);
	res = NULL;

	/* 64 MB for the sorts, as a refresh; no JIT: compiling the expressions of these plans
	 * took 0.7 to 1.4 s per statement at a million customers, more than it saved */
	err = seg__db_query(db, seg__rfm_settings_sql, 0, NULL, NULL);
	if (err)
		goto out;
	const char *p_agg[3] = {tenant, run->as_of_used, window};
	err = seg__db_query(db, seg__rfm_agg_sql, 3, p_agg, &res);
	if (err)
		goto out;
	run->customers = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	res = NULL;
	err = seg__db_query(db, seg__rfm_count_sql, 0, NULL, &res);
	if (err)
		goto out;
	run->scored = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	res = NULL;
	if (run->scored == 0)
		goto drop;
	if ((err = seg__rfm_check(hooks, 0.4)))
		goto out;

	/* the cut points: explicit ones as given, the others at their exact positions */
	size_t pos[SEG_RFM_BINS_MAX];
	seg_rfm_positions((size_t)run->scored, run->bins, pos);
	const char *p_cuts[SEG_RFM_DIMS];
	for (int d = 0; d < SEG_RFM_DIMS; d++) {
		p_cuts[d] = NULL;
		if (run->cuts[d])
			continue;
		seg_buf_add(&frac[d], "{", 1);
		for (int k = 0; k < run->bins - 1; k++)
			seg_buf_addf(&frac[d], "%s%.17g", k ? "," : "",
				     ((double)pos[k] - 0.5) / (double)run->scored);
		seg_buf_add(&frac[d], "}", 1);
		p_cuts[d] = frac[d].data;
	}
	err = seg__db_query(db, seg__rfm_cuts_sql, 3, p_cuts, &res);
	if (err)
		goto out;
	for (int d = 0; d < SEG_RFM_DIMS; d++) {
		const char *arr = run->cuts[d] ? run->cuts[d] : PQgetvalue(res, 0, d);
		run->cut_points[d] = seg__array_to_json(arr);
		seg__negate_reverse(arr, &neg[d]);
	}
	PQclear(res);
	res = NULL;
	if ((err = seg__rfm_check(hooks, 0.5)))
		goto out;

	for (int r = 1; r <= run->bins; r++)
		for (int f = 1; f <= run->bins; f++)
			seg__db_array_add(&names, seg_rfm_segment(run->bins, r, f));
	const char *p_store[5] = {bins, neg[0].data, neg[1].data, neg[2].data, names.data};
	err = seg__analysis_store(db, run->store, seg__rfm_store_sql, 5, p_store, NULL);
	if (err)
		goto out;
	if ((err = seg__rfm_check(hooks, 0.9)))
		goto out;

	err = seg__db_query(db, seg__rfm_cells_sql, 4, p_store, &res);
	if (err)
		goto out;
	int rows = PQntuples(res);
	run->cells = seg_calloc((size_t)rows + 1, sizeof *run->cells);
	run->ncells = (size_t)rows;
	run->monetary = 0;
	for (int i = 0; i < rows; i++) {
		struct seg_rfm_cell *c = &run->cells[i];
		c->r = atoi(PQgetvalue(res, i, 0));
		c->f = atoi(PQgetvalue(res, i, 1));
		c->m = atoi(PQgetvalue(res, i, 2));
		c->count = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		c->monetary = strtod(PQgetvalue(res, i, 4), NULL);
		run->monetary += c->monetary;
	}
	PQclear(res);
	res = NULL;
drop:
	err = seg__db_query(db, seg__rfm_drop_sql, 0, NULL, NULL);
out:
	PQclear(res);
	for (int d = 0; d < SEG_RFM_DIMS; d++) {
		seg_buf_release(&frac[d]);
		seg_buf_release(&neg[d]);
	}
	seg_buf_release(&names);
	return err;
}

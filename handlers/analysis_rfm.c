/*
 * The analysis type "rfm" (SPEC §6, §6.1): its params, its run (db/analysis_rfm.c scores every
 * customer; the cut points, bins and named segments come from analytics/rfm.c), its result
 * (cut points, bins, the R×F grid, the segments with sizes and revenue shares) and the scheme
 * it materialises as: the ten named segments and "Lost", over the metric rfm_segment, MECE by
 * construction. See handlers/analysiskinds.h for the contract.
 */
#include "alloc.h"
#include "analysiskinds.h"
#include "buf.h"
#include "rfm.h"
#include "timefmt.h"
#include "validate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEG__RFM_WINDOW_DEFAULT 365
#define SEG__RFM_WINDOW_MAX	36500

/* An integer member of params in lo..hi, def when absent; 1 fault or 0. */
static size_t seg__int_param(json_t *params, const char *key, json_int_t lo, json_int_t hi,
			     json_int_t def, struct seg_problem *p)
{
	json_t *v = json_object_get(params, key);
	if (!v) {
		json_object_set_new(params, key, json_integer(def));
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		struct seg_buf ptr = SEG_BUF_INIT;
		seg_buf_addstr(&ptr, "/params");
		seg_pointer_push(&ptr, key);
		seg_problem_add(p, SEG_WHERE_POINTER, ptr.data, 0,
				"%s must be an integer from %lld to %lld", key, (long long)lo,
				(long long)hi);
		seg_buf_release(&ptr);
		return 1;
	}
	return 0;
}

/* as_of: an RFC 3339 timestamp or a date (midnight UTC), normalised to RFC 3339 in UTC. */
static size_t seg__as_of_param(json_t *params, struct seg_problem *p)
{
	json_t *v = json_object_get(params, "as_of");
	int64_t us;
	int32_t days;
	char out[SEG_RFC3339_MAX];
	if (!v || json_is_null(v)) {
		json_object_del(params, "as_of"); /* the time of each run */
		return 0;
	}
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	size_t len = s ? json_string_length(v) : 0;
	if (s && seg_rfc3339_parse(s, len, &us)) {
	} else if (s && seg_date_parse(s, len, &days)) {
		us = (int64_t)days * 86400 * 1000000;
	} else {
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/as_of", 0,
				"as_of must be an RFC 3339 timestamp or a date (YYYY-MM-DD)");
		return 1;
	}
	seg_rfc3339_format(us, out);
	json_object_set_new(params, "as_of", json_string(out));
	return 0;
}

/* cut_points: {"recency"?, "frequency"?, "monetary"?: [bins - 1 ascending numbers]} */
static size_t seg__cuts_param(json_t *params, int bins, struct seg_problem *p)
{
	json_t *cp = json_object_get(params, "cut_points");
	size_t faults;
	if (!cp || json_is_null(cp)) {
		json_object_del(params, "cut_points");
		return 0;
	}
	static const char *const dims[] = {"recency", "frequency", "monetary", NULL};
	faults = seg_json_object_check(cp, dims, "/params/cut_points", p);
	if (!json_is_object(cp))
		return faults;
	for (int d = 0; d < SEG_RFM_DIMS; d++) {
		json_t *arr = json_object_get(cp, seg_rfm_dim_names[d]);
		struct seg_buf ptr = SEG_BUF_INIT;
		double cuts[SEG_RFM_BINS_MAX];
		size_t n = 0, i;
		json_t *x;
		if (!arr)
			continue;
		seg_buf_addf(&ptr, "/params/cut_points/%s", seg_rfm_dim_names[d]);
		if (!json_is_array(arr) || json_array_size(arr) != (size_t)(bins - 1)) {
			seg_problem_add(p, SEG_WHERE_POINTER, ptr.data, 0,
					"cut points must be an array of bins - 1 (%d) numbers",
					bins - 1);
			faults++;
			seg_buf_release(&ptr);
			continue;
		}
		const char *msg = NULL;
		long at = -1;
		json_array_foreach(arr, i, x)
		{
			if (!json_is_number(x)) {
				msg = "must be a number";
				at = (long)i;
				break;
			}
			cuts[n++] = json_number_value(x);
		}
		if (!msg)
			msg = seg_rfm_cuts_check(cuts, n, bins, &at);
		if (msg) {
			if (at >= 0)
				seg_pointer_push_index(&ptr, (size_t)at);
			seg_problem_add(p, SEG_WHERE_POINTER, ptr.data, 0, "cut point %s", msg);
			faults++;
		}
		seg_buf_release(&ptr);
	}
	return faults;
}

static size_t seg__rfm_check(json_t *params, struct seg_problem *p)
{
	static const char *const keys[] = {"bins", "window_days", "as_of", "cut_points", NULL};
	size_t faults = seg_json_object_check(params, keys, "/params", p);
	if (!json_is_object(params))
		return faults;
	size_t bins_faults = seg__int_param(params, "bins", SEG_RFM_BINS_MIN, SEG_RFM_BINS_MAX,
					    SEG_RFM_BINS_DEFAULT, p);
	faults += bins_faults;
	faults += seg__int_param(params, "window_days", 1, SEG__RFM_WINDOW_MAX,
				 SEG__RFM_WINDOW_DEFAULT, p);
	faults += seg__as_of_param(params, p);
	if (!bins_faults)
		faults += seg__cuts_param(
			params, (int)json_integer_value(json_object_get(params, "bins")), p);
	return faults;
}

/* The explicit cut points of dimension d as a numeric[] literal, or NULL. */
static char *seg__cuts_literal(const json_t *params, int d)
{
	const json_t *arr =
		json_object_get(json_object_get(params, "cut_points"), seg_rfm_dim_names[d]);
	struct seg_buf b = SEG_BUF_INIT;
	size_t i;
	json_t *x;
	if (!arr)
		return NULL;
	seg_buf_addch(&b, '{');
	json_array_foreach(arr, i, x)
	{
		if (i)
			seg_buf_addch(&b, ',');
		seg_json_add_double(&b, json_number_value(x));
	}
	seg_buf_addch(&b, '}');
	return seg_buf_detach(&b, NULL);
}

static double seg__share(double part, double whole)
{
	return whole > 0 ? part / whole : 0;
}

/* The result document of SPEC §6 from a finished run. */
static json_t *seg__rfm_result(const struct seg_rfm_run *run, const json_t *params)
{
	int b = run->bins;
	int64_t grid[SEG_RFM_BINS_MAX][SEG_RFM_BINS_MAX] = {{0}};
	size_t sizes[SEG_RFM_DIMS][SEG_RFM_BINS_MAX] = {{0}};
	int64_t seg_size[SEG_RFM_SEGMENTS] = {0};
	double seg_money[SEG_RFM_SEGMENTS] = {0};
	int64_t unscored = run->customers > run->scored ? run->customers - run->scored : 0;
	int64_t customers = run->scored + unscored;

	for (size_t i = 0; i < run->ncells; i++) {
		const struct seg_rfm_cell *c = &run->cells[i];
		if (c->r < 1 || c->r > b || c->f < 1 || c->f > b || c->m < 1 || c->m > b)
			continue; /* cannot happen: scores are 1 .. bins by construction */
		grid[c->r - 1][c->f - 1] += c->count;
		sizes[SEG_RFM_RECENCY][c->r - 1] += (size_t)c->count;
		sizes[SEG_RFM_FREQUENCY][c->f - 1] += (size_t)c->count;
		sizes[SEG_RFM_MONETARY][c->m - 1] += (size_t)c->count;
		const char *name = seg_rfm_segment(b, c->r, c->f);
		for (int s = 0; s < SEG_RFM_SEGMENTS; s++)
			if (strcmp(name, seg_rfm_segment_names[s]) == 0) {
				seg_size[s] += c->count;
				seg_money[s] += c->monetary;
			}
	}

	json_t *res = json_object();
	json_object_set_new(res, "as_of", json_string(run->as_of_used));
	json_object_set_new(res, "window_days", json_integer(run->window_days));
	json_object_set_new(res, "bins", json_integer(b));
	json_object_set_new(res, "scored", json_integer(run->scored));
	json_object_set_new(res, "unscored", json_integer(unscored));

	json_t *cuts = json_object(), *given = json_array(), *bins = json_object(),
	       *unequal = json_array();
	const json_t *explicit_cuts = json_object_get(params, "cut_points");
	for (int d = 0; d < SEG_RFM_DIMS; d++) {
		const char *dim = seg_rfm_dim_names[d];
		json_t *arr = json_loads(run->cut_points[d], JSON_DECODE_ANY, NULL);
		json_object_set_new(cuts, dim, arr ? arr : json_array());
		if (json_object_get(explicit_cuts, dim))
			json_array_append_new(given, json_string(dim));
		json_t *sz = json_array();
		for (int s = 0; s < b; s++)
			json_array_append_new(sz, json_integer((json_int_t)sizes[d][s]));
		json_object_set_new(bins, dim, sz);
		if (seg_rfm_unequal((enum seg_rfm_dim)d, sizes[d], (size_t)run->scored, b))
			json_array_append_new(unequal, json_string(dim));
	}
	json_object_set_new(res, "cut_points", cuts);
	json_object_set_new(res, "cut_points_given", given);
	json_object_set_new(res, "bin_sizes", bins);
	json_object_set_new(res, "unequal_bins", unequal);

	json_t *g = json_array();
	for (int r = 0; r < b; r++) {
		json_t *row = json_array();
		for (int f = 0; f < b; f++)
			json_array_append_new(row, json_integer(grid[r][f]));
		json_array_append_new(g, row);
	}
	json_object_set_new(res, "grid", g);

	json_t *segs = json_array();
	for (int s = 0; s <= SEG_RFM_SEGMENTS; s++) {
		bool lost = s == SEG_RFM_SEGMENTS;
		int64_t size = lost ? unscored : seg_size[s];
		double money = lost ? 0 : seg_money[s];
		json_array_append_new(segs,
				      json_pack("{s:s, s:I, s:f, s:f}", "name",
						lost ? SEG_RFM_LOST : seg_rfm_segment_names[s],
						"size", (json_int_t)size, "share",
						seg__share((double)size, (double)customers),
						"revenue_share", seg__share(money, run->monetary)));
	}
	json_object_set_new(res, "segments", segs);
	return res;
}

static enum seg_err seg__rfm_run(const struct seg_analysis_ctx *ctx, json_t **result,
				 json_t **problem)
{
	struct seg_rfm_run run;
	char *cuts[SEG_RFM_DIMS] = {NULL};
	enum seg_err err;
	memset(&run, 0, sizeof run);
	run.tenant = ctx->tenant;
	run.store = ctx->store;
	run.bins = (int)json_integer_value(json_object_get(ctx->params, "bins"));
	run.window_days = (int)json_integer_value(json_object_get(ctx->params, "window_days"));
	run.as_of = json_string_value(json_object_get(ctx->params, "as_of"));
	if (run.bins < SEG_RFM_BINS_MIN || run.bins > SEG_RFM_BINS_MAX || run.window_days < 1) {
		err = SEG_ERR_INTERNAL; /* check() fills both in */
		goto out;
	}
	for (int d = 0; d < SEG_RFM_DIMS; d++)
		run.cuts[d] = cuts[d] = seg__cuts_literal(ctx->params, d);
	err = seg_db_rfm_run(ctx->db, ctx->hooks, &run);
	if (err)
		goto out;
	if (run.scored == 0) {
		*problem = seg_analysis_problem(
			"no customer has a revenue event in the window "
			"(as_of - window_days, as_of]: RFM needs at least one");
		err = SEG_ERR_INVALID;
		goto out;
	}
	*result = seg__rfm_result(&run, ctx->params);
out:
	for (int d = 0; d < SEG_RFM_DIMS; d++)
		free(cuts[d]);
	seg_rfm_run_release(&run);
	return err;
}

static const struct seg_analysis_metric seg__rfm_metrics[] = {
	{"rfm_r", "smallint"}, {"rfm_f", "smallint"},	{"rfm_m", "smallint"},
	{"rfm_score", "text"}, {"rfm_segment", "text"}, {NULL, NULL},
};

static const char *const seg__rfm_columns[] = {
	"rfm_r",   "rfm_f",	"rfm_m",    "rfm_score", "rfm_segment",
	"recency", "frequency", "monetary", NULL,
};

/*
 * The ten named segments in SPEC §6.1's order, each {"metric": "rfm_segment", "op": "eq"}, then
 * "Lost": not in any of the ten, so also every customer without a score (a leaf over a missing
 * metric is false, its negation true). Each customer is in exactly one.
 */
static json_t *seg__rfm_segments(const json_t *params, const json_t *result)
{
	json_t *segs = json_array(), *names = json_array();
	(void)params;
	(void)result;
	for (int s = 0; s < SEG_RFM_SEGMENTS; s++) {
		const char *n = seg_rfm_segment_names[s];
		json_array_append_new(names, json_string(n));
		json_array_append_new(segs,
				      json_pack("{s:s, s:{s:s, s:s, s:s}}", "name", n, "rule",
						"metric", "rfm_segment", "op", "eq", "value", n));
	}
	json_array_append_new(segs, json_pack("{s:s, s:{s:{s:s, s:s, s:o}}}", "name", SEG_RFM_LOST,
					      "rule", "not", "metric", "rfm_segment", "op", "in",
					      "value", names));
	return segs;
}

const struct seg_analysis_kind seg_analysis_rfm = {
	.type = "rfm",
	.check = seg__rfm_check,
	.run = seg__rfm_run,
	.metrics = seg__rfm_metrics,
	.columns = seg__rfm_columns,
	.segments = seg__rfm_segments,
};

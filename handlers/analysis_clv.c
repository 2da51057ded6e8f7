/*
 * The CLV analysis type (SPEC §6 `clv`; the contract: handlers/analysiskinds.h): its params, its
 * run and its scheme. The run reads every buying customer's summary (db/analysis_clv.c), fits
 * BG/NBD and Gamma-Gamma on the distinct summaries (analytics/clv.c), predicts per distinct
 * summary and lets the database join the predictions back to the customers. The model, the
 * time conventions and the failure cases are explained in analytics/README.md ("CLV").
 *
 * Time: one transaction per customer and UTC calendar day, times in whole days divided by the
 * time unit (7 for weeks). calibration_end "YYYY-MM-DD" counts every event of that day and
 * measures T up to that day, as the literature does (CDNOW: first purchase 1997-01-01, end
 * 1997-09-30, T = 272 days = 38.86 weeks); an RFC 3339 instant counts the events at or before it
 * and measures T up to its UTC day; null (the default) is the moment of each run, so scheduled
 * runs move with the clock.
 */
#include "analysiskinds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "clv.h"
#include "log.h"
#include "timefmt.h"
#include "validate.h"

#define SEG__CLV_DAYS_PER_YEAR 365.25
/* the longest horizon: 10 years (the series of the expectation converges slowly beyond) */
#define SEG__CLV_HORIZON_DAYS_MAX 3653.0
#define SEG__CLV_DISCOUNT_MAX	  10.0

static const char *const seg__clv_keys[] = {"model",   "calibration_end", "time_unit",
					    "horizon", "discount_rate",	  NULL};

static size_t seg__clv_check(json_t *params, struct seg_problem *p)
{
	size_t before = p->count + p->dropped;
	json_t *v;
	seg_json_object_check(params, seg__clv_keys, "/params", p);

	v = json_object_get(params, "model");
	if (!v)
		json_object_set_new(params, "model", json_string("bgnbd"));
	else if (!json_is_string(v) || (strcmp(json_string_value(v), "bgnbd") != 0 &&
					strcmp(json_string_value(v), "historic") != 0))
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/model", 0,
				"must be \"bgnbd\" or \"historic\"");

	v = json_object_get(params, "calibration_end");
	if (!v) {
		json_object_set_new(params, "calibration_end", json_null());
	} else if (!json_is_null(v)) {
		int64_t us;
		int32_t days;
		const char *s = json_is_string(v) ? json_string_value(v) : NULL;
		size_t n = s ? json_string_length(v) : 0;
		if (!s || !(seg_date_parse(s, n, &days) || seg_rfc3339_parse(s, n, &us)))
			seg_problem_add(p, SEG_WHERE_POINTER, "/params/calibration_end", 0,
					"must be a date (YYYY-MM-DD), an RFC 3339 timestamp or "
					"null (now)");
	}

	double unit = 7;
	v = json_object_get(params, "time_unit");
	if (!v) {
		json_object_set_new(params, "time_unit", json_string("week"));
	} else if (json_is_string(v) && strcmp(json_string_value(v), "day") == 0) {
		unit = 1;
	} else if (!json_is_string(v) || strcmp(json_string_value(v), "week") != 0) {
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/time_unit", 0,
				"must be \"day\" or \"week\"");
	}

	v = json_object_get(params, "horizon");
	if (!v)
		json_object_set_new(params, "horizon", json_integer(52));
	else if (!json_is_number(v) || !(json_number_value(v) > 0) ||
		 json_number_value(v) * unit > SEG__CLV_HORIZON_DAYS_MAX)
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/horizon", 0,
				"must be a number of time units above 0 and at most 10 years "
				"(3653 days, 521 weeks)");

	v = json_object_get(params, "discount_rate");
	if (!v)
		json_object_set_new(params, "discount_rate", json_integer(0));
	else if (!json_is_number(v) || !(json_number_value(v) >= 0) ||
		 json_number_value(v) > SEG__CLV_DISCOUNT_MAX)
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/discount_rate", 0,
				"must be a yearly rate from 0 to 10 (0.1 is 10 %% a year)");
	return p->count + p->dropped - before;
}

/* The problem of a run that the data cannot support: what failed, then why. */
static json_t *seg__clv_problem(const char *what, const char *why)
{
	struct seg_buf d = SEG_BUF_INIT;
	seg_buf_addf(&d, "%s: %s", what, why);
	json_t *p = seg_analysis_problem(d.data);
	seg_buf_release(&d);
	return p;
}

/*
 * The instant up to which events count (inclusive, RFC 3339) and the UTC day T is measured
 * to ("YYYY-MM-DD"), from the calibration_end param (null: now).
 */
static void seg__clv_window(const json_t *end, char until[SEG_RFC3339_MAX],
			    char day[SEG_RFC3339_MAX])
{
	const int64_t day_us = 86400LL * 1000000;
	int64_t us;
	int32_t days;
	const char *s = json_string_value(end);
	if (s && seg_date_parse(s, strlen(s), &days)) {
		us = (int64_t)days * day_us + day_us - 1; /* the last microsecond of the day */
	} else if (!s || !seg_rfc3339_parse(s, strlen(s), &us)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	}
	seg_rfc3339_format(us, until);
	int64_t d = us >= 0 ? us / day_us : -((-us + day_us - 1) / day_us);
	seg_rfc3339_format(d * day_us, day);
	day[10] = '\0';
}

static double seg__clv_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool seg__clv_stopping(const struct seg_analysis_ctx *ctx)
{
	return ctx->hooks && ctx->hooks->stopping && ctx->hooks->stopping(ctx->hooks->ctx);
}

static void seg__clv_progress(const struct seg_analysis_ctx *ctx, double f)
{
	if (ctx->hooks && ctx->hooks->progress)
		ctx->hooks->progress(ctx->hooks->ctx, f);
}

/* json_real, but a non-finite number (which a result must never hold) is an error. */
static bool seg__clv_set_real(json_t *obj, const char *key, double x)
{
	if (!isfinite(x))
		return false;
	json_object_set_new(obj, key, json_real(x));
	return true;
}

static enum seg_err seg__clv_run(const struct seg_analysis_ctx *ctx, json_t **result,
				 json_t **problem)
{
	const json_t *params = ctx->params;
	const char *model = json_string_value(json_object_get(params, "model"));
	bool bgnbd = !model || strcmp(model, "historic") != 0;
	const char *unit_name = json_string_value(json_object_get(params, "time_unit"));
	double unit = unit_name && strcmp(unit_name, "day") == 0 ? 1 : 7;
	double horizon = json_number_value(json_object_get(params, "horizon"));
	double rate = json_number_value(json_object_get(params, "discount_rate"));
	char until[SEG_RFC3339_MAX], day[SEG_RFC3339_MAX];
	struct seg_clv_summary *sums = NULL;
	struct seg_clv_value *vals = NULL;
	struct seg_bgnbd_obs *obs = NULL;
	struct seg_gg_obs *gobs = NULL;
	struct seg_clv_prediction *pred = NULL;
	size_t nsums = 0, nvals = 0;
	int64_t customers = 0, repeat = 0;
	double t_pred = 0;
	char *stats_text = NULL;
	json_t *stats = NULL, *res = NULL, *fitted = json_null();
	struct seg_bgnbd bg = {0};
	struct seg_gg gg = {0};
	enum seg_clv_fail f;
	enum seg_err err;

	*result = NULL;
	*problem = NULL;
	seg__clv_window(json_object_get(params, "calibration_end"), until, day);
	err = seg_db_clv_prepare(ctx->db, ctx->tenant, until, &customers);
	if (err)
		goto out;
	if (customers == 0) {
		*problem = seg__clv_problem("there are no customers to value",
					    "no customer has a revenue event at or before the "
					    "calibration end");
		err = SEG_ERR_INVALID;
		goto out;
	}
	seg__clv_progress(ctx, 0.3);
	if (seg__clv_stopping(ctx)) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}

	if (bgnbd) {
		err = seg_db_clv_summaries(ctx->db, &sums, &nsums);
		if (err)
			goto out;
		double t0 = seg__clv_ms();
		obs = seg_calloc(nsums + 1, sizeof *obs);
		for (size_t i = 0; i < nsums; i++)
			obs[i] = (struct seg_bgnbd_obs){(double)sums[i].x, sums[i].tx_days / unit,
							sums[i].t_days / unit,
							(double)sums[i].count};
		f = seg_bgnbd_fit(obs, nsums, &bg);
		double t1 = seg__clv_ms();
		if (f != SEG_CLV_OK) {
			*problem = seg__clv_problem("the BG/NBD model cannot be fitted",
						    seg_clv_strerror(f));
			err = SEG_ERR_INVALID;
			goto out;
		}
		err = seg_db_clv_values(ctx->db, &vals, &nvals);
		if (err)
			goto out;
		gobs = seg_calloc(nvals + 1, sizeof *gobs);
		for (size_t i = 0; i < nvals; i++) {
			gobs[i] = (struct seg_gg_obs){(double)vals[i].x, vals[i].m,
						      (double)vals[i].count};
			repeat += vals[i].count;
		}
		double t2 = seg__clv_ms();
		f = seg_gg_fit(gobs, nvals, &gg);
		double t3 = seg__clv_ms();
		if (f != SEG_CLV_OK) {
			/* BG/NBD found repeat buyers: none has a positive mean value */
			*problem = seg__clv_problem(
				"the Gamma-Gamma model cannot be fitted",
				f == SEG_CLV_NO_REPEAT
					? "no repeat buyer has a positive mean value of "
					  "their repeat purchases"
					: seg_clv_strerror(f));
			err = SEG_ERR_INVALID;
			goto out;
		}
		seg_info("analysis %lld: clv fits: BG/NBD on %zu distinct summaries in %.1f ms (%d "
			 "iterations), Gamma-Gamma on %zu distinct values in %.1f ms (%d "
			 "iterations)",
			 (long long)ctx->analysis, nsums, t1 - t0, bg.iterations, nvals, t3 - t2,
			 gg.iterations);
		seg__clv_progress(ctx, 0.5);

		/* a yearly rate d discounts a purchase s time units ahead by (1 + d)^-(s/units
		   per year) = e^(-delta s) */
		double delta = log1p(rate) / (SEG__CLV_DAYS_PER_YEAR / unit);
		t_pred = seg__clv_ms();
		pred = seg_calloc(nsums + 1, sizeof *pred);
		for (size_t i = 0; i < nsums; i++) {
			const struct seg_bgnbd_obs *o = &obs[i];
			struct seg_clv_prediction *pr = &pred[i];
			if (i % 1024 == 0) {
				if (seg__clv_stopping(ctx)) {
					err = SEG_ERR_CANCELLED;
					goto out;
				}
				seg__clv_progress(ctx, 0.5 + 0.3 * (double)i / (double)nsums);
			}
			pr->x = sums[i].x;
			pr->tx_days = sums[i].tx_days;
			pr->t_days = sums[i].t_days;
			pr->p_alive = seg_bgnbd_p_alive(&bg, o->x, o->t_x, o->T);
			f = seg_bgnbd_expected(&bg, horizon, o->x, o->t_x, o->T,
					       &pr->predicted_orders);
			if (f == SEG_CLV_OK)
				f = seg_bgnbd_expected_discounted(&bg, horizon, delta, o->x, o->t_x,
								  o->T, &pr->discounted_orders);
			if (f == SEG_CLV_OK && !isfinite(pr->p_alive))
				f = SEG_CLV_NUMERIC;
			if (f != SEG_CLV_OK) {
				*problem = seg__clv_problem("the expected purchases cannot be "
							    "computed",
							    seg_clv_strerror(f));
				err = SEG_ERR_INVALID;
				goto out;
			}
		}
	}

	if (bgnbd)
		seg_info("analysis %lld: clv predictions for %zu distinct summaries in %.1f ms",
			 (long long)ctx->analysis, nsums, seg__clv_ms() - t_pred);
	struct seg_clv_store st = {.store = ctx->store,
				   .days_per_unit = unit,
				   .bgnbd = bgnbd,
				   .pred = pred,
				   .npred = nsums,
				   .p = gg.p,
				   .q = gg.q,
				   .gamma = gg.gamma};
	err = seg_db_clv_store(ctx->db, &st, &stats_text);
	if (err)
		goto out;
	seg__clv_progress(ctx, 0.95);
	stats = json_loads(stats_text, 0, NULL);
	if (!stats) {
		err = SEG_ERR_INTERNAL;
		goto out;
	}

	res = json_object();
	json_object_set_new(res, "model", json_string(bgnbd ? "bgnbd" : "historic"));
	json_object_set_new(res, "calibration_end", json_string(day));
	json_object_set_new(res, "until", json_string(until));
	json_object_set_new(res, "time_unit", json_string(unit == 1 ? "day" : "week"));
	json_object_set(res, "horizon", json_object_get(params, "horizon"));
	json_object_set(res, "discount_rate", json_object_get(params, "discount_rate"));
	if (bgnbd) {
		fitted = json_object();
		bool ok = seg__clv_set_real(fitted, "r", bg.r) &&
			  seg__clv_set_real(fitted, "alpha", bg.alpha) &&
			  seg__clv_set_real(fitted, "a", bg.a) &&
			  seg__clv_set_real(fitted, "b", bg.b) &&
			  seg__clv_set_real(fitted, "p", gg.p) &&
			  seg__clv_set_real(fitted, "q", gg.q) &&
			  seg__clv_set_real(fitted, "gamma", gg.gamma) &&
			  seg__clv_set_real(fitted, "log_likelihood_bgnbd", bg.log_likelihood) &&
			  seg__clv_set_real(fitted, "log_likelihood_gg", gg.log_likelihood);
		if (!ok) {
			*problem = seg__clv_problem("the model cannot be fitted",
						    seg_clv_strerror(SEG_CLV_NUMERIC));
			err = SEG_ERR_INVALID;
			goto out;
		}
		json_object_set_new(fitted, "gg_customers", json_integer((json_int_t)repeat));
	}
	json_object_set_new(res, "params", fitted);
	fitted = NULL;
	const char *const keys[] = {"customers", "total_clv", "predicted_orders", "tiers",
				    "distribution"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		json_object_set(res, keys[i], json_object_get(stats, keys[i]));
	if (!bgnbd)
		json_object_del(res, "predicted_orders");
	*result = res;
	res = NULL;
	err = SEG_OK;
out:
	json_decref(fitted);
	json_decref(res);
	json_decref(stats);
	free(stats_text);
	free(sums);
	free(vals);
	free(obs);
	free(gobs);
	free(pred);
	return err;
}

/* A rule leaf {"metric", "op", "value"}. */
static json_t *seg__clv_leaf(const char *metric, const char *op, json_t *value)
{
	json_t *leaf = json_pack("{s:s, s:s}", "metric", metric, "op", op);
	if (value)
		json_object_set_new(leaf, "value", value);
	return leaf;
}

static void seg__clv_segment(json_t *list, const char *name, json_t *rule)
{
	json_array_append_new(list, json_pack("{s:s, s:o}", "name", name, "rule", rule));
}

/*
 * A tier's bound in a rule: a hair (1e-13 relative) below the percentile itself, so that the
 * customer whose clv is the percentile is inside the tier however the rule compiler compares a
 * double precision metric with a rule's number: exactly, or (as PostgreSQL 15's float8 to
 * numeric cast does) after rounding the metric to 15 significant digits, which can put it
 * below its own shortest decimal form.
 */
static json_t *seg__clv_bound(const json_t *tier)
{
	double h = json_number_value(tier);
	return json_real(h - fabs(h) * 1e-13);
}

/*
 * The scheme: value tiers by the run's own clv percentiles (High value: from the 80th, Medium
 * value: from the 50th, Low value: the rest; ties may shift the shares), for BG/NBD only among
 * customers still likely alive (p_alive >= 0.5), the others "Likely lost"; and "No purchases"
 * for every customer without a clv. Each leaf compares a metric that every scored customer has,
 * and an unscored customer has none, so the segments are disjoint and cover everyone.
 */
static json_t *seg__clv_segments(const json_t *params, const json_t *result)
{
	(void)params;
	const json_t *tiers = json_object_get(result, "tiers");
	const json_t *high = json_object_get(tiers, "high"),
		     *medium = json_object_get(tiers, "medium");
	if (!json_is_number(high) || !json_is_number(medium))
		return NULL;
	const char *model = json_string_value(json_object_get(result, "model"));
	bool bgnbd = model && strcmp(model, "bgnbd") == 0;
	json_t *list = json_array();
	const char *names[] = {"High value", "Medium value", "Low value"};
	for (int t = 0; t < 3; t++) {
		json_t *all = json_array();
		if (t == 0)
			json_array_append_new(all,
					      seg__clv_leaf("clv", "gte", seg__clv_bound(high)));
		if (t == 1) {
			json_array_append_new(all,
					      seg__clv_leaf("clv", "gte", seg__clv_bound(medium)));
			json_array_append_new(all,
					      seg__clv_leaf("clv", "lt", seg__clv_bound(high)));
		}
		if (t == 2)
			json_array_append_new(all,
					      seg__clv_leaf("clv", "lt", seg__clv_bound(medium)));
		if (bgnbd)
			json_array_append_new(all, seg__clv_leaf("p_alive", "gte", json_real(0.5)));
		seg__clv_segment(list, names[t], json_pack("{s:o}", "all", all));
	}
	if (bgnbd)
		seg__clv_segment(list, "Likely lost",
				 seg__clv_leaf("p_alive", "lt", json_real(0.5)));
	seg__clv_segment(list, "No purchases", seg__clv_leaf("clv", "not_exists", NULL));
	return list;
}

static const struct seg_analysis_metric seg__clv_metrics[] = {
	{"clv", "double precision"},
	{"p_alive", "double precision"},
	{"predicted_orders", "double precision"},
	{NULL, NULL},
};

static const char *const seg__clv_columns[] = {
	"x",   "t_x", "T", "revenue", "monetary", "p_alive", "predicted_orders", "expected_value",
	"clv", NULL,
};

const struct seg_analysis_kind seg_analysis_clv = {
	.type = "clv",
	.check = seg__clv_check,
	.run = seg__clv_run,
	.metrics = seg__clv_metrics,
	.columns = seg__clv_columns,
	.segments = seg__clv_segments,
};

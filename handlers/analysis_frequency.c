/*
 * The frequency type (SPEC §6 `frequency`; the exact definitions: analytics/README.md
 * "Frequency"): params {"kind": "buyers" | "usage", "event": type | null, "per": "week" |
 * "month", "window_days": n | null, "as_of": RFC 3339 | null, "thresholds": [..] | null};
 * each customer's events, periods, rate and frequency_class; a scheme of four segments, the
 * three classes from the highest rate down and one for everyone else (no matching event, or
 * not scored yet), so every customer is in exactly one. The mathematics is
 * analytics/frequency.c, the SQL db/analysis_frequency.c.
 */
#include "analysiskinds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "frequency.h"
#include "timefmt.h"
#include "validate.h"

#define FREQ_WINDOW_MAX	   36500
#define FREQ_THRESHOLD_MAX 1e9
#define FREQ_EVENT_MAX	   64

/* Thresholds used when none are given and the data suggest none (too few distinct rates). */
static const double freq_default_buyers[] = {1};
static const double freq_default_usage[] = {1, 5};

static enum seg_freq_kind freq_kind(const json_t *params)
{
	const char *k = json_string_value(json_object_get(params, "kind"));
	return k && strcmp(k, "usage") == 0 ? SEG_FREQ_USAGE : SEG_FREQ_BUYERS;
}

static void freq_problem(struct seg_problem *p, const char *key, const char *detail)
{
	struct seg_buf ptr = SEG_BUF_INIT;
	seg_buf_addstr(&ptr, "/params");
	seg_pointer_push(&ptr, key);
	seg_problem_add(p, SEG_WHERE_POINTER, ptr.data, 0, "%s", detail);
	seg_buf_release(&ptr);
}

/* Checks thresholds (an array of n ascending positive numbers); adds problems under it. */
static void freq_check_thresholds(const json_t *v, size_t n, struct seg_problem *p)
{
	char ptr[64];
	double prev = 0;
	if (!json_is_array(v) || json_array_size(v) != n) {
		freq_problem(
			p, "thresholds",
			n == 1 ? "thresholds of buyers is an array of one number: the events "
				 "per period from which a repeat buyer is regular"
			       : "thresholds of usage is an array of two ascending numbers: the "
				 "events per period from which a customer is medium, and heavy");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *x = json_array_get(v, i);
		double t = json_number_value(x);
		snprintf(ptr, sizeof ptr, "/params/thresholds/%zu", i);
		if (!json_is_number(x) || !(t > 0) || !(t <= FREQ_THRESHOLD_MAX))
			seg_problem_add(
				p, SEG_WHERE_POINTER, ptr, 0,
				"a threshold is a number of events per period, greater than "
				"0 and at most 1e9");
		else if (i && !(t > prev))
			seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
					"thresholds must be strictly ascending");
		prev = t;
	}
}

static size_t freq_check(json_t *params, struct seg_problem *p)
{
	static const char *const keys[] = {"kind",  "event",	  "per", "window_days",
					   "as_of", "thresholds", NULL};
	size_t before = p->count + p->dropped;
	json_t *v;
	bool kind_ok = true;

	seg_json_object_check(params, keys, "/params", p);

	v = json_object_get(params, "event");
	if (!v || json_is_null(v))
		json_object_set_new(params, "event", json_null());
	else if (!json_is_string(v) || json_string_length(v) < 1 ||
		 json_string_length(v) > FREQ_EVENT_MAX)
		freq_problem(p, "event",
			     "event is an event type (a string of 1 to 64 bytes), or null for the "
			     "tenant's revenue event types");

	v = json_object_get(params, "kind");
	if (!v || json_is_null(v)) {
		bool usage = json_is_string(json_object_get(params, "event"));
		json_object_set_new(params, "kind", json_string(usage ? "usage" : "buyers"));
	} else if (!json_is_string(v) || (strcmp(json_string_value(v), "buyers") != 0 &&
					  strcmp(json_string_value(v), "usage") != 0)) {
		freq_problem(p, "kind",
			     "kind is \"buyers\" (one-time, occasional, regular) or \"usage\" "
			     "(light, medium, heavy)");
		kind_ok = false;
	}

	v = json_object_get(params, "per");
	if (!v || json_is_null(v))
		json_object_set_new(
			params, "per",
			json_string(freq_kind(params) == SEG_FREQ_USAGE ? "week" : "month"));
	else if (!json_is_string(v) || (strcmp(json_string_value(v), "week") != 0 &&
					strcmp(json_string_value(v), "month") != 0))
		freq_problem(p, "per", "per is \"week\" or \"month\"");

	v = json_object_get(params, "window_days");
	if (!v)
		json_object_set_new(params, "window_days", json_null());
	else if (!json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 1 ||
				      json_integer_value(v) > FREQ_WINDOW_MAX))
		freq_problem(p, "window_days",
			     "window_days is a whole number of days from 1 to 36500, or null for "
			     "every event up to as_of");

	v = json_object_get(params, "as_of");
	if (!v)
		json_object_set_new(params, "as_of", json_null());
	else if (!json_is_null(v)) {
		int64_t us;
		char text[SEG_RFC3339_MAX];
		if (!json_is_string(v) ||
		    !seg_rfc3339_parse(json_string_value(v), json_string_length(v), &us))
			freq_problem(p, "as_of",
				     "as_of is an RFC 3339 timestamp, or null for the time of each "
				     "run");
		else {
			seg_rfc3339_format(us, text);
			json_object_set_new(params, "as_of", json_string(text));
		}
	}

	v = json_object_get(params, "thresholds");
	if (!v)
		json_object_set_new(params, "thresholds", json_null());
	else if (!json_is_null(v) && kind_ok)
		freq_check_thresholds(v, seg_freq_nthresholds(freq_kind(params)), p);
	return p->count + p->dropped - before;
}

/* The evidence: every candidate threshold with its goodness of variance fit. */
static json_t *freq_evidence(const struct seg_freq_suggestion *s)
{
	json_t *candidates = json_array();
	for (size_t i = 0; i < s->ncandidates; i++)
		json_array_append_new(candidates, json_pack("{s:f, s:f}", "threshold",
							    s->candidates[i].threshold, "gvf",
							    s->candidates[i].gvf));
	return json_pack("{s:s, s:o, s:o}", "method", "natural_breaks", "gvf",
			 s->nthresholds ? json_real(s->gvf) : json_null(), "candidates",
			 candidates);
}

/* [[lower edge, customers], ...] from the first occupied bin to the last. */
static json_t *freq_distribution(const uint64_t *bins)
{
	const double *g = seg_freq_grid();
	json_t *out = json_array();
	size_t first = SEG_FREQ_GRID_EDGES, last = 0;
	for (size_t i = 0; i < SEG_FREQ_GRID_EDGES; i++)
		if (bins[i]) {
			if (first == SEG_FREQ_GRID_EDGES)
				first = i;
			last = i;
		}
	for (size_t i = first; i <= last && first < SEG_FREQ_GRID_EDGES; i++)
		json_array_append_new(out, json_pack("[f, I]", g[i], (json_int_t)bins[i]));
	return out;
}

static json_t *freq_doubles(const double *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

static enum seg_err freq_run(const struct seg_analysis_ctx *ctx, json_t **result, json_t **problem)
{
	const json_t *params = ctx->params;
	enum seg_freq_kind kind = freq_kind(params);
	const char *per = json_string_value(json_object_get(params, "per"));
	const json_t *given = json_object_get(params, "thresholds");
	size_t nt = seg_freq_nthresholds(kind);
	const char *const *names = seg_freq_classes(kind);
	struct seg_db_frequency_query q = {
		.tenant = ctx->tenant,
		.event = json_string_value(json_object_get(params, "event")),
		.as_of = json_string_value(json_object_get(params, "as_of")),
		.window_days = (int)json_integer_value(json_object_get(params, "window_days")),
		.period_days = per && strcmp(per, "week") == 0 ? 7 : 30.4375,
		.min_events = kind == SEG_FREQ_BUYERS ? 2 : 1,
	};
	struct seg_db_frequency_counts counts = {0};
	struct seg_freq_suggestion s = {0};
	double t[2];
	const char *source;
	int64_t n[4];
	json_t *classes = NULL;
	enum seg_err err;

	*result = *problem = NULL;
	counts.bins = seg_calloc(SEG_FREQ_GRID_EDGES, sizeof *counts.bins);
	if (ctx->hooks->stopping(ctx->hooks->ctx)) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}
	ctx->hooks->progress(ctx->hooks->ctx, 0.05);
	err = seg_db_frequency_distribution(ctx->db, &q, &counts);
	if (err)
		goto out;
	if (counts.active == 0) {
		char detail[256];
		snprintf(detail, sizeof detail,
			 "no customer has %s%s%s event up to as_of%s: there is nobody to classify",
			 q.event ? "a \"" : "a revenue", q.event ? q.event : "",
			 q.event ? "\"" : "", q.window_days ? " in the window" : "");
		*problem = seg_analysis_problem(detail);
		err = SEG_ERR_INVALID;
		goto out;
	}
	seg_freq_suggest(counts.bins, nt, &s);
	if (json_is_array(given)) {
		for (size_t i = 0; i < nt; i++)
			t[i] = json_number_value(json_array_get(given, i));
		source = "given";
	} else if (s.nthresholds == nt) {
		memcpy(t, s.thresholds, nt * sizeof *t);
		source = "suggested";
	} else {
		memcpy(t, kind == SEG_FREQ_BUYERS ? freq_default_buyers : freq_default_usage,
		       nt * sizeof *t);
		source = "default";
	}
	if (ctx->hooks->stopping(ctx->hooks->ctx)) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}
	ctx->hooks->progress(ctx->hooks->ctx, 0.5);
	err = seg_db_frequency_write(ctx->db, ctx->tenant, ctx->store, names, t, nt,
				     kind == SEG_FREQ_BUYERS, n);
	if (err)
		goto out;
	ctx->hooks->progress(ctx->hooks->ctx, 0.9);

	/* customers counted by the write (one created since the distribution is there) */
	counts.customers = n[0] + n[1] + n[2] + n[3];
	counts.active = n[0] + n[1] + n[2];
	classes = json_array();
	for (size_t i = 0; i < 4; i++)
		json_array_append_new(
			classes,
			json_pack("{s:s, s:I, s:f}", "class", i < 3 ? names[i] : SEG_FREQ_NONE,
				  "count", (json_int_t)n[i], "share",
				  counts.customers ? (double)n[i] / (double)counts.customers
						   : 0.0));
	*result = json_pack("{s:s, s:O, s:s, s:s, s:O, s:I, s:I, s:o, s:s, s:o, s:o, s:o, s:o}",
			    "kind", kind == SEG_FREQ_BUYERS ? "buyers" : "usage", "event",
			    json_object_get(params, "event"), "per", per, "as_of", counts.as_of,
			    "window_days", json_object_get(params, "window_days"), "customers",
			    (json_int_t)counts.customers, "scored", (json_int_t)counts.active,
			    "thresholds", freq_doubles(t, nt), "thresholds_source", source,
			    "suggested", freq_doubles(s.thresholds, s.nthresholds), "evidence",
			    freq_evidence(&s), "classes", classes, "distribution",
			    freq_distribution(counts.bins));
	classes = NULL;
	err = *result ? SEG_OK : SEG_ERR_INTERNAL;
out:
	json_decref(classes);
	seg_freq_suggestion_release(&s);
	free(counts.bins);
	return err;
}

static json_t *freq_segment(const char *name, json_t *rule)
{
	return json_pack("{s:s, s:o}", "name", name, "rule", rule);
}

static json_t *freq_is(const char *cls)
{
	return json_pack("{s:s, s:s, s:s}", "metric", "frequency_class", "op", "eq", "value", cls);
}

static json_t *freq_segments(const json_t *params, const json_t *result)
{
	static const char *const buyers[] = {"Regular buyers", "Occasional buyers",
					     "One-time buyers", "No purchase"};
	static const char *const usage[] = {"Heavy users", "Medium users", "Light users",
					    "No activity"};
	enum seg_freq_kind kind = freq_kind(params);
	const char *const *names = kind == SEG_FREQ_BUYERS ? buyers : usage;
	const char *const *cls = seg_freq_classes(kind);
	(void)result;
	return json_pack("[o, o, o, o]", freq_segment(names[0], freq_is(cls[0])),
			 freq_segment(names[1], freq_is(cls[1])),
			 freq_segment(names[2], freq_is(cls[2])),
			 freq_segment(names[3], json_pack("{s:{s:s, s:s, s:[s, s, s]}}", "not",
							  "metric", "frequency_class", "op", "in",
							  "value", cls[0], cls[1], cls[2])));
}

static const struct seg_analysis_metric freq_metrics[] = {
	{"frequency_class", "text"},
	{NULL, NULL},
};

static const char *const freq_columns[] = {"frequency_class", "events", "periods", "rate", NULL};

const struct seg_analysis_kind seg_analysis_frequency = {
	.type = "frequency",
	.check = freq_check,
	.run = freq_run,
	.metrics = freq_metrics,
	.columns = freq_columns,
	.segments = freq_segments,
};

/*
 * The conjoint analysis type (SPEC §6 `conjoint`, §6.2; the contract: handlers/analysiskinds.h;
 * h-cw): params {"event": type (default "conjoint_rating"), "attributes": [property names, 1 to
 * 20], "response": property (default "rating"), "price": property | null, "k": integer 2..20 |
 * "auto" | null, "k_min", "k_max" (with "auto"; default 3 and 8), "seed" (default 0), "n_init"
 * (default 10)}. The run reads every respondent's rated profiles (db/analysis_conjoint.c), fits
 * each by effects-coded least squares (analytics/conjoint.c), with k groups the fitted
 * respondents into benefit segments by k-means over their importances (standard scaling,
 * analytics/kmeans.c), and writes each respondent's own result into its store (SPEC §6.2:
 * part_worths, price_coefficient, constant, importance, r2, segment; all null but the id for a
 * respondent that was skipped).
 */
#include "analysiskinds.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "conjoint.h"
#include "kmeans.h"
#include "validate.h"

#define SEG__CJ_ATTRS_MAX 20
#define SEG__CJ_K_MAX	  20
#define SEG__CJ_NAME_MAX  128

/* A property name: a non-empty string of at most SEG__CJ_NAME_MAX bytes. */
static bool seg__cj_name_ok(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) >= 1 &&
	       json_string_length(v) <= SEG__CJ_NAME_MAX &&
	       strlen(json_string_value(v)) == json_string_length(v);
}

/* params[key], a name defaulting to def (NULL: to null); an error with its pointer otherwise. */
static void seg__cj_name_param(json_t *params, const char *key, const char *def, size_t max,
			       const char *what, struct seg_problem *p)
{
	json_t *v = json_object_get(params, key);
	char ptr[64];
	snprintf(ptr, sizeof(ptr), "/params/%s", key);
	if (!v || (json_is_null(v) && !def)) {
		json_object_set_new(params, key, def ? json_string(def) : json_null());
		return;
	}
	if (!seg__cj_name_ok(v) || json_string_length(v) > max)
		seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0, "%s", what);
}

/* params[key], an integer in lo..hi defaulting to def. */
static void seg__cj_int_param(json_t *params, const char *key, json_int_t def, json_int_t lo,
			      json_int_t hi, struct seg_problem *p)
{
	json_t *v = json_object_get(params, key);
	char ptr[64];
	snprintf(ptr, sizeof(ptr), "/params/%s", key);
	if (!v) {
		json_object_set_new(params, key, json_integer(def));
		return;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0, "%s is an integer from %lld to %lld",
				key, (long long)lo, (long long)hi);
}

static size_t seg__cj_check(json_t *params, struct seg_problem *p)
{
	static const char *const keys[] = {"event", "attributes", "response", "price",	"k",
					   "k_min", "k_max",	  "seed",     "n_init", NULL};
	size_t before = p->count + p->dropped;
	json_t *v;

	seg_json_object_check(params, keys, "/params", p);
	seg__cj_name_param(params, "event", "conjoint_rating", 64,
			   "event is an event type: a "
			   "string of 1 to 64 bytes",
			   p);
	seg__cj_name_param(params, "response", "rating", SEG__CJ_NAME_MAX,
			   "response is the property that holds the rating: a string of 1 to 128 "
			   "bytes",
			   p);
	seg__cj_name_param(params, "price", NULL, SEG__CJ_NAME_MAX,
			   "price is null or the property that holds the price: a string of 1 to "
			   "128 bytes",
			   p);
	const char *response = json_string_value(json_object_get(params, "response"));
	const char *price = json_string_value(json_object_get(params, "price"));
	if (response && price && strcmp(response, price) == 0)
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/price", 0,
				"price and response name the same property \"%s\"", price);
	v = json_object_get(params, "attributes");
	if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > SEG__CJ_ATTRS_MAX) {
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/attributes", 0,
				"attributes is a list of 1 to %d property names (the conjoint "
				"attributes; the price apart)",
				SEG__CJ_ATTRS_MAX);
	} else {
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *a = json_array_get(v, i);
			char ptr[64];
			snprintf(ptr, sizeof(ptr), "/params/attributes/%zu", i);
			if (!seg__cj_name_ok(a)) {
				seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
						"an attribute is a property name: a string of 1 to "
						"128 bytes");
				continue;
			}
			const char *s = json_string_value(a);
			bool dup = false;
			for (size_t j = 0; j < i; j++)
				dup = dup ||
				      (json_is_string(json_array_get(v, j)) &&
				       strcmp(json_string_value(json_array_get(v, j)), s) == 0);
			if (dup)
				seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
						"attribute \"%s\" is named twice", s);
			else if ((response && strcmp(s, response) == 0) ||
				 (price && strcmp(s, price) == 0))
				seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0,
						"attribute \"%s\" is also the %s", s,
						response && strcmp(s, response) == 0 ? "response"
										     : "price");
		}
	}
	v = json_object_get(params, "k");
	bool is_auto = json_is_string(v) && strcmp(json_string_value(v), "auto") == 0;
	if (!v)
		json_object_set_new(params, "k", json_null());
	else if (!json_is_null(v) && !is_auto &&
		 !(json_is_integer(v) && json_integer_value(v) >= 2 &&
		   json_integer_value(v) <= SEG__CJ_K_MAX))
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/k", 0,
				"k is null (no benefit segments), \"auto\" or an integer from 2 to "
				"%d",
				SEG__CJ_K_MAX);
	if (is_auto) {
		seg__cj_int_param(params, "k_min", 3, 2, SEG__CJ_K_MAX, p);
		seg__cj_int_param(params, "k_max", 8, 2, SEG__CJ_K_MAX, p);
		json_t *lo = json_object_get(params, "k_min"),
		       *hi = json_object_get(params, "k_max");
		if (json_is_integer(lo) && json_is_integer(hi) &&
		    json_integer_value(lo) > json_integer_value(hi))
			seg_problem_add(p, SEG_WHERE_POINTER, "/params/k_max", 0,
					"k_max is at least k_min");
	} else {
		if (json_object_get(params, "k_min"))
			seg_problem_add(p, SEG_WHERE_POINTER, "/params/k_min", 0,
					"k_min goes with \"k\": \"auto\" only");
		if (json_object_get(params, "k_max"))
			seg_problem_add(p, SEG_WHERE_POINTER, "/params/k_max", 0,
					"k_max goes with \"k\": \"auto\" only");
	}
	seg__cj_int_param(params, "seed", 0, 0, (json_int_t)1 << 53, p);
	seg__cj_int_param(params, "n_init", 10, 1, 100, p);
	return p->count + p->dropped - before;
}

/* The engines' progress and cancellation through the run's hooks, over [from, to]. */
struct seg__cj_tick {
	const struct seg_job_hooks *hooks;
	double from, to;
};

static bool seg__cj_tick(void *ctx, double fraction)
{
	const struct seg__cj_tick *t = ctx;
	if (t->hooks->stopping(t->hooks->ctx))
		return false;
	t->hooks->progress(t->hooks->ctx, t->from + (t->to - t->from) * fraction);
	return true;
}

/* seg_analysis_problem with a formatted detail. */
static json_t *seg__cj_problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *seg__cj_problem(const char *fmt, ...)
{
	char detail[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return seg_analysis_problem(detail);
}

/* The benefit segments: k-means over the fitted respondents' importances. */
struct seg__cj_segments {
	struct seg_kmeans_analysis km;
	bool done;
};

static enum seg_err seg__cj_cluster(const struct seg_analysis_ctx *ctx,
				    const struct seg_cj_result *fit, const char *const *imp_names,
				    int32_t *segment, struct seg__cj_segments *out,
				    json_t **problem)
{
	const json_t *kv = json_object_get(ctx->params, "k");
	size_t d = fit->nimp, m = fit->fitted, row = 0;
	double *x = malloc((m ? m : 1) * (d ? d : 1) * sizeof(double));
	char msg[300];
	enum seg_err err = SEG_OK;

	if (!x) {
		*problem = seg_analysis_problem("the importances do not fit in memory");
		return SEG_ERR_INVALID;
	}
	for (size_t r = 0; r < fit->nresp; r++)
		if (fit->resp[r].status == SEG_CJ_FITTED)
			memcpy(x + row++ * d, fit->importance + r * d, d * sizeof(double));
	struct seg__cj_tick tick = {ctx->hooks, 0.75, 0.85};
	struct seg_kmeans_analysis_params kp;
	seg_kmeans_analysis_params_init(&kp);
	kp.scaling = SEG_KMEANS_SCALE_STANDARD;
	kp.fit.seed = (uint64_t)json_integer_value(json_object_get(ctx->params, "seed"));
	kp.fit.n_init = (int)json_integer_value(json_object_get(ctx->params, "n_init"));
	kp.fit.tick = seg__cj_tick;
	kp.fit.tick_ctx = &tick;
	if (json_is_string(kv)) {
		kp.auto_k = true;
		kp.k_min = (size_t)json_integer_value(json_object_get(ctx->params, "k_min"));
		kp.k_max = (size_t)json_integer_value(json_object_get(ctx->params, "k_max"));
	} else {
		kp.fit.k = (size_t)json_integer_value(kv);
	}
	enum seg_kmeans_status st =
		seg_kmeans_analyse(x, m, d, imp_names, &kp, &out->km, msg, sizeof(msg));
	if (st == SEG_KMEANS_CANCELLED) {
		err = SEG_ERR_CANCELLED;
	} else if (st != SEG_KMEANS_OK) {
		*problem = seg__cj_problem(
			"the benefit segments could not be formed over the importances of the %zu "
			"fitted respondents: %s",
			m, msg);
		err = SEG_ERR_INVALID;
	} else {
		out->done = true;
		row = 0;
		for (size_t r = 0; r < fit->nresp; r++)
			segment[r] = fit->resp[r].status == SEG_CJ_FITTED
					     ? out->km.fit.labels[row++]
					     : -1;
	}
	free(x);
	return err;
}

static json_t *seg__cj_result(const json_t *params, const struct seg_conjoint_data *data,
			      const struct seg_cj_result *fit, const char *const *imp_names,
			      const struct seg__cj_segments *seg)
{
	const char *price = json_string_value(json_object_get(params, "price"));
	json_t *attrs = json_array(), *wtp = json_array(), *segments = json_array();

	for (size_t a = 0; a < fit->nattr; a++) {
		json_t *levels = json_array();
		for (size_t l = 0; l < data->nlevels[a]; l++) {
			size_t at = fit->level_offset[a] + l;
			json_array_append_new(
				levels,
				json_pack("{s:s, s:o, s:I}", "level", data->levels[a][l],
					  "part_worth", seg_analysis_real(fit->mean_part_worth[at]),
					  "respondents", (json_int_t)fit->level_respondents[at]));
			if (fit->median_wtp)
				json_array_append_new(
					wtp, json_pack("{s:s, s:s, s:o}", "attribute", imp_names[a],
						       "level", data->levels[a][l], "median",
						       seg_analysis_real(fit->median_wtp[at])));
		}
		json_array_append_new(attrs, json_pack("{s:s, s:o, s:o}", "name", imp_names[a],
						       "importance",
						       seg_analysis_real(fit->mean_importance[a]),
						       "levels", levels));
	}
	if (fit->has_price)
		json_array_append_new(
			attrs, json_pack("{s:s, s:o, s:[], s:b, s:o}", "name", price, "importance",
					 seg_analysis_real(fit->mean_importance[fit->nattr]),
					 "levels", "price", 1, "coefficient",
					 seg_analysis_real(fit->mean_price_coefficient)));
	json_t *segmentation = json_null();
	if (seg->done) {
		const struct seg_kmeans_analysis *km = &seg->km;
		json_t *cands = json_array();
		for (size_t c = 0; c < km->ncandidates; c++)
			json_array_append_new(
				cands,
				json_pack("{s:I, s:o, s:o}", "k", (json_int_t)km->candidates[c].k,
					  "inertia", seg_analysis_real(km->candidates[c].inertia),
					  "silhouette",
					  km->candidates[c].status == SEG_KMEANS_OK
						  ? seg_analysis_real(km->candidates[c].silhouette)
						  : json_null()));
		for (size_t c = 0; c < km->k; c++) {
			json_t *imp = json_object();
			for (size_t j = 0; j < km->d; j++)
				json_object_set_new(
					imp, imp_names[j],
					seg_analysis_real(km->centroids[c * km->d + j]));
			json_array_append_new(
				segments,
				json_pack("{s:I, s:I, s:o, s:o, s:s}", "index", (json_int_t)c,
					  "size", (json_int_t)km->fit.sizes[c], "share",
					  seg_analysis_real((double)km->fit.sizes[c] / km->n),
					  "importance", imp, "label", km->labels[c]));
		}
		segmentation =
			json_pack("{s:I, s:o, s:o, s:o}", "k", (json_int_t)km->k, "inertia",
				  seg_analysis_real(km->fit.inertia), "silhouette",
				  km->has_quality ? seg_analysis_real(km->silhouette) : json_null(),
				  "candidates", cands);
	}
	return json_pack(
		"{s:s, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:I, s:I, s:o, s:o, s:o, s:o, s:{s:o, "
		"s:o}, s:o, s:o}",
		"event", json_string_value(json_object_get(params, "event")), "respondents",
		(json_int_t)fit->nresp, "fitted", (json_int_t)fit->fitted, "skipped",
		(json_int_t)fit->skipped, "skipped_reasons", "too_few_ratings",
		(json_int_t)fit->too_few, "constant_ratings", (json_int_t)fit->constant,
		"singular_design", (json_int_t)fit->singular, "profiles", (json_int_t)data->nprof,
		"dropped_profiles", (json_int_t)fit->dropped_profiles, "attributes", attrs,
		"price_coefficient", seg_analysis_real(fit->mean_price_coefficient),
		"price_coefficient_median", seg_analysis_real(fit->median_price_coefficient), "wtp",
		wtp, "fit", "median_r2", seg_analysis_real(fit->median_r2), "mean_r2",
		seg_analysis_real(fit->mean_r2), "segments", segments, "segmentation",
		segmentation);
}

static enum seg_err seg__cj_run(const struct seg_analysis_ctx *ctx, json_t **result,
				json_t **problem)
{
	struct seg_conjoint_data data = {0};
	struct seg_cj_result fit = {0};
	struct seg__cj_segments seg = {0};
	const json_t *attrs = json_object_get(ctx->params, "attributes");
	size_t nattr = json_array_size(attrs);
	const char *price = json_string_value(json_object_get(ctx->params, "price"));
	const char *event = json_string_value(json_object_get(ctx->params, "event"));
	const char **names = seg_calloc(nattr + 1, sizeof(*names));
	int32_t *segment = NULL;
	char detail[512], msg[300];
	enum seg_err err;

	*result = *problem = NULL;
	for (size_t a = 0; a < nattr; a++)
		names[a] = json_string_value(json_array_get(attrs, a));
	names[nattr] = price; /* the importances' names: the attributes, then price */
	if (ctx->hooks->stopping(ctx->hooks->ctx)) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}
	struct seg_conjoint_request rq = {
		.tenant = ctx->tenant,
		.event = event,
		.attributes = names,
		.nattr = nattr,
		.response = json_string_value(json_object_get(ctx->params, "response")),
		.price = price,
		.memory_limit = seg_analysis_memory_limit(),
		.hooks = ctx->hooks,
		.progress_from = 0.05,
		.progress_to = 0.4,
	};
	err = seg_db_conjoint_read(ctx->db, &rq, &data, detail, sizeof(detail));
	if (err == SEG_ERR_INVALID)
		*problem = seg_analysis_problem(detail);
	if (err)
		goto out;
	if (data.nresp == 0) {
		*problem = seg__cj_problem("the tenant has no events of type \"%s\": there is "
					   "nothing to analyse",
					   event);
		err = SEG_ERR_INVALID;
		goto out;
	}
	for (size_t a = 0; a < nattr; a++)
		if (data.nlevels[a] == 0) {
			char ptr[64];
			*problem = seg__cj_problem("no event of type \"%s\" has a level of "
						   "attribute \"%s\" (a string, "
						   "number or boolean property of that name)",
						   event, names[a]);
			snprintf(ptr, sizeof(ptr), "/params/attributes/%zu", a);
			json_object_set_new(*problem, "pointer", json_string(ptr));
			err = SEG_ERR_INVALID;
			goto out;
		}
	/* what the engine will hold, refused over the limit */
	size_t ntotal = 0;
	for (size_t a = 0; a < nattr; a++)
		ntotal += data.nlevels[a];
	double need = (double)data.nresp * ((double)ntotal * sizeof(double) * (price ? 2 : 1) +
					    (double)(nattr + 1) * sizeof(double) * 3 +
					    sizeof(struct seg_cj_resp) + sizeof(int32_t));
	size_t limit = seg_analysis_memory_limit();
	if (limit && need > (double)limit) {
		*problem = seg__cj_problem(
			"%zu respondents by %zu levels would need about %.0f MB of memory, over "
			"the limit of %zu MB (SEGMENTD_ANALYSIS_MEMORY)",
			data.nresp, ntotal, ceil(need / 1048576.0), limit / 1048576);
		err = SEG_ERR_INVALID;
		goto out;
	}
	struct seg_cj_input in = {data.nresp, data.start, nattr,      data.nlevels,
				  data.codes, data.price, data.rating};
	struct seg__cj_tick tick = {ctx->hooks, 0.4, 0.7};
	struct seg_cj_params cp = {seg__cj_tick, &tick};
	err = seg_cj_fit(&in, &cp, &fit, msg, sizeof(msg));
	if (err == SEG_ERR_INVALID)
		*problem = seg_analysis_problem(msg);
	if (err)
		goto out;
	if (fit.fitted == 0) {
		*problem = seg__cj_problem(
			"no respondent could be fitted: of the %zu respondents with events of type "
			"\"%s\", %zu rated fewer profiles than the model's parameters + 1, %zu "
			"gave "
			"every profile the same rating, %zu rated profiles whose levels do not "
			"vary "
			"independently (or one price only); %zu profiles lacked a level, a numeric "
			"\"%s\"%s%s%s",
			fit.nresp, event, fit.too_few, fit.constant, fit.singular,
			fit.dropped_profiles, rq.response, price ? " or a numeric \"" : "",
			price ? price : "", price ? "\"" : "");
		err = SEG_ERR_INVALID;
		goto out;
	}
	ctx->hooks->progress(ctx->hooks->ctx, 0.75);
	if (!json_is_null(json_object_get(ctx->params, "k"))) {
		segment = seg_malloc(data.nresp * sizeof(*segment));
		err = seg__cj_cluster(ctx, &fit, names, segment, &seg, problem);
		if (err)
			goto out;
	}
	ctx->hooks->progress(ctx->hooks->ctx, 0.85);
	err = seg_db_conjoint_store(ctx->db, ctx->store, &data, &fit, names, price, segment,
				    ctx->hooks);
	if (err)
		goto out;
	ctx->hooks->progress(ctx->hooks->ctx, 0.95);
	*result = seg__cj_result(ctx->params, &data, &fit, names, &seg);
	if (!*result)
		err = SEG_ERR_INTERNAL;
out:
	if (seg.done)
		seg_kmeans_analysis_release(&seg.km);
	free(segment);
	free(names);
	seg_cj_result_release(&fit);
	seg_conjoint_data_release(&data);
	return err;
}

/*
 * The static segments of :materialize: one per benefit segment, named by its label ("brand
 * high, price low", at most 80 bytes; "Benefit segment <n>" without one), the mean importances
 * in the description. None (an empty list: nothing to materialise) without k.
 */
static json_t *seg__cj_groups(const json_t *params, const json_t *result)
{
	(void)params;
	json_t *segments = json_object_get(result, "segments"), *out = json_array();
	for (size_t c = 0; c < json_array_size(segments); c++) {
		json_t *sg = json_array_get(segments, c), *v;
		const char *label = json_string_value(json_object_get(sg, "label")), *key;
		size_t len = label ? strlen(label) : 0;
		struct seg_buf name = SEG_BUF_INIT, desc = SEG_BUF_INIT;
		if (len > 80) {
			len = 80;
			while (len > 0 && ((unsigned char)label[len] & 0xc0) == 0x80)
				len--;
		}
		if (len && strcmp(label, "average") != 0)
			seg_buf_add(&name, label, len);
		else
			seg_buf_addf(&name, "Benefit segment %zu", c + 1);
		seg_buf_addf(&desc, "conjoint benefit segment %zu of %zu; mean importances:", c + 1,
			     json_array_size(segments));
		bool first = true;
		json_object_foreach(json_object_get(sg, "importance"), key, v)
		{
			seg_buf_addf(&desc, "%s %s %.2f", first ? "" : ",", key,
				     json_is_number(v) ? json_number_value(v) : 0.0);
			first = false;
		}
		json_array_append_new(
			out, json_pack("{s:s, s:s}", "name", name.data, "description", desc.data));
		seg_buf_release(&name);
		seg_buf_release(&desc);
	}
	return out;
}

static const char *const seg__cj_columns[] = {
	"segment", "r2", "constant", "price_coefficient", "importance", "part_worths", NULL,
};

const struct seg_analysis_kind seg_analysis_conjoint = {
	.type = "conjoint",
	.check = seg__cj_check,
	.run = seg__cj_run,
	.columns = seg__cj_columns,
	.groups = seg__cj_groups,
	.group_column = "segment",
};

/*
 * The discriminant analysis type (SPEC §6 `discriminant`, §6.2; the contract:
 * handlers/analysiskinds.h; h-dw): params {"groups": scheme id (a string), "features": [{"attr"} |
 * {"metric"}, ...] (numeric, 1 to 100), "priors": "proportional" | "equal", "assign":
 * "unassigned" | "all", "filter": rule | null}.
 *
 * The run reads the features of the customers the filter matches (db/analysis_features.c) and
 * each one's group: the first segment of the scheme it is a member of, in the scheme's
 * priority order (db/analysis_discriminant.c), or none. A segment none of whose customers has
 * every feature is left out of the groups (reported as `empty_groups`). The fit
 * (analytics/discriminant.c) runs on the customers with a group and every feature; then every
 * customer with every feature is classified (the group of highest posterior probability). The
 * store holds each customer's true_group (NULL: none), predicted_group (NULL: a feature
 * missing), the posterior of the predicted group, and assigned_group: where a materialised
 * scheme places the customer — with "assign": "unassigned" (default) its true group, else the
 * predicted one; with "all" the predicted group, else (a feature missing) its true group.
 * Groups are 0-based indexes into the result's `groups`.
 *
 * Materialising goes through the static machinery (kind->groups and group_column =
 * "assigned_group"; db/README.md "Static materialisation"): a static segment per fitted group,
 * named as its source segment, holding the customers assigned_group places there; each later
 * run moves the members. The groups are matched by index, so a later run over a scheme whose
 * segments changed (one added, removed, or left out as empty) fills the segments by the new
 * run's order under the names of materialising.
 */
#include "analysiskinds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "discriminant.h"
#include "rule.h"
#include "text.h"
#include "validate.h"

#define SEG__DISCRIMINANT_FEATURES_MAX 100
#define SEG__DISCRIMINANT_CHUNK	       4096 /* rows classified at a time */

/* Checks that params[key] is one of the strings of values (the first the default). */
static void seg__dg_choice(json_t *params, const char *key, const char *const *values,
			   const char *what, struct seg_problem *p)
{
	json_t *v = json_object_get(params, key);
	char ptr[64];
	if (!v) {
		json_object_set_new(params, key, json_string(values[0]));
		return;
	}
	for (size_t i = 0; values[i]; i++)
		if (json_is_string(v) && strcmp(json_string_value(v), values[i]) == 0)
			return;
	snprintf(ptr, sizeof(ptr), "/params/%s", key);
	seg_problem_add(p, SEG_WHERE_POINTER, ptr, 0, "%s", what);
}

static size_t seg__dg_check(json_t *params, struct seg_problem *p)
{
	static const char *const keys[] = {"groups", "features", "priors",
					   "assign", "filter",	 NULL};
	static const char *const priors[] = {"proportional", "equal", NULL};
	static const char *const assign[] = {"unassigned", "all", NULL};
	size_t before = p->count + p->dropped;
	int64_t id = 0;

	seg_json_object_check(params, keys, "/params", p);
	json_t *v = json_object_get(params, "groups");
	if (!json_is_string(v) || !seg_id_parse(json_string_value(v), json_string_length(v), &id))
		seg_problem_add(p, SEG_WHERE_POINTER, "/params/groups", 0,
				"groups is the id of a scheme (a string of digits): its segments, "
				"in priority order, are the groups");
	seg_analysis_features_check(params, "features", 1, SEG__DISCRIMINANT_FEATURES_MAX, false,
				    p);
	seg__dg_choice(params, "priors", priors, "priors is \"proportional\" or \"equal\"", p);
	seg__dg_choice(params, "assign", assign, "assign is \"unassigned\" or \"all\"", p);
	seg_analysis_filter_check(params, p);
	return p->count + p->dropped - before;
}

/* The engine's progress and cancellation, through the run's hooks, over [0.5, 0.8]. */
static bool seg__dg_tick(void *ctx, double fraction)
{
	const struct seg_job_hooks *h = ctx;
	if (h->stopping(h->ctx))
		return false;
	h->progress(h->ctx, 0.5 + 0.3 * fraction);
	return true;
}

/* What the run computed beside the engine's fit, for the result. */
struct seg__dg_run {
	const struct seg_features *f;
	const struct seg_discriminant_groups *segs;
	const size_t *kept;  /* g: the scheme position of each fitted group */
	const size_t *sizes; /* the scheme's g: assigned customers per segment */
	size_t assigned, unassigned, excluded, classified;
	const size_t *placed; /* g: customers assigned_group places in each group */
};

static json_t *seg__dg_group(const struct seg__dg_run *r, size_t s)
{
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)r->segs->segment_ids[s]);
	return json_pack("{s:s, s:s}", "segment_id", id, "name",
			 r->segs->names[s] ? r->segs->names[s] : "");
}

static json_t *seg__dg_result(const json_t *params, const struct seg__dg_run *r,
			      const struct seg_discriminant *d)
{
	const struct seg_features *f = r->f;
	json_t *groups = json_array(), *empty = json_array(), *functions = json_array(),
	       *features = json_object(), *centroids = json_array(), *cls = json_array(),
	       *missing = json_object();
	for (size_t k = 0; k < d->g; k++) {
		json_t *gr = seg__dg_group(r, r->kept[k]);
		json_object_set_new(gr, "size", json_integer((json_int_t)d->sizes[k]));
		json_object_set_new(gr, "prior", seg_analysis_real(d->priors[k]));
		json_object_set_new(gr, "materialized_size",
				    json_integer((json_int_t)r->placed[k]));
		json_array_append_new(groups, gr);
		json_t *c = json_array(), *row = json_array();
		for (size_t j = 0; j < d->q; j++)
			json_array_append_new(c, seg_analysis_real(d->centroids[k * d->q + j]));
		json_array_append_new(centroids, c);
		for (size_t j = 0; j < d->g; j++)
			json_array_append_new(
				row, json_integer((json_int_t)d->classification[k * d->g + j]));
		json_array_append_new(cls, row);
	}
	for (size_t s = 0, k = 0; s < r->segs->g; s++) {
		if (k < d->g && r->kept[k] == s) {
			k++;
			continue;
		}
		json_t *gr = seg__dg_group(r, s);
		json_object_set_new(gr, "size", json_integer((json_int_t)r->sizes[s]));
		json_array_append_new(empty, gr);
	}
	for (size_t j = 0; j < d->q; j++)
		json_array_append_new(
			functions,
			json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "eigenvalue",
				  seg_analysis_real(d->eigenvalues[j]), "explained",
				  seg_analysis_real(d->explained[j]), "canonical_correlation",
				  seg_analysis_real(d->canonical_correlation[j]), "wilks_lambda",
				  seg_analysis_real(d->wilks_lambda[j]), "chi2",
				  seg_analysis_real(d->chi2[j]), "df", seg_analysis_real(d->df[j]),
				  "p", seg_analysis_real(d->p_value[j])));
	for (size_t i = 0; i < f->d; i++) {
		json_t *coef = json_array(), *raw = json_array(), *st = json_array();
		for (size_t j = 0; j < d->q; j++) {
			json_array_append_new(coef,
					      seg_analysis_real(d->standardized[i * d->q + j]));
			json_array_append_new(raw, seg_analysis_real(d->raw[i * d->q + j]));
			json_array_append_new(st, seg_analysis_real(d->structure[i * d->q + j]));
		}
		json_object_set_new(features, f->cols[i].name,
				    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "wilks_lambda",
					      seg_analysis_real(d->feature_wilks[i]), "F",
					      seg_analysis_real(d->feature_f[i]), "p",
					      seg_analysis_real(d->feature_p[i]), "coefficients",
					      coef, "raw_coefficients", raw, "structure", st));
		json_object_set_new(missing, f->cols[i].name,
				    json_integer((json_int_t)f->cols[i].missing));
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, "
			 "s:o, s:o, s:o, s:I, s:o}",
			 "n", (json_int_t)d->n, "customers", (json_int_t)f->n, "assigned",
			 (json_int_t)r->assigned, "unassigned", (json_int_t)r->unassigned,
			 "excluded", (json_int_t)r->excluded, "classified",
			 (json_int_t)r->classified, "priors",
			 json_string_value(json_object_get(params, "priors")), "assign",
			 json_string_value(json_object_get(params, "assign")), "groups", groups,
			 "empty_groups", empty, "functions", functions, "features", features,
			 "group_centroids", centroids, "classification", cls, "hit_rate",
			 seg_analysis_real(d->hit_rate), "proportional_chance",
			 seg_analysis_real(d->proportional_chance), "maximum_chance",
			 seg_analysis_real(d->maximum_chance), "loo_unclassified",
			 (json_int_t)d->loo_unclassified, "missing", missing);
}

static bool seg__dg_complete(const struct seg_features *f, size_t r)
{
	for (size_t i = 0; i < f->d; i++)
		if (isnan(f->x[r * f->d + i]))
			return false;
	return true;
}

static enum seg_err seg__dg_invalid(json_t **problem, const char *pointer, const char *detail)
{
	*problem = seg_analysis_problem(detail);
	if (pointer)
		json_object_set_new(*problem, "pointer", json_string(pointer));
	return SEG_ERR_INVALID;
}

static enum seg_err seg__dg_run(const struct seg_analysis_ctx *ctx, json_t **result,
				json_t **problem)
{
	struct seg_features f = {0};
	struct seg_discriminant_groups segs = {0};
	struct seg_discriminant d = {0};
	struct seg_buf detail = SEG_BUF_INIT;
	int *truth = NULL, *predicted = NULL, *assigned = NULL, *cg = NULL;
	double *posterior = NULL, *pc = NULL;
	size_t *sizes = NULL, *complete = NULL, *kept = NULL, *placed = NULL;
	char msg[300];
	const json_t *gv = json_object_get(ctx->params, "groups");
	const char *priors = json_string_value(json_object_get(ctx->params, "priors"));
	const char *assign = json_string_value(json_object_get(ctx->params, "assign"));
	bool all = assign && strcmp(assign, "all") == 0;
	int64_t scheme = 0;
	enum seg_err err;

	*result = *problem = NULL;
	if (ctx->hooks->stopping(ctx->hooks->ctx))
		return SEG_ERR_CANCELLED;
	if (!seg_id_parse(json_string_value(gv), json_string_length(gv), &scheme))
		return SEG_ERR_INTERNAL; /* check let it through */
	/* per row: true group, predicted, assigned (ints) and the posterior */
	err = seg_analysis_features_read(ctx, "features", false, 3 * sizeof(int) + sizeof(double),
					 0.05, 0.4, &f, problem);
	if (err)
		goto out;
	if (f.n == 0) {
		err = seg__dg_invalid(
			problem, NULL,
			json_is_null(json_object_get(ctx->params, "filter"))
				? "the tenant has no customers: there is nothing to analyse"
				: "the filter matches no customer: there is nothing to analyse");
		goto out;
	}
	truth = malloc(f.n * sizeof(int));
	predicted = malloc(f.n * sizeof(int));
	assigned = malloc(f.n * sizeof(int));
	posterior = malloc(f.n * sizeof(double));
	if (!truth || !predicted || !assigned || !posterior) {
		err = seg__dg_invalid(problem, NULL,
				      "the customers' groups and posteriors do not fit in memory");
		goto out;
	}
	err = seg_db_discriminant_groups(ctx->db, ctx->tenant, scheme, &f, &segs, truth);
	if (err == SEG_ERR_NOT_FOUND) {
		seg_buf_addf(&detail, "the tenant has no scheme %lld (deleted?)",
			     (long long)scheme);
		err = seg__dg_invalid(problem, "/params/groups", detail.data);
		goto out;
	}
	if (err)
		goto out;
	if (ctx->hooks->stopping(ctx->hooks->ctx)) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}
	ctx->hooks->progress(ctx->hooks->ctx, 0.45);
	/* the groups: the scheme's segments with a customer that has every feature */
	size_t ns = segs.g;
	sizes = seg_calloc(ns + 1, sizeof(*sizes));
	complete = seg_calloc(ns + 1, sizeof(*complete));
	kept = seg_calloc(ns + 1, sizeof(*kept));
	size_t assigned_n = 0, excluded = 0;
	for (size_t r = 0; r < f.n; r++) {
		if (truth[r] < 0)
			continue;
		assigned_n++;
		sizes[truth[r]]++;
		if (seg__dg_complete(&f, r))
			complete[truth[r]]++;
		else
			excluded++;
	}
	size_t g = 0;
	cg = seg_calloc(ns + 1, sizeof(*cg));
	for (size_t s = 0; s < ns; s++) {
		cg[s] = complete[s] ? (int)g : -1;
		if (complete[s])
			kept[g++] = s;
	}
	if (g < 2) {
		seg_buf_addf(
			&detail,
			"discriminant analysis needs at least two groups with a customer that "
			"has every feature: the scheme's %zu segments have %zu (%zu of the %zu "
			"customers read are in a segment of the scheme; a customer without "
			"every feature takes no part)",
			ns, g, assigned_n, f.n);
		err = seg__dg_invalid(problem, ns < 2 ? "/params/groups" : NULL, detail.data);
		goto out;
	}
	/* an index into the fitted groups; none for a customer of an empty segment */
	for (size_t r = 0; r < f.n; r++)
		truth[r] = truth[r] >= 0 ? cg[truth[r]] : -1;
	struct seg_discriminant_params dp = {
		.priors = priors && strcmp(priors, "equal") == 0 ? SEG_DISCRIMINANT_EQUAL
								 : SEG_DISCRIMINANT_PROPORTIONAL,
		.tick = seg__dg_tick,
		.tick_ctx = (void *)ctx->hooks,
	};
	enum seg_discriminant_fail fail =
		seg_discriminant_fit(f.x, truth, f.n, f.d, g, &dp, &d, msg, sizeof(msg));
	if (fail == SEG_DISCRIMINANT_CANCELLED) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}
	if (fail != SEG_DISCRIMINANT_OK) {
		seg_buf_addstr(&detail, msg);
		if (fail == SEG_DISCRIMINANT_TOO_FEW)
			seg_buf_addf(&detail,
				     " (%zu of the %zu customers in a group have every feature; a "
				     "customer without one takes no part)",
				     assigned_n - excluded, assigned_n);
		err = seg__dg_invalid(problem, NULL, detail.data);
		goto out;
	}
	if (ctx->hooks->stopping(ctx->hooks->ctx)) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}
	/* every customer classified, a chunk at a time (posteriors of the chunk only) */
	pc = seg_calloc(SEG__DISCRIMINANT_CHUNK * g, sizeof(*pc));
	placed = seg_calloc(g, sizeof(*placed));
	size_t classified = 0, unassigned = f.n - assigned_n;
	for (size_t r0 = 0; r0 < f.n; r0 += SEG__DISCRIMINANT_CHUNK) {
		size_t m = f.n - r0 < SEG__DISCRIMINANT_CHUNK ? f.n - r0 : SEG__DISCRIMINANT_CHUNK;
		seg_discriminant_classify(&d, f.x + r0 * f.d, m, predicted + r0, pc, NULL);
		for (size_t i = 0; i < m; i++) {
			size_t r = r0 + i;
			int p = predicted[r];
			posterior[r] = p >= 0 ? pc[i * g + (size_t)p] : NAN;
			if (all)
				assigned[r] = p >= 0 ? p : truth[r];
			else
				assigned[r] = truth[r] >= 0 ? truth[r] : p;
			if (p >= 0 && truth[r] < 0)
				classified++; /* a customer to assign that the model placed */
			if (assigned[r] >= 0)
				placed[assigned[r]]++;
		}
	}
	ctx->hooks->progress(ctx->hooks->ctx, 0.85);
	err = seg_db_discriminant_store(ctx->db, ctx->store, &f, truth, predicted, posterior,
					assigned, ctx->hooks);
	if (err)
		goto out;
	ctx->hooks->progress(ctx->hooks->ctx, 0.95);
	struct seg__dg_run rr = {&f,	     &segs,    kept,	   sizes, assigned_n,
				 unassigned, excluded, classified, placed};
	*result = seg__dg_result(ctx->params, &rr, &d);
	if (!*result)
		err = SEG_ERR_INTERNAL;
out:
	seg_buf_release(&detail);
	free(truth);
	free(predicted);
	free(assigned);
	free(posterior);
	free(pc);
	free(sizes);
	free(complete);
	free(kept);
	free(placed);
	free(cg);
	seg_discriminant_release(&d);
	seg_discriminant_groups_release(&segs);
	seg_features_release(&f);
	return err;
}

/*
 * For :materialize (h-kw's static segments, handlers/analysiskinds.h): one static segment per
 * fitted group, in the scheme's order, named as its source segment (at most 80 bytes, cut at a
 * character's start), holding the customers whose assigned_group it is.
 */
static json_t *seg__dg_groups(const json_t *params, const json_t *result)
{
	const json_t *groups = json_object_get(result, "groups");
	const char *assign = json_string_value(json_object_get(params, "assign"));
	bool all = assign && strcmp(assign, "all") == 0;
	json_t *out = json_array();
	for (size_t k = 0; k < json_array_size(groups); k++) {
		const json_t *gr = json_array_get(groups, k);
		const char *name = json_string_value(json_object_get(gr, "name"));
		const char *id = json_string_value(json_object_get(gr, "segment_id"));
		size_t len = name ? strlen(name) : 0;
		if (len > 80) {
			len = 80;
			while (len > 0 && ((unsigned char)name[len] & 0xc0) == 0x80)
				len--;
		}
		struct seg_buf n = SEG_BUF_INIT, d = SEG_BUF_INIT;
		if (len)
			seg_buf_add(&n, name, len);
		else
			seg_buf_addf(&n, "Group %zu", k + 1);
		seg_buf_addf(
			&d,
			all ? "every customer the discriminant analysis places in the group "
			      "of segment %s"
			    : "the customers of segment %s and those the discriminant analysis "
			      "assigns to its group",
			id ? id : "");
		json_array_append_new(
			out, json_pack("{s:s, s:s}", "name", n.data, "description", d.data));
		seg_buf_release(&n);
		seg_buf_release(&d);
	}
	return out;
}

const struct seg_analysis_kind seg_analysis_discriminant = {
	.type = "discriminant",
	.check = seg__dg_check,
	.run = seg__dg_run,
	.columns = (const char *const[]){"true_group", "predicted_group", "posterior",
					 "assigned_group", NULL},
	.groups = seg__dg_groups,
	.group_column = "assigned_group",
};

/*
 * The types of analysis (SPEC §6), as jobkinds.h lists the kinds of job: each type names the
 * functions that check its params, run it, and turn its result into segments. The machinery
 * around them (handlers/analyses.c, db/analyses.c: the endpoints of SPEC §5.6, the job kind
 * "analysis", schedules, the metric copy, materialising) is written once for every type.
 *
 * A type lives in three places: its mathematics in analytics/ (pure: arrays in, numbers out),
 * its SQL in db/ (reading the tenant's data, writing the run's store), and the glue below
 * in handlers/analysis_<type>.c, which defines `const struct seg_analysis_kind
 * seg_analysis_<type>`; handlers/analysiskinds.c lists it (one extern line, one list line).
 * handlers/analysis_abc.c is the example to follow.
 *
 * What the machinery does around a run (handlers/analysiskinds.c, seg_analysis_job_run): it
 * begins the transaction (no statement timeout), calls run, and then, in the same
 * transaction, locks the job (checking the claim), stores the result (written with
 * seg_analysis_json_add), copies the type's metrics into customer_scores when the analysis is the
 * tenant's metric source for its type, queues the refreshes of the segments that read analysis
 * metrics, marks the job succeeded and commits. A run therefore never begins, commits or rolls back
 * itself.
 */
#ifndef SEG_ANALYSISKINDS_H
#define SEG_ANALYSISKINDS_H

#include "db.h"
#include "problem.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* struct seg_analysis_metric (a metric the runs of a type provide) is declared in db.h. */

/* What a run works with. */
struct seg_analysis_ctx {
	struct seg_db *db; /* the job worker's connection, inside the run's transaction */
	const struct seg_job_claim *job;
	const struct seg_job_hooks *hooks;
	int64_t tenant;
	int64_t analysis;
	const json_t *params; /* as check left them: every default filled in */
	/*
	 * The table this run writes each customer's result into (seg__analysis_store in db/:
	 * customer_id and one typed column per key of the type's documents), named by the
	 * machinery; it becomes the analysis's when the run succeeds.
	 */
	const char *store;
};

struct seg_analysis_kind {
	const char *type; /* "rfm", "abc", "frequency", "clv", ... */
	/*
	 * Checks params (a JSON object) and fills in every default in place, so that the stored
	 * params say exactly what runs. Adds a problem for each error, with a pointer under
	 * /params, and returns their number (0: valid). Pure; runs on a request worker.
	 */
	size_t (*check)(json_t *params, struct seg_problem *p);
	/*
	 * Runs the analysis inside the run's transaction (begun by the machinery): reads the
	 * tenant's data, computes, writes each customer's row into ctx->store (through its SQL
	 * in db/, which creates that table), and sets *result (a
	 * new reference: the result document of SPEC §6). Checks ctx->hooks->stopping at its check
	 * points (returns SEG_ERR_CANCELLED) and reports progress. When the data cannot support the
	 * analysis (no customer to score, a fit that does not converge), it returns SEG_ERR_INVALID
	 * with *problem set (a problem object:
	 * {"title", "detail", ...}): the run fails at once, without retry, and the analysis shows
	 * the problem. Any other error fails the attempt (retried with backoff). Never writes a
	 * NaN or an infinity into a result. Runs on a job worker thread.
	 */
	enum seg_err (*run)(const struct seg_analysis_ctx *ctx, json_t **result, json_t **problem);
	/* The metrics the type provides, ended by {NULL, NULL}; NULL: none. */
	const struct seg_analysis_metric *metrics;
	/*
	 * The columns of GET /v1/analyses/{id}/customers as CSV after customer_id, in order:
	 * columns of the store (NULL is an empty cell). Ended by NULL.
	 */
	const char *const *columns;
	/*
	 * NULL, or the columns of one analysis's CSV (its params and result; a new JSON array of
	 * strings), in place of columns, for a type whose columns depend on the run (factor:
	 * factor_1 .. factor_k). Pure.
	 */
	json_t *(*columns_of)(const json_t *params, const json_t *result);
	/*
	 * For :materialize: the scheme's segments in priority order, a new array of {"name",
	 * "rule"} whose rules read the type's metrics, MECE by construction over every customer
	 * (also those without a score: SPEC §6.1 "Lost", ABC's "C"). NULL when the type cannot be
	 * materialised. Pure.
	 */
	json_t *(*segments)(const json_t *params, const json_t *result);
	/*
	 * For :materialize as a scheme of STATIC segments (in place of segments; h-kw): NULL, or
	 * the scheme's segments in priority order, a new array of {"name", "description"?} (names
	 * need not be distinct: repeats get " (2)", " (3)" ...), one per group of the run. Pure.
	 * With it, group_column names the store column (an integer, a 0-based index into that
	 * array; NULL: the customer is in no group) that places each customer. Materialising
	 * creates the static segments ("<scheme_name>: <name>", source the type, analysis_id the
	 * analysis, analysis_group the index) holding the existing customers of the latest run's
	 * store in their group (each recorded as entered in the feed; a history point and the size
	 * after), and the scheme; every later succeeded run of the analysis moves those members to
	 * its new store in the run's transaction (the enters and exits recorded, the dynamic
	 * segments that refer to them following, a history point each). A group without a segment
	 * (a later run found more groups) places its customers in none. db/README.md "Static
	 * materialisation".
	 */
	json_t *(*groups)(const json_t *params, const json_t *result);
	const char *group_column;
};

/* Every type, ended by NULL. */
extern const struct seg_analysis_kind *const seg_analysis_kinds[];

/* The type named type, or NULL. */
const struct seg_analysis_kind *seg_analysis_kind_find(const char *type);

/*
 * Appends v as compact JSON text to out, every real as the shortest decimal that reads back
 * exactly (seg_json_add_double: 0.8, not 0.80000000000000004), objects in insertion order.
 * Results and customer data are written through it. Values nested deeper than 64 are
 * written as null. Any thread.
 */
void seg_analysis_json_add(struct seg_buf *out, const json_t *v);

/*
 * A problem object for a run the data cannot support (SEG_ERR_INVALID from kind->run): {"type":
 * "urn:segmentd:problem:analysis-not-possible", "title": "Analysis not possible", "status":
 * 422, "detail": detail}. A new reference.
 */
json_t *seg_analysis_problem(const char *detail);

/*
 * The job kind "analysis" (handlers/jobkinds.c lists it): runs the analysis job->target of
 * the tenant with its type's run, and records the outcome (db/README.md "Analyses").
 */
enum seg_err seg_analysis_job_run(struct seg_db *db, const struct seg_job_claim *job,
				  const struct seg_job_hooks *hooks);

/* ---- what the multivariate types share (handlers/analysis_features.c; h-fe) ---------- */

/*
 * The memory a run may take for its data, in bytes (SEGMENTD_ANALYSIS_MEMORY; 0: no limit).
 * Set once at start, before any job worker runs; read by the runs.
 */
void seg_analysis_memory_limit_set(size_t bytes);
size_t seg_analysis_memory_limit(void);

/*
 * Checks params[key], a list of features ({"attr": name} or {"metric": name}; names distinct,
 * at most max of them, at least min), with pointers /params/<key>/<i>; categorical: whether
 * string metrics are accepted (string attributes are told apart only when the run reads the
 * catalogue). A missing list is an error. Returns the number of problems added. Pure.
 */
size_t seg_analysis_features_check(json_t *params, const char *key, size_t min, size_t max,
				   bool categorical, struct seg_problem *p);
/*
 * The checked list params[key] as specs (a new array of its size, names borrowed from
 * params), *d its length.
 */
struct seg_feature_spec *seg_analysis_features_specs(const json_t *params, const char *key,
						     size_t *d);
/* A feature's name in results: its attribute's or metric's name. */
const char *seg_analysis_feature_name(const json_t *feature);
/*
 * Checks the optional params.filter: absent or null (every customer; stored as null), or a
 * rule of SPEC §3, validated for its shape here (no catalogue), pointers under
 * /params/filter. Returns the number of problems added. Pure.
 */
size_t seg_analysis_filter_check(json_t *params, struct seg_problem *p);
/*
 * Reads the features of the run's customers (seg_db_features_read with params.filter and the
 * memory limit): SEG_ERR_INVALID with *problem set when the data cannot be read as asked
 * (with "pointer": "/params/<key>/<i>" when a feature is to blame). progress over [from, to].
 */
enum seg_err seg_analysis_features_read(const struct seg_analysis_ctx *ctx, const char *key,
					bool categorical, size_t extra_per_row, double from,
					double to, struct seg_features *out, json_t **problem);
/* A number for a result: a real, or null when not finite (results never hold NaN). */
json_t *seg_analysis_real(double x);

#endif

/*
 * The types of analysis (SPEC §6), as jobkinds.h lists the kinds of job: each type names the
 * functions that check its params, run it, and turn its result into segments. The machinery
 * around them (handlers/analyses.c, db/analyses.c: the endpoints of SPEC §5.6, the job kind
 * "analysis", schedules, the metric copy, materialising) is written once for every type.
 *
 * A type lives in three places: its mathematics in analytics/ (pure: arrays in, numbers out),
 * its SQL in db/ (reading the tenant's data, writing analysis_customers), and the glue below
 * in handlers/analysis_<type>.c.
 */
#ifndef SEG_ANALYSISKINDS_H
#define SEG_ANALYSISKINDS_H

#include "db.h"
#include "problem.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A metric (SPEC §4) that the runs of a type provide: the customer_scores column of that name
 * (migrations/0008_analyses.sql), filled from the key of the same name in
 * analysis_customers.data, cast to sqltype. The runs of the analysis that is the tenant's
 * source for the type (the one materialised last) copy them (db/analyses.c).
 */
struct seg_analysis_metric {
	const char *name;
	const char *sqltype;
};

/* What a run works with. */
struct seg_analysis_ctx {
	struct seg_db *db; /* the job worker's connection, inside the run's transaction */
	const struct seg_job_claim *job;
	const struct seg_job_hooks *hooks;
	int64_t tenant;
	int64_t analysis;
	const json_t *params; /* as check left them: every default filled in */
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
	 * Runs the analysis inside the run's transaction (begun, the job locked): reads the
	 * tenant's data, computes, replaces the rows of ctx->analysis in analysis_customers, and
	 * sets *result (a new reference: the result document of SPEC §6). Checks
	 * ctx->hooks->stopping at its check points (returns SEG_ERR_CANCELLED) and reports
	 * progress. When the data cannot support the analysis (no customer to score, a fit that
	 * does not converge), it returns SEG_ERR_INVALID with *problem set (a problem object:
	 * {"title", "detail", ...}): the run fails at once, without retry, and the analysis shows
	 * the problem. Any other error fails the attempt (retried with backoff). Never writes a
	 * NaN or an infinity into a result. Runs on a job worker thread.
	 */
	enum seg_err (*run)(const struct seg_analysis_ctx *ctx, json_t **result, json_t **problem);
	/* The metrics the type provides, ended by {NULL, NULL}; NULL: none. */
	const struct seg_analysis_metric *metrics;
	/*
	 * The columns of GET /v1/analyses/{id}/customers as CSV after customer_id, in order: keys
	 * of analysis_customers.data (a missing key is an empty cell). Ended by NULL.
	 */
	const char *const *columns;
	/*
	 * For :materialize: the scheme's segments in priority order, a new array of {"name",
	 * "rule"} whose rules read the type's metrics, MECE by construction over every customer
	 * (also those without a score: SPEC §6.1 "Lost", ABC's "C"). NULL when the type cannot be
	 * materialised. Pure.
	 */
	json_t *(*segments)(const json_t *params, const json_t *result);
};

/* Every type, ended by NULL. */
extern const struct seg_analysis_kind *const seg_analysis_kinds[];

/* The type named type, or NULL. */
const struct seg_analysis_kind *seg_analysis_kind_find(const char *type);

#endif

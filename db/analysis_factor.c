/*
 * The factor analysis's store (SPEC §6 factor; h-fe): each customer's factor scores, computed
 * in C (handlers/analysis_factor.c, analytics/factor.h), written through COPY
 * (seg__analysis_store_copy): customer_id, factor_1 .. factor_k.
 */
#include "internal.h"

#include <stdio.h>

struct seg__factor_rows {
	const struct seg_features *f;
	const double *scores;
	size_t k;
};

static void seg__factor_row(void *ctx, size_t i, struct seg_buf *line)
{
	const struct seg__factor_rows *r = ctx;
	seg__copy_text(line, r->f->ids[i]);
	for (size_t j = 0; j < r->k; j++) {
		seg_buf_addch(line, '\t');
		seg__copy_double(line, r->scores[i * r->k + j]);
	}
}

enum seg_err seg_db_factor_store(struct seg_db *db, const char *store, const struct seg_features *f,
				 const double *scores, size_t k, const struct seg_job_hooks *hooks)
{
	struct seg_buf cols = SEG_BUF_INIT;
	struct seg__factor_rows rows = {f, scores, k};
	for (size_t j = 0; j < k; j++)
		seg_buf_addf(&cols, "%sfactor_%zu double precision", j ? ", " : "", j + 1);
	enum seg_err err =
		seg__analysis_store_copy(db, store, cols.data, f->n, seg__factor_row, &rows, hooks);
	seg_buf_release(&cols);
	return err;
}

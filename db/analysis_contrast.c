/*
 * The contrast-group analysis's store (SPEC §6 contrast; h-tw): each customer's leaf of the
 * tree and target, computed in C (handlers/analysis_contrast.c, analytics/contrast.h), written
 * through COPY (seg__analysis_store_copy): customer_id, leaf (1-based, the result's leaf
 * index), target (NULL for a customer without one).
 */
#include "internal.h"

#include <stdio.h>

struct seg__contrast_rows {
	const struct seg_features *f;
	const uint32_t *leaf;
	const double *target;
};

static void seg__contrast_row(void *ctx, size_t i, struct seg_buf *line)
{
	const struct seg__contrast_rows *r = ctx;
	seg__copy_text(line, r->f->ids[i]);
	seg_buf_addf(line, "\t%lu\t", (unsigned long)r->leaf[i] + 1);
	seg__copy_double(line, r->target[i]);
}

enum seg_err seg_db_contrast_store(struct seg_db *db, const char *store,
				   const struct seg_features *f, const uint32_t *leaf,
				   const double *target, const struct seg_job_hooks *hooks)
{
	struct seg__contrast_rows rows = {f, leaf, target};
	return seg__analysis_store_copy(db, store, "leaf integer, target double precision", f->n,
					seg__contrast_row, &rows, hooks);
}

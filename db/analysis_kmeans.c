/*
 * The k-means analysis's store (SPEC §6 kmeans; h-kw): each customer's cluster and its
 * distance to the cluster's centroid, computed in C (handlers/analysis_kmeans.c,
 * analytics/kmeans.h), written through COPY (seg__analysis_store_copy): customer_id, cluster
 * (integer, 0-based; NULL for a customer left out), distance (double precision, in the scaled
 * units the clustering used; NULL likewise).
 */
#include "internal.h"

#include <stdio.h>

struct seg__kmeans_rows {
	const struct seg_features *f;
	const int32_t *cluster;
	const double *distance;
};

static void seg__kmeans_row(void *ctx, size_t i, struct seg_buf *line)
{
	const struct seg__kmeans_rows *r = ctx;
	seg__copy_text(line, r->f->ids[i]);
	if (r->cluster[i] < 0) {
		seg_buf_addstr(line, "\t\\N\t\\N");
		return;
	}
	seg_buf_addf(line, "\t%d\t", (int)r->cluster[i]);
	seg__copy_double(line, r->distance[i]);
}

enum seg_err seg_db_kmeans_store(struct seg_db *db, const char *store, const struct seg_features *f,
				 const int32_t *cluster, const double *distance,
				 const struct seg_job_hooks *hooks)
{
	struct seg__kmeans_rows rows = {f, cluster, distance};
	return seg__analysis_store_copy(db, store, "cluster integer, distance double precision",
					f->n, seg__kmeans_row, &rows, hooks);
}

SEG_STMT(kmeans_previous, "SELECT result::text FROM analyses WHERE tenant_id = $1 AND id = $2");

enum seg_err seg_db_analysis_previous_result(struct seg_db *db, int64_t tenant, int64_t id,
					     char **json)
{
	char tid[SEG_INT_TEXT], aid[SEG_INT_TEXT];
	const char *p[] = {seg__db_int(tid, tenant), seg__db_int(aid, id)};
	PGresult *res = NULL;
	enum seg_err err = seg__db_exec(db, &kmeans_previous, 2, p, &res);
	*json = NULL;
	if (!err && PQntuples(res) > 0)
		*json = seg__db_strdup(res, 0, 0);
	PQclear(res);
	return err;
}

/*
 * The discriminant analysis's SQL (SPEC §6 discriminant; h-dw): the groups of a scheme (its
 * segments in priority order) and each customer's group (the first of them it is a member of,
 * as a scheme's assignment, db/schemes.c), read inside the run's transaction; and the run's
 * store, computed in C (handlers/analysis_discriminant.c) and written through COPY
 * (seg__analysis_store_copy): customer_id, true_group, predicted_group, posterior, assigned_group.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* The scheme's segments in priority order; one row of NULLs for a scheme without any. */
static const char seg__dg_segments_sql[] =
	"SELECT s.id, s.name FROM schemes k LEFT JOIN (scheme_segments ss JOIN segments s "
	"ON s.tenant_id = ss.tenant_id AND s.id = ss.segment_id) "
	"ON ss.tenant_id = k.tenant_id AND ss.scheme_id = k.id "
	"WHERE k.tenant_id = $1 AND k.id = $2 ORDER BY ss.position";
/*
 * Each member's first segment of the scheme (1-based position in $2), in customer order (byte
 * order: customer_id is COLLATE "C"), as the scheme's snapshot computes it.
 */
static const char seg__dg_members_sql[] =
	"SELECT m.customer_id, min(array_position($2::bigint[], m.segment_id)) "
	"FROM memberships m WHERE m.tenant_id = $1 AND m.segment_id = ANY($2::bigint[]) "
	"GROUP BY m.customer_id ORDER BY m.customer_id";

void seg_discriminant_groups_release(struct seg_discriminant_groups *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->g; i++)
		free(g->names[i]);
	free(g->names);
	free(g->segment_ids);
	memset(g, 0, sizeof(*g));
}

enum seg_err seg_db_discriminant_groups(struct seg_db *db, int64_t tenant, int64_t scheme,
					const struct seg_features *f,
					struct seg_discriminant_groups *out, int *group)
{
	char t[SEG_INT_TEXT], s[SEG_INT_TEXT];
	const char *params[2] = {seg__db_int(t, tenant), seg__db_int(s, scheme)};
	struct seg_buf ids = SEG_BUF_INIT;
	PGresult *res = NULL;
	enum seg_err err;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < f->n; i++)
		group[i] = -1;
	err = seg__db_query(db, seg__dg_segments_sql, 2, params, &res);
	if (err)
		goto out;
	if (PQntuples(res) == 0) {
		err = SEG_ERR_NOT_FOUND;
		goto out;
	}
	size_t g = PQgetisnull(res, 0, 0) ? 0 : (size_t)PQntuples(res);
	out->segment_ids = seg_calloc(g ? g : 1, sizeof(*out->segment_ids));
	out->names = seg_calloc(g ? g : 1, sizeof(*out->names));
	seg_buf_addch(&ids, '{');
	for (size_t i = 0; i < g; i++) {
		out->segment_ids[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
		out->names[i] = seg__db_strdup(res, (int)i, 1);
		seg_buf_addf(&ids, "%s%s", i ? "," : "", PQgetvalue(res, (int)i, 0));
	}
	seg_buf_addch(&ids, '}');
	out->g = g;
	PQclear(res);
	res = NULL;
	if (g == 0)
		goto out;
	params[1] = ids.data;
	err = seg__db_query(db, seg__dg_members_sql, 2, params, &res);
	if (err)
		goto out;
	/* both in byte order: one merge */
	size_t r = 0, rows = (size_t)PQntuples(res);
	for (size_t i = 0; i < f->n && r < rows; i++) {
		int c = -1;
		while (r < rows && (c = strcmp(PQgetvalue(res, (int)r, 0), f->ids[i])) < 0)
			r++;
		if (r < rows && c == 0) {
			long p = strtol(PQgetvalue(res, (int)r, 1), NULL, 10);
			if (p >= 1 && (size_t)p <= g)
				group[i] = (int)(p - 1);
			r++;
		}
	}
out:
	if (err)
		seg_discriminant_groups_release(out);
	PQclear(res);
	seg_buf_release(&ids);
	return err;
}

struct seg__dg_rows {
	const struct seg_features *f;
	const int *truth, *predicted, *group;
	const double *posterior;
};

static void seg__dg_int(struct seg_buf *line, int v)
{
	if (v < 0)
		seg_buf_addstr(line, "\\N");
	else
		seg_buf_addf(line, "%d", v);
}

static void seg__dg_row(void *ctx, size_t i, struct seg_buf *line)
{
	const struct seg__dg_rows *r = ctx;
	seg__copy_text(line, r->f->ids[i]);
	seg_buf_addch(line, '\t');
	seg__dg_int(line, r->truth[i]);
	seg_buf_addch(line, '\t');
	seg__dg_int(line, r->predicted[i]);
	seg_buf_addch(line, '\t');
	seg__copy_double(line, r->posterior[i]);
	seg_buf_addch(line, '\t');
	seg__dg_int(line, r->group[i]);
}

enum seg_err seg_db_discriminant_store(struct seg_db *db, const char *store,
				       const struct seg_features *f, const int *truth,
				       const int *predicted, const double *posterior,
				       const int *group, const struct seg_job_hooks *hooks)
{
	struct seg__dg_rows rows = {f, truth, predicted, group, posterior};
	return seg__analysis_store_copy(db, store,
					"true_group integer, predicted_group integer, "
					"posterior double precision, assigned_group integer",
					f->n, seg__dg_row, &rows, hooks);
}

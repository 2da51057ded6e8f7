/*
 * The conjoint analysis's SQL (SPEC §6 conjoint, §6.2; h-cw): the rated profiles (events of one
 * type) of every respondent, read through a cursor in binary format, each attribute's levels
 * numbered in the order of their first appearance over all the events; and the run's store,
 * each respondent's own result, written through COPY (seg__analysis_store_copy).
 */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "conjoint.h"

#define SEG__CJ_BATCH "20000"

static void seg__cj_say(char *detail, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seg__cj_say(char *detail, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!len)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, len, fmt, ap);
	va_end(ap);
}

/* 8 bytes in network order, as binary int8 and float8 come. */
static uint64_t seg__cj_u64(const char *v)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | (unsigned char)v[i];
	return u;
}

static double seg__cj_float8(PGresult *res, int r, int c)
{
	if (PQgetisnull(res, r, c) || PQgetlength(res, r, c) != 8)
		return NAN;
	uint64_t u = seg__cj_u64(PQgetvalue(res, r, c));
	double x;
	memcpy(&x, &u, sizeof(x));
	return isfinite(x) ? x : NAN;
}

void seg_conjoint_data_release(struct seg_conjoint_data *d)
{
	if (!d)
		return;
	for (size_t a = 0; d->levels && a < d->nattr; a++) {
		for (size_t l = 0; d->levels[a] && l < d->nlevels[a]; l++)
			free(d->levels[a][l]);
		free(d->levels[a]);
	}
	free(d->levels);
	free(d->nlevels);
	free(d->ids);
	free(d->arena);
	free(d->start);
	free(d->codes);
	free(d->rating);
	free(d->price);
	memset(d, 0, sizeof(*d));
}

/* For sorting an attribute's levels by their first appearance. */
struct seg__cj_first {
	int64_t g; /* the event's rank over all events */
	size_t code;
};

static int seg__cj_first_cmp(const void *a, const void *b)
{
	const struct seg__cj_first *x = a, *y = b;
	return x->g < y->g ? -1 : x->g > y->g;
}

/* Grows the profile arrays to hold cap profiles; false when memory runs out. */
static bool seg__cj_grow(struct seg_conjoint_data *out, size_t cap, int64_t **first_g)
{
	size_t ncodes = cap * out->nattr;
	int32_t *codes = realloc(out->codes, (ncodes > 0 ? ncodes : 1) * sizeof(*codes));
	if (codes)
		out->codes = codes;
	double *rating = codes ? realloc(out->rating, cap * sizeof(*rating)) : NULL;
	if (rating)
		out->rating = rating;
	double *price = rating && out->price ? realloc(out->price, cap * sizeof(*price)) : NULL;
	if (price)
		out->price = price;
	int64_t *g = rating && (!out->price || price) ? realloc(*first_g, cap * sizeof(**first_g))
						      : NULL;
	if (g)
		*first_g = g;
	return g != NULL;
}

enum seg_err seg_db_conjoint_read(struct seg_db *db, const struct seg_conjoint_request *rq,
				  struct seg_conjoint_data *out, char *detail, size_t detail_len)
{
	struct seg_buf sql = SEG_BUF_INIT, ids = SEG_BUF_INIT;
	struct seg__cats *cats = NULL;
	int64_t **firsts = NULL; /* per attribute, per code in reading order: its first rank */
	size_t *fcap = NULL;	 /* per attribute: the capacity of firsts[a] */
	int64_t *prof_g = NULL;	 /* per profile: the event's rank (for the levels' order) */
	size_t *offsets = NULL, ncap = 0;
	const char **params = NULL;
	char tid[SEG_INT_TEXT];
	PGresult *res = NULL;
	bool declared = false;
	size_t nattr = rq->nattr, nparams = 0, n = 0, cap = 0, nresp = 0;
	enum seg_err err = SEG_OK;

	memset(out, 0, sizeof(*out));
	if (detail_len)
		detail[0] = '\0';
	out->nattr = nattr;
	params = seg_calloc(nattr + 4, sizeof(*params));
	params[nparams++] = seg__db_int(tid, rq->tenant);
	params[nparams++] = rq->event;
	/* the memory it would take, refused over the limit before anything is allocated */
	err = seg__db_query(db,
			    "SELECT count(*), count(DISTINCT customer_id), "
			    "coalesce(sum(octet_length(customer_id)), 0) FROM events "
			    "WHERE tenant_id = $1 AND type = $2",
			    2, params, &res);
	if (err)
		goto out;
	size_t count = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	size_t people = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	size_t idbytes = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	res = NULL;
	double need = (double)count * ((double)nattr * sizeof(int32_t) + 3 * sizeof(double) +
				       (double)rq->extra_per_profile) +
		      (double)people * (sizeof(char *) + 2 * sizeof(size_t)) + (double)idbytes;
	if (rq->memory_limit && need > (double)rq->memory_limit) {
		seg__cj_say(detail, detail_len,
			    "%zu rated profiles of %zu respondents would need about %.0f MB of "
			    "memory, over the limit of %zu MB (SEGMENTD_ANALYSIS_MEMORY)",
			    count, people, ceil(need / 1048576.0), rq->memory_limit / 1048576);
		err = SEG_ERR_INVALID;
		goto out;
	}
	err = seg__db_query(db, "SET LOCAL cursor_tuple_fraction = 1", 0, NULL, NULL);
	if (!err) /* two sorts of every event: in memory, as a segment refresh sorts */
		err = seg__db_query(db, "SET LOCAL work_mem = '64MB'", 0, NULL, NULL);
	if (err)
		goto out;
	/* each attribute's level as text, the rating and the price as float8 */
	seg_buf_addstr(&sql, "DECLARE seg_conjoint NO SCROLL CURSOR FOR SELECT e.customer_id, "
			     "(row_number() OVER (ORDER BY e.occurred_at, e.id, e.seq))::int8");
	for (size_t a = 0; a < nattr; a++) {
		params[nparams++] = rq->attributes[a];
		seg_buf_addf(&sql,
			     ", CASE WHEN jsonb_typeof(e.properties -> $%zu) IN ('string', "
			     "'number', 'boolean') THEN e.properties ->> $%zu END",
			     nparams, nparams);
	}
	const char *numeric[2] = {rq->response, rq->price};
	for (size_t k = 0; k < 2 && numeric[k]; k++) {
		params[nparams++] = numeric[k];
		seg_buf_addf(&sql,
			     ", CASE WHEN jsonb_typeof(e.properties -> $%zu) = 'number' "
			     "THEN (e.properties -> $%zu)::float8 END",
			     nparams, nparams);
	}
	seg_buf_addstr(&sql, " FROM events e WHERE e.tenant_id = $1 AND e.type = $2 "
			     "ORDER BY e.customer_id, e.occurred_at, e.id, e.seq");
	err = seg__db_query(db, sql.data, (int)nparams, params, NULL);
	if (err)
		goto out;
	declared = true;
	cap = count ? count : 1;
	ncap = people ? people + 1 : 2;
	cats = seg_calloc(nattr ? nattr : 1, sizeof(*cats));
	firsts = seg_calloc(nattr ? nattr : 1, sizeof(*firsts));
	fcap = seg_calloc(nattr ? nattr : 1, sizeof(*fcap));
	if (rq->price)
		out->price = malloc(sizeof(double));
	out->start = malloc(ncap * sizeof(*out->start));
	offsets = malloc(ncap * sizeof(*offsets));
	if (!out->start || !offsets || (rq->price && !out->price) ||
	    !seg__cj_grow(out, cap, &prof_g)) {
		seg__cj_say(detail, detail_len, "could not allocate the rated profiles");
		err = SEG_ERR_INVALID;
		goto out;
	}
	for (;;) {
		if (rq->hooks && rq->hooks->stopping(rq->hooks->ctx)) {
			err = SEG_ERR_CANCELLED;
			goto out;
		}
		err = seg__db_query_binary(db, "FETCH " SEG__CJ_BATCH " FROM seg_conjoint", 0, NULL,
					   &res);
		if (err)
			goto out;
		size_t rows = (size_t)PQntuples(res);
		if (rows == 0)
			break;
		if (n + rows > cap) { /* more than counted: events committed meanwhile */
			cap = (n + rows) * 2;
			if (!seg__cj_grow(out, cap, &prof_g)) {
				seg__cj_say(detail, detail_len, "could not allocate the profiles");
				err = SEG_ERR_INVALID;
				goto out;
			}
		}
		for (size_t r = 0; r < rows; r++, n++) {
			int ri = (int)r;
			const char *cid = PQgetvalue(res, ri, 0);
			size_t cidlen = (size_t)PQgetlength(res, ri, 0);
			if (nresp == 0 || strlen(ids.data + offsets[nresp - 1]) != cidlen ||
			    memcmp(ids.data + offsets[nresp - 1], cid, cidlen) != 0) {
				if (nresp + 2 > ncap) {
					ncap = 2 * (nresp + 2);
					size_t *s = realloc(out->start, ncap * sizeof(*s));
					if (s)
						out->start = s;
					size_t *o = s ? realloc(offsets, ncap * sizeof(*o)) : NULL;
					if (o)
						offsets = o;
					if (!o) {
						seg__cj_say(detail, detail_len,
							    "could not allocate the respondents");
						err = SEG_ERR_INVALID;
						goto out;
					}
				}
				out->start[nresp] = n;
				offsets[nresp++] = ids.len;
				seg_buf_add(&ids, cid, cidlen);
				seg_buf_addch(&ids, '\0');
			}
			int64_t g = (int64_t)seg__cj_u64(PQgetvalue(res, ri, 1));
			prof_g[n] = g;
			for (size_t a = 0; a < nattr; a++) {
				int c = (int)a + 2;
				if (PQgetisnull(res, ri, c)) {
					out->codes[n * nattr + a] = -1;
					continue;
				}
				size_t before = cats[a].n;
				size_t code = seg__cats_code(&cats[a], PQgetvalue(res, ri, c),
							     (size_t)PQgetlength(res, ri, c));
				if (cats[a].n > before) {
					if (cats[a].n > fcap[a]) {
						fcap[a] = 2 * cats[a].n;
						firsts[a] = seg_realloc(firsts[a],
									fcap[a] * sizeof(**firsts));
					}
					firsts[a][code] = g;
				} else if (g < firsts[a][code]) {
					firsts[a][code] = g;
				}
				out->codes[n * nattr + a] = (int32_t)code;
			}
			out->rating[n] = seg__cj_float8(res, ri, (int)nattr + 2);
			if (rq->price)
				out->price[n] = seg__cj_float8(res, ri, (int)nattr + 3);
		}
		PQclear(res);
		res = NULL;
		if (rq->hooks && rq->hooks->progress && count)
			rq->hooks->progress(rq->hooks->ctx,
					    rq->progress_from +
						    (rq->progress_to - rq->progress_from) *
							    fmin(1.0, (double)n / count));
	}
	out->nprof = n;
	out->nresp = nresp;
	out->start[nresp] = n;
	out->arena = ids.data ? seg_buf_detach(&ids, NULL) : seg_strdup("");
	out->ids = seg_malloc((nresp ? nresp : 1) * sizeof(*out->ids));
	for (size_t i = 0; i < nresp; i++)
		out->ids[i] = out->arena + offsets[i];
	/* each attribute's levels renumbered by their first appearance over all the events */
	out->nlevels = seg_calloc(nattr ? nattr : 1, sizeof(*out->nlevels));
	out->levels = seg_calloc(nattr ? nattr : 1, sizeof(*out->levels));
	for (size_t a = 0; a < nattr; a++) {
		size_t m = cats[a].n;
		struct seg__cj_first *order = seg_malloc((m ? m : 1) * sizeof(*order));
		size_t *remap = seg_malloc((m ? m : 1) * sizeof(*remap));
		for (size_t c = 0; c < m; c++)
			order[c] = (struct seg__cj_first){firsts[a][c], c};
		qsort(order, m, sizeof(*order), seg__cj_first_cmp);
		out->levels[a] = seg_malloc((m ? m : 1) * sizeof(**out->levels));
		for (size_t l = 0; l < m; l++) {
			remap[order[l].code] = l;
			out->levels[a][l] = cats[a].names[order[l].code];
			cats[a].names[order[l].code] = NULL; /* moved */
		}
		out->nlevels[a] = m;
		for (size_t i = 0; i < n; i++) {
			int32_t *code = &out->codes[i * nattr + a];
			if (*code >= 0)
				*code = (int32_t)remap[*code];
		}
		free(order);
		free(remap);
	}
out:
	if (declared && db->in_tx == 1)
		(void)seg__db_query(db, "CLOSE seg_conjoint", 0, NULL, NULL);
	PQclear(res);
	for (size_t a = 0; cats && a < nattr; a++) {
		seg__cats_release(&cats[a]); /* the names moved to out are NULL here */
		free(firsts[a]);
	}
	free(fcap);
	free(cats);
	free(firsts);
	free(prof_g);
	free(offsets);
	free(params);
	seg_buf_release(&sql);
	seg_buf_release(&ids);
	if (err)
		seg_conjoint_data_release(out);
	return err;
}

/* --- the store --- */

struct seg__cj_rows {
	const struct seg_conjoint_data *data;
	const struct seg_cj_result *fit;
	const char *const *attr_names;
	const char *price_name;
	const int32_t *segment;
	struct seg_buf json; /* scratch */
};

static void seg__cj_copy_double(struct seg_buf *line, double x)
{
	seg_buf_addch(line, '\t');
	seg__copy_double(line, x);
}

static void seg__cj_row(void *ctx, size_t i, struct seg_buf *line)
{
	struct seg__cj_rows *r = ctx;
	const struct seg_cj_result *fit = r->fit;
	const struct seg_cj_resp *resp = &fit->resp[i];

	seg__copy_text(line, r->data->ids[i]);
	if (resp->status != SEG_CJ_FITTED) {
		seg_buf_addstr(line, "\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N");
		return;
	}
	/* part_worths: {attribute: {level: u}} over the levels it rated */
	seg_buf_reset(&r->json);
	seg_buf_addch(&r->json, '{');
	for (size_t a = 0; a < fit->nattr; a++) {
		const char *name = r->attr_names[a];
		if (a)
			seg_buf_addch(&r->json, ',');
		seg_buf_add_json_string(&r->json, name, strlen(name));
		seg_buf_addstr(&r->json, ":{");
		bool first = true;
		for (size_t l = 0; l < r->data->nlevels[a]; l++) {
			double u =
				fit->part_worth[i * fit->nlevels_total + fit->level_offset[a] + l];
			if (!isfinite(u))
				continue;
			if (!first)
				seg_buf_addch(&r->json, ',');
			first = false;
			const char *level = r->data->levels[a][l];
			seg_buf_add_json_string(&r->json, level, strlen(level));
			seg_buf_addch(&r->json, ':');
			seg_json_add_double(&r->json, u);
		}
		seg_buf_addch(&r->json, '}');
	}
	seg_buf_addch(&r->json, '}');
	seg_buf_addch(line, '\t');
	seg__copy_text(line, r->json.data);
	seg__cj_copy_double(line, resp->price_coefficient);
	seg__cj_copy_double(line, resp->constant);
	/* importance: {attribute: x}, price last */
	seg_buf_reset(&r->json);
	seg_buf_addch(&r->json, '{');
	for (size_t a = 0; a < fit->nimp; a++) {
		const char *name = a < fit->nattr ? r->attr_names[a] : r->price_name;
		if (a)
			seg_buf_addch(&r->json, ',');
		seg_buf_add_json_string(&r->json, name, strlen(name));
		seg_buf_addch(&r->json, ':');
		double x = fit->importance[i * fit->nimp + a];
		if (isfinite(x))
			seg_json_add_double(&r->json, x);
		else
			seg_buf_addstr(&r->json, "null");
	}
	seg_buf_addch(&r->json, '}');
	seg_buf_addch(line, '\t');
	seg__copy_text(line, r->json.data);
	seg__cj_copy_double(line, resp->r2);
	if (r->segment && r->segment[i] >= 0)
		seg_buf_addf(line, "\t%d", (int)r->segment[i]);
	else
		seg_buf_addstr(line, "\t\\N");
}

enum seg_err seg_db_conjoint_store(struct seg_db *db, const char *store,
				   const struct seg_conjoint_data *data,
				   const struct seg_cj_result *fit, const char *const *attr_names,
				   const char *price_name, const int32_t *segment,
				   const struct seg_job_hooks *hooks)
{
	struct seg__cj_rows rows = {data, fit, attr_names, price_name, segment, SEG_BUF_INIT};
	enum seg_err err = seg__analysis_store_copy(
		db, store,
		"part_worths jsonb, price_coefficient double precision, constant double precision, "
		"importance jsonb, r2 double precision, segment integer",
		data->nresp, seg__cj_row, &rows, hooks);
	seg_buf_release(&rows.json);
	return err;
}

/*
 * The feature reader of the multivariate analyses (SPEC §6 kmeans, factor, contrast,
 * discriminant; db/README.md "Features"): the chosen attributes and metrics of a tenant's
 * customers, optionally only those a filter rule matches, as a dense row-major matrix of
 * doubles (NaN: missing) with the customer ids in ascending order, and the categories of the
 * string features as codes.
 *
 * Two statements: a count with the filter (the memory estimate, refused over the limit before
 * anything is allocated), then the rows through a cursor (DECLARE ... FETCH 20000) in binary
 * format: a numeric feature as a float8 (8 bytes, the double itself, nothing to print or
 * parse), a string one as its text. A string feature's values get codes in
 * order of first appearance (a hash table per column) and are renumbered in byte order of
 * their text at the end, so the codes do not depend on the customers' order.
 */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "attrs.h"
#include "rule.h"
#include "rulesql.h"

#define SEG__FEATURES_BATCH "20000"
#define SEG__FEATURES_MAX   1000 /* features a request may name */

/* How a metric is read: its SQL over the customer row c and the scores row fsc__. */
enum seg__mkind { SEG__M_NUM, SEG__M_STR, SEG__M_TS };
static const struct {
	const char *name;
	enum seg__mkind kind;
	const char *sql;
} seg__feature_metrics[] = {
	{"orders", SEG__M_NUM, "c.orders"},
	{"revenue", SEG__M_NUM, "c.revenue"},
	{"events", SEG__M_NUM, "c.events"},
	{"avg_order_value", SEG__M_NUM, "seg_avg_order_value(c.orders, c.revenue)"},
	{"recency_days", SEG__M_NUM, "seg_days_since(c.last_purchase_at)"},
	{"tenure_days", SEG__M_NUM,
	 "seg_days_since(seg_tenure_start(c.created_at, c.first_event_at))"},
	{"first_purchase_at", SEG__M_TS, NULL},
	{"last_purchase_at", SEG__M_TS, NULL},
	{"last_event_at", SEG__M_TS, NULL},
	{"rfm_r", SEG__M_NUM, "fsc__.rfm_r"},
	{"rfm_f", SEG__M_NUM, "fsc__.rfm_f"},
	{"rfm_m", SEG__M_NUM, "fsc__.rfm_m"},
	{"rfm_score", SEG__M_STR, "fsc__.rfm_score"},
	{"rfm_segment", SEG__M_STR, "fsc__.rfm_segment"},
	{"abc_class", SEG__M_STR, "fsc__.abc_class"},
	{"frequency_class", SEG__M_STR, "fsc__.frequency_class"},
	{"clv", SEG__M_NUM, "fsc__.clv"},
	{"p_alive", SEG__M_NUM, "fsc__.p_alive"},
	{"predicted_orders", SEG__M_NUM, "fsc__.predicted_orders"},
};

int seg_feature_metric_kind(const char *name)
{
	int factor = 0;
	if (!name)
		return 0;
	if (seg_rule_metric_score(name, &factor) && factor)
		return 1;
	for (size_t i = 0; i < sizeof(seg__feature_metrics) / sizeof(seg__feature_metrics[0]); i++)
		if (strcmp(seg__feature_metrics[i].name, name) == 0)
			return seg__feature_metrics[i].kind == SEG__M_NUM   ? 1
			       : seg__feature_metrics[i].kind == SEG__M_STR ? 2
									    : 3;
	return 0;
}

static uint64_t seg__hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static void seg__cats_grow(struct seg__cats *c)
{
	size_t nslots = c->nslots ? c->nslots * 2 : 64;
	size_t *slots = seg_calloc(nslots, sizeof(*slots));
	for (size_t i = 0; i < c->n; i++) {
		size_t h = (size_t)seg__hash(c->names[i], strlen(c->names[i])) & (nslots - 1);
		while (slots[h])
			h = (h + 1) & (nslots - 1);
		slots[h] = i + 1;
	}
	free(c->slots);
	c->slots = slots;
	c->nslots = nslots;
}

size_t seg__cats_code(struct seg__cats *c, const char *s, size_t len)
{
	if (2 * (c->n + 1) > c->nslots)
		seg__cats_grow(c);
	size_t h = (size_t)seg__hash(s, len) & (c->nslots - 1);
	for (; c->slots[h]; h = (h + 1) & (c->nslots - 1)) {
		const char *name = c->names[c->slots[h] - 1];
		if (strlen(name) == len && memcmp(name, s, len) == 0)
			return c->slots[h] - 1;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->names = seg_realloc(c->names, c->cap * sizeof(*c->names));
	}
	c->names[c->n] = seg_strndup(s, len);
	c->slots[h] = ++c->n;
	return c->n - 1;
}

void seg__cats_release(struct seg__cats *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->names[i]);
	free(c->names);
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

static int seg__strcmp_p(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;
	return strcmp(*x, *y);
}

void seg_features_release(struct seg_features *f)
{
	if (!f)
		return;
	for (size_t j = 0; f->cols && j < f->d; j++) {
		free(f->cols[j].name);
		for (size_t c = 0; c < f->cols[j].ncategories; c++)
			free(f->cols[j].categories[c]);
		free(f->cols[j].categories);
	}
	free(f->cols);
	free(f->x);
	free(f->ids);
	free(f->arena);
	memset(f, 0, sizeof(*f));
}

static void seg__say(char *detail, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seg__say(char *detail, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!len)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, len, fmt, ap);
	va_end(ap);
}

/*
 * Appends to sel the SQL of feature j (a text expression over c and fsc__), checking it
 * against the catalogue; *scores is set when it reads customer_scores. SEG_ERR_INVALID with a
 * sentence otherwise.
 */
static enum seg_err seg__feature_sql(const struct seg_features_request *rq, size_t j,
				     const struct seg_attr_catalog *cat, struct seg_buf *sel,
				     struct seg__sqlparams *params, bool *categorical, bool *scores,
				     char *detail, size_t detail_len)
{
	const struct seg_feature_spec *f = &rq->features[j];
	const char *name = f->name ? f->name : "";

	*categorical = false;
	if (f->source == SEG_FEATURE_SEGMENT) {
		/* the stored membership (checked to exist by the caller), 1 or 0 */
		size_t k = seg__sqlparams_addstr(params, name);
		seg_buf_addf(sel,
			     ", CASE WHEN EXISTS (SELECT 1 FROM memberships fm__ WHERE "
			     "fm__.tenant_id = c.tenant_id AND fm__.segment_id = $%zu::bigint AND "
			     "fm__.customer_id = c.id) THEN 1::float8 ELSE 0::float8 END",
			     k);
		return SEG_OK;
	}
	if (f->source == SEG_FEATURE_METRIC) {
		int factor = 0;
		if (seg_rule_metric_score(name, &factor) && factor) {
			seg_buf_addf(sel, ", fsc__.factors[%d]", factor);
			*scores = true;
			return SEG_OK;
		}
		for (size_t i = 0;
		     i < sizeof(seg__feature_metrics) / sizeof(seg__feature_metrics[0]); i++) {
			if (strcmp(seg__feature_metrics[i].name, name) != 0)
				continue;
			if (seg__feature_metrics[i].kind == SEG__M_TS) {
				seg__say(detail, detail_len,
					 "metric \"%s\" is a timestamp, not a number: use "
					 "recency_days or tenure_days",
					 name);
				return SEG_ERR_INVALID;
			}
			if (seg__feature_metrics[i].kind == SEG__M_STR && !rq->categorical) {
				seg__say(detail, detail_len,
					 "metric \"%s\" is a string: this analysis takes numeric "
					 "features only",
					 name);
				return SEG_ERR_INVALID;
			}
			*categorical = seg__feature_metrics[i].kind == SEG__M_STR;
			*scores = *scores || strncmp(seg__feature_metrics[i].sql, "fsc__.", 6) == 0;
			if (*categorical)
				seg_buf_addf(sel, ", %s", seg__feature_metrics[i].sql);
			else
				seg_buf_addf(sel, ", (%s)::float8", seg__feature_metrics[i].sql);
			return SEG_OK;
		}
		seg__say(detail, detail_len, "unknown metric \"%s\"", name);
		return SEG_ERR_INVALID;
	}
	const struct seg_attr_def *def = seg_attr_catalog_find(cat, name);
	if (!def) {
		seg__say(detail, detail_len,
			 "attribute \"%s\" is not in the attribute catalogue: register it "
			 "(PUT /v1/attributes/%s) with its type",
			 name, name);
		return SEG_ERR_INVALID;
	}
	bool numeric = def->type == SEG_ATTR_NUMBER || def->type == SEG_ATTR_INTEGER;
	bool cat_type = def->type == SEG_ATTR_STRING || def->type == SEG_ATTR_BOOLEAN;
	if (!numeric && !(cat_type && rq->categorical)) {
		seg__say(detail, detail_len,
			 "attribute \"%s\" is registered as %s: this analysis takes %s features "
			 "only",
			 name, seg_attr_type_name(def->type),
			 rq->categorical ? "number, integer, string and boolean" : "numeric");
		return SEG_ERR_INVALID;
	}
	/* the value at the dotted path, as the rules read it */
	struct seg_buf path = SEG_BUF_INIT;
	const char *s = name;
	for (const char *dot; (dot = strchr(s, '.')); s = dot + 1) {
		char *part = seg_strndup(s, (size_t)(dot - s));
		seg__db_array_add(&path, part);
		free(part);
	}
	seg__db_array_add(&path, s);
	size_t k = seg__sqlparams_add(params, path.data, path.len);
	seg_buf_release(&path);
	if (numeric)
		seg_buf_addf(sel,
			     ", CASE WHEN jsonb_typeof(c.attributes #> $%zu::text[]) = 'number' "
			     "THEN (c.attributes #> $%zu::text[])::float8 END",
			     k, k);
	else
		seg_buf_addf(sel,
			     ", CASE jsonb_typeof(c.attributes #> $%zu::text[]) WHEN 'string' "
			     "THEN c.attributes #>> $%zu::text[] WHEN 'boolean' "
			     "THEN (c.attributes #> $%zu::text[])::text END",
			     k, k, k);
	*categorical = !numeric;
	return SEG_OK;
}

/*
 * Checks that name (a feature of source SEG_FEATURE_SEGMENT) is the id of one of the tenant's
 * segments: SEG_ERR_INVALID with a sentence otherwise.
 */
static enum seg_err seg__feature_segment(struct seg_db *db, int64_t tenant, const char *name,
					 char *detail, size_t detail_len)
{
	char tid[SEG_INT_TEXT];
	PGresult *res = NULL;
	size_t len = name ? strlen(name) : 0;
	bool digits = len > 0 && len <= 18 && strspn(name, "0123456789") == len;
	if (!digits) {
		seg__say(detail, detail_len, "segment \"%s\" does not exist", name ? name : "");
		return SEG_ERR_INVALID;
	}
	const char *p[] = {seg__db_int(tid, tenant), name};
	enum seg_err err = seg__db_query(
		db, "SELECT 1 FROM segments WHERE tenant_id = $1 AND id = $2::bigint", 2, p, &res);
	if (!err && PQntuples(res) == 0) {
		seg__say(detail, detail_len, "segment \"%s\" does not exist", name);
		err = SEG_ERR_INVALID;
	}
	PQclear(res);
	return err;
}

/* A float8 in binary format: 8 bytes in network order. */
static double seg__float8(const char *v)
{
	uint64_t u = 0;
	double x;
	for (int i = 0; i < 8; i++)
		u = u << 8 | (unsigned char)v[i];
	memcpy(&x, &u, sizeof(x));
	return x;
}

/* "1,234": n with thousands separators. */
static void seg__grouped(char *out, size_t len, unsigned long long n)
{
	char digits[32];
	int nd = snprintf(digits, sizeof(digits), "%llu", n);
	size_t o = 0;
	for (int i = 0; i < nd && o + 2 < len; i++) {
		if (i && (nd - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

enum seg_err seg_db_features_read(struct seg_db *db, const struct seg_features_request *rq,
				  struct seg_features *out, char *detail, size_t detail_len,
				  int *feature)
{
	struct seg_attr_catalog cat;
	struct seg__sqlparams params;
	struct seg_buf sel = SEG_BUF_INIT, where = SEG_BUF_INIT, sql = SEG_BUF_INIT,
		       ids = SEG_BUF_INIT;
	struct seg__cats *cats = NULL;
	size_t *offsets = NULL;
	bool scores = false, declared = false;
	char tid[SEG_INT_TEXT];
	PGresult *res = NULL;
	size_t d = rq->d, n = 0, cap = 0, nfilter = 0;
	enum seg_err err = SEG_OK;

	memset(out, 0, sizeof(*out));
	*feature = -1;
	if (detail_len)
		detail[0] = '\0';
	seg_attr_catalog_init(&cat);
	seg__sqlparams_init(&params);
	if (d == 0 || d > SEG__FEATURES_MAX) {
		seg__say(detail, detail_len, "between 1 and %d features are read",
			 SEG__FEATURES_MAX);
		err = SEG_ERR_INVALID;
		goto out;
	}
	out->d = d;
	out->cols = seg_calloc(d, sizeof(*out->cols));
	cats = seg_calloc(d, sizeof(*cats));
	seg__sqlparams_addstr(&params, seg__db_int(tid, rq->tenant));
	/* the customers: the tenant's, those of the filter */
	seg_buf_addstr(&where, " WHERE c.tenant_id = $1");
	if (rq->filter) {
		seg_buf_addstr(&where, " AND ");
		err = seg__members_filter_sql(db, rq->tenant, rq->filter, "c", &where, &params,
					      detail, detail_len);
		if (err)
			goto out;
	}
	nfilter = params.n; /* the count's parameters: the features' come after */
	if (!err)
		err = seg_db_attr_catalog(db, rq->tenant, &cat);
	/* segments (h-tw: a contrast target) must be the tenant's */
	for (size_t j = 0; !err && j < d; j++) {
		if (rq->features[j].source != SEG_FEATURE_SEGMENT)
			continue;
		err = seg__feature_segment(db, rq->tenant, rq->features[j].name, detail,
					   detail_len);
		if (err == SEG_ERR_INVALID)
			*feature = (int)j;
	}
	for (size_t j = 0; !err && j < d; j++) {
		out->cols[j].name = seg_strdup(rq->features[j].name ? rq->features[j].name : "");
		out->cols[j].source = rq->features[j].source;
		err = seg__feature_sql(rq, j, &cat, &sel, &params, &out->cols[j].categorical,
				       &scores, detail, detail_len);
		if (err == SEG_ERR_INVALID)
			*feature = (int)j;
		/* a rule over it compares booleans, not their texts (h-kw: k-means rules) */
		const struct seg_attr_def *def =
			!err && out->cols[j].categorical &&
					rq->features[j].source == SEG_FEATURE_ATTR
				? seg_attr_catalog_find(&cat, out->cols[j].name)
				: NULL;
		out->cols[j].boolean = def && def->type == SEG_ATTR_BOOLEAN;
	}
	if (err)
		goto out;
	/* the memory it would take, refused over the limit before anything is allocated */
	seg_buf_addstr(&sql, "SELECT count(*), coalesce(sum(octet_length(c.id)), 0) "
			     "FROM customers c");
	seg_buf_add(&sql, where.data, where.len);
	err = seg__db_query(db, sql.data, (int)nfilter, (const char *const *)params.v, &res);
	if (err)
		goto out;
	size_t count = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	size_t idbytes = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	res = NULL;
	double need = (double)count * ((double)d * sizeof(double) + (double)rq->extra_per_row +
				       sizeof(char *) + sizeof(size_t) + 1) +
		      (double)idbytes;
	if (rq->memory_limit && need > (double)rq->memory_limit) {
		char mb[32], limit[32];
		seg__grouped(mb, sizeof(mb), (unsigned long long)ceil(need / 1048576.0));
		seg__grouped(limit, sizeof(limit),
			     (unsigned long long)(rq->memory_limit / 1048576));
		seg__say(detail, detail_len,
			 "%zu customers by %zu features would need about %s MB of memory, "
			 "over the limit of %s MB (SEGMENTD_ANALYSIS_MEMORY): choose fewer "
			 "features or a narrower filter",
			 count, d, mb, limit);
		err = SEG_ERR_INVALID;
		goto out;
	}
	/* the rows, by cursor, planned for all of them (not the first tenth) */
	err = seg__db_query(db, "SET LOCAL cursor_tuple_fraction = 1", 0, NULL, NULL);
	if (err)
		goto out;
	seg_buf_reset(&sql);
	seg_buf_addstr(&sql, "DECLARE seg_features NO SCROLL CURSOR FOR SELECT c.id");
	seg_buf_add(&sql, sel.data, sel.len);
	seg_buf_addstr(&sql, " FROM customers c");
	if (scores)
		seg_buf_addstr(&sql, " LEFT JOIN customer_scores fsc__ ON fsc__.tenant_id = "
				     "c.tenant_id AND fsc__.customer_id = c.id");
	seg_buf_add(&sql, where.data, where.len);
	seg_buf_addstr(&sql, " ORDER BY c.id");
	err = seg__db_query(db, sql.data, (int)params.n, (const char *const *)params.v, NULL);
	if (err)
		goto out;
	declared = true;
	cap = count ? count : 1;
	out->x = malloc(cap * d * sizeof(double));
	offsets = malloc(cap * sizeof(*offsets));
	if (!out->x || !offsets) {
		seg__say(detail, detail_len, "could not allocate %zu MB for the features",
			 cap * d * sizeof(double) / 1048576 + 1);
		err = SEG_ERR_INVALID;
		goto out;
	}
	for (;;) {
		if (rq->hooks && rq->hooks->stopping(rq->hooks->ctx)) {
			err = SEG_ERR_CANCELLED;
			goto out;
		}
		err = seg__db_query_binary(db, "FETCH " SEG__FEATURES_BATCH " FROM seg_features", 0,
					   NULL, &res);
		if (err)
			goto out;
		size_t rows = (size_t)PQntuples(res);
		if (rows == 0)
			break;
		if (n + rows > cap) { /* more than counted: rows committed meanwhile */
			size_t ncap = (n + rows) * 2;
			double *x = realloc(out->x, ncap * d * sizeof(double));
			size_t *o = x ? realloc(offsets, ncap * sizeof(*offsets)) : NULL;
			if (x)
				out->x = x;
			if (o)
				offsets = o;
			if (!x || !o) {
				seg__say(detail, detail_len, "could not allocate the features");
				err = SEG_ERR_INVALID;
				goto out;
			}
			cap = ncap;
		}
		for (size_t r = 0; r < rows; r++, n++) {
			offsets[n] = ids.len;
			seg_buf_add(&ids, PQgetvalue(res, (int)r, 0),
				    (size_t)PQgetlength(res, (int)r, 0));
			seg_buf_addch(&ids, '\0');
			double *row = out->x + n * d;
			for (size_t j = 0; j < d; j++) {
				int col = (int)j + 1;
				if (PQgetisnull(res, (int)r, col)) {
					row[j] = NAN;
					continue;
				}
				const char *v = PQgetvalue(res, (int)r, col);
				size_t len = (size_t)PQgetlength(res, (int)r, col);
				if (out->cols[j].categorical) {
					row[j] = (double)seg__cats_code(&cats[j], v, len);
					continue;
				}
				double x = len == 8 ? seg__float8(v) : NAN;
				row[j] = isfinite(x) ? x : NAN;
			}
		}
		PQclear(res);
		res = NULL;
		if (rq->hooks && rq->hooks->progress && count)
			rq->hooks->progress(rq->hooks->ctx,
					    rq->progress_from +
						    (rq->progress_to - rq->progress_from) *
							    fmin(1.0, (double)n / count));
	}
	out->n = n;
	/* the ids as pointers into one arena */
	out->arena = ids.data ? seg_buf_detach(&ids, NULL) : seg_strdup("");
	out->ids = seg_malloc((n ? n : 1) * sizeof(*out->ids));
	for (size_t i = 0; i < n; i++)
		out->ids[i] = out->arena + offsets[i];
	/* the categories renumbered in byte order; the counts of missing values */
	for (size_t j = 0; j < d; j++) {
		struct seg_feature_column *col = &out->cols[j];
		if (col->categorical && cats[j].n) {
			size_t m = cats[j].n, *remap = seg_malloc(m * sizeof(*remap));
			col->categories = seg_malloc(m * sizeof(*col->categories));
			memcpy(col->categories, cats[j].names, m * sizeof(*col->categories));
			qsort(col->categories, m, sizeof(*col->categories), seg__strcmp_p);
			for (size_t c = 0; c < m; c++) {
				char **hit = bsearch(&cats[j].names[c], col->categories, m,
						     sizeof(*col->categories), seg__strcmp_p);
				remap[c] = (size_t)(hit - col->categories);
			}
			for (size_t i = 0; i < n; i++) {
				double *v = &out->x[i * d + j];
				if (!isnan(*v))
					*v = (double)remap[(size_t)*v];
			}
			col->ncategories = m;
			free(remap);
			free(cats[j].names); /* the names moved to col->categories */
			cats[j].names = NULL;
			cats[j].n = 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		bool complete = true;
		for (size_t j = 0; j < d; j++)
			if (isnan(out->x[i * d + j])) {
				out->cols[j].missing++;
				complete = false;
			}
		out->complete += complete;
	}
out:
	if (declared && db->in_tx == 1)
		(void)seg__db_query(db, "CLOSE seg_features", 0, NULL, NULL);
	PQclear(res);
	for (size_t j = 0; cats && j < d; j++)
		seg__cats_release(&cats[j]);
	free(cats);
	free(offsets);
	seg_buf_release(&sel);
	seg_buf_release(&where);
	seg_buf_release(&sql);
	seg_buf_release(&ids);
	seg__sqlparams_release(&params);
	seg_attr_catalog_release(&cat);
	if (err)
		seg_features_release(out);
	return err;
}

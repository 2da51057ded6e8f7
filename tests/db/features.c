/*
 * Database-level checks of the feature reader (db/analysis_features.c, db/README.md
 * "Features") and of stores written from C (seg__analysis_store_copy), against the PostgreSQL
 * of the PG* environment (tests/api/test_x_factor.py runs it inside the API harness's
 * pg_virtualenv). Prints TAP.
 *
 * Edges: no customers; every value missing; values of the wrong JSON type; nested paths;
 * string and boolean categories coded in byte order; customer ids with non-ASCII bytes in
 * byte order; more rows than one FETCH; a filter; the memory limit; unknown and refused
 * features; a store whose ids hold tabs, backslashes and line breaks.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int seg__n, seg__failed;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s %d - ", cond ? "ok" : "not ok", ++seg__n);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (!cond)
		seg__failed++;
	fflush(stdout);
}

static struct seg_db *db;
static int64_t tenant;
static char tid[SEG_INT_TEXT];

/* Runs sql with $1 the tenant (when it names $1) and $2; exits on failure. */
static void q(const char *sql, const char *p2)
{
	const char *params[] = {tid, p2};
	int n = strstr(sql, "$2") ? 2 : strstr(sql, "$1") ? 1 : 0;
	enum seg_err err = seg__db_query(db, sql, n, params, NULL);
	if (err) {
		printf("Bail out! query failed (%s): %s\n", seg_err_detail(err), sql);
		exit(1);
	}
}

static enum seg_err features(const struct seg_feature_spec *f, size_t d, const char *filter,
			     bool categorical, size_t limit, struct seg_features *out, char *detail,
			     int *feature)
{
	struct seg_features_request rq = {.tenant = tenant,
					  .features = f,
					  .d = d,
					  .filter = filter,
					  .categorical = categorical,
					  .memory_limit = limit};
	enum seg_err err = seg_db_begin(db);
	if (!err)
		err = seg_db_features_read(db, &rq, out, detail, 300, feature);
	seg_db_rollback(db);
	return err;
}

static bool same(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b;
}

static void empty_and_missing(void)
{
	struct seg_feature_spec f[] = {{SEG_FEATURE_ATTR, "n"}, {SEG_FEATURE_METRIC, "clv"}};
	struct seg_features out;
	char detail[300];
	int feature;
	enum seg_err err = features(f, 2, NULL, false, 0, &out, detail, &feature);
	ok(!err && out.n == 0 && out.d == 2 && out.complete == 0,
	   "no customers: an empty matrix (%s)", detail);
	seg_features_release(&out);
	q("INSERT INTO customers (tenant_id, id) SELECT $1, 'e' || g FROM generate_series(1, 5) g",
	  NULL);
	err = features(f, 2, NULL, false, 0, &out, detail, &feature);
	bool all = !err && out.n == 5;
	for (size_t i = 0; all && i < 10; i++)
		all = isnan(out.x[i]);
	ok(all && out.cols[0].missing == 5 && out.cols[1].missing == 5 && out.complete == 0,
	   "every value missing: NaN everywhere, counted per feature");
	seg_features_release(&out);
	q("DELETE FROM customers WHERE tenant_id = $1", NULL);
}

static void values(void)
{
	/* ids in byte order: "B" < "a" < "b" < "ä" (0xc3 0xa4) < "€" (0xe2 ...) */
	q("INSERT INTO customers (tenant_id, id, attributes) VALUES "
	  "($1, 'ä', '{\"n\": 1.5, \"s\": \"ä\", \"b\": true, \"p\": {\"q\": 7}}'), "
	  "($1, 'a', '{\"n\": 2, \"s\": \"b\", \"b\": false, \"p\": {\"q\": -1e-3}}'), "
	  "($1, '€', '{\"n\": \"3\", \"s\": \"a\", \"p\": 5}'), "
	  "($1, 'B', '{\"n\": 0.1, \"s\": 4, \"b\": true, \"p\": {\"q\": 1}}'), "
	  "($1, 'b', '{\"s\": \"b\", \"b\": null, \"p\": {\"q\": 123456789.123456789}}')",
	  NULL);
	struct seg_feature_spec f[] = {{SEG_FEATURE_ATTR, "n"},
				       {SEG_FEATURE_ATTR, "p.q"},
				       {SEG_FEATURE_ATTR, "s"},
				       {SEG_FEATURE_ATTR, "b"},
				       {SEG_FEATURE_METRIC, "orders"}};
	struct seg_features out;
	char detail[300];
	int feature = -1;
	enum seg_err err = features(f, 5, NULL, false, 0, &out, detail, &feature);
	ok(err == SEG_ERR_INVALID && feature == 2 && strstr(detail, "\"s\""),
	   "a string attribute refused where numbers are wanted, at its index: %s", detail);
	err = features(f, 5, NULL, true, 0, &out, detail, &feature);
	ok(!err && out.n == 5 && out.d == 5, "read 5 x 5 (%s)", detail);
	if (err)
		return;
	const char *ids[] = {"B", "a", "b", "ä", "€"};
	bool order = true;
	for (size_t i = 0; i < 5; i++)
		order = order && strcmp(out.ids[i], ids[i]) == 0;
	ok(order, "ids in byte order: %s %s %s %s %s", out.ids[0], out.ids[1], out.ids[2],
	   out.ids[3], out.ids[4]);
	/* columns: n, p.q, s (codes of a, b, ä), b (codes of false, true), orders */
	const double want[5][5] = {
		{0.1, 1, NAN, 1, 0},		       /* B: s is a number: missing */
		{2, -1e-3, 1, 0, 0},		       /* a */
		{NAN, 123456789.123456789, 1, NAN, 0}, /* b: b null */
		{1.5, 7, 2, 1, 0},		       /* ä */
		{NAN, NAN, 0, NAN, 0},		       /* €: n a string, p not an object */
	};
	bool vals = true;
	for (size_t i = 0; i < 5; i++)
		for (size_t j = 0; j < 5; j++)
			if (!same(out.x[i * 5 + j], want[i][j])) {
				vals = false;
				printf("# x[%zu][%zu] = %.17g, want %.17g\n", i, j,
				       out.x[i * 5 + j], want[i][j]);
			}
	ok(vals, "values: numbers exact, wrong JSON types missing, nested paths, codes");
	ok(out.cols[2].categorical && out.cols[2].ncategories == 3 &&
		   strcmp(out.cols[2].categories[0], "a") == 0 &&
		   strcmp(out.cols[2].categories[1], "b") == 0 &&
		   strcmp(out.cols[2].categories[2], "ä") == 0,
	   "string categories in byte order");
	ok(out.cols[3].categorical && out.cols[3].ncategories == 2 &&
		   strcmp(out.cols[3].categories[0], "false") == 0 &&
		   strcmp(out.cols[3].categories[1], "true") == 0,
	   "boolean categories false, true");
	ok(!out.cols[0].categorical && out.cols[0].missing == 2 && out.cols[1].missing == 1 &&
		   out.cols[2].missing == 1 && out.cols[3].missing == 2 && out.cols[4].missing == 0,
	   "missing per feature");
	ok(out.complete == 2, "complete rows: %zu", out.complete);
	seg_features_release(&out);
	seg_features_release(&out); /* idempotent */
	/* a filter */
	err = features(f, 5, "{\"attr\": \"b\", \"op\": \"eq\", \"value\": true}", true, 0, &out,
		       detail, &feature);
	ok(!err && out.n == 2 && strcmp(out.ids[0], "B") == 0 && strcmp(out.ids[1], "ä") == 0,
	   "a filter: the customers it matches (%s)", detail);
	seg_features_release(&out);
	/* the memory limit */
	err = features(f, 5, NULL, true, 100, &out, detail, &feature);
	ok(err == SEG_ERR_INVALID &&
		   strstr(detail, "5 customers by 5 features would need about 1 MB") &&
		   out.x == NULL,
	   "over the memory limit: refused, nothing allocated: %s", detail);
	/* unknown and refused features */
	struct seg_feature_spec bad[][2] = {
		{{SEG_FEATURE_ATTR, "n"}, {SEG_FEATURE_ATTR, "nope"}},
		{{SEG_FEATURE_ATTR, "n"}, {SEG_FEATURE_METRIC, "nope"}},
		{{SEG_FEATURE_ATTR, "n"}, {SEG_FEATURE_METRIC, "last_event_at"}},
		{{SEG_FEATURE_ATTR, "n"}, {SEG_FEATURE_ATTR, "t"}},
	};
	for (size_t i = 0; i < 4; i++) {
		err = features(bad[i], 2, NULL, true, 0, &out, detail, &feature);
		ok(err == SEG_ERR_INVALID && feature == 1, "refused: %s", detail);
	}
	q("DELETE FROM customers WHERE tenant_id = $1", NULL);
}

static void many(void)
{
	/* more rows than one FETCH (20,000); ids padded so that text order is numeric order */
	q("INSERT INTO customers (tenant_id, id, attributes) SELECT $1, 'm' || lpad(g::text, 6, "
	  "'0'), jsonb_build_object('n', g) FROM generate_series(1, 45001) g",
	  NULL);
	struct seg_feature_spec f[] = {{SEG_FEATURE_ATTR, "n"}, {SEG_FEATURE_METRIC, "events"}};
	struct seg_features out;
	char detail[300];
	int feature;
	enum seg_err err = features(f, 2, NULL, false, 0, &out, detail, &feature);
	bool good = !err && out.n == 45001;
	for (size_t i = 0; good && i < out.n; i++)
		good = out.x[2 * i] == (double)(i + 1) && out.x[2 * i + 1] == 0;
	ok(good && strcmp(out.ids[45000], "m045001") == 0, "45,001 rows over three FETCHes");
	seg_features_release(&out);
	q("DELETE FROM customers WHERE tenant_id = $1", NULL);
}

static void row(void *ctx, size_t i, struct seg_buf *line)
{
	static const char *const ids[] = {"tab\there", "back\\slash", "line\nbreak\r", "plain"};
	static const double v[] = {1.25, NAN, -1e-300, 0.1};
	(void)ctx;
	seg__copy_text(line, ids[i]);
	seg_buf_addch(line, '\t');
	seg__copy_double(line, v[i]);
}

static void store(void)
{
	char name[64];
	PGresult *res = NULL;
	snprintf(name, sizeof(name), "seg_results.a%d_%ld", (int)getpid(), (long)time(NULL));
	enum seg_err err = seg_db_begin(db);
	if (!err)
		err = seg__analysis_store_copy(db, name, "v double precision", 4, row, NULL, NULL);
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT string_agg(customer_id || '=' || coalesce(v::text, 'null'), '|' ORDER "
		 "BY customer_id) FROM %s",
		 name);
	if (!err)
		err = seg__db_query(db, sql, 0, NULL, &res);
	const char *got = !err ? PQgetvalue(res, 0, 0) : "";
	ok(!err && strcmp(got, "back\\slash=null|line\nbreak\r=-1e-300|plain=0.1|tab\there=1.25") ==
			   0,
	   "a store through COPY: ids escaped, NaN as NULL, doubles exact (%s)", got);
	PQclear(res);
	seg_db_rollback(db);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct seg__scores {
	const struct seg_features *f;
};

static void score_row(void *ctx, size_t i, struct seg_buf *line)
{
	const struct seg__scores *s = ctx;
	seg__copy_text(line, s->f->ids[i]);
	seg_buf_addch(line, '\t');
	seg__copy_double(line, s->f->x[i * s->f->d] * 0.5);
	seg_buf_addch(line, '\t');
	seg__copy_double(line, s->f->x[i * s->f->d + 1] - 1);
}

/* Timings (not asserted): n customers by 10 attributes read, and a store of 2 columns written. */
static void timing(int n)
{
	char count[SEG_INT_TEXT], name[64];
	struct seg_feature_spec f[10];
	static const char *const names[] = {"t0", "t1", "t2", "t3", "t4",
					    "t5", "t6", "t7", "t8", "t9"};
	struct seg_features out;
	char detail[300];
	int feature;
	for (int j = 0; j < 10; j++) {
		f[j] = (struct seg_feature_spec){SEG_FEATURE_ATTR, names[j]};
		q("INSERT INTO attribute_definitions (tenant_id, name, type, category) VALUES "
		  "($1, $2, 'number', 'other')",
		  names[j]);
	}
	seg__db_int(count, n);
	double t0 = now_ms();
	q("INSERT INTO customers (tenant_id, id, attributes) SELECT $1, 'c' || g, "
	  "jsonb_build_object('t0', random(), 't1', random() * 100, 't2', g % 97, 't3', random(), "
	  "'t4', random(), 't5', random(), 't6', random(), 't7', random(), 't8', g, 't9', "
	  "random()) FROM generate_series(1, $2::int) g",
	  count);
	q("ANALYZE customers", NULL);
	double t1 = now_ms();
	struct seg_features_request rq = {.tenant = tenant, .features = f, .d = 10};
	enum seg_err err = seg_db_begin(db);
	double t2 = now_ms();
	if (!err)
		err = seg_db_features_read(db, &rq, &out, detail, sizeof(detail), &feature);
	double t3 = now_ms();
	ok(!err && out.n == (size_t)n, "timing: read %d x 10 (%s)", n, detail);
	snprintf(name, sizeof(name), "seg_results.a%d_%ld", (int)getpid(), (long)time(NULL) + 1);
	struct seg__scores sc = {&out};
	if (!err)
		err = seg__analysis_store_copy(db, name, "f1 double precision, f2 double precision",
					       out.n, score_row, &sc, NULL);
	double t4 = now_ms();
	ok(!err, "timing: a store of %d rows written", n);
	seg_db_rollback(db);
	printf("# %d customers: inserted in %.0f ms; 10 features read in %.0f ms; a store of 2 "
	       "columns written (COPY and primary key) in %.0f ms\n",
	       n, t1 - t0, t3 - t2, t4 - t3);
	if (!err)
		seg_features_release(&out);
	q("DELETE FROM customers WHERE tenant_id = $1", NULL);
}

int main(int argc, char **argv)
{
	struct seg_pool_config cfg = {.conninfo = "",
				      .size = 1,
				      .statement_timeout_ms = 600000,
				      .acquire_timeout_ms = 5000};
	struct seg_pool *pool = seg_pool_new(&cfg);
	char name[64];
	int applied;

	if (seg_pool_acquire(pool, &db) || seg_db_migrate(db, &applied)) {
		printf("Bail out! no database\n");
		return 1;
	}
	snprintf(name, sizeof(name), "features-test-%d-%ld", (int)getpid(), (long)time(NULL));
	seg_db_tenant_ensure(db, name, &tenant);
	seg__db_int(tid, tenant);
	q("INSERT INTO attribute_definitions (tenant_id, name, type, category) VALUES "
	  "($1, 'n', 'number', 'other'), ($1, 'p.q', 'integer', 'other'), "
	  "($1, 's', 'string', 'other'), ($1, 'b', 'boolean', 'other'), "
	  "($1, 't', 'date', 'other')",
	  NULL);
	empty_and_missing();
	values();
	many();
	store();
	if (argc > 1)
		timing(atoi(argv[1]));
	printf("1..%d\n", seg__n);
	seg_pool_release(pool, db);
	seg_pool_free(pool);
	return seg__failed ? 1 : 0;
}

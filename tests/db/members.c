/*
 * Database-level checks of the membership machinery (db/members.c, db/rulesql.c), against the
 * PostgreSQL of the PG* environment (tests/api/test_q_members_db.py runs it inside the API
 * harness's pg_virtualenv, after the migrations). Prints TAP and timings as "# " lines.
 *
 * It plays the write paths itself: a transaction that begins with seg__members_lock, writes
 * customers with SQL, and ends with seg__members_step; then checks memberships and the feed.
 * Then the full refresh (as a job row in "running"), its history point and size, and timings:
 * a step with 100 dynamic segments for one customer, and a refresh over many customers beside
 * the hand-written SQL of the same rule.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "rule.h"

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

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct seg_db *db;
static int64_t tenant;
static char tid[SEG_INT_TEXT];

/* Runs sql (params: $1 the tenant, then more); returns column 0 of row 0 (static), "" else. */
static const char *q(const char *sql, const char *p2, const char *p3)
{
	static char out[256];
	const char *params[] = {tid, p2, p3};
	int n = p3 ? 3 : p2 ? 2 : 1;
	PGresult *res = NULL;
	enum seg_err err = seg__db_query(db, sql, strstr(sql, "$1") ? n : 0, params, &res);
	out[0] = '\0';
	if (err) {
		printf("# query failed (%s): %s\n", seg_err_detail(err), sql);
		fflush(stdout);
		exit(1);
	}
	if (PQntuples(res) && PQnfields(res))
		snprintf(out, sizeof(out), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

/* A segment of the tenant; returns its id as text (static). */
static const char *segment(const char *name, const char *rule)
{
	static char id[8][SEG_INT_TEXT];
	static int next;
	char *out = id[next++ % 8];
	if (rule)
		snprintf(out, SEG_INT_TEXT, "%s",
			 q("INSERT INTO segments (tenant_id, name, type, rule) VALUES ($1, $2, "
			   "'dynamic', $3::jsonb) RETURNING id",
			   name, rule));
	else
		snprintf(out, SEG_INT_TEXT, "%s",
			 q("INSERT INTO segments (tenant_id, name, type) VALUES ($1, $2, 'static') "
			   "RETURNING id",
			   name, NULL));
	return out;
}

static void definitions_changed(void)
{
	enum seg_err err = seg_db_begin(db);
	if (!err)
		err = seg__members_definitions_changed(db, tenant);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	ok(!err, "definitions changed");
}

/* One write transaction: lock, sql (with $1 tenant, $2 id), step for the ids. */
static void txwrite(const char *sql, const char *id, unsigned what, size_t *in, size_t *out)
{
	char ids[160];
	snprintf(ids, sizeof(ids), "{\"%s\"}", id);
	enum seg_err err = seg_db_begin(db);
	if (!err)
		err = seg__members_lock(db, tenant);
	if (!err && sql) {
		const char *params[] = {tid, id};
		err = seg__db_query(db, sql, 2, params, NULL);
	}
	if (!err)
		err = seg__members_step(db, tenant, SEG__CHANGED_IDS, ids, what, in, out);
	if (!err)
		err = seg_db_commit(db);
	if (err) {
		seg_db_rollback(db);
		printf("# write failed: %s\n", seg_err_detail(err));
	}
}

static int member(const char *seg, const char *cid)
{
	return atoi(q("SELECT count(*) FROM memberships WHERE tenant_id = $1 AND segment_id = $2 "
		      "AND customer_id = $3",
		      seg, cid));
}

static const char *last_change(const char *seg, const char *cid)
{
	return q("SELECT change FROM changes WHERE tenant_id = $1 AND segment_id = $2 AND "
		 "customer_id = $3 ORDER BY cursor DESC LIMIT 1",
		 seg, cid);
}

static enum seg_err refresh(const char *seg, char *result, size_t len)
{
	struct seg_job_claim job = {0};
	job.tenant = tenant;
	job.target = strtoll(seg, NULL, 10);
	job.id = strtoll(q("INSERT INTO jobs (tenant_id, kind, target, status, attempts) VALUES "
			   "($1, 'segment.refresh', $2, 'running', 1) RETURNING id",
			   seg, NULL),
			 NULL, 10);
	job.attempt = 1;
	enum seg_err err = seg_db_segment_refresh(db, &job, NULL);
	char idt[SEG_INT_TEXT];
	snprintf(result, len, "%s",
		 q("SELECT status || ' ' || coalesce(result::text, '') FROM jobs WHERE tenant_id = "
		   "$1 "
		   "AND id = $2",
		   seg__db_int(idt, job.id), NULL));
	return err;
}

static void semantics(void)
{
	size_t in = 0, out = 0;
	const char *s_age = segment("age30", "{\"attr\": \"age\", \"op\": \"gte\", \"value\": 30}");
	const char *s_buy = segment("buyers", "{\"event\": \"purchase\", \"within_days\": 30}");
	const char *s_vip = segment("vip", NULL);
	char rule[128];
	snprintf(rule, sizeof(rule), "{\"segment\": \"%s\"}", s_vip);
	const char *s_ref = segment("vip-ref", rule);
	snprintf(rule, sizeof(rule),
		 "{\"all\": [{\"segment\": \"%s\"}, {\"field\": \"kind\", \"op\": \"eq\", "
		 "\"value\": \"company\"}]}",
		 s_age);
	const char *s_inl = segment("age30-companies", rule);
	definitions_changed();

	/* a new customer: every segment is evaluated, whatever changed */
	txwrite("INSERT INTO customers (tenant_id, id, kind, attributes, rev) VALUES ($1, $2, "
		"'company', '{\"age\": 40}', 1)",
		"c1", SEG_RULE_DEP_EVENTS, &in, &out);
	ok(member(s_age, "c1") && member(s_inl, "c1") && !member(s_buy, "c1") &&
		   !member(s_ref, "c1"),
	   "a created customer enters the segments it matches (even those what does not touch)");
	ok(in == 2 && out == 0, "the step counts 2 entered (got %zu, %zu)", in, out);
	ok(strcmp(last_change(s_age, "c1"), "entered") == 0, "the feed says entered");

	/* an attribute change */
	txwrite("UPDATE customers SET attributes = '{\"age\": 20}', rev = rev + 1 WHERE tenant_id "
		"= $1 "
		"AND id = $2",
		"c1", SEG_RULE_DEP_ATTRS, &in, &out);
	ok(!member(s_age, "c1") && !member(s_inl, "c1") && in == 0 && out == 2,
	   "an attribute change exits both the segment and the one that inlines it (%zu, %zu)", in,
	   out);
	ok(strcmp(last_change(s_inl, "c1"), "exited") == 0, "the feed says exited");

	/* a change that the segments do not depend on evaluates nothing */
	txwrite("UPDATE customers SET attributes = '{\"age\": 50}', rev = rev + 1 WHERE tenant_id "
		"= $1 "
		"AND id = $2",
		"c1", SEG_RULE_DEP_EVENTS, &in, &out);
	ok(!member(s_age, "c1") && in == 0,
	   "a step for events leaves attribute segments alone (the write path says what changed)");
	txwrite(NULL, "c1", SEG_RULE_DEP_ATTRS, &in, &out);
	ok(member(s_age, "c1") && in == 2, "the attribute step brings it in (%zu)", in);

	/* events */
	txwrite("INSERT INTO events (tenant_id, customer_id, type, occurred_at, amount) VALUES "
		"($1, "
		"$2, 'purchase', now() - interval '1 day', 10)",
		"c1", SEG_RULE_DEP_EVENTS | SEG_RULE_DEP_METRICS, &in, &out);
	ok(member(s_buy, "c1") && in == 1, "an event brings the customer into the event segment");

	/* a static segment's member, and the dynamic segment that refers to it */
	txwrite("INSERT INTO memberships (tenant_id, segment_id, customer_id) SELECT $1, id, $2 "
		"FROM "
		"segments WHERE tenant_id = $1 AND name = 'vip'",
		"c1", SEG_RULE_DEP_SEGMENTS, &in, &out);
	ok(member(s_ref, "c1") && in == 1, "a static member enters the segment that refers to it");

	/* the customer is erased: it leaves every segment, static ones too */
	txwrite("DELETE FROM customers WHERE tenant_id = $1 AND id = $2", "c1", SEG_RULE_DEP_ATTRS,
		&in, &out);
	ok(!member(s_age, "c1") && !member(s_vip, "c1") && !member(s_ref, "c1") &&
		   !member(s_buy, "c1") && out == 5,
	   "an erased customer leaves every segment, static too (exited %zu)", out);
	ok(strcmp(last_change(s_vip, "c1"), "exited") == 0, "the feed records the static exit");

	/* the staged sources */
	enum seg_err err = seg_db_begin(db);
	if (!err)
		err = seg__members_lock(db, tenant);
	if (!err)
		err = seg__db_query(
			db,
			"CREATE TEMP TABLE IF NOT EXISTS seg_stage_customers (line bigint, "
			"id text COLLATE \"C\", kind text, doc jsonb, flat boolean, "
			"has_null boolean) ON COMMIT DELETE ROWS",
			0, NULL, NULL);
	const char *p1[] = {tid};
	if (!err)
		err = seg__db_query(
			db,
			"INSERT INTO customers (tenant_id, id, attributes) SELECT $1, 's' "
			"|| i, jsonb_build_object('age', 25 + i) FROM generate_series(1, 10) i",
			1, p1, NULL);
	if (!err)
		err = seg__db_query(
			db,
			"INSERT INTO seg_stage_customers (line, id) SELECT i, 's' || i FROM "
			"generate_series(1, 10) i",
			0, NULL, NULL);
	if (!err)
		err = seg__members_step(db, tenant, SEG__CHANGED_STAGE_CUSTOMERS, NULL,
					SEG_RULE_DEP_ATTRS, &in, &out);
	if (!err)
		err = seg_db_commit(db);
	if (err)
		seg_db_rollback(db);
	ok(!err && in == 6, "a staged batch: 6 of 10 customers enter (%zu)", in);

	/* the full refresh agrees and changes nothing; after a silent change it repairs */
	char result[256];
	err = refresh(s_age, result, sizeof(result));
	ok(!err && strstr(result, "succeeded") && strstr(result, "\"size\": 6") &&
		   strstr(result, "\"entered\": 0"),
	   "a refresh of an exact membership changes nothing: %s", result);
	q("UPDATE customers SET attributes = '{\"age\": 99}' WHERE tenant_id = $1 AND id IN ('s1', "
	  "'s2')",
	  NULL, NULL);
	q("DELETE FROM memberships WHERE tenant_id = $1 AND segment_id = $2 AND customer_id = "
	  "'s10'",
	  s_age, NULL);
	err = refresh(s_age, result, sizeof(result));
	ok(!err && strstr(result, "\"size\": 8") && strstr(result, "\"entered\": 3"),
	   "a refresh applies the differences: %s", result);
	ok(strcmp(q("SELECT size || ' ' || entered || ' ' || exited FROM segment_history WHERE "
		    "tenant_id = $1 AND segment_id = $2 ORDER BY seq DESC LIMIT 1",
		    s_age, NULL),
		  "8 3 0") == 0,
	   "the history point counts the changes since the previous point");
	ok(strcmp(q("SELECT seg_segment_size(s) FROM segments s WHERE tenant_id = $1 AND id = $2",
		    s_age, NULL),
		  "8") == 0,
	   "seg_segment_size after the refresh");
	txwrite("UPDATE customers SET attributes = '{\"age\": 1}', rev = rev + 1 WHERE tenant_id = "
		"$1 "
		"AND id = $2",
		"s9", SEG_RULE_DEP_ATTRS, &in, &out);
	ok(strcmp(q("SELECT seg_segment_size(s) FROM segments s WHERE tenant_id = $1 AND id = $2",
		    s_age, NULL),
		  "7") == 0,
	   "seg_segment_size adds the later changes");
	/* a refresh whose rule moved meanwhile is superseded: checked by bumping first */
	q("UPDATE segments SET rule_version = rule_version + 1 WHERE tenant_id = $1 AND id = $2",
	  s_age, NULL);
	err = refresh(s_age, result, sizeof(result));
	ok(!err && strstr(result, "succeeded"), "a refresh after a rule change runs: %s", result);
}

/* A step with 100 dynamic segments for one customer write, beside the write alone. */
static void timing(void)
{
	char name[32], rule[256];
	size_t in, out;
	const int runs = 300;
	double t0, with, without;

	/* without: a tenant without segments */
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "bulk%d", i);
		snprintf(rule, sizeof(rule),
			 i % 4 == 0 ? "{\"attr\": \"score\", \"op\": \"gte\", \"value\": %d}"
			 : i % 4 == 1
				 ? "{\"all\": [{\"attr\": \"plan\", \"op\": \"eq\", \"value\": "
				   "\"p%d\"}, {\"attr\": \"age\", \"op\": \"gt\", \"value\": 18}]}"
			 : i % 4 == 2 ? "{\"event\": \"purchase\", \"within_days\": %d}"
				      : "{\"metric\": \"revenue\", \"op\": \"gt\", \"value\": %d}",
			 i);
		segment(name, rule);
	}
	definitions_changed();
	txwrite("INSERT INTO customers (tenant_id, id, attributes) VALUES ($1, $2, '{}')", "t1",
		SEG_RULE_DEP_ATTRS, &in, &out);
	t0 = now_ms();
	for (int i = 0; i < runs; i++)
		txwrite("UPDATE customers SET attributes = jsonb_build_object('score', "
			"(random() * 100)::int, 'plan', 'p1', 'age', 30), rev = rev + 1 WHERE "
			"tenant_id = $1 AND id = $2",
			"t1", SEG_RULE_DEP_ATTRS, &in, &out);
	with = (now_ms() - t0) / runs;
	t0 = now_ms();
	for (int i = 0; i < runs; i++) {
		enum seg_err err = seg_db_begin(db);
		const char *params[] = {tid, "t1"};
		if (!err)
			err = seg__db_query(
				db,
				"UPDATE customers SET attributes = jsonb_build_object('score', "
				"(random() * 100)::int, 'plan', 'p1', 'age', 30), rev = rev + "
				"1 WHERE tenant_id = $1 AND id = $2",
				2, params, NULL);
		if (!err)
			err = seg_db_commit(db);
		if (err)
			seg_db_rollback(db);
	}
	without = (now_ms() - t0) / runs;
	printf("# one customer write with 100 dynamic segments: %.3f ms (lock + write + step + "
	       "commit); the write alone: %.3f ms; ratio %.2f\n",
	       with, without, with / without);
	ok(with < 5, "a write with 100 segments takes under 5 ms on average (%.3f ms)", with);
}

/* A refresh over many customers beside the hand-written SQL of the same rule. */
static void refresh_timing(int n)
{
	char count[32], result[256];
	snprintf(count, sizeof(count), "%d", n);
	q("INSERT INTO customers (tenant_id, id, kind, attributes, orders, revenue, events) SELECT "
	  "$1, 'r' || lpad(i::text, 8, '0'), CASE WHEN i % 5 = 0 THEN 'company' ELSE 'person' END, "
	  "jsonb_build_object('age', i % 90, 'country', (ARRAY['DE','FR','US'])[1 + i % 3]), i % "
	  "7, "
	  "(i % 13) * 10.5, i % 11 FROM generate_series(1, $2::int) i",
	  count, NULL);
	q("INSERT INTO events (tenant_id, customer_id, type, occurred_at, amount) SELECT $1, 'r' "
	  "|| "
	  "lpad((1 + i % $2::int)::text, 8, '0'), 'purchase', now() - (i % 200) * interval '1 "
	  "day', "
	  "10 FROM generate_series(1, $2::int * 5) i",
	  count, NULL);
	q("ANALYZE customers", NULL, NULL);
	q("ANALYZE events", NULL, NULL);
	static const char mixed[] =
		"{\"all\": [{\"attr\": \"age\", \"op\": \"gte\", \"value\": 30}, {\"event\": "
		"\"purchase\", \"within_days\": 90, \"op\": \"gte\", \"value\": 2}, {\"metric\": "
		"\"revenue\", \"op\": \"gt\", \"value\": 50}]}";
	const char *s = segment("mixed", mixed);
	definitions_changed();
	double t0 = now_ms();
	enum seg_err err = refresh(s, result, sizeof(result));
	double first = now_ms() - t0;
	t0 = now_ms();
	err = err ? err : refresh(s, result, sizeof(result));
	double second = now_ms() - t0;
	t0 = now_ms();
	const char *hand =
		q("SELECT count(*) FROM customers c WHERE c.tenant_id = $1 AND "
		  "(c.attributes ->> 'age')::numeric >= 30 AND c.revenue > 50 AND "
		  "(SELECT count(*) FROM events e WHERE e.tenant_id = c.tenant_id AND "
		  "e.customer_id = c.id AND e.type = 'purchase' AND e.occurred_at > now() "
		  "- interval '90 days' AND e.occurred_at <= now()) >= 2",
		  NULL, NULL);
	double handms = now_ms() - t0;
	char size[64], *json = NULL;
	snprintf(size, sizeof(size), "\"size\": %s", hand);
	struct seg_problem p;
	seg_problem_init(&p);
	struct seg_rule *rule = seg_rule_parse(mixed, strlen(mixed), NULL, "", &p);
	t0 = now_ms();
	enum seg_err perr =
		rule ? seg_db_segment_preview(db, tenant, rule, &json) : SEG_ERR_INVALID;
	double previewms = now_ms() - t0;
	char want[64];
	snprintf(want, sizeof(want), "\"count\" : %s,", hand);
	ok(!perr && json && strstr(json, want), "the preview counts the same: %s",
	   json ? json : "(none)");
	printf("# preview of the same rule: %.0f ms\n", previewms);
	free(json);
	seg_rule_free(rule);
	seg_problem_release(&p);
	ok(!err && strstr(result, size), "the refresh counts what the hand-written SQL counts (%s)",
	   result);
	printf("# refresh over %d customers, %d events: first %.0f ms (all enter), second %.0f ms "
	       "(no change); hand-written count(*) %.0f ms\n",
	       n, n * 5, first, second, handms);
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
	int n = argc > 1 ? atoi(argv[1]) : 20000;

	if (seg_pool_acquire(pool, &db) || seg_db_migrate(db, &applied)) {
		printf("Bail out! no database\n");
		return 1;
	}
	snprintf(name, sizeof(name), "members-test-%d-%ld", (int)getpid(), (long)time(NULL));
	seg_db_tenant_ensure(db, name, &tenant);
	seg__db_int(tid, tenant);
	semantics();
	timing();
	snprintf(name, sizeof(name), "members-big-%d-%ld", (int)getpid(), (long)time(NULL));
	seg_db_tenant_ensure(db, name, &tenant);
	seg__db_int(tid, tenant);
	refresh_timing(n);
	printf("1..%d\n", seg__n);
	seg_pool_release(pool, db);
	seg_pool_free(pool);
	return seg__failed ? 1 : 0;
}

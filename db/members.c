/*
 * Memberships: the definitions lock, the membership step every write path ends with, the full
 * refresh of a dynamic segment, and the preview of a rule. The model is db/README.md
 * "Memberships"; the SQL of rules comes from db/rulesql.c ("Rule compilation").
 *
 * The step of a tenant is one statement, generated from all of its dynamic rules for one
 * (version of its definitions, source of the changed customers, what changed), cached in a
 * process-wide cache (under a mutex, bounded) and prepared on each connection under the cache
 * entry's name (struct seg_db remembers which; the least recently used are deallocated).
 *
 * Threads: any thread with a borrowed connection; the cache is shared under seg__cache_lock,
 * which is never held while waiting on the database.
 */
#include "internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "rule.h"
#include "rulesql.h"

/* The advisory lock classes (two-key form): the tenant's definitions, a segment's refresh. */
#define SEG__LOCK_REFRESH "1397050693"

SEG_STMT(members_lock, "SELECT version, segments FROM seg_members_lock($1)");
SEG_STMT(members_defs_changed, "SELECT seg_members_definitions_changed($1)");
SEG_STMT(members_defs, "SELECT id, type = 'dynamic', rule::text, rule_version FROM segments "
		       "WHERE tenant_id = $1 ORDER BY id");
SEG_STMT(members_segment_exists, "SELECT 1 FROM segments WHERE tenant_id = $1 AND id = $2");

/* ----- the tenant's segment definitions --------------------------------------------------- */

struct seg__def {
	int64_t id;
	bool dynamic;
	int64_t rule_version;
	struct seg_rule *rule; /* dynamic, parsed in stored mode; NULL if it could not be */
	unsigned eff;	       /* effective deps: the rule's and those of what it inlines */
	int visit;	       /* 0: eff not computed, 1: being computed, 2: done */
};

struct seg__defs {
	struct seg__def *v;
	size_t n;
	struct seg_attr_catalog catalog;
};

static void seg__defs_release(struct seg__defs *d)
{
	for (size_t i = 0; i < d->n; i++)
		seg_rule_free(d->v[i].rule);
	free(d->v);
	d->v = NULL;
	d->n = 0;
	seg_attr_catalog_release(&d->catalog);
}

/* Loads every segment of the tenant, and parses the dynamic rules against its catalogue. */
static enum seg_err seg__defs_load(struct seg_db *db, int64_t tenant, struct seg__defs *d)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant)};
	PGresult *res = NULL;
	enum seg_err err;

	d->v = NULL;
	d->n = 0;
	seg_attr_catalog_init(&d->catalog);
	err = seg_db_attr_catalog(db, tenant, &d->catalog);
	if (!err)
		err = seg__db_exec(db, &members_defs, 1, params, &res);
	if (err)
		return err;
	d->n = (size_t)PQntuples(res);
	d->v = seg_calloc(d->n ? d->n : 1, sizeof(*d->v));
	for (size_t i = 0; i < d->n; i++) {
		struct seg__def *def = &d->v[i];
		def->id = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
		def->dynamic = PQgetvalue(res, (int)i, 1)[0] == 't';
		def->rule_version = strtoll(PQgetvalue(res, (int)i, 3), NULL, 10);
		if (!def->dynamic || PQgetisnull(res, (int)i, 2))
			continue;
		struct seg_rule_env env = {.catalog = &d->catalog, .stored = true};
		struct seg_problem p;
		seg_problem_init(&p);
		def->rule = seg_rule_parse(PQgetvalue(res, (int)i, 2),
					   (size_t)PQgetlength(res, (int)i, 2), &env, "", &p);
		if (!def->rule)
			seg_error("segment %lld of tenant %lld: its stored rule does not parse (%s "
				  "at \"%s\"); it has no members until it is saved again",
				  (long long)def->id, (long long)tenant,
				  p.count ? p.items[0].detail : "?",
				  p.count && p.items[0].pointer ? p.items[0].pointer : "");
		seg_problem_release(&p);
	}
	PQclear(res);
	return SEG_OK;
}

static struct seg__def *seg__defs_find(const struct seg__defs *d, int64_t id)
{
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->v[mid].id == id)
			return &d->v[mid];
		if (d->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* rulesql's reference callback: a static segment's membership, a dynamic one's rule. */
static enum seg_err seg__defs_resolve(void *ctx, int64_t id, const struct seg_rule **rule)
{
	const struct seg__def *def = seg__defs_find(ctx, id);
	if (!def || (def->dynamic && !def->rule))
		return SEG_ERR_NOT_FOUND;
	*rule = def->dynamic ? def->rule : NULL;
	return SEG_OK;
}

/*
 * What a change must touch to affect def: its rule's deps, those of the dynamic rules it
 * inlines, and SEG_RULE_DEP_SEGMENTS for a static segment it reads. A cycle (never stored)
 * stops the walk.
 */
static unsigned seg__defs_eff(struct seg__defs *d, struct seg__def *def)
{
	if (def->visit)
		return def->visit == 2 ? def->eff : 0;
	def->visit = 1;
	unsigned eff = def->rule ? def->rule->deps : 0;
	for (size_t i = 0; def->rule && i < def->rule->nsegments; i++) {
		struct seg__def *ref = seg__defs_find(d, def->rule->segments[i]);
		if (!ref)
			continue;
		eff |= ref->dynamic ? seg__defs_eff(d, ref) : SEG_RULE_DEP_SEGMENTS;
	}
	def->eff = eff;
	def->visit = 2;
	return eff;
}

/* ----- the definitions lock --------------------------------------------------------------- */

enum seg_err seg__members_lock(struct seg_db *db, int64_t tenant)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant)};
	PGresult *res = NULL;
	enum seg_err err = seg__db_exec(db, &members_lock, 1, params, &res);
	if (err)
		return err;
	db->members_tenant = tenant;
	db->members_version = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	db->members_segments = PQgetvalue(res, 0, 1)[0] == 't';
	PQclear(res);
	return SEG_OK;
}

enum seg_err seg__members_definitions_changed(struct seg_db *db, int64_t tenant)
{
	char tid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant)};
	PGresult *res = NULL;
	enum seg_err err = seg__db_exec(db, &members_defs_changed, 1, params, &res);
	if (err)
		return err;
	/* a write later in this transaction compiles the new definitions */
	db->members_tenant = tenant;
	db->members_version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	db->members_segments = true;
	PQclear(res);
	return SEG_OK;
}

/* ----- the step statement and its cache --------------------------------------------------- */

#define SEG__CACHE_MAX 256

struct seg__step {
	int64_t tenant, version;
	unsigned key; /* src << 8 | what */
	char name[24];
	char *sql;		      /* NULL: nothing to run (no segment the step could touch) */
	struct seg__sqlparams params; /* $1 the tenant, $2 the ids (IDS) as placeholders */
	int refs;
	uint64_t used;
	bool cached; /* in seg__cache (otherwise freed by its last user) */
};

static pthread_mutex_t seg__cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct seg__step *seg__cache[SEG__CACHE_MAX];
static size_t seg__ncache;
static uint64_t seg__clock;
static unsigned long seg__serial;

static void seg__step_free(struct seg__step *st)
{
	if (!st)
		return;
	free(st->sql);
	seg__sqlparams_release(&st->params);
	free(st);
}

/* many: the ids of an ids source are too many for the prepared statement (a variant). */
static unsigned seg__step_key(enum seg__changed src, unsigned what, bool many)
{
	return (many ? 1u << 16 : 0) | (unsigned)src << 8 | (what & 0xff);
}

/* Takes a reference to the cached step of the key, or NULL. */
static struct seg__step *seg__cache_get(int64_t tenant, int64_t version, unsigned key)
{
	struct seg__step *found = NULL;
	pthread_mutex_lock(&seg__cache_lock);
	for (size_t i = 0; i < seg__ncache; i++) {
		struct seg__step *st = seg__cache[i];
		if (st->tenant == tenant && st->version == version && st->key == key) {
			st->refs++;
			st->used = ++seg__clock;
			found = st;
			break;
		}
	}
	pthread_mutex_unlock(&seg__cache_lock);
	return found;
}

/*
 * Adds a new step (one reference, its caller's) to the cache, or returns the one another
 * thread added meanwhile (freeing st). Older versions of the tenant's steps go; when the cache
 * is full the least recently used unreferenced entry goes, and when every entry is in use st
 * stays outside the cache (its last user frees it).
 */
static struct seg__step *seg__cache_put(struct seg__step *st)
{
	struct seg__step *other = seg__cache_get(st->tenant, st->version, st->key);
	if (other) {
		seg__step_free(st);
		return other;
	}
	pthread_mutex_lock(&seg__cache_lock);
	snprintf(st->name, sizeof(st->name), "seg_step_%lu", ++seg__serial);
	st->refs = 1;
	st->used = ++seg__clock;
	for (size_t i = 0; i < seg__ncache;) {
		struct seg__step *o = seg__cache[i];
		if (o->tenant == st->tenant && o->version < st->version && !o->refs) {
			seg__step_free(o);
			seg__cache[i] = seg__cache[--seg__ncache];
		} else {
			i++;
		}
	}
	if (seg__ncache == SEG__CACHE_MAX) {
		size_t lru = SEG__CACHE_MAX;
		for (size_t i = 0; i < seg__ncache; i++)
			if (!seg__cache[i]->refs &&
			    (lru == SEG__CACHE_MAX || seg__cache[i]->used < seg__cache[lru]->used))
				lru = i;
		if (lru < SEG__CACHE_MAX) {
			seg__step_free(seg__cache[lru]);
			seg__cache[lru] = seg__cache[--seg__ncache];
		}
	}
	if (seg__ncache < SEG__CACHE_MAX) {
		seg__cache[seg__ncache++] = st;
		st->cached = true;
	}
	pthread_mutex_unlock(&seg__cache_lock);
	return st;
}

static void seg__cache_release(struct seg__step *st)
{
	bool drop;
	pthread_mutex_lock(&seg__cache_lock);
	drop = --st->refs == 0 && !st->cached;
	pthread_mutex_unlock(&seg__cache_lock);
	if (drop)
		seg__step_free(st);
}

/*
 * The changed customers of a source, as the CTE x(id); "" for every customer of the tenant.
 */
static const char *seg__source_cte(enum seg__changed src, bool many)
{
	switch (src) {
	case SEG__CHANGED_IDS:
		/* a few ids: seg_ids hides their number, so that the generic plan is kept */
		return many ? "x AS MATERIALIZED (SELECT DISTINCT t.id COLLATE \"C\" AS id "
			      "FROM unnest($2::text[]) AS t(id))"
			    : "x AS MATERIALIZED (SELECT t.id COLLATE \"C\" AS id "
			      "FROM seg_ids($2::text[]) AS t(id))";
	case SEG__CHANGED_STAGE_EVENTS:
		return "x AS MATERIALIZED (SELECT DISTINCT s.customer_id AS id FROM "
		       "seg_stage_events s)";
	case SEG__CHANGED_STAGE_CUSTOMERS:
		return "x AS MATERIALIZED (SELECT DISTINCT s.id FROM seg_stage_customers s)";
	default: return "";
	}
}

/*
 * Which staged events can change a segment: appends to r, as " OR "-joined terms over a staged
 * event s, a superset of the events that can change the rule n (and the dynamic rules it
 * inlines), or returns false when any event can. An event condition is changed by events of
 * its type inside its window; the purchase metrics by revenue events; the other metrics
 * (events, last_event_at, tenure_days) by any event. Attributes, fields and static segments
 * are not changed by events. The where filters of event conditions are ignored (a superset).
 */
static bool seg__event_terms(struct seg__defs *d, const struct seg_rule_node *n, int depth,
			     struct seg_buf *r, struct seg__sqlparams *params)
{
	static const char *const purchase_metrics[] = {
		"orders",	    "revenue",	    "avg_order_value", "first_purchase_at",
		"last_purchase_at", "recency_days",
	};
	static const char revenue[] = "s.type = ANY (coalesce((SELECT t.revenue_event_types FROM "
				      "tenants t WHERE t.id = $1), '{}'))";
	char days[48];

	if (!n || depth > SEG_RULE_MAX_DEPTH)
		return false;
	switch (n->kind) {
	case SEG_RULE_ALL:
	case SEG_RULE_ANY:
	case SEG_RULE_NOT:
		for (size_t i = 0; i < n->nchildren; i++)
			if (!seg__event_terms(d, n->children[i], depth, r, params))
				return false;
		return true;
	case SEG_RULE_METRIC:
		if (seg_rule_metric_score(n->name, NULL))
			return true; /* an analysis metric: only a run changes it */
		for (size_t i = 0; i < sizeof(purchase_metrics) / sizeof(*purchase_metrics); i++)
			if (strcmp(n->name, purchase_metrics[i]) == 0) {
				if (!r->len || !strstr(r->data, revenue))
					seg_buf_addf(r, "%s%s", r->len ? " OR " : "", revenue);
				return true;
			}
		return false;
	case SEG_RULE_EVENT: {
		if (!n->name)
			return false;
		size_t k = seg__sqlparams_addstr(params, n->name);
		seg_buf_addf(r, "%s(s.type = $%zu::text", r->len ? " OR " : "", k);
		if (n->within_days > 0) {
			snprintf(days, sizeof(days), "%lld days", (long long)n->within_days);
			k = seg__sqlparams_addstr(params, days);
			seg_buf_addf(r, " AND s.occurred_at > now() - $%zu::interval", k);
		}
		seg_buf_addch(r, ')');
		return true;
	}
	case SEG_RULE_SEGMENT: {
		struct seg__def *ref = seg__defs_find(d, n->segment);
		if (!ref || !ref->dynamic)
			return true; /* gone, or static: events do not change it */
		return ref->rule && seg__event_terms(d, ref->rule->root, depth + 1, r, params);
	}
	default: return true; /* attributes and fields */
	}
}

/*
 * Appends "SELECT z.cid, z.sid, z.ok FROM (SELECT c.id AS cid, cm.sids, unnest(<the segments
 * v[0..n)>) AS sid, unnest(ARRAY[<whether c matches each>]) AS ok FROM <from> LEFT JOIN LATERAL
 * (<the event aggregates>) ea ON true LEFT JOIN LATERAL (<the customer's memberships>) cm ON
 * true <where>) z WHERE <the pair changes>": every event condition of the rules (of those they
 * inline too) is a column of the one lateral, a single scan of the customer's events (no
 * lateral when none has an event condition); cm.sids are the segments the customer is a member
 * of; the two unnests in the select list run in step, one row per segment. (The rules are in
 * the select list, not in a joined VALUES list: with about a thousand leaves over all rules,
 * that join made PostgreSQL fail every write, most likely through a Memoize node over its inner
 * side keyed by every column the rules read.)
 */
static enum seg_err seg__step_values(struct seg_buf *sql, struct seg__sqlparams *params,
				     struct seg__defs *d, struct seg__def **v, size_t n,
				     const char *from, const char *where)
{
	struct seg__rulesql_refs refs = {seg__defs_resolve, d};
	struct seg__rulesql_hoist h;
	struct seg_buf oks = SEG_BUF_INIT, ids = SEG_BUF_INIT;
	char id[SEG_INT_TEXT];
	enum seg_err err = SEG_OK;

	seg__rulesql_hoist_init(&h, "ea");
	seg_buf_addch(&ids, '{');
	for (size_t i = 0; i < n && !err; i++) {
		seg_buf_addf(&ids, "%s%s", i ? "," : "", seg__db_int(id, v[i]->id));
		if (i)
			seg_buf_addstr(&oks, ", ");
		err = seg__rulesql_compile_hoisted(v[i]->rule->root, "c", &refs, &h, &oks, params);
	}
	seg_buf_addch(&ids, '}');
	if (!err) {
		size_t k = seg__sqlparams_addstr(params, ids.data);
		seg_buf_addf(sql,
			     "SELECT z.cid, z.sid, z.ok FROM (SELECT c.id AS cid, cm.sids, "
			     "unnest($%zu::bigint[]) AS sid, unnest(ARRAY[",
			     k);
		seg_buf_add(sql, oks.data, oks.len);
		seg_buf_addf(sql, "]) AS ok FROM %s", from);
		seg__rulesql_hoist_lateral(&h, "c", sql, params);
		/* the segments the customer is a member of: one probe of memberships_customer */
		seg_buf_addstr(sql, " LEFT JOIN LATERAL (SELECT array_agg(m.segment_id) AS sids "
				    "FROM memberships m WHERE m.tenant_id = $1 "
				    "AND m.customer_id = c.id) cm ON true");
		/*
		 * Only the pairs that change: a match that is not a member, a member that no
		 * longer matches (cm.sids: the customer's memberships, read in the statement's
		 * snapshot, as the deletions always were; the customer's row lock, taken by the
		 * write before the step, orders it after any refresh or step that changed them).
		 */
		seg_buf_addf(sql, "%s) z WHERE z.ok <> coalesce(z.sid = ANY(z.sids), false)",
			     where);
	}
	seg_buf_release(&oks);
	seg_buf_release(&ids);
	seg__rulesql_hoist_release(&h);
	return err;
}

/* The customers of the changed ids x(id), each by a probe of the primary key. */
#define SEG__PROBE_C                                                               \
	" x CROSS JOIN LATERAL (SELECT * FROM customers c WHERE c.tenant_id = $1 " \
	"AND c.id = x.id OFFSET 0) c"

/*
 * Generates the step of the tenant's definitions d for a source and what (see the README's
 * "Rule compilation" for the statement's shape).
 */
static enum seg_err seg__step_build(struct seg__defs *d, enum seg__changed src, unsigned what,
				    bool many, struct seg__step *st)
{
	struct seg__def **hit = seg_calloc(d->n + 1, sizeof(*hit));
	struct seg__def **rest = seg_calloc(d->n + 1, sizeof(*rest));
	struct seg_buf sql = SEG_BUF_INIT;
	size_t nhit = 0, nrest = 0;
	/*
	 * The changed customers x drive every lookup, each a subquery fenced by OFFSET 0 and
	 * correlated on x.id: its only sensible plan is one probe of a primary key or index per
	 * changed customer, whatever the planner believes of the tenant's size (statistics go stale
	 * after an import), so no plan can scan the tenant once per changed customer.
	 */
	bool all = src == SEG__CHANGED_ALL;
	bool staged = src == SEG__CHANGED_STAGE_EVENTS;
	const char *from_c = all ? "customers c" : SEG__PROBE_C;
	const char *where_c = all ? " WHERE c.tenant_id = $1" : " WHERE true";
	enum seg_err err = SEG_OK;

	for (size_t i = 0; i < d->n; i++) {
		struct seg__def *def = &d->v[i];
		if (!def->dynamic || !def->rule)
			continue;
		if (seg__defs_eff(d, def) & what)
			hit[nhit++] = def;
		else
			rest[nrest++] = def;
	}
	seg__sqlparams_addstr(&st->params, ""); /* $1: the tenant */
	if (src == SEG__CHANGED_IDS)
		seg__sqlparams_addstr(&st->params, ""); /* $2: the ids */
	if (!nhit && !nrest && src != SEG__CHANGED_IDS)
		goto out; /* nothing can change: only a deleted customer leaves static segments */

	/*
	 * An events batch evaluates the segments over events and metrics only for the customers
	 * with an event that can change one of them (x.rel), and for those it created.
	 */
	struct seg_buf rel = SEG_BUF_INIT;
	size_t nparams = st->params.n;
	bool filter = src == SEG__CHANGED_STAGE_EVENTS && nhit;
	for (size_t i = 0; filter && i < nhit; i++)
		filter = seg__event_terms(d, hit[i]->rule->root, 0, &rel, &st->params);
	filter = filter && rel.len;
	if (!filter)
		seg__sqlparams_truncate(&st->params, nparams);
	seg_buf_addstr(&sql, "WITH ");
	if (filter)
		seg_buf_addf(&sql,
			     "x AS MATERIALIZED (SELECT s.customer_id AS id, bool_or(%s) AS rel "
			     "FROM seg_stage_events s GROUP BY s.customer_id), ",
			     rel.data);
	else if (!all) {
		seg_buf_addstr(&sql, seg__source_cte(src, many));
		seg_buf_addstr(&sql, ", ");
	}
	seg_buf_release(&rel);
	if (nhit || nrest) {
		/* the (customer, segment) pairs that change, and whether they now match */
		seg_buf_addstr(&sql, "ev AS MATERIALIZED (");
		char where[96];
		if (nhit) {
			/*
			 * An events batch lists the customers it created (seg_stage_created):
			 * only they and those with a relevant event are probed.
			 */
			const char *from =
				filter ? "(SELECT x.id FROM x WHERE x.rel UNION SELECT n.id FROM "
					 "seg_stage_created n)" SEG__PROBE_C
				       : from_c;
			err = seg__step_values(&sql, &st->params, d, hit, nhit, from, where_c);
		}
		if (nrest && !err) {
			/* the customers this transaction created are evaluated for every segment */
			const char *from = staged ? "seg_stage_created" SEG__PROBE_C : from_c;
			snprintf(where, sizeof(where), "%s%s", where_c,
				 staged ? "" : " AND c.created_at = now()");
			if (nhit)
				seg_buf_addstr(&sql, " UNION ALL ");
			err = seg__step_values(&sql, &st->params, d, rest, nrest, from, where);
		}
		if (err)
			goto out;
		/*
		 * ins: the pairs that enter (ON CONFLICT DO NOTHING for a membership a concurrent
		 * transaction inserted first); dd: the memberships that exit, each found by its key
		 * (a probe per pair: a join let the planner, misjudging how many pairs exit, scan
		 * every membership of the table), deleted by del by their row ids (a TID scan).
		 */
		seg_buf_addstr(
			&sql,
			"), "
			"ins AS (INSERT INTO memberships AS m (tenant_id, segment_id, "
			"customer_id) SELECT $1, ev.sid, ev.cid FROM ev WHERE ev.ok "
			"ORDER BY ev.cid, ev.sid ON CONFLICT DO NOTHING "
			"RETURNING m.segment_id, m.customer_id), "
			"dd AS MATERIALIZED (SELECT m.ctid AS t FROM ev CROSS JOIN LATERAL "
			"(SELECT m.ctid FROM memberships m WHERE m.tenant_id = $1 "
			"AND m.segment_id = ev.sid AND m.customer_id = ev.cid OFFSET 0) m "
			"WHERE NOT ev.ok), "
			"del AS (DELETE FROM memberships m WHERE m.ctid = ANY "
			"(ARRAY(SELECT dd.t FROM dd)) RETURNING m.segment_id, m.customer_id), ");
	}
	if (src == SEG__CHANGED_IDS)
		/* a changed customer that no longer exists leaves every segment, static too */
		seg_buf_addstr(
			&sql,
			"gx AS MATERIALIZED (SELECT x.id FROM x WHERE NOT EXISTS (SELECT 1 "
			"FROM customers c WHERE c.tenant_id = $1 AND c.id = x.id OFFSET 0)), "
			"gm AS MATERIALIZED (SELECT m.segment_id, m.customer_id FROM gx CROSS "
			"JOIN LATERAL (SELECT m.segment_id, m.customer_id FROM memberships m "
			"WHERE m.tenant_id = $1 AND m.customer_id = gx.id OFFSET 0) m), "
			"gone AS (DELETE FROM memberships m USING gm WHERE m.tenant_id = $1 "
			"AND m.segment_id = gm.segment_id AND m.customer_id = gm.customer_id "
			"RETURNING m.segment_id, m.customer_id), ");
	seg_buf_addstr(&sql, "chd AS (");
	if (nhit || nrest)
		seg_buf_addstr(&sql, "SELECT segment_id, customer_id, 'entered' AS change FROM ins "
				     "UNION ALL SELECT segment_id, customer_id, 'exited' FROM del");
	if (src == SEG__CHANGED_IDS)
		seg_buf_addf(&sql, "%sSELECT segment_id, customer_id, 'exited' AS change FROM gone",
			     nhit || nrest ? " UNION ALL " : "");
	seg_buf_addstr(&sql, "), " SEG__CHANGES_RECORD(
				     "chd") "SELECT count(*) FILTER (WHERE change = 'entered'), "
					    "count(*) FILTER (WHERE change = 'exited') FROM chg");
	st->sql = seg_buf_detach(&sql, NULL);
out:
	free(hit);
	free(rest);
	seg_buf_release(&sql);
	return err;
}

enum seg_err seg__members_check_capacity(struct seg_db *db, int64_t tenant, size_t *params)
{
	/* every source; with every dep wanted, all segments compile into the one branch */
	static const enum seg__changed srcs[] = {SEG__CHANGED_IDS, SEG__CHANGED_STAGE_EVENTS,
						 SEG__CHANGED_STAGE_CUSTOMERS, SEG__CHANGED_ALL};
	struct seg__defs d;
	enum seg_err err = seg__defs_load(db, tenant, &d);

	*params = 0;
	for (size_t i = 0; !err && i < sizeof(srcs) / sizeof(*srcs); i++) {
		struct seg__step st = {0};
		seg__sqlparams_init(&st.params);
		err = seg__step_build(&d, srcs[i], ~0u, false, &st);
		if (!err && st.params.n > *params)
			*params = st.params.n;
		seg__sqlparams_release(&st.params);
		free(st.sql);
	}
	seg__defs_release(&d);
	if (!err && *params > SEG__PARAMS_MAX)
		err = SEG_ERR_INVALID;
	return err;
}

/* The cached step for the transaction's version of the tenant's definitions, compiled if new. */
static enum seg_err seg__step_get(struct seg_db *db, int64_t tenant, enum seg__changed src,
				  unsigned what, bool many, struct seg__step **out)
{
	unsigned key = seg__step_key(src, what, many);
	struct seg__defs d;
	struct seg__step *st;
	enum seg_err err;

	*out = seg__cache_get(tenant, db->members_version, key);
	if (*out)
		return SEG_OK;
	err = seg__defs_load(db, tenant, &d);
	st = seg_calloc(1, sizeof(*st));
	st->tenant = tenant;
	st->version = db->members_version;
	st->key = key;
	seg__sqlparams_init(&st->params);
	if (!err)
		err = seg__step_build(&d, src, what, many, st);
	seg__defs_release(&d);
	if (err) {
		seg__step_free(st);
		return err;
	}
	seg_debug("compiled the membership step of tenant %lld, version %lld, source %d, what "
		  "%u: %zu bytes, %zu parameters",
		  (long long)tenant, (long long)st->version, (int)src, what,
		  st->sql ? strlen(st->sql) : 0, st->params.n);
	*out = seg__cache_put(st);
	return SEG_OK;
}

/*
 * Whether st is prepared on db; makes room for it when it is not: deallocates the steps of the
 * same tenant and key (older versions) and, when the connection holds too many, the least
 * recently used. Returns its slot in db->steps (to record it once prepared), or -1 when it is
 * prepared already.
 */
static uint64_t seg__step_uses;

static void seg__step_deallocate(struct seg_db *db, int i)
{
	char sql[48];
	snprintf(sql, sizeof(sql), "DEALLOCATE %s", db->steps[i].name);
	seg__db_query(db, sql, 0, NULL, NULL);
	db->steps[i] = db->steps[--db->nsteps];
}

static int seg__step_slot(struct seg_db *db, const struct seg__step *st)
{
	uint64_t now = __atomic_add_fetch(&seg__step_uses, 1, __ATOMIC_RELAXED);

	for (int i = 0; i < db->nsteps; i++)
		if (strcmp(db->steps[i].name, st->name) == 0) {
			db->steps[i].used = now;
			return -1;
		}
	for (int i = 0; i < db->nsteps;)
		if (db->steps[i].tenant == st->tenant && db->steps[i].key == st->key)
			seg__step_deallocate(db, i);
		else
			i++;
	if (db->nsteps == SEG__STEPS_MAX) {
		int lru = 0;
		for (int i = 1; i < db->nsteps; i++)
			if (db->steps[i].used < db->steps[lru].used)
				lru = i;
		seg__step_deallocate(db, lru);
	}
	return db->nsteps;
}

/* At most this many ids run the prepared step (generic plan); more run unprepared. */
#define SEG__STEP_PREPARED_IDS 32

/* Elements of a PostgreSQL array literal, at least (commas + 1; 0 for "{}" or NULL). */
static size_t seg__array_count(const char *lit)
{
	size_t n = 1;
	if (!lit || strcmp(lit, "{}") == 0)
		return 0;
	for (const char *p = lit; *p; p++)
		n += *p == ',';
	return n;
}

enum seg_err seg__members_step(struct seg_db *db, int64_t tenant, enum seg__changed src,
			       const char *ids, unsigned what, size_t *entered, size_t *exited)
{
	struct seg__step *st = NULL;
	const char **params = NULL;
	PGresult *res = NULL;
	char tid[SEG_INT_TEXT];
	enum seg_err err = SEG_OK;

	if (entered)
		*entered = 0;
	if (exited)
		*exited = 0;
	if (db->members_tenant != tenant) {
		/* the caller forgot the lock: take it now (later than the contract wants) */
		seg_warn("membership step of tenant %lld without its definitions lock",
			 (long long)tenant);
		err = seg__members_lock(db, tenant);
		if (err)
			return err;
	}
	if (!db->members_segments)
		return SEG_OK; /* no segment at all: nothing to keep */
	bool many = src == SEG__CHANGED_IDS && seg__array_count(ids) > SEG__STEP_PREPARED_IDS;
	err = seg__step_get(db, tenant, src, what, many, &st);
	if (err || !st->sql)
		goto out;
	params = seg_calloc(st->params.n, sizeof(*params));
	for (size_t i = 0; i < st->params.n; i++)
		params[i] = st->params.v[i];
	params[0] = seg__db_int(tid, tenant);
	if (src == SEG__CHANGED_IDS)
		params[1] = ids ? ids : "{}";
	/*
	 * A prepared statement settles on a generic plan, which knows neither how many customers
	 * changed nor, if it was made while the tables were small, how large they are now: right
	 * for one customer's write, a risk for a batch. So a batch (staged rows, every customer, or
	 * more than a few ids) runs unprepared, planned with its real parameters each time; its
	 * planning is small beside the batch.
	 */
	if (src != SEG__CHANGED_IDS || many) {
		err = seg__db_query(db, st->sql, (int)st->params.n, params, &res);
		goto counted;
	}
	int slot = seg__step_slot(db, st);
	bool prepared = false;
	err = seg__db_exec_named(db, st->name, slot >= 0 ? st->sql : NULL, (int)st->params.n,
				 params, &res, &prepared);
	if (slot >= 0 && prepared) {
		struct seg__prepared_step *p = &db->steps[db->nsteps++];
		snprintf(p->name, sizeof(p->name), "%s", st->name);
		p->tenant = tenant;
		p->key = st->key;
		p->used = __atomic_add_fetch(&seg__step_uses, 1, __ATOMIC_RELAXED);
	}
counted:
	if (err)
		goto out;
	if (entered)
		*entered = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	if (exited)
		*exited = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
out:
	PQclear(res);
	free(params);
	if (st)
		seg__cache_release(st);
	return err;
}

/* ----- preview ---------------------------------------------------------------------------- */

enum seg_err seg_db_segment_exists(struct seg_db *db, int64_t tenant, int64_t id, bool *exists)
{
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT];
	const char *params[] = {seg__db_int(tid, tenant), seg__db_int(sid, id)};
	PGresult *res = NULL;
	enum seg_err err = seg__db_exec(db, &members_segment_exists, 2, params, &res);
	*exists = !err && PQntuples(res) > 0;
	PQclear(res);
	return err;
}

/*
 * One scan of the tenant's customers with the predicate keeps the matching ids (count and
 * sample read them); the tenant's size is an index-only count.
 */
enum seg_err seg_db_segment_preview(struct seg_db *db, int64_t tenant, const struct seg_rule *rule,
				    char **json)
{
	struct seg__defs d = {0};
	struct seg__rulesql_refs refs = {seg__defs_resolve, &d};
	struct seg__sqlparams params;
	struct seg_buf sql = SEG_BUF_INIT;
	char tid[SEG_INT_TEXT];
	PGresult *res = NULL;
	enum seg_err err = SEG_OK;

	*json = NULL;
	seg__sqlparams_init(&params);
	seg_attr_catalog_init(&d.catalog);
	if (rule->nsegments)
		err = seg__defs_load(db, tenant, &d);
	if (err)
		goto out;
	/*
	 * The members counted with the rule as a WHERE clause (where an event condition that
	 * asks for "at least one" becomes a semi-join, and the scan may run in parallel), the
	 * customers counted by their key; then, when there are members, the sample: the first ten
	 * in id order, which an index scan in key order finds after about 10 / share rows. All
	 * three see one snapshot.
	 */
	err = seg_db_begin(db);
	if (!err)
		err = seg__db_query(db,
				    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0,
				    NULL, NULL);
	if (err)
		goto out;
	seg__sqlparams_addstr(&params, seg__db_int(tid, tenant));
	seg_buf_addstr(&sql, "SELECT count(*) FROM customers c WHERE c.tenant_id = $1 AND ");
	err = seg__rulesql_compile(rule->root, "c", &refs, &sql, &params);
	if (!err)
		err = seg__db_query(db, sql.data, (int)params.n, (const char *const *)params.v,
				    &res);
	if (err)
		goto out;
	long long n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	res = NULL;
	err = seg__db_query(db, "SELECT count(*) FROM customers WHERE tenant_id = $1", 1,
			    (const char *const *)params.v, &res);
	if (err)
		goto out;
	long long total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	res = NULL;
	seg__sqlparams_release(&params);
	seg__sqlparams_init(&params);
	if (n == 0) {
		*json = seg_strdup("{\"count\": 0, \"share\": 0, \"sample\": []}");
		goto out;
	}
	char count[SEG_INT_TEXT];
	struct seg_buf share = SEG_BUF_INIT;
	seg_json_add_double(&share, (double)n / (double)total);
	seg__sqlparams_addstr(&params, tid);
	seg__sqlparams_addstr(&params, seg__db_int(count, n));
	seg__sqlparams_addstr(&params, share.data);
	seg_buf_release(&share);
	seg_buf_reset(&sql);
	seg_buf_addstr(&sql, "SELECT json_build_object('count', $2::bigint, 'share', $3::float8, "
			     "'sample', (SELECT coalesce(json_agg(s.id ORDER BY s.id), '[]') FROM "
			     "(SELECT c.id FROM customers c WHERE c.tenant_id = $1 AND ");
	err = seg__rulesql_compile(rule->root, "c", &refs, &sql, &params);
	if (err)
		goto out;
	seg_buf_addstr(&sql, " ORDER BY c.id LIMIT 10) s))::text");
	err = seg__db_query(db, sql.data, (int)params.n, (const char *const *)params.v, &res);
	if (!err)
		*json = seg__db_strdup(res, 0, 0);
out:
	if (db->in_tx && !err)
		err = seg_db_commit(db);
	if (err) {
		seg_db_rollback(db); /* nothing to roll back outside a transaction */
		free(*json);
		*json = NULL;
	}
	PQclear(res);
	seg_buf_release(&sql);
	seg__sqlparams_release(&params);
	seg__defs_release(&d);
	return err;
}

/* ----- a filter of the analyses (h-fe) ----------------------------------------------------- */

enum seg_err seg__members_filter_sql(struct seg_db *db, int64_t tenant, const char *rule,
				     const char *alias, struct seg_buf *sql,
				     struct seg__sqlparams *params, char *detail, size_t detail_len)
{
	struct seg__defs d = {0};
	struct seg__rulesql_refs refs = {seg__defs_resolve, &d};
	struct seg_rule *parsed = NULL;
	struct seg_problem p;
	enum seg_err err = seg__defs_load(db, tenant, &d);

	seg_problem_init(&p);
	if (err)
		goto out;
	struct seg_rule_env env = {.catalog = &d.catalog, .stored = true};
	parsed = seg_rule_parse(rule, strlen(rule), &env, "/params/filter", &p);
	if (!parsed) {
		snprintf(detail, detail_len, "the filter does not apply any more: %s%s%s",
			 p.count ? p.items[0].detail : "it does not parse",
			 p.count && p.items[0].pointer ? " at " : "",
			 p.count && p.items[0].pointer ? p.items[0].pointer : "");
		err = SEG_ERR_INVALID;
		goto out;
	}
	err = seg__rulesql_compile(parsed->root, alias, &refs, sql, params);
out:
	seg_rule_free(parsed);
	seg_problem_release(&p);
	seg__defs_release(&d);
	return err;
}

/* ----- the full refresh ------------------------------------------------------------------- */

static bool seg__stopping(const struct seg_job_hooks *hooks)
{
	return hooks && hooks->stopping && hooks->stopping(hooks->ctx);
}

static void seg__progress(const struct seg_job_hooks *hooks, double f)
{
	if (hooks && hooks->progress)
		hooks->progress(hooks->ctx, f);
}

/* Adds def and the dynamic segments it inlines (transitively) to the id/version lists. */
static void seg__closure(struct seg__defs *d, struct seg__def *def, struct seg_buf *ids,
			 struct seg_buf *versions, int depth)
{
	char v[SEG_INT_TEXT];
	if (!def->dynamic || depth > SEG_RULE_MAX_DEPTH)
		return;
	seg_buf_addf(ids, "%s%s", ids->len > 1 ? "," : "", seg__db_int(v, def->id));
	seg_buf_addf(versions, "%s%s", versions->len > 1 ? "," : "",
		     seg__db_int(v, def->rule_version));
	for (size_t i = 0; def->rule && i < def->rule->nsegments; i++) {
		struct seg__def *ref = seg__defs_find(d, def->rule->segments[i]);
		if (ref)
			seg__closure(d, ref, ids, versions, depth + 1);
	}
}

/*
 * The refresh's working memory: its sorts and hashes (the differences, the segment's members)
 * stay in memory up to a few million rows instead of spilling to disk.
 */
static const char seg__refresh_memory_sql[] = "SET LOCAL work_mem = '64MB'";

/*
 * The differences with the stored membership, from one snapshot, into a temporary table made by
 * CREATE TABLE AS, which (unlike INSERT ... SELECT) may compute with parallel workers:
 *   ok: the customers that match, with their rev as of the snapshot — the predicate at the top
 *       of a WHERE, where PostgreSQL turns event conditions into (parallel) semi-joins;
 *   d:  ok FULL JOIN the members, keeping the rows present on one side only: a full join has
 *       only hash and merge plans, so the comparison never turns quadratic, whatever the
 *       planner believes of the two sides' sizes (an anti-join against ok may: ok is a CTE of
 *       unknown size, and a nested loop over it compares every member with every match);
 *   then the matches that are not members enter, and the members not in ok exit, each looked
 *       up by primary key for its rev (a member whose customer is gone has left already: its
 *       delete removed it).
 * No part tests the rule once per member (db/README.md "Memberships").
 */
static const char seg__refresh_delta_head[] =
	"CREATE TEMP TABLE seg_refresh_delta ON COMMIT DROP AS "
	"WITH ok AS MATERIALIZED (SELECT c.id, c.rev FROM customers c WHERE c.tenant_id = $1 AND ";
static const char seg__refresh_delta_tail[] =
	"), d AS MATERIALIZED (SELECT ok.id, ok.rev, m.customer_id AS mid FROM ok FULL JOIN "
	"(SELECT m.customer_id FROM memberships m WHERE m.tenant_id = $1 AND m.segment_id = $2) m "
	"ON ok.id = m.customer_id WHERE ok.id IS NULL OR m.customer_id IS NULL) "
	"SELECT d.id AS customer_id, d.rev, true AS enter FROM d WHERE d.mid IS NULL "
	"UNION ALL SELECT c.id, c.rev, false FROM d CROSS JOIN LATERAL (SELECT c.id, c.rev "
	"FROM customers c WHERE c.tenant_id = $1 AND c.id = d.mid OFFSET 0) c WHERE d.id IS NULL";

/* Statistics of the differences, so that the apply plans for their real number. */
static const char seg__refresh_analyze_sql[] = "ANALYZE seg_refresh_delta";

/* The rules used are still those compiled: the segment and those it inlines. */
/*
 * Before that check, the refreshed segment's own row, FOR NO KEY UPDATE: the point statement
 * below updates it while holding the tenant's change counter, and a concurrent refresh of a
 * segment that inlines this one holds this row FOR SHARE while it waits for the counter.
 * Taking the row first (before the counter) makes that refresh wait for this one instead of
 * deadlocking with it.
 */
static const char seg__refresh_own_sql[] =
	"SELECT 1 FROM segments WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE";
static const char seg__refresh_check_sql[] =
	"SELECT s.id FROM segments s JOIN unnest($2::bigint[], $3::bigint[]) AS v(id, ver) "
	"ON s.id = v.id WHERE s.tenant_id = $1 AND s.rule_version = v.ver FOR SHARE OF s";

/*
 * Applies the differences of the customers whose rev is still the snapshot's, locking them
 * (FOR SHARE, in id order) until the commit.
 */
static const char seg__refresh_apply_sql[] =
	"WITH ok AS MATERIALIZED (SELECT d.customer_id, d.enter FROM seg_refresh_delta d "
	"JOIN customers c ON c.tenant_id = $1 AND c.id = d.customer_id "
	"WHERE c.rev = d.rev ORDER BY c.id FOR SHARE OF c), "
	"ins AS (INSERT INTO memberships (tenant_id, segment_id, customer_id) "
	"SELECT $1, $2, ok.customer_id FROM ok WHERE ok.enter ON CONFLICT DO NOTHING "
	"RETURNING customer_id), "
	"del AS (DELETE FROM memberships m USING ok WHERE NOT ok.enter AND m.tenant_id = $1 "
	"AND m.segment_id = $2 AND m.customer_id = ok.customer_id RETURNING m.customer_id), "
	"chd AS (SELECT $2::bigint AS segment_id, customer_id, 'entered' AS change FROM ins "
	"UNION ALL SELECT $2::bigint, customer_id, 'exited' FROM del), " SEG__CHANGES_RECORD(
		"chd") "SELECT count(*) FILTER (WHERE change = 'entered'), "
		       "count(*) FILTER (WHERE change = 'exited') FROM chg";

/*
 * The point of the refresh in the feed: the tenant's counter, locked (so every transaction
 * with a smaller cursor has committed, and every later one will get a larger cursor).
 */
static const char seg__refresh_cursor_sql[] =
	"INSERT INTO change_counters AS k (tenant_id, last) VALUES ($1, 0) "
	"ON CONFLICT (tenant_id) DO UPDATE SET last = k.last RETURNING k.last";
/*
 * In a statement after that one (so its snapshot sees every change up to the point $3): the
 * history point with the changes since the previous point, and the size as of $3, counted (a
 * transaction still to take a cursor is not seen, and its changes count after $3).
 */
static const char seg__refresh_point_sql[] =
	"WITH prev AS (SELECT size, size_cursor FROM segments WHERE tenant_id = $1 AND id = $2), "
	"cnt AS (SELECT count(*) FILTER (WHERE ch.change = 'entered') AS e, "
	"count(*) FILTER (WHERE ch.change = 'exited') AS x FROM changes ch, prev "
	"WHERE ch.tenant_id = $1 AND ch.segment_id = $2 AND ch.cursor > prev.size_cursor "
	"AND ch.cursor <= $3::bigint), "
	"h AS (INSERT INTO segment_history (tenant_id, segment_id, size, entered, exited) "
	"SELECT $1, $2, (SELECT count(*) FROM memberships WHERE tenant_id = $1 AND segment_id = "
	"$2), "
	"cnt.e, cnt.x FROM cnt RETURNING size), "
	"u AS (UPDATE segments SET size = (SELECT size FROM h), size_cursor = $3::bigint, "
	"refreshed_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING 1) "
	"SELECT (SELECT size FROM h), (SELECT count(*) FROM u)";

SEG_STMT(members_refresh_lock,
	 "SELECT pg_advisory_xact_lock(" SEG__LOCK_REFRESH ", ($1::bigint % 2147483647)::integer)");
SEG_STMT(members_current_size,
	 "SELECT seg_segment_size(s) FROM segments s WHERE s.tenant_id = $1 AND s.id = $2");

enum seg_err seg_db_segment_refresh(struct seg_db *db, const struct seg_job_claim *job,
				    const struct seg_job_hooks *hooks)
{
	struct seg__defs d = {0};
	struct seg__rulesql_refs refs = {seg__defs_resolve, &d};
	struct seg__sqlparams params;
	struct seg_buf sql = SEG_BUF_INIT, ids = SEG_BUF_INIT, versions = SEG_BUF_INIT;
	char tid[SEG_INT_TEXT], sid[SEG_INT_TEXT], result[160];
	char *point = NULL;
	PGresult *res = NULL;
	struct seg__def *def;
	long long entered = 0, exited = 0, size = 0;
	enum seg_err err;

	seg__sqlparams_init(&params);
	seg_attr_catalog_init(&d.catalog);
	seg__db_int(tid, job->tenant);
	seg__db_int(sid, job->target);
	const char *p2[] = {tid, sid};

	err = seg__db_begin_long(db);
	if (err)
		goto done;
	err = seg_db_job_lock(db, job);
	if (!err)
		err = seg__db_exec(db, &members_refresh_lock, 1, p2 + 1, NULL);
	if (!err)
		err = seg__defs_load(db, job->tenant, &d);
	if (err)
		goto out;
	seg__progress(hooks, 0.05);
	def = seg__defs_find(&d, job->target);
	if (!def || !def->dynamic) {
		/* deleted (or not dynamic): nothing to refresh */
		snprintf(result, sizeof(result), "{\"size\":0,\"entered\":0,\"exited\":0}");
		goto succeed;
	}
	if (!def->rule) {
		err = SEG_ERR_INTERNAL; /* logged by seg__defs_load */
		goto out;
	}
	seg_buf_addch(&ids, '{');
	seg_buf_addch(&versions, '{');
	seg__closure(&d, def, &ids, &versions, 0);
	seg_buf_addch(&ids, '}');
	seg_buf_addch(&versions, '}');

	/* the members from one snapshot, and their difference with the stored membership */
	err = seg__db_query(db, seg__refresh_memory_sql, 0, NULL, NULL);
	if (err)
		goto out;
	seg__sqlparams_addstr(&params, tid);
	seg__sqlparams_addstr(&params, sid);
	seg_buf_addstr(&sql, seg__refresh_delta_head);
	err = seg__rulesql_compile(def->rule->root, "c", &refs, &sql, &params);
	if (err)
		goto out;
	seg_buf_addstr(&sql, seg__refresh_delta_tail);
	if (seg__stopping(hooks)) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}
	err = seg__db_query(db, sql.data, (int)params.n, (const char *const *)params.v, NULL);
	if (!err)
		err = seg__db_query(db, seg__refresh_analyze_sql, 0, NULL, NULL);
	if (err)
		goto out;
	seg__progress(hooks, 0.7);
	if (seg__stopping(hooks)) {
		err = SEG_ERR_CANCELLED;
		goto out;
	}

	/* the rules are still those compiled: else apply nothing (the change queued a refresh) */
	const char *pc[] = {tid, ids.data, versions.data};
	err = seg__db_query(db, seg__refresh_own_sql, 2, p2, NULL);
	if (!err)
		err = seg__db_query(db, seg__refresh_check_sql, 3, pc, &res);
	if (err)
		goto out;
	size_t ndyn = 1;
	for (size_t i = 0; i < ids.len; i++)
		ndyn += ids.data[i] == ',';
	bool current = (size_t)PQntuples(res) == ndyn;
	PQclear(res);
	res = NULL;
	if (!current) {
		err = seg__db_exec(db, &members_current_size, 2, p2, &res);
		if (err)
			goto out;
		size = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
		snprintf(result, sizeof(result),
			 "{\"size\":%lld,\"entered\":0,\"exited\":0,\"superseded\":true}", size);
		goto succeed;
	}

	err = seg__db_query(db, seg__refresh_apply_sql, 2, p2, &res);
	if (err)
		goto out;
	entered = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	exited = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	res = NULL;
	seg__progress(hooks, 0.9);

	err = seg__db_query(db, seg__refresh_cursor_sql, 1, p2, &res);
	if (err)
		goto out;
	point = seg__db_strdup(res, 0, 0);
	PQclear(res);
	res = NULL;
	const char *pp[] = {tid, sid, point};
	err = seg__db_query(db, seg__refresh_point_sql, 3, pp, &res);
	if (err)
		goto out;
	size = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(result, sizeof(result), "{\"size\":%lld,\"entered\":%lld,\"exited\":%lld}", size,
		 entered, exited);
succeed:
	err = seg_db_job_succeed(db, job, result);
	if (!err)
		err = seg_db_commit(db);
	if (!err)
		seg__progress(hooks, 1);
out:
	if (err)
		seg_db_rollback(db);
done:
	PQclear(res);
	free(point);
	seg_buf_release(&sql);
	seg_buf_release(&ids);
	seg_buf_release(&versions);
	seg__sqlparams_release(&params);
	seg__defs_release(&d);
	return err;
}

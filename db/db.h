/*
 * The database layer as the rest of segmentd sees it. Nothing outside db/ includes libpq;
 * every SQL text lives in db/. A struct seg_db is one pooled connection, borrowed by one
 * thread at a time (seg_pool_acquire ... seg_pool_release): the seg_db_* functions run on the
 * borrower's thread and wait for PostgreSQL, but never without a bound (see db/README.md).
 *
 * Errors: SEG_ERR_UNAVAILABLE when PostgreSQL cannot be reached, is down or refuses
 * connections; SEG_ERR_TIMEOUT when it did not answer in time (our deadline, or its statement
 * or lock timeout); SEG_ERR_RETRY for a deadlock or serialization failure; SEG_ERR_BUSY when
 * no pooled connection came free (all four are answered 503 with Retry-After); SEG_ERR_INTERNAL
 * for anything else unexpected (logged with the server's message).
 * JSON results are text built by PostgreSQL, malloc'ed, owned by the caller.
 */
#ifndef SEG_DB_H
#define SEG_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attrs.h"
#include "buf.h"
#include "err.h"
#include "schemereport.h"

struct seg_db;
struct seg_pool;

struct seg_pool_config {
	const char *conninfo;	  /* libpq conninfo or URI; "" or NULL: PG* variables */
	int size;		  /* connections, >= 1 */
	int statement_timeout_ms; /* per statement; our own deadline is 2 s later */
	int acquire_timeout_ms;	  /* how long a request waits for a free connection */
	int connect_timeout_ms;	  /* how long connecting may take; 0: 5000 */
	/*
	 * Run a watchdog thread with a connection of its own, which probes the database every
	 * second: the daemon sets it, command-line tools do not.
	 */
	bool watchdog;
};

/* Creates a pool, and starts its watchdog if cfg asks; connects lazily. Any thread. */
struct seg_pool *seg_pool_new(const struct seg_pool_config *cfg);
/*
 * Stops and joins the watchdog, then closes every connection. No connection may be borrowed.
 * The thread that created the pool, once every other user of it has stopped.
 */
void seg_pool_free(struct seg_pool *pool);
/*
 * Borrows a connection, connecting (or reconnecting) it if needed. SEG_ERR_UNAVAILABLE at once
 * while the watchdog holds the database down (nothing is tried), or when connecting fails;
 * SEG_ERR_BUSY when no connection came free within acquire_timeout_ms. Any thread; the
 * connection is then that thread's until seg_pool_release.
 */
enum seg_err seg_pool_acquire(struct seg_pool *pool, struct seg_db **out);
/*
 * Returns a connection (NULL is ignored); a connection left inside a transaction is rolled back
 * first (within 2 s, or the connection is closed instead). The borrower's thread.
 */
void seg_pool_release(struct seg_pool *pool, struct seg_db *db);
/*
 * Ends every wait on a pool connection with SEG_ERR_CANCELLED, now and from now on: the
 * statements are abandoned (their connections closed, the watchdog asked to cancel them on the
 * server), and seg_pool_acquire fails with SEG_ERR_CANCELLED. The end of a shutdown, when
 * handlers still running must let go. Any thread; never waits.
 */
void seg_pool_interrupt(struct seg_pool *pool);
/* Counts for /metrics. Any thread. */
void seg_pool_stats(struct seg_pool *pool, int *size, int *in_use, int *waiting);
/*
 * Closes the free connections idle for longer than idle_ms. Never waits on the network (closing
 * only queues a Terminate message). Any thread; the server calls it from a timer.
 */
void seg_pool_reap(struct seg_pool *pool, int64_t idle_ms);

struct seg_pool_health {
	bool reachable; /* the last probe got an answer */
	bool migrated;	/* ...and every embedded migration is applied */
	int64_t age_ms; /* how long ago the last probe finished; -1 before the first */
};
/*
 * The watchdog's last verdict; never touches the database. Without a watchdog: reachable and
 * migrated true, age_ms -1 (nothing is known). With one, before its first probe: both false,
 * age_ms -1. Any thread.
 */
void seg_pool_health(struct seg_pool *pool, struct seg_pool_health *out);

/* Transactions on a borrowed connection. A rollback that takes over 2 s closes it instead. */
enum seg_err seg_db_begin(struct seg_db *db);
enum seg_err seg_db_commit(struct seg_db *db);
void seg_db_rollback(struct seg_db *db);

/* A page of JSON objects for a list endpoint, filled by the seg_db_*_list functions. */
struct seg_page {
	struct seg_buf items; /* the objects joined by commas, without brackets */
	size_t count;
	char *next_key; /* where the next page starts, or NULL at the end (malloc'ed) */
};
void seg_page_init(struct seg_page *p);
void seg_page_release(struct seg_page *p);

/* --- migrations (db/migrate.c) --- */
/* Applies pending embedded migrations under an advisory lock. *applied counts them. */
enum seg_err seg_db_migrate(struct seg_db *db, int *applied);

/* --- tenants and keys (db/keys.c) --- */
#define SEG_KEY_HASH_LEN 32
struct seg_key_row {
	int64_t id;
	int64_t tenant;
	unsigned char hash[SEG_KEY_HASH_LEN];
	char scopes[64]; /* "read,write" */
	bool revoked;
};
enum seg_err seg_db_tenant_ensure(struct seg_db *db, const char *name, int64_t *tenant);
enum seg_err seg_db_key_insert(struct seg_db *db, int64_t tenant, const char *prefix,
			       const unsigned char hash[SEG_KEY_HASH_LEN], const char *scopes,
			       int64_t *id);
/* SEG_ERR_NOT_FOUND when no key has that prefix. */
enum seg_err seg_db_key_lookup(struct seg_db *db, const char *prefix, struct seg_key_row *out);
/* Appends one tab-separated line per key: id, tenant name, prefix, scopes, created, revoked. */
enum seg_err seg_db_key_list(struct seg_db *db, struct seg_buf *out);
/* SEG_ERR_NOT_FOUND when no key has that id. */
enum seg_err seg_db_key_revoke(struct seg_db *db, int64_t id);

/* --- settings (db/settings.c) --- */
enum seg_err seg_db_settings_get(struct seg_db *db, int64_t tenant, char **json);
/* types_json is a JSON array of strings; recomputes every customer's metrics. */
enum seg_err seg_db_settings_set_revenue_types(struct seg_db *db, int64_t tenant,
					       const char *types_json, char **json);

/* --- customers (db/customers.c) --- */
/*
 * Customer writes take the client's JSON document as text (doc), so numbers reach
 * PostgreSQL exactly as written; its "attributes" member is used.
 * put: attributes replace the stored ones (null members dropped); kind NULL means person.
 */
enum seg_err seg_db_customer_put(struct seg_db *db, int64_t tenant, const char *id,
				 const char *kind, const char *doc, bool *created, char **json);
/*
 * Applies doc as a merge patch: kind (NULL: unchanged); doc's "attributes" member patches the
 * attributes (absent: unchanged; null: all removed). SEG_ERR_NOT_FOUND when absent.
 */
enum seg_err seg_db_customer_patch(struct seg_db *db, int64_t tenant, const char *id,
				   const char *kind, const char *doc, char **json);
enum seg_err seg_db_customer_get(struct seg_db *db, int64_t tenant, const char *id, char **json);
/* Erases the customer and its events. SEG_ERR_NOT_FOUND when absent. */
enum seg_err seg_db_customer_delete(struct seg_db *db, int64_t tenant, const char *id);
/* Customers ordered by id, those after after_key (NULL: from the start). */
enum seg_err seg_db_customer_list(struct seg_db *db, int64_t tenant, const char *after_key,
				  int limit, struct seg_page *page);

/*
 * Staged customer rows for an import, in COPY text format, one row per accepted line:
 * line, id, kind (NULL: not given), doc (the line's JSON text; its "attributes" member is
 * used), flat (no object values and no nulls among the attributes: "||" merges them
 * exactly), has_null (a null member anywhere in the attributes' objects).
 */
void seg_customer_rows_add(struct seg_buf *rows, size_t line, const char *id, const char *kind,
			   const char *doc, size_t doc_len, bool flat, bool has_null);
/*
 * Rows for the fast path of an import, in COPY text format for customers (tenant_id, id, kind,
 * attributes): attributes is the JSON text of the attributes object, with no null members.
 */
void seg_customer_new_rows_add(struct seg_buf *rows, int64_t tenant, const char *id,
			       const char *kind, const char *attributes, size_t attributes_len);
/*
 * Inserts customers that must all be new, with one COPY in one transaction: the fast path of
 * an import into an empty or disjoint id space. When any id exists nothing is stored and
 * SEG_ERR_CONFLICT is returned (the caller then upserts the batch).
 */
enum seg_err seg_db_customers_insert_new(struct seg_db *db, int64_t tenant,
					 const struct seg_buf *rows);
/*
 * Upserts the staged rows in one transaction (merge: attributes patched; replace: replaced).
 * Ids must be distinct within one call. Retries on deadlock.
 */
enum seg_err seg_db_customers_upsert(struct seg_db *db, int64_t tenant, const struct seg_buf *rows,
				     bool replace, size_t *inserted, size_t *updated);

/* --- events (db/events.c) --- */
/*
 * Staged event rows in COPY text format: line, id (NULL: none), customer_id, type,
 * occurred_at (RFC 3339), then "amount" and "properties" as their own text in doc (the
 * event's JSON text, as checked by seg_event_check), so the amount stays exact.
 */
void seg_event_rows_add(struct seg_buf *rows, size_t line, const char *id, const char *customer_id,
			const char *type, const char *occurred_at, const char *doc, size_t doc_len);
/*
 * Stores the staged events in one transaction: creates unknown customers, skips ids that
 * exist (or repeat in the batch: the first wins), and updates the customers' metrics.
 */
enum seg_err seg_db_events_ingest(struct seg_db *db, int64_t tenant, const struct seg_buf *rows,
				  size_t *accepted, size_t *duplicates);
/*
 * A customer's events, newest first. type/since/until (RFC 3339, since inclusive, until
 * exclusive) may be NULL. SEG_ERR_NOT_FOUND when the customer does not exist;
 * SEG_ERR_MALFORMED when after_key is not a key this function made.
 */
enum seg_err seg_db_events_list(struct seg_db *db, int64_t tenant, const char *customer_id,
				const char *type, const char *since, const char *until,
				const char *after_key, int limit, struct seg_page *page);

/* --- attribute catalogue (db/attributes.c) --- */
enum seg_err seg_db_attr_catalog(struct seg_db *db, int64_t tenant, struct seg_attr_catalog *out);
enum seg_err seg_db_attr_list(struct seg_db *db, int64_t tenant, const char *after_key, int limit,
			      struct seg_page *page);
enum seg_err seg_db_attr_get(struct seg_db *db, int64_t tenant, const char *name, char **json);
struct seg_attr_input {
	const char *type, *category, *description, *unit; /* description/unit may be NULL */
	const char *allowed_json;			  /* NULL or a JSON array */
};
/*
 * Creates or replaces a definition. When existing customers violate it, nothing changes,
 * SEG_ERR_CONFLICT is returned and offenders receives a JSON array of up to 10 customer ids.
 */
enum seg_err seg_db_attr_put(struct seg_db *db, int64_t tenant, const char *name,
			     const struct seg_attr_input *in, bool *created, char **json,
			     char **offenders);
enum seg_err seg_db_attr_delete(struct seg_db *db, int64_t tenant, const char *name);

/* --- jobs (db/jobs.c; the model: db/README.md "Jobs") --- */
/*
 * A job as the worker that claimed it sees it. attempt is the fencing token of this claim:
 * every write the worker makes to the job row is conditional on it, so a worker whose lease
 * ran out (and whose job another daemon took over) can change nothing.
 */
struct seg_job_claim {
	int64_t id;
	int64_t tenant;
	char *kind;	/* malloc'ed */
	int64_t target; /* 0: none */
	char *params;	/* JSON text, malloc'ed */
	int attempt;
	int max_attempts;
};
void seg_job_claim_release(struct seg_job_claim *job);

/*
 * What a running job may ask of its worker, without touching the database: whether it was
 * asked to stop (the heartbeat saw cancel_requested, or the daemon is shutting down and hands
 * the job back), and how far it has come (0..1; the heartbeat stores it). Both are safe to call
 * from the job's own thread at any time.
 */
struct seg_job_hooks {
	bool (*stopping)(void *ctx);
	void (*progress)(void *ctx, double fraction);
	void *ctx;
};

/*
 * Queues a job of kind for target (0: none) with params (JSON text, NULL: {}), runnable now,
 * in the caller's transaction if one is open. When a job of the same kind and target is
 * already queued (not yet running) for the tenant, that one is returned instead (*joined
 * true). Wakes the workers of every daemon (NOTIFY segmentd_jobs, delivered at commit).
 */
enum seg_err seg_db_job_enqueue(struct seg_db *db, int64_t tenant, const char *kind, int64_t target,
				const char *params, int64_t *id, bool *joined);
/* The job as the API shows it. SEG_ERR_NOT_FOUND when the tenant has no such job. */
enum seg_err seg_db_job_get(struct seg_db *db, int64_t tenant, int64_t id, char **json);
/* Its status alone ("queued", ...; static string), for waiting on it. */
enum seg_err seg_db_job_status(struct seg_db *db, int64_t tenant, int64_t id, const char **status);
/* Jobs newest first, optionally of one status and kind (NULL: any). */
enum seg_err seg_db_job_list(struct seg_db *db, int64_t tenant, const char *status,
			     const char *kind, const char *after_key, int limit,
			     struct seg_page *page);
/*
 * Cancels: a queued job at once; a running one is asked to stop (cancel_requested) and stops at
 * its next check point. Finished jobs are left as they are. *json receives the job.
 */
enum seg_err seg_db_job_cancel(struct seg_db *db, int64_t tenant, int64_t id, char **json);

/*
 * Inside a job's own transaction: locks its row (FOR UPDATE) and checks that this claim still
 * holds it (status running, same attempt). SEG_ERR_CONFLICT when it does not: roll back and
 * drop the job, another worker has it. A job takes this lock first, so that its result and its
 * completion commit together (seg_db_job_succeed) and no rescue can intervene.
 */
enum seg_err seg_db_job_lock(struct seg_db *db, const struct seg_job_claim *job);
/* Inside that transaction: marks the job succeeded with result (JSON text, NULL: none). */
enum seg_err seg_db_job_succeed(struct seg_db *db, const struct seg_job_claim *job,
				const char *result);
/*
 * Inside that transaction: marks the job failed for good, whatever attempts remain, with
 * error (a problem object, JSON text): a run that no retry can help (an analysis the data
 * cannot support). The worker then records nothing more (server/README.md "Jobs").
 */
enum seg_err seg_db_job_fail_final(struct seg_db *db, const struct seg_job_claim *job,
				   const char *error);

/* --- job workers (db/jobs.c; the model: server/README.md "Jobs") --- */
/* How the workers of a daemon treat jobs (SEGMENTD_JOB_LEASE, SEGMENTD_JOB_BACKOFF). */
struct seg_job_policy {
	int lease_s;	      /* a claim or heartbeat holds a job this long */
	double backoff_s;     /* a failed attempt n is retried after backoff_s * 4^(n-1)... */
	double backoff_cap_s; /* ...but never later than this */
};
/*
 * Claims the oldest runnable queued job of one of kinds (NULL-terminated): status running,
 * attempts + 1 (out->attempt, the claim's fencing token), lease now + lease_s, worker named.
 * *found false when there is none. FOR UPDATE SKIP LOCKED: workers of several daemons never
 * wait for each other nor take the same job.
 */
enum seg_err seg_db_job_claim(struct seg_db *db, const struct seg_job_policy *policy,
			      const char *worker, const char *const *kinds,
			      struct seg_job_claim *out, bool *found);
/* One running job in a heartbeat: the worker fills id, attempt and progress. */
struct seg_job_beat {
	int64_t id;
	int attempt;
	double progress;
	bool held;   /* out: the claim still holds (false: rescued or ended elsewhere) */
	bool cancel; /* out: a cancel was requested */
};
/*
 * One statement for every job a daemon runs: renews the leases (but never waits for a job's
 * row that the job's own transaction holds: that job needs no lease meanwhile), stores the
 * progress, and reports cancel requests and lost claims.
 */
enum seg_err seg_db_job_heartbeat(struct seg_db *db, const struct seg_job_policy *policy,
				  struct seg_job_beat *beats, size_t n);
/*
 * Ends a failed attempt (fenced): back to queued after the backoff while attempts remain, else
 * failed; cancelled when a cancel was requested. error becomes a problem object saying why.
 * *status: the new status. SEG_ERR_CONFLICT when the claim was lost.
 */
enum seg_err seg_db_job_fail(struct seg_db *db, const struct seg_job_policy *policy,
			     const struct seg_job_claim *job, enum seg_err why,
			     const char **status);
/* Ends a job that stopped on a cancel request: cancelled (fenced; SEG_ERR_CONFLICT if lost). */
enum seg_err seg_db_job_cancelled(struct seg_db *db, const struct seg_job_claim *job);
/*
 * Hands a job back at shutdown, after its run returned: queued, runnable now, the attempt not
 * counted; cancelled instead when a cancel was requested. Fenced. *status: the new status.
 */
enum seg_err seg_db_job_hand_back(struct seg_db *db, const struct seg_job_claim *job,
				  const char **status);
/*
 * Takes over running jobs whose lease ran out (up to 100 per call): queued after the backoff,
 * or failed when that was the last attempt (the attempt that died counts), or cancelled when
 * asked. Safe to run from several daemons at once. Also drops the cancel requests of jobs that
 * have ended.
 */
enum seg_err seg_db_job_rescue(struct seg_db *db, const struct seg_job_policy *policy,
			       int *requeued, int *ended);
/*
 * Queues "segment.refresh" for every clock-dependent dynamic segment of every tenant not
 * refreshed within interval_s and with no refresh queued or running; one statement, safe from
 * several daemons at once. *queued counts the new jobs.
 */
enum seg_err seg_db_job_schedule_refresh(struct seg_db *db, int interval_s, int *queued);
/*
 * Deletes jobs of every tenant that finished more than retention_s seconds ago, at most 10,000
 * (the oldest) per call, with their cancel requests; *purged counts them.
 */
enum seg_err seg_db_job_purge(struct seg_db *db, int retention_s, int *purged);
/* The queue's depth over all tenants, for /metrics. */
struct seg_job_depth {
	int64_t ready;	 /* queued and runnable now */
	int64_t delayed; /* queued, waiting for run_after (a retry's backoff) */
	int64_t running;
};
enum seg_err seg_db_job_depth(struct seg_db *db, struct seg_job_depth *out);
/*
 * The listener's wait on its own connection (held for good): LISTENs on segmentd_jobs whenever
 * the connection is new (*listening holds the backend it LISTENed on; start with 0), then waits
 * up to timeout_ms for a notification. *woken is true on a notification, and after a (re)LISTEN,
 * since notifications sent meanwhile were lost. SEG_ERR_UNAVAILABLE when the connection broke.
 */
enum seg_err seg_db_job_listen_wait(struct seg_db *db, int *listening, int timeout_ms, bool *woken);

/* --- segments (db/segments.c) --- */
/*
 * Segment documents are JSON built by PostgreSQL: {"id", "name", "description", "type",
 * "rule", "source", "profile", "size", "refreshed_at", "created_at", "updated_at"}; id is a
 * string of digits.
 */
struct seg_segment_input {
	const char *name;
	const char *description; /* NULL: "" (create) or unchanged (patch) */
	const char *type;	 /* "static" or "dynamic" (create only) */
	const char *rule;	 /* JSON text of a validated rule; NULL: none (or unchanged) */
	const char *profile;	 /* JSON object text; NULL: {} or unchanged */
	const char *source;	 /* NULL: "manual" for static, "rule" for dynamic */
	unsigned deps;		 /* SEG_RULE_DEP_* of the rule */
	int64_t analysis;	 /* the analysis it was materialised from (source: its type); 0 */
};

struct seg_rule_graph_entry; /* rules/rule.h */

/*
 * Creates a segment in one transaction: the definitions change (seg__members_definitions_changed),
 * the row, and for a dynamic segment its first refresh job (*job; 0 for a static one), for a
 * static one the history point of its creation (size 0). *json is the new segment, *id its
 * id. SEG_ERR_CONFLICT when the tenant has a segment of that name.
 */
enum seg_err seg_db_segment_create(struct seg_db *db, int64_t tenant,
				   const struct seg_segment_input *in, char **json, int64_t *id,
				   int64_t *job);
/*
 * (Create and patch of a dynamic rule: SEG_ERR_INVALID when the tenant's dynamic segments, with
 * this rule, would need more parameters than one statement may have; nothing is stored.)
 */
/* SEG_ERR_NOT_FOUND when the tenant has no such segment. */
enum seg_err seg_db_segment_get(struct seg_db *db, int64_t tenant, int64_t id, char **json);
/* Whether it is dynamic; SEG_ERR_NOT_FOUND when the tenant has no such segment. */
enum seg_err seg_db_segment_type(struct seg_db *db, int64_t tenant, int64_t id, bool *dynamic);
/* Segments ordered by id. SEG_ERR_MALFORMED when after_key is not a key this made. */
enum seg_err seg_db_segment_list(struct seg_db *db, int64_t tenant, const char *after_key,
				 int limit, struct seg_page *page);
/*
 * Changes name, description, profile and rule (NULL: unchanged; type is not changed). The
 * profile is applied as a JSON merge patch (RFC 7396; "null" empties it). A rule
 * that differs from the stored one (of a dynamic segment) takes the definitions lock first,
 * bumps rule_version, sets clock from in->deps, and queues a refresh of the segment (*job) and
 * of every dynamic segment that refers to it directly or through others. *job is 0 when the
 * rule did not change. SEG_ERR_NOT_FOUND; SEG_ERR_CONFLICT for a name taken.
 */
enum seg_err seg_db_segment_patch(struct seg_db *db, int64_t tenant, int64_t id,
				  const struct seg_segment_input *in, char **json, int64_t *job);
/*
 * Deletes a segment in one transaction with the definitions lock: its members leave it (each
 * recorded as exited in the feed), its history goes, its jobs are cancelled, and it leaves
 * the schemes that use it. Unless force, SEG_ERR_CONFLICT when dynamic segments refer to it
 * or schemes use it: *dependents receives the segments and *schemes the schemes, each as a
 * JSON array of {"id", "name"} or NULL when there are none. SEG_ERR_NOT_FOUND.
 */
enum seg_err seg_db_segment_delete(struct seg_db *db, int64_t tenant, int64_t id, bool force,
				   char **dependents, char **schemes);
/*
 * Every segment of the tenant, ordered by id, with the ids its rule refers to (none for a
 * static one), for seg_rule_cycle and for checking that a referenced segment exists. Free
 * with seg_segment_graph_free.
 */
enum seg_err seg_db_segment_graph(struct seg_db *db, int64_t tenant,
				  struct seg_rule_graph_entry **graph, size_t *n);
void seg_segment_graph_free(struct seg_rule_graph_entry *graph);
/* Members {"customer_id", "since"} ordered by customer id. SEG_ERR_NOT_FOUND: no segment. */
enum seg_err seg_db_segment_members(struct seg_db *db, int64_t tenant, int64_t id,
				    const char *after_key, int limit, struct seg_page *page);
/*
 * One batch of the CSV export: appends up to limit lines "customer_id,since[,attr...]\r\n"
 * (RFC 4180 quoting) of the members after after_key (NULL: from the start) to out. paths is a
 * JSON array of dotted attribute paths (NULL: none); a string value is written as itself, an
 * absent or null one as an empty field, anything else as its JSON text. *last receives the
 * last customer id written (NULL when none; malloc'ed), *rows the number of lines. One
 * statement per batch (keyset pagination), so memory stays flat whatever the size.
 */
enum seg_err seg_db_segment_members_csv(struct seg_db *db, int64_t tenant, int64_t id,
					const char *after_key, const char *paths, int limit,
					struct seg_buf *out, char **last, size_t *rows);
struct seg_members_added {
	size_t added, already, missing;
	char *missing_ids; /* JSON array of up to 100 ids that are no customer; malloc'ed */
};
/*
 * Adds customers (ids_json: a JSON array of distinct-or-not id strings) to a static segment
 * in one transaction: memberships and "entered" changes, then the membership step for them
 * (the segments that refer to this one follow). SEG_ERR_NOT_FOUND: no segment;
 * SEG_ERR_CONFLICT: the segment is dynamic.
 */
enum seg_err seg_db_segment_members_add(struct seg_db *db, int64_t tenant, int64_t id,
					const char *ids_json, struct seg_members_added *out);
/*
 * Removes one customer from a static segment ("exited", then the membership step).
 * SEG_ERR_NOT_FOUND with *segment_found false: no segment; with it true: not a member.
 * SEG_ERR_CONFLICT: the segment is dynamic.
 */
enum seg_err seg_db_segment_member_remove(struct seg_db *db, int64_t tenant, int64_t id,
					  const char *customer_id, bool *segment_found);
/* {"items": [{"segment_id", "name", "since"}]}. SEG_ERR_NOT_FOUND: no such customer. */
enum seg_err seg_db_customer_segments(struct seg_db *db, int64_t tenant, const char *customer_id,
				      char **json);
/* The members' customer documents, ordered by id. SEG_ERR_NOT_FOUND: no such segment. */
enum seg_err seg_db_customer_list_segment(struct seg_db *db, int64_t tenant, int64_t segment,
					  const char *after_key, int limit, struct seg_page *page);
/* History points {"at", "size", "entered", "exited"}, oldest first. SEG_ERR_NOT_FOUND. */
enum seg_err seg_db_segment_history(struct seg_db *db, int64_t tenant, int64_t id,
				    const char *after_key, int limit, struct seg_page *page);

/* --- the change feed (db/changes.c) --- */
/* Parses a feed cursor: a decimal number (no leading zeros but "0"). Pure; any thread. */
bool seg_change_cursor_parse(const char *text, int64_t *cursor);
/*
 * Up to limit changes after cursor (0: from the start), of one segment (0: all), in feed
 * order. page->next_key is the last item's cursor, NULL when there is none (the caller then
 * repeats its own).
 */
enum seg_err seg_db_changes(struct seg_db *db, int64_t tenant, int64_t cursor, int64_t segment,
			    int limit, struct seg_page *page);

/* --- membership and the change feed (db/members.c, db/changes.c) --- */
/*
 * Runs a full refresh of a dynamic segment as the job `job` (kind "segment.refresh", target
 * the segment), in one transaction with the job's completion: computes the members from one
 * snapshot, applies only the differences to the stored membership (skipping customers written
 * since that snapshot, which their own write evaluated), records them in the change feed, adds
 * a history point and the new size, and marks the job succeeded with {"size", "entered",
 * "exited"}. SEG_ERR_CONFLICT: the claim was lost (nothing applied).
 */
enum seg_err seg_db_segment_refresh(struct seg_db *db, const struct seg_job_claim *job,
				    const struct seg_job_hooks *hooks);

/* --- rules: preview (db/members.c, compiled by db/rulesql.c) --- */
struct seg_rule;
/*
 * Evaluates rule over the tenant's customers now, saving nothing: *json receives {"count",
 * "share" (count over the tenant's customers, 0 when it has none), "sample" (up to 10
 * matching ids, ascending)}. Segment references are resolved against the tenant's segments.
 */
enum seg_err seg_db_segment_preview(struct seg_db *db, int64_t tenant, const struct seg_rule *rule,
				    char **json);
/* Whether the tenant has a segment with that id. */
enum seg_err seg_db_segment_exists(struct seg_db *db, int64_t tenant, int64_t id, bool *exists);

/* --- schemes (db/schemes.c; the model: db/README.md "Schemes") --- */
/*
 * What a create or a patch sets. name NULL: unchanged (patch); segments: ids in priority order
 * (set_segments; always set on create), at most SEG_SCHEME_SEGMENTS_MAX, distinct; fallback
 * (set_fallback; NULL: none); min_segment_size (set_min; else 1 on create, unchanged on patch).
 */
struct seg_scheme_input {
	const char *name;
	const int64_t *segments;
	size_t nsegments;
	bool set_segments;
	const char *fallback;
	bool set_fallback;
	int64_t min_segment_size;
	bool set_min;
};
/*
 * Creates a scheme in one transaction, its segments locked against deletion meanwhile.
 * SEG_ERR_CONFLICT: the tenant has a scheme of that name; SEG_ERR_INVALID: missing[i] (an
 * array of in->nsegments) is set for each id that names no segment of the tenant.
 */
enum seg_err seg_db_scheme_create(struct seg_db *db, int64_t tenant,
				  const struct seg_scheme_input *in, int64_t *id, bool *missing);
/* Changes what in sets. SEG_ERR_NOT_FOUND, SEG_ERR_CONFLICT, SEG_ERR_INVALID as create. */
enum seg_err seg_db_scheme_patch(struct seg_db *db, int64_t tenant, int64_t id,
				 const struct seg_scheme_input *in, bool *missing);
/* Deletes a scheme with its snapshots. SEG_ERR_NOT_FOUND. */
enum seg_err seg_db_scheme_delete(struct seg_db *db, int64_t tenant, int64_t id);
/* SEG_ERR_NOT_FOUND when the tenant has no such scheme. */
enum seg_err seg_db_scheme_exists(struct seg_db *db, int64_t tenant, int64_t id);
/*
 * Schemes ordered by id, as definitions: {"id", "name", "segments": [{"id", "name"}],
 * "fallback", "min_segment_size", "created_at", "updated_at"}. SEG_ERR_MALFORMED for a key
 * this did not make.
 */
enum seg_err seg_db_scheme_list(struct seg_db *db, int64_t tenant, const char *after_key, int limit,
				struct seg_page *page);
/*
 * Fills out (released first) with the scheme's definition and its report's input, read in
 * one snapshot (REPEATABLE READ): the tenant's customers, and the customers of every
 * combination of its segments, from one pass over their memberships. SEG_ERR_NOT_FOUND.
 */
enum seg_err seg_db_scheme_report(struct seg_db *db, int64_t tenant, int64_t id,
				  struct seg_scheme *out);
/*
 * Every customer of the tenant, ordered by id, with its assignment {"customer_id",
 * "segment_id" (null: none of the segments), "segment" (the segment's name, or the
 * fallback's, or null)}. SEG_ERR_NOT_FOUND.
 */
enum seg_err seg_db_scheme_assignments(struct seg_db *db, int64_t tenant, int64_t id,
				       const char *after_key, int limit, struct seg_page *page);
/*
 * One batch of the CSV export: up to limit lines "customer_id,segment_id,segment\r\n" of the
 * customers after after_key (NULL: from the start). *last receives the last customer id
 * written (NULL when none; malloc'ed), *rows the lines. No lines when the scheme is gone.
 */
enum seg_err seg_db_scheme_assignments_csv(struct seg_db *db, int64_t tenant, int64_t id,
					   const char *after_key, int limit, struct seg_buf *out,
					   char **last, size_t *rows);
/*
 * Records the scheme's current assignment as a snapshot ("manual"), in one transaction that
 * stores only the customers whose assignment changed since the previous snapshot. *json:
 * {"id", "at", "trigger", "customers", "assigned", "unassigned", "changed", "segments":
 * [{"id", "name"}], "fallback"}. SEG_ERR_NOT_FOUND.
 */
enum seg_err seg_db_scheme_snapshot(struct seg_db *db, int64_t tenant, int64_t id, char **json);
/*
 * After a full refresh of segment committed: a snapshot ("refresh") of every scheme that uses
 * it, each in a transaction of its own without a statement timeout; stops early (SEG_OK) when
 * hooks->stopping says so. *taken counts them. A job worker's connection.
 */
enum seg_err seg_db_scheme_snapshot_segment(struct seg_db *db, int64_t tenant, int64_t segment,
					    const struct seg_job_hooks *hooks, int *taken);
/* Snapshots oldest first (the objects of seg_db_scheme_snapshot). SEG_ERR_NOT_FOUND. */
enum seg_err seg_db_scheme_snapshots(struct seg_db *db, int64_t tenant, int64_t id,
				     const char *after_key, int limit, struct seg_page *page);
/* The two snapshots of a transition matrix and the flows between them. */
struct seg_scheme_transitions {
	struct seg_scheme_snap from, to;
	bool from_found, to_found; /* a snapshot at or before the time asked for exists */
	struct seg_scheme_flow *flows;
	size_t nflows;
};
void seg_scheme_transitions_release(struct seg_scheme_transitions *t);
/*
 * Resolves from and to (timestamptz text, from <= to) to the latest snapshots at or before
 * them and counts the customers of each (segment at from, segment at to), leaving out those
 * present in only one. When either has no snapshot, *_found says which and no flow is read.
 * out starts zeroed. SEG_ERR_NOT_FOUND: no such scheme.
 */
enum seg_err seg_db_scheme_transitions(struct seg_db *db, int64_t tenant, int64_t id,
				       const char *from, const char *to,
				       struct seg_scheme_transitions *out);
/* --- segment profiles and overlaps (db/profile.c; db/README.md "Profiles and overlap") --- */
/* A profile covers at most this many attributes (the most frequent in the segment). */
#define SEG_PROFILE_ATTRS_MAX 200
/*
 * The profile of a segment (SPEC §5.4), one snapshot, as JSON built by PostgreSQL:
 * {"segment_id", "name", "size", "share", "attributes": {"profiled", "truncated"}, "numeric",
 * "categorical", "metrics", "profile"}. One pass over the members, one over the tenant's
 * customers. SEG_ERR_NOT_FOUND when the tenant has no such segment.
 */
enum seg_err seg_db_segment_profile(struct seg_db *db, int64_t tenant, int64_t id, char **json);
/* An overlap compares at most this many segments. */
#define SEG_OVERLAP_MAX 20
/*
 * Counts and Jaccard indexes of n (1..SEG_OVERLAP_MAX, distinct) segments, one snapshot, one
 * pass over their memberships: {"segments": [{"id", "name", "size"}], "counts": [[n]],
 * "jaccard": [[x]]}, in the order of ids. SEG_ERR_NOT_FOUND with *unknown set to the first id
 * (in that order) that is none of the tenant's segments.
 */
enum seg_err seg_db_segments_overlap(struct seg_db *db, int64_t tenant, const int64_t *ids,
				     size_t n, int64_t *unknown, char **json);

/* --- analyses (db/analyses.c, db/analysis_*.c; db/README.md "Analyses") --- */
/*
 * A metric (SPEC §4) that the runs of a type provide: the customer_scores column of that name
 * (migrations/0008_analyses.sql), filled from the column of the same name in the analysis's
 * store, cast to sqltype ("smallint", "text" or "double precision"). The
 * runs of the analysis that is the tenant's source for the type copy them. One exception:
 * "factors" ("double precision[]") is filled from the store's columns factor_1 ..
 * factor_k, in order (factor_n = factors[n]; NULL when all of them are).
 */
struct seg_analysis_metric {
	const char *name;
	const char *sqltype;
};
/*
 * Analysis documents are JSON built by PostgreSQL: {"id", "type", "params", "schedule",
 * "status", "progress", "error", "job_id", "attempts", "result", "succeeded_at", "runs",
 * "next_run_at", "metric_source", "created_at", "updated_at"}. status, progress and error are
 * those of the current run's job while it exists, else the row's copy; result and
 * succeeded_at are those of the latest succeeded run.
 */
/*
 * Creates an analysis (params: the checked JSON text; schedule NULL, "daily" or "weekly") and
 * queues its first run, in one transaction. *id and *json the new analysis.
 */
enum seg_err seg_db_analysis_create(struct seg_db *db, int64_t tenant, const char *type,
				    const char *params, const char *schedule, int64_t *id,
				    char **json);
/* SEG_ERR_NOT_FOUND when the tenant has no such analysis. */
enum seg_err seg_db_analysis_get(struct seg_db *db, int64_t tenant, int64_t id, char **json);
/* Newest first, of one type and status (NULL: any). SEG_ERR_MALFORMED: not our key. */
enum seg_err seg_db_analysis_list(struct seg_db *db, int64_t tenant, const char *type,
				  const char *status, const char *after_key, int limit,
				  struct seg_page *page);
/* Cancels the current run (a queued one at once, a running one at its next check point). */
enum seg_err seg_db_analysis_cancel(struct seg_db *db, int64_t tenant, int64_t id, char **json);
/* Queues a run now (or joins the one queued). SEG_ERR_NOT_FOUND. */
enum seg_err seg_db_analysis_run_now(struct seg_db *db, int64_t tenant, int64_t id, char **json);
/*
 * Deletes an analysis, retires its store (its customers' rows), and cancels its run. When it is the
 * tenant's metric source for its type (*source): SEG_ERR_CONFLICT unless force; with force its
 * metrics are emptied in customer_scores and the segments reading them refreshed.
 * SEG_ERR_NOT_FOUND.
 */
enum seg_err seg_db_analysis_delete(struct seg_db *db, int64_t tenant, int64_t id, bool force,
				    bool *source);
/*
 * Each customer's own result {"customer_id", ...data}, by customer id. SEG_ERR_NOT_FOUND: no
 * such analysis; SEG_ERR_CONFLICT: it has no succeeded run yet.
 */
enum seg_err seg_db_analysis_customers(struct seg_db *db, int64_t tenant, int64_t id,
				       const char *after_key, int limit, struct seg_page *page);
/* The same checks before a CSV export; *type (malloc'ed) the analysis's type. */
enum seg_err seg_db_analysis_customers_check(struct seg_db *db, int64_t tenant, int64_t id,
					     char **type);
/*
 * One batch of the CSV export: up to limit lines "customer_id,col...\r\n" after after_key,
 * columns a JSON array of columns of the store (a string as itself, absent or null empty, anything
 * else as JSON). *last: the last customer id written (NULL: none; malloc'ed); *rows: lines.
 */
enum seg_err seg_db_analysis_customers_csv(struct seg_db *db, int64_t tenant, int64_t id,
					   const char *after_key, const char *columns, int limit,
					   struct seg_buf *out, char **last, size_t *rows);
/*
 * A run, as the job `job` (kind "analysis", target the analysis): begins its transaction
 * (without the statement timeout) and reads the analysis's type and params, and names the
 * store the run is to write (seg_results.a<id>_<n>, a table that does not exist yet; all three
 * malloc'ed). The
 * job's row is locked only by seg_db_analysis_run_succeed, at the end, so that the heartbeat
 * stores the run's progress meanwhile. SEG_ERR_NOT_FOUND when the analysis was deleted (the
 * transaction stays open: succeed the job with seg_db_analysis_run_succeed and a NULL
 * result). On any other error the transaction is rolled back.
 */
enum seg_err seg_db_analysis_run_begin(struct seg_db *db, const struct seg_job_claim *job,
				       char **type, char **params, char **store);
/*
 * Ends a run in its transaction, after the type wrote its store (seg__analysis_store): locks
 * the job (SEG_ERR_CONFLICT: the claim was lost; everything is rolled back), stores result
 * (JSON text) and the store as the analysis's (the one it replaces is retired, for
 * seg_db_analysis_stores_drop), and when the analysis is the tenant's metric
 * source for its type, copies metrics (ended by {NULL, NULL}) into customer_scores and queues
 * a full refresh of every dynamic segment that reads analysis metrics; then the job succeeds
 * and the transaction commits. A NULL result (or an analysis deleted meanwhile) stores
 * nothing. Rolled back on error.
 */
enum seg_err seg_db_analysis_run_succeed(struct seg_db *db, const struct seg_job_claim *job,
					 const char *store, const char *result,
					 const struct seg_analysis_metric *metrics,
					 const char *group_column);
/*
 * (group_column: NULL, or (not NULL) the type is materialised as static segments, whose rows
 * name the store column each follows (segments.analysis_group_column). Then the transaction first
 * takes the tenant's definitions lock (shared), and once the store is the analysis's, the static
 * segments materialised from the analysis (segments.analysis_group set, of every scheme) get
 * the members the new store places in their group: the customers that enter and exit are
 * locked (ascending id), their changes recorded in the feed, the dynamic segments that refer
 * to these segments follow (membership step), and each segment gets a history point and its
 * size. db/README.md "Static materialisation".)
 */
/*
 * Drops the retired stores (replaced by a newer run, or of deleted analyses) that no one
 * reads, a few per call, each in a short transaction that waits at most 100 ms for its lock
 * (one still read is left for a later call). Safe from several daemons at once. *dropped: how
 * many went. Housekeeping; any thread with a connection of its own.
 */
enum seg_err seg_db_analysis_stores_drop(struct seg_db *db, int *dropped);
/*
 * Ends a run that the data cannot support, in a transaction of its own (the run's was rolled
 * back): the job failed for good and the analysis failed, both with problem (JSON text).
 */
enum seg_err seg_db_analysis_run_fail(struct seg_db *db, const struct seg_job_claim *job,
				      const char *problem);
/*
 * Queues a run of every scheduled analysis whose next_run_at has passed (at most 100 a call)
 * and moves next_run_at past now in its phase. Safe from several daemons at once.
 */
enum seg_err seg_db_analysis_schedule(struct seg_db *db, int *queued);

/* What :materialize makes: a scheme of dynamic segments, in priority order. */
struct seg_analysis_segment_def {
	const char *name, *description, *rule; /* rule: JSON text of a checked rule */
	unsigned deps;			       /* SEG_RULE_DEP_* of the rule */
};
struct seg_analysis_materialize {
	const char *scheme_name;
	const struct seg_analysis_segment_def *segments;
	size_t nsegments;
	const struct seg_analysis_metric *metrics; /* the type's, ended by {NULL, NULL} */
	/*
	 * NULL: the segments are dynamic (their rules). Otherwise the type's store column (an
	 * integer, a 0-based index into segments, NULL for none) that places each customer: the
	 * segments are static (rule NULL, deps 0), segments[i] gets analysis_group i (and
	 * analysis_group_column this column, which later runs follow) and the
	 * existing customers the analysis's store places in group i, each recorded as entered in
	 * the feed, then a history point and its size (db/README.md "Static materialisation").
	 */
	const char *group_column;
};
/*
 * In one transaction (the definitions changed): makes analysis id the tenant's metric source
 * for its type (*replaced: the analysis that was, 0 when none or itself), copies its metrics
 * into customer_scores and queues refreshes of the segments that read analysis metrics,
 * creates the dynamic segments (source the type, analysis_id this one; jobs[i] their first refresh)
 * and the scheme (*scheme). SEG_ERR_NOT_FOUND: no such analysis; SEG_ERR_CONFLICT: it has no
 * succeeded run, or a name is taken (a segment or the scheme); SEG_ERR_INVALID: the
 * segments would make the tenant's membership step too large (as segment create).
 */
enum seg_err seg_db_analysis_materialize(struct seg_db *db, int64_t tenant, int64_t id,
					 const struct seg_analysis_materialize *m, int64_t *scheme,
					 int64_t *jobs, int64_t *replaced);

/* ABC (db/analysis_abc.c), as SPEC §6.1 and analytics/abc.h define it. */
struct seg_abc_summary;
/*
 * Writes the run's store (seg_db_analysis_run_begin named it) with each customer's class, value
 * and rank by metric ("revenue", "orders", "events" or "avg_order_value"), in one statement,
 * and fills out (see seg_abc_finish) from it. a and b are the params as decimal text. *ok false
 * when the positive values sum to nothing (no class is defined: the run fails, and its store
 * is rolled back with it).
 */
enum seg_err seg_db_analysis_abc(struct seg_db *db, int64_t tenant, const char *store,
				 const char *metric, const char *a, const char *b,
				 struct seg_abc_summary *out, bool *ok);
/* --- RFM analyses (db/analysis_rfm.c; analytics/README.md "RFM") --- */
/* One cell of the R×F×M cube of a run: how many scored customers, and their monetary sum. */
struct seg_rfm_cell {
	int r, f, m;
	int64_t count;
	double monetary;
};
struct seg_rfm_run {
	/* in */
	int64_t tenant;
	const char *store; /* the run's store, to be written */
	int bins;	   /* SEG_RFM_BINS_MIN .. SEG_RFM_BINS_MAX */
	int window_days;   /* >= 1 */
	const char *as_of; /* RFC 3339, or NULL: the time of the run (now()) */
	/* explicit cut points per dimension (recency, frequency, monetary) as a numeric[] literal
	 * "{1,2,3,4}" of bins - 1 ascending numbers, or NULL: computed by SPEC §6.1 */
	const char *cuts[3];
	/* out: everything malloc'ed, freed by seg_rfm_run_release */
	char *as_of_used;	    /* RFC 3339 */
	int64_t customers;	    /* every customer of the tenant */
	int64_t scored;		    /* those with a revenue event in the window */
	char *cut_points[3];	    /* the cut points used, as JSON arrays of numbers */
	struct seg_rfm_cell *cells; /* the non-empty cells of the scored customers */
	size_t ncells;
	double monetary; /* the scored customers' monetary total */
};
void seg_rfm_run_release(struct seg_rfm_run *run);
/*
 * Scores every customer of run->tenant by SPEC §6.1 and writes run->store (one row per
 * customer, the unscored with rfm_segment "Lost"), inside the
 * caller's transaction; fills the out fields. Checks hooks->stopping between its statements
 * (SEG_ERR_CANCELLED) and reports progress. When no customer is scored, returns SEG_OK with
 * scored 0 and writes nothing (the cut points do not exist): the caller decides. The job
 * worker's thread.
 */
enum seg_err seg_db_rfm_run(struct seg_db *db, const struct seg_job_hooks *hooks,
			    struct seg_rfm_run *run);

/* --- customer lifetime value (db/analysis_clv.c; SPEC §6 clv, analytics/README.md "CLV") --- */
/* One distinct BG/NBD summary in whole days, shared by count customers. */
struct seg_clv_summary {
	int64_t x, tx_days, t_days, count;
};
/* One distinct Gamma-Gamma input: x >= 1 repeat days of mean value m > 0, count customers. */
struct seg_clv_value {
	int64_t x;
	double m;
	int64_t count;
};
/*
 * Inside the run's transaction: builds the temporary table seg_clv_summary (dropped at commit)
 * of every customer with a revenue event at or before until (an RFC 3339 instant), one
 * transaction per UTC calendar day valued at the day's sum of amounts (no amount: 0): x
 * (transaction days - 1), t_x and T in whole days (T up to until's UTC day), revenue, and
 * monetary (the mean value of the repeat days; NULL without a repeat). *customers counts them.
 */
enum seg_err seg_db_clv_prepare(struct seg_db *db, int64_t tenant, const char *until,
				int64_t *customers);
/* The distinct summaries of that table with their counts (*out malloc'ed, ordered). */
enum seg_err seg_db_clv_summaries(struct seg_db *db, struct seg_clv_summary **out, size_t *n);
/* The distinct (x, monetary) of its customers with x > 0 and monetary > 0 (*out malloc'ed). */
enum seg_err seg_db_clv_values(struct seg_db *db, struct seg_clv_value **out, size_t *n);
/* What BG/NBD predicts for one distinct summary (finite numbers only). */
struct seg_clv_prediction {
	int64_t x, tx_days, t_days;
	double p_alive, predicted_orders, discounted_orders;
};
struct seg_clv_store {
	const char *store;    /* the run's store, to be written */
	double days_per_unit; /* 1 (day) or 7 (week): t_x and T are stored in the time unit */
	bool bgnbd;	      /* false: historic, clv = revenue */
	const struct seg_clv_prediction *pred; /* BG/NBD: one per distinct summary */
	size_t npred;
	double p, q, gamma; /* BG/NBD: Gamma-Gamma's parameters (q > 1) */
};
/*
 * Writes the run's store, one row per customer of seg_clv_summary: x, t_x, T, revenue,
 * monetary (NULL without a repeat), and for BG/NBD p_alive, predicted_orders, expected_value
 * (Gamma-Gamma's conditional mean, with a monetary value below 0 taken as 0), clv (discounted
 * orders x expected value); for historic clv = revenue and the three NULL. Then reads the
 * figures from it as JSON text (*stats, malloc'ed):
 * {"customers", "written", "total_clv", "predicted_orders", "tiers": {"medium", "high"},
 * "distribution": [{"from", "to", "customers"}]}.
 */
enum seg_err seg_db_clv_store(struct seg_db *db, const struct seg_clv_store *in, char **stats);
/* --- the frequency analysis (db/analysis_frequency.c; analytics/README.md "Frequency") --- */
/* What one frequency run reads: the matching events of each customer up to as_of. */
struct seg_db_frequency_query {
	int64_t tenant;
	const char *event;  /* one event type; NULL: the tenant's revenue event types */
	const char *as_of;  /* RFC 3339; NULL: the transaction's now() */
	int window_days;    /* > 0: only events in (as_of - window_days days, as_of]; 0: all */
	double period_days; /* the length of a period in days: 7 (week) or 30.4375 (month) */
	int min_events;	    /* the distribution counts the customers with this many events */
};
/* The distribution of a frequency run (SEG_FREQ_GRID_EDGES bins of analytics/frequency.h). */
struct seg_db_frequency_counts {
	char as_of[40];	   /* the instant used, RFC 3339 */
	int64_t customers; /* the tenant's customers */
	int64_t active;	   /* with at least one matching event */
	int64_t single;	   /* with exactly one */
	uint64_t *bins;	   /* the caller's array of SEG_FREQ_GRID_EDGES counts, filled */
};
/*
 * One pass over the tenant's matching events: each customer's count and periods of exposure
 * (from their first matching event, or the window's start if later, to as_of; at least one
 * period) into a temporary table dropped at the commit, which seg_db_frequency_write reads;
 * then the rates of the customers with at least q->min_events events counted per bin of the
 * grid. Inside the run's transaction. Threads: the job worker's.
 */
enum seg_err seg_db_frequency_distribution(struct seg_db *db,
					   const struct seg_db_frequency_query *q,
					   struct seg_db_frequency_counts *out);
/*
 * After seg_db_frequency_distribution, in the same transaction: writes the run's store, one row
 * per customer of the tenant: frequency_class, events, periods, rate (the last two NULL and
 * the class "none" without a matching event). names are the three classes from the highest
 * rate down (seg_freq_classes), t the nt (1 or 2) ascending thresholds; one_time: a customer
 * with one event is names[2] whatever the rate (buyers), and one threshold splits names[0]
 * from names[1]. counts[0..2] receive the customers of each class, counts[3] those of "none".
 * Two statements: the store's CREATE TABLE AS, and the count of the classes over the
 * temporary table.
 */
enum seg_err seg_db_frequency_write(struct seg_db *db, int64_t tenant, const char *store,
				    const char *const *names, const double *t, size_t nt,
				    bool one_time, int64_t counts[4]);

/* --- features of customers for the multivariate analyses (db/analysis_features.c; db/README.md
 * "Features"; h-fe) --- */
/* Where a feature's values come from. */
enum seg_feature_source {
	SEG_FEATURE_ATTR,    /* a registered attribute of the catalogue (a dotted path) */
	SEG_FEATURE_METRIC,  /* a metric of SPEC §4, analysis metrics (clv, factor_n, ...) included
			      */
	SEG_FEATURE_SEGMENT, /* membership of a segment of the tenant (name: its id in decimal):
				1 for its members, 0 for everyone else, never missing (h-tw) */
};
/* A feature as the params name it: {"attr": name} or {"metric": name}. */
struct seg_feature_spec {
	enum seg_feature_source source;
	const char *name; /* borrowed */
};
/* One column of the matrix. */
struct seg_feature_column {
	char *name; /* the attribute's or metric's name */
	enum seg_feature_source source;
	/*
	 * A string or boolean attribute, or a string analysis metric (abc_class, ...): the matrix
	 * holds the code 0 .. ncategories - 1 of each value, categories[code] its text (booleans
	 * "false" and "true"), the codes in byte order of the texts. Numeric otherwise.
	 */
	bool categorical;
	char **categories;
	size_t ncategories;
	/* a boolean attribute (categorical, "false" and "true"): a rule compares JSON booleans */
	bool boolean;
	size_t missing; /* rows without a value (NaN) */
};
/*
 * The customers read: n rows (ascending customer id) by d features, row-major, NaN for a
 * missing value (db/README.md "Features": the policy). Every array is owned by the struct.
 */
struct seg_features {
	size_t n, d;
	double *x;			 /* n x d */
	char **ids;			 /* n customer ids, ascending in byte order */
	struct seg_feature_column *cols; /* d */
	size_t complete;		 /* rows with every feature */
	char *arena;			 /* the ids' text */
};
/* What to read. */
struct seg_features_request {
	int64_t tenant;
	const struct seg_feature_spec *features;
	size_t d;
	/*
	 * NULL (every customer of the tenant) or a rule (SPEC §3) as JSON text, validated for its
	 * shape already; parsed again here against the catalogue in stored mode (an attribute
	 * registered since with another type makes its leaf false), its segment references
	 * resolved as a segment refresh does.
	 */
	const char *filter;
	bool categorical;     /* accept string and boolean features (kmeans, contrast) */
	size_t memory_limit;  /* bytes (SEGMENTD_ANALYSIS_MEMORY); 0: no limit */
	size_t extra_per_row; /* bytes the caller will need per row beyond the matrix */
	const struct seg_job_hooks *hooks; /* NULL, or checked between batches (cancel) */
	double progress_from, progress_to; /* the span of the run's progress the read covers */
};
/*
 * Reads the features of the tenant's customers that match the filter into *out (release with
 * seg_features_release), inside the caller's transaction (a run's): a count with the filter
 * first (the memory estimate), then one statement read through a cursor in batches of 20,000
 * rows. SEG_ERR_INVALID when the request cannot be served, with a sentence in
 * detail[0..detail_len) and *feature the index of the offending feature (-1: none): an
 * attribute not in the catalogue or of a type the analysis cannot use, an unknown or timestamp
 * metric, a filter that no longer parses, or more memory than memory_limit ("would need
 * 1,234 MB"). SEG_ERR_CANCELLED when hooks->stopping says so. Threads: the job worker's.
 */
enum seg_err seg_db_features_read(struct seg_db *db, const struct seg_features_request *rq,
				  struct seg_features *out, char *detail, size_t detail_len,
				  int *feature);
/* Frees what f owns and zeroes it; NULL-safe, idempotent. */
void seg_features_release(struct seg_features *f);
/*
 * Whether a metric can be a feature, without the database (for checking params): 1 numeric,
 * 2 a string (categorical), 3 a timestamp (refused), 0 no metric of SPEC §4. Pure.
 */
int seg_feature_metric_kind(const char *name);

/* --- the factor analysis (db/analysis_factor.c; SPEC §6 factor; h-fe) --- */
/*
 * Writes the run's store: one row per customer of f (every customer the features were read
 * for), customer_id and factor_1 .. factor_k (double precision; NULL for a customer without
 * every feature); scores n x k row-major, NaN for none. Through seg__analysis_store_copy.
 */
enum seg_err seg_db_factor_store(struct seg_db *db, const char *store, const struct seg_features *f,
				 const double *scores, size_t k, const struct seg_job_hooks *hooks);

/* --- the contrast-group analysis (db/analysis_contrast.c; SPEC §6 contrast; h-tw) --- */
/*
 * Writes the run's store: one row per customer of f (every customer the features were read
 * for, in f's order), customer_id, leaf (leaf[i] + 1: the result's 1-based leaf index) and
 * target (double precision; NULL where target[i] is NaN: a customer without a target, placed
 * in the leaf its leaf rule gives it). Through seg__analysis_store_copy.
 */
enum seg_err seg_db_contrast_store(struct seg_db *db, const char *store,
				   const struct seg_features *f, const uint32_t *leaf,
				   const double *target, const struct seg_job_hooks *hooks);
/* --- the conjoint analysis (db/analysis_conjoint.c; SPEC §6 conjoint, §6.2; h-cw) --- */
struct seg_conjoint_request {
	int64_t tenant;
	const char *event;	       /* the event type of the rated profiles */
	const char *const *attributes; /* nattr property names (price not among them) */
	size_t nattr;
	const char *response;		   /* the property holding the rating */
	const char *price;		   /* the property holding the price, or NULL */
	size_t memory_limit;		   /* bytes (SEGMENTD_ANALYSIS_MEMORY); 0: no limit */
	size_t extra_per_profile;	   /* bytes the caller will need per profile read */
	const struct seg_job_hooks *hooks; /* NULL, or asked between batches (cancel, progress) */
	double progress_from, progress_to;
};
/*
 * The rated profiles, as analytics/conjoint.h's struct seg_cj_input wants them: respondent r
 * (ids[r], customers with at least one event of the type, ascending byte order) has profiles
 * start[r] .. start[r + 1] - 1 in the order of occurred_at, then the event's id (byte order;
 * events without one last), then arrival. An attribute's level is the property's text (a
 * string as itself, a number or boolean as its JSON text; absent, null, an object or an array:
 * code -1); levels[a][0 .. nlevels[a]) are numbered in the order of their first appearance
 * over all the events in that order (the report's order, SPEC §6.2). rating and price are NaN
 * where the property is not a number.
 */
struct seg_conjoint_data {
	size_t nresp, nprof, nattr;
	char **ids; /* nresp, into arena */
	char *arena;
	size_t *start;	 /* nresp + 1 */
	size_t *nlevels; /* nattr */
	char ***levels;	 /* nattr arrays of nlevels[a] names */
	int32_t *codes;	 /* nprof x nattr, row-major */
	double *rating;	 /* nprof */
	double *price;	 /* nprof, or NULL without price */
};
/*
 * Reads the tenant's events of rq->event into *out (release with seg_conjoint_data_release)
 * inside the caller's transaction (a run's): a count first (the memory estimate, refused over
 * the limit before anything is allocated), then one statement through a cursor in batches of
 * 20,000 rows in binary format. SEG_ERR_INVALID with a sentence in detail when the memory would
 * exceed the limit; SEG_ERR_CANCELLED when hooks->stopping says so. Threads: the job worker's.
 */
enum seg_err seg_db_conjoint_read(struct seg_db *db, const struct seg_conjoint_request *rq,
				  struct seg_conjoint_data *out, char *detail, size_t detail_len);
/* Frees what d owns and zeroes it; NULL-safe, idempotent. */
void seg_conjoint_data_release(struct seg_conjoint_data *d);
/*
 * Writes the run's store (SPEC §6.2, each respondent's own result): one row per respondent of
 * data, customer_id, part_worths jsonb ({attribute: {level: u}} over the levels it rated),
 * price_coefficient, constant, importance jsonb ({attribute: x}, price last), r2 (double
 * precision) and segment (integer, the benefit segment's 0-based index; NULL without one);
 * NULL in every column but customer_id for a respondent that was skipped. fit is the engine's
 * result over data; price_name names price's importance (NULL without price); segment has
 * nresp entries (-1: none) or is NULL. Through COPY (seg__analysis_store_copy).
 */
struct seg_cj_result;
enum seg_err seg_db_conjoint_store(struct seg_db *db, const char *store,
				   const struct seg_conjoint_data *data,
				   const struct seg_cj_result *fit, const char *const *attr_names,
				   const char *price_name, const int32_t *segment,
				   const struct seg_job_hooks *hooks);
/* --- the discriminant analysis (db/analysis_discriminant.c; SPEC §6 discriminant; h-dw) --- */
/* A scheme's segments in priority order: the groups of a discriminant analysis. */
struct seg_discriminant_groups {
	size_t g;
	int64_t *segment_ids; /* g */
	char **names;	      /* g */
};
/*
 * Reads the segments of the tenant's scheme (g may be 0) into *out (release with
 * seg_discriminant_groups_release) and, for each customer of f, group[i]: the index of the
 * first of those segments the customer is a member of (the scheme's assignment, as
 * db/schemes.c computes it), -1 for none. Two statements inside the caller's transaction (a
 * run's); the members come in customer order and are merged with f's ids. SEG_ERR_NOT_FOUND
 * when the tenant has no such scheme. Threads: the job worker's.
 */
enum seg_err seg_db_discriminant_groups(struct seg_db *db, int64_t tenant, int64_t scheme,
					const struct seg_features *f,
					struct seg_discriminant_groups *out, int *group);
/* Frees what g owns and zeroes it; NULL-safe, idempotent. */
void seg_discriminant_groups_release(struct seg_discriminant_groups *g);
/*
 * Writes the run's store: one row per customer of f, customer_id, true_group (the scheme's
 * group, NULL: none), predicted_group (NULL: a feature missing), posterior (of the predicted
 * group; NULL when not finite), assigned_group (where a materialised scheme places the
 * customer, NULL: nowhere); groups are 0-based indexes into the result's groups, -1 for NULL.
 * Through seg__analysis_store_copy.
 */
enum seg_err seg_db_discriminant_store(struct seg_db *db, const char *store,
				       const struct seg_features *f, const int *truth,
				       const int *predicted, const double *posterior,
				       const int *assigned, const struct seg_job_hooks *hooks);

/* --- the k-means analysis (db/analysis_kmeans.c; SPEC §6 kmeans; h-kw) --- */
/*
 * Writes the run's store: one row per customer of f (every customer the features were read
 * for), customer_id, cluster (integer, 0-based; NULL where cluster[i] < 0: the customer was
 * left out) and distance (double precision, to its centroid in the scaled units). Through
 * seg__analysis_store_copy.
 */
enum seg_err seg_db_kmeans_store(struct seg_db *db, const char *store, const struct seg_features *f,
				 const int32_t *cluster, const double *distance,
				 const struct seg_job_hooks *hooks);

/*
 * The result of the analysis's latest succeeded run (JSON text, malloc'ed; NULL: none yet), as
 * the run's transaction sees it: k-means numbers its clusters after the previous run's.
 */
enum seg_err seg_db_analysis_previous_result(struct seg_db *db, int64_t tenant, int64_t id,
					     char **json);

#endif

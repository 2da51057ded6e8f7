/*
 * The job engine: worker threads that claim and run jobs, and a listener thread that wakes
 * them (LISTEN segmentd_jobs, and a poll every SEGMENTD_JOB_POLL seconds in case a
 * notification was lost), renews the leases of the running jobs, rescues jobs whose lease ran
 * out, queues the scheduled refreshes and samples the queue's depth. The model is in
 * server/README.md ("Jobs"); the SQL in db/jobs.c.
 *
 * Shared state is under jobs->lock: the running slots (one per worker), the wake generation,
 * the sampled depth and the metrics. Nobody holds it while waiting on the database. A slot's
 * stop, cancel, lost and progress fields are also read by the job's own thread through its
 * hooks, as atomics.
 */
#include "jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "analysiskinds.h"
#include "db.h"
#include "jobkinds.h"
#include "log.h"

/* How long the listener waits on its socket at a time: how late it notices a shutdown. */
#define SEG__LISTEN_SLICE_MS 250
/* Durations histogram buckets, in seconds. */
static const double seg__buckets[] = {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800};
#define SEG__NBUCKETS (sizeof(seg__buckets) / sizeof(seg__buckets[0]))

/* How a claimed job ended, as /metrics counts it. */
enum seg__outcome {
	SEG__SUCCEEDED,
	SEG__RETRIED, /* failed, queued again */
	SEG__FAILED,  /* failed, no attempts left */
	SEG__CANCELLED,
	SEG__HANDED_BACK,
	SEG__LOST,	/* the claim was lost (rescued elsewhere); dropped */
	SEG__ABANDONED, /* its end could not be recorded; its lease runs out */
	SEG__NOUTCOMES
};
static const char *const seg__outcome_names[] = {"succeeded",	"retried", "failed",   "cancelled",
						 "handed_back", "lost",	   "abandoned"};

struct seg__series {
	const char *kind; /* the kind table's static name */
	enum seg__outcome outcome;
	uint64_t count;
	double sum;
	uint64_t buckets[SEG__NBUCKETS];
};

struct seg__slot {
	struct seg_jobs *jobs;
	int index;
	pthread_t thread;
	bool started;
	bool busy; /* under lock: claim is a running job */
	struct seg_job_claim claim;
	bool cancel;	  /* atomic: the heartbeat saw a cancel request */
	bool lost;	  /* atomic: the heartbeat saw the claim lost */
	int64_t progress; /* atomic: millionths */
};

struct seg_jobs {
	const struct seg_config *config;
	struct seg_job_policy policy;
	int heartbeat_s, poll_s;
	struct seg_pool *pool;
	char worker_name[128];
	const char **kinds; /* the kind table's names, NULL-terminated */

	pthread_mutex_t lock;
	pthread_cond_t wake; /* CLOCK_MONOTONIC; gen moved, or stopping */
	unsigned long gen;   /* +1 at every notification or poll tick */
	bool stopping;	     /* atomic: no more claims; running jobs stop */
	bool ending;	     /* atomic: the listener ends */
	struct seg__slot *slots;
	int nslots;
	pthread_t listener;
	bool listener_started;

	/* metrics, under lock */
	struct seg_job_depth depth;
	bool depth_known;
	uint64_t claims, rescued_requeued, rescued_ended, heartbeat_failures;
	struct seg__series *series;
	size_t nseries, capseries;
};

static int64_t seg__mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool seg__load(const bool *flag)
{
	return __atomic_load_n(flag, __ATOMIC_SEQ_CST);
}

static void seg__store(bool *flag, bool v)
{
	__atomic_store_n(flag, v, __ATOMIC_SEQ_CST);
}

/* Waits on jobs->wake (lock held) until gen moves past seen, stopping, or ms pass. */
static void seg__wait(struct seg_jobs *jobs, unsigned long seen, int64_t ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while (jobs->gen == seen && !seg__load(&jobs->stopping))
		if (pthread_cond_timedwait(&jobs->wake, &jobs->lock, &deadline) != 0)
			break;
}

static void seg__wake_workers(struct seg_jobs *jobs)
{
	pthread_mutex_lock(&jobs->lock);
	jobs->gen++;
	pthread_cond_broadcast(&jobs->wake);
	pthread_mutex_unlock(&jobs->lock);
}

static void seg__observe(struct seg_jobs *jobs, const char *kind, enum seg__outcome outcome,
			 double seconds)
{
	struct seg__series *s = NULL;
	pthread_mutex_lock(&jobs->lock);
	for (size_t i = 0; i < jobs->nseries && !s; i++)
		if (jobs->series[i].kind == kind && jobs->series[i].outcome == outcome)
			s = &jobs->series[i];
	if (!s) {
		if (jobs->nseries == jobs->capseries) {
			jobs->capseries = jobs->capseries ? jobs->capseries * 2 : 16;
			jobs->series =
				seg_realloc(jobs->series, jobs->capseries * sizeof(*jobs->series));
		}
		s = &jobs->series[jobs->nseries++];
		memset(s, 0, sizeof(*s));
		s->kind = kind;
		s->outcome = outcome;
	}
	s->count++;
	s->sum += seconds;
	for (size_t b = 0; b < SEG__NBUCKETS; b++)
		if (seconds <= seg__buckets[b])
			s->buckets[b]++;
	pthread_mutex_unlock(&jobs->lock);
}

/* --- the hooks a running job sees --- */

static bool seg__hook_stopping(void *ctx)
{
	struct seg__slot *slot = ctx;
	return seg__load(&slot->jobs->stopping) || seg__load(&slot->cancel) ||
	       seg__load(&slot->lost);
}

static void seg__hook_progress(void *ctx, double fraction)
{
	struct seg__slot *slot = ctx;
	if (!(fraction >= 0))
		fraction = 0;
	if (fraction > 1)
		fraction = 1;
	__atomic_store_n(&slot->progress, (int64_t)(fraction * 1e6), __ATOMIC_SEQ_CST);
}

/* --- workers --- */

/*
 * Ends the attempt after its run returned err (not SEG_OK, not a lost claim): cancelled when
 * it was asked to, handed back when the daemon is stopping, else failed (retried while
 * attempts remain). The run's transaction, if any, is rolled back first.
 */
static enum seg__outcome seg__conclude(struct seg_jobs *jobs, struct seg__slot *slot,
				       struct seg_db *db, enum seg_err err)
{
	const struct seg_job_claim *job = &slot->claim;
	const char *status = NULL;
	enum seg_err e;

	seg_db_rollback(db);
	if (seg__load(&slot->lost))
		return SEG__LOST;
	if (seg__load(&slot->cancel)) {
		e = seg_db_job_cancelled(db, job);
		if (!e) {
			seg_info("job %lld (%s) cancelled", (long long)job->id, job->kind);
			return SEG__CANCELLED;
		}
	} else if (seg__load(&jobs->stopping)) {
		e = seg_db_job_hand_back(db, job, &status);
		if (!e) {
			seg_info("job %lld (%s) handed back to the queue: %s", (long long)job->id,
				 job->kind, status);
			return strcmp(status, "cancelled") == 0 ? SEG__CANCELLED : SEG__HANDED_BACK;
		}
	} else {
		e = seg_db_job_fail(db, &jobs->policy, job, err, &status);
		if (!e) {
			seg_warn("job %lld (%s) attempt %d of %d failed: %s; now %s",
				 (long long)job->id, job->kind, job->attempt, job->max_attempts,
				 seg_err_detail(err), status);
			return strcmp(status, "queued") == 0	  ? SEG__RETRIED
			       : strcmp(status, "cancelled") == 0 ? SEG__CANCELLED
								  : SEG__FAILED;
		}
	}
	/*
	 * A run that returns SEG_ERR_INVALID may have ended its job itself, failed for good
	 * (seg_db_job_fail_final: an analysis the data cannot support); the fenced write then
	 * matches nothing.
	 */
	if (e == SEG_ERR_CONFLICT)
		return err == SEG_ERR_INVALID ? SEG__FAILED : SEG__LOST;
	/* The database failed us too: the lease runs out, and a rescue ends the attempt. */
	seg_warn("job %lld (%s): could not record the end of attempt %d (%s); its lease will run "
		 "out and another daemon take it over",
		 (long long)job->id, job->kind, job->attempt, seg_err_detail(e));
	return SEG__ABANDONED;
}

/* Claims and runs one job on db. false when there was none to claim (or claiming failed). */
static bool seg__work_one(struct seg_jobs *jobs, struct seg__slot *slot, struct seg_db *db)
{
	struct seg_job_claim claim;
	struct seg_job_hooks hooks = {seg__hook_stopping, seg__hook_progress, slot};
	enum seg__outcome outcome;
	bool found = false;
	enum seg_err err;

	err = seg_db_job_claim(db, &jobs->policy, jobs->worker_name, jobs->kinds, &claim, &found);
	if (err || !found)
		return false;
	const struct seg_job_kind *kind = seg_job_kind_find(claim.kind);
	seg__store(&slot->cancel, false);
	seg__store(&slot->lost, false);
	__atomic_store_n(&slot->progress, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&jobs->lock);
	slot->claim = claim;
	slot->busy = true;
	jobs->claims++;
	pthread_mutex_unlock(&jobs->lock);
	seg_debug("job %lld (%s) claimed: attempt %d of %d", (long long)claim.id, claim.kind,
		  claim.attempt, claim.max_attempts);

	int64_t start = seg__mono_ms();
	/* claims are only of kinds the table lists, so kind is never NULL */
	err = kind ? kind->run(db, &slot->claim, &hooks) : SEG_ERR_INTERNAL;
	if (err == SEG_OK)
		outcome = SEG__SUCCEEDED;
	else if (err == SEG_ERR_CONFLICT)
		outcome = SEG__LOST;
	else
		outcome = seg__conclude(jobs, slot, db, err);
	if (outcome == SEG__LOST)
		seg_info("job %lld (%s): attempt %d lost its claim; dropped", (long long)claim.id,
			 claim.kind, claim.attempt);
	seg__observe(jobs, kind ? kind->name : "unknown", outcome,
		     (double)(seg__mono_ms() - start) / 1000.0);

	pthread_mutex_lock(&jobs->lock);
	slot->busy = false;
	claim = slot->claim;
	memset(&slot->claim, 0, sizeof(slot->claim));
	pthread_mutex_unlock(&jobs->lock);
	seg_job_claim_release(&claim);
	return true;
}

static void *seg__worker_main(void *arg)
{
	struct seg__slot *slot = arg;
	struct seg_jobs *jobs = slot->jobs;

	while (!seg__load(&jobs->stopping)) {
		struct seg_db *db = NULL;
		bool ran = false;

		pthread_mutex_lock(&jobs->lock);
		unsigned long seen = jobs->gen;
		pthread_mutex_unlock(&jobs->lock);

		if (seg_pool_acquire(jobs->pool, &db) == SEG_OK) {
			ran = seg__work_one(jobs, slot, db);
			seg_pool_release(jobs->pool, db);
		}
		if (ran)
			continue; /* there may be more */
		pthread_mutex_lock(&jobs->lock);
		seg__wait(jobs, seen, (int64_t)jobs->poll_s * 1000);
		pthread_mutex_unlock(&jobs->lock);
	}
	return NULL;
}

/* --- the listener --- */

/* Renews the leases of the running jobs and passes on cancel requests and lost claims. */
static void seg__heartbeat(struct seg_jobs *jobs, struct seg_db *db)
{
	struct seg_job_beat *beats = seg_calloc((size_t)jobs->nslots, sizeof(*beats));
	size_t n = 0;

	pthread_mutex_lock(&jobs->lock);
	for (int i = 0; i < jobs->nslots; i++) {
		struct seg__slot *s = &jobs->slots[i];
		if (!s->busy)
			continue;
		beats[n].id = s->claim.id;
		beats[n].attempt = s->claim.attempt;
		beats[n].progress = (double)__atomic_load_n(&s->progress, __ATOMIC_SEQ_CST) / 1e6;
		n++;
	}
	pthread_mutex_unlock(&jobs->lock);
	if (n > 0) {
		enum seg_err err = seg_db_job_heartbeat(db, &jobs->policy, beats, n);
		pthread_mutex_lock(&jobs->lock);
		if (err)
			jobs->heartbeat_failures++;
		for (int i = 0; i < jobs->nslots && !err; i++) {
			struct seg__slot *s = &jobs->slots[i];
			for (size_t b = 0; b < n && s->busy; b++) {
				if (beats[b].id != s->claim.id ||
				    beats[b].attempt != s->claim.attempt)
					continue;
				if (beats[b].cancel && !seg__load(&s->cancel))
					seg_info("job %lld: cancel requested",
						 (long long)beats[b].id);
				if (beats[b].cancel)
					seg__store(&s->cancel, true);
				if (!beats[b].held)
					seg__store(&s->lost, true);
			}
		}
		pthread_mutex_unlock(&jobs->lock);
		if (err)
			seg_warn("could not renew the leases of %zu running jobs: %s", n,
				 seg_err_detail(err));
	}
	free(beats);
}

static void seg__housekeeping(struct seg_jobs *jobs, struct seg_db *db, bool rescue, bool schedule)
{
	struct seg_job_depth depth;
	int requeued = 0, ended = 0, queued = 0, purged = 0, dropped = 0;

	seg__heartbeat(jobs, db);
	if (rescue && seg_db_job_rescue(db, &jobs->policy, &requeued, &ended) == SEG_OK &&
	    requeued > 0)
		seg__wake_workers(jobs);
	if (schedule && !seg__load(&jobs->stopping) &&
	    seg_db_job_schedule_refresh(db, jobs->config->refresh_interval, &queued) == SEG_OK &&
	    queued > 0) {
		seg_info("scheduled %d segment refreshes", queued);
		seg__wake_workers(jobs);
	}
	if (schedule && !seg__load(&jobs->stopping) &&
	    seg_db_analysis_schedule(db, &queued) == SEG_OK && queued > 0) {
		seg_info("scheduled %d analysis runs", queued);
		seg__wake_workers(jobs);
	}
	if (schedule && jobs->config->job_retention > 0 &&
	    seg_db_job_purge(db, jobs->config->job_retention, &purged) == SEG_OK && purged > 0)
		seg_info("deleted %d jobs finished more than %d s ago", purged,
			 jobs->config->job_retention);
	/* every beat: a retired store holds disk until it goes, and the look is one index probe */
	if (!seg__load(&jobs->stopping) && seg_db_analysis_stores_drop(db, &dropped) == SEG_OK &&
	    dropped > 0)
		seg_debug("dropped %d retired analysis stores", dropped);
	bool known = seg_db_job_depth(db, &depth) == SEG_OK;
	pthread_mutex_lock(&jobs->lock);
	jobs->rescued_requeued += (uint64_t)requeued;
	jobs->rescued_ended += (uint64_t)ended;
	if (known)
		jobs->depth = depth;
	jobs->depth_known = known;
	pthread_mutex_unlock(&jobs->lock);
}

static void *seg__listener_main(void *arg)
{
	struct seg_jobs *jobs = arg;
	struct seg_db *db = NULL;
	int listening = 0;
	int64_t now = seg__mono_ms();
	int64_t next_beat = now, next_poll = now + jobs->poll_s * 1000;
	int64_t next_schedule = now;
	/* scheduled refreshes: looked for ten times an interval, at most once a minute */
	int64_t schedule_ms = (int64_t)jobs->config->refresh_interval * 100;
	if (schedule_ms > 60000)
		schedule_ms = 60000;
	if (schedule_ms < 1000)
		schedule_ms = 1000;

	while (!seg__load(&jobs->ending)) {
		bool woken = false;
		if (!db && seg_pool_acquire(jobs->pool, &db) != SEG_OK) {
			db = NULL;
			usleep(500 * 1000);
			continue;
		}
		if (seg_db_job_listen_wait(db, &listening, SEG__LISTEN_SLICE_MS, &woken) !=
		    SEG_OK) {
			seg_pool_release(jobs->pool, db);
			db = NULL;
			listening = 0;
			usleep(500 * 1000);
			continue;
		}
		now = seg__mono_ms();
		if (now >= next_poll) {
			woken = true;
			next_poll = now + jobs->poll_s * 1000;
		}
		if (woken && !seg__load(&jobs->stopping))
			seg__wake_workers(jobs);
		if (now >= next_beat) {
			bool schedule = now >= next_schedule;
			seg__housekeeping(jobs, db, true, schedule);
			next_beat = now + jobs->heartbeat_s * 1000;
			if (schedule)
				next_schedule = now + schedule_ms;
		}
	}
	seg_pool_release(jobs->pool, db);
	return NULL;
}

/* --- life cycle --- */

struct seg_jobs *seg_jobs_start(const struct seg_config *config)
{
	struct seg_jobs *jobs = seg_calloc(1, sizeof(*jobs));
	pthread_condattr_t ca;
	char host[64] = "";
	size_t nkinds = 0;

	jobs->config = config;
	jobs->policy.lease_s = config->job_lease;
	jobs->policy.backoff_s = config->job_backoff;
	jobs->policy.backoff_cap_s = config->job_backoff * 120;
	jobs->heartbeat_s = config->job_heartbeat;
	if (jobs->heartbeat_s * 3 > jobs->policy.lease_s) {
		jobs->heartbeat_s = jobs->policy.lease_s / 3 > 0 ? jobs->policy.lease_s / 3 : 1;
		seg_warn("SEGMENTD_JOB_HEARTBEAT lowered to %d s, a third of the lease",
			 jobs->heartbeat_s);
	}
	jobs->poll_s = config->job_poll;
	seg_analysis_memory_limit_set((size_t)config->analysis_memory_mb << 20);
	gethostname(host, sizeof(host) - 1);
	snprintf(jobs->worker_name, sizeof(jobs->worker_name), "%s:%d", host, (int)getpid());
	/* the kinds this daemon claims; those for tests only with SEGMENTD_TEST_JOBS=1 */
	const char *test = getenv("SEGMENTD_TEST_JOBS");
	bool tests = test && strcmp(test, "1") == 0;
	for (const struct seg_job_kind *k = seg_job_kinds; k->name; k++)
		nkinds++;
	jobs->kinds = seg_calloc(nkinds + 1, sizeof(*jobs->kinds));
	nkinds = 0;
	for (const struct seg_job_kind *k = seg_job_kinds; k->name; k++)
		if (tests || strncmp(k->name, "test.", 5) != 0)
			jobs->kinds[nkinds++] = k->name;

	struct seg_pool_config pc = {
		.conninfo = config->database_url,
		.size = config->workers + 1,
		.statement_timeout_ms = config->statement_timeout_ms,
		.acquire_timeout_ms = 5000,
		.watchdog = true,
	};
	jobs->pool = seg_pool_new(&pc);
	pthread_mutex_init(&jobs->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&jobs->wake, &ca);
	pthread_condattr_destroy(&ca);

	jobs->nslots = config->workers;
	jobs->slots = seg_calloc((size_t)(jobs->nslots ? jobs->nslots : 1), sizeof(*jobs->slots));
	if (pthread_create(&jobs->listener, NULL, seg__listener_main, jobs) != 0)
		goto fail;
	jobs->listener_started = true;
	for (int i = 0; i < jobs->nslots; i++) {
		struct seg__slot *s = &jobs->slots[i];
		s->jobs = jobs;
		s->index = i;
		if (pthread_create(&s->thread, NULL, seg__worker_main, s) != 0)
			goto fail;
		s->started = true;
	}
	seg_info("%d job workers as %s (lease %d s, heartbeat %d s)", jobs->nslots,
		 jobs->worker_name, jobs->policy.lease_s, jobs->heartbeat_s);
	return jobs;
fail:
	seg_error("could not start the job threads");
	seg_jobs_quiesce(jobs);
	seg_jobs_stop(jobs);
	return NULL;
}

void seg_jobs_quiesce(struct seg_jobs *jobs)
{
	if (!jobs)
		return;
	pthread_mutex_lock(&jobs->lock);
	seg__store(&jobs->stopping, true);
	pthread_cond_broadcast(&jobs->wake);
	pthread_mutex_unlock(&jobs->lock);
}

int seg_jobs_running(struct seg_jobs *jobs)
{
	int n = 0;
	if (!jobs)
		return 0;
	pthread_mutex_lock(&jobs->lock);
	for (int i = 0; i < jobs->nslots; i++)
		n += jobs->slots[i].busy;
	pthread_mutex_unlock(&jobs->lock);
	return n;
}

void seg_jobs_stop(struct seg_jobs *jobs)
{
	if (!jobs)
		return;
	seg_jobs_quiesce(jobs);
	int running = seg_jobs_running(jobs);
	if (running > 0) {
		seg_warn("%d running jobs did not stop within the shutdown timeout; their leases "
			 "will run out and another daemon take them over",
			 running);
		seg_pool_interrupt(jobs->pool);
	}
	for (int i = 0; i < jobs->nslots; i++)
		if (jobs->slots[i].started)
			pthread_join(jobs->slots[i].thread, NULL);
	seg__store(&jobs->ending, true);
	if (jobs->listener_started)
		pthread_join(jobs->listener, NULL);
	seg_pool_free(jobs->pool);
	pthread_cond_destroy(&jobs->wake);
	pthread_mutex_destroy(&jobs->lock);
	free(jobs->series);
	free(jobs->slots);
	free(jobs->kinds);
	free(jobs);
}

void seg_jobs_metrics(struct seg_jobs *jobs, struct seg_buf *out)
{
	if (!jobs)
		return;
	pthread_mutex_lock(&jobs->lock);
	int running = 0;
	for (int i = 0; i < jobs->nslots; i++)
		running += jobs->slots[i].busy;
	seg_buf_addf(out,
		     "# HELP segmentd_job_workers Job worker threads of this daemon.\n"
		     "# TYPE segmentd_job_workers gauge\nsegmentd_job_workers %d\n"
		     "# HELP segmentd_job_workers_busy Job workers running a job now.\n"
		     "# TYPE segmentd_job_workers_busy gauge\nsegmentd_job_workers_busy %d\n",
		     jobs->nslots, running);
	if (jobs->depth_known)
		seg_buf_addf(out,
			     "# HELP segmentd_jobs Jobs of every daemon by state, sampled every "
			     "heartbeat.\n# TYPE segmentd_jobs gauge\n"
			     "segmentd_jobs{state=\"queued\"} %lld\n"
			     "segmentd_jobs{state=\"delayed\"} %lld\n"
			     "segmentd_jobs{state=\"running\"} %lld\n",
			     (long long)jobs->depth.ready, (long long)jobs->depth.delayed,
			     (long long)jobs->depth.running);
	seg_buf_addf(out,
		     "# HELP segmentd_job_claims_total Jobs this daemon claimed.\n"
		     "# TYPE segmentd_job_claims_total counter\nsegmentd_job_claims_total %llu\n"
		     "# HELP segmentd_job_rescues_total Jobs whose lease ran out, taken over by "
		     "this daemon, by what became of them.\n"
		     "# TYPE segmentd_job_rescues_total counter\n"
		     "segmentd_job_rescues_total{result=\"requeued\"} %llu\n"
		     "segmentd_job_rescues_total{result=\"ended\"} %llu\n"
		     "# HELP segmentd_job_heartbeat_failures_total Heartbeats that failed.\n"
		     "# TYPE segmentd_job_heartbeat_failures_total counter\n"
		     "segmentd_job_heartbeat_failures_total %llu\n",
		     (unsigned long long)jobs->claims, (unsigned long long)jobs->rescued_requeued,
		     (unsigned long long)jobs->rescued_ended,
		     (unsigned long long)jobs->heartbeat_failures);
	seg_buf_addstr(out, "# HELP segmentd_job_attempts_total Attempts by kind and outcome "
			    "(retried: failed and queued again).\n"
			    "# TYPE segmentd_job_attempts_total counter\n");
	for (size_t i = 0; i < jobs->nseries; i++)
		seg_buf_addf(out, "segmentd_job_attempts_total{kind=\"%s\",outcome=\"%s\"} %llu\n",
			     jobs->series[i].kind, seg__outcome_names[jobs->series[i].outcome],
			     (unsigned long long)jobs->series[i].count);
	seg_buf_addstr(out, "# HELP segmentd_job_duration_seconds Time an attempt ran, by kind "
			    "and outcome.\n# TYPE segmentd_job_duration_seconds histogram\n");
	for (size_t i = 0; i < jobs->nseries; i++) {
		const struct seg__series *s = &jobs->series[i];
		char labels[160];
		snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", s->kind,
			 seg__outcome_names[s->outcome]);
		for (size_t b = 0; b < SEG__NBUCKETS; b++)
			seg_buf_addf(out,
				     "segmentd_job_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
				     labels, seg__buckets[b], (unsigned long long)s->buckets[b]);
		seg_buf_addf(out,
			     "segmentd_job_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n"
			     "segmentd_job_duration_seconds_sum{%s} %.6f\n"
			     "segmentd_job_duration_seconds_count{%s} %llu\n",
			     labels, (unsigned long long)s->count, labels, s->sum, labels,
			     (unsigned long long)s->count);
	}
	pthread_mutex_unlock(&jobs->lock);
}

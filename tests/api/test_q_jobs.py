"""The job queue (SPEC §5.6, §7; server/README.md "Jobs"): GET /v1/jobs, GET /v1/jobs/{id},
POST /v1/jobs/{id}:cancel, and the engine itself on daemons of their own: retries with backoff
then failed with a problem object, cancellation of queued and running jobs, a claim that was
lost, the hand-back at SIGTERM, a daemon killed with kill -9 while it runs a job (rescued by
another daemon, completed once), and the scheduled refresh.

Jobs are queued with SQL: the kind "test.idle" has no worker anywhere (it stays queued), and
"test.sleep" runs only on daemons started with SEGMENTD_TEST_JOBS=1 (handlers/jobkinds.c). The
tests of segment refreshes run on a database of their own, so that only their own daemons (and
not the harness's main daemon) claim the refresh jobs.
"""
import json
from decimal import Decimal
import os
import shutil
import signal
import subprocess
import time

# short leases and fast retries for the daemons of these tests
FAST = {"SEGMENTD_TEST_JOBS": "1", "SEGMENTD_JOB_LEASE": "3", "SEGMENTD_JOB_HEARTBEAT": "1",
        "SEGMENTD_JOB_POLL": "1", "SEGMENTD_JOB_BACKOFF": "0.2"}


def psql(t, sql):
    """Runs SQL on the test database; returns the rows (tab-separated fields)."""
    exe = shutil.which("psql")
    if not exe:
        raise t.Skip("psql not found")
    p = subprocess.run([exe, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                        "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    t.check(p.returncode == 0, "psql failed: %s" % p.stderr.decode()[-500:])
    return [line.split("\t") for line in p.stdout.decode().splitlines() if line]


def tenant_id(t, name):
    return int(psql(t, "SELECT id FROM tenants WHERE name = '%s'" % name)[0][0])


def enqueue(t, kind, params=None, tenant=None, max_attempts=5):
    """Queues a job with SQL; returns its id as the API shows it (a string)."""
    tid = tenant_id(t, tenant or t.tenant_a)
    rows = psql(t, "INSERT INTO jobs (tenant_id, kind, params, max_attempts) "
                   "VALUES (%d, '%s', '%s', %d) RETURNING id"
                % (tid, kind, json.dumps(params or {}), max_attempts))
    return rows[0][0]


def job(t, jid, daemon=None, key="A"):
    r = t.req("GET", "/v1/jobs/" + jid, daemon=daemon, key=key)
    t.expect_json(r, 200)
    return r.json


def wait_job(t, jid, cond, what, timeout=20, daemon=None, key="A"):
    deadline = time.time() + timeout
    j = None
    while time.time() < deadline:
        j = job(t, jid, daemon, key)
        if cond(j):
            return j
        time.sleep(0.1)
    t.fail("job %s: not %s within %ds; last seen %s" % (jid, what, timeout, json.dumps(j)))


def cancel_leftovers(t, ids):
    for jid in ids:
        t.req("POST", "/v1/jobs/%s:cancel" % jid)


def test_jobs_get_list_and_cancel_queued(t):
    ids = [enqueue(t, "test.idle", {"n": i}) for i in range(3)]
    j = job(t, ids[0])
    want = {"id", "kind", "target", "status", "progress", "attempts", "max_attempts", "params",
            "result", "error", "created_at", "started_at", "finished_at", "run_after"}
    t.check(want <= set(j), "a job lacks members %s: %r" % (sorted(want - set(j)), j))
    t.eq(j["id"], ids[0], "id (a string)")
    t.eq((j["kind"], j["target"], j["status"], j["attempts"], j["max_attempts"], j["params"],
          j["result"], j["error"], j["started_at"], j["finished_at"]),
         ("test.idle", None, "queued", 0, 5, {"n": 0}, None, None, None, None), "a queued job")

    # newest first, paginated, filtered
    seen = []
    cursor = None
    for _ in range(5):
        path = "/v1/jobs?kind=test.idle&status=queued&limit=2"
        if cursor:
            path += "&cursor=" + cursor
        r = t.req("GET", path)
        t.expect_json(r, 200)
        seen += [i["id"] for i in r.json["items"]]
        t.check(all(i["kind"] == "test.idle" and i["status"] == "queued"
                    for i in r.json["items"]), "the filter let other jobs through", r)
        cursor = r.json["next_cursor"]
        if not cursor or set(ids) <= set(seen):
            break
    t.eq(seen[:3], list(reversed(ids)), "the newest jobs first")
    t.eq([int(x) for x in seen], sorted((int(x) for x in seen), reverse=True), "order")

    # cancelling a queued job ends it at once; again changes nothing
    r = t.req("POST", "/v1/jobs/%s:cancel" % ids[1])
    t.expect_json(r, 202)
    t.eq((r.json["id"], r.json["status"]), (ids[1], "cancelled"), "the cancelled job", r)
    t.check(r.json["finished_at"], "a cancelled job has finished_at", r)
    t.eq(r.header("location"), "/v1/jobs/" + ids[1], "Location", r)
    r = t.req("POST", "/v1/jobs/%s:cancel" % ids[1])
    t.expect_json(r, 202)
    t.eq(r.json["status"], "cancelled", "cancelled twice", r)
    r = t.req("GET", "/v1/jobs?status=cancelled&kind=test.idle")
    t.check(ids[1] in [i["id"] for i in r.json["items"]], "the cancelled job by status", r)
    r = t.req("GET", "/v1/jobs?status=queued&kind=test.idle")
    t.check(ids[1] not in [i["id"] for i in r.json["items"]], "no longer queued", r)

    # another tenant sees none of it
    t.problem(t.req("GET", "/v1/jobs/" + ids[0], key="B"), 404)
    t.problem(t.req("POST", "/v1/jobs/%s:cancel" % ids[0], key="B"), 404)
    r = t.req("GET", "/v1/jobs?kind=test.idle", key="B")
    t.expect_json(r, 200)
    t.check(not set(ids) & {i["id"] for i in r.json["items"]}, "tenant B lists A's jobs", r)
    t.eq(job(t, ids[0])["status"], "queued", "B's cancel changed A's job")

    # bad input
    t.problem(t.req("GET", "/v1/jobs/999999999999"), 404)
    t.problem(t.req("POST", "/v1/jobs/999999999999:cancel"), 404)
    for bad in ("abc", "12x", "1234567890123456789", "-1"):
        t.problem(t.req("GET", "/v1/jobs/" + bad), 422)
    t.problem(t.req("GET", "/v1/jobs?status=done"), 422)
    t.problem(t.req("GET", "/v1/jobs?cursor=zzz"), 400)
    t.problem(t.req("GET", "/v1/jobs?limit=0"), 400, 422)
    t.problem(t.req("GET", "/v1/jobs?colour=red"), 400)
    t.problem(t.req("GET", "/v1/jobs/%s?x=1" % ids[0]), 400)
    t.problem(t.req("POST", "/v1/jobs/%s:cancel" % ids[0], key="Ar"), 403)
    t.problem(t.req("DELETE", "/v1/jobs/" + ids[0]), 405)
    t.problem(t.req("GET", "/v1/jobs", key=None), 401)
    cancel_leftovers(t, ids)


def test_jobs_retry_with_backoff_then_failed(t):
    d = t.start_daemon([], "jobs-retry", env=FAST)
    try:
        t0 = time.time()
        bad = enqueue(t, "test.sleep", {"fail": True}, max_attempts=3)
        good = enqueue(t, "test.sleep", {"seconds": 0.3})
        j = wait_job(t, bad, lambda j: j["status"] == "failed", "failed", daemon=d)
        took = time.time() - t0
        t.eq(j["attempts"], 3, "attempts of a job that failed 3 times")
        e = j["error"] or {}
        t.eq((e.get("type"), e.get("title"), e.get("status")),
             ("urn:segmentd:problem:internal", "Internal error", 500), "the error's problem")
        t.check("attempt 3 of 3" in e.get("detail", "") and "no attempts left" in e["detail"],
                "the error says why: %r" % e)
        t.check(j["finished_at"], "a failed job has finished_at")
        # backoff 0.2 s then 0.8 s: the three attempts cannot have ended sooner
        t.check(took >= 1.0, "3 attempts with backoffs 0.2 s and 0.8 s took only %.2fs" % took)

        j = wait_job(t, good, lambda j: j["status"] == "succeeded", "succeeded", daemon=d)
        t.eq((j["attempts"], j["progress"], j["result"], j["error"]),
             (1, 1, {"slept": Decimal("0.3")}, None), "a job that succeeded")
        t.check(j["started_at"] and j["finished_at"], "started_at and finished_at", j)

        m = t.req("GET", "/metrics", daemon=d, key=None).body.decode()
        for line in ('segmentd_job_attempts_total{kind="test.sleep",outcome="retried"} 2',
                     'segmentd_job_attempts_total{kind="test.sleep",outcome="failed"} 1',
                     'segmentd_job_attempts_total{kind="test.sleep",outcome="succeeded"} 1',
                     'segmentd_job_duration_seconds_count{kind="test.sleep",outcome="failed"} 1',
                     'segmentd_jobs{state="queued"}', 'segmentd_job_claims_total 4'):
            t.check(line in m, "/metrics lacks %r" % line)
    finally:
        t.stop_daemon(d)


def test_jobs_cancel_running(t):
    d = t.start_daemon([], "jobs-cancel", env=FAST)
    ids = []
    try:
        # one sleeps outside its transaction, one holding its row (as a segment refresh does)
        free = enqueue(t, "test.sleep", {"seconds": 30})
        held = enqueue(t, "test.sleep", {"seconds": 30, "hold": True})
        ids = [free, held]
        wait_job(t, free, lambda j: j["status"] == "running" and j["progress"] > 0,
                 "running with progress", daemon=d)
        wait_job(t, held, lambda j: j["status"] == "running", "running", daemon=d)
        for jid in ids:
            t0 = time.time()
            r = t.req("POST", "/v1/jobs/%s:cancel" % jid)
            t.expect_json(r, 202)
            t.check(time.time() - t0 < 2, "cancelling a running job waited %.1fs"
                    % (time.time() - t0))
            t.eq((r.json["status"], r.json["cancel_requested"]), ("running", True),
                 "a running job asked to stop", r)
        for jid in ids:
            j = wait_job(t, jid, lambda j: j["status"] != "running", "stopped", timeout=10,
                         daemon=d)
            t.eq((j["status"], j["attempts"], j["result"]), ("cancelled", 1, None),
                 "job %s after its cancel" % jid)
    finally:
        cancel_leftovers(t, ids)
        t.stop_daemon(d)


def test_jobs_lost_claim_changes_nothing(t):
    d = t.start_daemon([], "jobs-lost", env=FAST)
    jid = None
    try:
        jid = enqueue(t, "test.sleep", {"seconds": 3})
        wait_job(t, jid, lambda j: j["status"] == "running", "running", daemon=d)
        # someone else takes the job over (as a rescue would): the claim is lost
        psql(t, "UPDATE jobs SET status = 'queued', run_after = now() + interval '1 hour', "
                "lease_until = NULL WHERE id = %s" % jid)
        time.sleep(5)
        j = job(t, jid)
        t.eq((j["status"], j["result"], j["attempts"]), ("queued", None, 1),
             "a worker whose claim was lost wrote nothing")
        log = d.stderr_text()
        t.check("lost its claim" in log, "the daemon did not log the lost claim")
    finally:
        if jid:
            cancel_leftovers(t, [jid])
        t.stop_daemon(d)


def test_jobs_sigterm_hands_back(t):
    d = t.start_daemon([], "jobs-handback", env=FAST)
    jid = enqueue(t, "test.sleep", {"seconds": 30})
    try:
        wait_job(t, jid, lambda j: j["status"] == "running", "running", daemon=d)
        rc, waited = d.sigterm(timeout=10)
        t.eq(rc, 0, "exit status after SIGTERM with a job running")
        t.check(waited < 5, "the shutdown took %.1fs with a job to hand back" % waited)
        j = job(t, jid)
        t.eq((j["status"], j["attempts"]), ("queued", 0),
             "a job handed back at shutdown (its attempt not counted)")
        log = d.stderr_text()
        t.check("handed back" in log, "the daemon did not log the hand-back")
    finally:
        cancel_leftovers(t, [jid])
        t.stop_daemon(d)


def worker_pid(t, jid):
    rows = psql(t, "SELECT worker FROM jobs WHERE id = %s AND status = 'running'" % jid)
    if not rows or not rows[0][0]:
        return None
    return int(rows[0][0].rsplit(":", 1)[1])


def test_jobs_kill9_rescued_and_completed_once(t):
    """Two daemons; the one running a job is killed with kill -9. Its lease runs out, a rescue
    (by any daemon) queues the job again with the attempt counted, and the survivor runs it to
    completion: once, with the result of the second attempt."""
    d1 = t.start_daemon([], "jobs-kill-1", env=FAST)
    d2 = t.start_daemon([], "jobs-kill-2", env=FAST)
    ids = []
    try:
        for params in ({"seconds": 4}, {"seconds": 4, "hold": True}):
            jid = enqueue(t, "test.sleep", params)
            ids.append(jid)
            wait_job(t, jid, lambda j: j["status"] == "running", "running")
            pid = worker_pid(t, jid)
            victim = [d for d in (d1, d2) if d.proc.pid == pid and d.alive()]
            t.check(victim, "job %s runs on pid %s, not one of the test daemons" % (jid, pid))
            time.sleep(0.5)
            killed = victim[0]
            killed.proc.send_signal(signal.SIGKILL)
            killed.proc.wait()
            killed.stopped = True  # not a clean exit, on purpose
            killed.stderr.close()
            j = wait_job(t, jid, lambda j: j["status"] == "succeeded", "succeeded", timeout=30)
            t.eq((j["attempts"], j["result"]), (2, {"slept": 4}),
                 "job %s (%s) after its daemon was killed" % (jid, params))
            t.check((j["error"] or {}).get("type") is None,
                    "a job that succeeded keeps no error: %r" % j["error"])
            # the survivor takes the next job; a new daemon replaces the dead one
            if killed is d1:
                d1 = t.start_daemon([], "jobs-kill-3", env=FAST)
            else:
                d2 = t.start_daemon([], "jobs-kill-4", env=FAST)
        rescued = psql(t, "SELECT count(*) FROM jobs WHERE id IN (%s) AND status = 'succeeded'"
                       % ",".join(ids))
        t.eq(rescued, [["2"]], "both jobs succeeded")
    finally:
        cancel_leftovers(t, ids)
        for d in (d1, d2):
            if d.alive():
                t.stop_daemon(d)


class OwnDb:
    """A fresh database on the test cluster, migrated, with one tenant and its key; daemons
    started with self.env use it (and only it)."""

    def __init__(self, t, tag):
        self.t = t
        self.name = "segq_%s_%s" % (tag, t.run_tag)
        psql(t, "DROP DATABASE IF EXISTS %s" % self.name)
        psql(t, "CREATE DATABASE %s" % self.name)
        self.env = {"DATABASE_URL": "dbname=" + self.name}
        self.cli("migrate")
        self.tenant = "own-" + t.run_tag
        self.key = self.cli("keys", "create", "--tenant", self.tenant,
                            "--scopes", "read,write,admin").strip().splitlines()[-1]

    def cli(self, *args):
        env = dict(self.t.env)
        env.update(self.env)
        p = subprocess.run([self.t.binary] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=120)
        self.t.check(p.returncode == 0, "segmentd %s: %s" % (" ".join(args),
                                                               p.stderr.decode()[-800:]))
        return p.stdout.decode()

    def sql(self, query):
        exe = shutil.which("psql")
        p = subprocess.run([exe, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-d", self.name, "-c", query], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.t.check(p.returncode == 0, "psql failed: %s" % p.stderr.decode()[-500:])
        return [line.split("\t") for line in p.stdout.decode().splitlines() if line]

    def tenant_id(self):
        return int(self.sql("SELECT id FROM tenants WHERE name = '%s'" % self.tenant)[0][0])

    def daemon(self, name, extra=None):
        env = dict(self.env)
        env.update(extra or {})
        return self.t.start_daemon([], name, env=env)

    def drop(self):
        psql(self.t, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)


def test_jobs_kill9_in_the_middle_of_a_refresh(t):
    """Two daemons on one database; the one running a segment refresh is killed with kill -9
    while the refresh is inside its transaction (its membership diff computed, waiting to lock a
    customer that psql holds). Its lease runs out, the other daemon rescues the job and runs it
    again: the job succeeds once (attempt 2), every member entered exactly once, the membership
    exactly the customers the rule matches."""
    if not shutil.which("psql"):
        raise t.Skip("psql not found")
    db = OwnDb(t, "kill")
    daemons = []
    holder = None
    try:
        d1 = db.daemon("refresh-kill-1", FAST)
        d2 = db.daemon("refresh-kill-2", FAST)
        daemons = [d1, d2]
        gold = ["k-%03d" % i for i in range(0, 60, 2)]
        for i in range(60):
            cid = "k-%03d" % i
            r = t.req("PUT", "/v1/customers/" + cid,
                      {"attributes": {"tier": "gold" if cid in gold else "silver"}},
                      key=db.key, daemon=d1)
            t.expect(r, 201)
        tid = db.tenant_id()
        sid = db.sql("INSERT INTO segments (tenant_id, name, type, rule) VALUES "
                     "(%d, 'gold', 'dynamic', '{\"attr\": \"tier\", \"op\": \"eq\", "
                     "\"value\": \"gold\"}') RETURNING id" % tid)[0][0]
        # psql holds one matching customer: the refresh computes its diff, then waits there
        holder = subprocess.Popen(
            [shutil.which("psql"), "-X", "-q", "-d", db.name, "-c",
             "BEGIN; SELECT 1 FROM customers WHERE tenant_id = %d AND id = 'k-030' FOR UPDATE;"
             " SELECT pg_sleep(10); COMMIT;" % tid],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        jid = db.sql("INSERT INTO jobs (tenant_id, kind, target) VALUES (%d, 'segment.refresh',"
                     " %s) RETURNING id; NOTIFY segmentd_jobs" % (tid, sid))[0][0]
        deadline = time.time() + 10
        waiting = []
        while time.time() < deadline and not waiting:
            waiting = db.sql("SELECT a.pid FROM pg_stat_activity a WHERE a.datname = "
                             "current_database() AND a.wait_event_type = 'Lock' AND a.query "
                             "LIKE '%%seg_refresh_delta%%'")
            time.sleep(0.1)
        t.check(waiting, "the refresh never waited on the held customer")
        worker = db.sql("SELECT worker FROM jobs WHERE id = %s" % jid)[0][0]
        pid = int(worker.rsplit(":", 1)[1])
        victim = [d for d in daemons if d.proc.pid == pid]
        t.check(victim, "the refresh runs on %s, not on a test daemon" % worker)
        killed = victim[0]
        killed.proc.send_signal(signal.SIGKILL)
        killed.proc.wait()
        killed.stopped = True  # not a clean exit, on purpose
        killed.stderr.close()
        survivor = d2 if killed is d1 else d1

        j = wait_job(t, jid, lambda j: j["status"] in ("succeeded", "failed"), "finished",
                     timeout=40, daemon=survivor, key=db.key)
        t.eq((j["status"], j["attempts"], j["result"]),
             ("succeeded", 2, {"size": 30, "entered": 30, "exited": 0}),
             "the refresh after its first daemon was killed")
        members = [r[0] for r in db.sql("SELECT customer_id FROM memberships WHERE "
                                        "segment_id = %s ORDER BY customer_id" % sid)]
        t.eq(members, gold, "the membership")
        changes = db.sql("SELECT customer_id, change, count(*) FROM changes WHERE segment_id = "
                         "%s GROUP BY 1, 2 ORDER BY 1, 2" % sid)
        t.eq(changes, [[c, "entered", "1"] for c in gold], "the change feed: each entered once")
        t.eq(db.sql("SELECT size FROM segments WHERE id = %s" % sid), [["30"]], "the size")
        t.eq(db.sql("SELECT count(*) FROM segment_history WHERE segment_id = %s" % sid),
             [["1"]], "one history point: one refresh applied")
    finally:
        if holder:
            holder.wait(timeout=30)
        for d in daemons:
            if not d.stopped:
                t.stop_daemon(d)
        db.drop()


def test_jobs_sigterm_while_a_refresh_is_blocked(t):
    """SIGTERM while a segment refresh waits on a lock and never reaches a check point: the
    daemon still exits 0 within SEGMENTD_SHUTDOWN_TIMEOUT (the refresh's database wait is cut
    short), and the job, whose lease then runs out, is completed by another daemon."""
    if not shutil.which("psql"):
        raise t.Skip("psql not found")
    db = OwnDb(t, "term")
    daemons = []
    holder = None
    try:
        d1 = db.daemon("refresh-term-1", dict(FAST, SEGMENTD_SHUTDOWN_TIMEOUT="2"))
        daemons = [d1]
        for i in range(10):
            r = t.req("PUT", "/v1/customers/t-%d" % i, {"attributes": {"n": i}}, key=db.key,
                      daemon=d1)
            t.expect(r, 201)
        tid = db.tenant_id()
        sid = db.sql("INSERT INTO segments (tenant_id, name, type, rule) VALUES (%d, 'big', "
                     "'dynamic', '{\"attr\": \"n\", \"op\": \"gte\", \"value\": 5}') "
                     "RETURNING id" % tid)[0][0]
        holder = subprocess.Popen(
            [shutil.which("psql"), "-X", "-q", "-d", db.name, "-c",
             "BEGIN; SELECT 1 FROM customers WHERE tenant_id = %d AND id = 't-7' FOR UPDATE;"
             " SELECT pg_sleep(8); COMMIT;" % tid],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        jid = db.sql("INSERT INTO jobs (tenant_id, kind, target) VALUES (%d, 'segment.refresh',"
                     " %s) RETURNING id; NOTIFY segmentd_jobs" % (tid, sid))[0][0]
        deadline = time.time() + 10
        waiting = []
        while time.time() < deadline and not waiting:
            waiting = db.sql("SELECT a.pid FROM pg_stat_activity a WHERE a.datname = "
                             "current_database() AND a.wait_event_type = 'Lock' AND a.query "
                             "LIKE '%%seg_refresh_delta%%'")
            time.sleep(0.1)
        t.check(waiting, "the refresh never waited on the held customer")
        rc, took = d1.sigterm(timeout=15)
        t.eq(rc, 0, "exit status after SIGTERM with a blocked refresh")
        t.check(took < 5, "SIGTERM with SEGMENTD_SHUTDOWN_TIMEOUT=2 took %.1fs" % took)
        t.check("did not stop within the shutdown timeout" in d1.stderr_text(), "the daemon did not say it left "
                "a job running")
        d2 = db.daemon("refresh-term-2", FAST)
        daemons.append(d2)
        j = wait_job(t, jid, lambda j: j["status"] in ("succeeded", "failed"), "finished",
                     timeout=40, daemon=d2, key=db.key)
        t.eq((j["status"], j["result"]), ("succeeded", {"size": 5, "entered": 5, "exited": 0}),
             "the refresh, completed by another daemon")
        t.eq(db.sql("SELECT count(*) FROM memberships WHERE segment_id = %s" % sid), [["5"]],
             "the membership")
    finally:
        if holder:
            holder.wait(timeout=30)
        for d in daemons:
            t.stop_daemon(d)
        db.drop()


def test_jobs_scheduled_refresh_queued_once(t):
    """SEGMENTD_REFRESH_INTERVAL: a clock-dependent dynamic segment not refreshed within the
    interval gets one segment.refresh job, even with several daemons scheduling; then (with a
    worker) it is refreshed, and again once the interval has passed."""
    if not shutil.which("psql"):
        raise t.Skip("psql not found")
    db = OwnDb(t, "sched")
    daemons = []
    try:
        tid = db.tenant_id()
        sid = db.sql("INSERT INTO segments (tenant_id, name, type, rule, clock, refreshed_at) "
                     "VALUES (%d, 'recent', 'dynamic', '{\"attr\": \"x\", \"op\": "
                     "\"exists\"}', true, now() - interval '1 hour') RETURNING id" % tid)[0][0]
        # a segment without a clock dependency is left alone
        db.sql("INSERT INTO segments (tenant_id, name, type, rule, refreshed_at) VALUES (%d, "
               "'still', 'dynamic', '{\"attr\": \"x\", \"op\": \"exists\"}', "
               "now() - interval '1 hour')" % tid)
        idle = {"SEGMENTD_REFRESH_INTERVAL": "1", "SEGMENTD_WORKERS": "0",
                "SEGMENTD_JOB_HEARTBEAT": "1"}
        daemons = [db.daemon("sched-1", idle), db.daemon("sched-2", idle)]
        deadline = time.time() + 10
        rows = []
        while time.time() < deadline and not rows:
            rows = db.sql("SELECT id, status FROM jobs WHERE kind = 'segment.refresh'")
            time.sleep(0.2)
        t.check(rows, "no refresh was queued within 10 s")
        time.sleep(3)  # both daemons look again, several times
        rows = db.sql("SELECT target, status FROM jobs WHERE kind = 'segment.refresh'")
        t.eq(rows, [[sid, "queued"]], "refresh jobs (only the clock-dependent segment, once)")

        # a daemon with a worker runs it; the interval passes; it is queued and run again
        daemons.append(db.daemon("sched-3", dict(idle, SEGMENTD_WORKERS="1")))
        deadline = time.time() + 20
        done = []
        while time.time() < deadline and len(done) < 2:
            done = db.sql("SELECT id FROM jobs WHERE kind = 'segment.refresh' AND target = %s "
                          "AND status = 'succeeded'" % sid)
            time.sleep(0.2)
        t.check(len(done) >= 2, "the scheduled refresh did not run twice in 20 s: %r"
                % db.sql("SELECT id, status, error FROM jobs"))
        t.check(db.sql("SELECT refreshed_at IS NOT NULL FROM segments WHERE id = %s" % sid)
                == [["t"]], "refreshed_at is set")
        busy = db.sql("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
        t.check(int(busy[0][0]) <= 1, "more than one refresh waiting: %r" % busy)
    finally:
        for d in daemons:
            t.stop_daemon(d)
        db.drop()


def test_jobs_finished_are_deleted_after_the_retention(t):
    """SEGMENTD_JOB_RETENTION: a finished job older than the retention is deleted (its GET
    answers 404, its cancel request goes with it); a recent one, a queued one and a running one
    stay."""
    if not shutil.which("psql"):
        raise t.Skip("psql not found")
    db = OwnDb(t, "retain")
    daemons = []
    try:
        tid = db.tenant_id()
        old = db.sql("INSERT INTO jobs (tenant_id, kind, status, finished_at) VALUES "
                     "(%d, 'test.sleep', 'succeeded', now() - interval '2 hours'), "
                     "(%d, 'test.sleep', 'failed', now() - interval '3 hours'), "
                     "(%d, 'test.sleep', 'cancelled', now() - interval '2 hours') "
                     "RETURNING id" % (tid, tid, tid))
        old = [r[0] for r in old]
        db.sql("INSERT INTO job_cancel_requests (job_id) VALUES (%s)" % old[2])
        keep = db.sql("INSERT INTO jobs (tenant_id, kind, status, finished_at, run_after) VALUES "
                      "(%d, 'test.sleep', 'succeeded', now() - interval '10 minutes', now()), "
                      "(%d, 'test.sleep', 'queued', NULL, now() + interval '1 day'), "
                      "(%d, 'test.sleep', 'running', NULL, now()) RETURNING id"
                      % (tid, tid, tid))
        keep = [r[0] for r in keep]
        env = {"SEGMENTD_REFRESH_INTERVAL": "1", "SEGMENTD_WORKERS": "0",
               "SEGMENTD_JOB_HEARTBEAT": "1", "SEGMENTD_JOB_RETENTION": "3600"}
        daemons = [db.daemon("retain-1", env)]
        deadline = time.time() + 15
        left = None
        while time.time() < deadline:
            left = sorted(r[0] for r in db.sql("SELECT id FROM jobs"))
            if left == sorted(keep):
                break
            time.sleep(0.2)
        t.eq(left, sorted(keep), "the jobs left after the retention pass")
        t.eq(db.sql("SELECT count(*) FROM job_cancel_requests"), [["0"]],
             "the cancel request of a deleted job")
        r = t.req("GET", "/v1/jobs/%s" % old[0], key=db.key, daemon=daemons[0])
        t.problem(r, 404)
    finally:
        for d in daemons:
            t.stop_daemon(d)
        db.drop()

"""The job listener LISTENs again after PostgreSQL restarts. Runs late (with the other tests that
restart the pg_virtualenv cluster).

A daemon that polls the queue only every 600 s relies on NOTIFY segmentd_jobs to wake its
workers. A restart drops its listening connection, and with it the LISTEN: unless the listener
issues it again on its new connection, a job queued after the restart waits for the poll.
"""
import shutil
import subprocess
import time


def psql(t, sql):
    exe = shutil.which("psql")
    if not exe:
        raise t.Skip("psql not found")
    p = subprocess.run([exe, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    t.check(p.returncode == 0, "psql failed: %s" % p.stderr.decode()[-500:])
    return p.stdout.decode().split()


def queue_and_wait(t, d, tid, what):
    """Queues a test.sleep job with NOTIFY; returns seconds until it succeeded (or fails)."""
    jid = psql(t, "INSERT INTO jobs (tenant_id, kind, params) VALUES (%d, 'test.sleep', "
                  "'{\"seconds\": 0}') RETURNING id; NOTIFY segmentd_jobs" % tid)[0]
    t0 = time.time()
    while time.time() - t0 < 15:
        r = t.req("GET", "/v1/jobs/" + jid, daemon=d, expect_503=True)
        if r.status == 200 and r.json["status"] == "succeeded":
            return time.time() - t0
        time.sleep(0.1)
    psql(t, "UPDATE jobs SET status = 'cancelled' WHERE id = %s AND status = 'queued'" % jid)
    t.fail("%s: a job queued with NOTIFY did not run within 15 s" % what)


def main_daemon_reconnects(t):
    """Let the main daemon's pooled connections meet the restart before the next tests."""
    t0 = time.time()
    while time.time() - t0 < 15:
        if t.req("GET", "/v1/customers?limit=1", expect_503=True).status == 200:
            return
        time.sleep(0.3)


def test_listen_again_after_a_postgresql_restart(t):
    if not t.pg_cluster():
        raise t.Skip("no pg_virtualenv cluster to restart")
    env = {"SEGMENTD_TEST_JOBS": "1", "SEGMENTD_JOB_POLL": "600", "SEGMENTD_JOB_LEASE": "6",
           "SEGMENTD_JOB_HEARTBEAT": "1"}
    d = t.start_daemon([], "jobs-relisten", env=env)
    tid = int(psql(t, "SELECT id FROM tenants WHERE name = '%s'" % t.tenant_a)[0])
    try:
        time.sleep(1)  # the listener has connected and LISTENs
        took = queue_and_wait(t, d, tid, "before the restart")
        t.check(took < 5, "before the restart, a notified job waited %.1fs" % took)

        ok, out = t.pg_restart()
        t.check(ok, "could not restart PostgreSQL: %s" % out)
        t0 = time.time()
        while time.time() - t0 < 30:
            if t.req("GET", "/readyz", daemon=d, key=None, expect_503=True).status == 200:
                break
            time.sleep(0.2)
        time.sleep(3)  # the listener is back on a new connection
        took = queue_and_wait(t, d, tid, "after the restart")
        t.check(took < 5, "after the restart, a notified job waited %.1fs" % took)
    finally:
        t.stop_daemon(d)
        main_daemon_reconnects(t)

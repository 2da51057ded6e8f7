"""The database goes away and comes back (runs last: it stops the pg_virtualenv cluster)."""
import os
import subprocess
import time
import urllib.parse


def ctl(action, ver, name):
    p = subprocess.run(["pg_ctlcluster", "-m", "fast", ver, name, action] if action == "stop"
                       else ["pg_ctlcluster", ver, name, action],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode()


def test_database_away_503_then_recovers(t):
    cl = t.pg_cluster()
    if not cl:
        raise t.Skip("no pg_virtualenv cluster found (PGPORT=%r)" % os.environ.get("PGPORT"))
    ver, name = cl["version"], cl["name"]
    cid = t.uid()
    t.expect(t.req("PUT", "/v1/customers/" + urllib.parse.quote(cid), {"attributes": {"a": 1}}), 201)
    rc, out = ctl("stop", ver, name)
    t.check(rc == 0, "pg_ctlcluster stop failed (%d): %s" % (rc, out))
    try:
        # /healthz: the process is alive
        t.expect(t.req("GET", "/healthz", key=None, timeout=10), 200)
        # /readyz is the watchdog's last verdict: it probes every second (db/watchdog.c), so
        # it says 503 within a probe interval and a probe's deadline (2 s), not at once
        t0 = time.time()
        while time.time() - t0 < 6:
            if t.req("GET", "/readyz", key=None, timeout=10, expect_503=True).status == 503:
                break
            time.sleep(0.1)
        t.check(time.time() - t0 < 6, "/readyz still 200 %.1f s after PostgreSQL stopped"
                % (time.time() - t0))
        for method, path, body in (("GET", "/readyz", None), ("GET", "/v1/customers/" + cid, None),
                                   ("PUT", "/v1/customers/" + t.uid(), {"attributes": {}}),
                                   ("GET", "/v1/customers?limit=5", None),
                                   ("POST", "/v1/events", {"customer_id": cid, "type": "x",
                                                           "occurred_at": "2026-01-01T00:00:00Z"})):
            key = None if path == "/readyz" else "A"
            r = t.req(method, path, body, key=key, timeout=10, expect_503=True)
            t.check(r.elapsed < 10, "%s %s took %.1fs" % (method, path, r.elapsed), r)
            if path == "/readyz":
                t.expect(r, 503)
            else:
                t.problem(r, 503)
            ra = r.header("retry-after") or ""
            t.check(ra.isdigit() and int(ra) >= 1, "503 without a delta-seconds Retry-After (%r)" % ra, r)
        # still answers 503 repeatedly (no hang after the pool noticed)
        for _ in range(3):
            r = t.req("GET", "/v1/customers/" + cid, timeout=10, expect_503=True)
            t.problem(r, 503)
    finally:
        rc, out = ctl("start", ver, name)
        t.check(rc == 0, "pg_ctlcluster start failed (%d): %s" % (rc, out))
    t0 = time.time()
    last = None
    while time.time() - t0 < 20:
        last = t.req("GET", "/v1/customers/" + cid, timeout=10, expect_503=True)
        if last.status == 200:
            break
        time.sleep(0.5)
    took = time.time() - t0
    t.check(last.status == 200, "no recovery 20 s after PostgreSQL came back", last)
    t.check(took <= 10, "recovery took %.1fs after PostgreSQL came back (expected within ~10 s)" % took)
    t.eq(last.json["attributes"], {"a": 1}, "data after recovery", last)
    t.expect(t.req("GET", "/readyz", key=None, timeout=10), 200)
    # writes work again, and every pooled connection was re-established (several in a row)
    for i in range(12):
        t.expect(t.req("PATCH", "/v1/customers/" + cid, {"attributes": {"i": i}}, timeout=10), 200)

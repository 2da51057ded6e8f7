"""The log stays JSON around a PostgreSQL restart. Runs late (before the frozen-database and
outage tests): it restarts the pg_virtualenv cluster.

`pg_ctlcluster -m fast VER NAME restart` (t.pg_restart) makes every backend send "terminating connection due
to administrator command" to its client; libpq hands such messages to a notice processor,
whose default prints them on stderr as plain text. With --log-format json every line of the
daemon's stderr must still be a JSON object, libpq's notices included, and access-log lines
keep status and duration_ms as JSON numbers.
"""
import json
import os
import threading
import time
import urllib.parse


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def wait_ok(t, d, cid, limit):
    """Reads cid until a 200 (503s allowed meanwhile); returns the last Resp."""
    t0, r = time.time(), None
    while time.time() - t0 < limit:
        r = t.req("GET", cpath(cid), daemon=d, timeout=10, expect_503=True)
        if r.status == 200:
            break
        time.sleep(0.3)
    return r


def concurrent_reads(t, d, path, n):
    """n reads at once; their statuses (0: no answer) sorted."""
    out = []

    def one():
        try:
            out.append(t.req("GET", path, daemon=d, timeout=15, expect_503=True).status)
        except AssertionError:
            out.append(0)
    ths = [threading.Thread(target=one) for _ in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(30)
    return sorted(out)


def main_daemon_reconnects(t):
    """The main daemon lost its pooled connections too: use every one of them (10 concurrent
    reads on a pool of 8) until a round is all 200, so that later tests meet fresh ones."""
    t0 = time.time()
    while time.time() - t0 < 15:
        if concurrent_reads(t, t.daemon, "/v1/customers?limit=1", 10) == [200] * 10:
            return
        time.sleep(0.3)


def test_log_stays_json_across_a_postgresql_restart(t):
    c = t.pg_cluster()
    if not c:
        raise t.Skip("no pg_virtualenv cluster found (PGPORT=%r)" % os.environ.get("PGPORT"))
    d = t.start_daemon(["--db-pool", "4", "--log-level", "debug"], "pg-restart")
    try:
        cid = t.uid("restart")
        t.expect(t.req("PUT", cpath(cid), {"attributes": {"a": 1}}, daemon=d), 201)
        # hold several pooled connections open, on this daemon and on the main one
        t.eq(concurrent_reads(t, d, cpath(cid), 6), [200] * 6, "warm-up reads")
        concurrent_reads(t, t.daemon, "/v1/customers?limit=1", 10)
        ok, out = t.pg_restart("fast")
        t.check(ok, "restarting PostgreSQL failed: %s" % out[-1000:])
        # every pooled connection of the daemon meets the terminated backend, concurrently
        outs = concurrent_reads(t, d, cpath(cid), 6)
        r = wait_ok(t, d, cid, 15)
        t.check(r is not None and r.status == 200, "no successful read within 15 s of the "
                "restart (reads right after it: %s)" % outs, r)
        t.expect(t.req("PATCH", cpath(cid), {"attributes": {"b": 2}}, daemon=d), 200)
    finally:
        t.stop_daemon(d)
        main_daemon_reconnects(t)
    recs, bad = t.log_records(d.stderr_text())
    t.check(not bad, "%d line(s) of the daemon's stderr around a PostgreSQL restart are not "
            "JSON objects (a libpq notice printed as text?), e.g.:\n%s"
            % (len(bad), "\n".join(l[:300] for l in bad[:5])))
    typed = [o for o in recs if o.get("msg") == "request" and not (
        type(o.get("status")) is int and type(o.get("duration_ms")) in (int, float))]
    t.check(not typed, "access-log lines whose status/duration_ms are not JSON numbers: %s"
            % [json.dumps(o)[:200] for o in typed[:3]])

"""SIGTERM under keep-alive load, and the log flags (--access-log, --log-level debug), each on a
daemon of its own."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

EXIT_LIMIT = 5  # seconds from SIGTERM to exit (--shutdown-timeout 10 is for slow requests)


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def check_import(t, box, n, allow_clean_close):
    out = box.get("outcome")
    if out == "clean close" and allow_clean_close:
        return
    t.check(out == "answer", "the import in flight at SIGTERM: %s (expected its answer%s)"
            % (out, " or a clean close" if allow_clean_close else ""))
    t.check(box["status"] == 200 and (box["doc"] or {}).get("inserted") == n,
            "the import in flight at SIGTERM answered %s %r; expected 200 with inserted %d"
            % (box["status"], box["doc"], n))


def test_sigterm_under_keepalive_load(t):
    d = t.start_daemon([], "sigterm-load")
    cid = t.uid("ka")
    t.expect(t.req("PUT", cpath(cid), {"attributes": {}}, daemon=d), 201)
    auth = {"Authorization": "Bearer " + t.keys["A"]}
    sent_at = {}  # when SIGTERM was sent
    stop = threading.Event()
    events = []   # (thread, kind, time, detail)
    lock = threading.Lock()

    def note(i, kind, detail=None):
        with lock:
            events.append((i, kind, time.time(), detail))

    def worker(i):
        conn, reused = None, False
        path = cpath(cid) if i % 2 else cpath("ka-missing-%d" % i)
        while not stop.is_set():
            if conn is None:
                conn, reused = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10), False
            try:
                conn.request("GET", path, headers=auth)
                r = conn.getresponse()
                r.read()
                note(i, "response", (r.status, r.getheader("Connection"), reused))
                reused = True
                if r.will_close:
                    conn.close()
                    conn = None
                continue
            except http.client.IncompleteRead as e:
                note(i, "truncated", repr(e))
            except http.client.RemoteDisconnected:
                note(i, "closed without an answer", "reused" if reused else "new connection")
            except ConnectionRefusedError:
                note(i, "refused")
                conn.close()
                return  # the listener is closed: this client is done
            except ConnectionResetError:
                note(i, "reset", "reused" if reused else "new connection")
            except socket.timeout:
                note(i, "timeout", "no answer within 10 s")
            except http.client.HTTPException as e:
                note(i, "bad answer", repr(e))
            except OSError as e:
                note(i, "error", repr(e))
            conn.close()
            conn = None
            if "t" in sent_at and d.proc.poll() is not None:
                return
            time.sleep(0.01)
        if conn:
            conn.close()

    box = {}
    importer = threading.Thread(target=t.slow_import, args=(d, t.uid("ka-imp"), 20, 0.1, box))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    try:
        for th in threads:
            th.start()
        importer.start()
        time.sleep(1.0)
        sent_at["t"] = time.time()
        rc, took = d.sigterm(timeout=EXIT_LIMIT)
        time.sleep(0.3)
    finally:
        stop.set()
        for th in threads:
            th.join(15)
        importer.join(30)
        stop_problems = d.stop()  # kills it if it did not exit; reports a non-zero status

    t0 = sent_at["t"]
    problems = [p for p in stop_problems if "stderr tail" not in p]
    if rc is None:
        problems.append("the daemon did not exit within %d s of SIGTERM under keep-alive load"
                        % EXIT_LIMIT)
    elif rc != 0:
        problems.append("the daemon exited with status %d after SIGTERM" % rc)
    resp = [e for e in events if e[1] == "response"]
    before = [e for e in resp if e[2] < t0]
    after = [e for e in resp if e[2] >= t0]
    if len(before) < 32:
        problems.append("only %d responses before SIGTERM: the load did not get going"
                        % len(before))
    odd = sorted(set(e[3][0] for e in resp) - {200, 404, 503})
    if odd:
        problems.append("statuses other than 200/404/503 were answered: %s" % odd)
    if not any("close" in (e[3][1] or "").lower() for e in after):
        problems.append("none of the %d responses received after SIGTERM carried `Connection: "
                        "close`" % len(after))
    late = [e for e in after if "close" not in (e[3][1] or "").lower() and e[2] > t0 + 1.0]
    if late:
        problems.append("%d responses received more than 1 s after SIGTERM lack `Connection: "
                        "close` (a keep-alive client would send more requests on a closing "
                        "server), e.g. %.1f s after it" % (len(late), late[0][2] - t0))
    bad = [e for e in events if e[1] in ("truncated", "bad answer", "timeout", "error")]
    if bad:
        problems.append("%d client(s) saw a truncated, malformed or missing answer, e.g. %s"
                        % (len(bad), ["%s %.2f s after SIGTERM: %s" % (k, w - t0, det)
                                      for _, k, w, det in bad[:5]]))
    other = sorted(set(e[1] for e in events) - {"response"})
    t.check(not problems, "\n".join(problems) + "\n(client events besides responses: %s; %d "
            "responses after SIGTERM; the daemon took %s s to exit)"
            % (other, len(after), "%.1f" % took if rc is not None else ">%d" % EXIT_LIMIT))
    check_import(t, box, 20, allow_clean_close=True)


def test_sigterm_closes_idle_keepalive_connections_at_once(t):
    """An idle keep-alive connection is closed right after SIGTERM (recv gives b"" within
    2 s) while a slow request keeps the daemon busy, and that request still completes."""
    d = t.start_daemon([], "sigterm-idle")
    box = {}
    s = None
    try:
        s = t.connect(d.port, timeout=5)
        r = t.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", daemon=d, sock=s, close_wait=0)
        t.check(r.status == 200 and not r.closes(), "GET /healthz on a keep-alive connection",
                r)
        importer = threading.Thread(target=t.slow_import,
                                    args=(d, t.uid("idle-imp"), 20, 0.2, box))
        importer.start()
        time.sleep(0.6)
        t0 = time.time()
        d.sigterm(timeout=0)
        s.settimeout(2.0)
        try:
            got = s.recv(4096)
            how = "eof" if not got else "data %r" % got[:200]
        except socket.timeout:
            how = "still open"
        except ConnectionResetError:
            how = "reset"
        closed_after = time.time() - t0
        alive = d.alive()
        importer.join(30)
        rc, took = d.sigterm(timeout=10, send=False)
        t.check(how in ("eof", "reset"), "an idle keep-alive connection must be closed by the "
                "server within 2 s of SIGTERM; after %.1f s: %s" % (closed_after, how))
        t.check(alive, "the daemon had already exited %.1f s after SIGTERM although an import "
                "was still streaming" % closed_after)
        check_import(t, box, 20, allow_clean_close=False)
        t.eq(rc, 0, "exit status after SIGTERM (exit took %.1f s)" % took)
    finally:
        if s:
            s.close()
        t.stop_daemon(d)


# ----- logs -----------------------------------------------------------------------------------

def log_check(t, d):
    """The log records of the stopped daemon d; fails on a line that is not a JSON object and
    on an access-log line whose status or duration_ms is not a JSON number."""
    recs, bad = t.log_records(d.stderr_text())
    t.check(not bad, "daemon %s (%s): %d log line(s) are not JSON objects, e.g.:\n%s"
            % (d.name, " ".join(d.args), len(bad), "\n".join(l[:300] for l in bad[:5])))
    for o in recs:
        if o.get("msg") == "request":
            t.check(type(o.get("status")) is int and type(o.get("duration_ms")) in (int, float),
                    "access-log line with status/duration_ms not JSON numbers: %s"
                    % json.dumps(o)[:300])
    return recs


def some_requests(t, d):
    cid = t.uid("log")
    t.expect(t.req("GET", "/healthz", key=None, daemon=d), 200)
    t.expect(t.req("PUT", cpath(cid), {"attributes": {"a": 1}}, daemon=d), 201)
    t.expect(t.req("GET", cpath(cid), daemon=d), 200)
    t.problem(t.req("GET", cpath(t.uid("log-missing")), daemon=d), 404)
    t.problem(t.req("GET", cpath(cid), key=None, daemon=d), 401)
    t.problem(t.req("PUT", cpath(cid), raw_body=b"{nope", ctype="application/json", daemon=d),
              400)
    return cid


def lock_customers(seconds):
    """Holds an ACCESS EXCLUSIVE lock on the customers table for `seconds` with psql (run in
    the background); returns the Popen, or None without psql."""
    psql = shutil.which("psql")
    if not psql:
        return None
    p = subprocess.Popen([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                          "BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE; "
                          "SELECT pg_sleep(%g); COMMIT;" % seconds],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    return p


def test_access_log_off_keeps_warnings(t):
    """--access-log off: no "request" lines at all, but warnings still appear (here: a
    statement that runs into a lock timeout, provoked by holding a table lock with psql)."""
    d = t.start_daemon(["--access-log", "off", "--statement-timeout", "300"], "accesslog-off")
    p = None
    try:
        cid = some_requests(t, d)
        p = lock_customers(2.5)
        if p is None:
            raise t.Skip("psql not found: cannot provoke a warning")
        # read until one read runs into the lock (psql needs a moment to take it)
        t0, seen = time.time(), []
        while time.time() - t0 < 2.2:
            r = t.req("GET", cpath(cid), daemon=d, timeout=10, expect_503=True)
            seen.append(r.status)
            t.check(r.status in (200, 503), "GET while the customers table is locked", r)
            if r.status == 503 or p.poll() is not None:
                break
            time.sleep(0.2)
        out, err = p.communicate(timeout=20)
        t.check(p.returncode == 0, "psql holding the lock failed: %s" % err.decode()[-500:])
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        t.stop_daemon(d)
    recs = log_check(t, d)
    t.check(503 in seen, "test setup: no read ran into the table lock held by psql (reads "
            "answered %s)" % seen)
    reqs = [o for o in recs if o.get("msg") == "request"]
    t.check(not reqs, "--access-log off, yet %d \"request\" lines were logged, e.g. %s"
            % (len(reqs), json.dumps(reqs[0])[:300] if reqs else ""))
    warns = [o for o in recs if o.get("level") in ("warn", "error")]
    t.check(warns, "--access-log off must keep warnings, but none was logged although a "
            "statement ran into a lock timeout (reads answered %s); log levels seen: %s"
            % (seen, sorted(set(str(o.get("level")) for o in recs))))


def test_access_log_errors_logs_only_answers_from_400(t):
    d = t.start_daemon(["--access-log", "errors"], "accesslog-errors")
    try:
        some_requests(t, d)
    finally:
        t.stop_daemon(d)
    recs = log_check(t, d)
    reqs = [o for o in recs if o.get("msg") == "request"]
    statuses = sorted(o.get("status") for o in reqs)
    t.check(all(isinstance(s, int) and s >= 400 for s in statuses),
            "--access-log errors logged requests answered below 400: statuses %s" % statuses)
    for want in (400, 401, 404):
        t.check(want in statuses, "--access-log errors: the %d answer was not logged "
                "(statuses logged: %s)" % (want, statuses))


def test_access_log_all_is_the_default(t):
    d = t.start_daemon([], "accesslog-default")
    try:
        some_requests(t, d)
    finally:
        t.stop_daemon(d)
    recs = log_check(t, d)
    statuses = sorted(o.get("status") for o in recs if o.get("msg") == "request")
    for want in (200, 201, 400, 401, 404):
        t.check(want in statuses, "by default every request is logged: no \"request\" line "
                "with status %d (statuses logged: %s)" % (want, statuses))


def test_log_level_debug_prints_debug_lines(t):
    d = t.start_daemon(["--log-level", "debug"], "loglevel-debug")
    try:
        some_requests(t, d)
    finally:
        t.stop_daemon(d)
    recs = log_check(t, d)
    debug = [o for o in recs if o.get("level") == "debug"]
    t.check(debug, "--log-level debug printed no \"level\": \"debug\" line during %d log lines "
            "(levels seen: %s)" % (len(recs), sorted(set(str(o.get("level")) for o in recs))))

"""The HTTP settings: from the environment as well as flags, refused when invalid, the global
connection cap, a single request worker, and --shutdown-timeout; each on a daemon of its own."""
import selectors
import subprocess
import threading
import time
import urllib.parse

MARGIN = 4  # seconds of slack on every timeout (a loaded 2-core CI machine)


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def open_silent(t, d, n, source):
    """Opens n connections from `source` that send nothing; returns the sockets (a failed
    connect counts as closed at once and is left out)."""
    socks = []
    for _ in range(n):
        try:
            socks.append(t.connect(d.port, source=source, timeout=3))
        except OSError:
            pass
    return socks


def still_open(socks, within):
    """Watches socks for `within` seconds; closes and drops those the server closed (EOF or
    reset) and returns the others, still open."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    left = list(socks)
    end = time.time() + within
    while left and time.time() < end:
        for key, _ in sel.select(timeout=max(0, end - time.time())):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                left.remove(s)
    sel.close()
    return left


def test_http_settings_from_the_environment(t):
    env = {"SEGMENTD_MAX_CONNECTIONS_PER_ADDRESS": "5", "SEGMENTD_ACCESS_LOG": "errors",
           "SEGMENTD_IDLE_TIMEOUT": "2", "SEGMENTD_HEADER_TIMEOUT": "2",
           "SEGMENTD_BODY_TIMEOUT": "2", "SEGMENTD_SHUTDOWN_TIMEOUT": "3",
           "SEGMENTD_REQUEST_WORKERS": "2", "SEGMENTD_MAX_CONNECTIONS": "100"}
    d = t.start_daemon([], "settings-env", env=env)
    socks = []
    problems = []
    try:
        t.expect(t.req("GET", "/healthz", key=None, daemon=d), 200)
        t.problem(t.req("GET", cpath(t.uid("env-missing")), daemon=d), 404)
        socks = still_open(open_silent(t, d, 8, "127.0.0.9"), 1.0)
        if len(socks) > 5:
            problems.append("SEGMENTD_MAX_CONNECTIONS_PER_ADDRESS=5: %d of 8 connections from "
                            "127.0.0.9 were still held after 1 s" % len(socks))
        socks = still_open(socks, 2 + MARGIN)
        if socks:
            problems.append("SEGMENTD_IDLE_TIMEOUT=2: %d connections that never sent a byte "
                            "were still open %d s later" % (len(socks), 2 + 1 + MARGIN))
    finally:
        for s in socks:
            s.close()
        t.stop_daemon(d)
    recs, _ = t.log_records(d.stderr_text())
    st = sorted(o.get("status") for o in recs if o.get("msg") == "request")
    if any(isinstance(s, int) and s < 400 for s in st) or 404 not in st:
        problems.append("SEGMENTD_ACCESS_LOG=errors: expected the 404 and no answer below 400 in "
                        "the access log; statuses logged: %s" % st)
    t.check(not problems, "\n".join(problems))


def test_invalid_http_settings_refused(t):
    bad = [["--request-workers", "-1"], ["--max-connections", "many"],
           ["--max-connections-per-address", "-5"], ["--idle-timeout", "soon"],
           ["--header-timeout", "-1"], ["--body-timeout", "x"], ["--shutdown-timeout", "-3"],
           ["--access-log", "sometimes"]]
    problems = []
    for args in bad:
        port = t.free_port()
        p = subprocess.Popen([t.binary, "serve", "--listen", "127.0.0.1:%d" % port,
                              "--log-format", "json"] + args, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=t.env)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            problems.append("`serve %s` was accepted (still running after 10 s)"
                            % " ".join(args))
            continue
        text = (out + err).decode("utf-8", "replace")
        if p.returncode == 0:
            problems.append("`serve %s` exited 0" % " ".join(args))
        elif args[0] not in text and args[0][2:].upper().replace("-", "_") not in text:
            problems.append("`serve %s` exited %d without naming the setting: %s"
                            % (" ".join(args), p.returncode, text.strip()[-300:]))
    t.check(not problems, "\n".join(problems))


def test_max_connections_global_cap(t):
    d = t.start_daemon(["--max-connections", "20", "--max-connections-per-address", "100"],
                       "maxconn")
    held = []
    try:
        for src in ("127.0.0.10", "127.0.0.11", "127.0.0.12"):
            held += open_silent(t, d, 10, src)
        held = still_open(held, 1.0)
        t.check(len(held) <= 20, "--max-connections 20: %d of 30 connections (from 3 addresses) "
                "were still held after 1 s" % len(held))
        t.check(len(held) >= 10, "--max-connections 20: only %d of 30 connections were held"
                % len(held))
        for s in held:
            s.close()
        held = []
        deadline = time.time() + 5
        while True:
            try:
                r = t.req("GET", "/healthz", key=None, daemon=d, timeout=5)
                if r.status == 200:
                    break
            except AssertionError:
                pass
            t.check(time.time() < deadline, "no /healthz answer within 5 s after the held "
                    "connections were closed")
            time.sleep(0.2)
    finally:
        for s in held:
            s.close()
        t.stop_daemon(d)


def test_one_request_worker_serves_concurrent_clients(t):
    d = t.start_daemon(["--request-workers", "1", "--db-pool", "2"], "oneworker")
    try:
        p = t.uid("w1")
        out = []

        def one(i):
            try:
                r = t.req("PUT", cpath("%s-%d" % (p, i)), {"attributes": {"i": i}}, daemon=d,
                          timeout=20)
                out.append((r.status, r.elapsed))
            except AssertionError as e:
                out.append((0, str(e).splitlines()[0]))
        ths = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(60)
        t.check(sorted(s for s, _ in out) == [201] * 16, "16 concurrent PUTs with "
                "--request-workers 1: %s" % out)
        t.expect(t.req("GET", cpath(p + "-15"), daemon=d), 200)
        t.expect(t.req("GET", "/healthz", key=None, daemon=d), 200)
    finally:
        t.stop_daemon(d)


def test_shutdown_timeout_cuts_slow_requests(t):
    """--shutdown-timeout 2: a request still streaming 2 s after SIGTERM is cut off (a 503
    problem or a close) and the daemon exits 0 within 2 s + margin."""
    d = t.start_daemon(["--shutdown-timeout", "2"], "shutdown-timeout")
    box = {}
    th = threading.Thread(target=t.slow_import, args=(d, t.uid("cut"), 100, 0.2, box))
    try:
        th.start()
        time.sleep(0.6)
        t0 = time.time()
        rc, took = d.sigterm(timeout=2 + MARGIN)
        th.join(10)
        t.check(rc is not None, "--shutdown-timeout 2: the daemon was still running %d s after "
                "SIGTERM with a slow import in flight" % (2 + MARGIN))
        t.eq(rc, 0, "exit status after SIGTERM (exit took %.1f s)" % took)
        t.check(took >= 1.5, "the daemon exited %.1f s after SIGTERM: it must wait for the "
                "request in flight up to --shutdown-timeout 2" % took)
        t.check(not box.get("outcome", "").startswith("truncated"), "the import cut by the "
                "shutdown timeout got a truncated answer: %s" % box.get("outcome"))
        if box.get("outcome") == "answer":
            t.check(box["status"] == 503, "the import cut by the shutdown timeout was "
                    "answered %r (expected a 503 problem or a close)" % (box.get("doc"),))
        t.check("at" in box and box["at"] - t0 <= 2 + MARGIN, "the import client was not "
                "released within %d s of SIGTERM" % (2 + MARGIN))
    finally:
        t.stop_daemon(d)
        th.join(30)


def test_shutdown_cancels_a_handler_waiting_on_the_database(t):
    """A handler still waiting on the database when --shutdown-timeout ends (here: a PUT stuck
    behind a table lock held with psql) is cancelled: its client gets 503 `cancelled` with
    Retry-After, nothing is written, and the daemon exits 0 soon after the timeout instead of
    waiting for the lock (the statement timeout is 60 s)."""
    import os
    import shutil
    psql = shutil.which("psql")
    if not psql:
        raise t.Skip("psql not found: cannot hold a lock")
    d = t.start_daemon(["--shutdown-timeout", "1", "--statement-timeout", "60000"], "cancel")
    cid = t.uid("cancel")
    t.expect(t.req("GET", "/healthz", key=None, daemon=d), 200)
    locker = subprocess.Popen([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                               # the server notices psql's end at once and lets go of the lock
                               "SET client_connection_check_interval = 100; BEGIN; "
                               "LOCK TABLE customers IN ACCESS EXCLUSIVE MODE; "
                               "SELECT pg_sleep(15); COMMIT;"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    box = {}

    def client():
        try:
            box["r"] = t.req("PUT", cpath(cid), {"attributes": {"a": 1}}, daemon=d, timeout=30,
                             expect_503=True)
        except Exception as e:  # noqa: BLE001 - reported below
            box["error"] = repr(e)
    th = threading.Thread(target=client)
    try:
        time.sleep(1.0)  # psql takes the lock
        th.start()
        time.sleep(1.0)  # the PUT waits behind it
        rc, took = d.sigterm(timeout=1 + MARGIN)
        th.join(10)
        t.check(rc is not None, "the daemon still ran %d s after SIGTERM with a handler stuck "
                "behind a lock" % (1 + MARGIN))
        t.eq(rc, 0, "exit status after SIGTERM (exit took %.1f s)" % took)
        t.check("r" in box, "the stuck PUT got no answer: %s" % box.get("error"))
        r = box["r"]
        t.problem(r, 503)
        t.eq(r.json.get("type"), "urn:segmentd:problem:cancelled", "problem type", r)
    finally:
        locker.kill()
        locker.wait()
    t.problem(t.req("GET", cpath(cid)), 404)

"""A frozen database: the pg_virtualenv cluster's postmaster and all its children are stopped
with SIGSTOP (a server that accepts TCP but never answers, like a hung host), on daemons of
their own. Runs late (before test_zz_db_outage) because it stalls every client of the cluster.

The daemon must stay responsive: /healthz at once, API requests 503 (unavailable, timeout or
busy, with Retry-After) within a few seconds and quickly once the pool knows, /readyz 503 within
6 s; after SIGCONT it recovers by itself within 10 s.

Every freeze is undone in a `finally`, and also by a watchdog process started before it, which
sends SIGCONT on its own after a while even if this harness dies.
"""
import os
import signal
import subprocess
import threading
import time
import urllib.parse

HEALTHZ_LIMIT = 1     # seconds /healthz may take, frozen or not
FIRST_LIMIT = 6       # seconds the first requests against a frozen database may take
QUICK_LIMIT = 2       # seconds later requests may take, once the pool knows
READYZ_LIMIT = 2      # seconds /readyz may take
READYZ_503_WITHIN = 6
RECOVERY_LIMIT = 10
TYPES_503 = ["urn:segmentd:problem:" + s for s in ("unavailable", "timeout", "busy")]


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


class Freeze:
    """SIGSTOP / SIGCONT of the cluster pg_virtualenv made (postmaster and descendants)."""

    def __init__(self, t, watchdog_after):
        self.t = t
        c = t.pg_cluster()
        if not c or not c["pid"]:
            raise t.Skip("no pg_virtualenv cluster (or its postmaster.pid) found (PGPORT=%r)"
                         % os.environ.get("PGPORT"))
        self.postmaster = c["pid"]
        self.watchdog_after = watchdog_after
        self.pids = []
        self.watchdog = None
        self.frozen_at = None

    def freeze(self):
        # the postmaster first, so that it forks no new child; then its children, twice, to
        # catch one forked just before
        self.pids = [self.postmaster]
        os.kill(self.postmaster, signal.SIGSTOP)
        for _ in range(2):
            for p in self.t.pids_of_tree(self.postmaster):
                if p not in self.pids:
                    try:
                        os.kill(p, signal.SIGSTOP)
                        self.pids.append(p)
                    except ProcessLookupError:
                        pass
        self.frozen_at = time.time()
        pids = " ".join(str(p) for p in self.pids)
        self.watchdog = subprocess.Popen(
            ["sh", "-c", "sleep %d; kill -CONT %s 2>/dev/null" % (self.watchdog_after, pids)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def thaw(self):
        """SIGCONT to every process stopped (harmless when none was); returns the time."""
        for p in reversed(self.pids + [x for x in self.t.pids_of_tree(self.postmaster)
                                       if x not in self.pids]):
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if self.watchdog and self.watchdog.poll() is None:
            os.killpg(self.watchdog.pid, signal.SIGKILL)  # our own process group only
            self.watchdog.wait()
        return time.time()


def attempt(t, d, method, path, body=None, key="A", timeout=FIRST_LIMIT + 2):
    """One request; returns a Resp, or a string when there was no answer."""
    try:
        return t.req(method, path, body, key=key, daemon=d, timeout=timeout, expect_503=True)
    except AssertionError as e:
        return str(e).splitlines()[0]


def judge_503(t, r, what, limit):
    """What is wrong with r as the answer of an API request to a frozen database, or None."""
    if isinstance(r, str):
        return "%s: no answer within %d s: %s" % (what, limit + 2, r)
    if r.elapsed > limit:
        return "%s: answered %d after %.1f s (limit %d s)" % (what, r.status, r.elapsed, limit)
    err = t.problem_error(r, 503)
    if err:
        return "%s: %s; body %r" % (what, err, r.body[:200])
    if r.json.get("type") not in TYPES_503:
        return "%s: problem type %r, expected one of %s" % (what, r.json.get("type"), TYPES_503)
    ra = r.header("retry-after") or ""
    if not (ra.isdigit() and int(ra) >= 1):
        return "%s: 503 without a delta-seconds Retry-After (%r)" % (what, ra)
    return None


class HealthProber:
    """GET /healthz every `every` seconds from a thread; each must be 200 within the limit."""

    def __init__(self, t, d, every=0.25):
        self.t, self.d, self.every = t, d, every
        self.log = []
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self.run)

    def run(self):
        while not self.stop_ev.is_set():
            t0 = time.time()
            r = attempt(self.t, self.d, "GET", "/healthz", key=None, timeout=HEALTHZ_LIMIT + 4)
            self.log.append((t0, r))
            self.stop_ev.wait(self.every)

    def __enter__(self):
        self.th.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.th.join(30)

    def problems(self, since):
        bad = [(w, r) for w, r in self.log if isinstance(r, str) or r.status != 200
               or r.elapsed > HEALTHZ_LIMIT]
        if not bad and self.log:
            return []
        return ["GET /healthz while the database was frozen (%d probes): %d not 200 within %d s,"
                " e.g. %s" % (len(self.log), len(bad), HEALTHZ_LIMIT,
                              ["%.1f s after the freeze: %s" % (w - since, r if isinstance(r, str)
                                                                else "%d after %.1f s"
                                                                % (r.status, r.elapsed))
                               for w, r in bad[:5]])]


def in_threads(calls):
    """Runs each () -> value of calls in a thread of its own; returns the values in order."""
    out = [None] * len(calls)

    def one(i, f):
        out[i] = f()
    ths = [threading.Thread(target=one, args=(i, f)) for i, f in enumerate(calls)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(60)
    return out


def warm(t, d, cid):
    t.expect(t.req("PUT", cpath(cid), {"attributes": {"a": 1}}, daemon=d), 201)
    t.expect(t.req("POST", "/v1/events", {"customer_id": cid, "type": "purchase",
                                          "occurred_at": "2026-01-01T00:00:00Z", "amount": 1},
                   daemon=d), 202)
    t.expect(t.req("GET", "/readyz", key=None, daemon=d), 200)
    for r in in_threads([lambda: t.req("GET", cpath(cid), daemon=d)] * 4):
        t.expect(r, 200)


def recovery(t, d, cid, since):
    """After the thaw: a read, a write and /readyz succeed within RECOVERY_LIMIT s."""
    ok = {}
    last = {}
    while time.time() - since < RECOVERY_LIMIT + 5 and len(ok) < 3:
        for name, method, path, body, key, good in (
                ("read", "GET", cpath(cid), None, "A", (200,)),
                ("write", "PATCH", cpath(cid), {"attributes": {"b": 2}}, "A", (200,)),
                ("readyz", "GET", "/readyz", None, None, (200,))):
            if name in ok:
                continue
            r = attempt(t, d, method, path, body, key=key, timeout=10)
            last[name] = r if isinstance(r, str) else "%d %s" % (r.status, r.body[:150])
            if not isinstance(r, str) and r.status in good:
                ok[name] = time.time() - since
        time.sleep(0.3)
    missing = [n for n in ("read", "write", "readyz") if n not in ok]
    t.check(not missing, "no recovery within %d s of SIGCONT: %s did not succeed (last answers: "
            "%s)" % (RECOVERY_LIMIT + 5, missing, last))
    slow = {n: round(s, 1) for n, s in ok.items() if s > RECOVERY_LIMIT}
    t.check(not slow, "recovery after SIGCONT took longer than %d s: %s" % (RECOVERY_LIMIT, slow))


def test_frozen_database_503_fast_then_recovers(t):
    d = t.start_daemon([], "frozen")
    problems = []
    try:
        cid = t.uid("frozen")
        warm(t, d, cid)
        fr = Freeze(t, watchdog_after=60)
        ev = {"customer_id": cid, "type": "purchase", "occurred_at": "2026-01-02T00:00:00Z"}
        try:
            fr.freeze()
            tf = fr.frozen_at
            with HealthProber(t, d) as prober:
                # 1. first contact, all at once: nothing may hang
                first = in_threads([
                    lambda: ("GET /v1/customers/x", attempt(t, d, "GET", cpath(cid))),
                    lambda: ("PUT /v1/customers/new", attempt(t, d, "PUT", cpath(t.uid("frz")),
                                                              {"attributes": {}})),
                    lambda: ("POST /v1/events", attempt(t, d, "POST", "/v1/events", ev)),
                    lambda: ("GET /readyz", attempt(t, d, "GET", "/readyz", key=None,
                                                    timeout=READYZ_LIMIT + 2))])
                hung = False
                for what, r in first:
                    if what == "GET /readyz":
                        if isinstance(r, str) or r.elapsed > READYZ_LIMIT:
                            hung = hung or isinstance(r, str)
                            problems.append("GET /readyz (frozen database): %s" % (
                                r if isinstance(r, str) else "took %.1f s" % r.elapsed))
                        continue
                    hung = hung or isinstance(r, str)
                    p = judge_503(t, r, "%s, first request after the freeze" % what,
                                  FIRST_LIMIT)
                    if p:
                        problems.append(p)
                if not hung:
                    # 2. the pool knows: later requests are answered quickly
                    for what, method, path, body in (
                            ("GET /v1/customers/x", "GET", cpath(cid), None),
                            ("PUT /v1/customers/new", "PUT", cpath(t.uid("frz")),
                             {"attributes": {}}),
                            ("POST /v1/events", "POST", "/v1/events", ev),
                            ("GET /v1/customers", "GET", "/v1/customers?limit=5", None)):
                        r = attempt(t, d, method, path, body, timeout=FIRST_LIMIT + 2)
                        p = judge_503(t, r, "%s, a later request" % what, QUICK_LIMIT)
                        if p:
                            problems.append(p)
                    # 3. /readyz answers within 2 s every time and turns 503 within 6 s
                    seen = []
                    while True:
                        r = attempt(t, d, "GET", "/readyz", key=None, timeout=READYZ_LIMIT + 2)
                        seen.append(r if isinstance(r, str) else (r.status, round(r.elapsed, 1)))
                        if isinstance(r, str) or r.elapsed > READYZ_LIMIT:
                            problems.append("GET /readyz took more than %d s: %s"
                                            % (READYZ_LIMIT, seen[-1]))
                            break
                        if r.status == 503:
                            break
                        if time.time() - tf > READYZ_503_WITHIN:
                            problems.append("GET /readyz still answered %d %.1f s after the "
                                            "freeze (expected 503 within %d s): %s"
                                            % (r.status, time.time() - tf, READYZ_503_WITHIN,
                                               seen))
                            break
                        time.sleep(0.3)
                    # 4. a burst of concurrent requests: none may hang
                    calls = []
                    for i in range(12):
                        m = ("GET", cpath(cid), None) if i % 3 == 0 else \
                            ("PUT", cpath(t.uid("frz")), {"attributes": {}}) if i % 3 == 1 \
                            else ("POST", "/v1/events", ev)
                        calls.append(lambda m=m: ("%s %s (concurrent)" % m[:2],
                                                  attempt(t, d, *m)))
                    for what, r in in_threads(calls):
                        p = judge_503(t, r, what, FIRST_LIMIT)
                        if p:
                            problems.append(p)
                else:
                    problems.append("(later checks skipped: a first request hung)")
            problems[:0] = prober.problems(tf)
        finally:
            t_thaw = fr.thaw()
        recovery(t, d, cid, t_thaw)
        t.check(not problems, "\n".join(problems))
    finally:
        t.stop_daemon(d)


def test_long_freeze_keeps_healthz_responsive(t):
    """20 s frozen while one client streams an import and another keeps reading: /healthz is
    answered within 1 s throughout, no request hangs, and all is well after SIGCONT."""
    d = t.start_daemon([], "frozen-long")
    problems = []
    stop = threading.Event()
    reads = []
    imp = {}
    sock = None
    try:
        cid = t.uid("frozen-long")
        warm(t, d, cid)
        fr = Freeze(t, watchdog_after=75)
        prefix = t.uid("frz-imp")
        sock = t.connect(d.port, timeout=30)
        sock.sendall(("POST /v1/customers:import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
                      "\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n"
                      "\r\n" % t.keys["A"]).encode())

        def chunk(data):
            sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")

        def reader():
            while not stop.is_set():
                reads.append((time.time(), attempt(t, d, "GET", cpath(cid),
                                                   timeout=FIRST_LIMIT + 2)))
                stop.wait(0.5)
        rd = threading.Thread(target=reader)
        try:
            fr.freeze()
            tf = fr.frozen_at
            rd.start()
            with HealthProber(t, d, every=0.5) as prober:
                i = 0
                while time.time() - tf < 20:
                    try:
                        chunk(b'{"id": "%s-%d"}\n' % (prefix.encode(), i))
                    except OSError as e:
                        imp.setdefault("send_error", "%.1f s into the freeze: %r"
                                       % (time.time() - tf, e))
                    i += 1
                    time.sleep(1)
            stop.set()
            rd.join(FIRST_LIMIT + 10)
            problems += prober.problems(tf)
        finally:
            stop.set()
            t_thaw = fr.thaw()
        hung = ["%.1f s into the freeze: %s" % (w - tf, r) for w, r in reads
                if isinstance(r, str)]
        if hung:
            problems.append("%d reads during the freeze got no answer within %d s, e.g. %s"
                            % (len(hung), FIRST_LIMIT + 2, hung[:3]))
        # the import ends after the thaw and is answered (200, or a 503 problem), or closed
        if "send_error" not in imp:
            try:
                chunk(b"")
            except OSError as e:
                imp["send_error"] = "at the end: %r" % e
        r = t.raw(b"", sock=sock, daemon=d, timeout=15, close_wait=0, expect_503=True)
        if r.status not in (200, 503) and not (r.status == 0 and r.closed and not r.raw):
            problems.append("the import streamed through the freeze was not answered (200 or "
                            "503) nor cleanly closed within 15 s of its end (%s)\n%s"
                            % (imp.get("send_error", "body sent completely"), r.describe()))
        elif r.status == 503:
            p = judge_503(t, r, "the import streamed through the freeze", 15)
            if p:
                problems.append(p)
        recovery(t, d, cid, t_thaw)
        t.check(d.alive(), "the daemon exited during the freeze")
        t.check(not problems, "\n".join(problems))
    finally:
        if sock:
            sock.close()
        t.stop_daemon(d)

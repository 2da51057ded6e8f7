#!/usr/bin/env python3
"""API test harness for segmentd (Python standard library only).

Usage (normally through tests/run.sh, inside pg_virtualenv):
    pg_virtualenv -t -v 15 python3 tests/api/run.py --build build [--only SUBSTRING]

It runs `segmentd migrate`, creates API keys with the CLI, starts `segmentd serve` on a free
port with stderr captured to a file, runs every `test_*` function of every tests/api/test_*.py
module (modules in name order, functions in source order; each gets the harness context `t`),
stops the daemon with SIGTERM and checks that it exits 0 within 10 s.

Output is TAP-like: one "ok - name" / "not ok - name" line per test, failure details as "# "
lines, and a summary comment. Besides the tests, invariants checked on every response (no 5xx
except the 503s a test asks for, X-Request-Id everywhere, problem+json for every error, a
delta-seconds Retry-After on every 503) are reported as tests of their own at the end, and so
are the daemon's shutdown and its log (JSON objects only; access-log numbers as numbers).

What a test gets besides t.req: t.raw (raw bytes on a socket, any framing, pipelining; tells
whether the server closed the connection and what arrived after the first answer), t.connect
(a socket with a timeout, optionally from another loopback source address), t.start_daemon
(a second daemon with extra flags or environment; stop it with t.stop_daemon in a `finally`),
Daemon.sigterm (for tests that watch a shutdown), t.pg_cluster / t.pg_cluster_pids /
t.pg_restart (the pg_virtualenv cluster, its processes, a fast restart) and t.log_records (a
JSON log, parsed).
"""

import argparse
import http.client
import importlib.util
import inspect
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
SANITIZED = os.environ.get("SEGMENTD_SANITIZED") == "1"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
PROBLEM_SLUGS = {
    400: "malformed-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 409: "conflict", 413: "payload-too-large",
    415: "unsupported-media-type", 422: "validation-failed", 429: "rate-limited",
    500: "internal",
    503: ("unavailable", "busy", "timeout", "transient-conflict", "cancelled"), 414: "uri-too-long",
}


class Skip(Exception):
    """Raised by a test that cannot run in this environment."""


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def q(s):
    """Percent-encodes one path segment (UTF-8, "/" too)."""
    return urllib.parse.quote(s, safe="")


def short(b, n=600):
    if b is None:
        return ""
    if isinstance(b, (bytes, bytearray)):
        s = bytes(b[:n]).decode("utf-8", "replace")
    else:
        s = str(b)[:n]
    more = len(b) - n
    return s + (" ...(+%d bytes)" % more if more > 0 else "")


class Resp:
    def __init__(self, method, path, req_headers, req_body, status, headers, body, elapsed):
        self.method = method
        self.path = path
        self.req_headers = req_headers
        self.req_body = req_body
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body
        self.elapsed = elapsed
        self._json = None
        self._json_done = False

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def json(self):
        if not self._json_done:
            self._json_done = True
            try:
                self._json = json.loads(self.body.decode("utf-8"), parse_float=Decimal)
            except Exception:
                self._json = None
        return self._json

    def describe(self):
        hdrs = dict(self.req_headers)
        if "Authorization" in hdrs:
            hdrs["Authorization"] = redact(hdrs["Authorization"])
        body = self.req_body
        if body is not None and not isinstance(body, (bytes, bytearray, str)):
            body = "<streamed body>"
        rh = {k: v for k, v in self.headers.items()
              if k in ("content-type", "location", "allow", "retry-after", "x-request-id",
                       "content-length", "www-authenticate")}
        return ("request: %s %s headers=%s body=%s\nresponse: %d %s body=%s" %
                (self.method, self.path, hdrs, short(body, 300), self.status, rh,
                 short(self.body)))


KEY_LABELS = {}


def redact(auth):
    for key, label in KEY_LABELS.items():
        if key in auth:
            return auth.replace(key, "<%s>" % label)
    return auth


class TestFailure(AssertionError):
    pass


class Daemon:
    """One `segmentd serve` process."""

    def __init__(self, ctx, args, name, env=None):
        self.ctx = ctx
        self.name = name
        self.args = list(args)
        self.port = free_port()
        self.base = "127.0.0.1:%d" % self.port
        self.stderr_path = os.path.join(ctx.tmp, "segmentd-%s-%d.stderr" % (name, self.port))
        self.stderr = open(self.stderr_path, "wb")
        cmd = [ctx.binary, "serve", "--listen", self.base, "--log-format", "json"] + list(args)
        self.cmd = cmd
        full_env = dict(ctx.env)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(cmd, stdout=self.stderr, stderr=self.stderr,
                                     stdin=subprocess.DEVNULL, env=full_env)
        self.stopped = False

    def wait_healthy(self, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure("daemon %s exited with %s before /healthz answered; stderr:\n%s"
                                  % (self.name, self.proc.returncode, self.stderr_tail()))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/healthz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
                last = r.status
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise TestFailure("daemon %s: /healthz did not answer 200 within %ds (last: %r)"
                          % (self.name, timeout, last))

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_tail(self, n=3000):
        return self.stderr_text()[-n:]

    def sigterm(self, timeout=10, send=True):
        """Sends SIGTERM (for a test that watches the shutdown itself; send=False: it was sent
        already, only wait) and waits up to timeout seconds; returns (exit status or None if
        still running, seconds waited). stop() later reports a non-zero status but not the
        exit itself, and kills a daemon still running."""
        self.signalled = True
        t0 = time.time()
        if send and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.time() - t0

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM; returns a list of problems (empty when the exit was clean)."""
        if self.stopped:
            return []
        self.stopped = True
        problems = []
        if self.proc.poll() is not None:
            if not getattr(self, "signalled", False):
                problems.append("daemon %s had already exited with status %s"
                                % (self.name, self.proc.returncode))
            elif self.proc.returncode != 0:
                problems.append("daemon %s exited with status %s after SIGTERM"
                                % (self.name, self.proc.returncode))
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=timeout)
                if rc != 0:
                    problems.append("daemon %s exited with status %d after SIGTERM"
                                    % (self.name, rc))
            except subprocess.TimeoutExpired:
                problems.append("daemon %s did not exit within %ds of SIGTERM" % (self.name, timeout))
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        if SANITIZED:
            text = self.stderr_text()
            for m in SANITIZER_MARKERS:
                if m in text:
                    i = text.index(m)
                    problems.append("daemon %s stderr contains %r:\n%s"
                                    % (self.name, m, text[max(0, i - 200):i + 3000]))
                    break
        if problems:
            problems.append("stderr tail of %s:\n%s" % (self.name, self.stderr_tail(2000)))
        return problems


def connect(port, source=None, timeout=5, host="127.0.0.1"):
    """A TCP connection to host:port with a timeout on every operation; source: a local
    address to bind first (e.g. "127.0.0.2": Linux routes all of 127/8 over loopback, so one
    test can play several client addresses)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def parse_response(buf, head_only=False, at_eof=False):
    """Parses one HTTP/1.x response at the start of buf. Returns None while incomplete, else
    (status, version, headers, body, consumed) with headers a dict of lower-case names
    (repeated headers joined with ", "). The body ends by Content-Length or chunked coding; a
    response with neither is complete only at_eof (the connection closed after it)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1")
    lines = head.split("\r\n")
    m = re.match(r"(HTTP/\d\.\d) (\d{3})", lines[0])
    if not m:
        raise ValueError("not an HTTP status line: %r" % lines[0][:200])
    version, status = m.group(1), int(m.group(2))
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        k, v = k.strip().lower(), v.strip()
        headers[k] = headers[k] + ", " + v if k in headers else v
    pos = end + 4
    if head_only or status in (204, 304) or 100 <= status < 200:
        return status, version, headers, b"", pos
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            e = buf.find(b"\r\n", pos)
            if e < 0:
                return None
            size = int(buf[pos:e].split(b";")[0].strip() or b"0", 16)
            pos = e + 2
            if size == 0:
                t_end = buf.find(b"\r\n", pos)  # no trailers expected
                if t_end < 0:
                    return None
                return status, version, headers, body, t_end + 2
            if len(buf) < pos + size + 2:
                return None
            body += buf[pos:pos + size]
            pos += size + 2
    if "content-length" in headers:
        n = int(headers["content-length"].split(",")[0])
        if len(buf) < pos + n:
            return None
        return status, version, headers, buf[pos:pos + n], pos + n
    if at_eof:  # the body runs until the server closes
        return status, version, headers, buf[pos:], len(buf)
    return None


class RawResp(Resp):
    """The answer to bytes sent on a raw socket (Ctx.raw). Besides Resp's fields:
    status 0 when no complete response arrived; closed: the server closed the connection
    (EOF or reset) after its response, or without one; reset: it was a reset; extra: every
    byte that arrived after the first response (a second response, e.g. to a smuggled
    request); timed_out: neither a complete response nor a close arrived in time; raw: all
    bytes received."""

    def __init__(self, sent, status, headers, body, elapsed, closed, reset, extra, timed_out,
                 raw, error=None):
        first = sent.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        method = first[0] if first else "?"
        path = first[1] if len(first) > 1 else "?"
        Resp.__init__(self, method, path, {}, None, status, headers, body or b"", elapsed)
        self.sent = sent
        self.closed = closed
        self.reset = reset
        self.extra = extra
        self.timed_out = timed_out
        self.raw = raw
        self.error = error
        self.watched = False  # whether the connection was watched after the answer

    def closes(self):
        return "close" in (self.header("connection") or "").lower()

    def describe(self):
        sent = self.sent
        for key, label in KEY_LABELS.items():
            sent = sent.replace(key.encode(), ("<%s>" % label).encode())
        if self.closed:
            conn = "closed the connection" + (" (reset)" if self.reset else "")
        elif self.timed_out:
            conn = "sent nothing more (timed out)"
        elif self.watched:
            conn = "kept the connection open"
        else:
            conn = "(connection not watched after the answer)"
        return ("raw request (%d bytes): %r\nraw answer after %.2fs: status %s, server %s, "
                "%d bytes: %r%s" % (len(self.sent), sent[:400], self.elapsed, self.status or "none",
                                   conn, len(self.raw), self.raw[:600],
                                   (" error: %s" % self.error) if self.error else ""))

    def no_answer(self, wait):
        """Why there is no status: a hang or a close without an answer."""
        if self.closed:
            return ("the server closed the connection%s after %.1f s without an answer"
                    % (" (reset)" if self.reset else "", self.elapsed))
        return "no answer within %g s (the request hangs)" % wait


def raw_exchange(port, data, timeout=5, close_wait=1.0, source=None, sock=None):
    """Sends data in one write and reads one response (for up to `timeout` seconds from the
    start); then waits up to close_wait seconds more to see whether the server closes the
    connection or sends anything else (e.g. an answer to a request pipelined behind a bad
    one). Returns a RawResp; network errors are reported in it, never raised. With sock, uses
    that connected socket and leaves it open."""
    t0 = time.time()
    own = sock is None
    buf = b""
    closed = reset = timed_out = False
    error = None
    parsed = None

    def read(until):
        """Reads into buf until `until` (an absolute time); returns "data", "eof", "reset" or
        "timeout"."""
        nonlocal buf
        left = until - time.time()
        if left <= 0:
            return "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return "timeout"
        except ConnectionResetError:
            return "reset"
        if not chunk:
            return "eof"
        buf += chunk
        return "data"

    try:
        if own:
            sock = connect(port, source=source, timeout=timeout)
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            error = "send: %r" % e  # the server may have answered and closed early
        deadline = t0 + timeout
        while True:
            try:
                parsed = parse_response(buf, at_eof=closed)
            except ValueError as e:
                error = str(e)
                break
            if parsed or closed or timed_out:
                break
            how = read(deadline)
            if how == "timeout":
                timed_out = True
            elif how in ("eof", "reset"):
                closed, reset = True, how == "reset"
        elapsed = time.time() - t0
        status, headers, body, extra = 0, {}, b"", b""
        if parsed:
            status, _, headers, body, used = parsed
            end = time.time() + close_wait
            while not closed:
                how = read(end)
                if how == "timeout":
                    break
                if how in ("eof", "reset"):
                    closed, reset = True, how == "reset"
            extra = buf[used:]
        r = RawResp(data, status, headers, body, elapsed, closed, reset, extra, timed_out,
                    buf, error)
        r.watched = bool(parsed) and close_wait > 0
        return r
    except OSError as e:
        return RawResp(data, 0, {}, b"", time.time() - t0, True,
                       isinstance(e, ConnectionResetError), b"", False, buf, "%r" % e)
    finally:
        if own and sock is not None:
            sock.close()


def pids_of_tree(root):
    """root and all its descendants (pids), from /proc/*/stat."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def pg_cluster():
    """The cluster pg_virtualenv made, found by $PGPORT in pg_lsclusters: a dict with version,
    name, port, datadir and postmaster pid (from postmaster.pid), or None."""
    port = os.environ.get("PGPORT")
    if not port:
        return None
    try:
        out = subprocess.run(["pg_lsclusters", "-h"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=30).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and f[2] == port:
            c = {"version": f[0], "name": f[1], "port": port, "datadir": f[5], "pid": None}
            try:
                with open(os.path.join(f[5], "postmaster.pid")) as pf:
                    c["pid"] = int(pf.readline().strip())
            except (OSError, ValueError):
                pass
            return c
    return None


def pg_restart(mode="fast"):
    """Restarts pg_virtualenv's cluster (`pg_ctlcluster -m fast VER NAME restart`); returns
    (ok, output). pg_ctlcluster decides whether the cluster runs from external_pid_file, which
    pg_virtualenv sets to /var/run/postgresql/15-regress.pid for every cluster of that name:
    another test run on the same machine can overwrite or remove it, and then restart says
    "Cluster is already running" without stopping anything. In that case the postmaster is
    stopped with SIGINT (a fast shutdown too) and the cluster started with pg_ctlcluster."""
    c = pg_cluster()
    if not c or not c["pid"]:
        return False, "no pg_virtualenv cluster found (PGPORT=%r)" % os.environ.get("PGPORT")
    p = subprocess.run(["pg_ctlcluster", "-m", mode, c["version"], c["name"], "restart"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    if p.returncode == 0:
        return True, out
    try:
        os.kill(c["pid"], signal.SIGINT if mode == "fast" else signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.time() + 60
    while os.path.exists("/proc/%d" % c["pid"]) and time.time() < deadline:
        time.sleep(0.1)
    p = subprocess.run(["pg_ctlcluster", c["version"], c["name"], "start"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    out += "\n(fallback: SIGINT to the postmaster, then start) " + \
        (p.stdout + p.stderr).decode("utf-8", "replace")
    return p.returncode == 0, out


def pg_cluster_pids():
    """The postmaster of pg_virtualenv's cluster and all its children, or [] if not found."""
    c = pg_cluster()
    if not c or not c["pid"]:
        return []
    return pids_of_tree(c["pid"])


def log_records(text):
    """(records, bad): the JSON objects of a --log-format json stderr, and the lines that are
    not JSON objects."""
    recs, bad = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        if SANITIZED and (line.startswith("=") or line.startswith(" ") or "Sanitizer" in line):
            continue
        try:
            o = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if isinstance(o, dict):
            recs.append(o)
        else:
            bad.append(line)
    return recs, bad


class Ctx:
    """What every test function gets as `t`."""

    Skip = Skip

    def __init__(self, binary, tmp):
        self.binary = binary
        self.tmp = tmp
        self.env = dict(os.environ)
        self.daemon = None
        self.keys = {}
        self.violations = {"no_5xx": [], "x_request_id": [], "problem_json": [],
                           "retry_after": []}
        self.vlock = threading.Lock()
        self.extra_daemons = []
        self.current_test = None
        self.run_tag = uuid.uuid4().hex[:8]

    # ----- unique names -------------------------------------------------------------------
    def uid(self, prefix="c"):
        return "%s-%s" % (prefix, uuid.uuid4().hex[:12])

    def attr_name(self, base="a"):
        return "%s_%s" % (base, uuid.uuid4().hex[:10])

    # ----- CLI ----------------------------------------------------------------------------
    def cli(self, *args, check=True, timeout=60):
        p = subprocess.run([self.binary] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.env, timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise TestFailure("`segmentd %s` exited %d\nstdout: %s\nstderr: %s"
                              % (" ".join(args), p.returncode, out[-2000:], err[-2000:]))
        return p.returncode, out, err

    def create_key(self, tenant, scopes, label=None):
        rc, out, err = self.cli("keys", "create", "--tenant", tenant, "--scopes", scopes)
        lines = [l.strip() for l in out.strip().splitlines() if l.strip()]
        if not lines:
            raise TestFailure("`keys create` printed nothing on stdout (stderr: %s)" % err)
        key = lines[-1]
        if not re.fullmatch(r"sgd_[0-9A-Za-z]{12}_[0-9A-Za-z]{32}", key):
            raise TestFailure("`keys create` last stdout line is not a key of the form "
                              "sgd_<12 base62>_<32 base62>: %r" % key)
        KEY_LABELS[key] = label or ("%s:%s" % (tenant, scopes))
        return key

    def new_tenant(self, scopes="read,write,admin", name=None):
        """A fresh tenant with one key of the given scopes; returns (tenant, key)."""
        tenant = name or ("t-%s-%s" % (self.run_tag, uuid.uuid4().hex[:8]))
        return tenant, self.create_key(tenant, scopes)

    def key_id_candidates(self, key):
        """Possible IDs for `keys revoke ID`, found in `keys list` for this key."""
        m = re.fullmatch(r"sgd_([0-9A-Za-z]{12})_.*", key)
        short_id = m.group(1)
        rc, out, err = self.cli("keys", "list")
        cands = []
        try:
            data = json.loads(out)
            items = data.get("items", data) if isinstance(data, dict) else data
            for it in items:
                if short_id in json.dumps(it):
                    for k in ("id", "key_id", "prefix"):
                        if k in it:
                            cands.append(str(it[k]))
        except ValueError:
            for line in out.splitlines():
                if short_id in line:
                    toks = re.split(r"[\s,|]+", line.strip())
                    cands.extend(tok for tok in toks[:1] if tok)
        cands += [short_id, "sgd_" + short_id]
        seen, res = set(), []
        for c in cands:
            if c not in seen:
                seen.add(c)
                res.append(c)
        return res, out

    # ----- HTTP ---------------------------------------------------------------------------
    def req(self, method, path, body=None, key="A", headers=None, ctype=None, timeout=60,
            expect_503=False, daemon=None, raw_body=None, json_body=True, chunked=False):
        """Sends one request; returns Resp. key: a label of self.keys, a literal key, or None.
        body: a Python value (sent as JSON) unless raw_body (bytes/str/iterable) is given."""
        d = daemon or self.daemon
        h = {}
        if key is not None:
            k = self.keys.get(key, key)
            h["Authorization"] = "Bearer " + k
        payload = None
        if raw_body is not None:
            payload = raw_body.encode("utf-8") if isinstance(raw_body, str) else raw_body
        elif body is not None:
            payload = json.dumps(body).encode("utf-8")
            if ctype is None:
                ctype = "application/json"
        if ctype is not None:
            h["Content-Type"] = ctype
        if headers:
            h.update(headers)
        t0 = time.time()
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout)
        try:
            try:
                if chunked or (payload is not None and not isinstance(payload, (bytes, bytearray))):
                    c.request(method, path, body=payload, headers=h, encode_chunked=True)
                else:
                    c.request(method, path, body=payload, headers=h)
            except (BrokenPipeError, ConnectionResetError):
                # the server may answer early (413) and stop reading; its answer is still there
                pass
            r = c.getresponse()
            data = r.read()
            hdrs = {}
            for k2, v in r.getheaders():
                lk = k2.lower()
                hdrs[lk] = hdrs[lk] + ", " + v if lk in hdrs else v
            resp = Resp(method, path, h, payload, r.status, hdrs, data, time.time() - t0)
        except (OSError, http.client.HTTPException) as e:
            raise TestFailure("request %s %s failed after %.1fs: %r (daemon %s alive: %s)"
                              % (method, path, time.time() - t0, e, d.name,
                                 d.proc.poll() is None))
        finally:
            c.close()
        self.check_invariants(resp, expect_503)
        return resp

    def check_invariants(self, r, expect_503=False):
        where = "[%s] " % (self.current_test or "?")
        with self.vlock:
            if r.status >= 500 and not (expect_503 and r.status == 503):
                self.violations["no_5xx"].append(where + r.describe())
            if not r.header("x-request-id"):
                self.violations["x_request_id"].append(where + r.describe())
            ra = r.header("retry-after") or ""
            if r.status == 503 and not (ra.isdigit() and int(ra) >= 1):
                self.violations["retry_after"].append(where + r.describe())
            if r.status >= 400 and r.path != "/readyz":
                err = problem_shape_error(r)
                if err:
                    self.violations["problem_json"].append(where + err + "\n" + r.describe())

    # ----- raw sockets -----------------------------------------------------------------
    connect = staticmethod(connect)
    parse_response = staticmethod(parse_response)
    free_port = staticmethod(free_port)

    def auth(self, key="A"):
        """The Authorization header line (with CRLF) for a raw request, as bytes."""
        return ("Authorization: Bearer %s\r\n" % self.keys.get(key, key)).encode()

    def raw(self, data, daemon=None, timeout=5, close_wait=1.0, source=None, sock=None,
            expect_503=False, invariants=True):
        """Sends raw bytes (one or more requests, any framing) on a new connection (or sock)
        and returns a RawResp: status (0: none), headers, body, closed, extra (bytes after the
        first response), timed_out. The response goes through the same invariant checks as
        req() unless invariants=False (for answers libmicrohttpd makes itself)."""
        if isinstance(data, str):
            data = data.encode()
        d = daemon or self.daemon
        r = raw_exchange(d.port, data, timeout=timeout, close_wait=close_wait, source=source,
                         sock=sock)
        if r.status and invariants:
            self.check_invariants(r, expect_503)
        return r

    def slow_import(self, d, prefix, lines, pause, box):
        """Streams a chunked NDJSON customers import of `lines` lines to daemon d, one every
        `pause` seconds, with http.client; box gets "status", "doc" (the JSON answer) or
        "outcome" ("answer", "clean close" when the server closed without a byte of an answer,
        "truncated (...)" for part of an answer, "error: ..."), and "at" (when it ended)."""
        def gen():
            for i in range(lines):
                yield (json.dumps({"id": "%s-%d" % (prefix, i)}) + "\n").encode()
                time.sleep(pause)
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
        try:
            c.request("POST", "/v1/customers:import", body=gen(), encode_chunked=True,
                      headers={"Authorization": "Bearer " + self.keys["A"],
                               "Content-Type": "application/x-ndjson"})
            r = c.getresponse()
            data = r.read()
            box["status"] = r.status
            try:
                box["doc"] = json.loads(data)
            except ValueError:
                box["doc"] = None
            box["outcome"] = "answer"
        except http.client.IncompleteRead as e:
            box["outcome"] = "truncated (%r)" % e
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            box["outcome"] = "clean close"
        except (OSError, http.client.HTTPException) as e:
            box["outcome"] = "error: %r" % e
        finally:
            box["at"] = time.time()
            c.close()

    # ----- the pg_virtualenv cluster and logs ----------------------------------------
    pg_cluster = staticmethod(pg_cluster)
    pg_cluster_pids = staticmethod(pg_cluster_pids)
    pg_restart = staticmethod(pg_restart)
    pids_of_tree = staticmethod(pids_of_tree)
    log_records = staticmethod(log_records)

    # ----- assertions ---------------------------------------------------------------------
    def fail(self, msg, r=None):
        raise TestFailure(msg + ("\n" + r.describe() if r is not None else ""))

    def check(self, cond, msg, r=None):
        if not cond:
            self.fail(msg, r)

    def eq(self, got, want, msg="", r=None):
        if got != want:
            self.fail("%s: expected %r, got %r" % (msg or "value", want, got), r)

    def expect(self, r, *statuses):
        if r.status not in statuses:
            self.fail("expected status %s, got %d" % ("/".join(map(str, statuses)), r.status), r)
        return r

    def expect_json(self, r, *statuses):
        self.expect(r, *statuses)
        if r.json is None:
            self.fail("response body is not JSON", r)
        return r.json

    def problem(self, r, *statuses):
        """Checks that r is a problem response with one of statuses; returns its JSON."""
        self.expect(r, *statuses)
        err = problem_shape_error(r)
        if err:
            self.fail(err, r)
        return r.json

    def problem_error(self, r, *statuses):
        """Like problem() but returns what is wrong (a string) or None, for tests that collect
        every problem of several cases before failing."""
        if statuses and r.status not in statuses:
            return "expected status %s, got %s" % ("/".join(map(str, statuses)), r.status or
                                                   "no response")
        return problem_shape_error(r)

    def pointers(self, p):
        return [e.get("pointer") for e in (p.get("errors") or []) if isinstance(e, dict)]

    def lines(self, doc):
        return [e.get("line") for e in (doc.get("errors") or []) if isinstance(e, dict)]

    # ----- daemons ------------------------------------------------------------------------
    def start_daemon(self, args, name, env=None, timeout=60):
        """Starts a second `segmentd serve` with extra flags (and environment variables) and
        waits for /healthz. A daemon that does not come up (e.g. it refuses a flag) is killed
        and the test fails with its stderr; stop it with stop_daemon in a `finally`."""
        d = Daemon(self, args, name, env=env)
        self.extra_daemons.append(d)
        try:
            d.wait_healthy(timeout)
        except TestFailure as e:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            d.stopped = True
            d.stderr.close()
            msg = str(e)
            if "stderr" not in msg:
                msg += "\nits stderr:\n" + d.stderr_tail(1500)
            raise TestFailure("could not start a daemon with %s: %s"
                              % (" ".join(args) or "no extra flags", msg))
        return d

    def stop_daemon(self, d):
        problems = d.stop()
        if problems:
            self.fail("\n".join(problems))


def problem_shape_error(r):
    ct = (r.header("content-type") or "").split(";")[0].strip().lower()
    if ct != "application/problem+json":
        return "error response Content-Type is %r, not application/problem+json" % ct
    p = r.json
    if not isinstance(p, dict):
        return "problem body is not a JSON object"
    for f in ("type", "title", "status", "detail"):
        if f not in p:
            return "problem body lacks %r" % f
    if p.get("status") != r.status:
        return "problem status %r differs from HTTP status %d" % (p.get("status"), r.status)
    slugs = PROBLEM_SLUGS.get(r.status)
    if isinstance(slugs, str):
        slugs = (slugs,)
    if slugs and p.get("type") not in ["urn:segmentd:problem:" + s for s in slugs]:
        return "problem type %r, expected urn:segmentd:problem: + one of %s" % (p.get("type"), slugs)
    if not isinstance(p.get("detail"), str) or not p["detail"]:
        return "problem detail is empty or not a string"
    return None


def load_tests(only):
    mods = sorted(f for f in os.listdir(HERE) if re.fullmatch(r"test_\w+\.py", f))
    tests = []
    for fname in mods:
        name = fname[:-3]
        spec = importlib.util.spec_from_file_location("segapi_" + name, os.path.join(HERE, fname))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        fns = [(getattr(mod, n), n) for n in dir(mod)
               if n.startswith("test_") and callable(getattr(mod, n))
               and getattr(getattr(mod, n), "__module__", None) == mod.__name__]
        fns.sort(key=lambda fn: inspect.getsourcelines(fn[0])[1])
        for fn, n in fns:
            full = "%s.%s" % (name[5:], n[5:])
            if only and not any(o in full for o in only):
                continue
            tests.append((full, fn))
    return tests


def emit(ok, name, msg=None, skip=None):
    line = ("ok - " if ok else "not ok - ") + name
    if skip:
        line += " # SKIP " + skip
    print(line, flush=True)
    if msg and not ok:
        for l in str(msg).rstrip().splitlines():
            print("#   " + l, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    binary = os.path.abspath(os.path.join(args.build, "segmentd"))
    passed = failed = 0
    t_start = time.time()

    def result(ok, name, msg=None, skip=None):
        nonlocal passed, failed
        emit(ok, name, msg, skip)
        if ok:
            passed += 1
        else:
            failed += 1

    if not os.access(binary, os.X_OK):
        result(False, "api.setup", "daemon binary %s not found or not executable" % binary)
        print("# api: %d passed, %d failed" % (passed, failed))
        return 1
    if not os.environ.get("PGHOST") and not os.environ.get("DATABASE_URL"):
        print("# warning: neither PGHOST nor DATABASE_URL is set; run inside pg_virtualenv",
              flush=True)

    tmp = tempfile.mkdtemp(prefix="segmentd-api-")
    ctx = Ctx(binary, tmp)
    try:
        ctx.current_test = "setup"
        ctx.cli("migrate", timeout=120)
        tA = "tenant-a-" + ctx.run_tag
        tB = "tenant-b-" + ctx.run_tag
        ctx.tenant_a, ctx.tenant_b = tA, tB
        ctx.keys["A"] = ctx.create_key(tA, "read,write,admin", "A:all")
        ctx.keys["Ar"] = ctx.create_key(tA, "read", "A:read")
        ctx.keys["Aw"] = ctx.create_key(tA, "write", "A:write")
        ctx.keys["B"] = ctx.create_key(tB, "read,write,admin", "B:all")
        ctx.daemon = Daemon(ctx, [], "main")
        ctx.daemon.wait_healthy()
    except Exception as e:
        msg = str(e) if isinstance(e, TestFailure) else traceback.format_exc()
        if ctx.daemon:
            ctx.daemon.stop()
            msg += "\nstderr:\n" + ctx.daemon.stderr_tail()
        result(False, "api.setup", msg)
        print("# api: %d passed, %d failed" % (passed, failed))
        return 1

    tests = load_tests(args.only)
    died = False
    for name, fn in tests:
        if died:
            result(False, name, "not run: the daemon died earlier")
            continue
        ctx.current_test = name
        t0 = time.time()
        try:
            fn(ctx)
            result(True, name + " (%.1fs)" % (time.time() - t0))
        except Skip as e:
            result(True, name, skip=str(e))
        except TestFailure as e:
            result(False, name, str(e))
        except Exception:
            result(False, name, "test raised an exception (test bug or unexpected response):\n"
                   + traceback.format_exc())
        if ctx.daemon.proc.poll() is not None:
            died = True
            result(False, name + ".daemon_alive",
                   "the daemon exited with status %s during this test; stderr tail:\n%s"
                   % (ctx.daemon.proc.returncode, ctx.daemon.stderr_tail()))
    ctx.current_test = "shutdown"

    for d in ctx.extra_daemons:
        if not d.stopped:
            probs = d.stop()
            if probs:
                result(False, "daemon_%s_clean_shutdown" % d.name, "\n".join(probs))

    # Invariants collected over every response.
    names = {"no_5xx": "invariant.no_5xx_for_any_request",
             "x_request_id": "invariant.x_request_id_on_every_response",
             "problem_json": "invariant.every_error_is_problem_json",
             "retry_after": "invariant.every_503_has_a_delta_seconds_retry_after"}
    for k, n in names.items():
        v = ctx.violations[k]
        if v:
            result(False, n, "%d violation(s); first ones:\n%s" % (len(v), "\n".join(v[:5])))
        else:
            result(True, n)

    probs = ctx.daemon.stop()
    result(not probs, "daemon.sigterm_exits_0_within_10s" +
           (".and_no_sanitizer_reports" if SANITIZED else ""), "\n".join(probs))

    # The log: JSON lines (we asked for --log-format json) and no API key in it.
    text = ctx.daemon.stderr_text()
    recs, bad = log_records(text)
    result(not bad, "daemon.log_lines_are_json_objects",
           "%d non-JSON line(s), e.g.:\n%s" % (len(bad), "\n".join(l[:300] for l in bad[:5])))
    access = [o for o in recs if o.get("msg") == "request"]
    typed = [o for o in access if not (type(o.get("status")) is int
                                       and type(o.get("duration_ms")) in (int, float))]
    result(bool(access) and not typed, "daemon.access_log_status_and_duration_are_json_numbers",
           "%d access-log line(s) (\"msg\": \"request\") of %d lack a JSON-number status or "
           "duration_ms, e.g.:\n%s" % (len(typed), len(access),
                                      "\n".join(json.dumps(o)[:300] for o in typed[:3]))
           if access else "no access-log line (\"msg\": \"request\") in the main daemon's log")
    leaked = [label for key, label in KEY_LABELS.items()
              if key in text or key.split("_")[2] in text]
    result(not leaked, "daemon.log_contains_no_api_key_secret",
           "the secret of key(s) %s appears in the daemon's stderr" % leaked)

    print("# api: %d passed, %d failed in %.0fs (daemon stderr: %s)"
          % (passed, failed, time.time() - t_start, ctx.daemon.stderr_path), flush=True)
    if failed == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Slow clients (slowloris) on a daemon of its own with small limits: per-address connection
caps, header, body and idle timeouts, while ordinary clients keep being served.

Linux routes all of 127.0.0.0/8 over loopback, so binding the client socket to 127.0.0.2 ...
127.0.0.8 before connecting to 127.0.0.1 lets one test play several client addresses.
"""
import selectors
import threading
import time
import urllib.parse

CAP = 40             # --max-connections-per-address
HEADER_TIMEOUT = 2   # --header-timeout
IDLE_TIMEOUT = 3     # --idle-timeout
BODY_TIMEOUT = 2     # --body-timeout
FLAGS = ["--max-connections", "200", "--max-connections-per-address", str(CAP),
         "--header-timeout", str(HEADER_TIMEOUT), "--idle-timeout", str(IDLE_TIMEOUT),
         "--body-timeout", str(BODY_TIMEOUT)]
ATTACKERS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
PER_ADDRESS = 60
MARGIN = 4           # seconds of slack on every timeout (a loaded 2-core CI machine)
ATTACK_LIMIT = 12    # seconds the attack runs at most
PROBE_LIMIT = 3      # seconds an ordinary request may take during the attack


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


class Conn:
    def __init__(self, kind, addr, sock, started, drip=b""):
        self.kind = kind        # "header" | "body" | "idle" | "silent"
        self.addr = addr
        self.sock = sock
        self.started = started  # when the part the timeout counts from was sent
        self.drip = drip        # bytes sent one a second
        self.sent = 0
        self.closed_at = None
        self.how = None
        self.got = b""

    def age(self):
        return (self.closed_at or time.time()) - self.started


class Attack:
    """The connections of one run, driven from one thread with a selector."""

    def __init__(self, t, d):
        self.t, self.d = t, d
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.opened = {}      # attacker address -> when its connections were all open
        self.probe_log = []   # (when, what, status or error text, seconds)
        self.stop_probes = threading.Event()

    def close(self, c, how):
        if c.closed_at is None:
            c.closed_at = time.time()
            c.how = how
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()

    def watch(self, c):
        c.sock.setblocking(False)
        self.sel.register(c.sock, selectors.EVENT_READ, c)
        self.conns.append(c)

    def probes(self):
        """Ordinary requests from 127.0.0.1 every 0.2 s until stop_probes."""
        t, d, i = self.t, self.d, 0
        while not self.stop_probes.is_set():
            t0 = time.time()
            what = "GET /healthz" if i % 2 == 0 else "GET /v1/customers/x (authenticated)"
            try:
                if i % 2 == 0:
                    r = t.req("GET", "/healthz", key=None, daemon=d, timeout=PROBE_LIMIT + 5)
                else:
                    r = t.req("GET", cpath("slowloris-probe"), daemon=d,
                              timeout=PROBE_LIMIT + 5)
                self.probe_log.append((t0, what, r.status, r.elapsed))
            except AssertionError as e:
                self.probe_log.append((t0, what, "failed: %s" % str(e).splitlines()[0],
                                       time.time() - t0))
            i += 1
            self.stop_probes.wait(0.2)

    def open_all(self):
        t, d = self.t, self.d
        # header dribblers: a request line, then one header byte a second
        for addr in ATTACKERS:
            for _ in range(PER_ADDRESS):
                try:
                    s = t.connect(d.port, source=addr, timeout=3)
                except OSError as e:
                    c = Conn("header", addr, None, time.time())
                    c.closed_at, c.how = c.started, "connect failed: %r" % e
                    self.conns.append(c)
                    continue
                c = Conn("header", addr, s, time.time(), b"X-Slow: " + b"a" * 64)
                try:
                    s.sendall(b"GET /healthz HTTP/1.1\r\n")
                except OSError as e:
                    self.conns.append(c)
                    self.close(c, "send failed: %r" % e)
                    continue
                self.watch(c)
                self.poll()  # closes at once are noted at once
            self.opened[addr] = time.time()
            self.poll(0.05)
        # a body dribbled after complete headers
        s = t.connect(d.port, source="127.0.0.6", timeout=3)
        self.body_cid = t.uid("slowbody")
        s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: "
                   "application/json\r\nContent-Length: 100000\r\n\r\n"
                   % (cpath(self.body_cid), t.keys["A"])).encode())
        self.body = Conn("body", "127.0.0.6", s, time.time(),
                         b'{"attributes": {"x": "' + b"b" * 200)
        self.watch(self.body)
        # a keep-alive connection left idle after one complete request
        s = t.connect(d.port, source="127.0.0.7", timeout=3)
        r = t.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", daemon=d, sock=s, timeout=3,
                  close_wait=0)
        self.idle = Conn("idle", "127.0.0.7", s, time.time())
        self.idle_said_close = r.closes()
        t.check(r.status == 200, "GET /healthz on the connection to be left idle", r)
        self.watch(self.idle)
        # a connection that never sends anything
        s = t.connect(d.port, source="127.0.0.8", timeout=3)
        self.silent = Conn("silent", "127.0.0.8", s, time.time())
        self.watch(self.silent)

    def poll(self, timeout=0):
        """Notes what the server sent or closed (within timeout seconds)."""
        for key, _ in self.sel.select(timeout=timeout):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except ConnectionResetError:
                self.close(c, "reset")
                continue
            except BlockingIOError:
                continue
            if not data:
                self.close(c, "eof")
            else:
                c.got += data

    def drive(self, t_attack):
        """One byte a second to every dribbler; notes every close, until all are closed or
        ATTACK_LIMIT seconds passed."""
        next_drip = time.time() + 1
        while (time.time() - t_attack < ATTACK_LIMIT
               and any(c.closed_at is None for c in self.conns)):
            self.poll(max(0, min(0.2, next_drip - time.time())))
            if time.time() >= next_drip:
                next_drip += 1
                for c in self.conns:
                    if c.closed_at is None and c.drip:
                        try:
                            c.sock.send(c.drip[c.sent % len(c.drip):][:1])
                            c.sent += 1
                        except BlockingIOError:
                            pass
                        except OSError as e:
                            self.close(c, "send failed: %r" % e)

    def run(self):
        prober = threading.Thread(target=self.probes)
        prober.start()
        try:
            self.t_attack = time.time()
            self.open_all()
            self.drive(self.t_attack)
        finally:
            self.stop_probes.set()
            prober.join(30)
            for c in self.conns:
                if c.closed_at is None:
                    c.sock.close()
            self.sel.close()

    def problems(self):
        problems = []
        conns = self.conns
        # 1. per-address cap: one second after an address opened its 60 connections, at most
        #    CAP of them are still held (the rest were closed at once)
        for addr in ATTACKERS:
            mine = [c for c in conns if c.addr == addr]
            at = self.opened[addr] + 1.0
            held = [c for c in mine if c.closed_at is None or c.closed_at > at]
            if len(held) > CAP:
                problems.append("%s opened %d connections: %d were still held 1 s later "
                                "(--max-connections-per-address %d: the rest must be closed at "
                                "once)" % (addr, len(mine), len(held), CAP))
            if len(held) < CAP // 2:
                problems.append("%s: only %d of its connections were held 1 s after they were "
                                "opened; up to %d (the cap) are allowed and slow clients are not "
                                "cut before --header-timeout %d s (closes: %s)"
                                % (addr, len(held), CAP, HEADER_TIMEOUT,
                                   sorted(set(c.how for c in mine if c.how))))
        # 2. header dribblers are cut within header-timeout + margin although they keep sending
        late = [c for c in conns if c.kind == "header" and c.age() > HEADER_TIMEOUT + MARGIN]
        if late:
            still = sum(1 for c in late if c.closed_at is None)
            problems.append("%d header-dribbling connections (one header byte a second) were "
                            "not closed within %d s of their request line (--header-timeout %d "
                            "+ %d s margin); %d were still open when the test stopped after "
                            "%d s; ages: %s" % (len(late), HEADER_TIMEOUT + MARGIN,
                                                HEADER_TIMEOUT, MARGIN, still, ATTACK_LIMIT,
                                                sorted(round(c.age(), 1) for c in late)[:10]))
        # 3. a body dribbled at 1 byte/s is cut within body-timeout + margin
        body = self.body
        if body.age() > BODY_TIMEOUT + MARGIN:
            problems.append("a body sent at 1 byte a second after complete headers (Content-"
                            "Length: 100000) was not cut off within %d s (--body-timeout %d + "
                            "%d s margin): %s after %.1f s; answer: %r"
                            % (BODY_TIMEOUT + MARGIN, BODY_TIMEOUT, MARGIN,
                               "closed" if body.closed_at else "still open", body.age(),
                               body.got[:200]))
        # 4. an idle keep-alive connection is closed after idle-timeout, not before ~half of it
        idle, silent = self.idle, self.silent
        if idle.age() > IDLE_TIMEOUT + MARGIN:
            problems.append("a keep-alive connection idle after one request was not closed "
                            "within %d s (--idle-timeout %d + %d s margin): %s after %.1f s"
                            % (IDLE_TIMEOUT + MARGIN, IDLE_TIMEOUT, MARGIN, "closed"
                               if idle.closed_at else "still open", idle.age()))
        elif not self.idle_said_close and idle.age() < IDLE_TIMEOUT / 2:
            problems.append("a keep-alive connection (its answer had no Connection: close) was "
                            "closed %.1f s after its request, well before --idle-timeout %d"
                            % (idle.age(), IDLE_TIMEOUT))
        if silent.age() > IDLE_TIMEOUT + MARGIN:
            problems.append("a connection that never sent a byte was not closed within %d s "
                            "(--idle-timeout %d + %d s margin): %s after %.1f s"
                            % (IDLE_TIMEOUT + MARGIN, IDLE_TIMEOUT, MARGIN, "closed"
                               if silent.closed_at else "still open", silent.age()))
        # 5. ordinary clients were served promptly throughout
        bad = [p for p in self.probe_log if not isinstance(p[2], int)
               or p[2] not in (200, 404) or p[3] > PROBE_LIMIT]
        if bad or len(self.probe_log) < 5:
            problems.append("requests from 127.0.0.1 during the attack (%d sent): %d not "
                            "answered with 200/404 within %d s, e.g. %s"
                            % (len(self.probe_log), len(bad), PROBE_LIMIT,
                               ["%.1fs into the attack: %s -> %s after %.1fs"
                                % (w - self.t_attack, what, st, el)
                                for w, what, st, el in bad[:5]]))
        return problems


def test_slowloris_capped_and_timed_out_while_others_are_served(t):
    d = t.start_daemon(FLAGS, "slowloris")
    try:
        a = Attack(t, d)
        a.run()
        problems = a.problems()
        # afterwards the daemon serves normally
        time.sleep(0.3)
        for method, path, key, want in (("GET", "/healthz", None, 200),
                                        ("GET", "/metrics", None, 200),
                                        ("GET", cpath(a.body_cid), "A", 404)):
            try:
                r = t.req(method, path, key=key, daemon=d, timeout=10)
                if r.status != want:
                    problems.append("after the attack: %s %s answered %d, expected %d"
                                    % (method, path, r.status, want))
            except AssertionError as e:
                problems.append("after the attack: %s %s failed: %s" % (method, path, e))
        t.check(not problems, "\n".join(problems))
    finally:
        t.stop_daemon(d)

"""Body limit (413), rate limit (429) and graceful shutdown, each on a daemon of its own."""
import json
import socket
import threading
import time
import urllib.parse


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def raw_exchange(port, head, body_part, wait=10):
    """Sends head + body_part on a raw socket and returns what arrives within `wait` seconds."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    try:
        s.sendall(head + body_part)
        s.settimeout(wait)
        data = b""
        deadline = time.time() + wait
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                hdr, _, rest = data.partition(b"\r\n\r\n")
                cl = [l for l in hdr.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(rest) >= int(cl[0].split(b":")[1]):
                    break
        return data
    finally:
        s.close()


def open_chunked_import(port, key):
    """Starts POST /v1/customers:import with a chunked NDJSON body on a raw socket and returns
    the socket; send chunks with send_chunk and end the body with send_chunk(s, b"")."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(("POST /v1/customers:import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
               % key).encode())
    return s


def send_chunk(s, data):
    s.sendall(b"%x\r\n" % len(data) + data + b"\r\n")


def test_413_body_over_max_body(t):
    d = t.start_daemon(["--max-body", "1024"], "maxbody")
    try:
        cid = t.uid()
        small = {"attributes": {"x": "y" * 500}}
        t.expect(t.req("PUT", cpath(cid), small, daemon=d), 201)
        big = {"attributes": {"x": "y" * 2000}}
        t.problem(t.req("PUT", cpath(cid), big, daemon=d), 413)
        t.problem(t.req("PATCH", cpath(cid), big, daemon=d), 413)
        t.problem(t.req("POST", "/v1/events", [{"customer_id": cid, "type": "t", "occurred_at":
                                               "2026-01-01T00:00:00Z"}] * 30, daemon=d), 413)
        # chunked body without Content-Length over the limit
        def gen():
            for _ in range(10):
                yield b" " * 300
            yield json.dumps(small).encode()
        t.problem(t.req("PUT", cpath(cid), raw_body=gen(), ctype="application/json", daemon=d,
                        chunked=True), 413)
        # 413 is answered from Content-Length, before the body is sent
        auth = "Bearer " + t.keys["A"]
        head = ("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000000\r\n\r\n" % (cpath(cid), auth)).encode()
        data = raw_exchange(d.port, head, b'{"attributes": {', wait=10)
        t.check(data.startswith(b"HTTP/1.1 413") or data.startswith(b"HTTP/1.0 413"),
                "a PUT announcing 100 MB must get 413 without sending the body; got %r"
                % data[:300])
        # imports stream: no total limit, only per line
        lines = "".join(json.dumps({"id": "%s-%d" % (cid, i), "attributes": {"p": "q" * 50}}) + "\n"
                        for i in range(200)).encode()
        r = t.req("POST", "/v1/customers:import", raw_body=lines, ctype="application/x-ndjson", daemon=d)
        dd = t.expect_json(r, 200)
        t.eq(dd.get("inserted"), 200, "import far over --max-body is streamed", r)
        ev = "".join(json.dumps({"customer_id": cid, "type": "t", "occurred_at": "2026-01-01T00:00:00Z"})
                     + "\n" for _ in range(100)).encode()
        r = t.req("POST", "/v1/events:import", raw_body=ev, ctype="application/x-ndjson", daemon=d)
        t.eq(t.expect_json(r, 200).get("accepted"), 100, "events import over --max-body", r)
        t.expect(t.req("GET", "/healthz", key=None, daemon=d), 200)
    finally:
        t.stop_daemon(d)


def test_default_max_body_is_16mib(t):
    cid = t.uid()
    blob = "z" * (16 * 1024 * 1024 + 10)
    r = t.req("PUT", cpath(cid), {"attributes": {"b": blob}}, timeout=60)
    t.problem(r, 413)
    blob = "z" * (15 * 1024 * 1024)
    r = t.req("PUT", cpath(cid), {"attributes": {"b": blob}}, timeout=60)
    t.expect(r, 201)


def test_429_rate_limit_per_tenant(t):
    d = t.start_daemon(["--rate-limit", "2"], "ratelimit")
    try:
        statuses, limited = [], None
        for _ in range(30):
            r = t.req("GET", "/v1/customers?limit=1", daemon=d)
            statuses.append(r.status)
            if r.status == 429:
                limited = r
                break
        t.check(limited is not None, "no 429 after 30 rapid requests with --rate-limit 2: %s" % statuses)
        t.problem(limited, 429)
        ok_before = statuses.index(429)
        t.check(2 <= ok_before <= 6, "burst should be about 2x the rate (4): %d requests passed "
                "before the first 429 (%s)" % (ok_before, statuses), limited)
        ra = limited.header("retry-after") or ""
        t.check(ra.isdigit() and 1 <= int(ra) <= 60, "Retry-After %r must be delta-seconds" % ra, limited)
        # another tenant has its own bucket
        r = t.req("GET", "/v1/customers?limit=1", key="B", daemon=d)
        t.expect(r, 200)
        # unauthenticated operational endpoints are not rate-limited per tenant
        t.expect(t.req("GET", "/healthz", key=None, daemon=d), 200)
        time.sleep(int(ra) + 0.2)
        t.expect(t.req("GET", "/v1/customers?limit=1", daemon=d), 200)
    finally:
        t.stop_daemon(d)


def test_graceful_shutdown_finishes_inflight_request(t):
    d = t.start_daemon([], "graceful")
    p = t.uid()
    box = {}

    def gen():
        for i in range(20):
            yield (json.dumps({"id": "%s-%d" % (p, i)}) + "\n").encode()
            time.sleep(0.1)

    def client():
        try:
            box["r"] = t.req("POST", "/v1/customers:import", raw_body=gen(), chunked=True,
                             ctype="application/x-ndjson", daemon=d, timeout=30)
        except AssertionError as e:
            box["e"] = str(e)
    th = threading.Thread(target=client)
    th.start()
    time.sleep(0.7)
    t0 = time.time()
    import signal
    d.proc.send_signal(signal.SIGTERM)
    th.join(40)
    try:
        rc = d.proc.wait(timeout=15)
    except Exception:
        rc = None
    d.stopped = False  # let stop_daemon do the sanitizer check; it sees the exit
    t.check("r" in box, "in-flight import was cut off by SIGTERM: %s" % box.get("e"))
    r = box["r"]
    dd = t.expect_json(r, 200)
    t.eq(dd.get("inserted"), 20, "the in-flight import finished completely", r)
    t.eq(rc, 0, "exit status after SIGTERM with a request in flight (%.1fs)" % (time.time() - t0))
    # new connections are refused after shutdown
    try:
        socket.create_connection(("127.0.0.1", d.port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    t.check(refused, "the port still accepts connections after the daemon exited")
    t.expect(t.req("GET", cpath(p + "-19")), 200)
    probs = d.stop()
    probs = [x for x in probs if "already exited with status 0" not in x and "stderr tail" not in x]
    t.check(not probs, "\n".join(probs))


def test_client_disconnect_mid_request_does_not_leak(t):
    """Clients that vanish mid-import or mid-body must give back their pool connection."""
    d = t.start_daemon(["--db-pool", "2"], "disconnect")
    try:
        auth = "Bearer " + t.keys["A"]
        p = t.uid()
        for i in range(6):
            s = open_chunked_import(d.port, t.keys["A"])
            chunk = "".join(json.dumps({"id": "%s-%d-%d" % (p, i, j)}) + "\n" for j in range(300)).encode()
            for _ in range(3):
                send_chunk(s, chunk)
            time.sleep(0.2)
            s.close()
            s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Type: "
                       "application/json\r\nContent-Length: 5000\r\n\r\n{\"attributes\": {"
                       % (cpath(p + "-put"), auth)).encode())
            time.sleep(0.1)
            s.close()
        time.sleep(0.5)
        for i in range(6):
            r = t.req("PUT", cpath("%s-after-%d" % (p, i)), {"attributes": {}}, daemon=d, timeout=10)
            t.expect(r, 201)
            t.check(r.elapsed < 5, "request after aborted clients took %.1fs (pool exhausted?)"
                    % r.elapsed, r)
        t.expect(t.req("GET", "/readyz", key=None, daemon=d), 200)
    finally:
        t.stop_daemon(d)


def test_slow_importers_do_not_hold_the_pool(t):
    """An import borrows a connection only while it writes a batch: importers that are slow to
    send (here: more of them than the pool has connections) leave the pool to other requests."""
    d = t.start_daemon(["--db-pool", "2"], "slowimport")
    socks = []
    try:
        p = t.uid()
        for i in range(4):
            s = open_chunked_import(d.port, t.keys["A"])
            send_chunk(s, (json.dumps({"id": "%s-slow-%d" % (p, i)}) + "\n").encode())
            socks.append(s)
        time.sleep(0.3)
        for i in range(3):
            r = t.req("PUT", cpath("%s-meanwhile-%d" % (p, i)), {"attributes": {}}, daemon=d,
                      timeout=10)
            t.expect(r, 201)
            t.check(r.elapsed < 2, "a PUT while 4 imports were open took %.1fs" % r.elapsed, r)
        # the importers finish normally afterwards
        for i, s in enumerate(socks):
            send_chunk(s, b"")
            data = b""
            while b"}" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            t.check(b" 200 " in data.split(b"\r\n")[0] and b'"inserted":1' in data,
                    "slow import %d: %r" % (i, data[:300]))
    finally:
        for s in socks:
            s.close()
        t.stop_daemon(d)


def test_cors_preflight_and_allowed_origins(t):
    """--cors-origins: an allowed origin gets the CORS headers (and a preflight answer), any
    other origin gets none; without the setting no CORS header is ever sent."""
    d = t.start_daemon(["--cors-origins", "https://app.example, https://admin.example"], "cors")
    try:
        ok = "https://admin.example"
        r = t.req("OPTIONS", "/v1/customers/x", key=None, daemon=d,
                  headers={"Origin": ok, "Access-Control-Request-Method": "PUT"})
        t.eq(r.status, 204, "preflight", r)
        t.eq(r.header("access-control-allow-origin"), ok, "allowed origin echoed", r)
        methods = r.header("access-control-allow-methods") or ""
        for m in ("GET", "PUT", "PATCH", "DELETE"):
            t.check(m in methods, "preflight allows %s: %r" % (m, methods), r)
        t.check("Authorization" in (r.header("access-control-allow-headers") or ""),
                "preflight allows the Authorization header", r)
        r = t.req("GET", "/v1/customers", daemon=d, headers={"Origin": ok})
        t.expect(r, 200)
        t.eq(r.header("access-control-allow-origin"), ok, "simple request", r)
        t.check("X-Request-Id" in (r.header("access-control-expose-headers") or ""),
                "X-Request-Id exposed to scripts", r)
        r = t.req("GET", "/v1/customers", daemon=d, headers={"Origin": "https://evil.example"})
        t.expect(r, 200)
        t.eq(r.header("access-control-allow-origin"), None, "other origins get no CORS header", r)
        r = t.req("OPTIONS", "/nowhere", key=None, daemon=d, headers={"Origin": ok})
        t.problem(r, 404)
    finally:
        t.stop_daemon(d)
    # the main daemon runs without --cors-origins
    r = t.req("GET", "/v1/customers", headers={"Origin": "https://app.example"})
    t.expect(r, 200)
    t.eq(r.header("access-control-allow-origin"), None, "no CORS without the setting", r)

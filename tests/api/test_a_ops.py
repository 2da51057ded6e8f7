"""Operational endpoints, request ids, routing (404/405), the CLI."""
import re
import subprocess


def test_healthz(t):
    r = t.req("GET", "/healthz", key=None)
    t.expect(r, 200)


def test_readyz_when_migrated(t):
    r = t.req("GET", "/readyz", key=None)
    t.expect(r, 200)


def test_openapi_yaml(t):
    r = t.req("GET", "/openapi.yaml", key=None)
    t.expect(r, 200)
    text = r.body.decode("utf-8", "replace")
    t.check(re.search(r"^openapi:\s*['\"]?3\.", text, re.M), "body is not an OpenAPI 3 document", r)
    for p in ("/v1/customers/{id}", "/v1/events", "/v1/attributes/{name}", "/v1/settings"):
        t.check(p in text, "openapi.yaml does not mention %s" % p, r)
    ct = r.header("content-type") or ""
    t.check("yaml" in ct or ct.startswith("text/"), "Content-Type %r is not a YAML/text type" % ct, r)


def _metric_lines(text, needle):
    return [l for l in text.splitlines() if l and not l.startswith("#") and needle in l]


def _sum_counter(text, route_words):
    """Sums request counters (a *_total sample, not a histogram) whose labels mention a route."""
    total = 0.0
    for l in text.splitlines():
        if l.startswith("#") or "{" not in l:
            continue
        name = l.split("{", 1)[0]
        if not name.endswith("_total"):
            continue
        labels = l.split("{", 1)[1].rsplit("}", 1)[0]
        if all(w in labels for w in route_words):
            try:
                total += float(l.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return total


def test_metrics_count_requests_and_latency(t):
    r0 = t.req("GET", "/metrics", key=None)
    t.expect(r0, 200)
    ct = r0.header("content-type") or ""
    t.check(ct.startswith("text/plain"), "Content-Type %r, expected text/plain (Prometheus)" % ct, r0)
    before = _sum_counter(r0.body.decode(), ["attributes"])
    for _ in range(3):
        t.expect(t.req("GET", "/v1/attributes"), 200)
    r1 = t.req("GET", "/metrics", key=None)
    text = r1.body.decode("utf-8", "replace")
    after = _sum_counter(text, ["attributes"])
    t.check(after - before >= 3,
            "request counter (a *_total sample whose labels name the attributes route) grew "
            "by %s, expected >= 3 after 3 GET /v1/attributes" % (after - before), r1)
    buckets = [l for l in _metric_lines(text, "_bucket{") if "attributes" in l and "le=" in l]
    t.check(buckets, "no latency histogram buckets (_bucket{...le=...}) labelled with the "
            "attributes route", r1)
    t.check(any('le="+Inf"' in l for l in buckets), "histogram lacks the le=\"+Inf\" bucket", r1)
    t.check([l for l in _metric_lines(text, "_count{") if "attributes" in l],
            "histogram lacks _count for the attributes route", r1)
    t.check([l for l in _metric_lines(text, "_sum{") if "attributes" in l],
            "histogram lacks _sum for the attributes route", r1)
    # route label must be the template, not the raw path (cardinality)
    cid = t.uid()
    t.req("GET", "/v1/customers/" + cid)
    r2 = t.req("GET", "/metrics", key=None)
    t.check(cid not in r2.body.decode("utf-8", "replace"),
            "a customer id from a request path appears in /metrics (route label must be the "
            "route template, not the path)", r2)
    junk = t.uid("nosuchroute")
    t.req("GET", "/v1/" + junk)
    t.req("GET", "/" + junk, key=None)
    r3 = t.req("GET", "/metrics", key=None)
    t.check(junk not in r3.body.decode("utf-8", "replace"),
            "an unknown route's path appears in /metrics (unbounded label cardinality)", r3)


def test_request_id_generated(t):
    r = t.req("GET", "/healthz", key=None)
    rid = r.header("x-request-id") or ""
    t.check(re.fullmatch(r"[0-9a-f]{32}", rid), "X-Request-Id %r is not 32 hex digits" % rid, r)
    r2 = t.req("GET", "/healthz", key=None)
    t.check(r2.header("x-request-id") != rid, "two requests got the same X-Request-Id", r2)


def test_request_id_echoed(t):
    for path, key in (("/healthz", None), ("/v1/customers/" + t.uid(), "A"), ("/v1/nope", "A"),
                      ("/v1/customers", None)):
        rid = "trace-" + t.uid()
        r = t.req("GET", path, key=key, headers={"X-Request-Id": rid})
        t.eq(r.header("x-request-id"), rid, "X-Request-Id echo on %s" % path, r)


def test_request_id_insane_replaced(t):
    for bad in ("x" * 129, "a b\tc", ""):
        r = t.req("GET", "/healthz", key=None, headers={"X-Request-Id": bad})
        rid = r.header("x-request-id") or ""
        t.check(re.fullmatch(r"[0-9a-f]{32}", rid),
                "client sent X-Request-Id %r (not 1-128 printable ASCII); expected a fresh "
                "32-hex id, got %r" % (bad[:40], rid), r)


def test_unknown_route_404(t):
    for path in ("/v1/nope", "/v1/customers/x/nope", "/nope", "/v2/customers"):
        r = t.req("GET", path)
        t.problem(r, 404)


def test_method_not_allowed_405_with_allow(t):
    cases = [
        ("POST", "/v1/customers/" + t.uid(), {"GET", "PUT", "PATCH", "DELETE"}),
        ("DELETE", "/v1/customers", {"GET"}),
        ("PUT", "/v1/events", {"POST"}),
        ("POST", "/v1/attributes/x", {"GET", "PUT", "DELETE"}),
        ("DELETE", "/v1/settings", {"GET", "PATCH"}),
        ("PUT", "/v1/customers:import", {"POST"}),
    ]
    for method, path, allowed in cases:
        r = t.req(method, path, body={} if method in ("POST", "PUT") else None)
        t.problem(r, 405)
        allow = {a.strip().upper() for a in (r.header("allow") or "").split(",") if a.strip()}
        t.check(allowed <= allow, "%s %s: Allow %r must list %s" % (method, path, r.header("allow"),
                                                                    sorted(allowed)), r)
        t.check(method not in allow, "Allow lists the refused method %s" % method, r)


def test_cli_version_help_and_bad_usage(t):
    rc, out, err = t.cli("version")
    t.check(out.strip(), "`segmentd version` printed nothing")
    rc, out, err = t.cli("help")
    t.check("serve" in out + err and "migrate" in out + err, "`segmentd help` does not mention "
            "serve and migrate")
    rc, out, err = t.cli("no-such-command", check=False)
    t.check(rc != 0, "`segmentd no-such-command` exited 0")
    rc, out, err = t.cli("keys", "create", "--tenant", "x-" + t.run_tag, "--scopes", "read,root",
                         check=False)
    t.check(rc != 0, "`keys create --scopes read,root` (unknown scope) exited 0; stdout %r" % out)
    rc, out, err = t.cli("keys", "revoke", "no-such-key-id", check=False)
    t.check(rc != 0, "`keys revoke no-such-key-id` exited 0")


def test_migrate_is_idempotent(t):
    t.cli("migrate")
    t.expect(t.req("GET", "/readyz", key=None), 200)


def test_keys_list_hides_secrets(t):
    tenant, key = t.new_tenant("read")
    rc, out, err = t.cli("keys", "list")
    secret = key.split("_")[2]
    t.check(secret not in out + err, "`keys list` prints a key's secret part")
    t.check(key.split("_")[1] in out, "`keys list` does not show the new key's id %s" % key.split("_")[1])


def test_keep_alive_after_error_responses(t):
    """An error answered before the body was read must not poison the connection."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", t.daemon.port, timeout=10)
    auth = {"Authorization": "Bearer " + t.keys["A"]}
    seq = [("PUT", "/v1/customers/" + t.uid(), b'{"attributes": {"x": "' + b"y" * 3000 + b'"}}',
            dict(auth, **{"Content-Type": "text/plain"}), 415),
           ("GET", "/healthz", None, {}, 200),
           ("PUT", "/v1/customers/" + t.uid(), b"{" * 10, dict(auth, **{"Content-Type": "application/json"}), 400),
           ("GET", "/healthz", None, {}, 200),
           ("POST", "/v1/nope", b'{"a": 1}', dict(auth, **{"Content-Type": "application/json"}), 404),
           ("GET", "/healthz", None, {}, 200),
           ("PUT", "/v1/customers/" + t.uid(), b'{"attributes": {}}', {"Content-Type": "application/json"}, 401),
           ("GET", "/v1/customers?limit=1", None, auth, 200)]
    for method, p, body, h, want in seq:
        try:
            c.request(method, p, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
        except (http.client.RemoteDisconnected, ConnectionError):
            # closing after an error is allowed; start a new connection
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", t.daemon.port, timeout=10)
            c.request(method, p, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
        t.check(r.status == want, "%s %s on a reused connection: expected %d, got %d %r"
                % (method, p, want, r.status, data[:200]))
    c.close()

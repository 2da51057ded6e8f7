"""Events: POST /v1/events, POST /v1/events:import, GET /v1/customers/{id}/events, metrics."""
import datetime
import json
import random
import urllib.parse
from decimal import Decimal

UTC = datetime.timezone.utc


def path(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def iso(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")) if s else None


def now():
    return datetime.datetime.now(UTC).replace(microsecond=0)


def ev(cid, type_="purchase", at="2026-01-01T00:00:00Z", amount=None, eid=None, props=None):
    e = {"customer_id": cid, "type": type_, "occurred_at": at}
    if amount is not None:
        e["amount"] = amount
    if eid is not None:
        e["id"] = eid
    if props is not None:
        e["properties"] = props
    return e


def post(t, body, key="A", status=202):
    r = t.req("POST", "/v1/events", body, key=key)
    d = t.expect_json(r, status)
    if status == 202:
        t.check(isinstance(d.get("accepted"), int) and isinstance(d.get("duplicates"), int),
                "202 body lacks integer accepted/duplicates", r)
    d["_r"] = r
    return d


def post_raw(t, raw, key="A"):
    """Posts a JSON text verbatim (so decimals are not rounded by Python floats)."""
    return t.req("POST", "/v1/events", raw_body=raw.encode(), ctype="application/json", key=key)


def customer(t, cid, key="A"):
    return t.expect_json(t.req("GET", path(cid), key=key), 200)


def events(t, cid, qs="", key="A"):
    r = t.req("GET", path(cid) + "/events" + qs, key=key)
    d = t.expect_json(r, 200)
    t.check(isinstance(d.get("items"), list) and "next_cursor" in d,
            "events page lacks items/next_cursor", r)
    return d


def walk_events(t, cid, qs="", limit=100):
    items, cursor, pages = [], None, 0
    sep = "&" if qs else "?"
    while True:
        url = qs + sep + "limit=%d" % limit + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        d = events(t, cid, url)
        items += d["items"]
        pages += 1
        cursor = d["next_cursor"]
        if not cursor:
            return items
        t.check(pages < 1000, "more than 1000 pages")


def D(x):
    return Decimal(str(x)) if x is not None else None


def test_single_event_creates_unknown_customer(t):
    cid = t.uid()
    at = iso(now() - datetime.timedelta(hours=5))
    d = post(t, ev(cid, "login", at))
    t.eq((d["accepted"], d["duplicates"]), (1, 0), "accepted/duplicates", d["_r"])
    c = customer(t, cid)
    t.eq((c["id"], c["kind"], c["attributes"]), (cid, "person", {}), "auto-created customer")
    m = c["metrics"]
    t.eq((m["events"], m["orders"], D(m["revenue"])), (1, 0, Decimal(0)), "metrics after a login")
    t.eq(ts(m["last_event_at"]), ts(at), "last_event_at")
    t.eq((m["first_purchase_at"], m["last_purchase_at"], m["avg_order_value"], m["recency_days"]),
         (None, None, None, None), "purchase metrics stay null without a purchase")


def test_metrics_exact(t):
    cid = t.uid()
    n = now()
    p1 = n - datetime.timedelta(days=10, hours=2)
    p2 = n - datetime.timedelta(days=3, hours=2)
    pv = n - datetime.timedelta(days=1)
    lg = n - datetime.timedelta(hours=2)
    raw = json.dumps([ev(cid, "purchase", iso(p1), "AMOUNT1"), ev(cid, "purchase", iso(p2), "AMOUNT2"),
                      ev(cid, "page_view", iso(pv), "AMOUNT3"), ev(cid, "login", iso(lg))])
    raw = raw.replace('"AMOUNT1"', "19.99").replace('"AMOUNT2"', "0.01").replace('"AMOUNT3"', "100")
    r = post_raw(t, raw)
    d = t.expect_json(r, 202)
    t.eq((d["accepted"], d["duplicates"]), (4, 0), "accepted", r)
    m = customer(t, cid)["metrics"]
    t.eq(m["orders"], 2, "orders (page_view/login are not revenue events)")
    t.eq(D(m["revenue"]), Decimal("20.00"), "revenue 19.99 + 0.01 exactly")
    t.eq(D(m["avg_order_value"]), Decimal("10"), "avg_order_value")
    t.eq(ts(m["first_purchase_at"]), p1, "first_purchase_at")
    t.eq(ts(m["last_purchase_at"]), p2, "last_purchase_at")
    t.eq(m["recency_days"], 3, "recency_days (3 days 2 hours, rounded down)")
    t.eq(m["tenure_days"], 10, "tenure_days (first event 10 days 2 hours ago)")
    t.eq(m["events"], 4, "events")
    t.eq(ts(m["last_event_at"]), lg, "last_event_at (latest event of any type)")
    # an older event arriving later does not move last_* backwards
    post(t, ev(cid, "purchase", iso(n - datetime.timedelta(days=20)), 5))
    m = customer(t, cid)["metrics"]
    t.eq((m["orders"], D(m["revenue"]), m["tenure_days"], m["recency_days"]),
         (3, Decimal("25.00"), 20, 3), "after a back-dated purchase")
    t.eq(ts(m["first_purchase_at"]), n - datetime.timedelta(days=20), "first_purchase_at moved back")
    t.eq(ts(m["last_purchase_at"]), p2, "last_purchase_at unchanged")
    t.eq(ts(m["last_event_at"]), lg, "last_event_at unchanged")


def test_decimal_amounts_are_exact(t):
    cid = t.uid()
    raw = "[" + ",".join(json.dumps(ev(cid, "purchase", "2026-01-0%dT00:00:00Z" % (i + 1))).rstrip("}")
                         + ', "amount": 0.1}' for i in range(3)) + "]"
    t.expect(post_raw(t, raw), 202)
    m = customer(t, cid)["metrics"]
    t.eq(D(m["revenue"]), Decimal("0.3"), "0.1 + 0.1 + 0.1 (no binary floating point)")
    t.eq(D(m["avg_order_value"]), Decimal("0.1"), "avg of three 0.1")
    cid2 = t.uid()
    raw = json.dumps(ev(cid2, "purchase", "2026-01-01T00:00:00Z")).rstrip("}") + \
        ', "amount": 12345678901234.56, "id": "%s"}' % t.uid("e")
    t.expect(post_raw(t, raw), 202)
    m = customer(t, cid2)["metrics"]
    t.eq(D(m["revenue"]), Decimal("12345678901234.56"), "large amount kept exactly")
    items = events(t, cid2)["items"]
    t.eq(D(items[0].get("amount")), Decimal("12345678901234.56"), "amount read back exactly")


def test_idempotent_by_id(t):
    cid = t.uid()
    eid = t.uid("e")
    e = ev(cid, "purchase", "2026-02-01T10:00:00Z", 10, eid)
    d = post(t, [e, e])
    t.eq((d["accepted"], d["duplicates"]), (1, 1), "same id twice in one batch", d["_r"])
    d = post(t, e)
    t.eq((d["accepted"], d["duplicates"]), (0, 1), "same id again in a later request", d["_r"])
    # a retry with a different payload under the same id is still a duplicate
    d = post(t, dict(e, amount=999, customer_id=t.uid()))
    t.eq((d["accepted"], d["duplicates"]), (0, 1), "same id, other payload/customer", d["_r"])
    m = customer(t, cid)["metrics"]
    t.eq((m["events"], m["orders"], D(m["revenue"])), (1, 1, Decimal(10)), "metrics not double counted")
    t.eq(len(events(t, cid)["items"]), 1, "stored events")
    # events without id are never deduplicated
    e2 = ev(cid, "page_view", "2026-02-01T10:00:00Z")
    d = post(t, [e2, e2])
    t.eq((d["accepted"], d["duplicates"]), (2, 0), "two id-less identical events", d["_r"])


def test_array_limit_10000(t):
    cid = t.uid()
    body = [ev(cid, "page_view", "2026-03-01T00:00:00Z") for _ in range(10001)]
    r = t.req("POST", "/v1/events", body, timeout=120)
    t.problem(r, 422, 413)
    t.problem(t.req("GET", path(cid)), 404)
    d = post(t, body[:10000])
    t.eq(d["accepted"], 10000, "an array of exactly 10,000 is accepted", d["_r"])
    t.eq(customer(t, cid)["metrics"]["events"], 10000, "events stored")


def test_empty_array(t):
    r = t.req("POST", "/v1/events", [])
    if r.status == 202:
        t.eq((r.json.get("accepted"), r.json.get("duplicates")), (0, 0), "empty array", r)
    else:
        t.problem(r, 422)


def test_invalid_event_rejects_whole_request(t):
    p = t.uid()
    body = [ev(p + "-%d" % i, "purchase", "2026-01-01T00:00:00Z", 1) for i in range(6)]
    body[3]["occurred_at"] = "yesterday"
    r = t.req("POST", "/v1/events", body)
    pr = t.problem(r, 422)
    t.check("/3/occurred_at" in t.pointers(pr), "pointer /3/occurred_at expected in %s"
            % t.pointers(pr), r)
    for i in range(6):
        t.problem(t.req("GET", path(p + "-%d" % i)), 404)
    # several bad events: all reported
    body = [ev(p + "-x", "purchase", "2026-01-01T00:00:00Z", 1) for _ in range(6)]
    del body[1]["type"]
    body[4]["amount"] = "12"
    body[5]["properties"] = [1]
    pr = t.problem(t.req("POST", "/v1/events", body), 422)
    for ptr in ("/1/type", "/4/amount", "/5/properties"):
        t.check(ptr in t.pointers(pr), "pointer %s expected in %s" % (ptr, t.pointers(pr)))
    t.problem(t.req("GET", path(p + "-x")), 404)


def test_event_validation(t):
    cid = t.uid()
    good = ev(cid, "purchase", "2026-01-01T00:00:00Z", 1)
    cases = [
        ({k: v for k, v in good.items() if k != "customer_id"}, "/customer_id"),
        ({k: v for k, v in good.items() if k != "type"}, "/type"),
        ({k: v for k, v in good.items() if k != "occurred_at"}, "/occurred_at"),
        (dict(good, customer_id=""), "/customer_id"),
        (dict(good, customer_id="x" * 129), "/customer_id"),
        (dict(good, customer_id="a\u0001b"), "/customer_id"),
        (dict(good, customer_id=5), "/customer_id"),
        (dict(good, type=""), "/type"),
        (dict(good, type="t" * 65), "/type"),
        (dict(good, type="a\nb"), "/type"),
        (dict(good, occurred_at="yesterday"), "/occurred_at"),
        (dict(good, occurred_at="2026-13-01T00:00:00Z"), "/occurred_at"),
        (dict(good, occurred_at="2026-02-30T00:00:00Z"), "/occurred_at"),
        (dict(good, occurred_at="2026-01-01"), "/occurred_at"),
        (dict(good, occurred_at="2026-01-01T00:00:00"), "/occurred_at"),
        (dict(good, occurred_at="2026-01-01T25:00:00Z"), "/occurred_at"),
        (dict(good, occurred_at=1767225600), "/occurred_at"),
        (dict(good, amount="1.5"), "/amount"),
        (dict(good, amount=True), "/amount"),
        (dict(good, properties="x"), "/properties"),
        (dict(good, properties=[1]), "/properties"),
        (dict(good, colour="red"), None),
    ]
    for body, ptr in cases:
        r = t.req("POST", "/v1/events", body)
        pr = t.problem(r, 422)
        if ptr:
            t.check(ptr in t.pointers(pr), "pointer %s expected, got %s" % (ptr, t.pointers(pr)), r)
    t.problem(t.req("GET", path(cid)), 404)
    # a 64-byte type and a multi-byte type are fine
    d = post(t, [dict(good, type="t" * 64), dict(good, type="kauf-\u00e4-\u6771")])
    t.eq(d["accepted"], 2, "64-byte and unicode types", d["_r"])


def test_event_body_errors(t):
    t.problem(t.req("POST", "/v1/events", raw_body=b"{", ctype="application/json"), 400)
    t.problem(t.req("POST", "/v1/events", raw_body=b"", ctype="application/json"), 400)
    t.problem(t.req("POST", "/v1/events", raw_body=b"7", ctype="application/json"), 400, 422)
    t.problem(t.req("POST", "/v1/events", ev(t.uid()), ctype="text/plain"), 415)
    t.problem(t.req("POST", "/v1/events", raw_body=b'{"customer_id":"x"}',
                    ctype="application/x-ndjson"), 415)


def test_occurred_at_offsets_normalised_to_utc(t):
    cid = t.uid()
    post(t, [ev(cid, "a", "2026-01-01T12:00:00+02:00", eid=t.uid("e")),
             ev(cid, "b", "2026-01-01T08:30:00.123456-01:30", eid=t.uid("e")),
             ev(cid, "c", "2026-01-01t10:00:01z", eid=t.uid("e"))])
    items = {e["type"]: e for e in events(t, cid)["items"]}
    t.eq(set(items), {"a", "b", "c"}, "types read back")
    for k in "abc":
        t.check(items[k]["occurred_at"].endswith("Z"), "occurred_at %r not in UTC (Z)"
                % items[k]["occurred_at"])
        t.check("received_at" in items[k] and ts(items[k]["received_at"]),
                "event lacks received_at: %r" % items[k])
    t.eq(ts(items["a"]["occurred_at"]), datetime.datetime(2026, 1, 1, 10, 0, tzinfo=UTC), "a")
    t.eq(ts(items["b"]["occurred_at"]), datetime.datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC), "b")
    t.eq(ts(items["c"]["occurred_at"]), datetime.datetime(2026, 1, 1, 10, 0, 1, tzinfo=UTC), "c")


def test_occurred_at_stays_within_rfc3339_years(t):
    """An offset must not carry the instant outside 0001..9999 UTC: it could not be written back
    as RFC 3339. Rejected per line in an import, with a pointer in a POST."""
    cid = t.uid()
    r = t.req("POST", "/v1/events", [ev(cid, "t", "9999-12-31T23:00:00-14:00")])
    t.check("/0/occurred_at" in t.pointers(t.problem(r, 422)), "pointer to /0/occurred_at", r)
    body = (json.dumps(ev(cid, "t", "2026-01-01T00:00:00Z")) + "\n" +
            json.dumps(ev(cid, "t", "0001-01-01T00:30:00+01:00")) + "\n").encode()
    r = t.req("POST", "/v1/events:import", raw_body=body, ctype="application/x-ndjson")
    d = t.expect_json(r, 200)
    t.eq((d.get("accepted"), d.get("rejected"), t.lines(d)), (1, 1, [2]), "import", r)
    t.expect(t.req("POST", "/v1/events", [ev(cid, "t", "9999-12-31T23:59:59.999999Z")]), 202)


def test_event_round_trip(t):
    cid = "kunde-\u00e4-\u6771\u4eac-\U0001F389-" + t.uid()
    eid = "ev-\u00fc-" + t.uid()
    props = {"channel": "web", "items": [1, {"sku": "\u00e4"}], "n": None}
    post(t, ev(cid, "purchase", "2026-04-01T00:00:00Z", 5, eid, props))
    items = events(t, cid)["items"]
    t.eq(len(items), 1, "one event")
    e = items[0]
    t.eq((e.get("id"), e.get("customer_id"), e.get("type"), D(e.get("amount"))),
         (eid, cid, "purchase", Decimal(5)), "event fields")
    t.check(e.get("properties") in (props, {"channel": "web", "items": [1, {"sku": "\u00e4"}]}),
            "properties %r" % e.get("properties"))


def test_events_list_order_filters_and_cursor(t):
    cid = t.uid()
    base = datetime.datetime(2026, 5, 1, tzinfo=UTC)
    evs = []
    for i in range(10):
        evs.append(ev(cid, "purchase" if i % 2 else "view", iso(base + datetime.timedelta(hours=i)),
                      eid="%s-e%02d" % (cid, i)))
    for j in range(7):  # ties: 7 events at the same instant
        evs.append(ev(cid, "tie", iso(base + datetime.timedelta(hours=5)), eid="%s-t%02d" % (cid, j)))
    post(t, evs)
    all_items = walk_events(t, cid, limit=3)
    ids = [e["id"] for e in all_items]
    t.eq(len(ids), 17, "events returned over all pages (limit 3)")
    t.eq(len(set(ids)), 17, "no event twice over the pages: %s" % ids)
    times = [ts(e["occurred_at"]) for e in all_items]
    t.check(all(a >= b for a, b in zip(times, times[1:])), "not newest first: %s" % times)
    # same walk again gives the same order (stable)
    t.eq([e["id"] for e in walk_events(t, cid, limit=4)], ids, "order is stable across page sizes")
    # filters
    got = [e["id"] for e in walk_events(t, cid, "?type=purchase", limit=2)]
    t.eq(sorted(got), sorted("%s-e%02d" % (cid, i) for i in range(1, 10, 2)), "type=purchase")
    since, until = iso(base + datetime.timedelta(hours=3)), iso(base + datetime.timedelta(hours=6))
    got = [e["id"] for e in walk_events(t, cid, "?since=%s&until=%s" % (since, until), limit=2)]
    want = ["%s-e%02d" % (cid, i) for i in (3, 4, 5)] + ["%s-t%02d" % (cid, j) for j in range(7)]
    t.eq(sorted(got), sorted(want), "since inclusive (03:00), until exclusive (06:00)")
    got = [e["id"] for e in walk_events(t, cid, "?type=tie&since=" +
                                        urllib.parse.quote("2026-05-01T07:00:00+02:00"))]
    t.eq(sorted(got), sorted("%s-t%02d" % (cid, j) for j in range(7)), "since with an offset")
    d = events(t, cid, "?type=nothing")
    t.eq((d["items"], d["next_cursor"]), ([], None), "no match")


def test_events_list_errors(t):
    cid = t.uid()
    post(t, ev(cid, "x", "2026-01-01T00:00:00Z"))
    for qs, param in (("?limit=0", "limit"), ("?limit=1001", "limit"), ("?limit=abc", "limit"),
                      ("?limit=-1", "limit"), ("?since=yesterday", "since"),
                      ("?until=2026-13-01T00:00:00Z", "until"), ("?cursor=!!!notbase64!!!", "cursor"),
                      ("?colour=red", None)):
        r = t.req("GET", path(cid) + "/events" + qs)
        p = t.problem(r, 400)
        if param:
            params = [e.get("parameter") for e in p.get("errors") or []]
            t.check(param in params, "errors[].parameter %r expected, got %s" % (param, params), r)
    t.problem(t.req("GET", path(t.uid()) + "/events"), 404)
    d = events(t, cid, "?limit=1000")
    t.eq(len(d["items"]), 1, "limit=1000 is allowed")


def test_delete_customer_erases_events(t):
    cid = t.uid()
    post(t, [ev(cid, "purchase", "2026-01-01T00:00:00Z", 10, t.uid("e")),
             ev(cid, "login", "2026-01-02T00:00:00Z")])
    t.eq(customer(t, cid)["metrics"]["events"], 2, "events before delete")
    t.expect(t.req("DELETE", path(cid)), 204)
    t.problem(t.req("GET", path(cid) + "/events"), 404)
    t.expect(t.req("PUT", path(cid), {"attributes": {}}), 201)
    m = customer(t, cid)["metrics"]
    t.eq((m["events"], m["orders"], D(m["revenue"]), m["last_event_at"]), (0, 0, Decimal(0), None),
         "metrics of the re-created customer")
    t.eq(events(t, cid)["items"], [], "events of the re-created customer")


def test_events_import(t):
    p = t.uid()
    dup = t.uid("e")
    lines = [json.dumps(ev(p + "-1", "purchase", "2026-01-01T00:00:00Z", 5, dup)),  # 1
             json.dumps(ev(p + "-1", "purchase", "2026-01-01T00:00:00Z", 5, dup)),  # 2 duplicate
             "{oops",                                                                 # 3
             "",                                                                      # 4 blank
             json.dumps(ev(p + "-2", "login", "not-a-time")),                        # 5
             json.dumps(ev(p + "-2", "login", "2026-01-03T00:00:00Z"))]              # 6
    body = b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n"
    r = t.req("POST", "/v1/events:import", raw_body=body, ctype="application/x-ndjson")
    d = t.expect_json(r, 200)
    t.eq((d.get("received"), d.get("accepted"), d.get("duplicates"), d.get("rejected")),
         (5, 2, 1, 2), "events import counts", r)
    t.eq(sorted(e.get("line") for e in d.get("errors", [])), [3, 5], "rejected lines", r)
    t.eq(customer(t, p + "-1")["metrics"]["orders"], 1, "orders after import with a duplicate")
    t.eq(customer(t, p + "-2")["metrics"]["events"], 1, "events of customer 2")
    r = t.req("POST", "/v1/events:import", raw_body=b"", ctype="application/x-ndjson")
    d = t.expect_json(r, 200)
    t.eq((d.get("received"), d.get("accepted"), d.get("rejected")), (0, 0, 0), "empty import", r)
    for ct in ("text/csv", "application/json", None):
        t.problem(t.req("POST", "/v1/events:import", raw_body=lines[0].encode(), ctype=ct), 415)
    # over-long line
    big = json.dumps(ev(p + "-3", "x", "2026-01-01T00:00:00Z", props={"b": "q" * (1 << 21)}))
    body = (big + "\n" + json.dumps(ev(p + "-3", "y", "2026-01-01T00:00:00Z")) + "\n").encode()
    d = t.expect_json(t.req("POST", "/v1/events:import", raw_body=body,
                            ctype="application/x-ndjson"), 200)
    t.eq((d.get("received"), d.get("accepted"), d.get("rejected")), (2, 1, 1), "overlong line", None)
    t.eq([e.get("line") for e in d.get("errors", [])], [1], "overlong line number")


def test_events_import_many_per_customer(t):
    tenant, key = t.new_tenant("read,write")
    n_cust, per = 50, 400
    lines = []
    for j in range(per):
        for c in range(n_cust):
            e = {"customer_id": "m%02d" % c, "type": "purchase" if j % 2 == 0 else "view",
                 "occurred_at": "2026-01-01T00:%02d:%02dZ" % (j // 60, j % 60), "id": "e-%d-%d" % (c, j)}
            lines.append(json.dumps(e).rstrip("}") + (', "amount": 0.01}' if j % 2 == 0 else "}"))
    lines += lines[:500]  # 500 repeated ids
    body = ("\n".join(lines) + "\n").encode()
    r = t.req("POST", "/v1/events:import", raw_body=body, ctype="application/x-ndjson", key=key,
              timeout=180)
    d = t.expect_json(r, 200)
    t.eq((d.get("received"), d.get("accepted"), d.get("duplicates"), d.get("rejected")),
         (n_cust * per + 500, n_cust * per, 500, 0), "counts", r)
    for c in (0, 17, 49):
        m = t.expect_json(t.req("GET", path("m%02d" % c), key=key), 200)["metrics"]
        t.eq((m["events"], m["orders"], D(m["revenue"])), (per, per // 2, Decimal("2.00")),
             "metrics of m%02d after an import with many events per customer" % c)
        t.check(m["last_event_at"].startswith("2026-01-01T00:06:39"), "last_event_at %r" % m["last_event_at"])


def test_events_cursor_of_another_customer_leaks_nothing(t):
    a, b = t.uid(), t.uid()
    post(t, [ev(a, "x", "2026-01-0%dT00:00:00Z" % i, eid="%s-%d" % (a, i)) for i in range(1, 6)] +
         [ev(b, "y", "2026-01-0%dT00:00:00Z" % i, eid="%s-%d" % (b, i)) for i in range(1, 6)])
    d = events(t, a, "?limit=2")
    r = t.req("GET", path(b) + "/events?limit=10&cursor=" + urllib.parse.quote(d["next_cursor"]))
    if r.status == 200:
        got = [e["customer_id"] for e in r.json["items"]]
        t.check(set(got) <= {b}, "a cursor of customer A returned A's events for B: %s" % got, r)
    else:
        t.problem(r, 400)


def test_events_import_repeated_id_first_line_wins_across_batches(t):
    """The import fills two batches side by side (by customer) and writes two at once; a
    repeated event id must still keep its first line, whichever lanes and batches the two
    lines fall in."""
    tenant, key = t.new_tenant("read,write")
    rnd = random.Random(7)
    lines = []
    for i in range(24000):
        lines.append({"customer_id": "f-%d" % rnd.randrange(2000), "type": "view",
                      "occurred_at": "2026-01-01T00:00:00Z", "id": "fill-%d" % i})
    pairs = []
    for i in range(60):
        first = rnd.randrange(0, 20000)
        second = first + rnd.choice([1, 7, 900, 4999, 5001, 9000, 15000, 3000])
        pairs.append((i, first, min(second, len(lines))))
    # insert from the back so that earlier positions stay put
    inserts = []
    for i, first, second in pairs:
        inserts.append((first, {"customer_id": "pa-%d" % i, "type": "first",
                                "occurred_at": "2026-01-02T00:00:00Z", "id": "dup-%d" % i}))
        inserts.append((second, {"customer_id": "pb-%d" % i, "type": "second",
                                 "occurred_at": "2026-01-03T00:00:00Z", "id": "dup-%d" % i}))
    for pos, e in sorted(inserts, key=lambda x: x[0], reverse=True):
        lines.insert(pos, e)
    body = "".join(json.dumps(e) + "\n" for e in lines).encode()
    r = t.req("POST", "/v1/events:import", raw_body=body, ctype="application/x-ndjson", key=key,
              timeout=180)
    d = t.expect_json(r, 200)
    t.eq((d.get("accepted"), d.get("duplicates")), (24060, 60), "counts", r)
    for i, first, second in pairs:
        a = t.req("GET", path("pa-%d" % i) + "/events", key=key)
        t.eq([e["type"] for e in t.expect_json(a, 200)["items"]], ["first"],
             "dup-%d (lines %d and %d): the first line wins" % (i, first, second), a)
        b = t.req("GET", path("pb-%d" % i), key=key)
        t.eq(b.status, 404, "the repeated line of dup-%d made no customer" % i, b)

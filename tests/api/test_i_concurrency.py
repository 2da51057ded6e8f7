"""Concurrent writers: PATCHes of one customer, events of one customer, racing creations."""
import threading
import urllib.parse
from decimal import Decimal


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def run_threads(n, fn):
    errors = []

    def wrap(i):
        try:
            fn(i)
        except Exception as e:  # collect; the test reports
            errors.append("thread %d: %s" % (i, e))
    ths = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(300)
    return errors


def test_concurrent_patches_of_distinct_keys(t):
    cid = t.uid()
    t.expect(t.req("PUT", cpath(cid), {"attributes": {"base": 1}}), 201)
    bad = []

    def worker(i):
        for j in range(25):
            r = t.req("PATCH", cpath(cid), {"attributes": {"k_%d_%d" % (i, j): j, "nested": {"t%d" % i: j}}})
            if r.status != 200:
                bad.append(r.describe())
    errors = run_threads(8, worker)
    t.check(not errors and not bad, "failed PATCHes (%d): %s" % (len(bad) + len(errors),
                                                                 (errors + bad)[:3]))
    a = t.expect_json(t.req("GET", cpath(cid)), 200)["attributes"]
    missing = ["k_%d_%d" % (i, j) for i in range(8) for j in range(25) if ("k_%d_%d" % (i, j)) not in a]
    t.check(not missing, "%d of 200 keys lost (lost update), e.g. %s" % (len(missing), missing[:5]))
    t.eq(a.get("base"), 1, "untouched key")
    t.eq(a.get("nested"), {"t%d" % i: 24 for i in range(8)}, "nested merges of all threads")


def test_concurrent_events_one_customer(t):
    cid = t.uid()
    bad = []

    def worker(i):
        for j in range(25):
            body = [{"customer_id": cid, "type": "purchase", "amount": 1, "id": "%s-%d-%d" % (cid, i, j),
                     "occurred_at": "2026-03-%02dT%02d:00:00Z" % (1 + j, i)},
                    {"customer_id": cid, "type": "view", "occurred_at": "2026-03-01T00:00:00Z"}]
            r = t.req("POST", "/v1/events", body)
            if r.status != 202 or (r.json or {}).get("accepted") != 2:
                bad.append(r.describe())
    errors = run_threads(8, worker)
    t.check(not errors and not bad, "failed event posts (%d): %s" % (len(bad) + len(errors),
                                                                     (errors + bad)[:3]))
    m = t.expect_json(t.req("GET", cpath(cid)), 200)["metrics"]
    t.eq(m["events"], 400, "metrics.events after 8x25 concurrent posts of 2 events")
    t.eq(m["orders"], 200, "metrics.orders")
    t.eq(Decimal(str(m["revenue"])), Decimal(200), "metrics.revenue")
    t.check(m["first_purchase_at"].startswith("2026-03-01T00:00:00"), "first_purchase_at %r"
            % m["first_purchase_at"])
    t.check(m["last_purchase_at"].startswith("2026-03-25T07:00:00"), "last_purchase_at %r"
            % m["last_purchase_at"])


def test_concurrent_duplicate_event_ids(t):
    cid = t.uid()
    results = []

    def worker(i):
        body = [{"customer_id": cid, "type": "purchase", "amount": 5, "id": "%s-dup-%d" % (cid, j),
                 "occurred_at": "2026-03-01T00:00:00Z"} for j in range(10)]
        r = t.req("POST", "/v1/events", body)
        results.append(r)
    errors = run_threads(8, worker)
    t.check(not errors, "errors: %s" % errors[:3])
    bad = [r for r in results if r.status != 202]
    t.check(not bad, "racing posts of the same event ids failed", bad[0] if bad else None)
    acc = sum(r.json["accepted"] for r in results)
    dup = sum(r.json["duplicates"] for r in results)
    t.eq((acc, dup), (10, 70), "accepted/duplicates summed over 8 racing posts of 10 ids")
    m = t.expect_json(t.req("GET", cpath(cid)), 200)["metrics"]
    t.eq((m["events"], m["orders"], Decimal(str(m["revenue"]))), (10, 10, Decimal(50)), "metrics")


def test_racing_imports_of_the_same_events(t):
    """Events imports race with the same ids over the same customers: each id is stored once
    (a batch that collides with a concurrent one is tried again and counts it as a duplicate),
    and the metrics count each event once."""
    tenant, key = t.new_tenant("read,write")
    lines = "".join('{"id":"ev%04d","customer_id":"c%02d","type":"purchase","amount":2,'
                    '"occurred_at":"2026-03-01T00:00:00Z"}\n' % (i, i % 40) for i in range(3000))
    results = []

    def worker(i):
        results.append(t.req("POST", "/v1/events:import", raw_body=lines.encode(),
                             ctype="application/x-ndjson", key=key))
    errors = run_threads(6, worker)
    t.check(not errors, "errors: %s" % errors[:3])
    bad = [r for r in results if r.status != 200]
    t.check(not bad, "racing events imports failed", bad[0] if bad else None)
    acc = sum(r.json["accepted"] for r in results)
    dup = sum(r.json["duplicates"] for r in results)
    t.eq((acc, dup), (3000, 15000), "accepted/duplicates over 6 racing imports of 3000 ids")
    m = t.expect_json(t.req("GET", cpath("c07"), key=key), 200)["metrics"]
    t.eq((m["events"], m["orders"], Decimal(str(m["revenue"]))), (75, 75, Decimal(150)),
         "metrics of one customer")


def test_racing_creation_of_one_customer(t):
    for attempt in range(3):
        cid = t.uid()
        results = []

        def worker(i):
            results.append(t.req("PUT", cpath(cid), {"attributes": {"w": i}}))
        errors = run_threads(8, worker)
        t.check(not errors, "errors: %s" % errors[:3])
        statuses = sorted(r.status for r in results)
        bad = [r for r in results if r.status not in (200, 201)]
        t.check(not bad, "racing PUTs of a new id: statuses %s" % statuses, bad[0] if bad else None)
        t.eq(statuses.count(201), 1, "exactly one 201 among racing PUTs (%s)" % statuses)
        results = []

        def first_event(i):
            results.append(t.req("POST", "/v1/events", {"customer_id": cid + "-ev", "type": "x",
                                                        "occurred_at": "2026-01-01T00:00:00Z"}))
        errors = run_threads(8, first_event)
        bad = [r for r in results if r.status != 202]
        t.check(not errors and not bad, "racing first events of an unknown customer",
                bad[0] if bad else None)
        m = t.expect_json(t.req("GET", cpath(cid + "-ev")), 200)["metrics"]
        t.eq(m["events"], 8, "events of a customer created by 8 racing events")


def test_concurrent_imports_same_ids(t):
    tenant, key = t.new_tenant("read,write")
    ids = ["r%03d" % i for i in range(200)]
    results = []

    def worker(i):
        body = "".join('{"id":"%s","attributes":{"t%d":%d}}\n' % (c, i, i) for c in ids).encode()
        results.append(t.req("POST", "/v1/customers:import", raw_body=body,
                             ctype="application/x-ndjson", key=key))
    errors = run_threads(4, worker)
    t.check(not errors, "errors: %s" % errors[:3])
    bad = [r for r in results if r.status != 200]
    t.check(not bad, "racing imports of the same ids failed", bad[0] if bad else None)
    ins = sum(r.json["inserted"] for r in results)
    upd = sum(r.json["updated"] for r in results)
    t.eq((ins, upd), (200, 600), "inserted/updated over 4 racing imports of 200 ids")
    for c in ("r000", "r199"):
        a = t.expect_json(t.req("GET", cpath(c), key=key), 200)["attributes"]
        t.eq(a, {"t%d" % i: i for i in range(4)}, "merged attributes of %s" % c)

"""Analyses (SPEC §5.6, §6, §6.1; db/README.md "Analyses"), the machinery end to end with the
ABC type: create (params checked, defaults filled in), the run as a job, status and progress,
the result checked against an independent computation in Python (ties, zeros, negatives), list
filters, cancel, :run, delete; a failure the data causes shown as a problem (no retries, no
NaN); each customer's result as pages and as CSV; schedules queued by the daemon once due;
:materialize (a scheme of dynamic segments over abc_class, MECE), rules over abc_class, a re-run
after the data changed moving customers between the materialised segments and recording it in
the change feed; erasure of a customer's scores; two daemons (a run executes once), and a
daemon killed with kill -9 during a run (the run is retried elsewhere).
"""
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
from decimal import Decimal


def q(s):
    return urllib.parse.quote(s, safe="")


def psql(t, sql):
    """Runs SQL on the test database; returns the rows (tab-separated fields)."""
    exe = shutil.which("psql")
    if not exe:
        raise t.Skip("psql not found")
    p = subprocess.run([exe, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                        "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    t.check(p.returncode == 0, "psql failed: %s" % p.stderr.decode()[-500:])
    return [line.split("\t") for line in p.stdout.decode().splitlines() if line]


def tenant(t):
    return t.new_tenant()[1]


def buy(t, key, rows):
    """rows: [(customer_id, amount as decimal text)] purchases (one event each)."""
    events = ['{"customer_id": %s, "type": "purchase", "occurred_at": "2026-01-01T00:00:00Z", '
              '"amount": %s}' % (json.dumps(c), a) for c, a in rows]
    for i in range(0, len(events), 5000):
        body = "[" + ",".join(events[i:i + 5000]) + "]"
        t.expect_json(t.req("POST", "/v1/events", raw_body=body, ctype="application/json",
                            key=key), 202)


def put(t, key, cid):
    r = t.req("PUT", "/v1/customers/" + q(cid), {"attributes": {}}, key=key)
    t.expect_json(r, 200, 201)


def create(t, key, body, status=202):
    r = t.req("POST", "/v1/analyses", body, key=key)
    return t.expect_json(r, status), r


def get(t, key, aid):
    return t.expect_json(t.req("GET", "/v1/analyses/" + aid, key=key), 200)


def wait(t, key, aid, statuses=("succeeded", "failed", "cancelled"), timeout=30, runs=None):
    deadline = time.time() + timeout
    a = None
    while time.time() < deadline:
        a = get(t, key, aid)
        if a["status"] in statuses and (runs is None or a["runs"] >= runs):
            return a
        time.sleep(0.05)
    t.fail("analysis %s did not reach %s within %ds: %s" % (aid, statuses, timeout, a))


def expected_abc(values, a=Decimal("0.8"), b=Decimal("0.95")):
    """values: {customer_id: Decimal or None}. SPEC §6.1, independently: classes by id."""
    pos = sorted(((v, c) for c, v in values.items() if v is not None and v > 0),
                 key=lambda x: (-x[0], x[1].encode()))
    total = sum(v for v, _ in pos)
    out = {c: "C" for c in values}
    before = Decimal(0)
    for v, c in pos:
        out[c] = "A" if before < a * total else "B" if before < b * total else "C"
        before += v
    return out, total


def all_customers(t, key, aid):
    items, cursor = [], None
    while True:
        path = "/v1/analyses/%s/customers?limit=7" % aid + ("&cursor=" + q(cursor) if cursor
                                                             else "")
        page = t.expect_json(t.req("GET", path, key=key), 200)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


# ---- create, result, customers -----------------------------------------------------------

def test_abc_end_to_end(t):
    key = tenant(t)
    amounts = {"c01": "100", "c02": "50.5", "c03": "50.5", "c04": "20", "c05": "10",
               "c06": "5", "c07": "2.25", "c08": "1", "c09": "0.75", "c10": "0.5"}
    buy(t, key, sorted(amounts.items()))
    put(t, key, "c11")  # no purchase: C
    buy(t, key, [("c12", "5"), ("c12", "-8")])  # a refund beyond the purchase: negative, C
    a, r = create(t, key, {"type": "abc"})
    t.eq(r.header("location"), "/v1/analyses/" + a["id"], "Location", r)
    t.eq(a["type"], "abc", "type")
    t.eq(a["params"], {"metric": "revenue", "a": Decimal("0.8"), "b": Decimal("0.95")},
         "defaults filled in")
    t.check(a["status"] in ("queued", "running", "succeeded"), "status %s" % a["status"])
    t.eq(a["result"], None, "no result before the first run")
    a = wait(t, key, a["id"])
    t.eq(a["status"], "succeeded", "status", None)
    t.eq(a["progress"], 1, "progress")
    t.eq(a["runs"], 1, "runs")
    t.check(a["succeeded_at"], "succeeded_at")
    res = a["result"]
    values = {c: Decimal(v) for c, v in amounts.items()}
    values["c11"] = Decimal(0)
    values["c12"] = Decimal(-3)
    want, total = expected_abc(values)
    t.eq(res["metric"], "revenue", "metric")
    t.eq(Decimal(str(res["total"])), total, "total of the positive values")
    t.eq(res["customers"], 12, "customers")
    t.eq(res["scored"], 10, "scored")
    by = {k["class"]: k for k in res["classes"]}
    t.eq(sorted(by), ["A", "B", "C"], "classes")
    for cls in "ABC":
        members = [c for c in want if want[c] == cls]
        t.eq(by[cls]["count"], len(members), "count of %s" % cls)
        t.check(abs(float(by[cls]["share"]) - len(members) / 12) < 1e-12, "share of %s" % cls)
        vs = sum((values[c] for c in members if values[c] > 0), Decimal(0))
        t.check(abs(float(by[cls]["value_share"]) - float(vs / total)) < 1e-9,
                "value_share of %s: %s vs %s" % (cls, by[cls]["value_share"], vs / total))
        if members:
            thr = min(max(values[c], Decimal(0)) for c in members)
            t.check(abs(float(by[cls]["threshold"]) - float(thr)) < 1e-9, "threshold of %s" % cls)
    # the tie: c02 and c03 have equal values; c02 (smaller id) comes first
    items = all_customers(t, key, a["id"])
    t.eq([i["customer_id"] for i in items], sorted(values), "every customer, by id")
    got = {i["customer_id"]: i["abc_class"] for i in items}
    t.eq(got, want, "each customer's class")
    ranks = {i["customer_id"]: i["rank"] for i in items}
    t.eq(ranks["c02"], 2, "tie: the smaller id first")
    t.eq(ranks["c03"], 3, "tie: the larger id second")
    t.eq(ranks["c11"], None, "no rank without a positive value")
    t.eq(list(items[0].keys())[0], "customer_id", "customer_id first")
    # the curve: from [0, 0] to [1, 1], ascending in both, at most ~104 points
    curve = res["curve"]
    t.eq(curve[0], [0, 0], "curve starts at 0")
    t.eq(curve[-1], [1, 1], "curve ends at 1")
    t.check(len(curve) <= 104, "bounded curve")
    for p, n in zip(curve, curve[1:]):
        t.check(n[0] >= p[0] and n[1] >= p[1], "curve ascends: %s %s" % (p, n))
    # the job is a job like any other
    j = t.expect_json(t.req("GET", "/v1/jobs/" + a["job_id"], key=key), 200)
    t.eq(j["kind"], "analysis", "job kind")
    t.eq(j["target"], a["id"], "job target")


def test_abc_params_checked(t):
    key = tenant(t)
    cases = [
        ({"type": "nope"}, "/type"),
        ({}, "/type"),
        ({"type": "abc", "params": {"a": 0}}, "/params/a"),
        ({"type": "abc", "params": {"a": 1}}, "/params/a"),
        ({"type": "abc", "params": {"a": "0.5"}}, "/params/a"),
        ({"type": "abc", "params": {"a": 0.9, "b": 0.9}}, "/params/b"),
        ({"type": "abc", "params": {"b": 1.01}}, "/params/b"),
        ({"type": "abc", "params": {"metric": "age"}}, "/params/metric"),
        ({"type": "abc", "params": {"bins": 3}}, "/params/bins"),
        ({"type": "abc", "params": []}, "/params"),
        ({"type": "abc", "schedule": "hourly"}, "/schedule"),
        ({"type": "abc", "extra": 1}, "/extra"),
    ]
    for body, ptr in cases:
        r = t.req("POST", "/v1/analyses", body, key=key)
        p = t.problem(r, 422)
        t.check(ptr in t.pointers(p), "%s: pointer %s in %s" % (body, ptr, t.pointers(p)), r)
    a, _ = create(t, key, {"type": "abc", "params": {"metric": "orders", "a": 0.5, "b": 1}})
    t.eq(a["params"], {"metric": "orders", "a": Decimal("0.5"), "b": 1}, "given params kept")
    t.problem(t.req("POST", "/v1/analyses", raw_body="{", ctype="application/json", key=key),
              400)
    t.problem(t.req("GET", "/v1/analyses/123456789", key=key), 404)
    t.problem(t.req("GET", "/v1/analyses/abc", key=key), 404)
    other = tenant(t)
    t.problem(t.req("GET", "/v1/analyses/" + a["id"], key=other), 404)


def test_abc_failure_is_a_problem(t):
    """A tenant whose metric total is 0 (no customer, or no purchase): the run fails at once
    with a problem, without retries, and never writes a NaN."""
    key = tenant(t)
    a, _ = create(t, key, {"type": "abc"})
    a = wait(t, key, a["id"])
    t.eq(a["status"], "failed", "empty tenant: failed")
    t.eq(a["attempts"], 1, "no retry")
    err = a["error"]
    t.check(isinstance(err, dict) and err.get("status") == 422 and err.get("type", "").startswith(
        "urn:segmentd:problem:") and err.get("title") and "no customers" in err.get("detail", ""),
        "a problem object: %s" % err)
    t.eq(a["result"], None, "no result")
    r = t.req("GET", "/v1/analyses/%s/customers" % a["id"], key=key)
    t.problem(r, 409)
    put(t, key, "x1")
    put(t, key, "x2")
    b, _ = create(t, key, {"type": "abc"})
    b = wait(t, key, b["id"])
    t.eq(b["status"], "failed", "all zero: failed")
    t.check("positive revenue" in b["error"]["detail"], "detail: %s" % b["error"])
    j = t.expect_json(t.req("GET", "/v1/jobs/" + b["job_id"], key=key), 200)
    t.eq(j["status"], "failed", "the job failed")
    t.eq(j["error"], b["error"], "the job's error is the problem")
    # one customer: A alone
    buy(t, key, [("x1", "3")])
    r = t.req("POST", "/v1/analyses/%s:run" % b["id"], key=key)
    t.expect_json(r, 202)
    b = wait(t, key, b["id"], runs=1)
    t.eq(b["status"], "succeeded", "one customer with a value")
    t.eq(b["error"], None, "the error is gone")
    got = {i["customer_id"]: i["abc_class"] for i in all_customers(t, key, b["id"])}
    t.eq(got, {"x1": "A", "x2": "C"}, "one customer is A")

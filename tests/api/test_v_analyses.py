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


def test_list_filters_and_delete(t):
    key = tenant(t)
    buy(t, key, [("l1", "10"), ("l2", "5")])
    ok1, _ = create(t, key, {"type": "abc"})
    ok2, _ = create(t, key, {"type": "abc", "params": {"metric": "orders"}})
    bad, _ = create(t, key, {"type": "abc", "params": {"metric": "avg_order_value"}})
    for a in (ok1, ok2, bad):
        wait(t, key, a["id"])
    # avg_order_value works as well: both have one order
    t.eq(get(t, key, bad["id"])["status"], "succeeded", "avg_order_value")
    psql(t, "UPDATE customers SET orders = 0, revenue = 0 WHERE id IN ('l1', 'l2') AND "
            "tenant_id = (SELECT tenant_id FROM analyses WHERE id = %s)" % bad["id"])
    t.expect_json(t.req("POST", "/v1/analyses/%s:run" % bad["id"], key=key), 202)
    b = wait(t, key, bad["id"], statuses=("failed",))
    t.eq(b["runs"], 1, "a failed re-run leaves the runs")
    t.check(b["result"] is not None and b["succeeded_at"], "the previous result stays: %s" % b)
    page = t.expect_json(t.req("GET", "/v1/analyses", key=key), 200)
    t.eq([a["id"] for a in page["items"]], [bad["id"], ok2["id"], ok1["id"]], "newest first")
    page = t.expect_json(t.req("GET", "/v1/analyses?status=failed", key=key), 200)
    t.eq([a["id"] for a in page["items"]], [bad["id"]], "status filter")
    page = t.expect_json(t.req("GET", "/v1/analyses?type=abc&status=succeeded", key=key), 200)
    t.eq([a["id"] for a in page["items"]], [ok2["id"], ok1["id"]], "type and status")
    p1 = t.expect_json(t.req("GET", "/v1/analyses?limit=2", key=key), 200)
    t.eq(len(p1["items"]), 2, "limit")
    p2 = t.expect_json(t.req("GET", "/v1/analyses?limit=2&cursor=" + q(p1["next_cursor"]),
                             key=key), 200)
    t.eq([a["id"] for a in p2["items"]], [ok1["id"]], "the next page")
    t.eq(p2["next_cursor"], None, "the end")
    t.problem(t.req("GET", "/v1/analyses?status=done", key=key), 422)
    t.problem(t.req("GET", "/v1/analyses?type=zzz", key=key), 422)
    t.problem(t.req("GET", "/v1/analyses?cursor=x", key=key), 400)
    t.problem(t.req("GET", "/v1/analyses?bogus=1", key=key), 400)
    other = tenant(t)
    t.eq(t.expect_json(t.req("GET", "/v1/analyses", key=other), 200)["items"], [],
         "another tenant sees none")
    t.problem(t.req("DELETE", "/v1/analyses/" + ok1["id"], key=other), 404)
    store = psql(t, "SELECT store FROM analyses WHERE id = %s" % ok1["id"])[0][0]
    t.check(store.startswith("seg_results.a%s_" % ok1["id"]), "its store: %s" % store)
    t.expect(t.req("DELETE", "/v1/analyses/" + ok1["id"], key=key), 204)
    t.problem(t.req("GET", "/v1/analyses/" + ok1["id"], key=key), 404)
    t.problem(t.req("GET", "/v1/analyses/%s/customers" % ok1["id"], key=key), 404)
    # the store is retired, and the housekeeping (every SEGMENTD_JOB_HEARTBEAT) drops it
    gone = None
    for _ in range(200):
        gone = psql(t, "SELECT to_regclass('%s') IS NULL, (SELECT count(*) FROM "
                       "analysis_stores_retired WHERE name = '%s')" % (store, store))
        if gone == [["t", "0"]]:
            break
        time.sleep(0.2)
    t.eq(gone, [["t", "0"]], "its customers' rows are gone: the store is dropped")
    t.problem(t.req("DELETE", "/v1/analyses/%s?force=maybe" % ok2["id"], key=key), 400)


def test_customers_pages_and_csv(t):
    key = tenant(t)
    ids = ["p%03d" % i for i in range(25)] + ['q,"quoted"']
    buy(t, key, [(c, str(i + 1)) for i, c in enumerate(ids)])
    a, _ = create(t, key, {"type": "abc"})
    a = wait(t, key, a["id"])
    items = all_customers(t, key, a["id"])
    t.eq(len(items), 26, "every customer")
    r = t.req("GET", "/v1/analyses/%s/customers" % a["id"], key=key,
              headers={"Accept": "text/csv"})
    t.expect(r, 200)
    t.check(r.header("content-type").startswith("text/csv"), "text/csv", r)
    t.check("analysis-%s.csv" % a["id"] in (r.header("content-disposition") or ""),
            "attachment name", r)
    rows = list(csv.reader(io.StringIO(r.body.decode())))
    t.eq(rows[0], ["customer_id", "abc_class", "value", "rank"], "header")
    t.eq(len(rows), 27, "a line per customer")
    by = {i["customer_id"]: i for i in items}
    for row in rows[1:]:
        i = by[row[0]]
        t.eq(row[1], i["abc_class"], "class of %s" % row[0])
        t.eq(Decimal(row[2]), Decimal(str(i["value"])), "value of %s" % row[0])
        t.eq(int(row[3]) if row[3] else None, i["rank"], "rank of %s" % row[0])
    t.check('q,"quoted"' in by, "a quoted id")
    t.problem(t.req("GET", "/v1/analyses/%s/customers?limit=0" % a["id"], key=key), 400)
    t.problem(t.req("GET", "/v1/analyses/999999999/customers", key=key,
                    headers={"Accept": "text/csv"}), 404)
    # before a first successful run: 409, as CSV too
    empty = tenant(t)
    e, _ = create(t, empty, {"type": "abc"})
    wait(t, empty, e["id"])
    t.problem(t.req("GET", "/v1/analyses/%s/customers" % e["id"], key=empty,
                    headers={"Accept": "text/csv"}), 409)


def members(t, key, sid):
    page = t.expect_json(t.req("GET", "/v1/segments/%s/members?limit=1000" % sid, key=key), 200)
    return sorted(m["customer_id"] for m in page["items"])


def wait_members(t, key, sid, want, timeout=30):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = members(t, key, sid)
        if got == sorted(want):
            return
        time.sleep(0.1)
    t.eq(got, sorted(want), "members of %s" % sid)


def test_materialize_rules_and_rerun(t):
    key = tenant(t)
    amounts = {"m1": "500", "m2": "200", "m3": "100", "m4": "80", "m5": "60", "m6": "30",
               "m7": "20", "m8": "10"}
    buy(t, key, sorted(amounts.items()))
    put(t, key, "m9")
    a, _ = create(t, key, {"type": "abc"})
    t.problem(t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": ""},
                    key=key), 422)
    a = wait(t, key, a["id"])
    values = {c: Decimal(v) for c, v in amounts.items()}
    values["m9"] = Decimal(0)
    want, _ = expected_abc(values)
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "Value"},
              key=key)
    s = t.expect_json(r, 201)
    t.eq(r.header("location"), "/v1/schemes/" + s["id"], "Location of the scheme", r)
    t.eq([g["name"] for g in s["segments"]], ["Value: A", "Value: B", "Value: C"], "names")
    t.check(s["mutually_exclusive"] and s["collectively_exhaustive"], "MECE: %s" % s)
    t.eq(s["customers"], 9, "customers")
    for g in s["segments"]:
        cls = g["name"][-1]
        t.eq(g["size"], sum(1 for c in want if want[c] == cls), "size of %s" % cls)
        seg = t.expect_json(t.req("GET", "/v1/segments/" + g["id"], key=key), 200)
        t.eq((seg["source"], seg["analysis_id"]), ("abc", a["id"]), "source")
        t.eq(seg["type"], "dynamic", "dynamic")
    t.eq(s["analysis_id"], a["id"], "analysis_id")
    t.eq(s["metric_source_replaced"], None, "no source before")
    t.check(get(t, key, a["id"])["metric_source"], "the analysis is the metric source")
    seg_ids = {g["name"][-1]: g["id"] for g in s["segments"]}
    for cls, sid in seg_ids.items():
        t.eq(members(t, key, sid), sorted(c for c in want if want[c] == cls), "members " + cls)
    # the customer document and rules over abc_class
    doc = t.expect_json(t.req("GET", "/v1/customers/m1", key=key), 200)
    t.eq(doc["metrics"].get("abc_class"), "A", "metrics.abc_class")
    t.check("orders" in doc["metrics"], "the other metrics stay")
    doc = t.expect_json(t.req("GET", "/v1/customers/m9", key=key), 200)
    t.eq(doc["metrics"].get("abc_class"), "C", "a customer without value: C")
    pv = t.expect_json(t.req("POST", "/v1/segments:preview",
                             {"rule": {"metric": "abc_class", "op": "in", "value": ["A", "B"]}},
                             key=key), 200)
    t.eq(pv["count"], sum(1 for c in want if want[c] != "C"), "preview over abc_class")
    mine = t.expect_json(t.req("POST", "/v1/segments", {
        "name": "top and big", "type": "dynamic", "rule": {"all": [
            {"metric": "abc_class", "op": "eq", "value": "A"},
            {"metric": "orders", "op": "gte", "value": 1}]}}, key=key), 201)
    t.eq(members(t, key, mine["id"]), sorted(c for c in want if want[c] == "A"), "a rule")
    ref = t.expect_json(t.req("POST", "/v1/segments", {
        "name": "refers", "type": "dynamic", "rule": {"segment": mine["id"]}}, key=key), 201)
    # a new customer is C at once; an event does not change a class
    put(t, key, "m10")
    t.check("m10" in members(t, key, seg_ids["C"]), "a new customer is in C")
    buy(t, key, [("m8", "1000")])
    t.check("m8" not in members(t, key, seg_ids["A"]), "events do not move classes")
    cur = t.expect_json(t.req("GET", "/v1/changes?limit=1000", key=key), 200)
    cursor = cur["next_cursor"]
    # the re-run moves m8 to A and others down, the segments follow, the feed says so
    t.expect_json(t.req("POST", "/v1/analyses/%s:run" % a["id"], key=key), 202)
    a2 = wait(t, key, a["id"], statuses=("succeeded",), runs=2)
    values["m8"] = Decimal("1010")
    values["m10"] = Decimal(0)
    want2, _ = expected_abc(values)
    t.check(want2 != want, "the data changed the classes")
    for cls, sid in seg_ids.items():
        wait_members(t, key, sid, [c for c in want2 if want2[c] == cls])
    wait_members(t, key, mine["id"], [c for c in want2 if want2[c] == "A"])
    wait_members(t, key, ref["id"], [c for c in want2 if want2[c] == "A"])
    feed = t.expect_json(t.req("GET", "/v1/changes?limit=1000&since=" + str(cursor), key=key),
                         200)
    moved = {(i["segment_id"], i["customer_id"], i["change"]) for i in feed["items"]}
    for c in values:
        if want.get(c, "C") != want2[c]:
            t.check((seg_ids[want2[c]], c, "entered") in moved, "%s entered %s" % (c, want2[c]))
            t.check((seg_ids[want.get(c, "C")], c, "exited") in moved, "%s exited" % c)
    s2 = t.expect_json(t.req("GET", "/v1/schemes/" + s["id"], key=key), 200)
    t.check(s2["mutually_exclusive"] and s2["collectively_exhaustive"], "still MECE")
    snaps = t.expect_json(t.req("GET", "/v1/schemes/%s/snapshots" % s["id"], key=key), 200)
    t.check(len(snaps["items"]) >= 1, "the refreshes snapshot the scheme")
    t.check(a2["succeeded_at"] >= a["succeeded_at"], "succeeded_at moved")
    # names are taken now; another analysis replaces the metric source
    taken = t.problem(t.req("POST", "/v1/analyses/%s:materialize" % a["id"],
                            {"scheme_name": "Value"}, key=key), 409)
    t.check("Value" in taken["detail"], "the 409 says the name is taken: %s" % taken["detail"])
    b, _ = create(t, key, {"type": "abc", "params": {"a": 0.5}})
    b = wait(t, key, b["id"])
    t.problem(t.req("DELETE", "/v1/analyses/" + a["id"], key=key), 409)
    s3 = t.expect_json(t.req("POST", "/v1/analyses/%s:materialize" % b["id"],
                             {"scheme_name": "Half"}, key=key), 201)
    t.eq(s3["metric_source_replaced"], a["id"], "the source replaced")
    t.check(not get(t, key, a["id"])["metric_source"], "no longer the source")
    want3, _ = expected_abc(values, a=Decimal("0.5"))
    wait_members(t, key, mine["id"], [c for c in want3 if want3[c] == "A"])
    t.expect(t.req("DELETE", "/v1/analyses/" + a["id"], key=key), 204)
    t.problem(t.req("DELETE", "/v1/analyses/" + b["id"], key=key), 409)
    t.expect(t.req("DELETE", "/v1/analyses/%s?force=true" % b["id"], key=key), 204)
    doc = t.expect_json(t.req("GET", "/v1/customers/m1", key=key), 200)
    t.check("abc_class" not in doc["metrics"], "the metric is gone: %s" % doc["metrics"])
    wait_members(t, key, mine["id"], [])
    # an analysis without a succeeded run cannot be materialised
    empty = tenant(t)
    e, _ = create(t, empty, {"type": "abc"})
    wait(t, empty, e["id"])
    t.problem(t.req("POST", "/v1/analyses/%s:materialize" % e["id"], {"scheme_name": "E"},
                    key=empty), 409)
    t.problem(t.req("POST", "/v1/analyses/%s:materialize" % e["id"], {"name": "E"},
                    key=empty), 422)


def test_erasure_of_scores(t):
    key = tenant(t)
    buy(t, key, [("e1", "10"), ("e2", "5")])
    a, _ = create(t, key, {"type": "abc"})
    wait(t, key, a["id"])
    t.expect_json(t.req("POST", "/v1/analyses/%s:materialize" % a["id"],
                        {"scheme_name": "Erase"}, key=key), 201)
    cond = "tenant_id = (SELECT tenant_id FROM analyses WHERE id = %s) AND customer_id = 'e1'" \
        % a["id"]
    t.eq(psql(t, "SELECT count(*) FROM customer_scores WHERE " + cond), [["1"]], "a score")
    store = psql(t, "SELECT store FROM analyses WHERE id = %s" % a["id"])[0][0]
    # a second analysis whose store is dropped meanwhile: the erasure passes over it
    b, _ = create(t, key, {"type": "abc"})
    wait(t, key, b["id"])
    gone = psql(t, "SELECT store FROM analyses WHERE id = %s" % b["id"])[0][0]
    psql(t, "DROP TABLE %s" % gone)
    row = "SELECT count(*) FROM %s WHERE customer_id = 'e1'" % store
    t.eq(psql(t, row), [["1"]], "a row")
    t.expect(t.req("DELETE", "/v1/customers/e1", key=key), 204)
    t.eq(psql(t, "SELECT count(*) FROM customer_scores WHERE " + cond), [["0"]], "score erased")
    t.eq(psql(t, row), [["0"]], "row erased")
    ids = [i["customer_id"] for i in all_customers(t, key, a["id"])]
    t.eq(ids, ["e2"], "the customers' results no longer name it")


# ---- cancel, schedules, several daemons, kill -9 -------------------------------------------

FAST = {"SEGMENTD_JOB_LEASE": "3", "SEGMENTD_JOB_HEARTBEAT": "1", "SEGMENTD_JOB_POLL": "1",
        "SEGMENTD_JOB_BACKOFF": "0.2", "SEGMENTD_REFRESH_INTERVAL": "1"}


def hold_customers(t, seconds, dbname=None):
    """Locks the customers table (ACCESS EXCLUSIVE) for `seconds` (psql in the background), so
    that a run's first read of them waits inside its transaction."""
    args = [shutil.which("psql"), "-X", "-q"] + (["-d", dbname] if dbname else []) + [
        "-c", "BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE; "
              "SELECT pg_sleep(%s); COMMIT;" % seconds]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p


def test_cancel_keeps_the_previous_result(t):
    """A re-run cancelled while it runs (blocked inside its transaction, then at its next check
    point) ends cancelled; the previous result, succeeded_at and runs stay."""
    if not shutil.which("psql"):
        raise t.Skip("psql not found")
    key = tenant(t)
    buy(t, key, [("k1", "10"), ("k2", "5")])
    a, _ = create(t, key, {"type": "abc"})
    a = wait(t, key, a["id"])
    holder = hold_customers(t, 8)
    try:
        t.expect_json(t.req("POST", "/v1/analyses/%s:run" % a["id"], key=key), 202)
        running = wait(t, key, a["id"], statuses=("running",), timeout=10)
        t.eq(running["result"], a["result"], "the result while a run runs")
        r = t.req("POST", "/v1/analyses/%s:cancel" % a["id"], key=key)
        c = t.expect_json(r, 202)
        t.eq(r.header("location"), "/v1/analyses/" + a["id"], "Location", r)
        t.check(c["status"] in ("running", "cancelled"), "cancel asked: %s" % c["status"])
    finally:
        holder.wait(timeout=30)
    c = wait(t, key, a["id"], timeout=20)
    t.eq(c["status"], "cancelled", "the run stopped at its next check point")
    t.eq((c["result"], c["succeeded_at"], c["runs"]), (a["result"], a["succeeded_at"], 1),
         "the previous result stays")
    t.eq(len(all_customers(t, key, a["id"])), 2, "and its customers")
    # a queued run is cancelled at once; cancelling an ended one changes nothing
    c2 = t.expect_json(t.req("POST", "/v1/analyses/%s:cancel" % a["id"], key=key), 202)
    t.eq(c2["status"], "cancelled", "nothing more to cancel")
    t.problem(t.req("POST", "/v1/analyses/999999999:cancel", key=key), 404)
    t.problem(t.req("POST", "/v1/analyses/999999999:run", key=key), 404)


class OwnDb:
    """A fresh database on the test cluster, migrated, with one tenant and its key; daemons
    started with self.env use it (and only it)."""

    def __init__(self, t, tag):
        self.t = t
        self.name = "segv_%s_%s" % (tag, t.run_tag)
        psql(t, "DROP DATABASE IF EXISTS %s" % self.name)
        psql(t, "CREATE DATABASE %s" % self.name)
        self.env = {"DATABASE_URL": "dbname=" + self.name}
        self.cli("migrate")
        self.tenant = "own-" + t.run_tag
        self.key = self.cli("keys", "create", "--tenant", self.tenant,
                            "--scopes", "read,write,admin").strip().splitlines()[-1]

    def cli(self, *args):
        env = dict(self.t.env)
        env.update(self.env)
        p = subprocess.run([self.t.binary] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=120)
        self.t.check(p.returncode == 0, "segmentd %s: %s" % (" ".join(args),
                                                               p.stderr.decode()[-800:]))
        return p.stdout.decode()

    def sql(self, query):
        exe = shutil.which("psql")
        p = subprocess.run([exe, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-d", self.name, "-c", query], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.t.check(p.returncode == 0, "psql failed: %s" % p.stderr.decode()[-500:])
        return [line.split("\t") for line in p.stdout.decode().splitlines() if line]

    def daemon(self, name, extra=None):
        env = dict(self.env)
        env.update(extra or {})
        return self.t.start_daemon([], name, env=env)

    def drop(self):
        psql(self.t, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)


def wait_on(t, d, key, aid, cond, what, timeout=30):
    deadline = time.time() + timeout
    a = None
    while time.time() < deadline:
        a = t.expect_json(t.req("GET", "/v1/analyses/" + aid, key=key, daemon=d), 200)
        if cond(a):
            return a
        time.sleep(0.1)
    t.fail("analysis %s: %s not reached within %ds: %s" % (aid, what, timeout, a))


def test_schedule_two_daemons_run_once(t):
    """A daily analysis: next_run_at a day ahead; once it is due (moved into the past with
    SQL), the scheduling pass of either of two daemons queues one run, which runs once, and
    next_run_at moves past now in its phase; the materialised scheme follows the new run."""
    if not shutil.which("psql"):
        raise t.Skip("psql not found")
    db = OwnDb(t, "sched")
    daemons = []
    try:
        daemons = [db.daemon("sched-1", FAST), db.daemon("sched-2", FAST)]
        d1 = daemons[0]
        body = '[{"customer_id": "s1", "type": "purchase", "occurred_at": ' \
               '"2026-01-01T00:00:00Z", "amount": 10}, {"customer_id": "s2", "type": ' \
               '"purchase", "occurred_at": "2026-01-01T00:00:00Z", "amount": 1}]'
        t.expect_json(t.req("POST", "/v1/events", raw_body=body, ctype="application/json",
                            key=db.key, daemon=d1), 202)
        r = t.req("POST", "/v1/analyses", {"type": "abc", "schedule": "daily"}, key=db.key,
                  daemon=d1)
        a = t.expect_json(r, 202)
        t.eq(a["schedule"], "daily", "schedule")
        a = wait_on(t, d1, db.key, a["id"], lambda x: x["status"] == "succeeded", "succeeded")
        ahead = db.sql("SELECT extract(epoch FROM next_run_at - created_at)::int FROM analyses "
                       "WHERE id = %s" % a["id"])[0][0]
        t.check(86390 <= int(ahead) <= 86410, "next_run_at a day after creation: %s" % ahead)
        s = t.expect_json(t.req("POST", "/v1/analyses/%s:materialize" % a["id"],
                                {"scheme_name": "Daily"}, key=db.key, daemon=d1), 201)
        a_seg = [g["id"] for g in s["segments"] if g["name"] == "Daily: A"][0]
        # s2 becomes the big one; the scheduled run moves it to A
        body = '{"customer_id": "s2", "type": "purchase", "occurred_at": ' \
               '"2026-01-02T00:00:00Z", "amount": 100}'
        t.expect_json(t.req("POST", "/v1/events", raw_body=body, ctype="application/json",
                            key=db.key, daemon=d1), 202)
        due = db.sql("UPDATE analyses SET next_run_at = now() - interval '3 days 1 hour' "
                     "WHERE id = %s RETURNING next_run_at" % a["id"])[0][0]
        a2 = wait_on(t, d1, db.key, a["id"], lambda x: x["runs"] >= 2, "a second run")
        time.sleep(3)  # a few more scheduling passes of both daemons
        a2 = t.expect_json(t.req("GET", "/v1/analyses/" + a["id"], key=db.key, daemon=d1), 200)
        t.eq(a2["runs"], 2, "one scheduled run, whatever the daemons")
        jobs = db.sql("SELECT count(*) FROM jobs WHERE kind = 'analysis' AND target = %s"
                      % a["id"])
        t.eq(jobs, [["2"]], "two jobs: the first run and the scheduled one")
        left = db.sql("SELECT next_run_at > now(), next_run_at - '%s'::timestamptz "
                      "FROM analyses WHERE id = %s" % (due, a["id"]))[0]
        t.eq(left, ["t", "4 days"], "next_run_at ahead again, in its phase (whole days on)")
        deadline = time.time() + 20
        got = None
        while time.time() < deadline:
            page = t.expect_json(t.req("GET", "/v1/segments/%s/members" % a_seg, key=db.key,
                                       daemon=d1), 200)
            got = [m["customer_id"] for m in page["items"]]
            if got == ["s2"]:
                break
            time.sleep(0.2)
        t.eq(got, ["s2"], "the materialised segment follows the scheduled run")
    finally:
        for d in daemons:
            t.stop_daemon(d)
        db.drop()


def test_kill9_during_a_run_is_retried(t):
    """Two daemons; the one running an analysis (blocked inside its transaction) is killed with
    kill -9. Its lease runs out, the other daemon runs it again: succeeded, attempt 2, runs 2,
    the result and the customers' rows those of one run."""
    if not shutil.which("psql"):
        raise t.Skip("psql not found")
    db = OwnDb(t, "kill")
    daemons = []
    holder = None
    try:
        daemons = [db.daemon("an-kill-1", FAST), db.daemon("an-kill-2", FAST)]
        d1 = daemons[0]
        events = ",".join('{"customer_id": "k%02d", "type": "purchase", "occurred_at": '
                          '"2026-01-01T00:00:00Z", "amount": %d}' % (i, i + 1) for i in range(30))
        t.expect_json(t.req("POST", "/v1/events", raw_body="[" + events + "]",
                            ctype="application/json", key=db.key, daemon=d1), 202)
        a = t.expect_json(t.req("POST", "/v1/analyses", {"type": "abc"}, key=db.key,
                                daemon=d1), 202)
        a = wait_on(t, d1, db.key, a["id"], lambda x: x["status"] == "succeeded", "succeeded")
        holder = hold_customers(t, 6, dbname=db.name)
        t.expect_json(t.req("POST", "/v1/analyses/%s:run" % a["id"], key=db.key, daemon=d1),
                      202)
        a = wait_on(t, d1, db.key, a["id"], lambda x: x["status"] == "running", "running")
        # the heartbeat stores a running run's progress (its job's row is not held meanwhile)
        a = wait_on(t, d1, db.key, a["id"], lambda x: x["progress"] > 0, "progress", timeout=10)
        t.check(a["status"] == "running" and a["progress"] < 1, "running with progress: %s" % a)
        worker = db.sql("SELECT worker FROM jobs WHERE id = %s" % a["job_id"])[0][0]
        pid = int(worker.rsplit(":", 1)[1])
        victim = [d for d in daemons if d.proc.pid == pid]
        t.check(victim, "the run is on %s, not on a test daemon" % worker)
        killed = victim[0]
        killed.proc.send_signal(signal.SIGKILL)
        killed.proc.wait()
        killed.stopped = True  # not a clean exit, on purpose
        killed.stderr.close()
        survivor = daemons[1] if killed is daemons[0] else daemons[0]
        a = wait_on(t, survivor, db.key, a["id"],
                    lambda x: x["status"] in ("succeeded", "failed") and x["runs"] >= 2,
                    "the run again", timeout=40)
        t.eq((a["status"], a["attempts"], a["runs"]), ("succeeded", 2, 2), "retried once")
        store = db.sql("SELECT store FROM analyses WHERE id = %s" % a["id"])[0][0]
        t.eq(db.sql("SELECT count(*), count(DISTINCT customer_id) FROM %s" % store),
             [["30", "30"]], "one row each")
    finally:
        if holder:
            holder.wait(timeout=30)
        for d in daemons:
            if not d.stopped:
                t.stop_daemon(d)
        db.drop()


def test_outcome_outlives_the_purged_job(t):
    """Jobs are deleted after SEGMENTD_JOB_RETENTION; an analysis keeps its status, error and
    result (the purge copies the outcome into the analysis), and job_id becomes null."""
    if not shutil.which("psql"):
        raise t.Skip("psql not found")
    db = OwnDb(t, "purge")
    daemons = []
    try:
        env = dict(FAST)
        env["SEGMENTD_JOB_RETENTION"] = "3600"
        daemons = [db.daemon("an-purge-1", env)]
        d = daemons[0]
        failed = t.expect_json(t.req("POST", "/v1/analyses", {"type": "abc"}, key=db.key,
                                     daemon=d), 202)
        failed = wait_on(t, d, db.key, failed["id"], lambda x: x["status"] == "failed",
                         "failed")
        body = '{"customer_id": "u1", "type": "purchase", "occurred_at": ' \
               '"2026-01-01T00:00:00Z", "amount": 10}'
        t.expect_json(t.req("POST", "/v1/events", raw_body=body, ctype="application/json",
                            key=db.key, daemon=d), 202)
        ok = t.expect_json(t.req("POST", "/v1/analyses", {"type": "abc"}, key=db.key,
                                 daemon=d), 202)
        ok = wait_on(t, d, db.key, ok["id"], lambda x: x["status"] == "succeeded", "succeeded")
        db.sql("UPDATE jobs SET finished_at = now() - interval '2 hours' WHERE kind = 'analysis'")
        deadline = time.time() + 15
        while time.time() < deadline and db.sql("SELECT count(*) FROM jobs WHERE kind = "
                                                "'analysis'") != [["0"]]:
            time.sleep(0.2)
        t.eq(db.sql("SELECT count(*) FROM jobs WHERE kind = 'analysis'"), [["0"]], "purged")
        f2 = t.expect_json(t.req("GET", "/v1/analyses/" + failed["id"], key=db.key, daemon=d),
                           200)
        t.eq((f2["status"], f2["error"], f2["job_id"], f2["progress"]),
             ("failed", failed["error"], None, 0), "the failure outlives its job")
        o2 = t.expect_json(t.req("GET", "/v1/analyses/" + ok["id"], key=db.key, daemon=d), 200)
        t.eq((o2["status"], o2["result"], o2["job_id"], o2["progress"], o2["runs"]),
             ("succeeded", ok["result"], None, 1, 1), "the success outlives its job")
        page = t.expect_json(t.req("GET", "/v1/analyses?status=failed", key=db.key, daemon=d),
                             200)
        t.eq([a["id"] for a in page["items"]], [failed["id"]], "the list filters on it too")
        # a run after the purge follows its new job again
        t.expect_json(t.req("POST", "/v1/analyses/%s:run" % ok["id"], key=db.key, daemon=d),
                      202)
        o3 = wait_on(t, d, db.key, ok["id"], lambda x: x["runs"] == 2, "a new run")
        t.check(o3["job_id"] is not None, "a new job")
    finally:
        for dd in daemons:
            t.stop_daemon(dd)
        db.drop()


def test_double_metrics_compare_as_shown(t):
    """A double metric (clv, p_alive, predicted_orders) compares in rules as the number the
    customer document shows (its shortest exact decimal), not a 15-digit cast of it."""
    key = tenant(t)
    put(t, key, "d1")
    put(t, key, "d2")
    tid = psql(t, "SELECT tenant_id FROM customers WHERE id = 'd1' ORDER BY created_at DESC "
                  "LIMIT 1")[0][0]
    psql(t, "INSERT INTO customer_scores (tenant_id, customer_id, clv, p_alive, rfm_r) VALUES "
            "(%s, 'd1', 0.12345678901234568, 1, 5), (%s, 'd2', 0.1234567890123457, 0.5, 1)"
            % (tid, tid))
    doc = t.expect_json(t.req("GET", "/v1/customers/d1", key=key), 200)
    t.eq(doc["metrics"].get("clv"), Decimal("0.12345678901234568"), "clv as stored")
    t.eq(doc["metrics"].get("rfm_r"), 5, "rfm_r")
    t.check("abc_class" not in doc["metrics"], "no value, no key")
    for rule, want in [
            ({"metric": "clv", "op": "eq", "value": 0.12345678901234568}, ["d1"]),
            ({"metric": "clv", "op": "gt", "value": 0.12345678901234568}, ["d2"]),
            ({"metric": "p_alive", "op": "gte", "value": 1}, ["d1"]),
            ({"metric": "rfm_r", "op": "between", "value": [4, 5]}, ["d1"]),
            ({"not": {"metric": "abc_class", "op": "exists"}}, ["d1", "d2"])]:
        pv = t.expect_json(t.req("POST", "/v1/segments:preview", {"rule": rule}, key=key), 200)
        t.eq(pv["sample"], want, "preview of %s" % json.dumps(rule))


def test_materialize_answers_202_past_the_sync_timeout(t):
    """With SEGMENTD_SYNC_TIMEOUT=0 the segments are not waited for: 202 with the scheme (its
    Location) and the refresh jobs still pending; the segments are right once they ran."""
    if not shutil.which("psql"):
        raise t.Skip("psql not found")
    db = OwnDb(t, "sync")
    daemons = []
    try:
        env = dict(FAST)
        env["SEGMENTD_SYNC_TIMEOUT"] = "0"
        daemons = [db.daemon("an-sync-1", env)]
        d = daemons[0]
        body = '[{"customer_id": "y1", "type": "purchase", "occurred_at": ' \
               '"2026-01-01T00:00:00Z", "amount": 10}, {"customer_id": "y2", "type": ' \
               '"purchase", "occurred_at": "2026-01-01T00:00:00Z", "amount": 1}]'
        t.expect_json(t.req("POST", "/v1/events", raw_body=body, ctype="application/json",
                            key=db.key, daemon=d), 202)
        a = t.expect_json(t.req("POST", "/v1/analyses", {"type": "abc"}, key=db.key,
                                daemon=d), 202)
        wait_on(t, d, db.key, a["id"], lambda x: x["status"] == "succeeded", "succeeded")
        r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "Later"},
                  key=db.key, daemon=d)
        s = t.expect_json(r, 202)
        t.eq(r.header("location"), "/v1/schemes/" + s["id"], "Location of the scheme", r)
        t.check(len(s["pending_jobs"]) >= 1, "the pending refreshes: %s" % s["pending_jobs"])
        for jid in s["pending_jobs"]:
            deadline = time.time() + 20
            while time.time() < deadline:
                j = t.expect_json(t.req("GET", "/v1/jobs/" + jid, key=db.key, daemon=d), 200)
                if j["status"] == "succeeded":
                    break
                time.sleep(0.1)
            t.eq(j["status"], "succeeded", "refresh %s" % jid)
        rep = t.expect_json(t.req("GET", "/v1/schemes/" + s["id"], key=db.key, daemon=d), 200)
        t.eq([g["size"] for g in rep["segments"]], [1, 1, 0], "A, B, C once evaluated")
        t.check(rep["mutually_exclusive"] and rep["collectively_exhaustive"], "MECE")
    finally:
        for dd in daemons:
            t.stop_daemon(dd)
        db.drop()

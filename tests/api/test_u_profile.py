"""Segment profiles and overlaps (SPEC §5.4, issue 7): GET /v1/segments/{id}/profile and
GET /v1/segments:overlap. Every figure is checked against an independent computation here
(Python's statistics and sets over the data the test wrote): numeric statistics with
percentiles as percentile_cont (linear interpolation), the ten most frequent values with their
ties, shares and lift against the whole base, the metrics, registered and unregistered
attributes, missing, null and wrong-type values, unicode, segments of one and of no member,
static and dynamic segments; overlap counts and Jaccard indexes against Python sets; errors."""
import datetime
import json
import math
import os
import shutil
import subprocess
import urllib.parse
from decimal import Decimal


def q(s):
    return urllib.parse.quote(s, safe="")


def tenant(t):
    name, key = t.new_tenant()
    return name, key


def put_customers(t, key, docs):
    lines = "".join(json.dumps({"id": i, "attributes": a}, ensure_ascii=False) + "\n"
                    for i, a in docs.items())
    r = t.req("POST", "/v1/customers:import", raw_body=lines, ctype="application/x-ndjson",
              key=key)
    d = t.expect_json(r, 200)
    t.eq(d.get("rejected"), 0, "import rejected lines", r)


def static_segment(t, key, ids, **extra):
    body = {"name": t.uid("seg"), "type": "static"}
    body.update(extra)
    s = t.expect_json(t.req("POST", "/v1/segments", body, key=key), 201)
    if ids:
        t.expect_json(t.req("POST", "/v1/segments/%s/members" % s["id"],
                            {"customer_ids": list(ids)}, key=key), 200)
    return s["id"]


def profile(t, key, sid):
    return t.expect_json(t.req("GET", "/v1/segments/%s/profile" % q(str(sid)), key=key), 200)


def psql(t, sql):
    exe = shutil.which("psql")
    if not exe:
        raise t.Skip("psql not found")
    p = subprocess.run([exe, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    t.check(p.returncode == 0, "psql failed: %s" % p.stderr.decode()[-500:])


# ----- the independent computation ---------------------------------------------------------

def pcont(values, p):
    """percentile_cont: linear interpolation between the closest ranks (numpy's 'linear')."""
    a = sorted(values)
    pos = p * (len(a) - 1)
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return a[lo] + (a[hi] - a[lo]) * (pos - lo)


def stats(values, size):
    if not values:
        return {"count": 0, "missing": size, "mean": None, "p25": None, "median": None,
                "p75": None, "min": None, "max": None}
    return {"count": len(values), "missing": size - len(values),
            "mean": math.fsum(values) / len(values), "p25": pcont(values, 0.25),
            "median": pcont(values, 0.5), "p75": pcont(values, 0.75), "min": min(values),
            "max": max(values)}


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def close(got, want):
    if want is None or got is None:
        return got is None and want is None
    got = float(got)
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


def check_stats(t, got, want, what):
    t.check(isinstance(got, dict), "%s: not an object: %r" % (what, got))
    for k in ("count", "missing"):
        t.eq(got.get(k), want[k], "%s %s" % (what, k))
    for k in ("mean", "p25", "median", "p75", "min", "max"):
        t.check(close(got.get(k), want[k]),
                "%s %s: expected %r, got %r" % (what, k, want[k], got.get(k)))


def listed(mode, v):
    """The values an attribute value contributes to the top list, by the attribute's mode."""
    if isinstance(v, str) and mode in ("string", "any"):
        return [v] if len(v.encode()) <= 256 else []
    if isinstance(v, bool) and mode in ("boolean", "any"):
        return [v]
    if isinstance(v, list) and mode in ("list", "any"):
        out = []
        for e in v:
            if isinstance(e, str) and len(e.encode()) <= 256 and e not in out:
                out.append(e)
        return out
    return []


def value_key(v):
    return json.dumps(v, ensure_ascii=False)


def expected_profile(docs, members, registered):
    """docs: id -> attributes of every customer of the tenant; members: the segment's ids;
    registered: name -> type. The rules of db/README.md "Profiles and overlap"."""
    size = len(members)

    def value_at(attrs, name):
        if name in registered and "." in name:
            cur = attrs
            for part in name.split("."):
                if not isinstance(cur, dict) or part not in cur:
                    return None
                cur = cur[part]
            return cur
        return attrs.get(name)

    names = set(registered)
    for m in members:
        names.update(docs[m].keys())
    modes, present = {}, {}
    for name in names:
        vals = [value_at(docs[m], name) for m in members]
        vals = [v for v in vals if v is not None]
        present[name] = len(vals)
        typ = registered.get(name)
        if typ in ("number", "integer"):
            modes[name] = "numeric"
        elif typ in ("string", "boolean"):
            modes[name] = typ
        elif typ == "string_list":
            modes[name] = "list"
        elif typ is not None:
            continue
        elif vals and all(is_num(v) for v in vals):
            modes[name] = "numeric"
        elif any(isinstance(v, (str, bool, list)) for v in vals):
            modes[name] = "any"
    numeric, categorical = {}, {}
    for name, mode in modes.items():
        vals = [value_at(docs[m], name) for m in members]
        if mode == "numeric":
            numeric[name] = stats([float(v) for v in vals if is_num(v)], size)
            continue
        counts = {}
        for v in vals:
            for x in listed(mode, v):
                counts[value_key(x)] = counts.get(value_key(x), 0) + 1
        order = sorted(counts, key=lambda k: (-counts[k], str(json.loads(k)).lower()
                                              if isinstance(json.loads(k), bool)
                                              else json.loads(k), k))
        top = []
        for k in order[:10]:
            x = json.loads(k)
            base = sum(1 for a in docs.values() if x in listed(mode, value_at(a, name)))
            share = counts[k] / size
            top.append({"value": x, "count": counts[k], "share": share,
                        "lift": share / (base / len(docs))})
        categorical[name] = top
    return size, numeric, categorical, present


def check_profile(t, got, docs, members, registered, what):
    size, numeric, categorical, _ = expected_profile(docs, members, registered)
    t.eq(got["size"], size, what + " size")
    t.check(close(got["share"], size / len(docs) if docs else 0),
            "%s share: %r" % (what, got["share"]))
    t.eq(sorted(got["numeric"]), sorted(numeric), what + " numeric attributes")
    for name in numeric:
        check_stats(t, got["numeric"][name], numeric[name], "%s numeric %s" % (what, name))
    t.eq(sorted(got["categorical"]), sorted(categorical), what + " categorical attributes")
    for name, want in categorical.items():
        lst = got["categorical"][name]
        t.eq([(e["value"], e["count"]) for e in lst], [(e["value"], e["count"]) for e in want],
             "%s categorical %s (values and counts, in order)" % (what, name))
        for g, w in zip(lst, want):
            t.check(close(g["share"], w["share"]) and close(g["lift"], w["lift"]),
                    "%s %s %r: share/lift %r/%r, expected %r/%r"
                    % (what, name, w["value"], g["share"], g["lift"], w["share"], w["lift"]))


# ----- profiles ----------------------------------------------------------------------------

DOCS = {
    "p01": {"age": 30, "score": 1.5, "city": "Zürich", "plan": "pro", "vip": True,
            "tags": ["a", "b", "a"], "mixed": 5, "nested": {"x": 1}, "signup": "2024-01-02",
            "address": {"city": "Bern"}, "größe \"eu\"": "L"},
    "p02": {"age": 41, "score": 2.25, "city": "東京", "plan": "free", "vip": False,
            "tags": ["b"], "mixed": "five", "address": {"city": "東京"},
            "größe \"eu\"": "M"},
    "p03": {"age": None, "score": 3, "city": "Zürich", "plan": "pro", "vip": True,
            "tags": [], "mixed": "five", "nested": {"y": 2}},
    "p04": {"age": 25.5, "city": "😀 emoji", "plan": "team", "tags": ["c", "b"],
            "address": {"city": "Bern"}},
    "p05": {"age": 52, "score": 10, "city": "東京", "plan": "free", "vip": False,
            "mixed": True},
    "p06": {"score": -4, "city": "Zurich", "plan": "pro", "tags": ["a"]},
    "p07": {"age": 30, "score": 7.75, "city": "Köln", "plan": "team", "vip": True},
    # not in the segment: the rest of the base, for lift
    "p08": {"age": 19, "city": "Zürich", "plan": "pro", "vip": True, "tags": ["a"]},
    "p09": {"größe \"eu\"": "L", "age": 77, "city": "Berlin", "plan": "free", "vip": False,
            "tags": ["z"],
            "address": {"city": "Bern"}},
    "p10": {"city": "東京", "plan": "enterprise", "mixed": "five"},
    "p11": {},
    "p12": {"age": 60, "city": "Zürich", "plan": "team", "vip": False, "tags": ["b", "b"]},
}
MEMBERS = ["p01", "p02", "p03", "p04", "p05", "p06", "p07"]
REGISTERED = {"score": "number", "plan": "string", "vip": "boolean", "tags": "string_list",
              "signup": "date", "address.city": "string"}


def setup_world(t):
    name, key = tenant(t)
    for attr, typ in REGISTERED.items():
        t.expect_json(t.req("PUT", "/v1/attributes/" + q(attr), {"type": typ}, key=key),
                      200, 201)
    put_customers(t, key, DOCS)
    return name, key


def test_profile_registered_unregistered_missing_unicode(t):
    name, key = setup_world(t)
    sid = static_segment(t, key, MEMBERS,
                         profile={"main_job": "find a flat", "pains": ["noise"],
                                  "channels": ["web"], "other": {"x": 1}})
    got = profile(t, key, sid)
    check_profile(t, got, DOCS, MEMBERS, REGISTERED, "static segment")
    t.eq(got["segment_id"], str(sid), "segment_id")
    t.eq(got["profile"], {"main_job": "find a flat", "pains": ["noise"], "channels": ["web"],
                          "other": {"x": 1}}, "the persona card as stored")
    # the rules, spelled out on this data
    t.check("signup" not in got["numeric"] and "signup" not in got["categorical"],
            "a registered date is not profiled", None)
    t.check("nested" not in got["numeric"] and "nested" not in got["categorical"],
            "an attribute of objects only is not profiled", None)
    t.eq(got["categorical"]["vip"][0]["value"], True, "booleans are listed as JSON booleans")
    t.eq([(e["value"], e["count"]) for e in got["categorical"]["tags"]],
         [("b", 3), ("a", 2), ("c", 1)], "list elements, once per member")
    t.eq([(e["value"], e["count"]) for e in got["categorical"]["mixed"]],
         [("five", 2), (True, 1)], "mixed attribute: its strings and booleans are listed")
    t.eq(got["numeric"]["age"]["missing"], 2, "age: absent and null are missing")
    t.eq(got["numeric"]["score"]["count"], 6, "score count")
    t.eq([(e["value"], e["count"]) for e in got["categorical"]["address.city"]],
         [("Bern", 2), ("東京", 1)], "a registered dotted path is profiled by its path")
    t.eq([(e["value"], e["count"]) for e in got["categorical"]["city"]],
         [("Zürich", 2), ("東京", 2), ("Köln", 1), ("Zurich", 1), ("😀 emoji", 1)],
         "ties by count then value (byte order); unicode round-trips")
    t.eq([(e["value"], e["count"]) for e in got["categorical"]['größe "eu"']],
         [("L", 1), ("M", 1)], "an attribute name with unicode and a quote")
    t.eq(got["attributes"], {"profiled": len(got["numeric"]) + len(got["categorical"]),
                             "truncated": False}, "attributes")


def test_profile_wrong_type_values_are_missing(t):
    name, key = setup_world(t)
    sid = static_segment(t, key, MEMBERS)
    # values the catalogue would refuse, written behind its back (as data from before a
    # definition could be): a string score, a number plan, a scalar tag list, a string vip
    psql(t, "UPDATE customers SET attributes = attributes || '{\"score\": \"high\", "
            "\"plan\": 7, \"tags\": \"a\", \"vip\": \"true\"}' WHERE id = 'p07' AND tenant_id = "
            "(SELECT id FROM tenants WHERE name = '%s')" % name)
    docs = dict(DOCS)
    docs["p07"] = dict(DOCS["p07"], score="high", plan=7, tags="a", vip="true")
    got = profile(t, key, sid)
    check_profile(t, got, docs, MEMBERS, REGISTERED, "wrong types")
    t.eq(got["numeric"]["score"]["count"], 5, "a string score is missing")
    t.eq(sum(e["count"] for e in got["categorical"]["plan"]), 6, "a number plan is not listed")
    t.check(all(e["value"] != "true" for e in got["categorical"]["vip"]),
            "a string vip is not listed", None)


def test_profile_metrics(t):
    name, key = tenant(t)
    docs = {"m1": {}, "m2": {}, "m3": {}, "m4": {}, "m5": {}}
    put_customers(t, key, docs)
    now = datetime.datetime.now(datetime.timezone.utc)

    def ago(days):
        return (now - datetime.timedelta(days=days, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [
        {"customer_id": "m1", "type": "purchase", "occurred_at": ago(3), "amount": 10.5},
        {"customer_id": "m1", "type": "purchase", "occurred_at": ago(10), "amount": 20},
        {"customer_id": "m1", "type": "page_view", "occurred_at": ago(12)},
        {"customer_id": "m2", "type": "purchase", "occurred_at": ago(30), "amount": 99.99},
        {"customer_id": "m3", "type": "page_view", "occurred_at": ago(5)},
        {"customer_id": "m5", "type": "purchase", "occurred_at": ago(1), "amount": 1000},
    ]
    t.expect_json(t.req("POST", "/v1/events", events, key=key), 202)
    members = ["m1", "m2", "m3", "m4"]
    sid = static_segment(t, key, members)
    got = profile(t, key, sid)
    cust = {}
    for m in docs:
        cust[m] = t.expect_json(t.req("GET", "/v1/customers/" + m, key=key), 200)["metrics"]
    size = len(members)
    for metric in ("orders", "revenue", "avg_order_value", "recency_days", "tenure_days",
                   "events"):
        vals = [float(cust[m][metric]) for m in members if cust[m][metric] is not None]
        check_stats(t, got["metrics"][metric], stats(vals, size), "metric " + metric)
    rev = [float(cust[m]["revenue"]) for m in members]
    t.check(close(got["metrics"]["avg_revenue"], sum(rev) / size), "avg_revenue", None)
    t.check(close(got["metrics"]["avg_orders"],
                  sum(float(cust[m]["orders"]) for m in members) / size), "avg_orders", None)
    rec = [float(cust[m]["recency_days"]) for m in members if cust[m]["recency_days"] is not None]
    t.check(close(got["metrics"]["avg_recency_days"], sum(rec) / len(rec)), "avg_recency_days",
            None)
    total = sum(float(cust[m]["revenue"]) for m in docs)
    t.check(close(got["metrics"]["revenue_share"], sum(rev) / total),
            "revenue_share %r" % got["metrics"]["revenue_share"], None)
    t.eq(got["metrics"]["recency_days"]["count"], 2, "recency of the buyers only")
    t.check(close(got["share"], 4 / 5), "share", None)


def test_profile_one_member_and_empty(t):
    name, key = setup_world(t)
    one = static_segment(t, key, ["p04"])
    got = profile(t, key, one)
    check_profile(t, got, DOCS, ["p04"], REGISTERED, "one member")
    t.eq(got["numeric"]["age"]["p25"], Decimal("25.5"), "one value: every percentile is it")
    empty = static_segment(t, key, [])
    got = profile(t, key, empty)
    t.eq(got["size"], 0, "empty size")
    t.eq(got["share"], 0, "empty share")
    t.eq(sorted(got["numeric"]), ["score"], "an empty segment lists the registered numbers")
    t.eq(got["numeric"]["score"], {"count": 0, "missing": 0, "mean": None, "p25": None,
                                   "median": None, "p75": None, "min": None, "max": None},
         "empty statistics")
    t.eq(got["categorical"], {"address.city": [], "plan": [], "tags": [], "vip": []},
         "empty lists for the registered categorical attributes")
    t.eq(got["metrics"]["revenue_share"], 0, "no revenue anywhere")
    t.eq(got["metrics"]["avg_revenue"], None, "no member: no average")
    t.eq(got["metrics"]["orders"]["count"], 0, "no member: no orders counted")
    # a tenant without any customer
    name2, key2 = tenant(t)
    s2 = static_segment(t, key2, [])
    got = profile(t, key2, s2)
    t.eq((got["size"], got["share"], got["numeric"], got["categorical"]), (0, 0, {}, {}),
         "a tenant without customers")


def test_profile_dynamic_equals_static(t):
    name, key = setup_world(t)
    r = t.req("POST", "/v1/segments", {"name": t.uid("dyn"), "type": "dynamic",
                                       "rule": {"attr": "plan", "op": "in",
                                                "value": ["pro", "team"]}}, key=key)
    dyn = t.expect_json(r, 201)
    members = sorted(i for i, a in DOCS.items() if a.get("plan") in ("pro", "team"))
    t.eq(dyn["size"], len(members), "dynamic size")
    got = profile(t, key, dyn["id"])
    check_profile(t, got, DOCS, members, REGISTERED, "dynamic segment")
    st = static_segment(t, key, members)
    got2 = profile(t, key, st)
    for k in ("size", "share", "numeric", "categorical", "metrics"):
        t.eq(got2[k], got[k], "static and dynamic with the same members: " + k)


def test_profile_top_ten_ties(t):
    name, key = tenant(t)
    docs = {}
    # 13 values: "v00".."v09" three times each, "Zurich", "Zürich", "東京" three times each,
    # "a-rare" once: the ten listed are the ties in byte order
    values = ["v%02d" % i for i in range(10)] + ["Zurich", "Zürich", "東京"]
    n = 0
    for v in values:
        for _ in range(3):
            docs["t%03d" % n] = {"bucket": v, "num": n % 7}
            n += 1
    docs["t%03d" % n] = {"bucket": "a-rare", "num": 100}
    docs["x-outside"] = {"bucket": "v00"}
    put_customers(t, key, docs)
    members = sorted(k for k in docs if k.startswith("t"))
    sid = static_segment(t, key, members)
    got = profile(t, key, sid)
    check_profile(t, got, docs, members, {}, "ties")
    t.eq([e["value"] for e in got["categorical"]["bucket"]],
         sorted(values)[:10], "the ten listed: count desc, then value in byte order")


def test_profile_attribute_limit(t):
    name, key = tenant(t)
    docs = {"w1": {"k%03d" % i: i for i in range(205)},
            "w2": {"k%03d" % i: i for i in range(200, 205)}}
    put_customers(t, key, docs)
    sid = static_segment(t, key, ["w1", "w2"])
    got = profile(t, key, sid)
    t.eq(got["attributes"], {"profiled": 200, "truncated": True}, "attributes")
    want = ["k%03d" % i for i in range(200, 205)] + ["k%03d" % i for i in range(195)]
    t.eq(sorted(got["numeric"]), sorted(want), "the 200 most frequent, ties by name")


def test_profile_long_values_not_listed(t):
    name, key = tenant(t)
    long_v = "x" * 257
    docs = {"l1": {"note": long_v}, "l2": {"note": long_v}, "l3": {"note": "short"}}
    put_customers(t, key, docs)
    sid = static_segment(t, key, list(docs))
    got = profile(t, key, sid)
    t.eq(got["categorical"]["note"], [{"value": "short", "count": 1,
                                       "share": got["categorical"]["note"][0]["share"],
                                       "lift": got["categorical"]["note"][0]["lift"]}],
         "values over 256 bytes are not listed")
    t.check(close(got["categorical"]["note"][0]["share"], 1 / 3), "share over the members",
            None)


def test_profile_errors(t):
    name, key = setup_world(t)
    sid = static_segment(t, key, ["p01"])
    for bad in ("999999999", "abc", "1234567890123456789", "-1"):
        p = t.problem(t.req("GET", "/v1/segments/%s/profile" % q(bad), key=key), 404)
        t.check(bad in (p.get("detail") or ""), "404 names the id %r: %r" % (bad, p), None)
    t.problem(t.req("GET", "/v1/segments/%s/profile?x=1" % sid, key=key), 400)
    t.problem(t.req("POST", "/v1/segments/%s/profile" % sid, key=key), 405)
    other_name, other = tenant(t)
    t.problem(t.req("GET", "/v1/segments/%s/profile" % sid, key=other), 404)


# ----- overlap -----------------------------------------------------------------------------

def overlap(t, key, ids):
    return t.req("GET", "/v1/segments:overlap?ids=" + ",".join(str(i) for i in ids), key=key)


def test_overlap_against_sets(t):
    name, key = tenant(t)
    ids = ["o%02d" % i for i in range(30)]
    put_customers(t, key, {i: {"n": k} for k, i in enumerate(ids)})
    sets = {
        "a": set(ids[0:12]),
        "b": set(ids[8:20]),    # overlaps a
        "c": set(ids[25:30]),   # disjoint from a and b
        "d": set(ids[0:12]),    # identical to a
        "e": set(),             # empty
        "f": set(ids[10:11]),   # inside a and b
    }
    sids = {k: static_segment(t, key, sorted(v)) for k, v in sets.items()}
    order = ["a", "b", "c", "d", "e", "f"]
    d = t.expect_json(overlap(t, key, [sids[k] for k in order]), 200)
    t.eq([s["id"] for s in d["segments"]], [str(sids[k]) for k in order], "segments in order")
    t.eq([s["size"] for s in d["segments"]], [len(sets[k]) for k in order], "sizes")
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            both = len(sets[a] & sets[b])
            either = len(sets[a] | sets[b])
            t.eq(d["counts"][i][j], both, "counts[%s][%s]" % (a, b))
            want = both / either if either else 0
            t.check(close(d["jaccard"][i][j], want),
                    "jaccard[%s][%s]: %r, expected %r" % (a, b, d["jaccard"][i][j], want), None)
    t.eq(d["jaccard"][0][3], 1, "identical segments")
    t.eq(d["jaccard"][4][4], 0, "an empty segment with itself: the union is empty")
    one = t.expect_json(overlap(t, key, [sids["b"]]), 200)
    t.eq((one["counts"], one["jaccard"]), ([[12]], [[1]]), "one segment")
    # a dynamic segment over the same customers counts the same
    dyn = t.expect_json(t.req("POST", "/v1/segments", {
        "name": t.uid("dyn"), "type": "dynamic",
        "rule": {"attr": "n", "op": "lt", "value": 12}}, key=key), 201)
    d2 = t.expect_json(overlap(t, key, [dyn["id"], sids["a"], sids["b"]]), 200)
    t.eq(d2["counts"], [[12, 12, 4], [12, 12, 4], [4, 4, 12]], "dynamic against static")


def test_overlap_twenty_segments(t):
    name, key = tenant(t)
    ids = ["q%02d" % i for i in range(40)]
    put_customers(t, key, {i: {} for i in ids})
    sets = [set(ids[k:k + 5 + k % 7]) for k in range(20)]
    sids = [static_segment(t, key, sorted(s)) for s in sets]
    d = t.expect_json(overlap(t, key, sids), 200)
    for i in range(20):
        for j in range(20):
            t.eq(d["counts"][i][j], len(sets[i] & sets[j]), "counts[%d][%d]" % (i, j))
    p = t.problem(overlap(t, key, sids + [int(sids[0]) + 1000000]), 400)
    t.eq([e.get("parameter") for e in p.get("errors", [])], ["ids"], "21 ids: names ids")


def test_overlap_errors(t):
    name, key = tenant(t)
    put_customers(t, key, {"e1": {}})
    a = static_segment(t, key, ["e1"])
    b = static_segment(t, key, [])
    for path in ("/v1/segments:overlap", "/v1/segments:overlap?ids=",
                 "/v1/segments:overlap?ids=%s,abc" % a, "/v1/segments:overlap?ids=%s,,%s" % (a, b),
                 "/v1/segments:overlap?ids=%s," % a, "/v1/segments:overlap?ids=%s,%s,%s" % (a, b, a),
                 "/v1/segments:overlap?ids=-1", "/v1/segments:overlap?ids=%s&ids=%s" % (a, b),
                 "/v1/segments:overlap?ids=%s&x=1" % a):
        p = t.problem(t.req("GET", path, key=key), 400)
        params = [e.get("parameter") for e in p.get("errors", [])]
        t.check(params and params[0] in ("ids", "x"), "%s: names the parameter: %r"
                % (path, p), None)
    p = t.problem(overlap(t, key, [a, 987654321]), 404)
    t.check("987654321" in p.get("detail", ""), "404 names the unknown id: %r" % p, None)
    other_name, other = tenant(t)
    c = static_segment(t, other, [])
    p = t.problem(overlap(t, key, [a, c]), 404)
    t.check(str(c) in p.get("detail", ""), "another tenant's segment is unknown: %r" % p, None)
    t.problem(t.req("POST", "/v1/segments:overlap?ids=%s" % a, key=key), 405)
    t.problem(t.req("GET", "/v1/segments:overlap?ids=%s" % a, key=None), 401)

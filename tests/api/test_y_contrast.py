"""Contrast-group analysis (SPEC §6 contrast, §6.2; handlers/analysis_contrast.c,
db/analysis_contrast.c, the feature reader's segment source): customers with an integer, a
decimal (0.1, 0.3, ...: thresholds that %.17g would print as 0.29999999999999999), a string (with
non-ASCII values) and a boolean attribute, some values missing, imported through the API; the
result (tree, splits, gains, leaves, explained) and every customer's leaf against an independent
brute-force AID in NumPy run by Debian's /usr/bin/python3 in a subprocess (the approach of
tests/analytics/test_contrast.py: every candidate a boolean mask, the tie rule of
analytics/README.md); each leaf's rule checked by the database (a preview counts exactly the
customers the reference puts in the leaf, those without a target or a feature included); a
target that is a segment's membership, a metric target with a filter; materialising as a MECE
scheme of dynamic segments whose sizes are the leaves'; the problems of data that cannot support
the analysis, and of bad params (422 with pointers).
"""
import json
import random
import re
from decimal import Decimal
import analyses_common as common
from analyses_common import all_customers, register, import_customers


# The reference: a brute-force AID (SPEC §6.2) over {"x": rows (number, string or null per
# feature), "cat": [is the feature categorical], "y": [target or null], "max_depth",
# "min_size"}. Customers without a target take no part in the fit; every customer is then routed
# down the tree by the splits (a missing value goes to the "no" side).
REFERENCE = r'''
import json, sys
import numpy as np

TIE = 1e-9
inp = json.load(sys.stdin)
rows, cat, yall = inp["x"], inp["cat"], inp["y"]
d = len(cat)
fit = [i for i, v in enumerate(yall) if v is not None]
y = np.array([yall[i] for i in fit], dtype=float)
cols = []
for f in range(d):
    if cat[f]:
        cols.append(np.array([rows[i][f] if rows[i][f] is not None else "" for i in fit],
                             dtype=object))
    else:
        cols.append(np.array([np.nan if rows[i][f] is None else rows[i][f] for i in fit],
                             dtype=float))
has = [np.array([rows[i][f] is not None for i in fit]) for f in range(d)]

def candidates(f, idx):
    out = []
    if not cat[f]:
        xs = cols[f][idx]
        valid = ~np.isnan(xs)
        for t in np.unique(xs[valid]):
            out.append((valid & (xs <= t), ("lte", float(t))))
    else:
        xs, hv = cols[f][idx], has[f][idx]
        names = sorted(set(xs[hv].tolist()))
        means = {c: float(np.mean(y[idx][hv & (xs == c)])) for c in names}
        order = sorted(names, key=lambda c: (means[c], c.encode()))
        for j in range(1, len(order) + 1):
            s = order[:j]
            out.append((hv & np.isin(xs, s), ("in", s)))
    return out

def grow(idx, depth, nodes):
    yi = y[idx]
    n = len(idx)
    mean = float(np.mean(yi))
    sse = float(np.sum((yi - mean) ** 2))
    me = len(nodes)
    node = {"size": n, "mean": mean, "rows": idx}
    nodes.append(node)
    if depth >= inp["max_depth"] or n < 2 * inp["min_size"] or yi.min() == yi.max():
        return me
    best = []
    for f in range(d):
        for mask, desc in candidates(f, idx):
            ny = int(mask.sum())
            if ny < inp["min_size"] or n - ny < inp["min_size"]:
                continue
            g = ny * (yi[mask].mean() - mean) ** 2 + (n - ny) * (yi[~mask].mean() - mean) ** 2
            best.append((g, f, mask, desc))
    if not best:
        return me
    top = max(b[0] for b in best)
    tol = TIE * sse
    if not top > tol:
        return me
    g, f, mask, desc = next(b for b in best if b[0] >= top - tol)
    node.update(feature=f, op=desc[0], value=desc[1], gain=float(g))
    node["yes"] = grow(idx[mask], depth + 1, nodes)
    node["no"] = grow(idx[~mask], depth + 1, nodes)
    return me

nodes = []
grow(np.arange(len(fit)), 0, nodes)
leaves = [i for i, nd in enumerate(nodes) if "feature" not in nd]

def route(row):
    i = 0
    while "feature" in nodes[i]:
        nd = nodes[i]
        v = row[nd["feature"]]
        yes = v is not None and (v <= nd["value"] if nd["op"] == "lte" else v in nd["value"])
        i = nd["yes"] if yes else nd["no"]
    return leaves.index(i)

mean = float(np.mean(y))
sst = float(np.sum((y - mean) ** 2))
between = sum(nodes[i]["size"] * (nodes[i]["mean"] - mean) ** 2 for i in leaves)
for nd in nodes:
    del nd["rows"]
print(json.dumps({"n": len(fit), "mean": mean, "sst": sst,
                  "explained": between / sst if sst > 0 else 0.0, "nodes": nodes,
                  "leaves": leaves, "leaf_of": [route(r) for r in rows]}))
'''


def reference(t, rows, cat, y, max_depth, min_size):
    return common.reference(t, REFERENCE, {"x": rows, "cat": cat, "y": y, "max_depth": max_depth, "min_size": min_size})


def create(t, key, params, status=202):
    return common.create(t, key, "contrast", params, status)


def run(t, key, params):
    return common.run(t, key, "contrast", params)


def fl(v):
    """JSON as the harness parses it (numbers as Decimal) with every non-integer as a float."""
    if isinstance(v, list):
        return [fl(x) for x in v]
    if isinstance(v, dict):
        return {k: fl(x) for k, x in v.items()}
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and "." not in str(v) else float(v)
    return v


def close(a, b, tol=1e-9):
    if a is None:
        return False
    a, b = float(a), float(b)
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


PLANS = ["basic", "pro", "team", "ünï"]


def dataset(n, seed):
    """[(id, {attr: value}), ...] in byte order of the ids: age (integer), score (one decimal),
    plan (string), vip (boolean), spend (the target: a number); about 8 % of each missing."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = {"age": rng.randint(18, 80), "score": rng.randint(1, 30) / 10.0,
             "plan": rng.choice(PLANS), "vip": rng.random() < 0.3}
        spend = (a["age"] * 2 + {"basic": 0, "pro": 80, "team": 150, "ünï": 40}[a["plan"]] +
                 (60 if a["vip"] else 0) + 25 * a["score"] + rng.gauss(0, 15))
        a["spend"] = round(spend, 2)
        for k in list(a):
            if rng.random() < 0.08:
                del a[k]
        out.append((("c%04d" if i % 7 else "ß%04d") % i, a))
    out.sort(key=lambda r: r[0].encode())
    return out


def tenant_with(t, rows):
    key = t.new_tenant()[1]
    for name, typ in (("age", "integer"), ("score", "number"), ("plan", "string"),
                      ("vip", "boolean"), ("spend", "number")):
        register(t, key, name, typ)
    import_customers(t, key, [{"id": cid, "attributes": a} for cid, a in rows])
    return key


FEATURES = ["age", "score", "plan", "vip"]
CAT = [False, False, True, True]


def feature_rows(rows, names=FEATURES, cat=CAT):
    """The reference's features: numbers, strings ("true"/"false" for booleans), None."""
    out = []
    for _, a in rows:
        r = []
        for name, c in zip(names, cat):
            v = a.get(name)
            if isinstance(v, bool):
                v = "true" if v else "false"
            r.append(v)
        out.append(r)
    return out


def expected_value(name, op, value):
    """A split's value as the API writes it: booleans as true/false."""
    if op == "in" and name == "vip":
        return [v == "true" for v in value]
    return value


def compare(t, key, a, rows, names, y, max_depth, min_size, what, cat=CAT, preview=True):
    """The result and every customer's leaf against the reference; returns it."""
    t.eq(a["status"], "succeeded", what + " succeeded: %s" % a.get("error"))
    res = a["result"]
    want = reference(t, feature_rows(rows, names, cat), cat, y, max_depth, min_size)
    t.eq((res["n"], res["customers"], res["excluded"]),
         (want["n"], len(rows), len(rows) - want["n"]), what + " n, customers, excluded")
    t.eq(res["features"], names, what + " features")
    t.check(close(res["mean"], want["mean"]), what + " mean %s %s" % (res["mean"], want["mean"]))
    t.check(close(res["explained"], want["explained"]), what + " explained %s %s"
            % (res["explained"], want["explained"]))
    # the tree in preorder
    got = []

    def walk(node):
        got.append(node)
        for c in node["children"]:
            walk(c)
    walk(res["tree"])
    t.eq(len(got), len(want["nodes"]), what + " nodes")
    for i, (g, w) in enumerate(zip(got, want["nodes"])):
        ok = g["size"] == w["size"] and close(g["mean"], w["mean"])
        if "feature" in w:
            s = g["split"] or {}
            ok = ok and s.get("feature") == names[w["feature"]] and s.get("op") == w["op"]
            ok = ok and fl(s.get("value")) == expected_value(names[w["feature"]], w["op"],
                                                             w["value"])
            ok = ok and close(s.get("gain"), w["gain"], 1e-8) and len(g["children"]) == 2
        else:
            ok = ok and g["split"] is None and g["children"] == []
        t.check(ok, what + " node %d: %s vs %s" % (i, {k: g[k] for k in ("size", "mean", "split")},
                                                     w))
    # the leaves
    nl = len(want["leaves"])
    counts = [want["leaf_of"].count(l) for l in range(nl)]
    t.eq([l["index"] for l in res["leaves"]], list(range(1, nl + 1)), what + " leaf indexes")
    for l, (g, w) in enumerate(zip(res["leaves"], [want["nodes"][i] for i in want["leaves"]])):
        t.check(g["size"] == w["size"] and close(g["mean"], w["mean"]) and
                close(g["share"], w["size"] / want["n"]) and g["customers"] == counts[l],
                what + " leaf %d: %s vs %s (%d customers)" % (l + 1, g, w, counts[l]))
    # every customer's leaf and target
    items = all_customers(t, key, a["id"])
    t.eq([i["customer_id"] for i in items], [r[0] for r in rows], what + " customers in order")
    t.eq([i["leaf"] for i in items], [l + 1 for l in want["leaf_of"]], what + " leaf of each")
    t.check(all((i["target"] is None and v is None) or close(i["target"], v)
                for i, v in zip(items, y)), what + " target of each")
    # each leaf's rule, evaluated by the database, holds exactly the leaf's customers
    for l, leaf in enumerate(res["leaves"] if preview else []):
        p = t.expect_json(t.req("POST", "/v1/segments:preview", {"rule": fl(leaf["rule"])},
                                key=key), 200)
        t.eq(p["count"], counts[l], what + " leaf %d's rule %s" % (l + 1, json.dumps(fl(
            leaf["rule"]))))
    return want


def test_contrast_against_numpy(t):
    rows = dataset(420, 5)
    key = tenant_with(t, rows)
    y = [a.get("spend") for _, a in rows]
    a = run(t, key, {"target": {"attr": "spend"},
                     "features": [{"attr": f} for f in FEATURES], "min_size": 20})
    t.eq(a["params"], {"target": {"attr": "spend"}, "features": [{"attr": f} for f in FEATURES],
                       "min_size": 20, "max_depth": 3, "filter": None}, "defaults filled in")
    want = compare(t, key, a, rows, FEATURES, y, 3, 20, "spend:")
    t.check(len(want["leaves"]) >= 6, "a tree worth the name: %d leaves" % len(want["leaves"]))
    ops = {n["split"]["feature"] for n in [a["result"]["tree"]] if n["split"]}
    t.check(ops, "the root splits")
    t.eq(a["result"]["target"], {"attr": "spend"}, "the target")
    t.eq(a["result"]["missing"], {f: sum(1 for _, x in rows if f not in x) for f in FEATURES},
         "missing per feature")
    # the CSV export
    r = t.req("GET", "/v1/analyses/%s/customers" % a["id"], key=key,
              headers={"Accept": "text/csv"})
    t.expect(r, 200)
    lines = r.body.decode().splitlines()
    t.eq(lines[0], "customer_id,leaf,target", "CSV header")
    t.eq(len(lines), len(rows) + 1, "CSV rows")
    # deeper, smaller leaves; a stump; the root alone
    compare(t, key, run(t, key, {"target": {"attr": "spend"}, "max_depth": 5, "min_size": 7,
                                 "features": [{"attr": f} for f in FEATURES]}),
            rows, FEATURES, y, 5, 7, "depth 5:")
    compare(t, key, run(t, key, {"target": {"attr": "spend"}, "max_depth": 1,
                                 "features": [{"attr": "plan"}, {"attr": "vip"}]}),
            rows, ["plan", "vip"], y, 1, 50, "stump:", cat=[True, True])
    b = run(t, key, {"target": {"attr": "spend"}, "max_depth": 0,
                     "features": [{"attr": "age"}]})
    compare(t, key, b, rows, ["age"], y, 0, 50, "root:", cat=[False])
    t.eq(b["result"]["leaves"][0]["rule"], {"all": []}, "the root's rule is true")


def test_contrast_segment_target_materialize(t):
    rows = dataset(300, 8)
    key = tenant_with(t, rows)
    members = [cid for cid, a in rows
               if a.get("plan") == "pro" or a.get("age", 0) > 60 or a.get("score", 9) <= 1.4]
    s = t.expect_json(t.req("POST", "/v1/segments", {"name": "buyers", "type": "static"},
                            key=key), 201)
    t.expect_json(t.req("POST", "/v1/segments/%s/members" % s["id"],
                        {"customer_ids": members}, key=key), 200)
    y = [1.0 if cid in set(members) else 0.0 for cid, _ in rows]
    feats = ["age", "plan", "score"]
    a = run(t, key, {"target": {"segment": int(s["id"])}, "min_size": 15,
                     "features": [{"attr": f} for f in feats]})
    t.eq(a["params"]["target"], {"segment": str(s["id"])}, "the segment id as rules write it")
    want = compare(t, key, a, rows, feats, y, 3, 15, "segment:", cat=[False, True, False])
    t.check(a["result"]["explained"] > 0.5, "membership is explained: %s"
            % a["result"]["explained"])
    # a threshold such as 1.4, which %.17g prints as 1.3999999999999999: the rules must
    # compare the decimal as written, or the segments would lose the customers at 1.4
    text = json.dumps(fl(a["result"]["leaves"]))
    t.check(any("%.17g" % float(v) != repr(float(v)) for v in
                re.findall(r'"value": (-?[0-9]+[.][0-9]+)', text)),
            "a threshold whose 17-digit form differs: %s" % text)
    # materialised: a dynamic segment per leaf, MECE over every customer
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "aid"}, key=key)
    sch = t.expect_json(r, 201)
    rep = t.expect_json(t.req("GET", "/v1/schemes/%s" % sch["id"], key=key), 200)
    nl = len(want["leaves"])
    t.eq(len(rep["segments"]), nl, "a segment per leaf")
    t.check(rep["segments"][0]["name"].startswith("aid: Leaf 1 (mean "),
            rep["segments"][0]["name"])
    t.eq(rep["mutually_exclusive"] and rep["collectively_exhaustive"], True, "MECE: %s" % rep)
    t.eq([seg["size"] for seg in rep["segments"]],
         [want["leaf_of"].count(l) for l in range(nl)], "sizes: the leaves' customers")
    for seg, leaf in zip(rep["segments"], a["result"]["leaves"]):
        got = t.expect_json(t.req("GET", "/v1/segments/%s" % seg["id"], key=key), 200)
        t.eq((got["type"], got["rule"]), ("dynamic", leaf["rule"]), "segment %s" % seg["name"])
        t.check(got["description"].startswith(
            "contrast-group leaf %d: %d customers with a target" % (leaf["index"], leaf["size"])),
            "its description: %s" % got["description"])
    # a new customer without any feature lands in exactly one leaf segment: the all-"no" one
    import_customers(t, key, [{"id": "zz-new"}])
    ids = {str(seg["id"]) for seg in rep["segments"]}
    items = t.expect_json(t.req("GET", "/v1/customers/zz-new/segments", key=key), 200)["items"]
    mine = [str(x["segment_id"]) for x in items if str(x["segment_id"]) in ids]
    last = [r for r in a["result"]["leaves"]
            if all("not" in c for c in r["rule"]["all"])]
    t.eq(len(mine), 1, "the new customer is in one leaf segment: %s" % items)
    t.eq(mine, [str(rep["segments"][last[0]["index"] - 1]["id"])] if last else mine,
         "the leaf of every \"no\"")


def test_contrast_metric_target_filter(t):
    rows = dataset(260, 3)
    key = tenant_with(t, rows)
    rng = random.Random(4)
    revenue, orders = {}, {}
    events = []
    for k, (cid, a) in enumerate(rows):
        base = 10 + (40 if a.get("plan") == "team" else 0) + a.get("age", 40) / 4
        for j in range(rng.randint(0, 3)):
            amount = round(base + rng.uniform(0, 20), 2)
            revenue[cid] = revenue.get(cid, 0) + amount
            orders[cid] = orders.get(cid, 0) + 1
            events.append({"id": "e-%d-%d" % (k, j), "customer_id": cid, "type": "purchase",
                           "occurred_at": "2026-01-0%dT10:00:00Z" % (j + 1), "amount": amount})
    r = t.req("POST", "/v1/events:import", raw_body="".join(json.dumps(e) + "\n" for e in events),
              ctype="application/x-ndjson", key=key)
    t.eq(t.expect_json(r, 200)["accepted"], len(events), "events imported")
    sel = [(cid, a) for cid, a in rows if a.get("vip") is True]
    y = [round(revenue.get(cid, 0.0), 2) for cid, _ in sel]
    feats = ["age", "plan"]
    a = run(t, key, {"target": {"metric": "revenue"}, "min_size": 8,
                     "features": [{"attr": f} for f in feats],
                     "filter": {"attr": "vip", "op": "eq", "value": True}})
    # the leaves' rules hold every customer, not only the filter's: no preview here
    compare(t, key, a, sel, feats, y, 3, 8, "revenue, vip only:", cat=[False, True],
            preview=False)
    # a metric as a feature, every customer: the leaves' rules read orders as the tree did
    every = [(cid, dict(a, orders=orders.get(cid, 0))) for cid, a in rows]
    y = [round(revenue.get(cid, 0.0), 2) for cid, _ in rows]
    a = run(t, key, {"target": {"metric": "revenue"}, "min_size": 10,
                     "features": [{"attr": "plan"}, {"metric": "orders"}, {"attr": "score"}]})
    want = compare(t, key, a, every, ["plan", "orders", "score"], y, 3, 10, "revenue by orders:",
                   cat=[True, False, False])
    t.check(any(nd.get("feature") == 1 for nd in want["nodes"]), "a split on orders")


def problem_of(t, key, params, what):
    a = run(t, key, params)
    t.eq(a["status"], "failed", what + " fails: %s" % a)
    e = a.get("error") or {}
    t.eq(e.get("status"), 422, what + ": a 422 problem %s" % e)
    t.eq(e.get("type"), "urn:segmentd:problem:analysis-not-possible", what + " type")
    return e


def test_contrast_data_problems(t):
    key = t.new_tenant()[1]
    register(t, key, "a", "number")
    register(t, key, "s", "string")
    feats = [{"attr": "a"}]
    e = problem_of(t, key, {"target": {"metric": "revenue"}, "features": feats}, "no customers")
    t.check("no customers" in e["detail"], e["detail"])
    import_customers(t, key, [{"id": "k%d" % i, "attributes": {"a": i, "s": "x"}}
                              for i in range(10)])
    e = problem_of(t, key, {"target": {"attr": "s"}, "features": feats}, "a string target")
    t.eq(e.get("pointer"), "/params/target/attr", "its pointer")
    e = problem_of(t, key, {"target": {"attr": "nope"}, "features": feats}, "unknown target")
    t.eq(e.get("pointer"), "/params/target/attr", "its pointer")
    e = problem_of(t, key, {"target": {"segment": "999999"}, "features": feats},
                   "unknown segment")
    t.eq(e.get("pointer"), "/params/target/segment", "its pointer")
    t.check("999999" in e["detail"], e["detail"])
    e = problem_of(t, key, {"target": {"metric": "avg_order_value"}, "features": feats},
                   "no target values")
    t.check("none of the 10 customers" in e["detail"], e["detail"])
    e = problem_of(t, key, {"target": {"metric": "revenue"}, "features": [{"attr": "zz"}]},
                   "unknown feature")
    t.eq(e.get("pointer"), "/params/features/0", "its pointer")
    e = problem_of(t, key, {"target": {"metric": "revenue"}, "features": feats,
                            "filter": {"attr": "a", "op": "gt", "value": 100}}, "empty filter")
    t.check("matches no customer" in e["detail"], e["detail"])
    # a constant target: the root alone, explained 0
    a = run(t, key, {"target": {"metric": "revenue"}, "features": feats, "min_size": 1})
    t.eq((a["status"], len(a["result"]["leaves"]), a["result"]["explained"]),
         ("succeeded", 1, 0), "a constant target: one leaf")


def test_contrast_params(t):
    key = t.new_tenant()[1]
    good = {"target": {"metric": "revenue"}, "features": [{"attr": "a"}]}
    for params, pointer in [
        ({}, "/params/features"),
        ({"features": [{"attr": "a"}]}, "/params/target"),
        (dict(good, target={"metric": "nope"}), "/params/target/metric"),
        (dict(good, target={"metric": "abc_class"}), "/params/target/metric"),
        (dict(good, target={"attr": ""}), "/params/target/attr"),
        (dict(good, target={"segment": "x1"}), "/params/target/segment"),
        (dict(good, target={"segment": 0}), "/params/target/segment"),
        (dict(good, target={"attr": "a", "metric": "revenue"}), "/params/target"),
        (dict(good, target="revenue"), "/params/target"),
        (dict(good, features=[]), "/params/features"),
        (dict(good, features=[{"metric": "revenue"}]), "/params/features/0"),
        (dict(good, features=[{"metric": "last_purchase_at"}]), "/params/features/0/metric"),
        (dict(good, max_depth=11), "/params/max_depth"),
        (dict(good, max_depth=-1), "/params/max_depth"),
        (dict(good, max_depth=2.5), "/params/max_depth"),
        (dict(good, min_size=0), "/params/min_size"),
        (dict(good, min_size="50"), "/params/min_size"),
        (dict(good, filter={"attr": "a", "op": "gtx", "value": 1}), "/params/filter/op"),
        (dict(good, other=1), "/params/other"),
    ]:
        _, r = create(t, key, params, 422)
        p = t.problem(r, 422)
        t.check(pointer in t.pointers(p), "%s: pointer %s in %s" % (params, pointer, p), r)
    # string metrics are features (categorical)
    create(t, key, dict(good, features=[{"metric": "abc_class"}, {"attr": "a"}]))

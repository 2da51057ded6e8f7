"""Conjoint analysis (SPEC §6 conjoint, §6.2; handlers/analysis_conjoint.c,
db/analysis_conjoint.c): a simulated rating survey imported as events through the API
(respondents with non-ASCII ids, levels as strings and as numbers, a price, events of another
type, profiles without a level or with a rating that is not a number, respondents that rate too
few profiles, rate alike or see one price, events whose times tie and are ordered by id); every
respondent's design built from §6.2 by NumPy (run by Debian's /usr/bin/python3 in a
subprocess) and solved with numpy.linalg.lstsq: part-worths, constants, price coefficients, R²,
importances, willingness to pay, the means and medians and the skip counts within 1e-6, the
levels in the order of their first appearance over all events, each respondent's own result
(GET .../customers, exactly the keys of §6.2) and the CSV export; benefit segments by k-means
over the importances (two planted groups found, sizes, centroids = the members' mean
importances, "auto", silhouette and inertia against scikit-learn); materialising them as static
segments and a re-run moving the members; data problems (no events, nobody fittable, an
attribute never rated, importances too alike to segment), the memory limit, and bad params
(422 with pointers).
"""
import json
import os
import random
import signal
import time
import analyses_common as common
from analyses_common import q, wait, all_customers

TOL = 1e-6

# §6.2 by NumPy, independent of the C code: reads {"resp": [[levels (text or null), price,
# rating (null: not a number)] per profile, in order] per respondent, "order": [[level texts
# in report order] per attribute], "price": bool}.
REFERENCE = r'''
import json, sys
import numpy as np

inp = json.load(sys.stdin)
order, with_price = inp["order"], inp["price"]
nattr = len(order)
maps = [{nm: i for i, nm in enumerate(o)} for o in order]

def one(rows):
    use = [(n, p, y) for n, p, y in rows
           if all(x is not None for x in n) and y is not None and (not with_price or p is not None)]
    local = [[] for _ in range(nattr)]
    for names, _, _ in use:
        for a in range(nattr):
            if names[a] not in local[a]:
                local[a].append(names[a])
    p = 1 + sum(max(len(l) - 1, 0) for l in local) + (1 if with_price else 0)
    m = len(use)
    if m < p + 1:
        return {"status": "too_few_ratings"}
    y = np.array([r[2] for r in use], dtype=float)
    if np.all(y == y[0]):
        return {"status": "constant_ratings"}
    X = np.zeros((m, p))
    X[:, 0] = 1
    for i, (names, price, _) in enumerate(use):
        col = 1
        for a in range(nattr):
            L = len(local[a])
            j = local[a].index(names[a])
            if j < L - 1:
                X[i, col + j] = 1
            else:
                X[i, col:col + L - 1] = -1
            col += L - 1
        if with_price:
            X[i, col] = price
    if np.linalg.matrix_rank(X) < p:
        return {"status": "singular_design"}
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    res = y - X @ b
    r2 = 1 - res @ res / np.sum((y - y.mean()) ** 2)
    pw, ranges, col = [], [], 1
    for a in range(nattr):
        L = len(local[a])
        u = list(b[col:col + L - 1]) + [-np.sum(b[col:col + L - 1])]
        pw.append({nm: float(u[j]) for j, nm in enumerate(local[a])})
        ranges.append(max(u) - min(u))
        col += L - 1
    beta = None
    if with_price:
        beta = float(b[col])
        ps = [r[1] for r in use]
        ranges.append(abs(beta) * (max(ps) - min(ps)))
    tot = sum(ranges)
    imp = [float(x / tot) if tot > 0 else 0.0 for x in ranges]
    wtp = [{} for _ in range(nattr)]
    if with_price and beta != 0:
        for a in range(nattr):
            base = order[a][0]
            if base in pw[a]:
                wtp[a] = {nm: (u - pw[a][base]) / abs(beta) for nm, u in pw[a].items()}
    return {"status": "fitted", "constant": float(b[0]), "beta": beta, "r2": float(r2),
            "pw": pw, "imp": imp, "wtp": wtp}

out = [one(rows) for rows in inp["resp"]]
fit = [o for o in out if o["status"] == "fitted"]
def med(v):
    return float(np.median(v)) if v else None
def mean(v):
    return float(np.mean(v)) if v else None
summary = {
    "mean_pw": [[mean([o["pw"][a][nm] for o in fit if nm in o["pw"][a]]) for nm in order[a]]
                for a in range(nattr)],
    "level_respondents": [[sum(1 for o in fit if nm in o["pw"][a]) for nm in order[a]]
                          for a in range(nattr)],
    "median_wtp": [[med([o["wtp"][a][nm] for o in fit if nm in o["wtp"][a]]) for nm in order[a]]
                   for a in range(nattr)],
    "mean_imp": [mean([o["imp"][q] for o in fit]) for q in range(nattr + (1 if with_price else 0))],
    "median_r2": med([o["r2"] for o in fit]), "mean_r2": mean([o["r2"] for o in fit]),
    "mean_beta": mean([o["beta"] for o in fit]) if with_price else None,
    "median_beta": med([o["beta"] for o in fit]) if with_price else None,
}
print(json.dumps({"resp": out, "summary": summary}))
'''


# The benefit segments by scikit-learn: {"x": importances, "labels", "ks"} -> the silhouette of
# the labels and KMeans' inertia per k, over the standard-scaled importances.
SKLEARN = r'''
import json, sys
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
inp = json.load(sys.stdin)
x = StandardScaler().fit_transform(np.array(inp["x"], dtype=float))
out = {"silhouette": float(silhouette_score(x, inp["labels"])),
       "inertia": {str(k): float(KMeans(k, n_init=10, random_state=0).fit(x).inertia_)
                   for k in inp["ks"]}}
print(json.dumps(out))
'''


def sklearn(t, x, labels, ks):
    return common.reference(t, SKLEARN, {"x": x, "labels": labels, "ks": ks})


def reference(t, resp, order, with_price):
    return common.reference(t, REFERENCE, {"resp": resp, "order": order, "price": with_price})


def create(t, key, params, status=202):
    return common.create(t, key, "conjoint", params, status)


def run(t, key, params):
    return common.run(t, key, "conjoint", params)


def post_events(t, key, events):
    for i in range(0, len(events), 5000):
        r = t.req("POST", "/v1/events", events[i:i + 5000], key=key, timeout=120)
        t.expect(r, 202)


def stamp(minute):
    return "2026-%02d-%02dT%02d:%02d:00Z" % (1 + minute // 40000, 1 + minute // 1440 % 28,
                                             minute // 60 % 24, minute % 60)


BRANDS = ["Acme", "Bolt", "Core"]
SIZES = [64, 128, 256]  # numeric levels: their text is the level
PRICES = [9.99, 14.99, 19.99, 24.99]


def survey(seed, nresp, groups=False):
    """Events of a survey, and per respondent its true kind. Each event has an id; times tie
    now and then (then the id orders them)."""
    rng = random.Random(seed)
    events, kinds = [], {}
    minute = 1000
    for r in range(nresp):
        cid = ("r%03d" if r % 4 else "ß%03d-Ω") % r
        kind = r % 10 if not groups else 0
        kinds[cid] = kind
        # planted benefit groups: brand lovers and price watchers
        wb, wp = (3.0, 0.05) if (not groups or r % 2 == 0) else (0.2, 0.6)
        true_b = [rng.gauss(0, 1) * wb for _ in BRANDS]
        true_s = [rng.gauss(0, 0.5) for _ in SIZES]
        if groups:  # tight groups
            true_b = [wb * v + rng.gauss(0, 0.05) for v in (1, 0, -1)]
            true_s = [0.3 * v + rng.gauss(0, 0.05) for v in (1, 0, -1)]
        beta = -abs(rng.gauss(wp, 0.02))
        k = rng.randint(15, 24)
        if kind == 3:
            k = rng.randint(2, 5)
        for j in range(k):
            b, s = rng.randrange(3), rng.randrange(3)
            if kind == 5:
                b = max(b, 1)  # never sees the first brand: no WTP for its brand levels
            price = rng.choice(PRICES)
            if kind == 7:
                price = 14.99  # one price: singular
            u = true_b[b] + true_s[s] + beta * price
            rating = round(6 + u + rng.gauss(0, 0.4), 2)
            if kind == 4:
                rating = 5
            props = {"brand": BRANDS[b], "size": SIZES[s], "price": price, "rating": rating}
            if kind == 8 and j % 5 == 1:
                del props["size"]  # a profile without a level
            if kind == 9 and j % 6 == 2:
                props["rating"] = "n/a"  # a rating that is not a number
            if kind == 6 and j % 7 == 3:
                props["size"] = {"nested": 1}  # not a level
            minute += rng.choice([0, 1, 2])  # ties, ordered by the id
            events.append({"id": "e%06d" % rng.randrange(10 ** 6) + "-%d-%d" % (r, j),
                           "customer_id": cid, "type": "conjoint_rating",
                           "occurred_at": stamp(minute), "properties": props})
        # another type is ignored
        events.append({"id": "o-%d" % r, "customer_id": cid, "type": "page_view",
                       "occurred_at": stamp(minute), "properties": {"brand": "Zed"}})
    # the earliest event of all: respondent r099's, with a size seen first there, so the
    # levels' report order is not the order of the respondents' ids
    if not groups:
        events.append({"id": "a-first", "customer_id": "r099", "type": "conjoint_rating",
                       "occurred_at": stamp(0), "properties": {
                           "brand": "Core", "size": 256, "price": 19.99, "rating": 4}})
    rng.shuffle(events)
    return events, kinds


def level_text(v):
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v)


def as_respondents(events, with_price=True):
    """What the service should read: respondents in byte order of their ids, each's profiles in
    order of occurred_at then id; levels in order of first appearance over all events."""
    rated = [e for e in events if e["type"] == "conjoint_rating"]
    rated.sort(key=lambda e: (e["occurred_at"], e["id"].encode()))
    order = [[], []]
    for e in rated:
        for a, name in enumerate(("brand", "size")):
            v = level_text(e["properties"].get(name))
            if v is not None and v not in order[a]:
                order[a].append(v)
    by = {}
    for e in rated:
        p = e["properties"]
        rating = p.get("rating") if isinstance(p.get("rating"), (int, float)) else None
        by.setdefault(e["customer_id"], []).append(
            [[level_text(p.get("brand")), level_text(p.get("size"))],
             p.get("price") if with_price else None, rating])
    ids = sorted(by, key=lambda c: c.encode())
    return ids, [by[c] for c in ids], order


def near(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= TOL * max(1.0, abs(float(b)))


def compare(t, key, a, events, with_price=True, what=""):
    t.eq(a["status"], "succeeded", what + " succeeded: %s" % a.get("error"))
    res = a["result"]
    ids, resp, order = as_respondents(events, with_price)
    want = reference(t, resp, order, with_price)
    st = [o["status"] for o in want["resp"]]
    t.eq((res["respondents"], res["fitted"], res["skipped"]),
         (len(ids), st.count("fitted"), len(ids) - st.count("fitted")), what + " counts")
    t.eq(res["skipped_reasons"], {s: st.count(s) for s in (
        "too_few_ratings", "constant_ratings", "singular_design")}, what + " reasons")
    t.eq(res["profiles"], sum(len(r) for r in resp), what + " profiles")
    dropped = sum(1 for r in resp for n, p, y in r if None in n or y is None or
                  (with_price and p is None))
    t.eq(res["dropped_profiles"], dropped, what + " dropped profiles")
    s = want["summary"]
    names = ["brand", "size"] + (["price"] if with_price else [])
    t.eq([x["name"] for x in res["attributes"]], names, what + " attributes")
    for i, x in enumerate(res["attributes"][:2]):
        t.eq([lv["level"] for lv in x["levels"]], order[i], what + " levels of %s in order"
             % x["name"])
        t.check(all(near(lv["part_worth"], w) for lv, w in zip(x["levels"], s["mean_pw"][i])),
                what + " mean part-worths of %s: %s vs %s" % (x["name"], x["levels"],
                                                              s["mean_pw"][i]))
        t.eq([lv["respondents"] for lv in x["levels"]], s["level_respondents"][i],
             what + " respondents per level")
    t.check(all(near(x["importance"], w) for x, w in zip(res["attributes"], s["mean_imp"])),
            what + " mean importances")
    t.check(near(res["fit"]["median_r2"], s["median_r2"]) and
            near(res["fit"]["mean_r2"], s["mean_r2"]), what + " R² summaries")
    if with_price:
        t.check(near(res["price_coefficient"], s["mean_beta"]) and
                near(res["price_coefficient_median"], s["median_beta"]),
                what + " price coefficient")
        wtp = [(w["attribute"], w["level"], w["median"]) for w in res["wtp"]]
        t.eq([(x, y) for x, y, _ in wtp], [(n, lv) for i, n in enumerate(names[:2])
                                           for lv in order[i]], what + " WTP levels")
        t.check(all(near(m, w) for (_, _, m), w in zip(
            wtp, [v for row in s["median_wtp"] for v in row])), what + " WTP medians %s vs %s"
            % (wtp, s["median_wtp"]))
    else:
        t.eq((res["price_coefficient"], res["wtp"]), (None, []), what + " no price")
    # every respondent's own result
    items = all_customers(t, key, a["id"])
    t.eq([i["customer_id"] for i in items], ids, what + " respondents, in order")
    keys = {"customer_id", "part_worths", "price_coefficient", "constant", "importance", "r2",
            "segment"}
    t.check(all(set(i) == keys for i in items), what + " keys: %s" % items[:1])
    bad = []
    for i, o in zip(items, want["resp"]):
        if o["status"] != "fitted":
            if any(i[k] is not None for k in keys - {"customer_id"}):
                bad.append((i, o))
            continue
        ok = near(i["constant"], o["constant"]) and near(i["r2"], o["r2"]) and \
            near(i["price_coefficient"], o["beta"])
        ok = ok and set(i["part_worths"]) == {"brand", "size"}
        for n_, pw in zip(("brand", "size"), o["pw"]):
            got = i["part_worths"].get(n_, {})
            ok = ok and set(got) == set(pw) and all(near(got[lv], u) for lv, u in pw.items())
        ok = ok and set(i["importance"]) == set(names) and all(
            near(i["importance"][n_], x) for n_, x in zip(names, o["imp"]))
        if not ok:
            bad.append((i, o))
    t.check(not bad, what + " %d respondents differ, first: %s" % (len(bad), bad[:1]))
    return items, want


def test_conjoint_against_numpy(t):
    key = t.new_tenant()[1]
    events, kinds = survey(5, 60)
    post_events(t, key, events)
    a = run(t, key, {"attributes": ["brand", "size"], "price": "price"})
    t.eq(a["params"], {"event": "conjoint_rating", "attributes": ["brand", "size"],
                       "response": "rating", "price": "price", "k": None, "seed": 0,
                       "n_init": 10}, "defaults filled in")
    items, want = compare(t, key, a, events, True, "with price:")
    st = {o["status"] for o in want["resp"]}
    t.check({"fitted", "too_few_ratings", "constant_ratings", "singular_design"} <= st,
            "every kind of skip happens: %s" % st)
    t.eq(a["result"]["attributes"][1]["levels"][0]["level"], "256",
         "the earliest event's level comes first")
    t.eq(a["result"]["segments"], [], "no segments without k")
    t.check(all(i["segment"] is None for i in items), "no segment without k")
    # the CSV
    r = t.req("GET", "/v1/analyses/%s/customers" % a["id"], key=key,
              headers={"Accept": "text/csv"})
    t.expect(r, 200)
    lines = r.body.decode().splitlines()
    t.eq(lines[0], "customer_id,segment,r2,constant,price_coefficient,importance,part_worths",
         "CSV header")
    t.eq(len(lines), len(items) + 1, "CSV rows")
    # without price: the price is not an attribute; a respondent with one price is fitted now
    a = run(t, key, {"attributes": ["brand", "size"]})
    compare(t, key, a, events, False, "without price:")


def test_conjoint_segments(t):
    key = t.new_tenant()[1]
    events, _ = survey(8, 40, groups=True)
    post_events(t, key, events)
    a = run(t, key, {"attributes": ["brand", "size"], "price": "price", "k": 2, "seed": 3})
    items, want = compare(t, key, a, events, True, "k = 2:")
    res = a["result"]
    t.eq(len(res["segments"]), 2, "two segments")
    t.eq(res["segmentation"]["k"], 2, "k")
    # the planted groups: even respondents care about the brand, odd ones about the price
    ids = [i["customer_id"] for i in items]
    group = {cid: int(cid[1:4]) % 2 for cid in ids}
    labels = {i["customer_id"]: i["segment"] for i in items}
    pairs = {(group[c], labels[c]) for c in ids}
    t.eq(len(pairs), 2, "the segments are the planted groups: %s" % sorted(pairs))
    t.eq(sorted(s["size"] for s in res["segments"]), [20, 20], "sizes")
    t.eq([s["index"] for s in res["segments"]], [0, 1], "indexes")
    for s in res["segments"]:
        members = [o for i, o in zip(items, want["resp"]) if i["segment"] == s["index"]]
        t.check(abs(float(s["share"]) - len(members) / 40) < 1e-12, "share")
        for q_, name in enumerate(("brand", "size", "price")):
            m = sum(o["imp"][q_] for o in members) / len(members)
            t.check(near(s["importance"][name], m), "segment %d's %s importance %s vs %s"
                    % (s["index"], name, s["importance"][name], m))
        t.check(isinstance(s["label"], str) and s["label"], "a label: %s" % s["label"])
    # auto finds the two groups
    a = run(t, key, {"attributes": ["brand", "size"], "price": "price", "k": "auto",
                     "k_min": 2, "k_max": 5})
    t.eq(a["status"], "succeeded", "auto: %s" % a.get("error"))
    t.eq(a["params"]["k_min"], 2, "k_min kept")
    seg = a["result"]["segmentation"]
    t.eq(seg["k"], 2, "auto finds 2: %s" % seg["candidates"])
    t.eq([c["k"] for c in seg["candidates"]], [2, 3, 4, 5], "candidates")
    # against scikit-learn: the silhouette of our labels, and each k's inertia within 0.5 %
    items = all_customers(t, key, a["id"])
    x = [[float(i["importance"][n_]) for n_ in ("brand", "size", "price")] for i in items]
    ref = sklearn(t, x, [i["segment"] for i in items], [2, 3, 4, 5])
    t.check(abs(float(seg["silhouette"]) - ref["silhouette"]) < 1e-9, "silhouette %s vs %s"
            % (seg["silhouette"], ref["silhouette"]))
    for c in seg["candidates"]:
        want_i = ref["inertia"][str(c["k"])]
        t.check(float(c["inertia"]) <= want_i * 1.005, "k %d: inertia %s vs scikit-learn's %s"
                % (c["k"], c["inertia"], want_i))
    # one attribute without price: every importance is 1, nothing to segment
    e = problem_of(t, key, {"attributes": ["brand"], "k": 2}, "identical importances")
    t.check("benefit segments could not be formed" in e["detail"], e["detail"])


def problem_of(t, key, params, what):
    a = run(t, key, params)
    t.eq(a["status"], "failed", what + " fails: %s" % a)
    e = a.get("error") or {}
    t.eq(e.get("status"), 422, what + ": a 422 problem %s" % e)
    t.eq(e.get("type"), "urn:segmentd:problem:analysis-not-possible", what + " type")
    return e


def test_conjoint_data_problems(t):
    key = t.new_tenant()[1]
    e = problem_of(t, key, {"attributes": ["brand"]}, "no events")
    t.check('no events of type "conjoint_rating"' in e["detail"], e["detail"])
    post_events(t, key, [{"id": "x%d" % i, "customer_id": "c%d" % (i % 3),
                          "type": "conjoint_rating", "occurred_at": stamp(i),
                          "properties": {"brand": BRANDS[i % 2], "rating": i % 4}}
                         for i in range(6)])
    e = problem_of(t, key, {"attributes": ["brand"]}, "nobody fittable")
    t.check("no respondent could be fitted" in e["detail"] and "3 respondents" in e["detail"],
            e["detail"])
    e = problem_of(t, key, {"attributes": ["brand", "colour"]}, "an attribute never rated")
    t.check('"colour"' in e["detail"], e["detail"])
    t.eq(e.get("pointer"), "/params/attributes/1", "its pointer")
    e = problem_of(t, key, {"attributes": ["brand"], "event": "other"}, "another type")
    t.check('"other"' in e["detail"], e["detail"])


def test_conjoint_params(t):
    key = t.new_tenant()[1]
    for params, pointer in [
        ({}, "/params/attributes"),
        ({"attributes": []}, "/params/attributes"),
        ({"attributes": "brand"}, "/params/attributes"),
        ({"attributes": ["a"] * 2}, "/params/attributes/1"),
        ({"attributes": ["a", 3]}, "/params/attributes/1"),
        ({"attributes": ["a", ""]}, "/params/attributes/1"),
        ({"attributes": ["a%d" % i for i in range(21)]}, "/params/attributes"),
        ({"attributes": ["a", "rating"]}, "/params/attributes/1"),
        ({"attributes": ["a", "p"], "price": "p"}, "/params/attributes/1"),
        ({"attributes": ["a"], "price": "rating"}, "/params/price"),
        ({"attributes": ["a"], "price": 3}, "/params/price"),
        ({"attributes": ["a"], "event": ""}, "/params/event"),
        ({"attributes": ["a"], "event": "e" * 65}, "/params/event"),
        ({"attributes": ["a"], "response": None}, "/params/response"),
        ({"attributes": ["a"], "k": 1}, "/params/k"),
        ({"attributes": ["a"], "k": 21}, "/params/k"),
        ({"attributes": ["a"], "k": "some"}, "/params/k"),
        ({"attributes": ["a"], "k": 3, "k_min": 2}, "/params/k_min"),
        ({"attributes": ["a"], "k": "auto", "k_min": 5, "k_max": 4}, "/params/k_max"),
        ({"attributes": ["a"], "k": "auto", "k_max": 1}, "/params/k_max"),
        ({"attributes": ["a"], "seed": -1}, "/params/seed"),
        ({"attributes": ["a"], "n_init": 0}, "/params/n_init"),
        ({"attributes": ["a"], "other": 1}, "/params/other"),
    ]:
        _, r = create(t, key, params, 422)
        p = t.problem(r, 422)
        t.check(pointer in t.pointers(p), "%s: pointer %s in %s" % (params, pointer, p), r)


def members(t, key, sid):
    out, cursor = [], None
    while True:
        path = "/v1/segments/%s/members?limit=500" % sid + ("&cursor=" + q(cursor) if cursor
                                                          else "")
        page = t.expect_json(t.req("GET", path, key=key), 200)
        out += [m["customer_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return sorted(out)


def test_conjoint_materialize(t):
    """The benefit segments as a scheme of static segments (h-kw's machinery): one per
    segment holding its respondents; a re-run (after a new respondent and another seed) moves
    them; an analysis without k has nothing to materialise (422)."""
    key = t.new_tenant()[1]
    events, _ = survey(8, 40, groups=True)
    post_events(t, key, events)
    params = {"attributes": ["brand", "size"], "price": "price", "k": 2, "seed": 3}
    a = run(t, key, params)
    t.eq(a["status"], "succeeded", "succeeded: %s" % a.get("error"))
    items = all_customers(t, key, a["id"])
    of = {i["customer_id"]: i["segment"] for i in items}
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "ben"}, key=key)
    sch = t.expect_json(r, 201)
    rep = t.expect_json(t.req("GET", "/v1/schemes/%s" % sch["id"], key=key), 200)
    segs = rep["segments"]
    t.eq(len(segs), 2, "a segment per benefit segment")
    t.eq(rep["mutually_exclusive"] and rep["collectively_exhaustive"], True, "MECE: %s" % rep)
    for j, s in enumerate(segs):
        t.check(s["name"].startswith("ben: "), s["name"])
        doc = t.expect_json(t.req("GET", "/v1/segments/" + s["id"], key=key), 200)
        t.eq((doc["type"], doc["source"], doc["analysis_id"]), ("static", "conjoint", a["id"]),
             "a static segment of the analysis")
        t.check("mean importances" in (doc.get("description") or ""), doc.get("description"))
        t.eq(members(t, key, s["id"]), sorted(c for c, v in of.items() if v == j),
             "members of benefit segment %d" % j)
    # a new respondent, then a re-run: the members follow the new store
    more, _ = survey(9, 42, groups=True)
    extra = [e for e in more if e["customer_id"] == "r041"]
    post_events(t, key, extra)
    t.expect(t.req("POST", "/v1/analyses/%s:run" % a["id"], key=key), 202)
    b = wait(t, key, a["id"])
    t.eq((b["status"], b["runs"]), ("succeeded", 2), "the re-run: %s" % b.get("error"))
    new = {i["customer_id"]: i["segment"] for i in all_customers(t, key, a["id"])}
    t.check("r041" in new and new["r041"] is not None, "the new respondent has a segment")
    for j, s in enumerate(segs):
        t.eq(members(t, key, s["id"]), sorted(c for c, v in new.items() if v == j),
             "after the re-run: members of benefit segment %d" % j)
    # without k: nothing to materialise
    c = run(t, key, {"attributes": ["brand", "size"], "price": "price"})
    t.eq(c["status"], "succeeded", "without k: %s" % c.get("error"))
    r = t.req("POST", "/v1/analyses/%s:materialize" % c["id"], {"scheme_name": "none"}, key=key)
    p = t.problem(r, 422)
    t.check("nothing to materialise" in p.get("detail", ""), "says why: %s" % p)
    # before any run: 409 as for every type
    d, _ = create(t, key, {"attributes": ["brand"], "k": 2})
    r = t.req("POST", "/v1/analyses/%s:materialize" % d["id"], {"scheme_name": "early"}, key=key)
    t.problem(r, 409, 422)  # 422 if the run already failed (identical importances)


def test_conjoint_memory_limit(t):
    """A second daemon with SEGMENTD_ANALYSIS_MEMORY=1 (MB) takes the job (the first one is
    stopped meanwhile): 40,000 rated profiles of 2,000 respondents by two attributes need about
    1.5 MB, refused before anything is read."""
    key = t.new_tenant()[1]
    body = "".join(json.dumps({"customer_id": "m%04d" % (i % 2000), "type": "conjoint_rating",
                               "occurred_at": stamp(i % 5000), "properties": {
                                   "a": "x%d" % (i % 3), "b": i % 2, "rating": i % 7}}) + "\n"
                   for i in range(40000))
    r = t.req("POST", "/v1/events:import", raw_body=body, ctype="application/x-ndjson", key=key,
              timeout=300)
    t.eq(t.expect_json(r, 200)["accepted"], 40000, "imported")
    d = t.start_daemon(["--workers", "1"], "conjoint-memory",
                       env={"SEGMENTD_ANALYSIS_MEMORY": "1"})
    main = t.daemon.proc.pid
    os.kill(main, signal.SIGSTOP)
    try:
        a = t.expect_json(t.req("POST", "/v1/analyses", {"type": "conjoint", "params": {
            "attributes": ["a", "b"]}}, key=key, daemon=d), 202)
        deadline = time.time() + 60
        while time.time() < deadline:
            a = t.expect_json(t.req("GET", "/v1/analyses/" + a["id"], key=key, daemon=d), 200)
            if a["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.05)
    finally:
        os.kill(main, signal.SIGCONT)
        t.stop_daemon(d)
    t.eq(a["status"], "failed", "refused: %s" % a)
    e = a.get("error") or {}
    t.eq(e.get("status"), 422, "a 422 problem")
    t.check("40000 rated profiles of 2000 respondents would need about 2 MB" in
            e.get("detail", "") and "limit of 1 MB" in e.get("detail", ""),
            "how much it would need: %s" % e)

"""Discriminant analysis (SPEC §6 discriminant, §6.2; handlers/analysis_discriminant.c,
db/analysis_discriminant.c): customers with three numeric attributes (one at a nested path,
some values missing; a few ids with non-ASCII characters) imported through the API, sorted by
hand into static segments (some customers in two of them: the scheme's priority order decides
their group; one segment of the scheme empty), the rest to be assigned. The result (the
functions' eigenvalues, shares, canonical correlations, Wilks' lambdas with Bartlett's chi2,
df and p; per feature the univariate Wilks' lambda, F and p, the standardised coefficients and
the structure matrix; the group centroids; the leave-one-out classification matrix and hit
rate; the chance criteria) and every customer's predicted group and posterior against
scikit-learn's LinearDiscriminantAnalysis (predict, predict_proba, a literal leave-one-out by
cross_val_predict) and SciPy (the generalised eigenproblem of B and W, f_oneway) run by
Debian's /usr/bin/python3 in a subprocess, within 1e-6; both priors; "assign": "all"; the CSV
export; the problems of data that cannot support the analysis and of bad params (422 with
pointers).
"""
import json
import random
import time
import analyses_common as common
from analyses_common import q, wait, all_customers, paged, register, import_customers, maxdiff

TOL = 1e-6

# The reference, run by Debian's python3: reads {"x": rows (null: missing), "y": group or -1,
# "g", "priors"} on stdin.
REFERENCE = r'''
import json, sys
import numpy as np
from scipy import linalg, stats
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.metrics import confusion_matrix

inp = json.load(sys.stdin)
x = np.array([[np.nan if v is None else v for v in row] for row in inp["x"]], dtype=float)
y = np.array(inp["y"])
g = inp["g"]
complete = ~np.isnan(x).any(axis=1)
train = complete & (y >= 0)
X, Y = x[train], y[train]
n, p = X.shape
m = X.mean(axis=0)
means = np.array([X[Y == k].mean(axis=0) for k in range(g)])
sizes = np.array([(Y == k).sum() for k in range(g)])
W = sum((X[Y == k] - means[k]).T @ (X[Y == k] - means[k]) for k in range(g))
B = sum(sizes[k] * np.outer(means[k] - m, means[k] - m) for k in range(g))
T = W + B
S = W / (n - g)
q = min(g - 1, p)
lam, vec = linalg.eigh(B, S)
order = np.argsort(-lam)[:q]
lam, raw = np.clip(lam[order], 0, None) / (n - g), vec[:, order]  # of W^-1 B
sd = np.sqrt(np.diag(S))
std = raw * sd[:, None]
sign = np.where(std.sum(axis=0) < 0, -1.0, 1.0)
raw, std = raw * sign, std * sign
structure = (S / np.outer(sd, sd)) @ std
centroids = (means - m) @ raw
wilks = [float(np.prod(1 / (1 + lam[j:]))) for j in range(q)]
chi2 = [-(n - 1 - (p + g) / 2) * np.log(w) for w in wilks]
df = [(p - j) * (g - j - 1) for j in range(q)]
fw = np.diag(W) / np.diag(T)
F, fp = [], []
for i in range(p):
    r = stats.f_oneway(*[X[Y == k, i] for k in range(g)])
    F.append(float(r.statistic)); fp.append(float(r.pvalue))
priors = None if inp["priors"] == "proportional" else [1.0 / g] * g
lda = LinearDiscriminantAnalysis(priors=priors).fit(X, Y)
post = np.full((len(x), g), np.nan)
post[complete] = lda.predict_proba(x[complete])
pred = np.full(len(x), -1)
pred[complete] = lda.predict(x[complete])
loo = cross_val_predict(LinearDiscriminantAnalysis(priors=priors), X, Y, cv=LeaveOneOut())
cm = confusion_matrix(Y, loo, labels=list(range(g)))
share = sizes / n
out = {"n": int(n), "sizes": sizes.tolist(),
       "eigenvalues": lam.tolist(), "explained": (lam / lam.sum()).tolist(),
       "sk_explained": lda.explained_variance_ratio_[:q].tolist(),
       "canonical_correlation": np.sqrt(lam / (1 + lam)).tolist(),
       "wilks_lambda": wilks, "chi2": [float(c) for c in chi2], "df": df,
       "p": [float(stats.chi2.sf(c, d)) for c, d in zip(chi2, df)],
       "feature_wilks": fw.tolist(), "F": F, "fp": fp,
       "coefficients": std.tolist(), "raw": raw.tolist(), "structure": structure.tolist(),
       "centroids": centroids.tolist(), "classification": cm.tolist(),
       "hit_rate": float(np.trace(cm) / n),
       "proportional_chance": float((share ** 2).sum()), "maximum_chance": float(share.max()),
       "predicted": pred.tolist(),
       "posterior": [None if p_ < 0 else float(post[i, p_]) for i, p_ in enumerate(pred)]}
print(json.dumps(out))
'''


def reference(t, x, y, g, priors="proportional"):
    return common.reference(t, REFERENCE, {"x": x, "y": y, "g": g, "priors": priors})


def create(t, key, params, status=202):
    return common.create(t, key, "discriminant", params, status)


def run(t, key, params):
    return common.run(t, key, "discriminant", params)


def static(t, key, name, ids):
    s = t.expect_json(t.req("POST", "/v1/segments", {"name": name, "type": "static"}, key=key),
                      201)
    if ids:
        t.expect_json(t.req("POST", "/v1/segments/%s/members" % s["id"],
                            {"customer_ids": list(ids)}, key=key), 200)
    return s


def scheme(t, key, name, segs):
    r = t.req("POST", "/v1/schemes", {"name": name, "segments": [s["id"] for s in segs]},
              key=key)
    return t.expect_json(r, 201)


def reldiff(got, want):
    """maxdiff relative to the magnitude of want (at least 1)."""
    flat = []

    def walk(w):
        if isinstance(w, list):
            for v in w:
                walk(v)
        elif w is not None:
            flat.append(abs(float(w)))
    walk(want)
    return maxdiff(got, want) / max([1.0] + flat)


NAMES = ["a", "b", "p.inc"]
MEANS = [[0, 0, 100], [2, 1, 100.5], [0.5, 2.5, 99]]


def attrs_of(row):
    a = {}
    for name, v in zip(NAMES, row):
        if v is None:
            continue
        if name == "p.inc":
            a["p"] = {"inc": v}
        else:
            a[name] = v
    return a


def dataset(n, seed, missing=0.04):
    """[(id, [values or None], hand-sorted group 0..2 or None)]: three overlapping Gaussian
    groups, correlated features; a third of the customers not sorted by hand."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = i % 3
        z = [rng.gauss(0, 1) for _ in range(3)]
        v = [MEANS[k][0] + z[0], MEANS[k][1] + 0.5 * z[0] + z[1],
             MEANS[k][2] + 0.8 * z[2] - 0.3 * z[1]]
        v = [None if rng.random() < missing else round(x, 6) for x in v]
        cid = ("d%04d" if i % 7 else "é%04d-ß") % i
        rows.append((cid, v, k if i % 3 != 1 or i % 9 == 1 else None))
    rows.sort(key=lambda r: r[0].encode())
    return rows


FEATURES = [{"attr": n} for n in NAMES]


def setup(t, rows):
    """A tenant with the rows and a scheme [G1, G0, Empty, G2] of static segments: every
    customer of group 1 is in G1, of group 0 in G0, of group 2 in G2; a few customers of group 1
    are also in G0 and of group 0 also in G2 (the earlier segment wins, so they stay in their
    group), and a few of group 2 also in G1 (so G1 takes them: their group becomes 1)."""
    key = t.new_tenant()[1]
    for n in NAMES:
        register(t, key, n)
    import_customers(t, key, [{"id": cid, "attributes": attrs_of(v)} for cid, v, _ in rows])
    members = {0: [], 1: [], 2: []}
    extra = {0: [], 1: [], 2: []}
    truth = {}
    for i, (cid, _, k) in enumerate(rows):
        if k is None:
            continue
        members[k].append(cid)
        truth[cid] = k
        if k == 1 and i % 5 == 0:
            extra[0].append(cid)  # also in G0: G1 comes first
        if k == 0 and i % 5 == 0:
            extra[2].append(cid)  # also in G2: G0 comes first
        if k == 2 and i % 11 == 0:
            extra[1].append(cid)  # also in G1, which comes first: its group is G1's
            truth[cid] = 1
    g1 = static(t, key, "G1", members[1] + extra[1])
    g0 = static(t, key, "G0", members[0] + extra[0])
    empty = static(t, key, "Empty", [])
    g2 = static(t, key, "G2", members[2] + extra[2])
    sch = scheme(t, key, "hand", [g1, g0, empty, g2])
    # the fitted groups, in scheme order without the empty one: G1, G0, G2
    index = {1: 0, 0: 1, 2: 2}
    y = [index[truth[cid]] if cid in truth else -1 for cid, _, _ in rows]
    return key, sch, [g1, g0, g2], empty, y


def compare(t, key, a, rows, y, segs, priors="proportional", what=""):
    t.eq(a["status"], "succeeded", what + " succeeded: %s" % a.get("error"))
    res = a["result"]
    want = reference(t, [r[1] for r in rows], y, 3, priors)
    t.eq(res["n"], want["n"], what + " n")
    t.eq(res["customers"], len(rows), what + " customers")
    t.eq(res["assigned"], sum(1 for v in y if v >= 0), what + " assigned")
    t.eq(res["unassigned"], sum(1 for v in y if v < 0), what + " unassigned")
    t.eq(res["excluded"], sum(1 for v in y if v >= 0) - want["n"], what + " excluded")
    t.eq(res["priors"], priors, what + " priors")
    t.eq([(gr["segment_id"], gr["name"], gr["size"]) for gr in res["groups"]],
         [(s["id"], s["name"], n) for s, n in zip(segs, want["sizes"])], what + " groups")
    t.eq(len(res["functions"]), 2, what + " two functions")
    for k in ("eigenvalues", "explained", "canonical_correlation", "wilks_lambda", "chi2",
              "p"):
        src = "eigenvalue" if k == "eigenvalues" else k
        got = [f[src] for f in res["functions"]]
        t.check(reldiff(got, want[k]) < TOL, what + " functions' %s: %s %s" % (k, got, want[k]))
    t.eq([f["df"] for f in res["functions"]], want["df"], what + " df")
    if priors == "proportional":  # sklearn weighs B by the priors; §6.2 by the sizes
        t.check(maxdiff([f["explained"] for f in res["functions"]], want["sk_explained"]) <
                TOL, what + " explained as sklearn's explained_variance_ratio_")
    t.eq(list(res["features"]), NAMES, what + " features in order")
    for i, n in enumerate(NAMES):
        fr = res["features"][n]
        t.check(abs(float(fr["wilks_lambda"]) - want["feature_wilks"][i]) < TOL,
                what + " %s wilks_lambda" % n)
        t.check(abs(float(fr["F"]) - want["F"][i]) < TOL * max(1, want["F"][i]), what + " %s F" % n)
        t.check(abs(float(fr["p"]) - want["fp"][i]) < TOL, what + " %s p" % n)
        t.check(maxdiff(fr["coefficients"], want["coefficients"][i]) < TOL,
                what + " %s coefficients %s %s" % (n, fr["coefficients"],
                                                   want["coefficients"][i]))
        t.check(maxdiff(fr["structure"], want["structure"][i]) < TOL,
                what + " %s structure" % n)
    t.check(maxdiff(res["group_centroids"], want["centroids"]) < TOL, what + " centroids")
    t.eq(res["classification"], want["classification"],
         what + " leave-one-out classification (sklearn refitted without each customer)")
    t.check(abs(float(res["hit_rate"]) - want["hit_rate"]) < 1e-12, what + " hit_rate")
    t.check(abs(float(res["proportional_chance"]) - want["proportional_chance"]) < 1e-12,
            what + " proportional_chance")
    t.check(abs(float(res["maximum_chance"]) - want["maximum_chance"]) < 1e-12,
            what + " maximum_chance")
    t.eq(res["missing"], {n: sum(1 for r in rows if r[1][j] is None)
                          for j, n in enumerate(NAMES)}, what + " missing per feature")
    # every customer
    items = all_customers(t, key, a["id"])
    t.eq([i["customer_id"] for i in items], [r[0] for r in rows], what + " customers, in order")
    t.eq([i["true_group"] for i in items], [v if v >= 0 else None for v in y],
         what + " true groups (the scheme's priority order)")
    t.eq([i["predicted_group"] for i in items],
         [v if v >= 0 else None for v in want["predicted"]], what + " predicted (sklearn)")
    t.check(maxdiff([i["posterior"] for i in items], want["posterior"]) < TOL,
            what + " posteriors (sklearn predict_proba)")
    t.check(all(set(i) == {"customer_id", "true_group", "predicted_group", "posterior",
                           "assigned_group"} for i in items), what + " keys %s" % items[:1])
    return want, items


def test_discriminant_against_sklearn(t):
    rows = dataset(330, 5)
    key, sch, segs, empty, y = setup(t, rows)
    a = run(t, key, {"groups": sch["id"], "features": FEATURES})
    t.eq(a["params"], {"groups": sch["id"], "features": FEATURES, "priors": "proportional",
                       "assign": "unassigned", "filter": None}, "defaults filled in")
    want, items = compare(t, key, a, rows, y, segs, what="proportional:")
    res = a["result"]
    t.eq(res["empty_groups"], [{"segment_id": empty["id"], "name": "Empty", "size": 0}],
         "the empty segment left out")
    t.check(res["hit_rate"] > res["proportional_chance"], "better than chance")
    # assign "unassigned": the hand-sorted keep their group, the others their prediction
    assigned = [v if v >= 0 else (p if p >= 0 else None)
                for v, p in zip(y, want["predicted"])]
    t.eq([i["assigned_group"] for i in items], assigned, "assigned groups")
    t.eq([gr["materialized_size"] for gr in res["groups"]],
         [assigned.count(k) for k in range(3)], "materialized sizes")
    t.eq(res["classified"], sum(1 for v, p in zip(y, want["predicted"]) if v < 0 and p >= 0),
         "classified")
    # the CSV export
    r = t.req("GET", "/v1/analyses/%s/customers" % a["id"], key=key,
              headers={"Accept": "text/csv"})
    t.expect(r, 200)
    lines = r.body.decode().splitlines()
    t.eq(lines[0], "customer_id,true_group,predicted_group,posterior,assigned_group",
         "CSV header")
    t.eq(len(lines), len(rows) + 1, "CSV rows")
    # equal priors, assign all
    b = run(t, key, {"groups": sch["id"], "features": FEATURES, "priors": "equal",
                     "assign": "all"})
    want, items = compare(t, key, b, rows, y, segs, "equal", what="equal:")
    t.eq([i["assigned_group"] for i in items],
         [p if p >= 0 else (v if v >= 0 else None) for v, p in zip(y, want["predicted"])],
         "assign all: the prediction wherever there is one")
    # a filter: only the customers whose a is above -1
    c = run(t, key, {"groups": sch["id"], "features": FEATURES,
                     "filter": {"attr": "a", "op": "gt", "value": -1}})
    keep = [i for i, r in enumerate(rows) if r[1][0] is not None and r[1][0] > -1]
    compare(t, key, c, [rows[i] for i in keep], [y[i] for i in keep], segs, what="filtered:")


def problem_of(t, key, params, what):
    a = run(t, key, params)
    t.eq(a["status"], "failed", what + " fails: %s" % a)
    e = a.get("error") or {}
    t.eq(e.get("status"), 422, what + ": a 422 problem %s" % e)
    t.eq(e.get("type"), "urn:segmentd:problem:analysis-not-possible", what + " type")
    return e


def test_discriminant_data_problems(t):
    key = t.new_tenant()[1]
    for n in ("a", "b", "k"):
        register(t, key, n)
    register(t, key, "s", "string")
    feats = [{"attr": "a"}, {"attr": "b"}]
    e = problem_of(t, key, {"groups": "999999", "features": feats}, "no customers")
    t.check("no customers" in e["detail"], e["detail"])
    import_customers(t, key, [{"id": "k%02d" % i, "attributes": {
        "a": i, "b": (i * 7) % 5, "k": 5 if i % 2 else 6, "s": "x"}} for i in range(20)])
    e = problem_of(t, key, {"groups": "999999", "features": feats}, "an unknown scheme")
    t.eq(e.get("pointer"), "/params/groups", "its pointer")
    s1 = static(t, key, "S1", ["k%02d" % i for i in range(0, 20, 2)])
    s2 = static(t, key, "S2", ["k%02d" % i for i in range(1, 20, 2)])
    one = scheme(t, key, "one", [s1])
    e = problem_of(t, key, {"groups": one["id"], "features": feats}, "one group")
    t.check("two groups" in e["detail"], e["detail"])
    two = scheme(t, key, "two", [s1, s2])
    # k is constant within each group: W singular
    e = problem_of(t, key, {"groups": two["id"], "features": [{"attr": "a"}, {"attr": "k"}]},
                   "a feature constant within the groups")
    t.check("singular" in e["detail"], e["detail"])
    e = problem_of(t, key, {"groups": two["id"], "features": [{"attr": "a"}, {"attr": "s"}]},
                   "a string attribute")
    t.eq(e.get("pointer"), "/params/features/1", "its pointer")
    e = problem_of(t, key, {"groups": two["id"], "features": [{"attr": "a"}, {"metric": "clv"}]},
                   "all missing")
    t.check("two groups" in e["detail"], e["detail"])
    # a tenant's scheme is not another tenant's
    other = t.new_tenant()[1]
    register(t, other, "a")
    import_customers(t, other, [{"id": "o%d" % i, "attributes": {"a": i}} for i in range(5)])
    e = problem_of(t, other, {"groups": two["id"], "features": [{"attr": "a"}]},
                   "another tenant's scheme")
    t.eq(e.get("pointer"), "/params/groups", "its pointer")
    # a fit that works: a alone over the two groups
    a = run(t, key, {"groups": two["id"], "features": [{"attr": "a"}, {"attr": "b"}]})
    t.eq(a["status"], "succeeded", "two groups, two features: %s" % a.get("error"))
    t.eq(len(a["result"]["functions"]), 1, "one function for two groups")


def test_discriminant_params(t):
    key = t.new_tenant()[1]
    f = [{"attr": "a"}]
    for params, pointer in [
        ({}, "/params/groups"),
        ({"features": f}, "/params/groups"),
        ({"groups": 12, "features": f}, "/params/groups"),
        ({"groups": "x1", "features": f}, "/params/groups"),
        ({"groups": "", "features": f}, "/params/groups"),
        ({"groups": "1"}, "/params/features"),
        ({"groups": "1", "features": []}, "/params/features"),
        ({"groups": "1", "features": [{"attr": "a"}, {"metric": "abc_class"}]},
         "/params/features/1/metric"),
        ({"groups": "1", "features": [{"attr": "a"}, {"attr": "a"}]}, "/params/features/1/attr"),
        ({"groups": "1", "features": f, "priors": "uniform"}, "/params/priors"),
        ({"groups": "1", "features": f, "priors": 1}, "/params/priors"),
        ({"groups": "1", "features": f, "assign": "some"}, "/params/assign"),
        ({"groups": "1", "features": f, "filter": {"attr": "a", "op": "gtx", "value": 1}},
         "/params/filter/op"),
        ({"groups": "1", "features": f, "other": 1}, "/params/other"),
        ({"groups": "1", "features": [{"metric": "factor_%d" % i} for i in range(1, 102)]},
         "/params/features"),
    ]:
        _, r = create(t, key, params, 422)
        p = t.problem(r, 422)
        t.check(pointer in t.pointers(p), "%s: pointer %s in %s" % (params, pointer, p), r)
    create(t, key, {"groups": "1", "features": [{"metric": "recency_days"}]})


def members(t, key, sid):
    return sorted(m["customer_id"] for m in paged(t, key, "/v1/segments/%s/members" % sid))


def changes_of(t, key, since=None):
    items, cursor = [], since
    while True:
        page = t.expect_json(t.req("GET", "/v1/changes?limit=1000" + (
            "&since=" + q(cursor) if cursor else ""), key=key), 200)
        items += page["items"]
        if not page["items"]:
            return items
        cursor = page["next_cursor"]


def test_discriminant_materialize(t):
    """Materialising makes a scheme of static segments, one per group, holding the group's
    customers plus those the model assigns to it (h-kw's static machinery); sorting more
    customers by hand and running the analysis again moves the memberships (the enters and
    exits in the feed)."""
    rows = dataset(180, 17)
    key, sch, segs, empty, y = setup(t, rows)
    a = run(t, key, {"groups": sch["id"], "features": FEATURES})
    want, items = compare(t, key, a, rows, y, segs, what="materialised:")
    of = {i["customer_id"]: i["assigned_group"] for i in items}
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "auto"}, key=key)
    m = t.expect_json(r, 201)
    t.eq(m["pending_jobs"], [], "no refresh to wait for")
    rep = t.expect_json(t.req("GET", "/v1/schemes/%s" % m["id"], key=key), 200)
    out = rep["segments"]
    t.eq([s["name"] for s in out], ["auto: G1", "auto: G0", "auto: G2"],
         "a segment per group, named as its source, in the scheme's order (the empty left out)")
    t.eq(rep["mutually_exclusive"], True, "mutually exclusive")
    t.eq(rep["unassigned"], sum(1 for v in of.values() if v is None),
         "unassigned: the customers without a group and without every feature")
    for j, s in enumerate(out):
        doc = t.expect_json(t.req("GET", "/v1/segments/" + s["id"], key=key), 200)
        t.eq((doc["type"], doc["source"], doc["analysis_id"]), ("static", "discriminant", a["id"]),
             "a static segment from the analysis")
        t.eq(members(t, key, s["id"]), sorted(c for c, v in of.items() if v == j),
             "members of group %d: its own customers and those assigned to it" % j)
        t.eq(doc["size"], a["result"]["groups"][j]["materialized_size"], "materialized_size")
    ids = {s["id"]: j for j, s in enumerate(out)}
    ch = changes_of(t, key)
    t.eq(sorted((c["customer_id"], ids[c["segment_id"]]) for c in ch
                if c["segment_id"] in ids and c["change"] == "entered"),
         sorted((c, v) for c, v in of.items() if v is not None), "each member entered")
    since = ch[-1]["cursor"]
    # sort by hand the customers the model assigned to G0 or G2 into the source segment G1
    moved = [c for c, v in zip(rows, y) if v < 0 and of[c[0]] in (1, 2)]
    t.check(len(moved) >= 4, "customers to sort by hand: %d" % len(moved))
    t.expect_json(t.req("POST", "/v1/segments/%s/members" % segs[0]["id"],
                        {"customer_ids": [c[0] for c in moved]}, key=key), 200)
    t.expect(t.req("POST", "/v1/analyses/%s:run" % a["id"], key=key), 202)
    deadline = time.time() + 120
    while time.time() < deadline:
        b = wait(t, key, a["id"])
        if b["runs"] == 2 or b["status"] != "succeeded":
            break
        time.sleep(0.05)
    t.eq((b["status"], b["runs"]), ("succeeded", 2), "the re-run: %s" % b.get("error"))
    y2 = [0 if r[0] in {c[0] for c in moved} else v for r, v in zip(rows, y)]
    _, items2 = compare(t, key, b, rows, y2, segs, what="re-run:")
    new = {i["customer_id"]: i["assigned_group"] for i in items2}
    t.check(all(new[c[0]] == 0 for c in moved), "the hand-sorted are in G1 now")
    for j, s in enumerate(out):
        t.eq(members(t, key, s["id"]), sorted(c for c, v in new.items() if v == j),
             "after the re-run: members of group %d" % j)
    wantch = []
    for cid in sorted(new):
        if of[cid] != new[cid]:
            if of[cid] is not None:
                wantch.append((cid, out[of[cid]]["id"], "exited"))
            if new[cid] is not None:
                wantch.append((cid, out[new[cid]]["id"], "entered"))
    ch = [c for c in changes_of(t, key, since) if c["segment_id"] in ids]
    t.eq(sorted((c["customer_id"], c["segment_id"], c["change"]) for c in ch), sorted(wantch),
         "the re-run's enters and exits in the feed")
    t.check(len(wantch) >= 2 * len(moved), "at least the hand-sorted moved: %d" % len(wantch))

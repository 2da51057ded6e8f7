"""k-means analysis (SPEC §6 kmeans; handlers/analysis_kmeans.c, db/analysis_kmeans.c) and the
static materialisation every grouping type shares (handlers/analysiskinds.h `groups`,
db/analyses.c; db/README.md "Static materialisation").

Customers in blobs with two numeric attributes (one at a nested path) and a string attribute
(one-hot encoded), some values missing, imported through the API. Against scikit-learn 1.2
(Debian's /usr/bin/python3 in a subprocess): the same one-hot encoding and StandardScaler,
KMeans(n_init=10): the inertia within 0.5 %, the same partition of the customers, the
silhouette, Davies-Bouldin and Calinski-Harabasz of our partition within 1e-6, centroids as the
clusters' means in own units; "auto" finds the number of blobs; each cluster's rule, run through
the rule engine (segments:preview), matches as many customers as its precision and recall say;
materialising makes static segments holding the clusters (feed, history, sizes), and a re-run
of the analysis over changed data moves the members (entered and exited in the feed, the
dynamic segments that refer to them following); 422s for bad params and data.
"""
import json
import random
import time
import analyses_common as common
from analyses_common import q, paged, register, import_customers


# Reads {"x": rows (null for missing), "cat": [index of categorical columns], "k", "seed",
# "labels": our labels or null, "auto": [k_min, k_max] or null} and answers with sklearn's fit
# on the same encoding and the quality figures of our own labels.
REFERENCE = r'''
import json, sys
import numpy as np
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import silhouette_score, davies_bouldin_score, calinski_harabasz_score

inp = json.load(sys.stdin)
rows = inp["x"]
cat = set(inp["cat"])
ncol = len(rows[0])
keep = [i for i, r in enumerate(rows) if all(r[j] is not None for j in range(ncol) if j not in cat)]
cols, names = [], []
for j in range(ncol):
    if j in cat:
        values = sorted({rows[i][j] for i in keep if rows[i][j] is not None},
                        key=lambda s: s.encode())
        for v in values:
            cols.append([1.0 if rows[i][j] == v else 0.0 for i in keep])
            names.append((j, v))
    else:
        cols.append([float(rows[i][j]) for i in keep])
        names.append((j, None))
raw = np.array(cols).T
x = StandardScaler().fit_transform(raw)
out = {"keep": keep}
if inp.get("k"):
    km = KMeans(n_clusters=inp["k"], n_init=10, random_state=inp["seed"]).fit(x)
    out["inertia"] = float(km.inertia_)
    out["labels"] = km.labels_.tolist()
if inp.get("labels") is not None:
    lab = np.array(inp["labels"])
    out["silhouette"] = float(silhouette_score(x, lab))
    out["davies_bouldin"] = float(davies_bouldin_score(x, lab))
    out["calinski_harabasz"] = float(calinski_harabasz_score(x, lab))
    out["means"] = [raw[lab == c].mean(axis=0).tolist() for c in range(lab.max() + 1)]
    out["inertia_of_labels"] = float(sum(((x[lab == c] - x[lab == c].mean(axis=0)) ** 2).sum()
                                         for c in range(lab.max() + 1)))
if inp.get("auto"):
    best = None
    for k in range(inp["auto"][0], inp["auto"][1] + 1):
        lab = KMeans(n_clusters=k, n_init=10, random_state=inp["seed"]).fit(x).labels_
        s = silhouette_score(x, lab)
        if best is None or s > best[1] + 1e-12:
            best = (k, s)
    out["auto_k"] = best[0]
print(json.dumps(out))
'''


def reference(t, inp):
    return common.reference(t, REFERENCE, inp)


def create(t, key, params, status=202):
    return common.create(t, key, "kmeans", params, status)


def wait(t, key, aid, timeout=120):
    return common.wait(t, key, aid, timeout, job=True)


def run(t, key, params):
    return common.run(t, key, "kmeans", params, job=True)


CENTRES = [(0, 0), (10, 0), (0, 10), (10, 10)]


def blobs(n, nblobs, seed, missing=0.0):
    """[(id, [x, y, plan] with None for missing, blob)], ids in byte order."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        b = i % nblobs
        cx, cy = CENTRES[b]
        x = round(cx + rng.gauss(0, 1), 6)
        y = round((cy + rng.gauss(0, 1)) * 1000 + 50000, 6)  # units of their own
        plan = ["basic", "plus", "pro", "max"][b] if rng.random() < 0.8 else \
            rng.choice(["basic", "plus", "pro", "max"])
        row = [x, y, plan]
        if missing and rng.random() < missing:
            row[rng.randrange(3)] = None
        rows.append(("k%04d" % i if i % 7 else "ä%04d" % i, row, b))
    rows.sort(key=lambda r: r[0].encode())
    return rows


def attrs(row):
    a = {}
    if row[0] is not None:
        a["x"] = row[0]
    if row[1] is not None:
        a["p"] = {"y": row[1]}
    if row[2] is not None:
        a["plan"] = row[2]
    return a


FEATURES = [{"attr": "x"}, {"attr": "p.y"}, {"attr": "plan"}]


def tenant_with(t, rows):
    key = t.new_tenant()[1]
    register(t, key, "x")
    register(t, key, "p.y")
    register(t, key, "plan", "string")
    import_customers(t, key, [{"id": cid, "attributes": attrs(row)} for cid, row, _ in rows])
    return key


def plain(o):
    """Decimals (as the harness parses JSON numbers) as floats, to send back."""
    if isinstance(o, dict):
        return {k: plain(v) for k, v in o.items()}
    if isinstance(o, list):
        return [plain(v) for v in o]
    return float(o) if type(o).__name__ == "Decimal" else o


def partition(ids, labels):
    groups = {}
    for i, l in zip(ids, labels):
        groups.setdefault(l, set()).add(i)
    return sorted(sorted(g) for g in groups.values())


def rel(a, b):
    a, b = float(a), float(b)
    return abs(a - b) / max(abs(b), 1e-300)


def check_against_sklearn(t, key, a, rows, k, seed, what):
    t.eq(a["status"], "succeeded", what + " succeeded: %s" % a.get("error"))
    res = a["result"]
    items = paged(t, key, "/v1/analyses/%s/customers" % a["id"])
    t.eq([i["customer_id"] for i in items], [r[0] for r in rows], what + " every customer")
    t.check(all(set(i) == {"customer_id", "cluster", "distance"} for i in items),
            what + " each customer's keys %s" % items[:1])
    ours = [i["cluster"] for i in items]
    ref = reference(t, {"x": [r[1] for r in rows], "cat": [2], "k": k, "seed": seed,
                        "labels": [c for c in ours if c is not None]})
    keep = ref["keep"]
    t.eq([i for i, c in enumerate(ours) if c is not None], keep,
         what + " the customers with every numeric feature are clustered")
    t.eq((res["k"], res["n"], res["customers"], res["excluded"]),
         (k, len(keep), len(rows), len(rows) - len(keep)), what + " k, n, customers, excluded")
    t.eq(res["features"], ["x", "p.y", "plan=basic", "plan=max", "plan=plus", "plan=pro"],
         what + " the encoded features")
    t.check(rel(res["inertia"], ref["inertia"]) < 0.005, what + " inertia %s vs sklearn %s"
            % (res["inertia"], ref["inertia"]))
    t.check(rel(res["inertia"], ref["inertia_of_labels"]) < 1e-6,
            what + " inertia is that of the labels")
    ids = [rows[i][0] for i in keep]
    t.eq(partition(ids, [ours[i] for i in keep]), partition(ids, ref["labels"]),
         what + " the same clusters as sklearn")
    for m in ("silhouette", "davies_bouldin", "calinski_harabasz"):
        t.check(rel(res[m], ref[m]) < 1e-6, what + " %s %s vs %s" % (m, res[m], ref[m]))
    t.eq([c["index"] for c in res["clusters"]], list(range(k)), what + " cluster indexes")
    sizes = [sum(1 for c in ours if c == j) for j in range(k)]
    t.eq([c["size"] for c in res["clusters"]], sizes, what + " sizes")
    for j, c in enumerate(res["clusters"]):
        got = [c["centroid"][f] for f in res["features"]]
        t.check(max(abs(float(g) - w) for g, w in zip(got, ref["means"][j])) < 1e-6 * 60000,
                what + " centroid %d in own units %s vs %s" % (j, got, ref["means"][j]))
        t.check(abs(float(c["share"]) - sizes[j] / len(keep)) < 1e-12, what + " share")
        t.check(isinstance(c["label"], str) and c["label"], what + " a label")
        t.check(set(c["profile"]) == set(res["features"]), what + " a profile per feature")
    t.eq(len(res["candidates"]), 1, what + " one candidate when k is given")
    pr = res["projection"]
    t.eq(len(pr["components"]), 2, what + " two components")
    t.eq(len(pr["points"]), min(2000, len(keep)), what + " projected points")
    t.check(all(0 <= p[2] < k for p in pr["points"]), what + " points carry their cluster")
    return items


def test_kmeans_against_sklearn(t):
    rows = blobs(360, 3, 5, missing=0.04)
    key = tenant_with(t, rows)
    a = run(t, key, {"features": FEATURES, "k": 3, "seed": 7})
    t.eq(a["params"], {"features": FEATURES, "k": 3, "seed": 7, "n_init": 10, "max_iter": 300,
                       "scaling": "standard", "filter": None}, "defaults filled in")
    check_against_sklearn(t, key, a, rows, 3, 7, "k 3:")
    t.eq(a["result"]["missing"], {"x": sum(1 for r in rows if r[1][0] is None),
                                  "p.y": sum(1 for r in rows if r[1][1] is None),
                                  "plan": sum(1 for r in rows if r[1][2] is None)},
         "missing per feature")
    # the same params give the same result
    b = run(t, key, {"features": FEATURES, "k": 3, "seed": 7})
    t.eq(b["result"], a["result"], "reproducible")
    # CSV
    r = t.req("GET", "/v1/analyses/%s/customers" % a["id"], key=key,
              headers={"Accept": "text/csv"})
    t.expect(r, 200)
    lines = r.body.decode().splitlines()
    t.eq(lines[0], "customer_id,cluster,distance", "CSV header")
    t.eq(len(lines), len(rows) + 1, "CSV rows")


def test_kmeans_auto_and_rules(t):
    rows = blobs(400, 4, 8)
    key = tenant_with(t, rows)
    a = run(t, key, {"features": FEATURES[:2], "k": "auto", "k_min": 2, "k_max": 6})
    t.eq(a["status"], "succeeded", "auto succeeded: %s" % a.get("error"))
    res = a["result"]
    ref = reference(t, {"x": [r[1][:2] for r in rows], "cat": [], "seed": 0, "auto": [2, 6]})
    t.eq(res["k"], 4, "auto finds the four blobs")
    t.eq(ref["auto_k"], 4, "so does sklearn's silhouette")
    t.eq([c["k"] for c in res["candidates"]], [2, 3, 4, 5, 6], "every k tried")
    best = max(res["candidates"], key=lambda c: float(c["silhouette"]))
    t.eq(best["k"], 4, "the best silhouette is the k kept")
    items = paged(t, key, "/v1/analyses/%s/customers" % a["id"])
    t.eq(partition([i["customer_id"] for i in items], [i["cluster"] for i in items]),
         partition([r[0] for r in rows], [r[2] for r in rows]), "the clusters are the blobs")
    for c in res["clusters"]:
        t.check(float(c["fidelity"]) > 0.95, "cluster %d's rule is faithful: %s" % (c["index"], c))
        p = t.expect_json(t.req("POST", "/v1/segments:preview", {"rule": plain(c["rule"])}, key=key),
                          200)
        hits = float(c["recall"]) * c["size"]
        t.check(abs(p["count"] - hits / float(c["precision"])) < 1e-6,
                "the rule of cluster %d matches %s customers, as precision and recall say"
                % (c["index"], p["count"]))
        t.check(abs(float(c["fidelity"]) - 2 * hits / (p["count"] + c["size"])) < 1e-9, "F1")


def test_kmeans_rules_over_strings_and_booleans(t):
    """Clusters told apart by a string and a boolean attribute: each rule, in the rule
    engine, matches as many customers as its precision and recall say (a registered boolean's
    rule compares booleans, a string's strings, also the string "true": the rule engine
    refuses a value of the other type)."""
    key = t.new_tenant()[1]
    register(t, key, "x")
    register(t, key, "tier", "string")
    register(t, key, "vip", "boolean")
    rng = random.Random(3)
    docs = []
    for i in range(300):
        b = i % 3
        a = {"x": round(rng.gauss(0, 1), 6), "tier": ["gold", "silver", "true"][b],
             "vip": b == 1}
        if i % 17 == 0:
            del a["tier"]
        if i % 23 == 0:
            del a["vip"]
        docs.append({"id": "r%03d" % i, "attributes": a})
    import_customers(t, key, docs)
    a = run(t, key, {"features": [{"attr": "x"}, {"attr": "tier"}, {"attr": "vip"}], "k": 3,
                     "scaling": "none"})
    t.eq(a["status"], "succeeded", "succeeded: %s" % a.get("error"))
    res = a["result"]
    t.eq(res["features"], ["x", "tier=gold", "tier=silver", "tier=true", "vip=false",
                           "vip=true"], "one-hot columns")
    t.eq((res["n"], res["excluded"]), (300, 0), "a missing string value leaves no one out")
    items = paged(t, key, "/v1/analyses/%s/customers" % a["id"])
    for c in res["clusters"]:
        p = t.expect_json(t.req("POST", "/v1/segments:preview", {"rule": plain(c["rule"])},
                                key=key), 200)
        hits = float(c["recall"]) * c["size"]
        t.check(abs(p["count"] - hits / float(c["precision"])) < 1e-6,
                "the rule %s of cluster %d matches %s customers, as precision %s and recall "
                "%s say" % (json.dumps(plain(c["rule"])), c["index"], p["count"],
                            c["precision"], c["recall"]))
        members_ = sorted(i["customer_id"] for i in items if i["cluster"] == c["index"])
        t.eq(c["size"], len(members_), "size")


def changes_of(t, key, since=None):
    items, cursor = [], since
    while True:
        page = t.expect_json(t.req("GET", "/v1/changes?limit=1000" + (
            "&since=" + q(cursor) if cursor else ""), key=key), 200)
        items += page["items"]
        if not page["items"]:
            return items
        cursor = page["next_cursor"]


def members(t, key, sid):
    return sorted(m["customer_id"] for m in paged(t, key, "/v1/segments/%s/members" % sid))


def test_kmeans_materialize_static(t):
    rows = blobs(240, 3, 21)
    key = tenant_with(t, rows)
    a = run(t, key, {"features": [{"attr": "x"}, {"attr": "p.y"}], "k": 3})
    t.eq(a["status"], "succeeded", "succeeded: %s" % a.get("error"))
    res = a["result"]
    items = paged(t, key, "/v1/analyses/%s/customers" % a["id"])
    of = {i["customer_id"]: i["cluster"] for i in items}
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "km"}, key=key)
    sch = t.expect_json(r, 201)
    t.eq(sch["pending_jobs"], [], "no refresh to wait for")
    rep = t.expect_json(t.req("GET", "/v1/schemes/%s" % sch["id"], key=key), 200)
    segs = rep["segments"]
    t.eq(len(segs), 3, "a segment per cluster")
    t.eq(rep["mutually_exclusive"] and rep["collectively_exhaustive"], True, "MECE: %s" % rep)
    labels = [c["label"] for c in res["clusters"]]
    names = []
    for j, l in enumerate(labels):
        n = "km: " + l
        c = 2
        while n in names:
            n = "km: %s (%d)" % (l, c)
            c += 1
        names.append(n)
    t.eq([s["name"] for s in segs], names, "named by the labels, repeats numbered")
    for j, s in enumerate(segs):
        doc = t.expect_json(t.req("GET", "/v1/segments/" + s["id"], key=key), 200)
        t.eq((doc["type"], doc["source"], doc["analysis_id"], doc["rule"]),
             ("static", "kmeans", a["id"], None), "a static segment from the analysis")
        t.eq(doc["size"], res["clusters"][j]["size"], "size of %s" % s["name"])
        t.eq(members(t, key, s["id"]), sorted(c for c, v in of.items() if v == j),
             "members of cluster %d" % j)
        h = paged(t, key, "/v1/segments/%s/history" % s["id"])
        t.eq([(p["size"], p["entered"], p["exited"]) for p in h],
             [(0, 0, 0), (doc["size"], doc["size"], 0)], "history of %s" % s["name"])
    ch = changes_of(t, key)
    seg_ids = {s["id"]: j for j, s in enumerate(segs)}
    t.eq(sorted((c["customer_id"], seg_ids[c["segment_id"]]) for c in ch
                if c["segment_id"] in seg_ids and c["change"] == "entered"),
         sorted(of.items()), "each member entered in the feed")
    last = ch[-1]["cursor"]
    # a dynamic segment that refers to the first cluster
    dyn = t.expect_json(t.req("POST", "/v1/segments", {
        "name": "in first", "type": "dynamic", "rule": {"segment": segs[0]["id"]}}, key=key),
        201, 202)
    # move 10 customers of cluster 0 to cluster 1's centre and re-run the analysis
    c1 = res["clusters"][1]["centroid"]
    moved = sorted(c for c, v in of.items() if v == 0)[:10]
    for cid in moved:
        t.expect(t.req("PATCH", "/v1/customers/" + q(cid),
                       {"attributes": plain({"x": c1["x"], "p": {"y": c1["p.y"]}})}, key=key), 200)
    gone = sorted(c for c, v in of.items() if v == 2)[0]
    t.expect(t.req("DELETE", "/v1/customers/" + q(gone), key=key), 204)
    t.check(gone not in members(t, key, segs[2]["id"]), "an erased customer leaves at once")
    # and 37 newcomers (k-means++ then draws other seeds: the engine's own numbering of the
    # clusters changes, the analysis keeps each cluster's index by its nearest centroid)
    extra = [("n%03d" % i, row, b) for i, (_, row, b) in enumerate(blobs(37, 3, 99))]
    import_customers(t, key, [{"id": cid, "attributes": attrs(row)} for cid, row, _ in extra])
    since = changes_of(t, key, last)[-1]["cursor"]
    r = t.req("POST", "/v1/analyses/%s:run" % a["id"], key=key)
    t.expect(r, 202)
    b = wait(t, key, a["id"])
    t.eq(b["status"], "succeeded", "the re-run succeeded: %s" % b.get("error"))
    t.eq(b["runs"], 2, "a second run")
    new = {i["customer_id"]: i["cluster"]
           for i in paged(t, key, "/v1/analyses/%s/customers" % a["id"])}
    t.check(all(new[c] != new[sorted(c for c, v in of.items() if v == 0)[-1]] for c in moved),
            "the moved customers changed cluster")
    for j, s in enumerate(segs):
        t.eq(members(t, key, s["id"]), sorted(c for c, v in new.items() if v == j),
             "after the re-run: members of cluster %d" % j)
        doc = t.expect_json(t.req("GET", "/v1/segments/" + s["id"], key=key), 200)
        t.eq(doc["size"], sum(1 for v in new.values() if v == j), "size after the re-run")
    ch = [c for c in changes_of(t, key, since) if c["segment_id"] in seg_ids]
    want = []
    for cid in sorted(new):
        if cid in of and of[cid] != new[cid]:
            want.append((cid, segs[of[cid]]["id"], "exited"))
        if of.get(cid) != new[cid]:
            want.append((cid, segs[new[cid]]["id"], "entered"))
    t.eq(sorted((c["customer_id"], c["segment_id"], c["change"]) for c in ch), sorted(want),
         "the re-run's enters and exits in the feed")
    t.eq(sorted(c for c, _, ch_ in want if ch_ == "exited"), moved,
         "exactly the moved customers exited: the clusters kept their indices")
    t.eq(sorted(c for c, s_, ch_ in want if ch_ == "entered" and s_ == segs[1]["id"]
                and c in of), moved, "and entered the cluster they moved to")
    t.eq(sum(1 for _, _, ch_ in want if ch_ == "entered"), 10 + 37, "with the newcomers")
    for j, c in enumerate(b["result"]["clusters"]):
        t.check(all(abs(float(c["centroid"][f]) - float(res["clusters"][j]["centroid"][f]))
                    < 1.0 * (1 if f == "x" else 1000) for f in ("x", "p.y")),
                "cluster %d stays where it was: %s vs %s" % (j, c["centroid"],
                                                             res["clusters"][j]["centroid"]))
    h = paged(t, key, "/v1/segments/%s/history" % segs[0]["id"])
    t.eq(len(h), 3, "a history point per run")
    # the dynamic segment that refers to cluster 0 followed
    time.sleep(0.2)
    t.eq(members(t, key, dyn["id"]), members(t, key, segs[0]["id"]),
         "the dynamic segment referring to the first follows")
    # materialising twice, and a kind with no groups still refuses as before
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "km"}, key=key)
    t.problem(r, 409)
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "k2", "x": 1},
              key=key)
    t.check("/x" in t.pointers(t.problem(r, 422)), "an unknown key of the body", r)


def test_kmeans_params(t):
    key = t.new_tenant()[1]
    F = [{"attr": "a"}]
    for params, pointer in [
        ({}, "/params/features"),
        ({"features": []}, "/params/features"),
        ({"features": F, "k": 1}, "/params/k"),
        ({"features": F, "k": 101}, "/params/k"),
        ({"features": F, "k": "some"}, "/params/k"),
        ({"features": F, "k": 3, "k_min": 2}, "/params/k_min"),
        ({"features": F, "k_min": 1}, "/params/k_min"),
        ({"features": F, "k_min": 5, "k_max": 4}, "/params/k_max"),
        ({"features": F, "seed": -1}, "/params/seed"),
        ({"features": F, "n_init": 0}, "/params/n_init"),
        ({"features": F, "max_iter": "x"}, "/params/max_iter"),
        ({"features": F, "scaling": "robust"}, "/params/scaling"),
        ({"features": F, "filter": {"attr": "a", "op": "gtx", "value": 1}}, "/params/filter/op"),
        ({"features": F, "other": 1}, "/params/other"),
        ({"features": [{"attr": "a"}, {"metric": "nope"}]}, "/params/features/1/metric"),
    ]:
        _, r = create(t, key, params, 422)
        p = t.problem(r, 422)
        t.check(pointer in t.pointers(p), "%s: pointer %s in %s" % (params, pointer, p), r)


def test_kmeans_data_problems(t):
    key = t.new_tenant()[1]
    register(t, key, "a")
    register(t, key, "s", "string")
    a = run(t, key, {"features": [{"attr": "a"}], "k": 2})
    t.eq((a["status"], a["error"]["status"]), ("failed", 422), "no customers: %s" % a)
    t.check("no customers" in a["error"]["detail"], a["error"]["detail"])
    import_customers(t, key, [{"id": "c%d" % i, "attributes": {"a": 1, "s": "v%d" % i}}
                              for i in range(3)] + [{"id": "m"}])
    a = run(t, key, {"features": [{"attr": "a"}], "k": 2})
    t.eq((a["status"], a["error"]["status"]), ("failed", 422), "too few distinct points")
    t.check("3 of the 4 customers" in a["error"]["detail"], a["error"]["detail"])
    a = run(t, key, {"features": [{"attr": "a"}, {"attr": "nope"}], "k": 2})
    t.eq(a["error"].get("pointer"), "/params/features/1", "unknown attribute")
    import_customers(t, key, [{"id": "d%03d" % i, "attributes": {"a": i, "s": "w%03d" % i}}
                              for i in range(201)])
    a = run(t, key, {"features": [{"attr": "a"}, {"attr": "s"}], "k": 2})
    t.eq(a["status"], "failed", "too many one-hot columns")
    t.eq(a["error"].get("pointer"), "/params/features/1", "the string feature to blame")
    # an analysis that cannot be materialised before it succeeded
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "x"}, key=key)
    t.check(r.status in (409, 422), "no succeeded run: %s" % r.status, r)

"""Factor analysis (SPEC §6 factor, §6.2; handlers/analysis_factor.c, db/analysis_features.c):
customers with correlated numeric attributes (one at a nested path, some values missing;
customer ids with non-ASCII characters; attribute names are ASCII by the catalogue's rule) imported through the API; the result (eigenvalues, explained, cumulative,
loadings, communalities, labels, KMO, per-feature MSA, Bartlett) and every customer's scores
against a NumPy/SciPy computation of §6.2 run by Debian's /usr/bin/python3 in a subprocess (the
same computation as tests/analytics/test_factor.py: varimax from R's source), within 1e-6; the
CSV export; a filter; the problems of data that cannot support the analysis (no customers,
too few, a constant feature, an unknown or string attribute) and of bad params (422 with
pointers); the memory limit (SEGMENTD_ANALYSIS_MEMORY) refused with the megabytes needed;
materialising: factor_1 .. factor_k as metrics in rules and in the customer document, and a
MECE scheme.
"""
import datetime
import json
import os
import random
import signal
import subprocess
import time
import analyses_common as common
from analyses_common import q, wait, all_customers, register, import_customers, maxdiff

TOL = 1e-6

# The reference of §6.2 (tests/analytics/test_factor.py's), run by Debian's python3: reads
# {"x": rows with null for missing, "names", "n_factors" (0: auto), "rotation"} on stdin.
REFERENCE = r'''
import json, sys
import numpy as np
from scipy import stats

def varimax(x, eps=1e-5):
    nc = x.shape[1]
    if nc < 2:
        return x
    sc = np.sqrt((x ** 2).sum(axis=1))
    x = x / sc[:, None]
    p = x.shape[0]
    tt = np.eye(nc)
    d = 0.0
    for it in range(1, 1001):
        z = x @ tt
        b = x.T @ (z ** 3 - z @ np.diag((z ** 2).sum(axis=0)) / p)
        u, s, vt = np.linalg.svd(b)
        tt = u @ vt
        dpast = d
        d = s.sum()
        if d < dpast * (1 + eps):
            break
    return (x @ tt) * sc[:, None]

def label(load, j, names):
    p = load.shape[0]
    a = np.abs(load)
    cand = [i for i in range(p) if a[i, j] >= 0.4 and a[i, j] >= a[i].max()]
    picked = []
    while cand and len(picked) < 3:
        best = cand[0]
        for i in cand[1:]:
            if a[i, j] > a[best, j] + 1e-9:
                best = i
        picked.append(best)
        cand.remove(best)
    if not picked:
        best = 0
        for i in range(1, p):
            if a[i, j] > a[best, j] + 1e-9:
                best = i
        picked = [best]
    return ", ".join(("-" if load[i, j] < 0 else "") + names[i] for i in picked)

inp = json.load(sys.stdin)
x = np.array([[np.nan if v is None else v for v in row] for row in inp["x"]], dtype=float)
c = x[~np.isnan(x).any(axis=1)]
n, p = c.shape
r = np.corrcoef(c, rowvar=False)
w, v = np.linalg.eigh(r)
w, v = w[::-1], v[:, ::-1]
k = inp["n_factors"] or max(1, int((w > 1).sum()))
load = v[:, :k] * np.sqrt(w[:k])
if inp["rotation"] == "varimax":
    load = varimax(load)
load = load * np.where(load.sum(axis=0) < 0, -1, 1)
ss = (load ** 2).sum(axis=0)
load = load[:, np.argsort(-ss, kind="stable")]
explained = (load ** 2).sum(axis=0) / p
rinv = np.linalg.inv(r)
partial = -rinv / np.sqrt(np.outer(np.diag(rinv), np.diag(rinv)))
off = ~np.eye(p, dtype=bool)
r2, q2 = (r ** 2 * off), (partial ** 2 * off)
chi2 = -(n - 1 - (2 * p + 5) / 6) * np.log(np.linalg.det(r))
df = p * (p - 1) / 2
z = (x - c.mean(axis=0)) / c.std(axis=0, ddof=1)
scores = z @ rinv @ load
out = {"n": int(n), "k": int(k), "eigenvalues": w.tolist(), "loadings": load.tolist(),
       "explained": explained.tolist(), "cumulative": np.cumsum(explained).tolist(),
       "communalities": (load ** 2).sum(axis=1).tolist(),
       "kmo": float(r2.sum() / (r2.sum() + q2.sum())),
       "msa": (r2.sum(axis=1) / (r2.sum(axis=1) + q2.sum(axis=1))).tolist(),
       "chi2": float(chi2), "df": df, "p": float(stats.chi2.sf(chi2, df)),
       "scores": [[None if np.isnan(s) else float(s) for s in row] for row in scores],
       "labels": [label(load, j, inp["names"]) for j in range(k)]}
print(json.dumps(out))
'''


def reference(t, x, names, n_factors=0, rotation="varimax"):
    return common.reference(t, REFERENCE, {"x": x, "names": names, "n_factors": n_factors, "rotation": rotation})


def create(t, key, params, status=202, daemon=None):
    return common.create(t, key, "factor", params, status, daemon)


def run(t, key, params, daemon=None):
    return common.run(t, key, "factor", params, daemon)


# Six features over two latent factors, "p.inc" at a nested path; customer ids with non-ASCII
# characters (the reader keeps them in byte order)
NAMES = ["x1", "groesse", "p.inc", "x4", "x5", "x6"]
LOADINGS = [[.9, 0], [.8, .1], [.7, -.2], [0, .9], [.1, .8], [-.3, .7]]


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


def dataset(n, seed, missing=0.05):
    """[(id, [values or None], group)]: x = f L^T + noise, rounded to 6 decimals."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        f = [rng.gauss(0, 1), rng.gauss(0, 1)]
        row = []
        for j, l in enumerate(LOADINGS):
            v = l[0] * f[0] + l[1] * f[1] + 0.5 * rng.gauss(0, 1)
            if j == 2:
                v = v * 1000 + 50000  # units do not matter to correlations
            v = round(v, 6)
            row.append(None if rng.random() < missing else v)
        rows.append((("c%04d" if i % 5 else "ü%04d-Ω") % i, row, "a" if i % 3 else "b"))
    rows.sort(key=lambda r: r[0].encode())
    return rows


def tenant_with(t, rows):
    key = t.new_tenant()[1]
    for name in NAMES:
        register(t, key, name)
    register(t, key, "group", "string")
    import_customers(t, key, [{"id": cid, "attributes": dict(attrs_of(row), group=g)}
                              for cid, row, g in rows])
    return key


FEATURES = [{"attr": n} for n in NAMES]


def compare(t, key, a, rows, n_factors=0, rotation="varimax", what=""):
    t.eq(a["status"], "succeeded", what + " succeeded: %s" % a.get("error"))
    res = a["result"]
    want = reference(t, [r[1] for r in rows], NAMES, n_factors, rotation)
    k = want["k"]
    t.eq((res["n"], res["n_factors"], res["customers"]), (want["n"], k, len(rows)),
         what + " n, n_factors, customers")
    t.eq(res["features"], NAMES, what + " features")
    t.eq(res["rotation"], rotation, what + " rotation")
    t.check(maxdiff(res["eigenvalues"], want["eigenvalues"]) < TOL, what + " eigenvalues %s %s"
            % (res["eigenvalues"], want["eigenvalues"]))
    loads = [res["loadings"][n] for n in NAMES]
    t.check(maxdiff(loads, want["loadings"]) < TOL, what + " loadings %s %s"
            % (loads, want["loadings"]))
    for key_ in ("explained", "cumulative"):
        t.check(maxdiff(res[key_], want[key_]) < TOL, what + " " + key_)
    t.check(maxdiff([res["communalities"][n] for n in NAMES], want["communalities"]) < TOL,
            what + " communalities")
    t.check(maxdiff([res["msa"][n] for n in NAMES], want["msa"]) < TOL, what + " msa")
    t.check(abs(float(res["kmo"]) - want["kmo"]) < TOL, what + " kmo")
    b = res["bartlett"]
    t.check(abs(float(b["chi2"]) - want["chi2"]) <= TOL * want["chi2"], what + " chi2")
    t.eq(float(b["df"]), want["df"], what + " df")
    t.check(abs(float(b["p"]) - want["p"]) <= TOL * max(want["p"], 1e-300), what + " p")
    t.eq([f["index"] for f in res["factors"]], list(range(1, k + 1)), what + " factor indexes")
    t.eq([f["label"] for f in res["factors"]], want["labels"], what + " labels")
    t.check(maxdiff([f["explained"] for f in res["factors"]], want["explained"]) < TOL,
            what + " factors' explained")
    t.eq(res["missing"], {n: sum(1 for r in rows if r[1][j] is None)
                          for j, n in enumerate(NAMES)}, what + " missing per feature")
    t.eq(res["excluded"], len(rows) - want["n"], what + " excluded")
    # every customer's scores
    items = all_customers(t, key, a["id"])
    t.eq([i["customer_id"] for i in items], [r[0] for r in rows], what + " customers, in order")
    got = [[i.get("factor_%d" % (j + 1)) for j in range(k)] for i in items]
    t.check(maxdiff(got, want["scores"]) < TOL, what + " scores (max diff %g)"
            % maxdiff(got, want["scores"]))
    t.check(all(set(i) == {"customer_id"} | {"factor_%d" % (j + 1) for j in range(k)}
                for i in items), what + " each customer's keys: %s" % (items[:1],))
    return want


def test_factor_against_numpy(t):
    rows = dataset(400, 9)
    key = tenant_with(t, rows)
    a = run(t, key, {"features": FEATURES})
    t.eq(a["params"], {"features": FEATURES, "n_factors": "auto", "rotation": "varimax",
                       "filter": None}, "defaults filled in")
    want = compare(t, key, a, rows, what="auto, varimax:")
    t.eq(want["k"], 2, "the reference finds two factors")
    # the CSV export has factor_1 .. factor_k
    r = t.req("GET", "/v1/analyses/%s/customers" % a["id"], key=key,
              headers={"Accept": "text/csv"})
    t.expect(r, 200)
    lines = r.body.decode().splitlines()
    t.eq(lines[0], "customer_id,factor_1,factor_2", "CSV header")
    t.eq(len(lines), len(rows) + 1, "CSV rows")
    first = lines[1].split(",")
    t.check(first[0] == rows[0][0] and (
        (want["scores"][0][0] is None and first[1] == "") or
        abs(float(first[1]) - want["scores"][0][0]) < TOL), "CSV row %s" % lines[1])
    # three factors without rotation, and one
    compare(t, key, run(t, key, {"features": FEATURES, "n_factors": 3, "rotation": "none"}),
            rows, 3, "none", "three, none:")
    compare(t, key, run(t, key, {"features": FEATURES, "n_factors": 1}), rows, 1, "varimax",
            "one factor:")


def test_factor_filter(t):
    rows = dataset(300, 11)
    key = tenant_with(t, rows)
    a = run(t, key, {"features": FEATURES, "n_factors": 2,
                     "filter": {"attr": "group", "op": "eq", "value": "a"}})
    compare(t, key, a, [r for r in rows if r[2] == "a"], 2, what="filtered:")
    a = run(t, key, {"features": FEATURES,
                     "filter": {"attr": "group", "op": "eq", "value": "nobody"}})
    t.eq(a["status"], "failed", "a filter matching no one fails")
    t.check("matches no customer" in a["error"]["detail"], "says so: %s" % a["error"])


def problem_of(t, key, params, what):
    a = run(t, key, params)
    t.eq(a["status"], "failed", what + " fails: %s" % a)
    e = a.get("error") or {}
    t.eq(e.get("status"), 422, what + ": a 422 problem %s" % e)
    t.eq(e.get("type"), "urn:segmentd:problem:analysis-not-possible", what + " type")
    return e


def test_factor_data_problems(t):
    key = t.new_tenant()[1]
    for name in ("a", "b", "c", "d", "s"):
        register(t, key, name, "string" if name == "s" else "number")
    feats = [{"attr": "a"}, {"attr": "b"}, {"attr": "c"}]
    e = problem_of(t, key, {"features": feats}, "no customers")
    t.check("no customers" in e["detail"], e["detail"])
    import_customers(t, key, [{"id": "k%d" % i, "attributes": {
        "a": i, "b": i * i % 7, "c": 2 * i + 1, "d": 5, "s": "x"}} for i in range(3)])
    e = problem_of(t, key, {"features": feats}, "too few customers")
    t.check("3 of the 3 customers" in e["detail"], e["detail"])
    import_customers(t, key, [{"id": "m%d" % i, "attributes": {
        "a": i, "b": (i * 7) % 5, "c": i * i % 11, "d": 5}} for i in range(20)])
    e = problem_of(t, key, {"features": [{"attr": "a"}, {"attr": "b"}, {"attr": "d"}]},
                   "a constant feature")
    t.check("constant" in e["detail"] or "same value" in e["detail"], e["detail"])
    t.check('"d"' in e["detail"], e["detail"])
    e = problem_of(t, key, {"features": [{"attr": "a"}, {"attr": "nope"}]}, "unknown attribute")
    t.eq(e.get("pointer"), "/params/features/1", "its pointer")
    t.check("catalogue" in e["detail"], e["detail"])
    e = problem_of(t, key, {"features": [{"attr": "a"}, {"attr": "s"}]}, "a string attribute")
    t.eq(e.get("pointer"), "/params/features/1", "its pointer")
    e = problem_of(t, key, {"features": [{"attr": "a"}, {"metric": "clv"}]}, "all missing")
    t.check("0 of the 23 customers" in e["detail"], e["detail"])
    # a filter on an attribute registered since as another type is false, not an error:
    # nobody matches
    e = problem_of(t, key, {"features": feats, "filter": {"attr": "a", "op": "eq",
                                                          "value": "x"}}, "filter")


def test_factor_params(t):
    key = t.new_tenant()[1]
    for params, pointer in [
        ({}, "/params/features"),
        ({"features": [{"attr": "a"}]}, "/params/features"),
        ({"features": [{"attr": "a"}, {"metric": "nope"}]}, "/params/features/1/metric"),
        ({"features": [{"attr": "a"}, {"metric": "last_purchase_at"}]},
         "/params/features/1/metric"),
        ({"features": [{"attr": "a"}, {"metric": "abc_class"}]}, "/params/features/1/metric"),
        ({"features": [{"attr": "a"}, {"attr": "a"}]}, "/params/features/1/attr"),
        ({"features": [{"attr": "a"}, {"attr": "b", "x": 1}]}, "/params/features/1"),
        ({"features": [{"attr": "a"}, 3]}, "/params/features/1"),
        ({"features": [{"attr": "a"}, {"attr": "b"}], "n_factors": 3}, "/params/n_factors"),
        ({"features": [{"attr": "a"}, {"attr": "b"}], "n_factors": 0}, "/params/n_factors"),
        ({"features": [{"attr": "a"}, {"attr": "b"}], "n_factors": "some"}, "/params/n_factors"),
        ({"features": [{"attr": "a"}, {"attr": "b"}], "rotation": "promax"}, "/params/rotation"),
        ({"features": [{"attr": "a"}, {"attr": "b"}], "filter": {"attr": "a", "op": "gtx",
                                                               "value": 1}},
         "/params/filter/op"),
        ({"features": [{"attr": "a"}, {"attr": "b"}], "other": 1}, "/params/other"),
        ({"features": [{"metric": "factor_%d" % i} for i in range(1, 102)]}, "/params/features"),
    ]:
        _, r = create(t, key, params, 422)
        p = t.problem(r, 422)
        t.check(pointer in t.pointers(p), "%s: pointer %s in %s" % (params, pointer, p), r)
    # metrics are features: factor_n, clv, recency_days
    create(t, key, {"features": [{"metric": "factor_2"}, {"metric": "recency_days"},
                                 {"metric": "clv"}]})


def test_factor_memory_limit(t):
    """A second daemon with SEGMENTD_ANALYSIS_MEMORY=1 (MB) takes the job (the first one is
    stopped meanwhile): 700 customers by 100 features would need about 1.1 MB."""
    key = t.new_tenant()[1]
    import_customers(t, key, [{"id": "z%04d" % i} for i in range(700)])
    d = t.start_daemon(["--workers", "1"], "factor-memory", env={"SEGMENTD_ANALYSIS_MEMORY": "1"})
    main = t.daemon.proc.pid
    os.kill(main, signal.SIGSTOP)
    try:
        a = run(t, key, {"features": [{"metric": "factor_%d" % i} for i in range(1, 101)]},
                daemon=d)
    finally:
        os.kill(main, signal.SIGCONT)
        t.stop_daemon(d)
    t.eq(a["status"], "failed", "refused: %s" % a)
    e = a.get("error") or {}
    t.eq(e.get("status"), 422, "a 422 problem")
    t.check("700 customers by 100 features would need about 2 MB" in e.get("detail", "") and
            "limit of 1 MB" in e.get("detail", ""), "how much it would need: %s" % e)


def test_factor_materialize(t):
    rows = dataset(200, 13, missing=0.03)
    key = tenant_with(t, rows)
    a = run(t, key, {"features": FEATURES, "n_factors": 2})
    want = compare(t, key, a, rows, 2, what="materialised:")
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "fac"}, key=key)
    sch = t.expect_json(r, 201)
    rep = t.expect_json(t.req("GET", "/v1/schemes/%s" % sch["id"], key=key), 200)
    t.eq(len(rep["segments"]), 3, "a segment per factor and the rest")
    t.check(rep["segments"][0]["name"].startswith("fac: Factor 1: "), rep["segments"][0]["name"])
    t.eq(rep["segments"][2]["name"], "fac: No factor above average", "the rest")
    t.eq(rep["mutually_exclusive"] and rep["collectively_exhaustive"], True, "MECE: %s" % rep)
    s = want["scores"]
    first = [i for i, v in enumerate(s) if v[0] is not None and v[0] > 0]
    second = [i for i, v in enumerate(s) if v[0] is not None and v[0] <= 0 and v[1] > 0]
    t.eq([seg["size"] for seg in rep["segments"]],
         [len(first), len(second), len(rows) - len(first) - len(second)], "sizes")
    # factor_1 in a rule
    p = t.expect_json(t.req("POST", "/v1/segments:preview",
                            {"rule": {"metric": "factor_1", "op": "gt", "value": 0.5}}, key=key),
                      200)
    t.eq(p["count"], sum(1 for v in s if v[0] is not None and v[0] > 0.5), "factor_1 > 0.5")
    p = t.expect_json(t.req("POST", "/v1/segments:preview",
                            {"rule": {"not": {"metric": "factor_2", "op": "exists"}}}, key=key),
                      200)
    t.eq(p["count"], sum(1 for v in s if v[1] is None), "customers without factor_2")
    # the customer document
    i = next(i for i, v in enumerate(s) if v[0] is not None)
    c = t.expect_json(t.req("GET", "/v1/customers/" + q(rows[i][0]), key=key), 200)
    t.check(abs(float(c["metrics"]["factor_1"]) - s[i][0]) < TOL and
            abs(float(c["metrics"]["factor_2"]) - s[i][1]) < TOL, "factor_1, factor_2 in %s"
            % c["metrics"])
    j = next(i for i, v in enumerate(s) if v[0] is None)
    c = t.expect_json(t.req("GET", "/v1/customers/" + q(rows[j][0]), key=key), 200)
    t.check("factor_1" not in c["metrics"], "no factor_1 without scores: %s" % c["metrics"])
    # a re-run of the metric source updates the metrics: a customer without scores gets some
    cid = rows[j][0]
    full = dict(attrs_of([1.0, 0.5, 50100.0, -0.5, 0.2, 0.1]), group="a")
    t.expect(t.req("PUT", "/v1/customers/" + q(cid), {"attributes": full}, key=key), 200)
    t.expect(t.req("POST", "/v1/analyses/%s:run" % a["id"], key=key), 202)
    deadline = time.time() + 60
    a2 = wait(t, key, a["id"])
    while a2["runs"] < 2 and time.time() < deadline:
        time.sleep(0.05)
        a2 = wait(t, key, a["id"])
    t.eq((a2["status"], a2["runs"]), ("succeeded", 2), "the second run")
    mine = [i for i in all_customers(t, key, a["id"]) if i["customer_id"] == cid][0]
    c = t.expect_json(t.req("GET", "/v1/customers/" + q(cid), key=key), 200)
    t.check(mine["factor_1"] is not None and
            abs(float(c["metrics"].get("factor_1", "nan")) - float(mine["factor_1"])) < 1e-12,
            "the re-run's scores in the metrics: %s vs %s" % (c["metrics"], mine))
    # factor_1 as a feature of the next analysis (the classic two-step)
    b = run(t, key, {"features": [{"metric": "factor_1"}, {"metric": "factor_2"},
                                  {"attr": "x1"}], "n_factors": 1})
    t.eq(b["status"], "succeeded", "factors as features: %s" % b.get("error"))
    # deleting the metric source empties factors
    t.expect(t.req("DELETE", "/v1/analyses/%s?force=true" % a["id"], key=key), 204)
    c = t.expect_json(t.req("GET", "/v1/customers/" + q(rows[i][0]), key=key), 200)
    t.check("factor_1" not in c["metrics"], "factor_1 gone with its source: %s" % c["metrics"])


def test_feature_reader_db_level(t):
    """tests/db/features.c (built as BUILD/tests/db_features): the reader's edges and stores
    written through COPY; its TAP lines become one test here."""
    binary = os.path.join(os.path.dirname(t.binary), "tests", "db_features")
    if not os.path.exists(binary):
        raise t.Skip("%s not built" % binary)
    p = subprocess.run([binary], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=t.env,
                       timeout=600)
    out = p.stdout.decode("utf-8", "replace")
    failed = [line for line in out.splitlines() if line.startswith("not ok")]
    t.check(p.returncode == 0 and not failed and "1.." in out,
            "db_features exited %d:\n%s\n%s" % (p.returncode, "\n".join(failed) or out[-3000:],
                                                p.stderr.decode("utf-8", "replace")[-2000:]))

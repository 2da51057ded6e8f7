"""Schemes (SPEC §5.5): CRUD and every error status; the report's every number checked against
an independent computation with Python sets (overlapping, disjoint, empty, shadowed segments, a
fallback, no customer, one customer); warnings; assignments as pages and as CSV; snapshots
(stored compactly, at :snapshot and after a segment's full refresh) and the transition matrix
of a scheme whose segments change between snapshots; deleting a segment that a scheme uses."""
import csv
import io
import json
import time
import urllib.parse


def q(s):
    return urllib.parse.quote(s, safe="")


def kpath(kid, rest=""):
    return "/v1/schemes/" + q(str(kid)) + rest


def tenant(t):
    return t.new_tenant()[1]


def put_customers(t, key, ids, attrs=None):
    lines = "".join(json.dumps({"id": i, "attributes": (attrs or {}).get(i, {})}) + "\n"
                    for i in ids)
    r = t.req("POST", "/v1/customers:import", raw_body=lines, ctype="application/x-ndjson",
              key=key)
    t.expect_json(r, 200)


def static(t, key, ids=(), name=None):
    s = t.expect_json(t.req("POST", "/v1/segments", {"name": name or t.uid("seg"),
                                                     "type": "static"}, key=key), 201)
    if ids:
        r = t.req("POST", "/v1/segments/%s/members" % s["id"], {"customer_ids": list(ids)},
                  key=key)
        t.expect_json(r, 200)
    return s


def add(t, key, sid, ids):
    t.expect_json(t.req("POST", "/v1/segments/%s/members" % sid, {"customer_ids": list(ids)},
                        key=key), 200)


def remove(t, key, sid, cid):
    t.expect(t.req("DELETE", "/v1/segments/%s/members/%s" % (sid, q(cid)), key=key), 204)


def create(t, key, body, status=201):
    r = t.req("POST", "/v1/schemes", body, key=key)
    return t.expect_json(r, status), r


def expected(customers, segs, min_size=1, fallback=None):
    """The report computed independently: customers a set of ids, segs [(id, name, set)]."""
    n = len(customers)
    assigned_to = {}
    for c in customers:
        for sid, _, members in segs:
            if c in members:
                assigned_to[c] = sid
                break
    rows = []
    for sid, name, members in segs:
        a = sum(1 for c in customers if assigned_to.get(c) == sid)
        rows.append({"id": sid, "name": name, "size": len(members & customers), "assigned": a,
                     "share": (a / n) if n else 0})
    union = set().union(*[m for _, _, m in segs]) & customers if segs else set()
    unassigned = n - len(union)
    overlapping = sum(1 for c in customers if sum(1 for _, _, m in segs if c in m) >= 2)
    overlaps = []
    for i in range(len(segs)):
        for j in range(i + 1, len(segs)):
            k = len(segs[i][2] & segs[j][2] & customers)
            if k:
                overlaps.append({"a": segs[i][0], "b": segs[j][0], "count": k})
    codes = []
    if len(segs) < 3 or len(segs) > 8:
        codes.append(("segment_count", None))
    for row in rows:
        if row["size"] == 0:
            codes.append(("empty", row["id"]))
        elif row["assigned"] == 0:
            codes.append(("shadowed", row["id"]))
        elif row["assigned"] < min_size:
            codes.append(("below_min_size", row["id"]))
    if overlapping:
        codes.append(("overlapping", None))
    if unassigned and fallback is None:
        codes.append(("unassigned", None))
    elif unassigned and unassigned > max([r["assigned"] for r in rows] + [0]):
        codes.append(("fallback_largest", None))
    return {"segments": rows, "customers": n, "unassigned": unassigned,
            "coverage": (1 - unassigned / n) if n else 0, "overlapping_customers": overlapping,
            "overlaps": overlaps, "mutually_exclusive": overlapping == 0,
            "collectively_exhaustive": unassigned == 0, "codes": codes,
            "assignment": {c: assigned_to.get(c) for c in customers}}


def check_report(t, rep, exp, what, r=None):
    for k in ("customers", "unassigned", "overlapping_customers", "overlaps",
              "mutually_exclusive", "collectively_exhaustive"):
        t.eq(rep.get(k), exp[k], "%s: %s" % (what, k), r)
    t.check(abs(float(rep["coverage"]) - exp["coverage"]) < 1e-12,
            "%s: coverage %s, expected %s" % (what, rep["coverage"], exp["coverage"]), r)
    t.eq(len(rep["segments"]), len(exp["segments"]), "%s: segment rows" % what, r)
    for got, want in zip(rep["segments"], exp["segments"]):
        for k in ("id", "name", "size", "assigned"):
            t.eq(got.get(k), want[k], "%s: segment %s %s" % (what, want["name"], k), r)
        t.check(abs(float(got["share"]) - want["share"]) < 1e-12,
                "%s: share of %s" % (what, want["name"]), r)
    codes = [(w.get("code"), w.get("segment_id")) for w in rep["warnings"]]
    t.eq(codes, exp["codes"], "%s: warnings" % what, r)
    for w in rep["warnings"]:
        t.check(isinstance(w.get("detail"), str) and len(w["detail"]) > 20,
                "%s: each warning says what to fix" % what, r)


def all_pages(t, key, url, limit):
    items, cursor = [], None
    for _ in range(100000):
        u = url + ("&" if "?" in url else "?") + "limit=%d" % limit
        if cursor:
            u += "&cursor=" + q(cursor)
        d = t.expect_json(t.req("GET", u, key=key), 200)
        t.check(len(d["items"]) <= limit, "a page holds at most limit items", None)
        items += d["items"]
        cursor = d["next_cursor"]
        if not cursor:
            return items
    t.fail("pagination did not end")


def test_scheme_crud_and_errors(t):
    key = tenant(t)
    other = tenant(t)
    put_customers(t, key, ["a", "b", "c"])
    s1, s2, s3 = (static(t, key, ids) for ids in (["a"], ["b"], ["c"]))
    foreign = static(t, other, [])
    name = t.uid("scheme")
    k, r = create(t, key, {"name": name, "segments": [s1["id"], s2["id"], s3["id"]],
                           "fallback": "Other", "min_segment_size": 1})
    t.eq(r.header("location"), "/v1/schemes/" + k["id"], "Location", r)
    t.check(k["id"].isdigit(), "id is a string of digits", r)
    for f, v in (("name", name), ("fallback", "Other"), ("min_segment_size", 1),
                 ("customers", 3), ("unassigned", 0), ("mutually_exclusive", True),
                 ("collectively_exhaustive", True), ("warnings", [])):
        t.eq(k.get(f), v, f, r)
    t.eq([s["id"] for s in k["segments"]], [s1["id"], s2["id"], s3["id"]], "order", r)
    g = t.expect_json(t.req("GET", kpath(k["id"]), key=key), 200)
    t.eq(g, k, "GET returns what POST did")

    # defaults: no fallback, min_segment_size 1
    k2, _ = create(t, key, {"name": t.uid("scheme"), "segments": [s3["id"]]})
    t.eq((k2["fallback"], k2["min_segment_size"]), (None, 1), "defaults")

    # list: definitions, by id, paged
    items = all_pages(t, key, "/v1/schemes", 1)
    t.eq([i["id"] for i in items], [k["id"], k2["id"]], "list order")
    t.eq(items[0]["segments"], [{"id": s["id"], "name": s["name"]} for s in (s1, s2, s3)],
         "list item segments")
    t.eq(items[0]["fallback"], "Other", "list item fallback")
    t.problem(t.req("GET", "/v1/schemes?cursor=" + q("bm90LWEta2V5"), key=key), 400)
    t.problem(t.req("GET", "/v1/schemes?limit=0", key=key), 400)

    # PATCH: rename, reorder + remove + add, fallback, min size; absent members unchanged
    r = t.req("PATCH", kpath(k["id"]), {"name": name + "-2"}, key=key,
              ctype="application/merge-patch+json")
    p = t.expect_json(r, 200)
    t.eq((p["name"], p["fallback"], len(p["segments"])), (name + "-2", "Other", 3), "rename", r)
    s4 = static(t, key, ["a", "b"])
    r = t.req("PATCH", kpath(k["id"]), {"segments": [s4["id"], s3["id"], s1["id"]],
                                        "fallback": None, "min_segment_size": 2}, key=key)
    p = t.expect_json(r, 200)
    t.eq([s["id"] for s in p["segments"]], [s4["id"], s3["id"], s1["id"]], "reordered", r)
    t.eq((p["fallback"], p["min_segment_size"]), (None, 2), "fallback removed, min size", r)
    t.check(p["updated_at"] >= k["updated_at"], "updated_at moves", r)

    # 409: a name taken, by create and by patch
    t.problem(t.req("POST", "/v1/schemes", {"name": k2["name"], "segments": [s1["id"]]},
                    key=key), 409)
    p409 = t.problem(t.req("PATCH", kpath(k["id"]), {"name": k2["name"]}, key=key), 409)
    t.check("/name" in t.pointers(p409), "409 points at /name", None)

    # 422 with pointers
    cases = [
        ({"segments": [s1["id"]]}, "/name"),
        ({"name": "", "segments": [s1["id"]]}, "/name"),
        ({"name": 5, "segments": [s1["id"]]}, "/name"),
        ({"name": "x\u0001y", "segments": [s1["id"]]}, "/name"),
        ({"name": t.uid("k")}, "/segments"),
        ({"name": t.uid("k"), "segments": []}, "/segments"),
        ({"name": t.uid("k"), "segments": s1["id"]}, "/segments"),
        ({"name": t.uid("k"), "segments": [str(i + 1) for i in range(65)]}, "/segments"),
        ({"name": t.uid("k"), "segments": [s1["id"], "abc"]}, "/segments/1"),
        ({"name": t.uid("k"), "segments": [s1["id"], "999999999"]}, "/segments/1"),
        ({"name": t.uid("k"), "segments": [foreign["id"]]}, "/segments/0"),
        ({"name": t.uid("k"), "segments": [s1["id"], s2["id"], s1["id"]]}, "/segments/2"),
        ({"name": t.uid("k"), "segments": [s1["id"]], "fallback": ""}, "/fallback"),
        ({"name": t.uid("k"), "segments": [s1["id"]], "fallback": 3}, "/fallback"),
        ({"name": t.uid("k"), "segments": [s1["id"]], "min_segment_size": -1},
         "/min_segment_size"),
        ({"name": t.uid("k"), "segments": [s1["id"]], "min_segment_size": 1.5},
         "/min_segment_size"),
        ({"name": t.uid("k"), "segments": [s1["id"]], "colour": "red"}, "/colour"),
    ]
    for body, ptr in cases:
        r = t.req("POST", "/v1/schemes", body, key=key)
        t.check(ptr in t.pointers(t.problem(r, 422)), "pointer %s for %r" % (ptr, body), r)
    r = t.req("PATCH", kpath(k["id"]), {"segments": [s1["id"], "888888888"]}, key=key)
    t.check("/segments/1" in t.pointers(t.problem(r, 422)), "patch unknown segment", r)
    r = t.req("PATCH", kpath(k["id"]), {"segments": [s1["id"], s1["id"]]}, key=key)
    t.check("/segments/1" in t.pointers(t.problem(r, 422)), "patch duplicate segment", r)
    t.problem(t.req("PATCH", kpath(k["id"]), [1], key=key), 422)
    # nothing was changed by the refused patches
    g = t.expect_json(t.req("GET", kpath(k["id"]), key=key), 200)
    t.eq([s["id"] for s in g["segments"]], [s4["id"], s3["id"], s1["id"]], "unchanged", None)

    # 400, 404, 403, 415
    t.problem(t.req("POST", "/v1/schemes", raw_body="{nope", ctype="application/json",
                    key=key), 400)
    t.problem(t.req("GET", kpath(k["id"], "?x=1"), key=key), 400)
    for path in (kpath("999999999"), kpath("abc"), kpath(k["id"])):
        kk = other if path == kpath(k["id"]) else key
        t.problem(t.req("GET", path, key=kk), 404)
        t.problem(t.req("PATCH", path, {"name": "z"}, key=kk), 404)
        t.problem(t.req("DELETE", path, key=kk), 404)
        t.problem(t.req("GET", path + "/assignments", key=kk), 404)
        t.problem(t.req("POST", path + ":snapshot", key=kk), 404)
        t.problem(t.req("GET", path + "/snapshots", key=kk), 404)
        t.problem(t.req("GET", path + "/transitions?from=2026-01-01T00:00:00Z", key=kk), 404)
    tname = "t-%s" % t.uid("ro")
    ro = t.create_key(tname, "read")
    t.problem(t.req("POST", "/v1/schemes", {"name": "x", "segments": ["1"]}, key=ro), 403)
    t.problem(t.req("POST", "/v1/schemes", raw_body="name=x", ctype="text/plain", key=key), 415)
    t.problem(t.req("PUT", kpath(k["id"]), {"name": "x"}, key=key), 405)

    # DELETE: 204, then gone; its snapshots with it
    t.expect_json(t.req("POST", kpath(k2["id"], ":snapshot"), key=key), 201)
    t.expect(t.req("DELETE", kpath(k2["id"]), key=key), 204)
    t.problem(t.req("GET", kpath(k2["id"]), key=key), 404)
    t.problem(t.req("GET", kpath(k2["id"], "/snapshots"), key=key), 404)


def test_report_numbers(t):
    key = tenant(t)
    ids = ["c%02d" % i for i in range(40)]
    put_customers(t, key, ids)
    A = set(ids[0:15])
    B = set(ids[10:25])          # overlaps A on c10..c14
    C = set(ids[30:34])          # disjoint from the others
    D = set()                    # empty
    E = set(ids[2:6])            # inside A: shadowed when below it
    F = set(ids[20:23])          # inside B's own part: 3 members, all shadowed by B
    G = set(ids[34:36]) | {"c01"}  # 2 of its own, below min_segment_size 3
    sets = {"A": A, "B": B, "C": C, "D": D, "E": E, "F": F, "G": G}
    segs = {n: static(t, key, sorted(m), name=t.uid(n)) for n, m in sets.items()}
    order = ["A", "B", "C", "D", "E", "F", "G"]

    def spec(names):
        return [(segs[n]["id"], segs[n]["name"], sets[n]) for n in names]

    body = {"name": t.uid("k"), "segments": [segs[n]["id"] for n in order], "min_segment_size": 3}
    rep, r = create(t, key, body)
    exp = expected(set(ids), spec(order), 3)
    check_report(t, rep, exp, "seven segments", r)
    t.eq(rep["overlapping_customers"], 5 + 4 + 3 + 1, "overlapping by hand", r)
    t.eq(rep["unassigned"], 9, "unassigned by hand (c25..c29, c36..c39)", r)
    shadow = [w for w in rep["warnings"] if w["code"] == "shadowed"]
    t.check(segs["A"]["name"] in shadow[0]["detail"], "the shadowed warning names A", r)
    t.check(segs["B"]["name"] in shadow[1]["detail"], "the shadowed warning names B", r)

    # a fallback; and E moved to the top (no longer shadowed: A's members in E go to E)
    order2 = ["E", "A", "B", "C", "D", "F", "G"]
    r = t.req("PATCH", kpath(rep["id"]), {"segments": [segs[n]["id"] for n in order2],
                                          "fallback": "Other", "min_segment_size": 1}, key=key)
    rep2 = t.expect_json(r, 200)
    check_report(t, rep2, expected(set(ids), spec(order2), 1, "Other"), "with fallback", r)

    # disjoint and exhaustive: MECE, no warning but the count
    ids3 = [t.uid("m") for _ in range(7)]
    put_customers(t, key, ids3)
    X = set(ids3[:3])
    Y = set(ids3[3:5])
    Z = set(ids)
    rest = set(ids3[5:])
    xs, ys, zs, ws = (static(t, key, sorted(m)) for m in (X, Y, Z, rest))
    rep3, r = create(t, key, {"name": t.uid("k"), "segments": [xs["id"], ys["id"], zs["id"],
                                                                ws["id"]]})
    allc = set(ids) | set(ids3)
    exp3 = expected(allc, [(xs["id"], xs["name"], X), (ys["id"], ys["name"], Y),
                           (zs["id"], zs["name"], Z), (ws["id"], ws["name"], rest)])
    check_report(t, rep3, exp3, "MECE", r)
    t.eq((rep3["mutually_exclusive"], rep3["collectively_exhaustive"], rep3["warnings"]),
         (True, True, []), "MECE and no warning", r)

    # a customer deleted is simply no longer assigned; a new one is unassigned
    t.expect(t.req("DELETE", "/v1/customers/" + ids3[0], key=key), 204)
    put_customers(t, key, ["zz-new"])
    X.discard(ids3[0])
    allc = (allc - {ids3[0]}) | {"zz-new"}
    g = t.expect_json(t.req("GET", kpath(rep3["id"]), key=key), 200)
    exp3 = expected(allc, [(xs["id"], xs["name"], X), (ys["id"], ys["name"], Y),
                           (zs["id"], zs["name"], Z), (ws["id"], ws["name"], rest)])
    check_report(t, g, exp3, "after a delete and a create", None)

    # more than 8 segments
    many = [static(t, key, [ids[i]]) for i in range(9)]
    rep4, r = create(t, key, {"name": t.uid("k"), "segments": [s["id"] for s in many],
                              "fallback": "Rest"})
    check_report(t, rep4, expected(allc, [(s["id"], s["name"], {ids[i]})
                                          for i, s in enumerate(many)], 1, "Rest"), "nine", r)


def test_report_edge_cases(t):
    # no customer at all
    key = tenant(t)
    e1, e2 = static(t, key), static(t, key)
    rep, r = create(t, key, {"name": t.uid("k"), "segments": [e1["id"], e2["id"]]})
    check_report(t, rep, expected(set(), [(e1["id"], e1["name"], set()),
                                          (e2["id"], e2["name"], set())]), "no customer", r)
    t.eq((rep["coverage"], rep["segments"][0]["share"]), (0, 0), "0 without customers", r)
    # one customer, in two of three segments
    key = tenant(t)
    put_customers(t, key, ["only"])
    a, b, c = static(t, key, ["only"]), static(t, key, ["only"]), static(t, key)
    rep, r = create(t, key, {"name": t.uid("k"), "segments": [a["id"], b["id"], c["id"]],
                             "fallback": "Other"})
    check_report(t, rep, expected({"only"}, [(a["id"], a["name"], {"only"}),
                                             (b["id"], b["name"], {"only"}),
                                             (c["id"], c["name"], set())], 1, "Other"),
                 "one customer", r)
    t.eq(rep["overlaps"], [{"a": a["id"], "b": b["id"], "count": 1}], "the one overlap", r)
    t.eq(rep["segments"][0]["share"], 1, "all of it", r)
    # a dynamic segment: the report reflects the segment as it is when read
    put_customers(t, key, ["d1", "d2"], {"d1": {"tier": "gold"}, "d2": {"tier": "silver"}})
    dyn = t.expect_json(t.req("POST", "/v1/segments", {
        "name": t.uid("dyn"), "type": "dynamic",
        "rule": {"attr": "tier", "op": "eq", "value": "gold"}}, key=key), 201)
    rep, r = create(t, key, {"name": t.uid("k"), "segments": [dyn["id"], a["id"]]})
    t.eq([s["assigned"] for s in rep["segments"]], [1, 1], "gold and only", r)
    t.expect_json(t.req("PATCH", "/v1/customers/d2", {"attributes": {"tier": "gold"}},
                        key=key), 200)
    g = t.expect_json(t.req("GET", kpath(rep["id"]), key=key), 200)
    t.eq([s["assigned"] for s in g["segments"]], [2, 1], "after d2 became gold", None)
    t.eq(g["unassigned"], 0, "none unassigned", None)


def test_assignments_pages_and_csv(t):
    key = tenant(t)
    ids = ["p%03d" % i for i in range(53)] + ['q,"x"', "q\u00e9"]
    put_customers(t, key, ids)
    A = set(ids[0:20])
    B = set(ids[15:40])
    a, b = static(t, key, sorted(A), name="Alpha, \"the first\""), static(t, key, sorted(B))
    rep, _ = create(t, key, {"name": t.uid("k"), "segments": [b["id"], a["id"]],
                             "fallback": "Other"})
    exp = expected(set(ids), [(b["id"], b["name"], B), (a["id"], a["name"], A)])["assignment"]
    names = {a["id"]: a["name"], b["id"]: b["name"]}
    items = all_pages(t, key, kpath(rep["id"], "/assignments"), 7)
    t.eq([i["customer_id"] for i in items], sorted(ids, key=lambda s: s.encode()),
         "every customer, by id in byte order")
    for i in items:
        want = exp[i["customer_id"]]
        t.eq(i["segment_id"], want, "segment of %s" % i["customer_id"])
        t.eq(i["segment"], names[want] if want else "Other", "name of %s" % i["customer_id"])
    d = t.expect_json(t.req("GET", kpath(rep["id"], "/assignments"), key=key), 200)
    t.eq(len(d["items"]), 55, "default limit 100 holds them all")
    t.eq(d["next_cursor"], None, "no next page")
    t.problem(t.req("GET", kpath(rep["id"], "/assignments?limit=1001"), key=key), 400)
    t.problem(t.req("GET", kpath(rep["id"], "/assignments?cursor=%%%%"), key=key), 400)

    r = t.req("GET", kpath(rep["id"], "/assignments"), key=key, headers={"Accept": "text/csv"})
    t.expect(r, 200)
    t.check(r.header("content-type").startswith("text/csv"), "CSV content type", r)
    t.check("scheme-%s.csv" % rep["id"] in (r.header("content-disposition") or ""),
            "a file name", r)
    rows = list(csv.reader(io.StringIO(r.body.decode("utf-8"), newline="")))
    t.eq(rows[0], ["customer_id", "segment_id", "segment"], "CSV header", r)
    got = {row[0]: (row[1], row[2]) for row in rows[1:]}
    t.eq(len(rows) - 1, len(ids), "one line per customer", r)
    for c in ids:
        want = exp[c]
        t.eq(got[c], (want or "", names[want] if want else "Other"), "CSV line of %s" % c, r)
    # without a fallback, the unassigned have no segment name
    t.expect_json(t.req("PATCH", kpath(rep["id"]), {"fallback": None}, key=key), 200)
    items = all_pages(t, key, kpath(rep["id"], "/assignments"), 100)
    t.check(all(i["segment"] is None for i in items if i["segment_id"] is None),
            "no name without a fallback", None)
    r = t.req("GET", kpath("999999999", "/assignments"), key=key, headers={"Accept": "text/csv"})
    t.problem(r, 404)


def snapshot(t, key, kid):
    r = t.req("POST", kpath(kid, ":snapshot"), key=key)
    s = t.expect_json(r, 201)
    for f in ("id", "at", "customers", "assigned", "unassigned", "changed", "segments",
              "fallback", "trigger"):
        t.check(f in s, "snapshot has %s" % f, r)
    return s


def matrix(order, before, after):
    """counts[i][j] over the customers present in both; order ends with None (fallback)."""
    idx = {sid: i for i, sid in enumerate(order)}
    m = [[0] * len(order) for _ in order]
    for c in set(before) & set(after):
        m[idx[before[c]]][idx[after[c]]] += 1
    return m


def test_snapshots_and_transitions(t):
    key = tenant(t)
    ids = ["s%02d" % i for i in range(30)]
    put_customers(t, key, ids)
    A, B, C = set(ids[0:10]), set(ids[8:18]), set(ids[18:24])
    a, b, c = (static(t, key, sorted(m), name=t.uid(n)) for n, m in
               (("A", A), ("B", B), ("C", C)))
    rep, _ = create(t, key, {"name": t.uid("k"), "segments": [a["id"], b["id"], c["id"]],
                             "fallback": "Other"})
    kid = rep["id"]
    custs = set(ids)
    exp1 = expected(custs, [(a["id"], "", A), (b["id"], "", B), (c["id"], "", C)])["assignment"]
    s1 = snapshot(t, key, kid)
    t.eq((s1["customers"], s1["assigned"], s1["unassigned"], s1["changed"], s1["trigger"]),
         (30, 24, 6, 30, "manual"), "first snapshot stores every customer", None)
    t.eq(s1["segments"], [{"id": x["id"], "name": x["name"]} for x in (a, b, c)],
         "the definition it used", None)
    time.sleep(0.02)
    s1b = snapshot(t, key, kid)
    t.eq(s1b["changed"], 0, "nothing changed: nothing stored", None)

    # between snapshots: customers move, one is deleted, two are created (one assigned), the
    # scheme loses C and gains D (ahead of B), and B is renamed
    remove(t, key, a["id"], "s00")             # A -> fallback
    add(t, key, c["id"], ["s25"])              # fallback -> C (but C leaves the scheme)
    remove(t, key, b["id"], "s12")             # B -> fallback
    t.expect(t.req("DELETE", "/v1/customers/s05", key=key), 204)   # gone
    put_customers(t, key, ["s90", "s91"])
    D = {"s90", "s15", "s20", "s26"}
    d = static(t, key, sorted(D), name=t.uid("D"))
    add(t, key, b["id"], ["s91"])
    A -= {"s00", "s05"}
    B -= {"s12", "s05"}
    B |= {"s91"}
    C |= {"s25"}
    custs = (custs - {"s05"}) | {"s90", "s91"}
    t.expect_json(t.req("PATCH", "/v1/segments/" + b["id"], {"name": b["name"] + "-new"},
                        key=key), 200)
    t.expect_json(t.req("PATCH", kpath(kid), {"segments": [a["id"], d["id"], b["id"]]},
                        key=key), 200)
    exp2 = expected(custs, [(a["id"], "", A), (d["id"], "", D), (b["id"], "", B)])["assignment"]
    changed = sum(1 for x in custs if exp1.get(x, "absent") != exp2[x]) + 1  # + s05 gone
    time.sleep(0.02)
    s2 = snapshot(t, key, kid)
    t.eq((s2["customers"], s2["changed"]), (31, changed), "second snapshot: only changes", None)
    t.eq([x["id"] for x in s2["segments"]], [a["id"], d["id"], b["id"]], "its definition", None)

    # transitions s1 -> s2: segments of s2 in order, then C (only in s1), then the fallback
    order = [a["id"], d["id"], b["id"], c["id"], None]
    r = t.req("GET", kpath(kid, "/transitions?from=%s&to=%s" % (q(s1["at"]), q(s2["at"]))),
              key=key)
    tr = t.expect_json(r, 200)
    t.eq([x["id"] for x in tr["segments"]], order, "segments: union, fallback last", r)
    t.eq(tr["segments"][2]["name"], b["name"] + "-new", "names of the later snapshot", r)
    t.eq(tr["segments"][3]["name"], c["name"], "a segment only in the earlier one", r)
    t.eq(tr["segments"][4]["name"], "Other", "the fallback's name", r)
    t.eq(tr["counts"], matrix(order, exp1, exp2), "the transition matrix", r)
    t.eq((tr["from"], tr["to"], tr["from_snapshot"], tr["to_snapshot"]),
         (s1["at"], s2["at"], s1["id"], s2["id"]), "the snapshots used", r)
    t.eq(sum(map(sum, tr["counts"])), 29, "customers in both snapshots only", r)

    # times between snapshots resolve to the latest at or before them, and say so
    r = t.req("GET", kpath(kid, "/transitions?from=%s" % q(s1b["at"])), key=key)
    tr = t.expect_json(r, 200)
    t.eq((tr["from_snapshot"], tr["to_snapshot"]), (s1b["id"], s2["id"]), "to defaults to now",
         r)
    t.eq(tr["counts"], matrix(order, exp1, exp2), "s1b is s1's assignment", r)
    r = t.req("GET", kpath(kid, "/transitions?from=%s&to=%s" % (q(s1["at"]), q(s1b["at"]))),
              key=key)
    tr = t.expect_json(r, 200)
    order1 = [a["id"], b["id"], c["id"], None]
    t.eq([x["id"] for x in tr["segments"]], order1, "same definition", r)
    t.eq(tr["counts"], matrix(order1, exp1, exp1), "no change: the diagonal", r)
    t.eq(tr["requested_to"], s1b["at"], "the time asked for", r)

    # a third snapshot after more moves: the history is reconstructed at each
    add(t, key, a["id"], ["s12"])
    A |= {"s12"}
    exp3 = expected(custs, [(a["id"], "", A), (d["id"], "", D), (b["id"], "", B)])["assignment"]
    time.sleep(0.02)
    s3 = snapshot(t, key, kid)
    t.eq(s3["changed"], 1, "one move", None)
    for (x, ex), (y, ey) in (((s1, exp1), (s3, exp3)), ((s2, exp2), (s3, exp3))):
        tr = t.expect_json(t.req("GET", kpath(kid, "/transitions?from=%s&to=%s"
                                              % (q(x["at"]), q(y["at"]))), key=key), 200)
        o = [s["id"] for s in tr["segments"]]
        t.eq(tr["counts"], matrix(o, ex, ey), "transitions %s -> %s" % (x["id"], y["id"]))

    # the snapshots list, paged, oldest first
    items = all_pages(t, key, kpath(kid, "/snapshots"), 2)
    t.eq([x["id"] for x in items], [s1["id"], s1b["id"], s2["id"], s3["id"]], "snapshots")
    t.eq(items[2], s2, "a listed snapshot is the one POST returned")

    # errors: no snapshot at or before from (422), unparseable or reversed times (400)
    p = t.problem(t.req("GET", kpath(kid, "/transitions?from=2001-01-01T00:00:00Z"), key=key),
                  422)
    t.check(any(e.get("parameter") == "from" for e in p.get("errors", [])),
            "the problem names from", None)
    for qs in ("", "?from=yesterday", "?from=2026-13-01T00:00:00Z",
               "?from=%s&to=2001-01-01T00:00:00Z" % q(s1["at"]), "?from=%s&x=1" % q(s1["at"])):
        t.problem(t.req("GET", kpath(kid, "/transitions" + qs), key=key), 400)


def wait_job(t, key, job_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = t.expect_json(t.req("GET", "/v1/jobs/%s" % job_id, key=key), 200)
        if j["status"] in ("succeeded", "failed", "cancelled"):
            return j
        time.sleep(0.05)
    t.fail("job %s did not finish" % job_id)


def test_snapshot_at_refresh(t):
    key = tenant(t)
    put_customers(t, key, ["r1", "r2", "r3"], {"r1": {"v": 1}, "r2": {"v": 2}, "r3": {"v": 3}})
    dyn = t.expect_json(t.req("POST", "/v1/segments", {
        "name": t.uid("dyn"), "type": "dynamic",
        "rule": {"attr": "v", "op": "gte", "value": 2}}, key=key), 201)
    other = static(t, key, ["r1"])
    k1, _ = create(t, key, {"name": t.uid("k"), "segments": [dyn["id"], other["id"]]})
    k2, _ = create(t, key, {"name": t.uid("k"), "segments": [other["id"]]})
    r = t.req("POST", "/v1/segments/%s:refresh" % dyn["id"], key=key)
    j = t.expect_json(r, 202)
    t.eq(wait_job(t, key, j["id"])["status"], "succeeded", "the refresh ran")
    # the snapshot is taken right after the refresh commits, by the same worker
    deadline = time.time() + 30
    items = []
    while time.time() < deadline:
        items = t.expect_json(t.req("GET", kpath(k1["id"], "/snapshots"), key=key), 200)["items"]
        if items:
            break
        time.sleep(0.05)
    t.eq([(x["trigger"], x["customers"], x["assigned"]) for x in items],
         [("refresh", 3, 3)], "one snapshot after the refresh")
    items = t.expect_json(t.req("GET", kpath(k2["id"], "/snapshots"), key=key), 200)["items"]
    t.eq(items, [], "a scheme without the segment has none")


def test_segment_delete_and_schemes(t):
    key = tenant(t)
    put_customers(t, key, ["x1", "x2"])
    a, b = static(t, key, ["x1"]), static(t, key, ["x2"])
    k1, _ = create(t, key, {"name": t.uid("k"), "segments": [a["id"], b["id"]]})
    k2, _ = create(t, key, {"name": t.uid("k"), "segments": [b["id"]]})
    p = t.problem(t.req("DELETE", "/v1/segments/" + b["id"], key=key), 409)
    t.eq(p.get("schemes"), [{"id": k1["id"], "name": k1["name"]},
                            {"id": k2["id"], "name": k2["name"]}], "the schemes named", None)
    t.eq(p.get("dependents"), [], "no dynamic segment refers to it", None)
    t.check(k1["name"] in json.dumps(p) and "force" in p["detail"], "says what to do", None)
    t.expect_json(t.req("GET", "/v1/segments/" + b["id"], key=key), 200)
    t.expect(t.req("DELETE", "/v1/segments/" + a["id"], key=key), 409)
    t.expect(t.req("DELETE", "/v1/segments/%s?force=true" % b["id"], key=key), 204)
    g1 = t.expect_json(t.req("GET", kpath(k1["id"]), key=key), 200)
    t.eq([s["id"] for s in g1["segments"]], [a["id"]], "removed from the scheme", None)
    t.eq((g1["unassigned"], g1["customers"]), (1, 2), "x2 now unassigned", None)
    g2 = t.expect_json(t.req("GET", kpath(k2["id"]), key=key), 200)
    t.eq((g2["segments"], g2["unassigned"]), ([], 2), "a scheme left without segments", None)
    t.check(any(w["code"] == "segment_count" for w in g2["warnings"]), "count warning", None)
    s = snapshot(t, key, k2["id"])
    t.eq((s["customers"], s["assigned"]), (2, 0), "its snapshot: everyone unassigned", None)
    # a segment no scheme uses deletes as before
    c = static(t, key)
    t.expect(t.req("DELETE", "/v1/segments/" + c["id"], key=key), 204)

"""Segments (SPEC §5.4): CRUD, validation with pointers, static members (added/already/missing),
members as JSON pages and as streamed CSV, a customer's segments, customers?segment=, history,
the change feed, and isolation between tenants. Dynamic segments: test_s_dynamic.py."""
import csv
import io
import json
import random
import threading
import time
import urllib.parse


def q(s):
    return urllib.parse.quote(s, safe="")


def spath(sid, rest=""):
    return "/v1/segments/" + q(str(sid)) + rest


def tenant(t):
    """A fresh tenant's key, so that lists and the feed hold only this test's objects."""
    return t.new_tenant()[1]


def make_static(t, key, name=None, **extra):
    body = {"name": name or t.uid("seg"), "type": "static"}
    body.update(extra)
    r = t.req("POST", "/v1/segments", body, key=key)
    return t.expect_json(r, 201)


def put_customers(t, key, ids, attrs=None):
    lines = "".join(json.dumps({"id": i, "attributes": (attrs or {}).get(i, {})}) + "\n"
                    for i in ids)
    r = t.req("POST", "/v1/customers:import", raw_body=lines, ctype="application/x-ndjson",
              key=key)
    t.expect_json(r, 200)


def add(t, key, sid, ids, status=200):
    r = t.req("POST", spath(sid, "/members"), {"customer_ids": ids}, key=key)
    return t.expect_json(r, status)


def all_pages(t, key, url, limit=None):
    items, cursor = [], None
    sep = "&" if "?" in url else "?"
    for _ in range(10000):
        u = url
        if limit:
            u += sep + "limit=%d" % limit
            sep2 = "&"
        else:
            sep2 = sep
        if cursor:
            u += sep2 + "cursor=" + q(cursor)
        d = t.expect_json(t.req("GET", u, key=key), 200)
        items += d["items"]
        cursor = d.get("next_cursor")
        if not cursor:
            return items
    t.fail("pagination of %s did not end" % url)


def members(t, key, sid):
    return [m["customer_id"] for m in all_pages(t, key, spath(sid, "/members"), 1000)]


def feed(t, key, since=None, segment=None, limit=1000):
    """Every change from since on, and the last cursor."""
    items = []
    cursor = since
    while True:
        u = "/v1/changes?limit=%d" % limit
        if cursor:
            u += "&since=" + q(cursor)
        if segment:
            u += "&segment=" + q(str(segment))
        d = t.expect_json(t.req("GET", u, key=key), 200)
        items += d["items"]
        t.check(isinstance(d.get("next_cursor"), str), "next_cursor is a string", None)
        if not d["items"]:
            return items, d["next_cursor"]
        t.eq(d["next_cursor"], d["items"][-1]["cursor"], "next_cursor is the last item's")
        cursor = d["next_cursor"]


def test_static_crud(t):
    key = tenant(t)
    name = t.uid("vip")
    r = t.req("POST", "/v1/segments", {"name": name, "type": "static", "description": "hand-picked",
                                       "profile": {"main_job": "buy", "pains": ["price"]}},
              key=key)
    s = t.expect_json(r, 201)
    t.check(isinstance(s.get("id"), str) and s["id"].isdigit(), "id is a string of digits", r)
    t.eq(r.header("location"), "/v1/segments/" + s["id"], "Location", r)
    for k, v in (("name", name), ("type", "static"), ("description", "hand-picked"),
                 ("size", 0), ("rule", None), ("source", "manual"), ("analysis_id", None)):
        t.eq(s.get(k), v, k, r)
    t.eq(s.get("profile"), {"main_job": "buy", "pains": ["price"]}, "profile", r)
    for k in ("created_at", "updated_at", "refreshed_at"):
        t.check(k in s, "%s missing" % k, r)
    g = t.expect_json(t.req("GET", spath(s["id"]), key=key), 200)
    t.eq(g, s, "GET returns what POST did")

    # PATCH: name, description, profile (a merge patch), never the type
    r = t.req("PATCH", spath(s["id"]), {"name": name + "-2", "profile": {"pains": None,
                                                                          "gains": ["time"]}},
              key=key, ctype="application/merge-patch+json")
    p = t.expect_json(r, 200)
    t.eq(p["name"], name + "-2", "patched name", r)
    t.eq(p["description"], "hand-picked", "description unchanged", r)
    t.eq(p["profile"], {"main_job": "buy", "gains": ["time"]}, "profile merged", r)
    r = t.req("PATCH", spath(s["id"]), {"profile": None}, key=key)
    t.eq(t.expect_json(r, 200)["profile"], {}, "profile null empties it", r)
    r = t.req("PATCH", spath(s["id"]), {"type": "dynamic"}, key=key)
    t.check("/type" in t.pointers(t.problem(r, 422)), "type change pointer", r)
    r = t.req("PATCH", spath(s["id"]), {"rule": {"all": []}}, key=key)
    t.check("/rule" in t.pointers(t.problem(r, 422)), "rule on a static segment", r)
    t.expect_json(t.req("PATCH", spath(s["id"]), {"type": "static"}, key=key), 200)

    # a duplicate name is 409, on create and on patch
    other = make_static(t, key)
    t.problem(t.req("POST", "/v1/segments", {"name": name + "-2", "type": "static"}, key=key),
              409)
    t.problem(t.req("PATCH", spath(other["id"]), {"name": name + "-2"}, key=key), 409)

    t.expect(t.req("DELETE", spath(s["id"]), key=key), 204)
    t.problem(t.req("GET", spath(s["id"]), key=key), 404)
    t.problem(t.req("DELETE", spath(s["id"]), key=key), 404)
    t.problem(t.req("PATCH", spath(s["id"]), {"name": "x"}, key=key), 404)
    for bad in ("abc", "0x1", "99999999999999999999", "-1"):
        t.problem(t.req("GET", spath(bad), key=key), 404)


def test_list_paging(t):
    key = tenant(t)
    ids = [make_static(t, key)["id"] for _ in range(5)]
    got = [s["id"] for s in all_pages(t, key, "/v1/segments", 2)]
    t.eq(got, ids, "every segment once, in creation order")
    for qs in ("?limit=0", "?limit=1001", "?cursor=%%%", "?cursor=Zm9v", "?foo=1"):
        t.problem(t.req("GET", "/v1/segments" + qs, key=key), 400)


def test_create_validation(t):
    key = tenant(t)
    taken = make_static(t, key)["name"]
    cases = [
        ({"type": "static"}, "/name"),
        ({"name": "", "type": "static"}, "/name"),
        ({"name": 5, "type": "static"}, "/name"),
        ({"name": "x" * 201, "type": "static"}, "/name"),
        ({"name": "a\u0001b", "type": "static"}, "/name"),
        ({"name": t.uid(), "type": "manual"}, "/type"),
        ({"name": t.uid()}, "/type"),
        ({"name": t.uid(), "type": "static", "rule": {"all": []}}, "/rule"),
        ({"name": t.uid(), "type": "dynamic"}, "/rule"),
        ({"name": t.uid(), "type": "static", "profile": []}, "/profile"),
        ({"name": t.uid(), "type": "static", "description": 3}, "/description"),
        ({"name": t.uid(), "type": "static", "colour": "red"}, "/colour"),
        ({"name": t.uid(), "type": "dynamic",
          "rule": {"attr": "age", "op": "gte_", "value": 3}}, "/rule/op"),
        ({"name": t.uid(), "type": "dynamic",
          "rule": {"all": [{"attr": "age", "op": "gte", "value": 3}, {"bogus": 1}]}},
         "/rule/all/1"),
        ({"name": t.uid(), "type": "dynamic", "rule": {"segment": "999999999"}},
         "/rule/segment"),
    ]
    for body, pointer in cases:
        r = t.req("POST", "/v1/segments", body, key=key)
        ptrs = t.pointers(t.problem(r, 422))
        t.check(any(p == pointer or p.startswith(pointer + "/") for p in ptrs),
                "pointer %s expected, got %s" % (pointer, ptrs), r)
    t.problem(t.req("POST", "/v1/segments", raw_body="{", ctype="application/json", key=key),
              400)
    t.problem(t.req("POST", "/v1/segments", raw_body="[]", ctype="application/json", key=key),
              422)
    r = t.req("POST", "/v1/segments", {"name": taken, "type": "static"}, key=key)
    t.problem(r, 409)
    t.problem(t.req("POST", "/v1/segments", {"name": t.uid(), "type": "static"},
                    ctype="text/plain", key=key), 415)
    t.problem(t.req("POST", "/v1/segments?x=1", {"name": t.uid(), "type": "static"}, key=key),
              400)
    t.eq(len(all_pages(t, key, "/v1/segments")), 1, "nothing was created by a refused request")


def test_static_members_add_remove(t):
    key = tenant(t)
    s = make_static(t, key)
    sid = s["id"]
    ids = ["m-%03d" % i for i in range(30)]
    put_customers(t, key, ids)
    d = add(t, key, sid, ids[:10] + ids[:3] + ["ghost-1", "ghost-2", "ghost-1"])
    t.eq((d["added"], d["already"], d["missing"]), (10, 0, 2), "first add counts")
    t.eq(sorted(d["missing_ids"]), ["ghost-1", "ghost-2"], "missing ids")
    d = add(t, key, sid, ids[5:20])
    t.eq((d["added"], d["already"], d["missing"]), (10, 5, 0), "second add counts")
    t.eq(members(t, key, sid), ids[:20], "members in id order")
    t.eq(t.expect_json(t.req("GET", spath(sid), key=key), 200)["size"], 20, "size")

    page = t.expect_json(t.req("GET", spath(sid, "/members?limit=7"), key=key), 200)
    t.eq(len(page["items"]), 7, "limit")
    t.check(set(page["items"][0]) == {"customer_id", "since"}, "member shape", None)
    t.eq(members(t, key, sid), [m for m in ids[:20]], "paged members")

    t.expect(t.req("DELETE", spath(sid, "/members/" + q(ids[0])), key=key), 204)
    t.problem(t.req("DELETE", spath(sid, "/members/" + q(ids[0])), key=key), 404)
    t.problem(t.req("DELETE", spath(sid, "/members/" + q("ghost-1")), key=key), 404)
    t.problem(t.req("DELETE", spath("999999999", "/members/" + q(ids[1])), key=key), 404)
    t.eq(members(t, key, sid), ids[1:20], "after removal")
    t.eq(t.expect_json(t.req("GET", spath(sid), key=key), 200)["size"], 19, "size after")

    # validation
    for body, ptr in (({}, "/customer_ids"), ({"customer_ids": []}, "/customer_ids"),
                      ({"customer_ids": "a"}, "/customer_ids"),
                      ({"customer_ids": ["ok", 5]}, "/customer_ids/1"),
                      ({"customer_ids": ["ok", ""]}, "/customer_ids/1"),
                      ({"customer_ids": ["x" * 129]}, "/customer_ids/0"),
                      ({"customer_ids": ["a"] * 10001}, "/customer_ids"),
                      ({"customer_ids": ["a"], "more": 1}, "/more")):
        r = t.req("POST", spath(sid, "/members"), body, key=key)
        t.check(ptr in t.pointers(t.problem(r, 422)), "pointer %s" % ptr, r)
    t.problem(t.req("POST", spath("999999999", "/members"), {"customer_ids": ["a"]}, key=key),
              404)
    # an exactly full request is fine
    d = add(t, key, sid, ["bulk-%05d" % i for i in range(10000)])
    t.eq((d["added"], d["missing"]), (0, 10000), "10,000 ids in one request")
    t.eq(len(d["missing_ids"]), 100, "at most 100 missing ids listed")


def test_members_csv(t):
    key = tenant(t)
    s = make_static(t, key)
    sid = s["id"]
    attrs = {
        "c1": {"name": "Plain", "n": 5, "address": {"city": "Berlin"}, "vip": True},
        "c,2": {"name": "Comma, Inc.", "n": 1.50, "tags": ["a", "b"]},
        "c3": {"name": "Quote \"q\"", "address": {"city": "Zürich 😀"}},
        "c4": {"name": "Two\nlines", "n": None},
        "c5": {},
    }
    put_customers(t, key, list(attrs), attrs)
    add(t, key, sid, list(attrs))
    # a number is written exactly as the client did
    t.expect_json(t.req("PATCH", "/v1/customers/" + q("c,2"), raw_body='{"attributes":{"n":1.50}}',
                        ctype="application/merge-patch+json", key=key), 200)
    r = t.req("GET", spath(sid, "/members?attributes=name,n,address.city,tags,vip"), key=key,
              headers={"Accept": "text/csv"})
    t.expect(r, 200)
    t.check((r.header("content-type") or "").startswith("text/csv"), "text/csv", r)
    t.check("attachment" in (r.header("content-disposition") or ""), "attachment", r)
    text = r.body.decode("utf-8")
    t.check(text.startswith("customer_id,since,name,n,address.city,tags,vip\r\n"), "header row",
            r)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    t.eq(rows[0], ["customer_id", "since", "name", "n", "address.city", "tags", "vip"], "header")
    body = {row[0]: row for row in rows[1:]}
    t.eq(sorted(body), sorted(attrs), "one row per member")
    t.eq(body["c1"][2:], ["Plain", "5", "Berlin", "", "true"], "plain values", r)
    t.eq(body["c,2"][2:], ["Comma, Inc.", "1.50", "", '["a", "b"]', ""], "quoted and JSON", r)
    t.eq(body["c3"][2:], ['Quote "q"', "", "Zürich 😀", "", ""], "quotes and unicode", r)
    t.eq(body["c4"][2:], ["Two\nlines", "", "", "", ""], "line break inside, null empty", r)
    t.eq(body["c5"][2:], ["", "", "", "", ""], "no attributes", r)
    t.eq([row[0] for row in rows[1:]], sorted(attrs), "rows ordered by customer id")
    t.check(all(row[1].endswith("Z") for row in rows[1:]), "since in RFC 3339 UTC", r)

    # without ?attributes: two columns; HEAD: headers only
    r = t.req("GET", spath(sid, "/members"), key=key, headers={"Accept": "text/csv"})
    t.check(r.body.decode().startswith("customer_id,since\r\n"), "two columns", r)
    t.eq(len(r.body.decode().split("\r\n")), len(attrs) + 2, "header, rows and a final CRLF", r)
    for qs in ("?attributes=a,,b", "?attributes=.a", "?attributes=" + ",".join(["a"] * 51),
               "?limit=5"):
        t.problem(t.req("GET", spath(sid, "/members" + qs), key=key,
                        headers={"Accept": "text/csv"}), 400)
    t.problem(t.req("GET", spath("999999999", "/members"), key=key,
                    headers={"Accept": "text/csv"}), 404)
    t.problem(t.req("GET", spath(sid, "/members?attributes=a"), key=key), 400)


def test_members_csv_many_batches(t):
    """25,003 members: the export crosses several batches and keeps every row once."""
    key = tenant(t)
    sid = make_static(t, key)["id"]
    ids = ["k%06d" % i for i in range(25003)]
    for i in range(0, len(ids), 5000):
        put_customers(t, key, ids[i:i + 5000], {c: {"v": c} for c in ids[i:i + 5000]})
    for i in range(0, len(ids), 10000):
        add(t, key, sid, ids[i:i + 10000])
    r = t.req("GET", spath(sid, "/members?attributes=v"), key=key,
              headers={"Accept": "text/csv"}, timeout=120)
    t.expect(r, 200)
    t.check("chunked" in (r.header("transfer-encoding") or ""), "streamed (chunked)", r)
    rows = list(csv.reader(io.StringIO(r.body.decode(), newline="")))
    t.eq(len(rows), len(ids) + 1, "every member once, plus the header")
    t.eq([row[0] for row in rows[1:]], ids, "in id order")
    t.check(all(row[0] == row[2] for row in rows[1:]), "attribute column of every row", None)
    t.eq(t.expect_json(t.req("GET", spath(sid), key=key), 200)["size"], len(ids), "size")
    # clients that go away in the middle of an export, or before it starts
    for read in (65536, 0):
        sock = t.connect(t.daemon.port)
        sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/csv\r\n"
                      "Authorization: Bearer %s\r\n\r\n"
                      % (spath(sid, "/members?attributes=v"), key)).encode())
        got = 0
        while got < read:
            b = sock.recv(65536)
            if not b:
                break
            got += len(b)
        sock.close()
    time.sleep(0.3)
    r = t.req("GET", spath(sid, "/members"), key=key, headers={"Accept": "text/csv"})
    t.eq(r.body.count(b"\r\n"), len(ids) + 1, "a later export is whole")


def test_customer_segments_and_customers_by_segment(t):
    key = tenant(t)
    a, b = make_static(t, key, name="alpha"), make_static(t, key, name="beta")
    put_customers(t, key, ["x1", "x2", "x3"], {"x1": {"k": 1}})
    add(t, key, a["id"], ["x1", "x2"])
    add(t, key, b["id"], ["x1"])
    d = t.expect_json(t.req("GET", "/v1/customers/x1/segments", key=key), 200)
    t.eq([(i["segment_id"], i["name"]) for i in d["items"]],
         [(a["id"], "alpha"), (b["id"], "beta")], "x1's segments")
    t.check(all(i["since"].endswith("Z") for i in d["items"]), "since", None)
    t.eq(t.expect_json(t.req("GET", "/v1/customers/x3/segments", key=key), 200)["items"], [],
         "x3 is in none")
    t.problem(t.req("GET", "/v1/customers/nobody/segments", key=key), 404)

    items = all_pages(t, key, "/v1/customers?segment=" + a["id"], 1)
    t.eq([c["id"] for c in items], ["x1", "x2"], "members' documents, paged by id")
    t.eq(items[0]["attributes"], {"k": 1}, "full customer document")
    t.check("metrics" in items[0], "with metrics", None)
    t.problem(t.req("GET", "/v1/customers?segment=999999999", key=key), 404)
    t.problem(t.req("GET", "/v1/customers?segment=abc", key=key), 404)
    # erasing a customer takes it out of its segments, and the sizes follow
    t.expect(t.req("DELETE", "/v1/customers/x2", key=key), 204)
    t.eq(members(t, key, a["id"]), ["x1"], "an erased customer leaves static segments")
    t.eq(t.expect_json(t.req("GET", spath(a["id"]), key=key), 200)["size"], 1, "size after")
    add(t, key, a["id"], ["x3"])
    t.expect(t.req("DELETE", "/v1/customers/x3", key=key), 204)
    t.eq(t.expect_json(t.req("GET", spath(a["id"]), key=key), 200)["size"], 1, "size after")
    sizes = {s["id"]: s["size"] for s in all_pages(t, key, "/v1/segments")}
    t.eq(sizes, {a["id"]: 1, b["id"]: 1}, "sizes in the list")


def test_history_static(t):
    key = tenant(t)
    sid = make_static(t, key)["id"]
    d = t.expect_json(t.req("GET", spath(sid, "/history"), key=key), 200)
    t.eq(len(d["items"]), 1, "one point at creation")
    p = d["items"][0]
    t.eq((p["size"], p["entered"], p["exited"]), (0, 0, 0), "creation point")
    t.check(p["at"].endswith("Z"), "at", None)
    t.problem(t.req("GET", spath("999999999", "/history"), key=key), 404)
    t.problem(t.req("GET", spath(sid, "/history?cursor=Zm9v"), key=key), 400)


def test_changes_feed(t):
    key = tenant(t)
    s1, s2 = make_static(t, key), make_static(t, key)
    put_customers(t, key, ["f1", "f2", "f3"])
    empty, start = feed(t, key)
    t.eq(empty, [], "a new tenant's feed is empty")
    t.eq(start, "0", "from the start without since")
    add(t, key, s1["id"], ["f1", "f2"])
    add(t, key, s2["id"], ["f3"])
    t.expect(t.req("DELETE", spath(s1["id"], "/members/f1"), key=key), 204)
    items, last = feed(t, key)
    t.eq([(c["segment_id"], c["customer_id"], c["change"]) for c in items],
         [(s1["id"], "f1", "entered"), (s1["id"], "f2", "entered"), (s2["id"], "f3", "entered"),
          (s1["id"], "f1", "exited")], "changes in order")
    for c in items:
        t.eq(set(c), {"cursor", "segment_id", "customer_id", "change", "at"}, "change shape")
    # paging one at a time gives the same, and an exhausted feed repeats its cursor
    one = []
    cur = None
    for _ in range(10):
        u = "/v1/changes?limit=1" + ("&since=" + q(cur) if cur else "")
        d = t.expect_json(t.req("GET", u, key=key), 200)
        one += d["items"]
        if not d["items"]:
            t.eq(d["next_cursor"], cur, "no new change: the same cursor")
            break
        cur = d["next_cursor"]
    t.eq(one, items, "limit=1 pages")
    seg1, _ = feed(t, key, segment=s1["id"])
    t.eq([c["customer_id"] for c in seg1], ["f1", "f2", "f1"], "?segment filter")
    after, _ = feed(t, key, since=items[1]["cursor"])
    t.eq(after, items[2:], "since a cursor: only what follows")
    # deleting a segment records an exit for each member
    t.expect(t.req("DELETE", spath(s1["id"]), key=key), 204)
    more, _ = feed(t, key, since=last)
    t.eq([(c["segment_id"], c["customer_id"], c["change"]) for c in more],
         [(s1["id"], "f2", "exited")], "delete exits its members")
    for bad in ("x", "", "1-", "-1", "1-x", "01", "1.5", "1 ", "9223372036854775808", "1e3"):
        t.problem(t.req("GET", "/v1/changes?since=" + q(bad), key=key), 400)
    for qs in ("limit=0", "limit=1001", "segment=abc", "foo=1"):
        t.problem(t.req("GET", "/v1/changes?" + qs, key=key), 400)


def test_other_tenant_sees_nothing(t):
    key = tenant(t)
    s = make_static(t, key)
    put_customers(t, key, ["o1"])
    add(t, key, s["id"], ["o1"])
    sid = s["id"]
    for method, path, body in (("GET", spath(sid), None), ("PATCH", spath(sid), {"name": "z"}),
                               ("DELETE", spath(sid), None),
                               ("POST", spath(sid, ":refresh"), None),
                               ("GET", spath(sid, "/members"), None),
                               ("POST", spath(sid, "/members"), {"customer_ids": ["o1"]}),
                               ("DELETE", spath(sid, "/members/o1"), None),
                               ("GET", spath(sid, "/history"), None),
                               ("GET", "/v1/customers?segment=" + sid, None),
                               ("GET", "/v1/customers/o1/segments", None)):
        t.problem(t.req(method, path, body, key="B"), 404)
    t.problem(t.req("GET", spath(sid, "/members"), key="B", headers={"Accept": "text/csv"}),
              404)
    items, _ = feed(t, "B", segment=sid)
    t.eq(items, [], "another tenant's feed filtered by this segment is empty")
    t.eq(members(t, key, sid), ["o1"], "untouched")


def test_scopes(t):
    sid = make_static(t, "A")["id"]
    t.problem(t.req("POST", "/v1/segments", {"name": t.uid(), "type": "static"}, key="Ar"), 403)
    t.problem(t.req("DELETE", spath(sid), key="Ar"), 403)
    t.expect_json(t.req("GET", spath(sid), key="Ar"), 200)
    t.expect_json(t.req("GET", "/v1/changes", key="Ar"), 200)
    t.problem(t.req("GET", spath(sid), key="Aw"), 403)
    t.expect(t.req("DELETE", spath(sid), key="A"), 204)


def test_feed_mirror_static_concurrently(t):
    """A client follows the feed while static members are added and removed and a segment is
    deleted, all at once; its mirror ends equal to the membership, every change seen once."""
    key = tenant(t)
    ids = ["c%03d" % i for i in range(120)]
    put_customers(t, key, ids)
    segs = [make_static(t, key)["id"] for _ in range(3)]
    doomed = make_static(t, key)["id"]
    add(t, key, doomed, ids[:40])
    mirror, errors = {}, []
    stop, finish = threading.Event(), threading.Event()

    def apply(items):
        for c in items:
            m = mirror.setdefault(c["segment_id"], set())
            if c["change"] == "entered":
                if c["customer_id"] in m:
                    errors.append("entered twice: %s" % c)
                m.add(c["customer_id"])
            else:
                if c["customer_id"] not in m:
                    errors.append("exited while not in: %s" % c)
                m.discard(c["customer_id"])

    def reader():
        try:
            cursor = None
            while True:
                final = finish.is_set()
                items, cursor = feed(t, key, since=cursor)
                apply(items)
                if final:
                    return
        except Exception as e:
            errors.append("reader: %r" % e)

    def changer(seed):
        rnd = random.Random(seed)
        try:
            while not stop.is_set():
                s = rnd.choice(segs)
                t.req("POST", spath(s, "/members"), {"customer_ids": rnd.sample(ids, 8)},
                      key=key)
                for c in rnd.sample(ids, 3):
                    t.req("DELETE", spath(s, "/members/" + c), key=key)
        except Exception as e:
            errors.append("changer: %r" % e)

    threads = [threading.Thread(target=reader)]
    threads += [threading.Thread(target=changer, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    time.sleep(1.5)
    t.expect(t.req("DELETE", spath(doomed), key=key), 204)
    time.sleep(1.5)
    stop.set()
    for th in threads[1:]:
        th.join()
    finish.set()
    threads[0].join()
    t.check(not errors, "feed consistency: %s" % errors[:5], None)
    t.check(any(mirror.get(s) for s in segs), "the feed carried changes", None)
    for s in segs:
        t.eq(sorted(mirror.get(s, set())), members(t, key, s), "mirror of %s" % s)
        t.eq(t.expect_json(t.req("GET", spath(s), key=key), 200)["size"],
             len(members(t, key, s)), "size of %s" % s)
    t.eq(mirror.get(doomed), set(), "a deleted segment's members all exited")

"""Customer list pagination: byte order, cursors, concurrent inserts, edges, bad parameters."""
import base64
import json
import random
import threading
import time
import urllib.parse


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def page(t, key, limit=None, cursor=None, extra=""):
    qs = []
    if limit is not None:
        qs.append("limit=%s" % limit)
    if cursor:
        qs.append("cursor=" + urllib.parse.quote(cursor, safe=""))
    url = "/v1/customers" + ("?" + "&".join(qs) if qs else "") + extra
    r = t.req("GET", url, key=key)
    d = t.expect_json(r, 200)
    t.check(isinstance(d.get("items"), list) and "next_cursor" in d, "page shape", r)
    return d, r


def walk(t, key, limit, between=None):
    """Every page in turn; between(), if given, runs after each page."""
    ids, cursor, n = [], None, 0
    while True:
        if n and between:
            between()
        d, r = page(t, key, limit, cursor)
        t.check(len(d["items"]) <= limit, "page has %d items for limit %d" % (len(d["items"]), limit), r)
        ids += [c["id"] for c in d["items"]]
        cursor = d["next_cursor"]
        n += 1
        if not cursor:
            return ids
        t.check(n < 5000, "pagination does not end")


def test_empty_tenant_and_one_customer(t):
    tenant, key = t.new_tenant("read,write")
    d, r = page(t, key)
    t.eq((d["items"], d["next_cursor"]), ([], None), "empty tenant", r)
    t.expect(t.req("PUT", cpath("only"), {"attributes": {}}, key=key), 201)
    d, r = page(t, key, 1)
    t.eq([c["id"] for c in d["items"]], ["only"], "one customer", r)
    if d["next_cursor"]:
        d2, r2 = page(t, key, 1, d["next_cursor"])
        t.eq((d2["items"], d2["next_cursor"]), ([], None), "page after the last customer", r2)
    t.check("metrics" in d["items"][0] and "attributes" in d["items"][0],
            "list items are full customers", r)


def test_walk_limit7_byte_order_with_concurrent_inserts(t):
    tenant, key = t.new_tenant("read,write")
    rnd = random.Random(7)
    alphabet = ["a", "b", "A", "Z", "0", "9", "-", "_", ".", "~", " ", "\u00e4", "\u00c4", "\u6771",
                "\U0001F389", "z", "\u00ff", "\u0100"]
    pre = set()
    while len(pre) < 300:
        pre.add("".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 6))))
    pre |= {"a", "aa", "a0", "a-", "A", "B"}
    body = "".join(json.dumps({"id": i}) + "\n" for i in sorted(pre)).encode()
    r = t.req("POST", "/v1/customers:import", raw_body=body, ctype="application/x-ndjson", key=key)
    d = t.expect_json(r, 200)
    t.eq(d.get("inserted"), len(pre), "pre-existing customers imported", r)
    stop = threading.Event()
    inserted, errors = [], []

    def writer():
        i = 0
        while not stop.is_set() and i < 400:
            cid = "".join(rnd.choice(alphabet) for _ in range(3)) + "-new-%d" % i
            i += 1
            try:
                rr = t.req("PUT", cpath(cid), {"attributes": {"n": i}}, key=key)
                if rr.status not in (200, 201):
                    errors.append(rr.describe())
                inserted.append(cid)
            except AssertionError as e:
                errors.append(str(e))
    def writer_moves():
        # pages and inserts interleave however fast either is: wait for one more insert
        # (at most 0.5 s) before the next page
        seen, until = len(inserted), time.monotonic() + 0.5
        while len(inserted) == seen and not errors and time.monotonic() < until:
            time.sleep(0.002)

    th = threading.Thread(target=writer)
    th.start()
    try:
        ids = walk(t, key, 7, writer_moves)
    finally:
        stop.set()
        th.join()
    t.check(not errors, "concurrent writer failed: %s" % errors[:2])
    t.check(len(inserted) > 10, "the writer only managed %d inserts during the walk" % len(inserted))
    dup = sorted({i for i in ids if ids.count(i) > 1})
    t.check(not dup, "ids listed twice: %r" % dup[:10])
    missing = sorted(pre - set(ids))
    t.check(not missing, "%d pre-existing ids skipped, e.g. %r" % (len(missing), missing[:10]))
    enc = [i.encode("utf-8") for i in ids]
    bad = [(a, b) for a, b in zip(enc, enc[1:]) if not a < b]
    t.check(not bad, "ids not in strictly increasing byte order, e.g. %r" % bad[:3])
    unknown = set(ids) - pre - set(inserted)
    t.check(not unknown, "ids that were never written: %r" % list(unknown)[:5])
    # once quiet, a walk returns exactly everything, in byte order
    ids2 = walk(t, key, 7)
    t.eq(sorted(ids2, key=lambda s: s.encode()), ids2, "byte order after the inserts")
    t.eq(set(ids2), pre | set(inserted), "complete listing after the inserts")


def test_default_and_max_limit(t):
    tenant, key = t.new_tenant("read,write")
    body = "".join(json.dumps({"id": "c%04d" % i}) + "\n" for i in range(1001)).encode()
    t.expect(t.req("POST", "/v1/customers:import", raw_body=body, ctype="application/x-ndjson",
                   key=key), 200)
    d, r = page(t, key)
    t.eq(len(d["items"]), 100, "default limit is 100", r)
    t.check(d["next_cursor"], "next_cursor after a full default page", r)
    d, r = page(t, key, 1000)
    t.eq(len(d["items"]), 1000, "limit=1000", r)
    d2, r2 = page(t, key, 1000, d["next_cursor"])
    t.eq([c["id"] for c in d2["items"]], ["c1000"], "second page", r2)
    t.eq(d2["next_cursor"], None, "next_cursor at the end", r2)
    # a cursor keeps working with another limit
    d, r = page(t, key, 3)
    d3, r3 = page(t, key, 2, d["next_cursor"])
    t.eq([c["id"] for c in d3["items"]], ["c0003", "c0004"], "cursor with a new limit", r3)


def test_bad_list_parameters_400(t):
    junk = base64.urlsafe_b64encode(b"\x00\xffjunk{").decode().rstrip("=")
    for qs, param in (("?limit=0", "limit"), ("?limit=1001", "limit"), ("?limit=abc", "limit"),
                      ("?limit=", "limit"), ("?limit=1.5", "limit"), ("?limit=-5", "limit"),
                      ("?limit=99999999999999999999", "limit"),
                      ("?cursor=***", "cursor"), ("?cursor=" + junk, "cursor"),
                      ("?limt=5", None), ("?LIMIT=5", None)):
        r = t.req("GET", "/v1/customers" + qs)
        p = t.problem(r, 400)
        if param:
            params = [e.get("parameter") for e in p.get("errors") or [] if isinstance(e, dict)]
            t.check(param in params, "errors[].parameter %r expected, got %s" % (param, params), r)

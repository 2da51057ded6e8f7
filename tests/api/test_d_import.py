"""POST /v1/customers:import — NDJSON and CSV."""
import json
import urllib.parse
from decimal import Decimal

MIB = 1 << 20


def path(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def imp(t, body, ctype="application/x-ndjson", mode=None, key="A", status=200, timeout=120):
    url = "/v1/customers:import" + ("?mode=" + mode if mode else "")
    r = t.req("POST", url, raw_body=body, ctype=ctype, key=key, timeout=timeout)
    doc = t.expect_json(r, status)
    for f in ("received", "inserted", "updated", "rejected", "errors"):
        t.check(f in doc, "import result lacks %r" % f, r)
    t.eq(doc["received"], doc["inserted"] + doc["updated"] + doc["rejected"],
         "received == inserted + updated + rejected", r)
    t.check(len(doc["errors"]) == min(doc["rejected"], 100),
            "errors has %d items for %d rejected lines (expected min(rejected, 100))"
            % (len(doc["errors"]), doc["rejected"]), r)
    for e in doc["errors"]:
        t.check(isinstance(e.get("line"), int) and isinstance(e.get("detail"), str) and e["detail"],
                "error item %r lacks an integer line or a detail" % e, r)
    doc["_r"] = r
    return doc


def nd(*objs):
    return ("\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs) + "\n").encode()


def get_attrs(t, cid, key="A"):
    return t.expect_json(t.req("GET", path(cid), key=key), 200)["attributes"]


def test_empty_body(t):
    d = imp(t, b"")
    t.eq((d["received"], d["inserted"], d["updated"], d["rejected"], d["errors"]),
         (0, 0, 0, 0, []), "counts of an empty import", d["_r"])
    d = imp(t, b"\n\n\r\n")
    t.eq(d["received"], 0, "blank lines are not counted", d["_r"])
    d = imp(t, b"", ctype="text/csv")
    t.eq(d["received"], 0, "empty CSV", d["_r"])


def test_insert_then_update_counts(t):
    p = t.uid()
    body = nd({"id": p + "-1", "attributes": {"a": 1}}, {"id": p + "-2", "kind": "company",
                                                         "attributes": {"b": "x"}},
              {"id": p + "-3"})
    d = imp(t, body)
    t.eq((d["received"], d["inserted"], d["updated"], d["rejected"]), (3, 3, 0, 0), "first import", d["_r"])
    d = imp(t, body)
    t.eq((d["received"], d["inserted"], d["updated"], d["rejected"]), (3, 0, 3, 0), "second import", d["_r"])
    c = t.expect_json(t.req("GET", path(p + "-2")), 200)
    t.eq((c["kind"], c["attributes"]), ("company", {"b": "x"}), "imported customer")
    t.eq(get_attrs(t, p + "-3"), {}, "customer imported without attributes")


def test_blank_lines_skipped_but_numbered(t):
    p = t.uid()
    body = b"\n" + nd({"id": p + "-1"}) + b"\n\n" + b"{broken\n" + nd({"id": p + "-2"})
    # lines: 1 blank, 2 good, 3 blank, 4 blank, 5 broken, 6 good
    d = imp(t, body)
    t.eq((d["received"], d["inserted"], d["rejected"]), (3, 2, 1), "counts", d["_r"])
    t.eq(t.lines(d), [5], "line number of the broken line (blank lines are numbered)", d["_r"])


def test_bom_and_crlf(t):
    p = t.uid()
    body = b"\xef\xbb\xbf" + json.dumps({"id": p + "-1", "attributes": {"s": "\u00e4"}}).encode() + \
        b"\r\n" + json.dumps({"id": p + "-2"}).encode() + b"\r\n"
    d = imp(t, body)
    t.eq((d["received"], d["inserted"], d["rejected"]), (2, 2, 0), "BOM + CRLF import", d["_r"])
    t.eq(get_attrs(t, p + "-1"), {"s": "\u00e4"}, "attributes of the first (BOM) line")
    # a last line without a newline is imported too
    d = imp(t, json.dumps({"id": p + "-3"}).encode())
    t.eq(d["inserted"], 1, "last line without newline", d["_r"])


def test_bad_lines_rejected_one_by_one(t):
    p = t.uid()
    body = nd({"id": p + "-1"},                                  # 1 ok
              "{not json",                                        # 2
              {"id": p + "-3", "attributes": {"a": 1}},           # 3 ok
              {"id": p + "-4", "kind": "robot"},                  # 4 bad kind
              {"id": p + "-5", "atributes": {}},                  # 5 unknown key
              {"attributes": {"a": 1}},                           # 6 no id
              {"id": "x" * 129},                                  # 7 id too long
              {"id": p + "-8", "attributes": [1]},                # 8 attributes not an object
              {"id": p + "-9\u0001"},                             # 9 control char in id
              "[1,2]",                                            # 10 not an object
              {"id": ""},                                         # 11 empty id
              {"id": 5},                                          # 12 id not a string
              {"id": p + "-13", "attributes": {"ok": True}})      # 13 ok
    d = imp(t, body)
    t.eq((d["received"], d["inserted"], d["rejected"]), (13, 3, 10), "counts", d["_r"])
    t.eq(sorted(t.lines(d)), [2, 4, 5, 6, 7, 8, 9, 10, 11, 12], "rejected line numbers", d["_r"])
    for n in (1, 3, 13):
        t.expect(t.req("GET", path("%s-%d" % (p, n))), 200)
    for n in (4, 5, 8):
        t.problem(t.req("GET", path("%s-%d" % (p, n))), 404)


def test_line_over_1mib_rejected_and_import_goes_on(t):
    p = t.uid()
    huge = json.dumps({"id": p + "-2", "attributes": {"blob": "y" * (MIB + MIB // 2)}}).encode()
    body = nd({"id": p + "-1"}) + huge + b"\n" + nd({"id": p + "-3"}, {"id": p + "-4"})
    d = imp(t, body)
    t.eq((d["received"], d["inserted"], d["rejected"]), (4, 3, 1), "counts", d["_r"])
    t.eq(t.lines(d), [2], "line number of the overlong line", d["_r"])
    t.problem(t.req("GET", path(p + "-2")), 404)
    for n in (1, 3, 4):
        t.expect(t.req("GET", path("%s-%d" % (p, n))), 200)


def test_line_of_exactly_1mib_accepted_one_more_byte_rejected(t):
    p = t.uid()

    def line_of(cid, n):
        head = json.dumps({"id": cid, "attributes": {"blob": ""}}).encode()
        pad = n - len(head)
        return json.dumps({"id": cid, "attributes": {"blob": "z" * pad}}).encode()

    l1 = line_of(p + "-1", MIB)
    l2 = line_of(p + "-2", MIB + 1)
    t.eq((len(l1), len(l2)), (MIB, MIB + 1), "test setup")
    d = imp(t, l1 + b"\n" + l2 + b"\n" + nd({"id": p + "-3"}))
    t.eq((d["received"], d["inserted"], d["rejected"]), (3, 2, 1),
         "a line of exactly 1 MiB (without its newline) is within the limit, 1 MiB + 1 is over",
         d["_r"])
    t.eq(t.lines(d), [2], "rejected line", d["_r"])


def test_invalid_utf8_line_rejected(t):
    p = t.uid()
    body = nd({"id": p + "-1"}) + \
        b'{"id": "' + p.encode() + b'-2", "attributes": {"n": "\xff\xfe"}}\n' + \
        b'{"id": "' + p.encode() + b'-3\xc3"}\n' + \
        b'{"id": "' + p.encode() + b'-4", "attributes": {"n": "a\\u0000b"}}\n' + \
        nd({"id": p + "-5"})
    d = imp(t, body)
    t.eq((d["received"], d["inserted"], d["rejected"]), (5, 2, 3), "counts", d["_r"])
    t.eq(sorted(t.lines(d)), [2, 3, 4], "rejected lines", d["_r"])


def test_same_id_twice_merge_applies_in_order(t):
    cid = t.uid()
    d = imp(t, nd({"id": cid, "attributes": {"a": 1, "b": 1}},
                  {"id": cid, "attributes": {"b": 2, "c": 3}},
                  {"id": cid, "attributes": {"a": None}}))
    t.eq((d["received"], d["rejected"]), (3, 0), "counts", d["_r"])
    t.check(d["inserted"] == 1, "one customer inserted, got %r" % d["inserted"], d["_r"])
    t.eq(get_attrs(t, cid), {"b": 2, "c": 3}, "merge applied line by line")


def test_same_id_twice_replace_last_wins(t):
    cid = t.uid()
    d = imp(t, nd({"id": cid, "attributes": {"a": 1}}, {"id": cid, "attributes": {"b": 2}}),
            mode="replace")
    t.eq((d["received"], d["rejected"]), (2, 0), "counts", d["_r"])
    t.eq(d["inserted"], 1, "inserted", d["_r"])
    t.eq(get_attrs(t, cid), {"b": 2}, "replace: last line wins")


def test_mode_merge_vs_replace_on_existing(t):
    a, b = t.uid(), t.uid()
    for cid in (a, b):
        t.expect(t.req("PUT", path(cid), {"kind": "company",
                                          "attributes": {"x": 1, "n": {"p": 1, "q": 2}}}), 201)
    d = imp(t, nd({"id": a, "attributes": {"y": 2, "n": {"q": None, "r": 3}}}))  # default merge
    t.eq(d["updated"], 1, "updated", d["_r"])
    t.eq(get_attrs(t, a), {"x": 1, "y": 2, "n": {"p": 1, "r": 3}}, "merge (default mode)")
    d = imp(t, nd({"id": b, "attributes": {"y": 2, "z": None}}), mode="replace")
    t.eq(d["updated"], 1, "updated", d["_r"])
    t.eq(get_attrs(t, b), {"y": 2}, "replace mode (null members dropped)")
    d = imp(t, nd({"id": a, "attributes": {"x": 5}}), mode="merge")
    t.eq(get_attrs(t, a)["x"], 5, "explicit mode=merge")
    c = t.expect_json(t.req("GET", path(a)), 200)
    t.eq(c["kind"], "company", "kind kept when a merge line has no kind")


def test_bad_query_parameters_400(t):
    for qs in ("?mode=upsert", "?mode=", "?mod=merge", "?mode=merge&x=1"):
        r = t.req("POST", "/v1/customers:import" + qs, raw_body=nd({"id": t.uid()}),
                  ctype="application/x-ndjson")
        t.problem(r, 400)


def test_import_content_types(t):
    body = nd({"id": t.uid()})
    for ct in ("application/json", "text/plain", None, "application/octet-stream"):
        t.problem(t.req("POST", "/v1/customers:import", raw_body=body, ctype=ct), 415)
    d = imp(t, body, ctype="application/x-ndjson; charset=utf-8")
    t.eq(d["inserted"], 1, "ndjson with charset parameter", d["_r"])


def test_errors_capped_at_100(t):
    p = t.uid()
    body = b"".join(b"{bad\n" for _ in range(150)) + nd({"id": p})
    d = imp(t, body)
    t.eq((d["received"], d["inserted"], d["rejected"]), (151, 1, 150), "counts", d["_r"])
    t.eq(len(d["errors"]), 100, "errors are capped at the first 100", d["_r"])
    t.eq(t.lines(d), list(range(1, 101)), "the first 100 errors, in line order", d["_r"])


def test_import_validates_against_catalogue(t):
    name = t.attr_name("age")
    t.expect(t.req("PUT", "/v1/attributes/" + name, {"type": "integer", "category": "demographic"}),
             201)
    p = t.uid()
    d = imp(t, nd({"id": p + "-1", "attributes": {name: 31}},
                  {"id": p + "-2", "attributes": {name: "old"}},
                  {"id": p + "-3", "attributes": {name: 1.5}}))
    t.eq((d["inserted"], d["rejected"]), (1, 2), "counts", d["_r"])
    t.eq(sorted(t.lines(d)), [2, 3], "rejected lines", d["_r"])


# ----- CSV -----------------------------------------------------------------------------------

def test_csv_quoted_fields(t):
    p = t.uid()
    csv = ('id,name,note,quote\r\n'
           '%s-1,"Smith, John","line1\nline2","say ""hi"""\r\n'
           '%s-2,plain,,"a,b"\r\n'
           '"%s-3","","x\r\ny",""""\r\n' % (p, p, p)).encode()
    d = imp(t, csv, ctype="text/csv")
    t.eq((d["received"], d["inserted"], d["rejected"]), (3, 3, 0), "counts", d["_r"])
    t.eq(get_attrs(t, p + "-1"), {"name": "Smith, John", "note": "line1\nline2",
                                  "quote": 'say "hi"'}, "quoted fields")
    t.eq(get_attrs(t, p + "-2"), {"name": "plain", "quote": "a,b"}, "empty cell leaves attribute out")
    a3 = get_attrs(t, p + "-3")
    t.check(a3.get("note") in ("x\r\ny", "x\ny") and a3.get("quote") == '"' and "name" not in a3,
            "record 3 attributes: %r" % a3)


def test_csv_typed_by_catalogue(t):
    age, vip, tags, score = (t.attr_name("age"), t.attr_name("vip"), t.attr_name("tags"),
                             t.attr_name("score"))
    for n, ty in ((age, "integer"), (vip, "boolean"), (tags, "string_list"), (score, "number")):
        t.expect(t.req("PUT", "/v1/attributes/" + n, {"type": ty, "category": "other"}), 201)
    p = t.uid()
    csv = ("id,%s,%s,%s,%s,zip\n"
           "%s-1,42,true,a;b;c,19.99,01234\n"
           "%s-2,\"multi\nline\",false,x,1,1\n"      # record 3: physical lines 3-4, bad integer
           "%s-3,7,false,,2.5,99\n"                 # record 4
           "%s-4,abc,true,x,1,1\n"                  # record 5: bad integer
           "%s-5,1,yes,x,1,1\n"                     # record 6: bad boolean
           "%s-6,1,true,x,1e400x,1\n"               # record 7: bad number
           % (age, vip, tags, score, p, p, p, p, p, p)).encode()
    d = imp(t, csv, ctype="text/csv")
    t.eq((d["received"], d["inserted"], d["rejected"]), (6, 2, 4), "counts", d["_r"])
    t.eq(sorted(t.lines(d)), [3, 5, 6, 7], "rejected record numbers (header = 1, a quoted "
         "newline does not start a new record)", d["_r"])
    a = get_attrs(t, p + "-1")
    t.eq(a, {age: 42, vip: True, tags: ["a", "b", "c"], score: Decimal("19.99"), "zip": "01234"},
         "typed CSV cells (unregistered stay strings)")
    t.check(type(a[age]) is int, "integer column became %r" % type(a[age]))
    a = get_attrs(t, p + "-3")
    t.eq(a, {age: 7, vip: False, score: Decimal("2.5"), "zip": "99"}, "empty cell omitted, others typed")


def test_csv_without_id_column(t):
    r = t.req("POST", "/v1/customers:import", raw_body=b"name,age\nann,3\n", ctype="text/csv")
    p = t.problem(r, 400, 422)
    t.check("id" in p["detail"], "detail should name the missing id column: %r" % p["detail"], r)


def test_csv_row_shape_errors(t):
    p = t.uid()
    csv = ("id,a\n%s-1,x\n%s-2,x,extra\n%s-3\n,empty-id\n\"%s-5,unterminated\n"
           % (p, p, p, p)).encode()
    d = imp(t, csv, ctype="text/csv")
    t.check(3 in t.lines(d), "a record with more cells than the header (line 3) must be "
            "rejected: %r" % d["errors"], d["_r"])
    t.check(5 in t.lines(d), "a record with an empty id (line 5) must be rejected: %r"
            % d["errors"], d["_r"])
    t.expect(t.req("GET", path(p + "-1")), 200)
    t.problem(t.req("GET", path(p + "-2")), 404)


def test_csv_bom_crlf_and_replace(t):
    p = t.uid()
    t.expect(t.req("PUT", path(p), {"attributes": {"old": 1, "a": "0"}}), 201)
    csv = b"\xef\xbb\xbfid,a\r\n" + p.encode() + b",1\r\n"
    d = imp(t, csv, ctype="text/csv", mode="replace")
    t.eq((d["received"], d["updated"], d["rejected"]), (1, 1, 0), "counts", d["_r"])
    t.eq(get_attrs(t, p), {"a": "1"}, "replace via CSV (BOM before the header)")
    d = imp(t, b"id,b\n" + p.encode() + b",2\n", ctype="text/csv")
    t.eq(get_attrs(t, p), {"a": "1", "b": "2"}, "merge via CSV")


def test_large_chunked_import_50k(t):
    tenant, key = t.new_tenant("read,write")
    n = 50000
    p = t.uid("big")

    def gen():
        batch = []
        for i in range(n):
            batch.append('{"id":"%s-%06d","attributes":{"i":%d,"s":"v%d"}}\n' % (p, i, i, i % 7))
            if len(batch) == 1000:
                yield "".join(batch).encode()
                batch = []
        if batch:
            yield "".join(batch).encode()

    r = t.req("POST", "/v1/customers:import", raw_body=gen(), ctype="application/x-ndjson",
              key=key, timeout=180, chunked=True)
    d = t.expect_json(r, 200)
    t.eq((d.get("received"), d.get("inserted"), d.get("updated"), d.get("rejected")),
         (n, n, 0, 0), "counts of a 50,000-line chunked import", r)
    c = t.expect_json(t.req("GET", path("%s-%06d" % (p, 31337)), key=key), 200)
    t.eq(c["attributes"], {"i": 31337, "s": "v%d" % (31337 % 7)}, "a sampled customer")
    # count them all through the list
    seen, cursor = 0, None
    for _ in range(200):
        url = "/v1/customers?limit=1000" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        page = t.expect_json(t.req("GET", url, key=key), 200)
        seen += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    t.eq(seen, n, "customers listed after the large import")

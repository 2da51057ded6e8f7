"""Customers: PUT, PATCH (RFC 7396), GET, DELETE; validation; request-body errors."""
import datetime
import json
import re
from decimal import Decimal

RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def q(s):
    import urllib.parse
    return urllib.parse.quote(s, safe="")


def path(cid):
    return "/v1/customers/" + q(cid)


def put(t, cid, body, status=(200, 201), key="A"):
    r = t.req("PUT", path(cid), body, key=key)
    return t.expect_json(r, *status)


def get(t, cid, key="A"):
    return t.expect_json(t.req("GET", path(cid), key=key), 200)


def parse_ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_put_creates_201_with_location(t):
    cid = t.uid()
    r = t.req("PUT", path(cid), {"attributes": {"age": 31, "name": "Ann"}})
    c = t.expect_json(r, 201)
    loc = r.header("location") or ""
    t.check(loc.endswith(path(cid)), "Location %r should be %s" % (loc, path(cid)), r)
    t.eq(c.get("id"), cid, "id", r)
    t.eq(c.get("kind"), "person", "default kind", r)
    t.eq(c.get("attributes"), {"age": 31, "name": "Ann"}, "attributes", r)
    for f in ("created_at", "updated_at"):
        t.check(isinstance(c.get(f), str) and RFC3339_UTC.fullmatch(c[f]),
                "%s %r is not RFC 3339 UTC" % (f, c.get(f)), r)
    m = c.get("metrics")
    t.check(isinstance(m, dict), "PUT response lacks metrics", r)


def test_new_customer_metrics_are_zero_or_null(t):
    cid = t.uid()
    put(t, cid, {"attributes": {}})
    m = get(t, cid)["metrics"]
    for k in ("orders", "revenue", "events"):
        t.check(k in m and m[k] == 0, "metrics.%s should be 0, got %r" % (k, m.get(k)))
    for k in ("avg_order_value", "first_purchase_at", "last_purchase_at", "recency_days",
              "last_event_at"):
        t.check(k in m and m[k] is None, "metrics.%s should be present and null, got %r"
                % (k, m.get(k, "<absent>")))
    t.check("tenure_days" in m and m["tenure_days"] == 0,
            "tenure_days of a customer created now should be 0, got %r" % m.get("tenure_days"))


def test_put_replaces_200_and_keeps_created_at(t):
    cid = t.uid()
    c1 = put(t, cid, {"kind": "company", "attributes": {"a": 1, "b": 2}}, (201,))
    r = t.req("PUT", path(cid), {"attributes": {"c": 3}})
    c2 = t.expect_json(r, 200)
    t.eq(c2["attributes"], {"c": 3}, "PUT replaces attributes", r)
    t.eq(c2["created_at"], c1["created_at"], "created_at after replace", r)
    t.check(parse_ts(c2["updated_at"]) >= parse_ts(c1["updated_at"]), "updated_at went back", r)
    t.check(parse_ts(c2["updated_at"]) > parse_ts(c1["updated_at"]),
            "updated_at did not advance on replace", r)
    # kind omitted in a PUT: a replace sets the default? We only require it is a valid kind.
    t.check(c2["kind"] in ("person", "company"), "kind %r" % c2["kind"], r)
    t.eq(get(t, cid)["attributes"], {"c": 3}, "GET after replace")


def test_put_without_attributes(t):
    cid = t.uid()
    c = put(t, cid, {}, (201,))
    t.eq(c["attributes"], {}, "attributes of a PUT without attributes")
    c = put(t, t.uid(), {"kind": "company"}, (201,))
    t.eq(c["kind"], "company", "kind")


def test_put_drops_null_members(t):
    cid = t.uid()
    c = put(t, cid, {"attributes": {"a": None, "b": 1, "n": {"x": None, "y": 2}}}, (201,))
    t.eq(c["attributes"], {"b": 1, "n": {"y": 2}}, "null members dropped on PUT (nested too)")
    t.eq(get(t, cid)["attributes"], {"b": 1, "n": {"y": 2}}, "stored attributes")


def test_put_kind_validation(t):
    cid = t.uid()
    for kind in ("robot", "", "Person", 1, ["person"]):
        r = t.req("PUT", path(cid), {"kind": kind, "attributes": {}})
        p = t.problem(r, 422)
        t.check("/kind" in t.pointers(p), "pointer /kind missing in %s" % t.pointers(p), r)
    t.problem(t.req("GET", path(cid)), 404)


def test_put_unknown_top_level_key_422(t):
    cid = t.uid()
    for body in ({"attributes": {}, "atributes": {"a": 1}}, {"metrics": {"orders": 5}},
                 {"attributes": {}, "metrics": {"orders": 5}}):
        r = t.req("PUT", path(cid), body)
        p = t.problem(r, 422)
        t.check(p.get("errors"), "422 without errors[]", r)
    t.problem(t.req("GET", path(cid)), 404)


def test_put_attributes_must_be_object(t):
    cid = t.uid()
    for attrs in ([1, 2], "x", 5, True):
        r = t.req("PUT", path(cid), {"attributes": attrs})
        p = t.problem(r, 422)
        t.check("/attributes" in t.pointers(p), "pointer /attributes expected", r)


def test_body_not_json_400(t):
    cid = t.uid()
    for raw in (b"{", b"", b"not json", b'{"attributes": {}} trailing', b"\xff\xfe{}",
                b'{"attributes": {"a": 1,}}', b"{'attributes': {}}"):
        r = t.req("PUT", path(cid), raw_body=raw, ctype="application/json")
        t.problem(r, 400)
    t.problem(t.req("GET", path(cid)), 404)


def test_body_json_but_not_object(t):
    cid = t.uid()
    for raw in (b"[]", b"null", b"1", b'"x"'):
        r = t.req("PUT", path(cid), raw_body=raw, ctype="application/json")
        t.problem(r, 400, 422)


def test_wrong_content_type_415(t):
    cid = t.uid()
    body = json.dumps({"attributes": {}}).encode()
    for ct in ("text/plain", "application/x-www-form-urlencoded", "application/xml",
               "application/x-ndjson", None):
        r = t.req("PUT", path(cid), raw_body=body, ctype=ct)
        t.problem(r, 415)
    # parameters on a good media type are fine
    r = t.req("PUT", path(cid), raw_body=body, ctype="application/json; charset=utf-8")
    t.expect(r, 201)
    r = t.req("PATCH", path(cid), raw_body=b'{"attributes":{"z":1}}', ctype="text/plain")
    t.problem(r, 415)
    r = t.req("PATCH", path(cid), raw_body=b'{"attributes":{"z":1}}', ctype="application/merge-patch+json")
    t.expect(r, 200)
    r = t.req("PUT", path(cid), raw_body=body, ctype="application/merge-patch+json")
    t.problem(r, 415)


def test_id_length_limits(t):
    ok128 = ("L" + t.uid()).ljust(128, "x")
    c = put(t, ok128, {"attributes": {}}, (201,))
    t.eq(c["id"], ok128, "128-byte id")
    bad129 = ok128 + "y"
    t.problem(t.req("GET", path(bad129)), 400, 404, 422)
    # bytes, not characters: 32 four-byte emoji = 128 bytes is fine, one more byte is not
    pref = t.uid("")[1:5]  # 4 ascii bytes
    e128 = pref + "\U0001F389" * 31  # 4 + 124 = 128 bytes
    t.eq(len(e128.encode()), 128, "test setup")
    c = put(t, e128, {"attributes": {}})
    t.eq(c["id"], e128, "128-byte multi-byte id")
    r = t.req("PUT", path(e128 + "a"), {"attributes": {}})
    t.problem(r, 400, 422)
    t.problem(t.req("GET", path(bad129)), 404, 400, 422)
    # well-formed but invalid: 422 (brief; SPEC §2 "well-formed but invalid")
    r = t.req("PUT", path(bad129), {"attributes": {}})
    t.problem(r, 422)


def test_id_with_control_chars_or_bad_utf8_422(t):
    base = t.uid()
    # control characters: well-formed but invalid ids (brief: 422)
    for raw in ("%00", "%01", "%0A", "%1F", "%7F"):
        p = "/v1/customers/" + q(base) + raw
        r = t.req("PUT", p, {"attributes": {}})
        t.problem(r, 422)
    # bytes that are not UTF-8: 400 or 422
    for raw in ("%FF", "%C3", "%ED%A0%80", "%C0%AF"):
        p = "/v1/customers/" + q(base) + raw
        r = t.req("PUT", p, {"attributes": {}})
        t.problem(r, 400, 422)


def test_get_unknown_404(t):
    r = t.req("GET", path(t.uid()))
    t.problem(r, 404)


def test_patch_absent_404(t):
    cid = t.uid()
    r = t.req("PATCH", path(cid), {"attributes": {"a": 1}})
    t.problem(r, 404)
    t.problem(t.req("GET", path(cid)), 404)


def test_patch_merge_semantics(t):
    cid = t.uid()
    put(t, cid, {"attributes": {"keep": 1, "drop": 2, "nested": {"a": 1, "b": {"c": 1, "d": 2}},
                                "list": [1, 2, 3], "obj_to_scalar": {"x": 1}, "s": "v"}}, (201,))
    r = t.req("PATCH", path(cid), {"attributes": {
        "drop": None, "nested": {"b": {"d": None, "e": 3}, "f": 4}, "list": [9],
        "obj_to_scalar": 7, "new": {"deep": {"x": None, "y": 1}}, "absent_null": None}})
    c = t.expect_json(r, 200)
    want = {"keep": 1, "nested": {"a": 1, "b": {"c": 1, "e": 3}, "f": 4}, "list": [9],
            "obj_to_scalar": 7, "new": {"deep": {"y": 1}}, "s": "v"}
    t.eq(c["attributes"], want, "attributes after merge patch", r)
    t.eq(get(t, cid)["attributes"], want, "stored attributes after merge patch")
    # scalar -> object, and an empty patch changes nothing
    c = t.expect_json(t.req("PATCH", path(cid), {"attributes": {"s": {"t": None, "u": 1}}}), 200)
    t.eq(c["attributes"]["s"], {"u": 1}, "scalar replaced by patched object (nulls removed)")
    c = t.expect_json(t.req("PATCH", path(cid), {}), 200)
    t.eq(c["attributes"]["keep"], 1, "empty patch")
    c = t.expect_json(t.req("PATCH", path(cid), {"attributes": {}}), 200)
    t.eq(c["attributes"]["keep"], 1, "empty attributes patch")


def test_patch_attributes_null_clears(t):
    cid = t.uid()
    put(t, cid, {"kind": "company", "attributes": {"a": 1, "b": {"c": 2}}}, (201,))
    c = t.expect_json(t.req("PATCH", path(cid), {"attributes": None}), 200)
    t.eq(c["attributes"], {}, "attributes after \"attributes\": null")
    t.eq(c["kind"], "company", "kind untouched")


def test_patch_kind(t):
    cid = t.uid()
    put(t, cid, {"attributes": {"a": 1}}, (201,))
    c = t.expect_json(t.req("PATCH", path(cid), {"kind": "company"}), 200)
    t.eq(c["kind"], "company", "kind after patch")
    t.eq(c["attributes"], {"a": 1}, "attributes untouched by a kind patch")
    for bad in (None, "robot", 3):
        r = t.req("PATCH", path(cid), {"kind": bad})
        p = t.problem(r, 422)
        t.check("/kind" in t.pointers(p), "pointer /kind", r)
    t.eq(get(t, cid)["kind"], "company", "kind after refused patches")


def test_patch_unknown_key_and_bad_types(t):
    cid = t.uid()
    put(t, cid, {"attributes": {"a": 1}}, (201,))
    t.problem(t.req("PATCH", path(cid), {"attribs": {"a": 2}}), 422)
    t.problem(t.req("PATCH", path(cid), {"attributes": [1]}), 422)
    t.problem(t.req("PATCH", path(cid), raw_body=b"[1]", ctype="application/json"), 400, 422)
    t.problem(t.req("PATCH", path(cid), raw_body=b"{", ctype="application/json"), 400)
    t.eq(get(t, cid)["attributes"], {"a": 1}, "attributes after refused patches")


def test_delete(t):
    cid = t.uid()
    put(t, cid, {"attributes": {"a": 1}}, (201,))
    r = t.req("DELETE", path(cid))
    t.expect(r, 204)
    t.check(r.body == b"", "204 with a body", r)
    t.problem(t.req("GET", path(cid)), 404)
    t.problem(t.req("DELETE", path(cid)), 404)
    t.problem(t.req("PATCH", path(cid), {"attributes": {"a": 2}}), 404)
    c = put(t, cid, {"attributes": {}}, (201,))
    t.eq(c["attributes"], {}, "re-created customer starts empty")


def test_exact_numbers_round_trip(t):
    cid = t.uid()
    raw = (b'{"attributes": {"p": 1.0000000000000001, "tiny": 1e-20, "big": 9007199254740993,'
           b' "neg": -0.1, "money": 19.99, "zero": 0}}')
    r = t.req("PUT", path(cid), raw_body=raw, ctype="application/json")
    t.expect(r, 201)
    a = get(t, cid)["attributes"]
    t.eq(Decimal(str(a["p"])), Decimal("1.0000000000000001"), "1.0000000000000001 kept exactly")
    t.eq(Decimal(str(a["tiny"])), Decimal("1e-20"), "1e-20")
    t.eq(a["big"], 9007199254740993, "2^53+1 kept exactly")
    t.eq(Decimal(str(a["money"])), Decimal("19.99"), "19.99")
    t.eq(Decimal(str(a["neg"])), Decimal("-0.1"), "-0.1")


def test_unicode_attributes_round_trip(t):
    cid = t.uid()
    attrs = {"名前": "山田 太郎", "emoji": "\U0001F389\u200d\U0001F525", "rtl": "\u05e9\u05dc\u05d5\u05dd",
             "combining": "e\u0301", "esc": "quote\" backslash\\ tab\t nl\n", "ctrl": "\u0001\u001f",
             "nested": {"ключ": ["ä", "ö", "ü"]}}
    c = put(t, cid, {"attributes": attrs}, (201,))
    t.eq(c["attributes"], attrs, "unicode attributes in the PUT response")
    t.eq(get(t, cid)["attributes"], attrs, "unicode attributes after GET")
    # raw UTF-8 (not \\u escapes) in the body
    raw = '{"attributes": {"stadt": "東京", "x": "🎉"}}'.encode("utf-8")
    r = t.req("PUT", path(cid), raw_body=raw, ctype="application/json")
    t.expect(r, 200)
    t.eq(get(t, cid)["attributes"], {"stadt": "東京", "x": "🎉"}, "raw UTF-8 body")


def test_invalid_utf8_or_nul_in_body_4xx(t):
    cid = t.uid()
    for raw in (b'{"attributes": {"a": "\xff\xfe"}}', b'{"attributes": {"a": "\xed\xa0\x80"}}',
                b'{"attributes": {"a": "a\\u0000b"}}', b'{"attributes": {"a\\u0000": 1}}',
                b'{"attributes": {"a": "\\ud800"}}'):
        r = t.req("PUT", path(cid), raw_body=raw, ctype="application/json")
        t.problem(r, 400, 422)
    t.problem(t.req("GET", path(cid)), 404)


def test_unicode_ids_in_path(t):
    u = t.uid("")[1:]
    for cid in ("kunde-ä-東京-🎉-" + u, "a/b/" + u, "with space " + u, "q?x=1#frag&" + u,
                "%41-literal-percent-" + u, "dot..%2F" + u, "plus+sign;semi," + u):
        r = t.req("PUT", path(cid), {"attributes": {"id_was": cid}})
        c = t.expect_json(r, 201)
        t.eq(c["id"], cid, "id echoed", r)
        g = get(t, cid)
        t.eq(g["id"], cid, "GET id")
        t.eq(g["attributes"], {"id_was": cid}, "GET attributes")
        t.expect(t.req("PATCH", path(cid), {"attributes": {"p": 1}}), 200)
        t.expect(t.req("DELETE", path(cid)), 204)
        t.problem(t.req("GET", path(cid)), 404)


def test_deeply_nested_and_huge_bodies(t):
    cid = t.uid()
    deep = b'{"attributes": {"d": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    r = t.req("PUT", path(cid), raw_body=deep, ctype="application/json")
    t.problem(r, 400, 422)
    obj = b'{"attributes": {"d": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}}"
    r = t.req("PUT", path(cid), raw_body=obj, ctype="application/json")
    t.problem(r, 400, 422)
    # a large but legal body (2 MiB string) is stored and read back
    big = {"attributes": {"blob": "x" * (2 << 20), "n": 1}}
    r = t.req("PUT", path(cid), big)
    t.expect(r, 201)
    a = get(t, cid)["attributes"]
    t.eq(len(a["blob"]), 2 << 20, "2 MiB attribute length")
    t.expect(t.req("GET", "/healthz", key=None), 200)


def test_many_attribute_keys_fast_and_no_5xx(t):
    import os
    slow = 3 if os.environ.get("SEGMENTD_SANITIZED") == "1" else 1
    problems = []
    cid = t.uid()
    big = {"attributes": {"k%05d" % i: i for i in range(20000)}}
    r = t.req("PUT", path(cid), big, timeout=60)
    t.expect(r, 201)
    if r.elapsed >= 5 * slow:
        problems.append("PUT with 20,000 attribute keys (370 KB) took %.1fs (quadratic merge?)"
                        % r.elapsed)
    t.eq(len(get(t, cid)["attributes"]), 20000, "number of attributes")
    r = t.req("PATCH", path(cid), {"attributes": {"p%05d" % i: i for i in range(20000)}}, timeout=60)
    if r.status != 200:
        problems.append("PATCH of 20,000 new keys onto 20,000 keys: expected 200, got %d after "
                        "%.1fs\n%s" % (r.status, r.elapsed, r.describe()))
    elif r.elapsed >= 5 * slow:
        problems.append("PATCH with 20,000 attribute keys took %.1fs" % r.elapsed)
    # 60,000 keys (1.1 MB, far below the 16 MiB body limit): an answer, never a 5xx
    r = t.req("PUT", path(t.uid()), {"attributes": {"k%06d" % i: i for i in range(60000)}},
              timeout=120)
    if r.status not in (201, 413, 422):
        problems.append("PUT with 60,000 attribute keys: expected 201 (or 413/422), got %d after "
                        "%.1fs\n%s" % (r.status, r.elapsed, r.describe()))
    t.check(not problems, "\n".join(problems))


def test_ids_are_bytes_not_normalised(t):
    u = t.uid("")
    ids = ["\u00e9" + u, "e\u0301" + u, "ABC" + u, "abc" + u, "abc" + u + " "]
    for cid in ids:
        t.expect(t.req("PUT", path(cid), {"attributes": {"v": cid}}), 201)
    for cid in ids:
        t.eq(get(t, cid)["attributes"], {"v": cid}, "customer %r (NFC/NFD, case, trailing space "
             "are different ids)" % cid)


def test_number_edge_cases(t):
    cid = t.uid()
    put(t, cid, {"attributes": {}}, (201,))
    for raw in (b'{"attributes": {"a": 1e999}}', b'{"attributes": {"a": NaN}}',
                b'{"attributes": {"a": Infinity}}', b'{"attributes": {"a": 01}}',
                b'{"attributes": {"a": 123456789012345678901234567890}}'):
        r = t.req("PUT", path(cid), raw_body=raw, ctype="application/json")
        if r.status in (200, 201) and b"12345678901234567890" in raw:
            a = get(t, cid)["attributes"]
            t.eq(a["a"], 123456789012345678901234567890, "a big integer accepted must be exact")
            continue
        t.problem(r, 400, 422)


def test_chunked_body_under_the_limit(t):
    cid = t.uid()

    def gen():
        yield b'{"attributes": '
        yield b'{"a": 1, '
        yield b'"b": "\xc3'  # a UTF-8 sequence split across chunks
        yield b'\xa4"}}'
    r = t.req("PUT", path(cid), raw_body=gen(), ctype="application/json", chunked=True)
    t.expect(r, 201)
    t.eq(get(t, cid)["attributes"], {"a": 1, "b": "\u00e4"}, "attributes sent chunked")

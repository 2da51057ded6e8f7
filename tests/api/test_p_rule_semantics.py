"""Rule semantics (SPEC §3, rules/README.md) through POST /v1/segments:preview.

Every operator against a present value, a value of another type, JSON null, a missing key and
a missing parent object, and the same under `not` (two-valued logic: exact expected id sets);
typed comparisons; timestamps as instants; unicode in byte order; numbers compared exactly;
event windows, filters and aggregates over no events; metrics without a value; the preview's
count, share and sample; 422 with pointers for bad rules. Each test works in a tenant of its
own, so the expected sets are exact.
"""
import datetime
import json
import urllib.parse

UTC = datetime.timezone.utc
PREVIEW = "/v1/segments:preview"


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def iso(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now():
    return datetime.datetime.now(UTC).replace(microsecond=0)


def put(t, key, cid, attrs, kind=None, raw=None):
    if raw is not None:
        r = t.req("PUT", cpath(cid), key=key, ctype="application/json",
                  raw_body=b'{"attributes": ' + raw + b"}")
    else:
        body = {"attributes": attrs}
        if kind:
            body["kind"] = kind
        r = t.req("PUT", cpath(cid), body, key=key)
    t.expect(r, 201, 200)


def preview(t, key, rule, raw=None):
    if raw is not None:
        r = t.req("POST", PREVIEW, key=key, ctype="application/json",
                  raw_body=b'{"rule": ' + raw + b"}")
    else:
        r = t.req("POST", PREVIEW, {"rule": rule}, key=key)
    return t.expect_json(r, 200)


def matches(t, key, rule, raw=None):
    """The ids a rule matches (every one: the tests keep them at most 10)."""
    d = preview(t, key, rule, raw)
    if d.get("count", 0) > 10:
        t.fail("preview of %s counts %s customers, more than the sample shows" % (rule, d))
    t.eq(d.get("count"), len(d.get("sample", [])), "count equals the sample's size")
    t.eq(d.get("sample"), sorted(d.get("sample", [])), "sample ascending")
    return set(d.get("sample", []))


def expect_set(t, key, rule, want, everyone, raw=None, label=None):
    """rule matches exactly want, and {"not": rule} exactly everyone - want."""
    what = label or json.dumps(rule)
    got = matches(t, key, rule, raw)
    t.eq(sorted(got), sorted(want), "matches of %s" % what)
    if raw is not None:
        nraw = b'{"not": ' + raw + b"}"
        ngot = matches(t, key, None, nraw)
    else:
        ngot = matches(t, key, {"not": rule})
    t.eq(sorted(ngot), sorted(set(everyone) - set(want)), "matches of not %s" % what)


# ----- attributes: every operator against every kind of subject ----------------------------

# The subject of each customer (under "v" and under "o.v"): present values of each JSON type,
# null, missing, and (for "o.v") a parent that is not there. Two groups of at most 10 each.
SUBJECTS = {
    "a-num30": 30,
    "a-num305": 30.5,
    "a-str30": "30",
    "a-strabc": "abc",
    "a-true": True,
    "a-list": ["abc", 30, "x"],
    "b-null": None,
    "b-missing": "<missing>",
    "b-obj": {"abc": 1},
    "b-ts": "2026-01-02T03:04:05Z",
    "b-date": "2025-12-31",
    "b-bad-date": "2026-02-30",
}


def setup_subjects(t, key):
    for cid, v in SUBJECTS.items():
        if v == "<missing>":
            put(t, key, cid, {"o": {}})
        elif v is None:
            put(t, key, cid, {"v": None, "o": {"v": None}})
        else:
            put(t, key, cid, {"v": v, "o": {"v": v}})
    put(t, key, "b-none", {})


A = {c for c in SUBJECTS if c.startswith("a-")}
B = {c for c in SUBJECTS if c.startswith("b-")} | {"b-none"}

# (op, value or absent, expected ids) — SPEC §3 with rules/README.md
CASES = [
    ("eq", 30, {"a-num30"}),
    ("eq", 30.0, {"a-num30"}),
    ("eq", "30", {"a-str30"}),
    ("eq", True, {"a-true"}),
    ("eq", False, set()),
    ("ne", 30, {"a-num305"}),
    ("ne", "30", {"a-strabc", "b-ts", "b-date", "b-bad-date"}),
    ("ne", False, {"a-true"}),
    ("lt", 30.5, {"a-num30"}),
    ("lte", 30.5, {"a-num30", "a-num305"}),
    ("gt", 30, {"a-num305"}),
    ("gte", 30, {"a-num30", "a-num305"}),
    ("lt", "b", {"a-str30", "a-strabc", "b-ts", "b-date", "b-bad-date"}),
    ("gt", "2026", {"a-str30", "a-strabc", "b-ts", "b-bad-date"}),
    ("between", [30, 30.5], {"a-num30", "a-num305"}),
    ("between", [30.1, 30.2], set()),
    ("between", ["2025", "2026-01"], {"b-date"}),
    ("in", [30, 31], {"a-num30"}),
    ("in", ["abc", "zzz"], {"a-strabc"}),
    ("in", [True], {"a-true"}),
    ("not_in", [30], {"a-num305"}),
    ("not_in", ["abc"], {"a-str30", "b-ts", "b-date", "b-bad-date"}),
    ("not_in", [False], {"a-true"}),
    ("contains", "b", {"a-strabc"}),
    ("contains", "abc", {"a-strabc", "a-list"}),
    ("contains", "x", {"a-list"}),
    ("contains", "", {"a-str30", "a-strabc", "b-ts", "b-date", "b-bad-date"}),
    ("starts_with", "ab", {"a-strabc"}),
    ("starts_with", "20", {"b-ts", "b-date", "b-bad-date"}),
    ("exists", None, (A | B) - {"b-null", "b-missing", "b-none"}),
    ("not_exists", None, {"b-null", "b-missing", "b-none"}),
    ("before", "2026-01-01", {"b-date"}),
    ("before", "2026-01-02T03:04:05Z", {"b-date"}),
    ("before", "2026-01-02T04:04:06+01:00", {"b-date", "b-ts"}),
    ("after", "2026-01-01T00:00:00Z", {"b-ts"}),
    ("after", "2025-12-30", {"b-ts", "b-date"}),
    ("before", "+1d", {"b-ts", "b-date"}),
    ("after", "-1d", set()),
    ("within_last", "520w", {"b-ts", "b-date"}),
    ("within_last", "1h", set()),
    ("older_than", "1d", {"b-ts", "b-date"}),
    ("older_than", "5200w", set()),
]


def leaf(attr, op, value):
    n = {"attr": attr, "op": op}
    if op not in ("exists", "not_exists"):
        n["value"] = value
    return n


def test_every_operator_against_every_subject_and_under_not(t):
    _, key = t.new_tenant()
    setup_subjects(t, key)
    for attr in ("v", "o.v"):
        for op, value, want in CASES:
            for group in (A, B):
                prefix = "a-" if group is A else "b-"
                rule = {"all": [{"field": "id", "op": "starts_with", "value": prefix},
                                leaf(attr, op, value)]}
                got = matches(t, key, rule)
                t.eq(sorted(got), sorted(want & group),
                     "%s %s %s (group %s)" % (attr, op, json.dumps(value), prefix))
                nrule = {"all": [{"field": "id", "op": "starts_with", "value": prefix},
                                 {"not": leaf(attr, op, value)}]}
                ngot = matches(t, key, nrule)
                t.eq(sorted(ngot), sorted(group - want),
                     "not %s %s %s (group %s)" % (attr, op, json.dumps(value), prefix))


def test_all_any_not_composition(t):
    _, key = t.new_tenant()
    for cid, age, country in (("c1", 20, "DE"), ("c2", 40, "FR"), ("c3", None, "DE"),
                              ("c4", 50, None)):
        attrs = {}
        if age is not None:
            attrs["age"] = age
        if country is not None:
            attrs["country"] = country
        put(t, key, cid, attrs)
    everyone = {"c1", "c2", "c3", "c4"}
    expect_set(t, key, {"all": []}, everyone, everyone)
    expect_set(t, key, {"any": []}, set(), everyone)
    # SPEC's own examples: not gt matches those without an age; ne does not match the missing
    expect_set(t, key, {"not": {"attr": "age", "op": "gt", "value": 30}}, {"c1", "c3"}, everyone)
    expect_set(t, key, {"attr": "country", "op": "ne", "value": "DE"}, {"c2"}, everyone)
    expect_set(t, key, {"all": [{"attr": "age", "op": "gte", "value": 30},
                                {"attr": "country", "op": "eq", "value": "FR"}]}, {"c2"},
               everyone)
    expect_set(t, key, {"any": [{"attr": "age", "op": "lt", "value": 30},
                                {"attr": "country", "op": "not_exists"}]}, {"c1", "c4"},
               everyone)
    expect_set(t, key, {"not": {"not": {"attr": "age", "op": "exists"}}}, {"c1", "c2", "c4"},
               everyone)


def test_numbers_compare_exactly(t):
    _, key = t.new_tenant()
    put(t, key, "x01", None, raw=b'{"v": 0.1}')
    put(t, key, "x02", None, raw=b'{"v": 0.10000000000000001}')
    put(t, key, "x03", None, raw=b'{"v": 1e3}')
    put(t, key, "x04", None, raw=b'{"v": 123456789012345678901234567890}')
    everyone = {"x01", "x02", "x03", "x04"}
    expect_set(t, key, None, {"x01"}, everyone, raw=b'{"attr": "v", "op": "eq", "value": 0.1}')
    expect_set(t, key, None, {"x01"}, everyone,
               raw=b'{"attr": "v", "op": "eq", "value": 0.1000}')
    expect_set(t, key, None, {"x02"}, everyone,
               raw=b'{"attr": "v", "op": "eq", "value": 0.10000000000000001}')
    expect_set(t, key, None, {"x02", "x03", "x04"}, everyone,
               raw=b'{"attr": "v", "op": "gt", "value": 0.1}')
    expect_set(t, key, None, {"x03"}, everyone,
               raw=b'{"attr": "v", "op": "eq", "value": 1000}')
    expect_set(t, key, None, {"x04"}, everyone,
               raw=b'{"attr": "v", "op": "eq", "value": 123456789012345678901234567890}')
    expect_set(t, key, None, set(), everyone,
               raw=b'{"attr": "v", "op": "eq", "value": 123456789012345678901234567891}')
    expect_set(t, key, None, {"x01", "x02"}, everyone,
               raw=b'{"attr": "v", "op": "in", "value": [0.1, 0.10000000000000001]}')


def test_strings_in_byte_order_and_unicode(t):
    _, key = t.new_tenant()
    names = {"u1": "Zebra", "u2": "apple", "u3": "Äpfel", "u4": "日本", "u5": "Müller",
             "u6": "Mu\u0308ller"}
    for cid, n in names.items():
        put(t, key, cid, {"name": n})
    everyone = set(names)
    # byte order: "Z" (0x5a) < "a" (0x61) < "Ä" (0xc3 0x84) < "日" (0xe6)
    expect_set(t, key, {"attr": "name", "op": "lt", "value": "a"}, {"u1", "u5", "u6"}, everyone)
    expect_set(t, key, {"attr": "name", "op": "gt", "value": "zzz"}, {"u3", "u4"}, everyone)
    expect_set(t, key, {"attr": "name", "op": "starts_with", "value": "Mü"}, {"u5"}, everyone)
    # no Unicode normalisation: the decomposed form is another string
    expect_set(t, key, {"attr": "name", "op": "eq", "value": "Müller"}, {"u5"}, everyone)
    expect_set(t, key, {"attr": "name", "op": "contains", "value": "本"}, {"u4"}, everyone)
    expect_set(t, key, {"attr": "name", "op": "in", "value": ["日本", "apple"]}, {"u2", "u4"},
               everyone)
    # case-sensitive
    expect_set(t, key, {"attr": "name", "op": "contains", "value": "pfel"}, {"u3"}, everyone)
    expect_set(t, key, {"attr": "name", "op": "eq", "value": "APPLE"}, set(), everyone)


def test_registered_timestamps_compare_as_instants(t):
    _, key = t.new_tenant()
    for name, typ in (("seen", "timestamp"), ("born", "date")):
        r = t.req("PUT", "/v1/attributes/" + name, {"type": typ, "category": "other"}, key=key)
        t.expect(r, 201, 200)
    put(t, key, "r1", {"seen": "2026-01-02T03:04:05Z", "born": "1990-05-17"})
    put(t, key, "r2", {"seen": "2026-01-02T04:04:05+01:00", "born": "1990-05-18"})
    put(t, key, "r3", {"seen": "2026-01-03T00:00:00Z"})
    put(t, key, "r4", {})
    everyone = {"r1", "r2", "r3", "r4"}
    # the same instant written twice
    expect_set(t, key, {"attr": "seen", "op": "eq", "value": "2026-01-02T03:04:05Z"},
               {"r1", "r2"}, everyone)
    expect_set(t, key, {"attr": "seen", "op": "ne", "value": "2026-01-02T03:04:05Z"}, {"r3"},
               everyone)
    expect_set(t, key, {"attr": "seen", "op": "lt", "value": "2026-01-02T04:00:00+00:00"},
               {"r1", "r2"}, everyone)
    expect_set(t, key, {"attr": "seen", "op": "gte", "value": "2026-01-03"}, {"r3"}, everyone)
    expect_set(t, key, {"attr": "seen", "op": "between",
                        "value": ["2026-01-02", "2026-01-02T23:59:59Z"]}, {"r1", "r2"}, everyone)
    expect_set(t, key, {"attr": "seen", "op": "in",
                        "value": ["2026-01-03T01:00:00+01:00", "2020-01-01"]}, {"r3"}, everyone)
    expect_set(t, key, {"attr": "born", "op": "eq", "value": "1990-05-17T00:00:00Z"}, {"r1"},
               everyone)
    expect_set(t, key, {"attr": "born", "op": "after", "value": "1990-05-17"}, {"r2"}, everyone)
    expect_set(t, key, {"attr": "born", "op": "older_than", "value": "52w"}, {"r1", "r2"},
               everyone)


def test_fields(t):
    _, key = t.new_tenant()
    put(t, key, "f1", {}, kind="company")
    put(t, key, "f2", {})
    put(t, key, "f3", {}, kind="person")
    everyone = {"f1", "f2", "f3"}
    expect_set(t, key, {"field": "kind", "op": "eq", "value": "company"}, {"f1"}, everyone)
    expect_set(t, key, {"field": "kind", "op": "ne", "value": "company"}, {"f2", "f3"}, everyone)
    expect_set(t, key, {"field": "id", "op": "in", "value": ["f1", "f3", "zz"]}, {"f1", "f3"},
               everyone)
    expect_set(t, key, {"field": "id", "op": "gt", "value": "f1"}, {"f2", "f3"}, everyone)
    expect_set(t, key, {"field": "created_at", "op": "within_last", "value": "1h"}, everyone,
               everyone)
    expect_set(t, key, {"field": "created_at", "op": "after", "value": "-1h"}, everyone,
               everyone)
    expect_set(t, key, {"field": "updated_at", "op": "before", "value": "2020-01-01"}, set(),
               everyone)
    expect_set(t, key, {"field": "created_at", "op": "gt", "value": "2020-01-01T00:00:00Z"},
               everyone, everyone)
    expect_set(t, key, {"field": "kind", "op": "exists"}, everyone, everyone)


def post_events(t, key, events):
    r = t.req("POST", "/v1/events", events, key=key)
    t.expect_json(r, 202)


def test_metrics_without_a_value(t):
    _, key = t.new_tenant()
    n = now()
    put(t, key, "m-buyer", {})
    put(t, key, "m-visitor", {})
    put(t, key, "m-none", {})
    post_events(t, key, [
        {"customer_id": "m-buyer", "type": "purchase", "occurred_at": iso(n - datetime.timedelta(days=3)), "amount": 10},
        {"customer_id": "m-buyer", "type": "purchase", "occurred_at": iso(n - datetime.timedelta(days=1)), "amount": 20.5},
        {"customer_id": "m-visitor", "type": "page_view", "occurred_at": iso(n - datetime.timedelta(days=2))},
    ])
    everyone = {"m-buyer", "m-visitor", "m-none"}
    expect_set(t, key, {"metric": "orders", "op": "eq", "value": 0}, {"m-visitor", "m-none"},
               everyone)
    expect_set(t, key, {"metric": "revenue", "op": "eq", "value": 30.5}, {"m-buyer"}, everyone)
    expect_set(t, key, {"metric": "events", "op": "gte", "value": 1}, {"m-buyer", "m-visitor"},
               everyone)
    # null until the first revenue event: false, and its not true
    expect_set(t, key, {"metric": "avg_order_value", "op": "gte", "value": 0}, {"m-buyer"},
               everyone)
    expect_set(t, key, {"metric": "avg_order_value", "op": "eq", "value": 15.25}, {"m-buyer"},
               everyone)
    expect_set(t, key, {"metric": "recency_days", "op": "lt", "value": 100000}, {"m-buyer"},
               everyone)
    expect_set(t, key, {"metric": "recency_days", "op": "eq", "value": 1}, {"m-buyer"}, everyone)
    expect_set(t, key, {"metric": "recency_days", "op": "not_exists"}, {"m-visitor", "m-none"},
               everyone)
    expect_set(t, key, {"metric": "last_purchase_at", "op": "within_last", "value": "2d"},
               {"m-buyer"}, everyone)
    expect_set(t, key, {"metric": "first_purchase_at", "op": "older_than", "value": "2d"},
               {"m-buyer"}, everyone)
    expect_set(t, key, {"metric": "last_event_at", "op": "exists"}, {"m-buyer", "m-visitor"},
               everyone)
    expect_set(t, key, {"metric": "tenure_days", "op": "gte", "value": 0}, everyone, everyone)


def test_events_windows_filters_and_aggregates(t):
    _, key = t.new_tenant()
    n = now()

    def at(days):
        return iso(n - datetime.timedelta(days=days))

    for cid in ("e-three", "e-old", "e-none", "e-props", "e-future"):
        put(t, key, cid, {})
    post_events(t, key, [
        {"customer_id": "e-three", "type": "purchase", "occurred_at": at(1), "amount": 10,
         "properties": {"channel": "web", "score": 5}},
        {"customer_id": "e-three", "type": "purchase", "occurred_at": at(10), "amount": 20,
         "properties": {"channel": "app", "score": "high"}},
        {"customer_id": "e-three", "type": "purchase", "occurred_at": at(20), "amount": 30.5,
         "properties": {"channel": "web"}},
        {"customer_id": "e-three", "type": "page_view", "occurred_at": at(1)},
        {"customer_id": "e-old", "type": "purchase", "occurred_at": at(100), "amount": 99},
        {"customer_id": "e-props", "type": "purchase", "occurred_at": at(2),
         "properties": {"channel": "web", "score": 7.5}},
        # in the future: outside every window
        {"customer_id": "e-future", "type": "purchase",
         "occurred_at": iso(n + datetime.timedelta(days=5)), "amount": 1},
    ])
    everyone = {"e-three", "e-old", "e-none", "e-props", "e-future"}
    ex = lambda **kw: dict({"event": "purchase"}, **kw)
    # without op/value: at least one such event
    expect_set(t, key, ex(within_days=90), {"e-three", "e-props"}, everyone)
    expect_set(t, key, ex(), {"e-three", "e-old", "e-props", "e-future"}, everyone)
    expect_set(t, key, ex(within_days=90, agg="count", op="eq", value=3), {"e-three"}, everyone)
    # count over no events is 0
    expect_set(t, key, ex(within_days=90, agg="count", op="eq", value=0),
               {"e-old", "e-none", "e-future"}, everyone)
    expect_set(t, key, ex(within_days=15, agg="count", op="eq", value=2), {"e-three"}, everyone)
    # "at least one" and "none" compile to EXISTS / NOT EXISTS: the same sets as the count
    some, none = {"e-three", "e-props"}, {"e-old", "e-none", "e-future"}
    for op, value, want in (("gte", 1, some), ("gte", 0.5, some), ("gt", 0, some),
                            ("gt", 0.5, some), ("lt", 1, none), ("lte", 0, none),
                            ("lte", 0.5, none), ("gte", 0, everyone), ("gt", 1, {"e-three"}),
                            ("lt", 0, set()), ("gte", 2, {"e-three"}),
                            ("lte", 1, none | {"e-props"})):
        expect_set(t, key, ex(within_days=90, agg="count", op=op, value=value), want, everyone)
    expect_set(t, key, ex(within_days=101, op="gte", value=1),
               {"e-three", "e-old", "e-props"}, everyone)
    # sum over no values is 0; an event without amount adds nothing
    expect_set(t, key, ex(within_days=90, agg="sum", op="eq", value=60.5), {"e-three"},
               everyone)
    expect_set(t, key, ex(within_days=90, agg="sum", op="eq", value=0),
               {"e-old", "e-none", "e-future", "e-props"}, everyone)
    # avg/min/max over no values: false, and not of it true
    expect_set(t, key, ex(within_days=90, agg="avg", op="gte", value=0), {"e-three"}, everyone)
    expect_set(t, key, ex(within_days=90, agg="min", op="eq", value=10), {"e-three"}, everyone)
    expect_set(t, key, ex(within_days=90, agg="max", op="eq", value=30.5), {"e-three"}, everyone)
    expect_set(t, key, ex(agg="max", op="gt", value=50), {"e-old"}, everyone)
    expect_set(t, key, ex(within_days=90, agg="count", op="between", value=[2, 3]),
               {"e-three"}, everyone)
    expect_set(t, key, ex(within_days=90, agg="count", op="between", value=[0, 0]),
               {"e-old", "e-none", "e-future"}, everyone)
    expect_set(t, key, ex(within_days=90, agg="sum", op="between", value=[60, 61]),
               {"e-three"}, everyone)
    expect_set(t, key, ex(within_days=90, agg="avg", op="between", value=[0, 1000]),
               {"e-three"}, everyone)
    expect_set(t, key, ex(within_days=90, agg="count", op="in", value=[1, 3]),
               {"e-three", "e-props"}, everyone)
    expect_set(t, key, ex(within_days=90, agg="count", op="not_in", value=[0]),
               {"e-three", "e-props"}, everyone)
    expect_set(t, key, ex(within_days=90, agg="min", op="ne", value=10), set(), everyone)
    # aggregates of a property use the events whose property is a number
    expect_set(t, key, ex(agg="sum", prop="score", op="eq", value=5), {"e-three"}, everyone)
    expect_set(t, key, ex(agg="avg", prop="score", op="gt", value=6), {"e-props"}, everyone)
    expect_set(t, key, ex(agg="min", prop="score", op="lt", value=100), {"e-three", "e-props"},
               everyone)
    # where filters with leaf semantics
    expect_set(t, key, ex(within_days=90, where=[{"prop": "channel", "op": "eq", "value": "web"}],
                          agg="count", op="eq", value=2), {"e-three"}, everyone)
    expect_set(t, key, ex(where=[{"prop": "channel", "op": "ne", "value": "web"}]), {"e-three"},
               everyone)
    expect_set(t, key, ex(where=[{"prop": "channel", "op": "not_exists"}]),
               {"e-old", "e-future"}, everyone)
    expect_set(t, key, ex(where=[{"prop": "amount", "op": "gt", "value": 25}]),
               {"e-three", "e-old"}, everyone)
    expect_set(t, key, ex(where=[{"prop": "score", "op": "gt", "value": 6},
                                 {"prop": "channel", "op": "eq", "value": "web"}]),
               {"e-props"}, everyone)
    expect_set(t, key, ex(where=[{"prop": "amount", "op": "not_exists"}]), {"e-props"},
               everyone)
    expect_set(t, key, {"event": "page_view", "within_days": 7}, {"e-three"}, everyone)
    expect_set(t, key, {"event": "nothing_like_it"}, set(), everyone)


def test_preview_count_share_and_sample(t):
    _, key = t.new_tenant()
    d = preview(t, key, {"all": []})
    t.eq(d, {"count": 0, "share": 0, "sample": []}, "preview of a tenant without customers")
    ids = ["s%02d" % i for i in range(25)]
    for i, cid in enumerate(reversed(ids)):
        put(t, key, cid, {"i": i})
    d = preview(t, key, {"all": []})
    t.eq(d.get("count"), 25, "count")
    t.eq(float(d.get("share")), 1.0, "share")
    t.eq(d.get("sample"), ids[:10], "sample: the first 10 ids, ascending")
    d = preview(t, key, {"attr": "i", "op": "lt", "value": 5})
    t.eq(d.get("count"), 5, "count of i < 5")
    t.eq(float(d.get("share")), 0.2, "share of i < 5")
    t.eq(d.get("sample"), ids[-5:], "sample of i < 5")
    # nothing is saved, and another tenant sees none of it
    _, other = t.new_tenant()
    t.eq(preview(t, other, {"all": []}).get("count"), 0, "another tenant's preview")


def test_bad_rules_422_with_pointers(t):
    _, key = t.new_tenant()
    cases = [
        ({"rule": {"all": [{"attr": "a", "op": "gte_", "value": 1}]}}, "/rule/all/0/op"),
        ({"rule": {"attr": "a", "op": "gt"}}, "/rule/value"),
        ({"rule": {"attr": "a", "op": "exists", "value": 1}}, "/rule/value"),
        ({"rule": {"any": [{"metric": "revenu", "op": "gt", "value": 1}]}}, "/rule/any/0/metric"),
        ({"rule": {"segment": "987654321"}}, "/rule/segment"),
        ({"rule": {"not": {"attr": "a", "op": "in", "value": [1, "x"]}}}, "/rule/not/value/1"),
        ({"rule": {"event": "purchase", "within_days": 0}}, "/rule/within_days"),
        ({"rule": 3}, "/rule"),
        ({}, "/rule"),
        ({"rule": {"all": []}, "extra": 1}, "/extra"),
    ]
    for body, pointer in cases:
        r = t.req("POST", PREVIEW, body, key=key)
        p = t.problem(r, 422)
        t.check(pointer in t.pointers(p), "pointer %s missing for %s: %s"
                % (pointer, json.dumps(body), r.describe()), r)
    deep = {"attr": "a", "op": "exists"}
    for _ in range(33):
        deep = {"not": deep}
    p = t.problem(t.req("POST", PREVIEW, {"rule": deep}, key=key), 422)
    t.check(any(x.startswith("/rule/not") for x in t.pointers(p)), "pointer of a deep rule")
    t.problem(t.req("POST", PREVIEW, raw_body=b"{", ctype="application/json", key=key), 400)
    # a registered type refuses a value of another type
    r = t.req("PUT", "/v1/attributes/age", {"type": "integer", "category": "other"}, key=key)
    t.expect(r, 201, 200)
    p = t.problem(t.req("POST", PREVIEW, {"rule": {"attr": "age", "op": "eq", "value": "30"}},
                        key=key), 422)
    t.check("/rule/value" in t.pointers(p), "pointer of a type conflict")


def test_values_and_paths_are_parameters(t):
    """Quotes, braces, commas and backslashes in values and keys reach SQL as parameters."""
    _, key = t.new_tenant()
    evil = "x'); DROP TABLE customers; --"
    odd = "we'ird \"k\\ey"
    nested = {"b,c}": {"{d\"}": "deep"}}
    put(t, key, "i1", {odd: evil, "a": nested, "$1": "dollar"})
    put(t, key, "i2", {odd: "other", "a": {"b": {"c": "deep"}}})
    everyone = {"i1", "i2"}
    expect_set(t, key, {"attr": odd, "op": "eq", "value": evil}, {"i1"}, everyone)
    expect_set(t, key, {"attr": odd, "op": "in", "value": [evil, "{\"x\",y}"]}, {"i1"}, everyone)
    expect_set(t, key, {"attr": odd, "op": "contains", "value": "'); DROP"}, {"i1"}, everyone)
    expect_set(t, key, {"attr": "a.b,c}.{d\"}", "op": "eq", "value": "deep"}, {"i1"}, everyone)
    expect_set(t, key, {"attr": "a.b.c", "op": "eq", "value": "deep"}, {"i2"}, everyone)
    expect_set(t, key, {"attr": "$1", "op": "eq", "value": "dollar"}, {"i1"}, everyone)
    expect_set(t, key, {"event": "'; --", "where": [{"prop": "\\\"", "op": "exists"}]}, set(),
               everyone)
    t.eq(preview(t, key, {"all": []}).get("count"), 2, "the customers are still there")

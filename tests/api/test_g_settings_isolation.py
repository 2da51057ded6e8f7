"""Tenant settings (revenue_event_types, metric recomputation) and tenant isolation."""
import json
import urllib.parse
from decimal import Decimal


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def D(x):
    return Decimal(str(x)) if x is not None else None


def metrics(t, cid, key):
    return t.expect_json(t.req("GET", cpath(cid), key=key), 200)["metrics"]


def test_settings_default_and_validation(t):
    tenant, key = t.new_tenant()
    s = t.expect_json(t.req("GET", "/v1/settings", key=key), 200)
    t.eq(s.get("revenue_event_types"), ["purchase"], "default revenue_event_types")
    for body, ptr in (({"revenue_event_types": "purchase"}, "/revenue_event_types"),
                      ({"revenue_event_types": [1]}, "/revenue_event_types/0"),
                      ({"revenue_event_types": [""]}, "/revenue_event_types/0"),
                      ({"revenue_event_types": ["t" * 65]}, "/revenue_event_types/0"),
                      ({"revenue_event_types": None}, "/revenue_event_types"),
                      ({"currency": "EUR"}, None)):
        r = t.req("PATCH", "/v1/settings", body, key=key)
        p = t.problem(r, 422)
        if ptr:
            t.check(any(x and x.startswith(ptr.rsplit("/0", 1)[0]) for x in t.pointers(p)),
                    "pointer %s expected, got %s" % (ptr, t.pointers(p)), r)
    t.problem(t.req("PATCH", "/v1/settings", raw_body=b"{", ctype="application/json", key=key), 400)
    t.problem(t.req("PATCH", "/v1/settings", {"revenue_event_types": ["x"]}, ctype="text/plain",
                    key=key), 415)
    s = t.expect_json(t.req("GET", "/v1/settings", key=key), 200)
    t.eq(s.get("revenue_event_types"), ["purchase"], "settings after refused patches")


def test_revenue_event_types_recompute_metrics(t):
    tenant, key = t.new_tenant()
    a, b = t.uid(), t.uid()
    raw = json.dumps([
        {"customer_id": a, "type": "purchase", "occurred_at": "2026-01-01T00:00:00Z", "amount": "P1"},
        {"customer_id": a, "type": "subscription", "occurred_at": "2026-01-05T00:00:00Z", "amount": "P2"},
        {"customer_id": b, "type": "subscription", "occurred_at": "2026-01-03T00:00:00Z", "amount": "P3"},
        {"customer_id": b, "type": "page_view", "occurred_at": "2026-01-04T00:00:00Z"},
    ]).replace('"P1"', "10.5").replace('"P2"', "4.5").replace('"P3"', "7.25")
    t.expect(t.req("POST", "/v1/events", raw_body=raw.encode(), ctype="application/json", key=key), 202)
    ma, mb = metrics(t, a, key), metrics(t, b, key)
    t.eq((ma["orders"], D(ma["revenue"])), (1, Decimal("10.5")), "A before")
    t.eq((mb["orders"], D(mb["revenue"]), mb["last_purchase_at"]), (0, Decimal(0), None), "B before")
    r = t.req("PATCH", "/v1/settings", {"revenue_event_types": ["purchase", "subscription"]}, key=key)
    s = t.expect_json(r, 200)
    t.eq(s.get("revenue_event_types"), ["purchase", "subscription"], "PATCH response", r)
    t.eq(t.expect_json(t.req("GET", "/v1/settings", key=key), 200).get("revenue_event_types"),
         ["purchase", "subscription"], "GET after PATCH")
    ma, mb = metrics(t, a, key), metrics(t, b, key)
    t.eq((ma["orders"], D(ma["revenue"]), D(ma["avg_order_value"])),
         (2, Decimal("15.0"), Decimal("7.5")), "A recomputed")
    t.check(ma["last_purchase_at"].startswith("2026-01-05"), "A last_purchase_at %r" % ma["last_purchase_at"])
    t.eq((mb["orders"], D(mb["revenue"])), (1, Decimal("7.25")), "B recomputed")
    t.check((mb["first_purchase_at"] or "").startswith("2026-01-03"), "B first_purchase_at %r"
            % mb["first_purchase_at"])
    t.check(mb["recency_days"] is not None, "B recency_days still null after recomputation")
    # new events follow the new setting
    t.expect(t.req("POST", "/v1/events", {"customer_id": b, "type": "subscription",
                                          "occurred_at": "2026-01-06T00:00:00Z", "amount": 1},
                   key=key), 202)
    t.eq(metrics(t, b, key)["orders"], 2, "B orders after a new subscription event")
    # and switched to another type: purchases stop counting
    t.expect(t.req("PATCH", "/v1/settings", {"revenue_event_types": ["page_view"]}, key=key), 200)
    ma, mb = metrics(t, a, key), metrics(t, b, key)
    t.eq((ma["orders"], D(ma["revenue"]), ma["avg_order_value"], ma["first_purchase_at"]),
         (0, Decimal(0), None, None), "A with page_view as the only revenue type")
    t.eq(mb["orders"], 1, "B: the page_view counts as an order now")
    t.eq((ma["events"], mb["events"]), (2, 3), "events unaffected by settings")
    # the other tenant (A of the harness) is untouched
    s = t.expect_json(t.req("GET", "/v1/settings", key="A"), 200)
    t.eq(s.get("revenue_event_types"), ["purchase"], "another tenant's settings")


def same_shape(t, r_hidden, r_missing, hidden_id, missing_id):
    t.eq(r_hidden.status, r_missing.status, "status for another tenant's object vs a missing one",
         r_hidden)
    ph, pm = r_hidden.json or {}, r_missing.json or {}
    for k in ("type", "title", "status"):
        t.eq(ph.get(k), pm.get(k), "problem %s" % k, r_hidden)
    dh = str(ph.get("detail", "")).replace(hidden_id, "<ID>")
    dm = str(pm.get("detail", "")).replace(missing_id, "<ID>")
    t.eq(dh, dm, "problem detail (with the id masked)", r_hidden)
    t.eq(sorted(ph.keys()), sorted(pm.keys()), "problem members", r_hidden)


def test_tenant_b_cannot_see_or_touch_a(t):
    cid = t.uid("iso")
    missing = t.uid("iso")
    t.expect(t.req("PUT", cpath(cid), {"attributes": {"secret": "A-only"}}), 201)
    t.expect(t.req("POST", "/v1/events", {"customer_id": cid, "type": "purchase", "amount": 50,
                                          "occurred_at": "2026-01-01T00:00:00Z", "id": cid + "-ev"}), 202)
    for method, suffix, body in (("GET", "", None), ("PATCH", "", {"attributes": {"x": 1}}),
                                 ("DELETE", "", None), ("GET", "/events", None)):
        rh = t.req(method, cpath(cid) + suffix, body, key="B")
        rm = t.req(method, cpath(missing) + suffix, body, key="B")
        t.problem(rh, 404)
        same_shape(t, rh, rm, cid, missing)
    # B's list does not show A's customer
    seen, cursor = [], None
    for _ in range(1000):
        url = "/v1/customers?limit=1000" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        d = t.expect_json(t.req("GET", url, key="B"), 200)
        seen += [c["id"] for c in d["items"]]
        cursor = d.get("next_cursor")
        if not cursor:
            break
    t.check(cid not in seen, "tenant B's list contains tenant A's customer")
    # B writing the same id creates B's own customer; A's is untouched
    c = t.expect_json(t.req("PUT", cpath(cid), {"attributes": {"b": 1}}, key="B"), 201)
    t.eq(c["attributes"], {"b": 1}, "B's customer")
    t.eq(c["metrics"]["events"], 0, "B's customer has none of A's events")
    t.expect(t.req("POST", "/v1/events", {"customer_id": cid, "type": "purchase", "amount": 7,
                                          "occurred_at": "2026-01-02T00:00:00Z", "id": cid + "-ev"},
                   key="B"), 202)
    mb = t.expect_json(t.req("GET", cpath(cid), key="B"), 200)["metrics"]
    t.eq((mb["events"], D(mb["revenue"])), (1, Decimal(7)),
         "B's event with the same event id as A's is not a duplicate")
    imp = (json.dumps({"id": cid, "attributes": {"imported_by_b": True}}) + "\n").encode()
    t.expect(t.req("POST", "/v1/customers:import?mode=replace", raw_body=imp,
                   ctype="application/x-ndjson", key="B"), 200)
    t.expect(t.req("POST", "/v1/events:import", raw_body=(json.dumps(
        {"customer_id": cid, "type": "purchase", "amount": 1, "occurred_at": "2026-01-03T00:00:00Z"})
        + "\n").encode(), ctype="application/x-ndjson", key="B"), 200)
    t.expect(t.req("DELETE", cpath(cid), key="B"), 204)
    a = t.expect_json(t.req("GET", cpath(cid)), 200)
    t.eq(a["attributes"], {"secret": "A-only"}, "A's attributes after B's writes")
    t.eq((a["metrics"]["events"], D(a["metrics"]["revenue"])), (1, Decimal(50)), "A's metrics")
    t.eq(len(t.expect_json(t.req("GET", cpath(cid) + "/events"), 200)["items"]), 1, "A's events")


def test_settings_are_per_tenant(t):
    t1, k1 = t.new_tenant()
    t2, k2 = t.new_tenant()
    t.expect(t.req("PATCH", "/v1/settings", {"revenue_event_types": ["order"]}, key=k1), 200)
    t.eq(t.expect_json(t.req("GET", "/v1/settings", key=k2), 200).get("revenue_event_types"),
         ["purchase"], "other tenant's settings unchanged")

"""The frequency analysis (SPEC §6 `frequency`; analytics/README.md "Frequency"): params checked
and defaults filled in; small tenants checked by hand (buyers and usage, per week and per month,
a window, given thresholds, the suggestion and its evidence); thresholds suggested on a known
mixture of three populations, checked against an independent computation here (the rates,
the grid, natural breaks) and against the populations' ranges; the defaults when nothing can be
suggested; a run without any matching event failing with a problem; the CDNOW master log
imported through POST /v1/events:import, its one-time / occasional / regular buyers recomputed
here from the file; :materialize making a MECE scheme of four dynamic segments over
frequency_class, and rules over frequency_class.
"""
import bisect
import csv
import datetime
import io
import json
import math
import os
import time
import urllib.parse
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
CDNOW = os.path.join(HERE, "..", "data", "cdnow", "CDNOW_master.txt")

R10 = [100, 125, 160, 200, 250, 315, 400, 500, 630, 800]
GRID = [float("%de%d" % (m, e - 2)) for e in range(-7, 10) for m in R10]
MONTH = 30.4375


def q(s):
    return urllib.parse.quote(s, safe="")


def tenant(t):
    return t.new_tenant()[1]


def ts(d):
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


def send_events(t, key, events):
    """events: [(customer_id, type, datetime)], in requests of at most 5,000."""
    docs = [{"customer_id": c, "type": ty, "occurred_at": ts(at), "amount": 10}
            for c, ty, at in events]
    for i in range(0, len(docs), 5000):
        t.expect_json(t.req("POST", "/v1/events", docs[i:i + 5000], key=key), 202)


def put(t, key, cid):
    t.expect_json(t.req("PUT", "/v1/customers/" + q(cid), {"attributes": {}}, key=key), 200, 201)


def create(t, key, params, status=202):
    r = t.req("POST", "/v1/analyses", {"type": "frequency", "params": params}, key=key)
    return t.expect_json(r, status), r


def wait(t, key, aid, timeout=120):
    deadline = time.time() + timeout
    a = None
    while time.time() < deadline:
        a = t.expect_json(t.req("GET", "/v1/analyses/" + aid, key=key), 200)
        if a["status"] in ("succeeded", "failed", "cancelled"):
            return a
        time.sleep(0.05)
    t.fail("analysis %s did not end within %ds: %s" % (aid, timeout, a))


def run(t, key, params):
    a, _ = create(t, key, params)
    a = wait(t, key, a["id"])
    t.eq(a["status"], "succeeded", "status of %s: %s" % (params, a.get("error")))
    return a


def customers(t, key, aid):
    items, cursor = {}, None
    while True:
        path = "/v1/analyses/%s/customers?limit=500" % aid + ("&cursor=" + q(cursor) if cursor
                                                              else "")
        page = t.expect_json(t.req("GET", path, key=key), 200)
        for it in page["items"]:
            items[it["customer_id"]] = it
        cursor = page["next_cursor"]
        if not cursor:
            return items


def fl(x):
    """A JSON number of the response (Decimal) as a float, None kept."""
    return None if x is None else float(x)


# ---- the method, independently ------------------------------------------------------------

def rate_of(n, first, as_of, since, period_days):
    start = first if since is None or first > since else since
    periods = max(1.0, (as_of - start).total_seconds() / (period_days * 86400))
    return periods, n / periods


def bin_of(rate):
    return max(bisect.bisect_right(GRID, rate) - 1, 0)


def mid(i):
    return (math.log10(GRID[i]) + math.log10(GRID[i + 1])) / 2


def natural_breaks(counts, k):
    """counts: {bin: customers}. Returns (thresholds, gvf, [(candidate, gvf)]) or None."""
    occ = sorted(b for b, c in counts.items() if c)
    if len(occ) < k + 1:
        return None

    def sse(a, b):
        w = sum(counts[occ[j]] for j in range(a, b))
        s = sum(counts[occ[j]] * mid(occ[j]) for j in range(a, b))
        qq = sum(counts[occ[j]] * mid(occ[j]) ** 2 for j in range(a, b))
        return max(qq - s * s / w, 0) if w else 0

    def edge(b):
        lo, hi = occ[b - 1] + 1, occ[b]
        return GRID[lo + (hi - lo) // 2]

    total = sse(0, len(occ))
    if total <= 0:
        return None
    best, cand = None, {}
    splits = ([(a,) for a in range(1, len(occ))] if k == 1 else
              [(a, b) for a in range(1, len(occ)) for b in range(a + 1, len(occ))])
    for sp in splits:
        bounds = (0,) + sp + (len(occ),)
        w = sum(sse(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1))
        g = 1 - w / total
        for a in sp:
            cand[a] = max(cand.get(a, 0), g)
        if best is None or w < best[0]:
            best = (w, sp)
    return ([edge(a) for a in best[1]], 1 - best[0] / total,
            [(edge(a), cand[a]) for a in sorted(cand)])


def expected(events, as_of, per_days, window_days, kind, thresholds=None, all_ids=()):
    """events: {customer: [datetime of the matching events]}. The whole result, independently."""
    since = as_of - datetime.timedelta(days=window_days) if window_days else None
    rows, counts = {}, {}
    for c in set(all_ids) | set(events):
        ds = [d for d in events.get(c, []) if d <= as_of]
        n = len([d for d in ds if since is None or d > since])
        if n == 0:
            rows[c] = {"events": 0, "frequency_class": "none"}
            continue
        periods, rate = rate_of(n, min(ds), as_of, since, per_days)
        rows[c] = {"events": n, "periods": periods, "rate": rate}
        if kind == "usage" or n >= 2:
            counts[bin_of(rate)] = counts.get(bin_of(rate), 0) + 1
    nb = natural_breaks(counts, 1 if kind == "buyers" else 2)
    used = thresholds or (nb[0] if nb else ([1.0] if kind == "buyers" else [1.0, 5.0]))
    for r in rows.values():
        if r["events"] == 0:
            continue
        if kind == "buyers":
            r["frequency_class"] = ("one-time" if r["events"] == 1 else
                                    "regular" if r["rate"] >= used[0] else "occasional")
        else:
            r["frequency_class"] = ("heavy" if r["rate"] >= used[1] else
                                    "medium" if r["rate"] >= used[0] else "light")
    return rows, counts, nb, used


def check_result(t, key, a, rows, counts, nb, used, source):
    res = a["result"]
    names = (["regular", "occasional", "one-time", "none"] if res["kind"] == "buyers" else
             ["heavy", "medium", "light", "none"])
    t.eq([c["class"] for c in res["classes"]], names, "classes in order")
    n = len(rows)
    for c in res["classes"]:
        want = sum(1 for r in rows.values() if r["frequency_class"] == c["class"])
        t.eq(c["count"], want, "count of %s" % c["class"])
        t.check(abs(fl(c["share"]) - (want / n if n else 0)) < 1e-12, "share of %s" % c["class"])
    t.eq(res["customers"], n, "customers")
    t.eq(res["scored"], sum(1 for r in rows.values() if r["events"]), "scored")
    t.eq([fl(x) for x in res["thresholds"]], used, "thresholds used")
    t.eq(res["thresholds_source"], source, "thresholds_source")
    t.eq([fl(x) for x in res["suggested"]], nb[0] if nb else [], "suggested")
    ev = res["evidence"]
    t.eq(ev["method"], "natural_breaks", "method")
    if nb:
        t.check(abs(fl(ev["gvf"]) - nb[1]) < 1e-9, "gvf %s, want %s" % (ev["gvf"], nb[1]))
        t.eq([fl(c["threshold"]) for c in ev["candidates"]], [c for c, _ in nb[2]],
             "candidates")
        for c, (_, g) in zip(ev["candidates"], nb[2]):
            t.check(abs(fl(c["gvf"]) - g) < 1e-9, "candidate gvf %s, want %s" % (c, g))
    else:
        t.eq(ev["gvf"], None, "no gvf without a suggestion")
    if counts:
        lo, hi = min(counts), max(counts)
        want = [[GRID[i], counts.get(i, 0)] for i in range(lo, hi + 1)]
    else:
        want = []
    t.eq([[fl(e), c] for e, c in res["distribution"]], want, "distribution")
    got = customers(t, key, a["id"])
    t.eq(sorted(got), sorted(rows), "a row for every customer")
    for cid, r in rows.items():
        g = got.get(cid, {})
        t.eq(g.get("frequency_class"), r["frequency_class"], "class of %s: %s" % (cid, g))
        t.eq(g.get("events"), r["events"], "events of %s" % cid)
        if r["events"]:
            t.eq(fl(g.get("periods")), r["periods"], "periods of %s" % cid)
            t.eq(fl(g.get("rate")), r["rate"], "rate of %s" % cid)


# ---- params -------------------------------------------------------------------------------

def test_frequency_params(t):
    key = tenant(t)
    put(t, key, "p1")
    a, _ = create(t, key, {})
    t.eq(a["params"], {"kind": "buyers", "event": None, "per": "month", "window_days": None,
                       "as_of": None, "thresholds": None}, "buyers' defaults filled in")
    a, _ = create(t, key, {"event": "login"})
    t.eq(a["params"], {"kind": "usage", "event": "login", "per": "week", "window_days": None,
                       "as_of": None, "thresholds": None}, "usage's defaults filled in")
    a, _ = create(t, key, {"kind": "buyers", "event": "order", "per": "week",
                           "window_days": 365, "as_of": "2026-01-01T10:00:00+02:00",
                           "thresholds": [0.5]})
    t.eq(a["params"], {"kind": "buyers", "event": "order", "per": "week", "window_days": 365,
                       "as_of": "2026-01-01T08:00:00Z", "thresholds": [Decimal("0.5")]},
         "given params kept, as_of in UTC")
    a, _ = create(t, key, {"kind": "usage", "thresholds": [1, 2.5]})
    t.eq(a["params"]["per"], "week", "usage per week")
    bad = [
        ({"bins": 3}, "/params/bins"),
        ({"kind": "heavy"}, "/params/kind"),
        ({"per": "day"}, "/params/per"),
        ({"per": 7}, "/params/per"),
        ({"event": ""}, "/params/event"),
        ({"event": "x" * 65}, "/params/event"),
        ({"event": 3}, "/params/event"),
        ({"window_days": 0}, "/params/window_days"),
        ({"window_days": 1.5}, "/params/window_days"),
        ({"window_days": 36501}, "/params/window_days"),
        ({"as_of": "yesterday"}, "/params/as_of"),
        ({"as_of": "2026-02-30T00:00:00Z"}, "/params/as_of"),
        ({"thresholds": [1, 2]}, "/params/thresholds"),
        ({"thresholds": 1}, "/params/thresholds"),
        ({"thresholds": [0]}, "/params/thresholds/0"),
        ({"thresholds": [-1]}, "/params/thresholds/0"),
        ({"thresholds": ["1"]}, "/params/thresholds/0"),
        ({"thresholds": [2e9]}, "/params/thresholds/0"),
        ({"kind": "usage", "thresholds": [1]}, "/params/thresholds"),
        ({"kind": "usage", "thresholds": [5, 1]}, "/params/thresholds/1"),
        ({"kind": "usage", "thresholds": [2, 2]}, "/params/thresholds/1"),
        ({"event": "login", "thresholds": [3]}, "/params/thresholds"),
    ]
    for params, pointer in bad:
        r = t.req("POST", "/v1/analyses", {"type": "frequency", "params": params}, key=key)
        p = t.problem(r, 422)
        t.check(pointer in t.pointers(p), "%s: pointer %s in %s" % (params, pointer,
                                                                    t.pointers(p)), r)


# ---- small tenants, by hand ---------------------------------------------------------------

AS_OF = datetime.datetime(2026, 1, 29, tzinfo=datetime.timezone.utc)


def day(s):
    return datetime.datetime.strptime(s, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)


def small_shop(t):
    """a: one purchase; b: two, ten weeks apart; c: eight weekly (and one after as_of); d: a
    login only; e: nothing."""
    key = tenant(t)
    ev = [("a", "purchase", day("2026-01-01")),
          ("b", "purchase", day("2025-10-23")), ("b", "purchase", day("2026-01-01")),
          ("d", "login", day("2026-01-01")), ("c", "purchase", day("2026-02-01"))]
    ev += [("c", "purchase", day("2025-11-13") + datetime.timedelta(weeks=i)) for i in range(8)]
    send_events(t, key, ev)
    put(t, key, "e")
    return key, ev


def matching(ev, ty):
    out = {}
    for c, y, d in ev:
        if y == ty:
            out.setdefault(c, []).append(d)
    return out


def test_frequency_buyers_by_hand(t):
    key, ev = small_shop(t)
    ids = "abcde"
    # per week, the threshold given: c (8 in 11 weeks) is regular, b (2 in 14) occasional
    a = run(t, key, {"per": "week", "as_of": ts(AS_OF), "thresholds": [0.5]})
    rows, counts, nb, used = expected(matching(ev, "purchase"), AS_OF, 7, None, "buyers",
                                      [0.5], ids)
    t.eq({c: r["frequency_class"] for c, r in rows.items()},
         {"a": "one-time", "b": "occasional", "c": "regular", "d": "none", "e": "none"},
         "the classes by hand")
    t.eq((rows["a"]["periods"], rows["a"]["rate"]), (4.0, 0.25), "a: 1 in 4 weeks")
    t.eq((rows["b"]["periods"], rows["b"]["rate"]), (14.0, 2 / 14), "b: 2 in 14 weeks")
    t.eq((rows["c"]["periods"], rows["c"]["rate"]), (11.0, 8 / 11), "c: 8 in 11 weeks")
    # two repeat buyers, in bins [0.125, 0.16) and [0.63, 0.8): one candidate, the middle edge
    # of the gap (edges 0.16 .. 0.63: 0.315), a perfect split
    t.eq(nb[0], [0.315], "the suggestion by hand")
    t.eq(nb[1], 1.0, "gvf by hand")
    check_result(t, key, a, rows, counts, nb, used, "given")
    r = t.req("GET", "/v1/analyses/%s/customers" % a["id"], key=key,
              headers={"Accept": "text/csv"})
    t.expect(r, 200)
    got = list(csv.reader(io.StringIO(r.body.decode())))
    t.eq(got[0], ["customer_id", "frequency_class", "events", "periods", "rate"], "CSV header")
    t.eq(sorted(got[1:]), [["a", "one-time", "1", "4", "0.25"],
                           ["b", "occasional", "2", "14", repr(2 / 14)],
                           ["c", "regular", "8", "11", repr(8 / 11)],
                           ["d", "none", "0", "", ""], ["e", "none", "0", "", ""]], "CSV rows")
    r = a["result"]
    t.eq((r["kind"], r["per"], r["as_of"], r["event"], r["window_days"]),
         ("buyers", "week", ts(AS_OF), None, None), "the result's settings")
    t.eq([[fl(x), n] for x, n in r["distribution"]],
         [[0.125, 1], [0.16, 0], [0.2, 0], [0.25, 0], [0.315, 0], [0.4, 0], [0.5, 0],
          [0.63, 1]], "the distribution by hand")

    # per month, suggested: the same two repeat buyers, c regular
    a = run(t, key, {"as_of": ts(AS_OF)})
    rows, counts, nb, used = expected(matching(ev, "purchase"), AS_OF, MONTH, None, "buyers",
                                      None, ids)
    t.eq(rows["a"]["periods"], 1.0, "a: less than a month is one period")
    t.eq(rows["c"]["rate"], 8 / (77 / MONTH), "c: 8 in 77 days")
    t.eq(rows["c"]["frequency_class"], "regular", "c regular per month")
    check_result(t, key, a, rows, counts, nb, used, "suggested")

    # a window of 30 days: one purchase each for a, b, c in it; b and c exposed from its start
    a = run(t, key, {"per": "week", "as_of": ts(AS_OF), "window_days": 30})
    rows, counts, nb, used = expected(matching(ev, "purchase"), AS_OF, 7, 30, "buyers", None,
                                      ids)
    t.eq({c: r["frequency_class"] for c, r in rows.items()},
         {"a": "one-time", "b": "one-time", "c": "one-time", "d": "none", "e": "none"},
         "one purchase each in the window")
    t.eq(rows["b"]["periods"], 30 / 7, "b exposed from the window's start")
    t.eq(nb, None, "no repeat buyer: nothing to suggest")
    check_result(t, key, a, rows, counts, nb, used, "default")


def test_frequency_usage_by_hand(t):
    key = tenant(t)
    base = day("2025-12-01")
    ev = []
    # u1: 1 login a week for 8 weeks; u2: 4 a week for 8 weeks; u3: 2 logins in its first
    # week (arrived 3 days before as_of); u4: a purchase only
    ev += [("u1", "login", base + datetime.timedelta(weeks=i)) for i in range(8)]
    ev += [("u2", "login", base + datetime.timedelta(weeks=i, days=d))
           for i in range(8) for d in (0, 1, 2, 3)]
    asof = base + datetime.timedelta(weeks=8)
    ev += [("u3", "login", asof - datetime.timedelta(days=3)),
           ("u3", "login", asof - datetime.timedelta(days=2)),
           ("u4", "purchase", asof - datetime.timedelta(days=2))]
    send_events(t, key, ev)
    a = run(t, key, {"event": "login", "as_of": ts(asof), "thresholds": [1.5, 3]})
    rows, counts, nb, used = expected(matching(ev, "login"), asof, 7, None, "usage",
                                      [1.5, 3], ["u1", "u2", "u3", "u4"])
    t.eq({c: r["frequency_class"] for c, r in rows.items()},
         {"u1": "light", "u2": "heavy", "u3": "medium", "u4": "none"}, "classes by hand")
    t.eq(rows["u3"]["periods"], 1.0, "u3: its first week counts whole")
    t.eq(rows["u1"]["rate"], 1.0, "u1: 1 a week")
    t.eq(rows["u2"]["rate"], 4.0, "u2: 4 a week")
    check_result(t, key, a, rows, counts, nb, used, "given")
    # suggested: three occupied bins (1, 2, 4): the only split of two thresholds
    a = run(t, key, {"event": "login", "as_of": ts(asof)})
    rows, counts, nb, used = expected(matching(ev, "login"), asof, 7, None, "usage", None,
                                      ["u1", "u2", "u3", "u4"])
    t.eq(nb[0], [1.6, 3.15], "thresholds by hand: the middle edges of the gaps 1.25..2, 2.5..4")
    check_result(t, key, a, rows, counts, nb, used, "suggested")
    # materialised: heavy, medium, light, and everyone else
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "Logins"},
              key=key)
    sch = t.expect_json(r, 201)
    t.eq([(x["name"], x["size"]) for x in sch["segments"]],
         [("Logins: Heavy users", 1), ("Logins: Medium users", 1), ("Logins: Light users", 1),
          ("Logins: No activity", 1)], "the usage scheme", r)
    t.check(sch["mutually_exclusive"] and sch["collectively_exhaustive"], "MECE: %s" % sch)
    p = t.expect_json(t.req("POST", "/v1/segments:preview",
                            {"rule": {"not": {"metric": "frequency_class", "op": "eq",
                                              "value": "heavy"}}}, key=key), 200)
    t.eq(p["count"], 3, "not heavy")
    # per month: 4.35 periods of 8 weeks
    a = run(t, key, {"event": "login", "per": "month", "as_of": ts(asof)})
    rows, counts, nb, used = expected(matching(ev, "login"), asof, MONTH, None, "usage", None,
                                      ["u1", "u2", "u3", "u4"])
    check_result(t, key, a, rows, counts, nb, used, "suggested")


# ---- a known mixture ----------------------------------------------------------------------

def test_frequency_suggested_on_a_mixture(t):
    """Three populations of users over 12 weeks: about 0.5, 4 and 20 logins a week (spread
    evenly around each rate, deterministic). The suggested thresholds must fall between them."""
    key = tenant(t)
    asof = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
    start = asof - datetime.timedelta(weeks=12)
    pops = {"slow": (0.5, 40), "mid": (4, 40), "fast": (20, 20)}
    ev, ranges = [], {}
    for name, (rate, n) in pops.items():
        lo, hi = math.inf, -math.inf
        for i in range(n):
            k = max(1, round(rate * 12 * (0.7 + 0.6 * i / (n - 1))))  # +-30% around the rate
            step = (12 * 7 * 86400) / k
            ev += [("%s%02d" % (name, i), "login",
                    start + datetime.timedelta(seconds=int(j * step)))
                   for j in range(k)]
            lo, hi = min(lo, k / 12), max(hi, k / 12)
        ranges[name] = (lo, hi)
    send_events(t, key, ev)
    a = run(t, key, {"event": "login", "as_of": ts(asof)})
    rows, counts, nb, used = expected(matching(ev, "login"), asof, 7, None, "usage", None, ())
    check_result(t, key, a, rows, counts, nb, used, "suggested")
    t1, t2 = [fl(x) for x in a["result"]["thresholds"]]
    t.check(ranges["slow"][1] < t1 <= ranges["mid"][0],
            "light | medium between the populations: %s < %s <= %s" % (ranges["slow"][1], t1,
                                                                       ranges["mid"][0]))
    t.check(ranges["mid"][1] < t2 <= ranges["fast"][0],
            "medium | heavy between the populations: %s < %s <= %s" % (ranges["mid"][1], t2,
                                                                       ranges["fast"][0]))
    t.check(fl(a["result"]["evidence"]["gvf"]) > 0.9, "a clear break")
    by = {c["class"]: c["count"] for c in a["result"]["classes"]}
    t.eq(by, {"light": 40, "medium": 40, "heavy": 20, "none": 0}, "the populations")


def test_frequency_nothing_to_classify(t):
    key = tenant(t)
    put(t, key, "n1")
    send_events(t, key, [("n2", "login", day("2026-01-01"))])
    a, _ = create(t, key, {"as_of": "2026-02-01T00:00:00Z"})
    a = wait(t, key, a["id"])
    t.eq(a["status"], "failed", "no purchase: the run fails")
    t.check("nobody to classify" in (a.get("error") or {}).get("detail", ""),
            "the problem says why: %s" % a.get("error"))
    t.eq(a.get("result"), None, "no result")
    # everybody at one rate: nothing to suggest, the defaults used
    send_events(t, key, [("n3", "login", day("2026-01-01"))])
    a = run(t, key, {"event": "login", "as_of": "2026-02-01T00:00:00Z"})
    t.eq(a["result"]["thresholds_source"], "default", "defaults")
    t.eq([fl(x) for x in a["result"]["thresholds"]], [1.0, 5.0], "usage defaults")
    t.eq(a["result"]["suggested"], [], "nothing suggested")


# ---- CDNOW, materialised ------------------------------------------------------------------

def read_cdnow():
    out = {}
    with open(CDNOW) as f:
        next(f)
        for line in f:
            cid, d, _, _ = line.split()
            out.setdefault(cid, []).append(
                datetime.datetime.strptime(d, "%Y%m%d").replace(tzinfo=datetime.timezone.utc))
    return out


CDNOW_RUN = {}


def cdnow_run(t):
    """The CDNOW master log in a tenant of its own, and a buyers analysis per month as of
    1998-07-01 (once per harness run)."""
    if CDNOW_RUN:
        return CDNOW_RUN["key"], CDNOW_RUN["analysis"], CDNOW_RUN["data"], CDNOW_RUN["rows"]
    if not os.path.exists(CDNOW):
        raise t.Skip("no CDNOW data")
    key = tenant(t)
    data = read_cdnow()
    lines = []
    with open(CDNOW) as f:
        next(f)
        for line in f:
            cid, d, _, value = line.split()
            lines.append('{"customer_id": "%s", "type": "purchase", "occurred_at": '
                         '"%s-%s-%sT00:00:00Z", "amount": %s}' % (cid, d[:4], d[4:6], d[6:],
                                                                   value))
    r = t.req("POST", "/v1/events:import", raw_body="\n".join(lines) + "\n",
              ctype="application/x-ndjson", key=key, timeout=300)
    imp = t.expect_json(r, 200)
    t.eq((imp["accepted"], imp["rejected"]), (69659, 0), "the master log imported", r)
    asof = datetime.datetime(1998, 7, 1, tzinfo=datetime.timezone.utc)
    a = run(t, key, {"as_of": ts(asof)})
    rows, counts, nb, used = expected(data, asof, MONTH, None, "buyers", None, ())
    check_result(t, key, a, rows, counts, nb, used, "suggested")
    CDNOW_RUN.update(key=key, analysis=a, data=data, rows=rows)
    return key, a, data, rows


def test_frequency_cdnow(t):
    key, a, data, rows = cdnow_run(t)
    by = {c["class"]: c["count"] for c in a["result"]["classes"]}
    t.eq(by, {"one-time": 11908, "occasional": 7310, "regular": 4352, "none": 0},
         "CDNOW's buyers (analytics/README.md)")
    t.eq([fl(x) for x in a["result"]["thresholds"]], [0.25], "0.25 purchases a month")
    t.check(abs(fl(a["result"]["evidence"]["gvf"]) - 0.692) < 0.001, "gvf 0.692")
    # per week, and with a window of 180 days: checked against the independent computation
    asof = datetime.datetime(1998, 7, 1, tzinfo=datetime.timezone.utc)
    b = run(t, key, {"per": "week", "as_of": ts(asof)})
    r = expected(data, asof, 7, None, "buyers", None, ())
    check_result(t, key, b, *r, "suggested")
    t.eq([fl(x) for x in b["result"]["thresholds"]], [0.063], "0.063 purchases a week")
    b = run(t, key, {"per": "month", "as_of": ts(asof), "window_days": 180,
                     "thresholds": [0.5]})
    r = expected(data, asof, MONTH, 180, "buyers", [0.5], ())
    check_result(t, key, b, *r, "given")


def test_frequency_cdnow_materialised(t):
    key, a, data, rows = cdnow_run(t)

    # materialised: four dynamic segments over frequency_class, MECE by construction
    scheme_name = t.uid("frequency")
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": scheme_name},
              key=key)
    s = t.expect_json(r, 201)
    t.eq([x["name"] for x in s["segments"]],
         [scheme_name + ": " + n for n in ("Regular buyers", "Occasional buyers",
                                           "One-time buyers", "No purchase")],
         "the segments, highest rate first", r)
    t.eq([x["size"] for x in s["segments"]], [4352, 7310, 11908, 0], "their sizes")
    t.check(s["mutually_exclusive"] and s["collectively_exhaustive"], "MECE: %s" % s)
    # rules over frequency_class
    p = t.expect_json(t.req("POST", "/v1/segments:preview",
                            {"rule": {"metric": "frequency_class", "op": "eq",
                                      "value": "regular"}}, key=key), 200)
    t.eq(p["count"], 4352, "a rule over frequency_class")
    p = t.expect_json(t.req("POST", "/v1/segments:preview",
                            {"rule": {"all": [
                                {"metric": "frequency_class", "op": "in",
                                 "value": ["regular", "occasional"]},
                                {"metric": "orders", "op": "gte", "value": 10}]}}, key=key), 200)
    want = sum(1 for c, ds in data.items() if len(ds) >= 10)
    t.eq(p["count"], want, "repeat buyers with 10 orders or more")
    c = t.expect_json(t.req("GET", "/v1/customers/00001", key=key), 200)
    t.eq(c["metrics"].get("frequency_class"), rows["00001"]["frequency_class"],
         "the metric on the customer")

    # a customer that arrives after the run is in the catch-all segment, so the scheme stays
    # exhaustive
    put(t, key, "newcomer")
    sch = t.expect_json(t.req("GET", "/v1/schemes/%s" % s["id"], key=key), 200)
    t.eq(sch["segments"][3]["size"], 1, "the newcomer in No purchase")
    t.check(sch["mutually_exclusive"] and sch["collectively_exhaustive"], "still MECE: %s" % sch)

    # the scheme follows the next run: 00001 (one purchase) buys 20 times in June 1998
    t.eq(rows["00001"]["frequency_class"], "one-time", "00001 is a one-time buyer")
    send_events(t, key, [("00001", "purchase", datetime.datetime(1998, 6, d, 12,
                                                                 tzinfo=datetime.timezone.utc))
                         for d in range(1, 21)])
    runs = t.expect_json(t.req("GET", "/v1/analyses/" + a["id"], key=key), 200)["runs"]
    t.expect_json(t.req("POST", "/v1/analyses/%s:run" % a["id"], key=key), 202)
    deadline = time.time() + 60
    while time.time() < deadline:
        b = t.expect_json(t.req("GET", "/v1/analyses/" + a["id"], key=key), 200)
        if b["runs"] > runs and b["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    t.eq(b["status"], "succeeded", "the second run")
    by = {c["class"]: c["count"] for c in b["result"]["classes"]}
    t.eq((by["regular"], by["one-time"], by["none"]), (4353, 11907, 1),
         "00001 regular now, the newcomer none")
    # the segments are refreshed by jobs the run queued
    deadline = time.time() + 60
    while time.time() < deadline:
        sch = t.expect_json(t.req("GET", "/v1/schemes/%s" % s["id"], key=key), 200)
        if [x["size"] for x in sch["segments"]] == [4353, 7310, 11907, 1]:
            break
        time.sleep(0.1)
    t.eq([x["size"] for x in sch["segments"]], [4353, 7310, 11907, 1], "the scheme followed")
    t.check(sch["mutually_exclusive"] and sch["collectively_exhaustive"], "still MECE: %s" % sch)
    c = t.expect_json(t.req("GET", "/v1/customers/00001", key=key), 200)
    t.eq(c["metrics"].get("frequency_class"), "regular", "the metric followed")

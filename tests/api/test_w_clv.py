"""CLV (SPEC §6 clv, §6.1; analytics/README.md "CLV"): the CDNOW sample imported through the API
as purchase events reproduces the published BG/NBD (r 0.2426, alpha 4.4135, a 0.7929,
b 2.4258) and Gamma-Gamma (p 6.25, q 3.74, gamma 15.45) parameters to three significant
digits, and SciPy's maximum of the same likelihood more closely; each customer's summary,
P(alive), expected purchases (the hypergeometric series of FHL's eq. 10 summed here directly,
not the transformed series of the C code), expected value and CLV against this file's own
computation, with and without discounting; days as the time unit; the historic model; params
checked; tenants whose data cannot support a fit fail with a problem, never a NaN.
"""
import datetime
import json
import math
import os
import time
import urllib.parse
from collections import defaultdict
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "data", "cdnow", "CDNOW_sample.txt")
END = datetime.date(1997, 9, 30)

# SciPy's maximum of the same likelihoods on the same summaries (tests/unit/clv_reference.py,
# "from the raw sample": one transaction per customer and day, up to 1997-09-30)
SCIPY = {"r": 0.24259453, "alpha": 4.41360238, "a": 0.79292205, "b": 2.42590691,
         "p": 6.24957296, "q": 3.74422476, "gamma": 15.44351977}
PUBLISHED = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258,
             "p": 6.25, "q": 3.74, "gamma": 15.45}


def q(s):
    return urllib.parse.quote(s, safe="")


def tenant(t):
    return t.new_tenant()[1]


def create(t, key, params, status=202):
    r = t.req("POST", "/v1/analyses", {"type": "clv", "params": params}, key=key)
    return t.expect_json(r, status), r


def wait(t, key, aid, timeout=120):
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
    a = None
    while datetime.datetime.now() < deadline:
        a = t.expect_json(t.req("GET", "/v1/analyses/" + aid, key=key), 200)
        if a["status"] in ("succeeded", "failed", "cancelled"):
            return a
        time.sleep(0.05)
    t.fail("analysis %s did not finish within %ds: %s" % (aid, timeout, a))


def run(t, key, params):
    a, _ = create(t, key, params)
    return wait(t, key, a["id"])


def all_customers(t, key, aid):
    items, cursor = [], None
    while True:
        path = "/v1/analyses/%s/customers?limit=1000" % aid + (
            "&cursor=" + q(cursor) if cursor else "")
        page = t.expect_json(t.req("GET", path, key=key), 200)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return {i["customer_id"]: i for i in items}


def three_digits(got, want):
    """|got - want| below half a unit of want's third significant digit."""
    unit = 10 ** (math.floor(math.log10(abs(want))) - 2)
    return abs(float(got) - want) < unit / 2


def close(got, want, rel):
    return abs(float(got) - want) <= rel * abs(want) + 1e-300


def no_nan(t, doc, what):
    text = json.dumps(doc, default=str)
    t.check("NaN" not in text and "Infinity" not in text, "%s has no NaN: %s" % (what, text[:300]))


# ---- the sample and an independent computation --------------------------------------------

def sample():
    """[(customer id, date, dollars as Decimal)] of CDNOW_sample.txt."""
    rows = []
    with open(SAMPLE) as f:
        for line in f:
            cid, _, day, _, dollars = line.split()
            rows.append((cid, datetime.date(int(day[:4]), int(day[4:6]), int(day[6:])),
                         Decimal(dollars)))
    return rows


def summaries(rows, end=END):
    """{customer: (x, t_x days, T days, revenue, mean repeat value or None)}: one transaction
    per customer and day, valued at the day's sum (SPEC §6 clv)."""
    days = defaultdict(lambda: defaultdict(Decimal))
    for cid, day, v in rows:
        if day <= end:
            days[cid][day] += v
    out = {}
    for cid, ds in days.items():
        k = sorted(ds)
        x = len(k) - 1
        rev = sum(ds.values(), Decimal(0))
        mon = (sum((ds[d] for d in k[1:]), Decimal(0)) / x) if x else None
        out[cid] = (x, (k[-1] - k[0]).days, (end - k[0]).days, rev, mon)
    return out


def hyp2f1(a, b, c, z):
    s, term, n = 1.0, 1.0, 0
    while True:
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        s += term
        n += 1
        if abs(term) < 1e-17 * abs(s) and n > 10:
            return s
        if n > 200000:
            raise ValueError("2F1 did not converge")


def p_alive(m, x, tx, T):
    if x == 0:
        return 1.0
    return 1 / (1 + m["a"] / (m["b"] + x - 1) * ((m["alpha"] + T) / (m["alpha"] + tx)) ** (m["r"] + x))


def expected(m, t, x, tx, T):
    """FHL 2005 eq. 10 as printed."""
    if t == 0:
        return 0.0
    r, al, a, b = m["r"], m["alpha"], m["a"], m["b"]
    h = hyp2f1(r + x, b + x, a + b + x - 1, t / (al + T + t))
    return ((a + b + x - 1) / (a - 1) * (1 - ((al + T) / (al + T + t)) ** (r + x) * h)
            * p_alive(m, x, tx, T))


def discounted(m, H, delta, x, tx, T, n=2000):
    """int_0^H e^(-delta s) dE(s) = e^(-delta H) E(H) + delta int_0^H e^(-delta s) E(s) ds,
    the integral by Simpson's rule."""
    h = H / n
    s = 0.0
    for i in range(n + 1):
        w = 1 if i in (0, n) else (4 if i % 2 else 2)
        u = i * h
        s += w * math.exp(-delta * u) * expected(m, u, x, tx, T)
    return math.exp(-delta * H) * expected(m, H, x, tx, T) + delta * s * h / 3


def gg_value(m, x, mon):
    mon = max(float(mon), 0.0) if mon is not None else 0.0
    return (m["gamma"] * m["p"] + m["p"] * x * mon) / (m["p"] * x + m["q"] - 1)


def import_sample(t, key, rows, free=False):
    """The sample as purchase events (free: every amount 0)."""
    lines = []
    for i, (cid, day, v) in enumerate(rows):
        lines.append(json.dumps({"id": "cdnow-%d" % i, "customer_id": cid, "type": "purchase",
                                 "occurred_at": day.isoformat() + "T10:00:00Z",
                                 "amount": 0 if free else float(v)}))
    r = t.req("POST", "/v1/events:import", raw_body="\n".join(lines) + "\n",
              ctype="application/x-ndjson", key=key)
    doc = t.expect_json(r, 200)
    t.eq(doc["accepted"], len(rows), "every CDNOW line imported", r)


# ---- the tests -----------------------------------------------------------------------------

def test_clv_cdnow(t):
    key = tenant(t)
    rows = sample()
    t.eq(len(rows), 6919, "the sample's transactions")
    import_sample(t, key, rows)
    # a purchase after the calibration end, and another event type, change nothing
    t.expect_json(t.req("POST", "/v1/events", [
        {"customer_id": "00004", "type": "purchase", "occurred_at": "1997-10-01T00:00:00Z",
         "amount": 1000},
        {"customer_id": "00004", "type": "page_view", "occurred_at": "1997-05-01T00:00:00Z"}],
        key=key), 202)
    a, _ = create(t, key, {"model": "bgnbd", "calibration_end": "1997-09-30",
                           "time_unit": "week"})
    t.eq(a["params"], {"model": "bgnbd", "calibration_end": "1997-09-30", "time_unit": "week",
                       "horizon": 52, "discount_rate": 0}, "defaults filled in")
    a = wait(t, key, a["id"])
    t.eq(a["status"], "succeeded", "status: %s" % a.get("error"))
    res = a["result"]
    no_nan(t, res, "the result")
    p = res["params"]
    for k, want in PUBLISHED.items():
        t.check(three_digits(p[k], want), "%s = %s is the published %s to three significant "
                "digits" % (k, p[k], want))
    for k, want in SCIPY.items():
        t.check(close(p[k], want, 2e-6), "%s = %s is SciPy's %s" % (k, p[k], want))
    t.check(close(p["log_likelihood_bgnbd"], -9582.429206673929, 1e-9),
            "BG/NBD log-likelihood %s" % p["log_likelihood_bgnbd"])
    t.check(close(p["log_likelihood_gg"], -4055.9176948018685, 1e-9),
            "Gamma-Gamma log-likelihood %s" % p["log_likelihood_gg"])
    t.eq(res["model"], "bgnbd", "model")
    t.eq(res["calibration_end"], "1997-09-30", "calibration end")
    t.eq(res["until"], "1997-09-30T23:59:59.999999Z", "events to the end of that day")
    t.eq(res["customers"], 2357, "customers")
    t.eq(p["gg_customers"], 946, "Gamma-Gamma on the repeat buyers")

    sums = summaries(rows)
    m = {k: float(v) for k, v in p.items()}
    got = all_customers(t, key, a["id"])
    t.eq(sorted(got), sorted(sums), "a row per buying customer")
    # everyone's summary; a few customers' predictions in full
    bad = [c for c, s in sums.items()
           if (got[c]["x"], float(got[c]["t_x"]) * 7, float(got[c]["T"]) * 7)
           != (s[0], s[1], s[2]) and not (got[c]["x"] == s[0] and
                                          abs(float(got[c]["t_x"]) * 7 - s[1]) < 1e-9 and
                                          abs(float(got[c]["T"]) * 7 - s[2]) < 1e-9)]
    t.eq(bad, [], "x, t_x and T of every customer")
    t.eq(float(got["00004"]["T"]), 272 / 7, "T of a first purchase on 1997-01-01: 38.86 weeks")
    by_x = sorted(sums, key=lambda c: (-sums[c][0], c))
    picks = [by_x[0], by_x[1], by_x[50], by_x[400], by_x[900], by_x[-1], "00004"]
    total = 0.0
    for c in got:
        total += float(got[c]["clv"])
    t.check(close(res["total_clv"], total, 1e-9), "total_clv %s is the sum %s" %
            (res["total_clv"], total))
    for c in picks:
        x, txd, Td, rev, mon = sums[c]
        tx, T = txd / 7, Td / 7
        row = got[c]
        pa = p_alive(m, x, tx, T)
        e = expected(m, 52, x, tx, T)
        ev = gg_value(m, x, mon)
        t.check(close(row["p_alive"], pa, 1e-12), "%s p_alive %s vs %s" % (c, row["p_alive"], pa))
        t.check(close(row["predicted_orders"], e, 1e-9),
                "%s predicted_orders %s vs %s" % (c, row["predicted_orders"], e))
        t.check(close(row["expected_value"], ev, 1e-12),
                "%s expected_value %s vs %s" % (c, row["expected_value"], ev))
        t.check(close(row["clv"], e * ev, 1e-9), "%s clv %s vs %s" % (c, row["clv"], e * ev))
        t.eq(Decimal(str(row["revenue"])), rev, "%s revenue" % c)
        if mon is None:
            t.eq(row["monetary"], None, "%s: no monetary without a repeat" % c)
        else:
            t.check(close(row["monetary"], float(mon), 1e-12), "%s monetary" % c)
    # the histogram covers every customer; the tiers are values customers have
    t.eq(sum(b["customers"] for b in res["distribution"]), 2357, "histogram counts")
    t.eq(len(res["distribution"]), 20, "20 bins")
    for b0, b1 in zip(res["distribution"], res["distribution"][1:]):
        t.check(close(b0["to"], float(b1["from"]), 1e-12), "bins are adjacent")
    clvs = sorted(float(r["clv"]) for r in got.values())
    t.eq(float(res["tiers"]["medium"]), clvs[math.ceil(0.5 * len(clvs)) - 1], "median tier")
    t.eq(float(res["tiers"]["high"]), clvs[math.ceil(0.8 * len(clvs)) - 1], "high tier")

    # discounting: 10 % a year, each purchase s weeks ahead counts (1.1)^-(s / 52.18)
    b = run(t, key, {"model": "bgnbd", "calibration_end": "1997-09-30", "discount_rate": 0.1})
    t.eq(b["status"], "succeeded", "discounted run")
    t.eq(b["result"]["params"], a["result"]["params"], "the same fit")
    got_d = all_customers(t, key, b["id"])
    delta = math.log(1.1) / (365.25 / 7)
    for c in picks[:3] + ["00004"]:
        x, txd, Td, _, mon = sums[c]
        want = discounted(m, 52, delta, x, txd / 7, Td / 7) * gg_value(m, x, mon)
        t.check(close(got_d[c]["clv"], want, 1e-7), "%s discounted clv %s vs %s" %
                (c, got_d[c]["clv"], want))
        t.check(float(got_d[c]["clv"]) < float(got[c]["clv"]), "discounting lowers %s" % c)
        t.eq(got_d[c]["predicted_orders"], got[c]["predicted_orders"],
             "predicted orders are not discounted")

    materialise(t, key, a, got)

    # days: the same fit, alpha in days
    d = run(t, key, {"calibration_end": "1997-09-30", "time_unit": "day", "horizon": 364})
    t.eq(d["status"], "succeeded", "days")
    pd = d["result"]["params"]
    for k in ("r", "a", "b", "p", "q", "gamma"):
        t.check(close(pd[k], float(p[k]), 1e-6), "%s in days %s vs weeks %s" % (k, pd[k], p[k]))
    t.check(close(pd["alpha"], 7 * float(p["alpha"]), 1e-6), "alpha in days is 7 x weeks")
    got_days = all_customers(t, key, d["id"])
    t.eq(got_days["00004"]["T"], 272, "T in days")
    # 364 days = 52 weeks: the same prediction
    for c in picks[:3]:
        t.check(close(got_days[c]["predicted_orders"], float(got[c]["predicted_orders"]), 1e-5),
                "%s: 364 days predict what 52 weeks do" % c)


def members(t, key, sid):
    out, cursor = [], None
    while True:
        page = t.expect_json(t.req("GET", "/v1/segments/%s/members?limit=1000%s" % (
            sid, "&cursor=" + q(cursor) if cursor else ""), key=key), 200)
        out += [m["customer_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return sorted(out)


def materialise(t, key, a, got):
    """:materialize: the value tiers by the run's own percentiles among customers likely
    alive, "Likely lost", and "No purchases" for a customer without one: MECE, each segment
    holding exactly the customers its definition names; the metrics in the customer document
    and in rules."""
    t.expect_json(t.req("PUT", "/v1/customers/never-bought", {"attributes": {}}, key=key), 201)
    r = t.req("POST", "/v1/analyses/%s:materialize" % a["id"], {"scheme_name": "Value"}, key=key)
    s = t.expect_json(r, 201, 202)
    names = ["High value", "Medium value", "Low value", "Likely lost", "No purchases"]
    t.eq([g["name"] for g in s["segments"]], ["Value: " + n for n in names], "segment names")
    tiers = a["result"]["tiers"]
    # the rules' bounds sit 1e-13 (relative) below the percentiles (handlers/analysis_clv.c)
    high, medium = [float(tiers[k]) * (1 - 1e-13) for k in ("high", "medium")]
    want = {n: [] for n in names}
    for c, row in got.items():
        v, alive = float(row["clv"]), float(row["p_alive"]) >= 0.5
        n = ("Likely lost" if not alive else "High value" if v >= high else
             "Medium value" if v >= medium else "Low value")
        want[n].append(c)
    want["No purchases"] = ["never-bought"]
    for g in s["segments"]:
        n = g["name"][len("Value: "):]
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
        while True:
            m = members(t, key, g["id"])
            if m == sorted(want[n]) or datetime.datetime.now() > deadline:
                break
            time.sleep(0.1)
        t.eq(len(m), len(want[n]), "size of %s" % n)
        t.check(m == sorted(want[n]), "the members of %s" % n)
        seg = t.expect_json(t.req("GET", "/v1/segments/" + g["id"], key=key), 200)
        t.eq((seg["source"], seg["analysis_id"]), ("clv", a["id"]), "source of %s" % n)
    t.check(all(want[n] for n in names), "every segment has members: %s" %
            {n: len(v) for n, v in want.items()})
    rep = t.expect_json(t.req("GET", "/v1/schemes/" + s["id"], key=key), 200)
    t.check(rep["mutually_exclusive"] and rep["collectively_exhaustive"], "MECE: %s" % rep)
    t.eq(rep["customers"], 2358, "every customer")
    doc = t.expect_json(t.req("GET", "/v1/customers/00004", key=key), 200)
    for k in ("clv", "p_alive", "predicted_orders"):
        t.eq(doc["metrics"].get(k), got["00004"][k], "metrics.%s" % k)
    doc = t.expect_json(t.req("GET", "/v1/customers/never-bought", key=key), 200)
    t.eq(doc["metrics"].get("clv"), None, "no clv without a purchase")
    pv = t.expect_json(t.req("POST", "/v1/segments:preview", {"rule": {"all": [
        {"metric": "p_alive", "op": "lt", "value": 0.3},
        {"metric": "predicted_orders", "op": "gte", "value": 0}]}}, key=key), 200)
    t.eq(pv["count"], sum(1 for r in got.values() if float(r["p_alive"]) < 0.3),
         "a rule over p_alive")


def test_clv_historic(t):
    key = tenant(t)
    rows = sample()
    import_sample(t, key, rows)
    a = run(t, key, {"model": "historic", "calibration_end": "1997-06-30T12:00:00Z"})
    t.eq(a["status"], "succeeded", "historic: %s" % a.get("error"))
    res = a["result"]
    no_nan(t, res, "the result")
    t.eq(res["model"], "historic", "model")
    t.eq(res["params"], None, "no fitted parameters")
    t.eq(res["calibration_end"], "1997-06-30", "the end's day")
    # events at or before the instant: every purchase of June 30 is at 10:00, so it counts
    sums = summaries(rows, datetime.date(1997, 6, 30))
    got = all_customers(t, key, a["id"])
    t.eq(sorted(got), sorted(sums), "a row per customer who bought by then")
    total = Decimal(0)
    for c, (x, txd, Td, rev, _) in sums.items():
        t.eq(Decimal(str(got[c]["revenue"])), rev, "%s revenue" % c)
        t.check(close(got[c]["clv"], float(rev), 1e-15), "%s clv is the revenue" % c)
        t.eq((got[c]["p_alive"], got[c]["predicted_orders"], got[c]["expected_value"]),
             (None, None, None), "no p_alive in historic")
        total += rev
    t.check(close(res["total_clv"], float(total), 1e-12), "total_clv")
    t.eq(res["customers"], len(sums), "customers")


def test_clv_params_checked(t):
    key = tenant(t)
    cases = [
        ({"model": "pareto"}, "/params/model"),
        ({"model": 1}, "/params/model"),
        ({"calibration_end": "yesterday"}, "/params/calibration_end"),
        ({"calibration_end": "1997-02-30"}, "/params/calibration_end"),
        ({"calibration_end": 19970930}, "/params/calibration_end"),
        ({"time_unit": "month"}, "/params/time_unit"),
        ({"horizon": 0}, "/params/horizon"),
        ({"horizon": -5}, "/params/horizon"),
        ({"horizon": "52"}, "/params/horizon"),
        ({"horizon": 600}, "/params/horizon"),
        ({"time_unit": "day", "horizon": 4000}, "/params/horizon"),
        ({"discount_rate": -0.1}, "/params/discount_rate"),
        ({"discount_rate": 11}, "/params/discount_rate"),
        ({"discount": 0.1}, "/params/discount"),
    ]
    for params, ptr in cases:
        r = t.req("POST", "/v1/analyses", {"type": "clv", "params": params}, key=key)
        p = t.problem(r, 422)
        t.check(ptr in t.pointers(p), "%s: pointer %s in %s" % (params, ptr, t.pointers(p)), r)
    a, _ = create(t, key, {})
    t.eq(a["params"], {"model": "bgnbd", "calibration_end": None, "time_unit": "week",
                       "horizon": 52, "discount_rate": 0}, "every default")
    a, _ = create(t, key, {"model": "historic", "calibration_end": "2026-01-01T00:00:00+02:00",
                           "time_unit": "day", "horizon": 30.5, "discount_rate": 0.08})
    t.eq(a["params"]["horizon"], Decimal("30.5"), "given params kept")


def test_clv_fails_cleanly(t):
    """Data that cannot support the model: the run fails at once with a problem (no retry),
    and no NaN reaches any document."""
    cases = [
        ("no purchases", [], "no customer has a revenue event"),
        ("nobody bought twice",
         [("a", "2026-01-01", 10), ("b", "2026-02-01", 20), ("c", "2026-03-01", 5),
          ("a", "2026-01-01", 7)],  # the same day: one transaction
         "on two different days"),
        ("everyone the same",
         [(c, d, 10) for c in ("a", "b", "c") for d in ("2026-01-01", "2026-01-08")],
         "same purchase history"),
        ("two customers",
         [("a", "2026-01-01", 10), ("a", "2026-02-01", 10), ("b", "2026-01-15", 3)],
         "cannot be fitted"),
    ]
    for name, events, words in cases:
        key = tenant(t)
        if events:
            body = [{"customer_id": c, "type": "purchase", "occurred_at": d + "T08:00:00Z",
                     "amount": v} for c, d, v in events]
            t.expect_json(t.req("POST", "/v1/events", body, key=key), 202)
        else:
            t.expect_json(t.req("PUT", "/v1/customers/x", {"attributes": {}}, key=key), 201)
        a = run(t, key, {"calibration_end": "2026-06-30"})
        t.eq(a["status"], "failed", "%s: failed" % name)
        t.eq(a["attempts"], 1, "%s: no retry" % name)
        err = a["error"]
        t.check(isinstance(err, dict) and err.get("status") == 422 and err.get("title") and
                words in err.get("detail", ""), "%s: a problem saying why: %s" % (name, err))
        t.eq(a["result"], None, "%s: no result" % name)
        no_nan(t, a, name)
        t.problem(t.req("GET", "/v1/analyses/%s/customers" % a["id"], key=key), 409)
    # BG/NBD fits, but no repeat purchase has a value: Gamma-Gamma has nothing to fit
    key = tenant(t)
    import_sample(t, key, sample(), free=True)
    a = run(t, key, {"calibration_end": "1997-09-30"})
    t.eq(a["status"], "failed", "free purchases: failed")
    t.check("Gamma-Gamma" in a["error"]["detail"] and "positive mean value" in
            a["error"]["detail"], "detail: %s" % a["error"])
    no_nan(t, a, "free purchases")
    # the historic model needs no repeat: it values the one-time buyers
    key = tenant(t)
    t.expect_json(t.req("POST", "/v1/events", [
        {"customer_id": "a", "type": "purchase", "occurred_at": "2026-01-01T08:00:00Z",
         "amount": 10}], key=key), 202)
    a = run(t, key, {"model": "historic", "calibration_end": "2026-06-30"})
    t.eq(a["status"], "succeeded", "historic with one purchase")
    t.eq(a["result"]["total_clv"], 10, "its value")

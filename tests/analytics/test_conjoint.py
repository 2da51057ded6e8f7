"""Reference test of analytics/conjoint.c (SPEC §6.2 conjoint) against numpy.linalg.lstsq.

Simulated rating surveys: respondents rate random product profiles (three attributes of 3, 4
and 2 levels and, in one survey, a price), with part-worths of their own plus noise. Some
respondents rate too few profiles, rate everything alike, see only one price (a design whose
price column is the constant's), miss a level, or have profiles without a level or a rating.
For every respondent the test builds the effects-coded design of §6.2 itself (levels in the
order of their first appearance in that respondent's profiles, the last coded -1), solves it
with numpy.linalg.lstsq, and checks part-worths, constant, price coefficient, R²,
importances and willingness to pay, then the means and medians over the respondents, all
within 1e-6 (they agree to about 1e-12).
"""
import numpy as np

from common import check, done, driver

TOL = 1e-6


def survey(rng, nresp, nlev, with_price):
    """A list of respondents, each a list of (level names per attribute, price, rating)."""
    prices = [9.99, 14.99, 19.99, 24.99]
    out = []
    for r in range(nresp):
        kind = r % 10
        true = [rng.normal(0, 1.5, L) for L in nlev]
        beta = -abs(rng.normal(0.3, 0.1))
        k = int(rng.integers(14, 30))
        if kind == 3:
            k = int(rng.integers(1, 6))  # too few
        rows = []
        for _ in range(k):
            lv = [int(rng.integers(0, L)) for L in nlev]
            if r == 0 and not rows:
                lv = [0] * len(nlev)  # so that level "A0" is code 0 (the WTP base)
            if kind == 5:
                lv[0] = max(lv[0], 1)  # never sees level 0 of attribute 0 (no WTP base)
            if kind == 2:
                lv[0] = min(lv[0], 1)  # never sees level 2 of attribute 0
            if kind == 6 and len(nlev) >= 3:
                lv[2] = lv[1] % 2  # attribute 2 follows attribute 1: dependent columns
            price = prices[int(rng.integers(0, 4))] if with_price else None
            if kind == 7 and with_price:
                price = 14.99  # one price: singular
            u = sum(t[l] for t, l in zip(true, lv)) + (beta * price if with_price else 0)
            rating = float(np.round(5 + u + rng.normal(0, 0.5), 2))
            if kind == 4:
                rating = 3.0  # constant
            names = ["%c%d" % (chr(65 + a), l) for a, l in enumerate(lv)]
            if kind == 8 and rng.random() < 0.2:
                names[int(rng.integers(0, len(nlev)))] = None  # a profile without a level
            if kind == 9 and rng.random() < 0.2:
                rating = float("nan")
            rows.append((names, price, rating))
        out.append(rows)
    return out


def codes(resp, nattr):
    """Each attribute's levels numbered in the order of first appearance over all respondents."""
    maps = [dict() for _ in range(nattr)]
    for rows in resp:
        for names, _, _ in rows:
            for a, nm in enumerate(names):
                if nm is not None and nm not in maps[a]:
                    maps[a][nm] = len(maps[a])
    return maps


def encode(resp, maps, with_price):
    nattr = len(maps)
    lines = ["%d %d %d" % (len(resp), nattr, 1 if with_price else 0),
             " ".join(str(len(m)) for m in maps)]
    for rows in resp:
        lines.append(str(len(rows)))
        for names, price, rating in rows:
            c = [str(maps[a][nm]) if nm is not None else "-1" for a, nm in enumerate(names)]
            if with_price:
                c.append(repr(price))
            c.append(repr(rating))
            lines.append(" ".join(c))
    return ("\n".join(lines) + "\n").encode()


def reference(rows, maps, with_price):
    """One respondent by numpy: (status, result dict) with part-worths keyed (attr, code)."""
    nattr = len(maps)
    use = [(n, p, y) for n, p, y in rows
           if all(x is not None for x in n) and np.isfinite(y)
           and (not with_price or np.isfinite(p))]
    local = [[] for _ in range(nattr)]
    for names, _, _ in use:
        for a in range(nattr):
            c = maps[a][names[a]]
            if c not in local[a]:
                local[a].append(c)
    p = 1 + sum(max(len(l) - 1, 0) for l in local) + (1 if with_price else 0)
    m = len(use)
    if m < p + 1:
        return "too_few_ratings", {"ratings": m, "params": p}
    y = np.array([r[2] for r in use])
    if np.all(y == y[0]):
        return "constant_ratings", {"ratings": m, "params": p}
    X = np.zeros((m, p))
    X[:, 0] = 1
    for i, (names, price, _) in enumerate(use):
        col = 1
        for a in range(nattr):
            L = len(local[a])
            j = local[a].index(maps[a][names[a]])
            if j < L - 1:
                X[i, col + j] = 1
            else:
                X[i, col:col + L - 1] = -1
            col += L - 1
        if with_price:
            X[i, col] = price
    if np.linalg.matrix_rank(X) < p:
        return "singular_design", {"ratings": m, "params": p}
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    res = y - X @ b
    r2 = 1 - res @ res / np.sum((y - y.mean()) ** 2)
    pw = {}
    ranges = []
    col = 1
    for a in range(nattr):
        L = len(local[a])
        u = list(b[col:col + L - 1]) + [-np.sum(b[col:col + L - 1])]
        for j, c in enumerate(local[a]):
            pw[(a, c)] = u[j]
        ranges.append(max(u) - min(u))
        col += L - 1
    beta = None
    if with_price:
        beta = b[col]
        ps = [r[1] for r in use]
        ranges.append(abs(beta) * (max(ps) - min(ps)))
    tot = sum(ranges)
    imp = [x / tot if tot > 0 else 0.0 for x in ranges]
    wtp = {}
    if with_price and beta != 0:
        for a in range(nattr):
            if (a, 0) not in pw:
                continue
            for c in local[a]:
                wtp[(a, c)] = (pw[(a, c)] - pw[(a, 0)]) / abs(beta)
    return "fitted", {"ratings": m, "params": p, "constant": b[0], "beta": beta, "r2": r2,
                      "pw": pw, "imp": imp, "wtp": wtp}


def near(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= TOL * max(1.0, abs(b))


def run(name, rng, nresp, nlev, with_price):
    resp = survey(rng, nresp, nlev, with_price)
    maps = codes(resp, len(nlev))
    off = np.concatenate([[0], np.cumsum([len(m) for m in maps])])
    got = driver("conjoint", [], encode(resp, maps, with_price))
    refs = [reference(rows, maps, with_price) for rows in resp]
    problems = []
    statuses = [g["status"] for g in got["respondents"]]
    want = [r[0] for r in refs]
    if statuses != want:
        problems.append("statuses %s\n vs %s" % (statuses, want))
    fitted = []
    for r, (g, (st, ref)) in enumerate(zip(got["respondents"], refs)):
        if g["ratings"] != ref["ratings"] or g["params"] != ref["params"]:
            problems.append("respondent %d: ratings/params %d/%d vs %d/%d" % (
                r, g["ratings"], g["params"], ref["ratings"], ref["params"]))
        if st != "fitted" or g["status"] != "fitted":
            continue
        fitted.append((g, ref))
        ok = near(g["constant"], ref["constant"]) and near(g["r2"], ref["r2"])
        ok = ok and near(g["price_coefficient"], ref["beta"])
        for a in range(len(maps)):
            for c in range(len(maps[a])):
                ok = ok and near(g["part_worth"][off[a] + c], ref["pw"].get((a, c)))
                if with_price:
                    ok = ok and near(g["wtp"][off[a] + c], ref["wtp"].get((a, c)))
        ok = ok and all(near(x, y) for x, y in zip(g["importance"], ref["imp"]))
        if not ok:
            problems.append("respondent %d: %s\n vs %s" % (r, g, ref))
    # part-worths sum to 0 within each attribute
    for g, _ in fitted:
        for a in range(len(maps)):
            s = sum(x for x in g["part_worth"][off[a]:off[a + 1]] if x is not None)
            if abs(s) > 1e-9:
                problems.append("part-worths of attribute %d sum to %g" % (a, s))
    # the summaries over the fitted respondents
    for a in range(len(maps)):
        for c in range(len(maps[a])):
            vals = [ref["pw"][(a, c)] for _, ref in fitted if (a, c) in ref["pw"]]
            mean = float(np.mean(vals)) if vals else None
            if not near(got["mean_part_worth"][off[a] + c], mean) or \
                    got["level_respondents"][off[a] + c] != len(vals):
                problems.append("mean part-worth %d/%d" % (a, c))
            if with_price:
                w = [ref["wtp"][(a, c)] for _, ref in fitted if (a, c) in ref["wtp"]]
                med = float(np.median(w)) if w else None
                if not near(got["median_wtp"][off[a] + c], med):
                    problems.append("median wtp %d/%d: %r vs %r" % (
                        a, c, got["median_wtp"][off[a] + c], med))
    nimp = len(maps) + (1 if with_price else 0)
    for q in range(nimp):
        if not near(got["mean_importance"][q], float(np.mean([r["imp"][q] for _, r in fitted]))):
            problems.append("mean importance %d" % q)
    r2 = [r["r2"] for _, r in fitted]
    if not near(got["median_r2"], float(np.median(r2))) or \
            not near(got["mean_r2"], float(np.mean(r2))):
        problems.append("r2 summaries")
    if with_price:
        betas = [r["beta"] for _, r in fitted]
        if not near(got["median_price_coefficient"], float(np.median(betas))) or \
                not near(got["mean_price_coefficient"], float(np.mean(betas))):
            problems.append("price coefficient summaries")
    counts = {s: want.count(s) for s in set(want)}
    if got["fitted"] != counts.get("fitted", 0) or got["skipped"] != len(resp) - len(fitted) or \
            got["too_few"] != counts.get("too_few_ratings", 0) or \
            got["constant"] != counts.get("constant_ratings", 0) or \
            got["singular"] != counts.get("singular_design", 0):
        problems.append("counts %s vs %s" % ({k: got[k] for k in (
            "fitted", "skipped", "too_few", "constant", "singular")}, counts))
    dropped = sum(1 for rows in resp for n, p, y in rows
                  if any(x is None for x in n) or not np.isfinite(y))
    if got["dropped_profiles"] != dropped:
        problems.append("dropped %d vs %d" % (got["dropped_profiles"], dropped))
    check("%s: %d respondents, %d fitted, %s" % (name, len(resp), len(fitted), counts),
          not problems, "\n".join(problems[:8]))
    return got, want


def main():
    rng = np.random.default_rng(20261129)
    got, want = run("with price", rng, 120, [3, 4, 2], True)
    check("every kind of skip happens", {"too_few_ratings", "constant_ratings",
                                        "singular_design", "fitted"} <= set(want))
    # respondents that never rated attribute 0's first level have no WTP for it; others do
    five = [g for r, g in enumerate(got["respondents"]) if r % 10 == 5 and g["status"] == "fitted"]
    zero = [g for r, g in enumerate(got["respondents"]) if r % 10 == 0 and g["status"] == "fitted"]
    check("no WTP without the first level", five and zero and
          all(w is None for g in five for w in g["wtp"][0:3]) and
          all(g["wtp"][0] == 0 and g["part_worth"][0] is not None for g in zero))
    run("without price", rng, 80, [3, 4, 2], False)
    run("one attribute of 5 levels, price", rng, 40, [5], True)
    # a code out of range is refused
    bad = b"1 1 0\n2\n2\n5 1\n0 2\n"
    got = driver("conjoint", [], bad)
    check("a level code out of range is refused", got.get("error") == "validation-failed", got)
    done()


if __name__ == "__main__":
    main()

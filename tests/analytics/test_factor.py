"""Factor analysis (analytics/factor.c) beside an independent NumPy / SciPy computation of
SPEC §6.2: the correlation matrix of the complete rows (numpy.corrcoef), its eigenvalues
(numpy.linalg.eigh), the loadings, varimax reimplemented here from R's stats::varimax source
(Kaiser normalisation, eps 1e-5, the polar factor by numpy.linalg.svd), the sign and order
rules, communalities, KMO, Bartlett (scipy.stats.chi2.sf) and the regression-method scores.
Everything within 1e-6 (absolute; relative for Bartlett's chi2 and p).

Run: /usr/bin/python3 tests/analytics/test_factor.py BUILD_DIR
"""
import numpy as np
from scipy import stats

from common import check, done, driver

TOL = 1e-6


def varimax(x, normalize=True, eps=1e-5):
    """R's stats::varimax, line by line."""
    nc = x.shape[1]
    if nc < 2:
        return x, 0
    sc = np.sqrt((x ** 2).sum(axis=1)) if normalize else np.ones(x.shape[0])
    x = x / sc[:, None]
    p = x.shape[0]
    tt = np.eye(nc)
    d = 0.0
    it = 0
    for it in range(1, 1001):
        z = x @ tt
        b = x.T @ (z ** 3 - z @ np.diag((z ** 2).sum(axis=0)) / p)
        u, s, vt = np.linalg.svd(b)
        tt = u @ vt
        dpast = d
        d = s.sum()
        if d < dpast * (1 + eps):
            break
    z = x @ tt
    return z * sc[:, None], it


def reference(x, n_factors, rotation):
    c = x[~np.isnan(x).any(axis=1)]
    n, p = c.shape
    r = np.corrcoef(c, rowvar=False)
    w, v = np.linalg.eigh(r)
    w, v = w[::-1], v[:, ::-1]
    k = n_factors if n_factors else max(1, int((w > 1).sum()))
    load = v[:, :k] * np.sqrt(w[:k])
    if rotation == "varimax":
        load, _ = varimax(load)
    load = load * np.where(load.sum(axis=0) < 0, -1, 1)
    ss = (load ** 2).sum(axis=0)
    load = load[:, np.argsort(-ss, kind="stable")]
    explained = (load ** 2).sum(axis=0) / p
    rinv = np.linalg.inv(r)
    partial = -rinv / np.sqrt(np.outer(np.diag(rinv), np.diag(rinv)))
    off = ~np.eye(p, dtype=bool)
    r2, q2 = (r ** 2 * off), (partial ** 2 * off)
    kmo = r2.sum() / (r2.sum() + q2.sum())
    msa = r2.sum(axis=1) / (r2.sum(axis=1) + q2.sum(axis=1))
    chi2 = -(n - 1 - (2 * p + 5) / 6) * np.log(np.linalg.det(r))
    df = p * (p - 1) / 2
    z = (x - c.mean(axis=0)) / c.std(axis=0, ddof=1)
    scores = z @ rinv @ load  # NaN rows stay NaN
    return {"n": n, "k": k, "eigenvalues": w, "loadings": load, "explained": explained,
            "cumulative": np.cumsum(explained), "communalities": (load ** 2).sum(axis=1),
            "kmo": kmo, "msa": msa, "chi2": chi2, "df": df, "p": stats.chi2.sf(chi2, df),
            "scores": scores}


def label(load, j):
    """The label rule of analytics/README.md, on names x1, x2, ..."""
    p, _ = load.shape
    a = np.abs(load)
    cand = [i for i in range(p) if a[i, j] >= 0.4 and a[i, j] >= a[i].max()]
    picked = []
    while cand and len(picked) < 3:
        best = cand[0]
        for i in cand[1:]:
            if a[i, j] > a[best, j] + 1e-9:  # ties to rounding: the earlier feature
                best = i
        picked.append(best)
        cand.remove(best)
    if not picked:
        best = 0
        for i in range(1, p):
            if a[i, j] > a[best, j] + 1e-9:
                best = i
        picked = [best]
    cand = picked
    return ", ".join(("-" if load[i, j] < 0 else "") + "x%d" % (i + 1) for i in cand)


def run(x, n_factors, rotation):
    text = "%d %d\n" % x.shape + "\n".join(" ".join(repr(float(v)) for v in row) for row in x)
    return driver("factor", [n_factors, rotation], text.encode())


def maxdiff(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return np.inf
    both = np.isnan(a) & np.isnan(b)
    return float(np.max(np.where(both, 0, np.abs(a - b)), initial=0))


def compare(name, x, n_factors, rotation):
    got = run(x, n_factors, rotation)
    if "error" in got:
        check(name, False, got)
        return got
    want = reference(x, n_factors, rotation)
    k = want["k"]
    p = x.shape[1]
    check(name + ": n and k", got["n"] == want["n"] and got["k"] == k, (got["n"], got["k"], k))
    check(name + ": eigenvalues", maxdiff(got["eigenvalues"], want["eigenvalues"]) < TOL)
    lg = np.array(got["loadings"]).reshape(p, got["k"])
    check(name + ": loadings", maxdiff(lg, want["loadings"]) < TOL, (lg, want["loadings"]))
    for key in ("explained", "cumulative", "communalities", "msa"):
        check(name + ": " + key, maxdiff(got[key], want[key]) < TOL, (got[key], want[key]))
    check(name + ": kmo", abs(got["kmo"] - want["kmo"]) < TOL, (got["kmo"], want["kmo"]))
    b = got["bartlett"]
    check(name + ": bartlett chi2, df",
          abs(b["chi2"] - want["chi2"]) <= TOL * abs(want["chi2"]) and b["df"] == want["df"],
          (b, want["chi2"]))
    check(name + ": bartlett p", abs(b["p"] - want["p"]) <= TOL * max(want["p"], 1e-300),
          (b["p"], want["p"]))
    sg = np.array([np.nan if v is None else v for v in got["scores"]]).reshape(x.shape[0], k)
    check(name + ": scores", maxdiff(sg, want["scores"]) < TOL,
          maxdiff(sg, want["scores"]))
    labels = [label(want["loadings"], j) for j in range(k)]
    check(name + ": labels", got["labels"] == labels, (got["labels"], labels))
    return got


def latent(rng, n, loadings, noise):
    """n rows of x = f L^T + noise, f standard normal."""
    lmat = np.array(loadings, dtype=float)
    f = rng.standard_normal((n, lmat.shape[1]))
    return f @ lmat.T + noise * rng.standard_normal((n, lmat.shape[0]))


def main():
    rng = np.random.default_rng(9)
    # two factors over six features, 5 % missing values, auto (eigenvalues > 1) and varimax
    x = latent(rng, 2000, [[.9, 0], [.8, .1], [.7, -.2], [0, .9], [.1, .8], [-.3, .7]], .5)
    x[:, 2] = x[:, 2] * 1000 + 5e4  # units do not matter to correlations
    x[rng.random(x.shape) < 0.05] = np.nan
    got = compare("two factors, auto, varimax", x, 0, "varimax")
    check("two factors found", got.get("k") == 2, got.get("k"))
    compare("three factors, no rotation", x, 3, "none")
    compare("three factors, varimax", x, 3, "varimax")
    compare("one factor, varimax is no rotation", x, 1, "varimax")
    # ten features, three factors, one loading negative on each
    lmat = np.zeros((10, 3))
    for i in range(10):
        lmat[i, i % 3] = 0.6 + 0.03 * i
        lmat[i, (i + 1) % 3] = -0.25 if i % 4 == 0 else 0.1
    x = latent(rng, 5000, lmat, .6)
    got = compare("ten features, auto", x, 0, "varimax")
    compare("ten features, all ten factors", x, 10, "varimax")
    # failures
    c = x.copy()
    c[:, 4] = 3.0
    got = run(c, 0, "varimax")
    check("a constant feature fails", got.get("error") == 3, got)
    c = x.copy()
    c[:, 5] = c[:, 1] + 2 * c[:, 2]
    got = run(c, 0, "varimax")
    check("a linear combination fails as singular", got.get("error") == 4, got)
    got = run(x[:8], 0, "varimax")
    check("no more rows than features fails", got.get("error") == 2, got)
    got = run(x[:, :1], 0, "varimax")
    check("one feature fails", got.get("error") == 1, got)
    done()


main()

#!/usr/bin/python3
"""bench/factor.sh's helper (NumPy, SciPy, scikit-learn: Debian's python3; never in `make test`).

  factor.py gen N P G X GROUPS
      N rows of P features from 3 latent factors (loadings 0.5-0.8, noise 0.6) plus group
      shifts for G groups; 70 % of the rows carry a group (0 .. G-1), 30 % are to assign
      (-1). Writes X (float64, row-major) and GROUPS (int32). Seed 42.
  factor.py ref N P G X GROUPS SCORES POSTERIOR
      The baseline, timed: the factor analysis of SPEC 6.2 in NumPy (corrcoef, eigh, R's
      varimax, sign/order, KMO, Bartlett, regression scores of every row) and sklearn's
      LinearDiscriminantAnalysis (fit on the assigned rows, predict_proba of every row), plus
      the time of 3 leave-one-out refits extrapolated to every assigned row (what a literal
      LOO costs). Then compares with the engine's SCORES and POSTERIOR (max |difference|).
"""
import sys
import time

import numpy as np
from scipy import stats
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis


def gen(n, p, g, xpath, gpath):
    rng = np.random.default_rng(42)
    load = np.zeros((p, 3))
    for i in range(p):
        load[i, i % 3] = 0.5 + 0.3 * (i / max(p - 1, 1))
        load[i, (i + 1) % 3] = 0.2
    group = rng.integers(0, g, n).astype(np.int32)
    shift = rng.standard_normal((g, p)) * 0.5
    x = rng.standard_normal((n, 3)) @ load.T + 0.6 * rng.standard_normal((n, p)) + shift[group]
    x = x * (1 + np.arange(p)) + 10 * np.arange(p)  # features in their own units
    group[rng.random(n) < 0.3] = -1
    np.ascontiguousarray(x, dtype=np.float64).tofile(xpath)
    group.tofile(gpath)


def varimax(x, eps=1e-5):
    nc = x.shape[1]
    if nc < 2:
        return x
    sc = np.sqrt((x ** 2).sum(axis=1))
    x = x / sc[:, None]
    p = x.shape[0]
    tt = np.eye(nc)
    d = 0.0
    for _ in range(1000):
        z = x @ tt
        b = x.T @ (z ** 3 - z @ np.diag((z ** 2).sum(axis=0)) / p)
        u, s, vt = np.linalg.svd(b)
        tt = u @ vt
        dpast, d = d, s.sum()
        if d < dpast * (1 + eps):
            break
    return (x @ tt) * sc[:, None]


def factor(x):
    n, p = x.shape
    r = np.corrcoef(x, rowvar=False)
    w, v = np.linalg.eigh(r)
    w, v = w[::-1], v[:, ::-1]
    k = max(1, int((w > 1).sum()))
    load = varimax(v[:, :k] * np.sqrt(w[:k]))
    load = load * np.where(load.sum(axis=0) < 0, -1, 1)
    load = load[:, np.argsort(-(load ** 2).sum(axis=0), kind="stable")]
    rinv = np.linalg.inv(r)
    part = -rinv / np.sqrt(np.outer(np.diag(rinv), np.diag(rinv)))
    off = ~np.eye(p, dtype=bool)
    kmo = (r[off] ** 2).sum() / ((r[off] ** 2).sum() + (part[off] ** 2).sum())
    chi2 = -(n - 1 - (2 * p + 5) / 6) * np.linalg.slogdet(r)[1]
    stats.chi2.sf(chi2, p * (p - 1) / 2)
    scores = ((x - x.mean(axis=0)) / x.std(axis=0, ddof=1)) @ (rinv @ load)
    return scores, kmo


def ref(n, p, g, xpath, gpath, spath, ppath):
    x = np.fromfile(xpath, dtype=np.float64).reshape(n, p)
    group = np.fromfile(gpath, dtype=np.int32)
    t0 = time.perf_counter()
    scores, kmo = factor(x)
    t1 = time.perf_counter()
    train = group >= 0
    xt, yt = x[train], group[train]
    t2 = time.perf_counter()
    model = LinearDiscriminantAnalysis(solver="svd").fit(xt, yt)
    post = model.predict_proba(x)
    t3 = time.perf_counter()
    loo = []
    for i in range(3):
        keep = np.ones(len(yt), dtype=bool)
        keep[i] = False
        s = time.perf_counter()
        LinearDiscriminantAnalysis(solver="svd").fit(xt[keep], yt[keep]).predict(xt[i:i + 1])
        loo.append(time.perf_counter() - s)
    ours_s = np.fromfile(spath, dtype=np.float64).reshape(n, -1)
    ours_p = np.fromfile(ppath, dtype=np.float64).reshape(n, g)
    print("numpy_factor_s=%.3f sklearn_lda_s=%.3f sklearn_loo_refit_s=%.3f "
          "sklearn_loo_estimate_s=%.0f kmo=%.6f scores_maxdiff=%.2e posterior_maxdiff=%.2e"
          % (t1 - t0, t3 - t2, np.median(loo), np.median(loo) * len(yt), kmo,
             np.abs(ours_s - scores).max() if ours_s.shape == scores.shape else np.inf,
             np.abs(ours_p - post).max()))


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
    else:
        ref(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:9])

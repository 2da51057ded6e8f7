"""Discriminant analysis (analytics/discriminant.c) beside NumPy, SciPy and scikit-learn:
the functions from scipy.linalg.eigh(B, W) (LAPACK's generalised solver, not ours), Wilks'
lambda and Bartlett's chi2 from SPEC §6.2 (scipy.stats.chi2.sf), the univariate F beside
scipy.stats.f_oneway, the structure matrix as the pooled within-groups correlation of each
feature with the scores computed from the data, the posteriors and predictions beside
sklearn's LinearDiscriminantAnalysis (pooled covariance, the chosen priors), and the
leave-one-out classification matrix by literally refitting sklearn's LDA without each customer.
Everything within 1e-6; counts exactly.

Run: /usr/bin/python3 tests/analytics/test_discriminant.py BUILD_DIR
"""
import warnings

import numpy as np
from scipy import linalg, stats
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from common import check, done, driver

TOL = 1e-6


def run(x, group, g, priors):
    n, p = x.shape
    lines = ["%d %d %d" % (n, p, g)]
    for r in range(n):
        lines.append("%d " % group[r] + " ".join(repr(float(v)) for v in x[r]))
    return driver("discriminant", [priors], "\n".join(lines).encode())


def maxdiff(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return np.inf
    both = np.isnan(a) & np.isnan(b)
    return float(np.max(np.where(both, 0, np.abs(a - b)), initial=0))


def lda(priors, g):
    return LinearDiscriminantAnalysis(solver="svd",
                                      priors=None if priors == "proportional"
                                      else np.full(g, 1.0 / g))


def reference(x, group, g, priors):
    train = (group >= 0) & ~np.isnan(x).any(axis=1)
    xt, yt = x[train], group[train]
    n, p = xt.shape
    q = min(g - 1, p)
    m = xt.mean(axis=0)
    means = np.array([xt[yt == k].mean(axis=0) for k in range(g)])
    sizes = np.array([(yt == k).sum() for k in range(g)])
    xc = xt - means[yt]
    w = xc.T @ xc
    b = sum(sizes[k] * np.outer(means[k] - m, means[k] - m) for k in range(g))
    lam, v = linalg.eigh(b, w)
    lam, v = lam[::-1][:q], v[:, ::-1][:, :q]
    lam = np.maximum(lam, 0)
    sd = np.sqrt(np.diag(w) / (n - g))
    raw = v * np.sqrt(n - g)
    raw = raw * np.where((raw * sd[:, None]).sum(axis=0) < 0, -1, 1)
    std = raw * sd[:, None]
    scores = (x - m) @ raw
    sc = scores[train]
    sc = sc - np.array([sc[yt == k].mean(axis=0) for k in range(g)])[yt]
    structure = (xc.T @ sc) / np.sqrt(np.outer((xc ** 2).sum(axis=0), (sc ** 2).sum(axis=0)))
    wilks = np.array([np.prod(1 / (1 + lam[j:])) for j in range(q)])
    chi2 = -(n - 1 - (p + g) / 2) * np.log(wilks)
    df = np.array([(p - j) * (g - j - 1) for j in range(q)], dtype=float)
    fw = np.diag(w) / np.diag(w + b)
    fo = [stats.f_oneway(*[xt[yt == k, i] for k in range(g)]) for i in range(p)]
    share = sizes / n
    model = lda(priors, g).fit(xt, yt)
    complete = ~np.isnan(x).any(axis=1)
    post = np.full((len(x), g), np.nan)
    post[complete] = model.predict_proba(x[complete])
    pred = np.full(len(x), -1)
    pred[complete] = model.predict(x[complete])
    # leave-one-out: a refit without each customer
    cm = np.zeros((g, g), dtype=int)
    for i in range(n):
        keep = np.arange(n) != i
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mi = lda(priors, g).fit(xt[keep], yt[keep])
        cm[yt[i], int(mi.predict(xt[i:i + 1])[0])] += 1
    return {"n": n, "q": q, "eigenvalues": lam, "explained": lam / lam.sum(),
            "canonical_correlation": np.sqrt(lam / (1 + lam)), "wilks_lambda": wilks,
            "chi2": chi2, "df": df, "p": stats.chi2.sf(chi2, df), "raw": raw,
            "standardized": std, "structure": structure,
            "centroids": (means - m) @ raw, "feature_wilks": fw,
            "feature_f": np.array([f.statistic for f in fo]),
            "feature_p": np.array([f.pvalue for f in fo]),
            "posterior": post, "predicted": pred, "scores": scores,
            "classification": cm, "hit_rate": np.trace(cm) / cm.sum(),
            "proportional_chance": (share ** 2).sum(), "maximum_chance": share.max()}


def compare(name, x, group, g, priors):
    got = run(x, group, g, priors)
    if "error" in got:
        check(name, False, got)
        return got
    want = reference(x, group, g, priors)
    n, p = x.shape
    q = want["q"]
    check(name + ": n, q", got["n"] == want["n"] and got["q"] == q, (got["n"], got["q"]))
    for key in ("eigenvalues", "explained", "canonical_correlation", "wilks_lambda", "df",
                "feature_wilks", "proportional_chance", "maximum_chance"):
        check(name + ": " + key, maxdiff(got[key], want[key]) < TOL, (got[key], want[key]))
    for key in ("chi2", "p", "feature_f", "feature_p"):
        gw, ww = np.array(got[key]), np.array(want[key])
        check(name + ": " + key + " (relative)",
              np.all(np.abs(gw - ww) <= TOL * np.maximum(np.abs(ww), 1e-300)), (gw, ww))
    for key, shape in (("raw", (p, q)), ("standardized", (p, q)), ("structure", (p, q)),
                       ("centroids", (g, q))):
        gm = np.array(got[key]).reshape(shape)
        check(name + ": " + key, maxdiff(gm, want[key]) < TOL, (gm, want[key]))
    post = np.array([np.nan if v is None else v for v in got["posterior"]]).reshape(n, g)
    check(name + ": posteriors (sklearn predict_proba)", maxdiff(post, want["posterior"]) < TOL,
          maxdiff(post, want["posterior"]))
    check(name + ": predictions (sklearn predict)",
          list(got["predicted"]) == list(want["predicted"]))
    sc = np.array([np.nan if v is None else v for v in got["scores"]]).reshape(n, q)
    check(name + ": scores", maxdiff(sc, want["scores"]) < TOL)
    cm = np.array(got["classification"]).reshape(g, g)
    check(name + ": leave-one-out matrix (sklearn refits)",
          np.array_equal(cm, want["classification"]), (cm, want["classification"]))
    check(name + ": hit rate", abs(got["hit_rate"] - want["hit_rate"]) < 1e-12)
    return got


def groups_data(rng, sizes, centres, cov, extra=0):
    """Gaussian groups around centres with a shared covariance; extra rows of group -1."""
    xs, ys = [], []
    chol = np.linalg.cholesky(np.array(cov, dtype=float))
    for k, (size, c) in enumerate(zip(sizes, centres)):
        xs.append(np.array(c, dtype=float) + rng.standard_normal((size, len(c))) @ chol.T)
        ys += [k] * size
    if extra:
        xs.append(rng.standard_normal((extra, len(centres[0]))) @ chol.T * 2)
        ys += [-1] * extra
    return np.vstack(xs), np.array(ys)


def main():
    rng = np.random.default_rng(9)
    cov4 = [[1, .3, .1, 0], [.3, 1, .2, .1], [.1, .2, 1, .4], [0, .1, .4, 1]]
    x, y = groups_data(rng, [50, 60, 40], [[0, 0, 0, 0], [1.2, .5, 0, -.3], [.3, 1.5, .8, 0]],
                       cov4, extra=20)
    x[:, 1] = x[:, 1] * 100 + 1000  # units do not matter
    x[5, 2] = np.nan  # a training row with a missing value takes no part
    x[-1, 0] = np.nan  # an unassigned row without a value: no class
    compare("3 groups x 4 features, proportional", x, y, 3, "proportional")
    compare("3 groups x 4 features, equal", x, y, 3, "equal")
    cov6 = np.eye(6) * .8 + .2
    centres = [[0] * 6, [1, 0, 0, .5, 0, 0], [0, 1, .5, 0, 0, 0], [0, 0, 0, 0, 1, 1]]
    x, y = groups_data(rng, [30, 70, 25, 45], centres, cov6, extra=10)
    compare("4 groups x 6 features, proportional", x, y, 4, "proportional")
    compare("4 groups x 6 features, equal", x, y, 4, "equal")
    x, y = groups_data(rng, [40, 35], [[0, 0, 0], [.8, .4, 0]], np.eye(3), extra=5)
    got = compare("2 groups x 3 features (one function)", x, y, 2, "proportional")
    check("one function", got.get("q") == 1, got.get("q"))
    # more groups than features: q = p
    x, y = groups_data(rng, [20, 25, 30, 22], [[0, 0], [2, 0], [0, 2], [2, 2]], np.eye(2))
    compare("4 groups x 2 features (q = p)", x, y, 4, "proportional")
    # a group of one customer: the leave-one-out model has no such group
    x, y = groups_data(rng, [30, 1, 30], [[0, 0, 0], [1, 1, 1], [1, 0, 2]], np.eye(3))
    compare("a group of one customer", x, y, 3, "proportional")
    # failures
    got = run(x, np.where(y == 1, -1, y), 3, "proportional")
    check("an empty group fails", got.get("error") == 2, got)
    c = x.copy()
    c[:, 2] = c[:, 0] - c[:, 1]
    got = run(c, y, 3, "proportional")
    check("a linear combination fails as singular", got.get("error") == 4, got)
    got = run(x[:4], np.array([0, 1, 2, 0]), 3, "proportional")
    check("too few customers fails", got.get("error") == 3, got)
    done()


main()

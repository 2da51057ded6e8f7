"""Reference test of analytics/contrast.c (the AID tree of SPEC §6.2 and the cluster rule).

An independent brute-force AID in NumPy: at every node, every candidate split of every feature
is formed as a boolean mask and its between-groups sum of squares computed from the two groups'
means (O(n^2) per node: fine on small data); the tie rule of analytics/README.md ("Contrast
groups"): the largest gain, gains within 1e-9 of the node's sum of squares of it tied, the first
feature then the smallest t (shortest prefix) among them. The driver's tree must be the same
(features, thresholds, category sets, sizes, every row's leaf) and its means, gains and
explained share equal within 1e-9.
"""
import json

import numpy as np

from common import check, done, driver

TIE = 1e-9


def candidates(x, cat, names, y, idx):
    """Every (mask over idx, description) of one feature at a node, in tie order."""
    xs = x[idx]
    out = []
    if cat is None:
        valid = ~np.isnan(xs)
        for t in np.unique(xs[valid]):
            out.append((valid & (xs <= t), ("le", float(t))))
    else:
        codes = [c for c in np.unique(xs) if c >= 0]
        means = {c: float(np.mean(y[idx][xs == c])) for c in codes}
        order = sorted(codes, key=lambda c: (means[c], names[int(c)].encode()))
        for j in range(1, len(order) + 1):
            s = order[:j]
            out.append((np.isin(xs, s), ("in", [int(c) for c in s])))
    return out


def grow(X, cats, names, y, idx, depth, max_depth, min_size, nodes):
    """Appends the subtree of rows idx to nodes in preorder; returns its index."""
    yi = y[idx]
    n = len(idx)
    mean = float(np.mean(yi))
    sse = float(np.sum((yi - mean) ** 2))
    me = len(nodes)
    node = {"size": n, "mean": mean, "sse": sse, "depth": depth, "rows": idx}
    nodes.append(node)
    if depth >= max_depth or n < 2 * min_size or yi.min() == yi.max():
        return me
    best = []  # (gain, feature, order, mask, desc)
    for f in range(X.shape[1]):
        for k, (mask, desc) in enumerate(candidates(X[:, f], cats[f], names[f], y, idx)):
            ny = int(mask.sum())
            if ny < min_size or n - ny < min_size:
                continue
            a, b = yi[mask], yi[~mask]
            g = ny * (a.mean() - mean) ** 2 + (n - ny) * (b.mean() - mean) ** 2
            best.append((g, f, k, mask, desc))
    if not best:
        return me
    top = max(b[0] for b in best)
    tol = TIE * sse
    if not top > tol:
        return me
    g, f, k, mask, desc = next(b for b in best if b[0] >= top - tol)
    node.update(feature=f, gain=float(g), split=desc)
    node["yes"] = grow(X, cats, names, y, idx[mask], depth + 1, max_depth, min_size, nodes)
    node["no"] = grow(X, cats, names, y, idx[~mask], depth + 1, max_depth, min_size, nodes)
    return me


def reference(X, cats, names, y, max_depth, min_size):
    nodes = []
    grow(X, cats, names, y, np.arange(len(y)), 0, max_depth, min_size, nodes)
    leaves = [i for i, nd in enumerate(nodes) if "feature" not in nd]
    leaf_of = np.zeros(len(y), dtype=int)
    for l, i in enumerate(leaves):
        leaf_of[nodes[i]["rows"]] = l
    mean = float(np.mean(y))
    sst = float(np.sum((y - mean) ** 2))
    between = sum(nodes[i]["size"] * (nodes[i]["mean"] - mean) ** 2 for i in leaves)
    return nodes, leaves, leaf_of, (between / sst if sst > 0 else 0.0)


def encode(X, cats, names, y):
    n, d = X.shape
    lines = ["%d %d" % (n, d), " ".join(str(0 if c is None else c) for c in cats)]
    for f in range(d):
        if cats[f] is not None:
            lines.append(" ".join(names[f]))
    for i in range(n):
        lines.append(" ".join(repr(float(v)) for v in X[i]) + " " + repr(float(y[i])))
    return ("\n".join(lines) + "\n").encode()


def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def compare(name, X, cats, names, y, max_depth, min_size, threads=1):
    got = driver("contrast", ["fit", max_depth, min_size, threads], encode(X, cats, names, y))
    nodes, leaves, leaf_of, explained = reference(X, cats, names, y, max_depth, min_size)
    problems = []
    if "error" in got:
        check(name, False, got)
        return got
    if len(got["nodes"]) != len(nodes):
        problems.append("nodes: %d, reference %d" % (len(got["nodes"]), len(nodes)))
    for i, (g, r) in enumerate(zip(got["nodes"], nodes)):
        if g["size"] != r["size"] or not close(g["mean"], r["mean"]) or \
                not close(g["sse"], r["sse"], 1e-8):
            problems.append("node %d: %s vs %s" % (i, g, {k: r[k] for k in ("size", "mean", "sse")}))
        if ("feature" in g) != ("feature" in r):
            problems.append("node %d: split %s vs %s" % (i, g.get("feature"), r.get("split")))
            continue
        if "feature" not in g:
            continue
        kind, val = r["split"]
        same = g["feature"] == r["feature"] and g["yes"] == r["yes"] and g["no"] == r["no"]
        same = same and close(g["gain"], r["gain"], 1e-8)
        if kind == "le":
            same = same and "threshold" in g and g["threshold"] == val
        else:
            same = same and g.get("categories") == val
        if not same:
            problems.append("node %d: %s vs feature %d %s gain %r" % (i, g, r["feature"],
                                                                      r["split"], r["gain"]))
    if got["leaves"] != leaves:
        problems.append("leaves %s vs %s" % (got["leaves"], leaves))
    if got["leaf_of"] != leaf_of.tolist():
        problems.append("leaf_of differs")
    if not close(got["explained"], explained):
        problems.append("explained %r vs %r" % (got["explained"], explained))
    check("%s (%d nodes, explained %.4f)" % (name, len(nodes), explained), not problems,
          "\n".join(problems[:10]))
    return got


def dataset(rng, n, with_nan=True):
    """Mixed features: continuous, integer-valued (many ties), two categoricals, with NaN."""
    x0 = rng.normal(50, 10, n)
    x1 = rng.integers(0, 12, n).astype(float)
    c2 = rng.integers(-1, 5, n).astype(float)  # -1: none
    c3 = rng.integers(0, 3, n).astype(float)
    x4 = np.round(rng.exponential(3, n), 1)
    x5 = np.round(rng.normal(0, 2, n))  # negatives, -0.0 beside 0.0
    if with_nan:
        x0[rng.random(n) < 0.1] = np.nan
        x4[rng.random(n) < 0.2] = np.nan
    X = np.column_stack([x0, x1, c2, c3, x4, x5])
    cats = [None, None, 5, 3, None, None]
    names = [None, None, ["red", "green", "blue", "amber", "zinc"], ["b", "a", "c"], None, None]
    eff2 = np.array([3.0, -2.0, 0.5, 4.0, -1.0])
    y = (0.2 * np.nan_to_num(x0, nan=40.0) + 1.5 * (x1 > 6)
         + np.where(c2 >= 0, eff2[np.maximum(c2, 0).astype(int)], 0.0)
         - 1.2 * (x5 < -1) + rng.normal(0, 2, n))
    return X, cats, names, y


def main():
    rng = np.random.default_rng(20261129)
    for n, depth, min_size in ((400, 3, 20), (600, 4, 10), (250, 2, 50), (300, 5, 5)):
        X, cats, names, y = dataset(rng, n)
        compare("mixed n=%d depth=%d min_size=%d" % (n, depth, min_size), X, cats, names, y,
                depth, min_size)
    # integer targets: many exactly tied category means and gains (ties by value, by t)
    X, cats, names, _ = dataset(rng, 300)
    y = rng.integers(0, 3, 300).astype(float)
    compare("integer target, ties", X, cats, names, y, 3, 10)
    # a duplicated feature: exactly equal gains, the first feature wins
    X, cats, names, y = dataset(rng, 300, with_nan=False)
    X2 = np.column_stack([X[:, 1], X])
    compare("duplicate feature: the first wins", X2, [None] + cats, [None] + names, y, 3, 15)
    # threads give the same tree
    X, cats, names, y = dataset(rng, 500)
    one = driver("contrast", ["fit", 4, 10, 1], encode(X, cats, names, y))
    three = driver("contrast", ["fit", 4, 10, 3], encode(X, cats, names, y))
    check("1 and 3 threads: the same tree, bit for bit", one == three)
    # constant target: the root alone; min_size too large: the root alone
    got = compare("constant target", X, cats, names, np.full(500, 7.25), 3, 10)
    check("constant target: one leaf, explained 0",
          len(got.get("nodes", [])) == 1 and got.get("explained") == 0)
    got = compare("min_size above n/2", X, cats, names, y, 3, 251)
    check("min_size above n/2: one leaf", len(got.get("nodes", [])) == 1)
    # a pure categorical signal: the prefix by mean finds the best subset
    n = 400
    c = rng.integers(0, 6, n).astype(float)
    eff = np.array([5.0, 0.0, 5.0, 0.0, 5.0, 1.0])
    y = eff[c.astype(int)] + rng.normal(0, 0.5, n)
    got = compare("categorical subset", c[:, None], [6], [list("uvwxyz")], y, 1, 10)
    check("categorical subset: {v, x, z} vs {u, w, y}",
          sorted(got["nodes"][0].get("categories", [])) == [1, 3, 5], got["nodes"][0])
    # bad input: an infinite value, a code out of range, a NaN target
    X, cats, names, y = dataset(rng, 50)
    Xb = X.copy()
    Xb[3, 0] = np.inf
    got = driver("contrast", ["fit", 2, 5, 1], encode(Xb, cats, names, y))
    check("an infinite value is refused", got.get("error") == "validation-failed", got)
    Xb = X.copy()
    Xb[4, 2] = 7
    got = driver("contrast", ["fit", 2, 5, 1], encode(Xb, cats, names, y))
    check("a code out of range is refused", got.get("error") == "validation-failed", got)
    yb = y.copy()
    yb[5] = np.nan
    got = driver("contrast", ["fit", 2, 5, 1], encode(X, cats, names, yb))
    check("a missing target is refused", got.get("error") == "validation-failed", got)
    sklearn_check(rng)
    describe(rng)
    done()


def sklearn_check(rng):
    """On numeric data without missing values AID is CART's regression tree (squared error):
    scikit-learn's DecisionTreeRegressor must make the same partition (its thresholds are
    midpoints, ours the values themselves, so the leaves are compared, not the numbers)."""
    from sklearn.tree import DecisionTreeRegressor
    n, depth, min_size = 2000, 4, 30
    X = np.column_stack([rng.normal(0, 1, n), rng.uniform(0, 10, n), rng.exponential(2, n)])
    y = np.sin(X[:, 0]) * 3 + (X[:, 1] > 6) * 2 + np.log1p(X[:, 2]) + rng.normal(0, 0.5, n)
    got = driver("contrast", ["fit", depth, min_size, 2],
                 encode(X, [None] * 3, [None] * 3, y))
    t = DecisionTreeRegressor(max_depth=depth, min_samples_leaf=min_size, random_state=0)
    t.fit(X, y)
    theirs = t.apply(X)
    ours = np.array(got["leaf_of"])
    # the same partition: a one-to-one map between their leaves and ours
    pairs = set(zip(ours.tolist(), theirs.tolist()))
    same = len(pairs) == len(set(ours.tolist())) == len(set(theirs.tolist()))
    pred = np.array([got["nodes"][got["leaves"][l]]["mean"] for l in ours])
    check("numeric data: the same leaves as scikit-learn's DecisionTreeRegressor (%d leaves)"
          % len(set(ours.tolist())), same and np.allclose(pred, t.predict(X), rtol=1e-9),
          "pairs %d, ours %d, theirs %d" % (len(pairs), len(set(ours.tolist())),
                                              len(set(theirs.tolist()))))


def describe(rng):
    """The cluster rule: the tree of the 0/1 target and the best prefix of its leaves by F1."""
    n = 600
    X, cats, names, _ = dataset(rng, n)
    member = ((np.nan_to_num(X[:, 0], nan=0) > 55) & (X[:, 1] <= 8)) | (rng.random(n) < 0.05)
    y = member.astype(float)
    got = driver("contrast", ["describe", 2, 20, 2], encode(X, cats, names, y))
    nodes, leaves, leaf_of, _ = reference(X, cats, names, y, 2, 20)
    check("describe: the tree of the 0/1 target is AID's", got["leaves"] == leaves and
          got["leaf_of"] == leaf_of.tolist())
    # best prefix by F1 over leaves ordered by share of members, brute force
    stats = []
    for l, i in enumerate(leaves):
        rows = leaf_of == l
        stats.append((l, int(rows.sum()), int(member[rows].sum())))
    order = sorted(stats, key=lambda s: (-s[2] / s[1], s[0]))
    m = int(member.sum())
    best, bestf = None, -1.0
    for j in range(1, len(order) + 1):
        matched = sum(s[1] for s in order[:j])
        hits = sum(s[2] for s in order[:j])
        f1 = 2 * hits / (matched + m)
        if f1 > bestf + 1e-15:
            best, bestf = (j, matched, hits), f1
    j, matched, hits = best
    want = [s[0] for s in order[:j]]
    ok = got["rule"] == want and got["matched"] == matched and got["hits"] == hits and \
        got["members"] == m and close(got["f1"], bestf, 1e-12) and \
        close(got["precision"], hits / matched, 1e-12) and close(got["recall"], hits / m, 1e-12)
    check("describe: rule leaves %s, precision %.3f, recall %.3f" % (want, hits / matched,
                                                                      hits / m), ok,
          json.dumps({k: got[k] for k in ("rule", "matched", "hits", "members", "f1")}))
    rule_rows = np.isin(leaf_of, want)
    check("describe: the rule's customers are the chosen leaves'",
          int(rule_rows.sum()) == matched and int((rule_rows & member).sum()) == hits)


if __name__ == "__main__":
    main()

"""The k-means engine (analytics/kmeans.c) beside scikit-learn 1.2 on the same data.

- k-means++: scikit-learn's own _kmeans_plusplus, given our generator's draws (a Python port
  of analytics/random.c as its random_state), picks the same rows;
- inertia within 0.5 % of KMeans(n_init same, algorithm="lloyd") on blobs and on skewed data;
- the same initial centres given to both: the same labels, centres, inertia and iterations;
- silhouette equal to silhouette_score on the same sample within 1e-6, Davies-Bouldin and
  Calinski-Harabasz equal to scikit-learn's within 1e-6 (relative), on our labels and on
  scikit-learn's;
- adjusted Rand index >= 0.99 against the truth on well-separated blobs;
- k "auto" finds the true k;
- identical output with 1, 2 and 3 threads;
- scaling as StandardScaler / MinMaxScaler, the profile as the clusters' means in own units.

Run: /usr/bin/python3 tests/analytics/test_kmeans.py build
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # a shared 2-core machine: one thread each

import json
import subprocess

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import (adjusted_rand_score, calinski_harabasz_score,
                             davies_bouldin_score, silhouette_score)
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from common import build_dir, check, done, driver


def fit(x, k, n_init=10, max_iter=300, tol=1e-4, seed=0, threads=1, scaling="none",
        init=None, sample=None):
    x = np.ascontiguousarray(x, dtype=np.float64)
    n, d = x.shape
    stdin = x.tobytes()
    if init is not None:
        stdin += np.ascontiguousarray(init, dtype=np.float64).tobytes()
    m = 0
    if sample is not None:
        stdin += np.asarray(sample, dtype=np.int64).tobytes()
        m = len(sample)
    return driver("kmeans", ["fit", n, d, k, n_init, max_iter, repr(tol), seed, threads,
                             scaling, 1 if init is not None else 0, m], stdin)


def scores(x, labels, k, sample, threads=1):
    x = np.ascontiguousarray(x, dtype=np.float64)
    stdin = (x.tobytes() + np.asarray(labels, dtype=np.int32).tobytes()
             + np.asarray(sample, dtype=np.int64).tobytes())
    return driver("kmeans", ["scores", x.shape[0], x.shape[1], k, threads, len(sample)], stdin)


def auto(x, kmin, kmax, n_init=4, seed=0, threads=1, sample_size=1000):
    x = np.ascontiguousarray(x, dtype=np.float64)
    return driver("kmeans", ["auto", x.shape[0], x.shape[1], kmin, kmax, n_init, 300, "1e-4",
                             seed, threads, sample_size], x.tobytes())


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def compare_inertia(name, x, k, n_init, seed):
    ours = fit(x, k, n_init=n_init, seed=seed)
    sk = KMeans(n_clusters=k, n_init=n_init, algorithm="lloyd", random_state=seed).fit(x)
    r = (ours["inertia"] - sk.inertia_) / sk.inertia_
    check("%s: inertia within 0.5%% of scikit-learn's (ours %.6g, sklearn %.6g, %+.3f%%)"
          % (name, ours["inertia"], sk.inertia_, 100 * r), abs(r) <= 0.005)
    return ours, sk


rng = np.random.default_rng(20261129)

# ---- k-means++: scikit-learn's own _kmeans_plusplus replayed with our generator's draws ----------
M64 = (1 << 64) - 1


class OurDraws:
    """analytics/random.c in Python (splitmix64 -> xoshiro256**), with the two methods of a
    numpy RandomState that scikit-learn's _kmeans_plusplus calls: so it draws our numbers."""

    def __init__(self, seed):
        x, self.s = seed, []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def next(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & M64  # noqa: E731
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def randint(self, n):  # seg_rng_below: Lemire's multiply and reject
        m = self.next() * n
        if (m & M64) < n:
            threshold = ((1 << 64) - n) % n
            while (m & M64) < threshold:
                m = self.next() * n
        return m >> 64

    def uniform(self, size):  # seg_rng_uniform
        return np.array([(self.next() >> 11) * 2.0 ** -53 for _ in range(size)])


from sklearn.cluster._kmeans import _kmeans_plusplus  # noqa: E402
from sklearn.utils.extmath import row_norms  # noqa: E402

xk, _ = make_blobs(n_samples=5000, n_features=4, centers=6, cluster_std=2.0, random_state=5)
xk2 = np.exp(np.random.default_rng(3).standard_normal((3000, 3)))
for name, data, k, seed in (("blobs", xk, 6, 1), ("blobs", xk, 12, 2), ("lognormal", xk2, 9, 3),
                            ("lognormal", xk2, 1, 4)):
    ours = driver("kmeans", ["kpp", data.shape[0], data.shape[1], k, seed, 2],
                  np.ascontiguousarray(data).tobytes())
    sk_c, sk_rows = _kmeans_plusplus(data, k, row_norms(data, squared=True), OurDraws(seed))
    check("k-means++ on %s, k %d: the rows scikit-learn's _kmeans_plusplus picks from the same "
          "draws" % (name, k), ours["rows"] == sk_rows.tolist(),
          "ours %s\nsklearn %s" % (ours["rows"], sk_rows.tolist()))
    check("k-means++ on %s, k %d: the centres are those rows" % (name, k),
          np.array_equal(np.array(ours["centres"]), data[ours["rows"]]))
# the first run of a fit starts from exactly these centres
kp = driver("kmeans", ["kpp", xk.shape[0], 4, 6, 7, 1], xk.tobytes())
a1 = fit(xk, 6, n_init=1, seed=7)
a2 = fit(xk, 6, n_init=1, init=xk[kp["rows"]])
check("a fit with seed s runs from seg_kmeans_plusplus(seed s)'s centres",
      a1["labels"] == a2["labels"] and a1["inertia"] == a2["inertia"])

# ---- blobs: inertia, ARI against the truth, quality figures --------------------------------
x, truth = make_blobs(n_samples=6000, n_features=4, centers=5, cluster_std=1.0,
                      center_box=(-20, 20), random_state=1)
ours, sk = compare_inertia("blobs 6000 x 4, k 5", x, 5, 10, 0)
labels = np.array(ours["labels"])
check("blobs: adjusted Rand index against the truth >= 0.99",
      adjusted_rand_score(truth, labels) >= 0.99, adjusted_rand_score(truth, labels))
check("blobs: every point at its nearest centroid",
      np.array_equal(np.argmin(((x[:, None, :] - np.array(ours["centroids"])[None]) ** 2)
                               .sum(-1), axis=1), labels))
cent = np.array(ours["centroids"])
check("blobs: reported inertia is the sum of squared distances to the centroids",
      rel(ours["inertia"], ((x - cent[labels]) ** 2).sum()) < 1e-10)
check("blobs: sizes are the label counts",
      ours["sizes"] == np.bincount(labels, minlength=5).tolist())

sample = np.sort(rng.choice(len(x), 1500, replace=False))
q = fit(x, 5, n_init=3, seed=5, sample=sample)
ql = np.array(q["labels"])
sil = silhouette_score(x[sample], ql[sample])
check("blobs: silhouette on the sample equal to scikit-learn's within 1e-6 (%.9f, %.9f)"
      % (q["silhouette"], sil), abs(q["silhouette"] - sil) <= 1e-6)
db = davies_bouldin_score(x, ql)
ch = calinski_harabasz_score(x, ql)
check("blobs: Davies-Bouldin equal within 1e-6 relative (%.12g, %.12g)" % (q["davies_bouldin"], db),
      rel(q["davies_bouldin"], db) <= 1e-6)
check("blobs: Calinski-Harabasz equal within 1e-6 relative (%.12g, %.12g)"
      % (q["calinski_harabasz"], ch), rel(q["calinski_harabasz"], ch) <= 1e-6)

# the figures on labels that are not ours (scikit-learn's, on overlapping clusters, k 7)
xo, _ = make_blobs(n_samples=3000, n_features=3, centers=4, cluster_std=3.0, random_state=7)
lo = KMeans(n_clusters=7, n_init=2, random_state=0).fit(xo).labels_
so = np.sort(rng.choice(len(xo), 1200, replace=False))
s = scores(xo, lo, 7, so, threads=2)
check("overlapping, sklearn's labels: silhouette within 1e-6",
      abs(s["silhouette"] - silhouette_score(xo[so], lo[so])) <= 1e-6)
check("overlapping, sklearn's labels: Davies-Bouldin within 1e-6 relative",
      rel(s["davies_bouldin"], davies_bouldin_score(xo, lo)) <= 1e-6)
check("overlapping, sklearn's labels: Calinski-Harabasz within 1e-6 relative",
      rel(s["calinski_harabasz"], calinski_harabasz_score(xo, lo)) <= 1e-6)
# label numbers absent from the sample or from the data (scikit-learn only sees those present)
lg = np.where(lo == 3, 6, lo)  # no label 3 at all
s = scores(xo, lg, 9, so)
check("labels with gaps: figures as scikit-learn's on the labels present",
      abs(s["silhouette"] - silhouette_score(xo[so], lg[so])) <= 1e-6
      and rel(s["davies_bouldin"], davies_bouldin_score(xo, lg)) <= 1e-6
      and rel(s["calinski_harabasz"], calinski_harabasz_score(xo, lg)) <= 1e-6)

# ---- skewed data: lognormal, correlated, clusters of very different sizes, standard scaled ----
n = 8000
z = rng.standard_normal((n, 5))
z[:, 1] += 0.7 * z[:, 0]
z[:, 3] = 0.5 * z[:, 2] + 0.5 * z[:, 3]
xs = np.exp(z * np.array([1.0, 0.8, 1.2, 0.5, 0.3]))
xs[: n // 20] += np.array([8, 0, 5, 0, 3])  # a small far group
xs_scaled = StandardScaler().fit_transform(xs)
for k in (4, 7):
    o, _ = compare_inertia("skewed lognormal %d x 5, k %d" % (n, k), xs_scaled, k, 10, 3)

# ---- the same initial centres: the same run ---------------------------------------------------
for name, data, k in (("blobs", x, 5), ("skewed", xs_scaled, 6)):
    init = data[rng.choice(len(data), k, replace=False)]
    o = fit(data, k, n_init=1, init=init)
    s1 = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd").fit(data)
    check("%s, same initial centres: same labels" % name,
          np.array_equal(np.array(o["labels"]), s1.labels_),
          "%d differ" % (np.array(o["labels"]) != s1.labels_).sum())
    check("%s, same initial centres: same iterations (%d, %d)" % (name, o["iterations"], s1.n_iter_),
          o["iterations"] == s1.n_iter_)
    check("%s, same initial centres: centres within 1e-9" % name,
          np.allclose(np.array(o["centroids"]), s1.cluster_centers_, rtol=0, atol=1e-9))
    check("%s, same initial centres: inertia within 1e-9 relative (%.12g, %.12g)"
          % (name, o["inertia"], s1.inertia_), rel(o["inertia"], s1.inertia_) <= 1e-9)

# ---- k auto -----------------------------------------------------------------------------------
def separated_centres(k, d, gap, box, seed):
    """k centres in [-box, box]^d at least gap apart (rejection): blobs that are truly k."""
    r = np.random.default_rng(seed)
    c = []
    while len(c) < k:
        v = r.uniform(-box, box, d)
        if all(np.linalg.norm(v - w) >= gap for w in c):
            c.append(v)
    return np.array(c)


for true_k, seed in ((3, 2), (5, 4), (6, 8), (8, 1)):
    # sd 1, centres at least 8 apart: the silhouette's best k is the true one, for sklearn too
    xa, _ = make_blobs(n_samples=4000, n_features=3, cluster_std=1.0,
                       centers=separated_centres(true_k, 3, 8, 15, seed), random_state=seed)
    a = auto(xa, 2, 8)
    check("auto on %d blobs finds k = %d (got %d, silhouettes %s)"
          % (true_k, true_k, a["k"], [round(c["silhouette"], 3) for c in a["candidates"]]),
          a["k"] == true_k)
    check("auto on %d blobs: every candidate 2..8 reported" % true_k,
          [c["k"] for c in a["candidates"]] == list(range(2, 9))
          and all(c["status"] == 0 for c in a["candidates"]))

# ---- threads: identical output --------------------------------------------------------------
xt, _ = make_blobs(n_samples=9000, n_features=5, centers=6, cluster_std=2.5, random_state=3)
st = np.sort(rng.choice(len(xt), 800, replace=False))
outs = [fit(xt, 6, n_init=3, seed=9, threads=t, scaling="standard", sample=st) for t in (1, 2, 3)]
check("fit, quality and profile identical with 1, 2 and 3 threads",
      outs[0] == outs[1] == outs[2])
autos = [auto(xt, 3, 6, n_init=2, threads=t, sample_size=500) for t in (1, 2, 3)]
for a in autos:  # the timings are the only thing allowed to differ
    del a["seconds"], a["cpu_seconds"]
check("auto identical with 1, 2 and 3 threads", autos[0] == autos[1] == autos[2])

# ---- scaling and the profile ---------------------------------------------------------------
o = outs[0]
ref = StandardScaler().fit(xt)
check("standard scaling: shift and scale as StandardScaler (mean_, scale_)",
      np.allclose(o["shift"], ref.mean_, rtol=1e-12) and np.allclose(o["scale"], ref.scale_,
                                                                     rtol=1e-12))
lab = np.array(o["labels"])
means = np.array([xt[lab == c].mean(axis=0) for c in range(6)])
check("profile: each cluster's mean in the features' own units",
      np.allclose(np.array(o["profile_mean"]), means, rtol=1e-10, atol=1e-10))
zref = (means - xt.mean(axis=0)) / xt.std(axis=0)
check("profile: z = (cluster mean - overall mean) / overall sd",
      np.allclose(np.array(o["profile_z"]), zref, rtol=1e-9, atol=1e-12))
# with tol 0 the run ends when the labels stop changing: the centroids are then the means
o0 = fit(xt, 6, n_init=1, seed=9, tol=0.0, scaling="standard", sample=st)
lab0 = np.array(o0["labels"])
means0 = np.array([xt[lab0 == c].mean(axis=0) for c in range(6)])
check("centroids map back to the clusters' means in own units (tol 0)",
      np.allclose(np.array(o0["centroids"]) * ref.scale_ + ref.mean_, means0, rtol=1e-9,
                  atol=1e-9) and np.allclose(np.array(o0["profile_mean"]), means0, rtol=1e-10,
                                             atol=1e-10))


def label_ref(zrow):
    order = sorted(range(len(zrow)), key=lambda j: (-abs(zrow[j]), j))
    words = ["f%d %s" % (j, "high" if zrow[j] > 0 else "low") for j in order[:2]
             if abs(zrow[j]) >= 0.5]
    return ", ".join(words) if words else "average"


check("labels: the one or two features of largest |z| >= 0.5",
      o["cluster_labels"] == [label_ref(r) for r in o["profile_z"]],
      "%s\n%s" % (o["cluster_labels"], [label_ref(r) for r in o["profile_z"]]))
om = fit(xt, 6, n_init=1, seed=9, scaling="minmax", sample=st)
mm = MinMaxScaler().fit(xt)
check("minmax scaling: shift data_min_, scale data_range_",
      np.allclose(om["shift"], mm.data_min_, rtol=1e-15)
      and np.allclose(om["scale"], mm.data_range_, rtol=1e-12))

# ---- projection: scikit-learn's PCA on the same (scaled) matrix ---------------------------------
from sklearn.decomposition import PCA  # noqa: E402

xts = StandardScaler().fit_transform(xt)
pca = PCA(n_components=2).fit(xts)
pj = o["projection"]
comp = np.array(pj["components"])
dots = np.abs((comp * pca.components_).sum(axis=1))
check("projection: the two axes are PCA's components (|cos| within 1e-9; %s)" % dots,
      np.all(np.abs(dots - 1) <= 1e-9))
check("projection: explained shares and variances as PCA's within 1e-9",
      np.allclose(pj["explained"], pca.explained_variance_ratio_, rtol=1e-9)
      and np.allclose(pj["variance"], pca.explained_variance_, rtol=1e-9))
idx = np.array(pj["index"])
signs = np.sign((comp * pca.components_).sum(axis=1))
ref_pts = pca.transform(xts[idx]) * signs
check("projection: the sampled points' coordinates as PCA.transform (up to each axis' sign)",
      len(idx) == 300 and np.allclose(np.array(pj["points"]), ref_pts, rtol=0, atol=1e-9))
check("projection: each point's cluster is its label",
      pj["cluster"] == lab[idx].tolist())
check("projection: each axis' largest entry is positive",
      all(r[np.argmax(np.abs(r))] > 0 for r in comp))

# ---- refusals --------------------------------------------------------------------------------
exe = os.path.join(build_dir(), "tests", "analytics_kmeans")
bad = x[:100].copy()
bad[17, 2] = np.nan
p = subprocess.run([exe, "fit", "100", "4", "3", "1", "300", "1e-4", "0", "1", "none", "0", "0"],
                   input=bad.tobytes(), stdout=subprocess.PIPE, check=False)
res = json.loads(p.stdout) if p.stdout else {}
check("a NaN is refused, naming row and feature",
      p.returncode == 2 and res.get("message") == "feature 2 of row 17 is not a finite number",
      p.stdout)
dup = np.repeat(x[:3], 5, axis=0)
p = subprocess.run([exe, "fit", "15", "4", "4", "1", "300", "1e-4", "0", "1", "none", "0", "0"],
                   input=dup.tobytes(), stdout=subprocess.PIPE, check=False)
check("k above the distinct points is refused", p.returncode == 2
      and "only 3 distinct points" in json.loads(p.stdout).get("message", ""), p.stdout)

done()

"""bench/kmeans.sh's Python side (Debian's /usr/bin/python3: numpy, scikit-learn 1.2).

  kmeans.py gen N D K SEED X.bin INIT.bin   blobs (N x D float64, K centres in [-10, 10]^D with
                                            sd 3: overlapping, so Lloyd takes a few dozen
                                            iterations) and scikit-learn's k-means++ centres
  kmeans.py fit X.bin D INIT.bin THREADS   KMeans(init=INIT, n_init=1, algorithm="lloyd",
                                            tol=1e-4, max_iter=300).fit under threadpoolctl's
                                            limit of THREADS; prints JSON seconds, iterations,
                                            inertia (medians of the wall and CPU seconds of
                                            REPEAT fits, default 3)
  kmeans.py sweep X.bin D KMIN KMAX N_INIT THREADS SAMPLE SEED
                                           the k "auto" sweep in scikit-learn: KMeans(k,
                                            n_init, algorithm="lloyd") for each k, scored by
                                            silhouette_score(sample_size=SAMPLE); prints JSON
                                            seconds, cpu_seconds, k (the best silhouette)
"""
import json
import sys
import time

import numpy as np


def gen(n, d, k, seed, xpath, ipath):
    from sklearn.cluster import kmeans_plusplus
    from sklearn.datasets import make_blobs
    x, _ = make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=3.0,
                      center_box=(-10, 10), random_state=seed)
    x = np.ascontiguousarray(x, dtype=np.float64)
    init, _ = kmeans_plusplus(x, k, random_state=seed)
    x.tofile(xpath)
    np.ascontiguousarray(init, dtype=np.float64).tofile(ipath)


def fit(xpath, d, ipath, threads, repeat):
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits
    x = np.fromfile(xpath, dtype=np.float64).reshape(-1, d)
    init = np.fromfile(ipath, dtype=np.float64).reshape(-1, d)
    times, cpu = [], []
    with threadpool_limits(limits=threads):
        for _ in range(repeat):
            km = KMeans(n_clusters=len(init), init=init, n_init=1, algorithm="lloyd",
                        tol=1e-4, max_iter=300)
            t0, c0 = time.perf_counter(), time.process_time()
            km.fit(x)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    print(json.dumps({"seconds": sorted(times)[len(times) // 2],
                      "cpu_seconds": sorted(cpu)[len(cpu) // 2],
                      "iterations": int(km.n_iter_), "inertia": float(km.inertia_)}))


def sweep(xpath, d, kmin, kmax, n_init, threads, sample, seed):
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits
    x = np.fromfile(xpath, dtype=np.float64).reshape(-1, d)
    best = (-2.0, 0)
    with threadpool_limits(limits=threads):
        t0, c0 = time.perf_counter(), time.process_time()
        for k in range(kmin, kmax + 1):
            km = KMeans(n_clusters=k, n_init=n_init, algorithm="lloyd", random_state=seed).fit(x)
            s = silhouette_score(x, km.labels_, sample_size=sample, random_state=seed)
            best = max(best, (s, -k))
        t1, c1 = time.perf_counter(), time.process_time()
    print(json.dumps({"seconds": t1 - t0, "cpu_seconds": c1 - c0, "k": -best[1]}))


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
            sys.argv[6], sys.argv[7])
    elif sys.argv[1] == "sweep":
        sweep(sys.argv[2], *map(int, sys.argv[3:10]))
    elif sys.argv[1] == "fit":
        fit(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]),
            int(sys.argv[6]) if len(sys.argv) > 6 else 3)

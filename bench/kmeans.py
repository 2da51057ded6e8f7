"""bench/kmeans.sh's Python side (Debian's /usr/bin/python3: numpy, scikit-learn 1.2).

  kmeans.py gen N D K SEED X.bin INIT.bin   blobs (N x D float64, K centres in [-10, 10]^D with
                                            sd 3: overlapping, so Lloyd takes a few dozen
                                            iterations) and scikit-learn's k-means++ centres
  kmeans.py fit X.bin D INIT.bin THREADS   KMeans(init=INIT, n_init=1, algorithm="lloyd",
                                            tol=1e-4, max_iter=300).fit under threadpoolctl's
                                            limit of THREADS; prints JSON seconds, iterations,
                                            inertia (medians of the wall and CPU seconds of
                                            REPEAT fits, default 3)
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


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
            sys.argv[6], sys.argv[7])
    elif sys.argv[1] == "fit":
        fit(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]),
            int(sys.argv[6]) if len(sys.argv) > 6 else 3)

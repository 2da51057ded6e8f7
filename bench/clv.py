#!/usr/bin/python3
"""bench/clv.sh's helper (NumPy and SciPy: Debian's python3-scipy; never part of `make test`).

  clv.py gen M TENANT CUSTOMERS EVENTS
      M customers with purchase histories drawn from BG/NBD (r 0.25, alpha 4.4 weeks, a 0.8,
      b 2.4) and spends from Gamma-Gamma (p 6.25, q 3.74, gamma 15.45), as COPY text files for
      customers (tenant_id, id) and events (tenant_id, customer_id, type, occurred_at, amount).
      First purchases in the 12 weeks from 2025-01-06, observed until 2025-12-28 (day 356,
      the calibration end). Seed 42: the same data every run.
  clv.py fit SUMMARIES VALUES DAYS_PER_UNIT
      The reference: fits BG/NBD on the distinct summaries (x, t_x days, T days, count) and
      Gamma-Gamma on the distinct (x, monetary, count), both weighted, the way the `lifetimes`
      package does (scipy.optimize.minimize, BFGS with the likelihood's gradient, tol 1e-7,
      log-parameters starting at 0.1, times scaled so that the largest T is 10), and prints
      one line "fit_seconds=... bgnbd_seconds=... gg_seconds=... r=... alpha=... a=... b=...
      p=... q=... gamma=..." (only the two minimize calls are timed).
"""
import sys
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

START = np.datetime64("2025-01-06")
END_DAY = 356  # 2025-12-28


def gen(m, tenant, customers_path, events_path):
    rng = np.random.default_rng(42)
    r, alpha, a, b = 0.25, 4.4, 0.8, 2.4
    p, q, gamma = 6.25, 3.74, 15.45
    lam = rng.gamma(r, 1 / alpha, m) / 7  # per day
    drop = rng.beta(a, b, m)
    nu = rng.gamma(q, 1 / gamma, m)
    first = rng.integers(0, 84, m).astype(float)
    ids = np.array(["c-%d" % (i + 1) for i in range(m)])
    with open(customers_path, "w") as f:
        f.write("".join("%d\t%s\n" % (tenant, c) for c in ids))
    cust, when = [np.arange(m)], [first + rng.random(m)]
    t = first.copy()
    active = np.arange(m)
    while active.size:
        t[active] += rng.exponential(1, active.size) / lam[active]
        bought = active[t[active] < END_DAY + 1]
        cust.append(bought)
        when.append(t[bought])
        alive = rng.random(bought.size) >= drop[bought]
        active = bought[alive]
    cust = np.concatenate(cust)
    when = np.concatenate(when)
    value = np.round(rng.gamma(p, 1 / nu[cust]), 2)
    value = np.maximum(value, 0.01)
    day = np.floor(when).astype(int)
    secs = ((when - day) * 86400).astype(int)
    stamps = (START + day.astype("timedelta64[D]")).astype(str)
    with open(events_path, "w") as f:
        for c, d, s, v in zip(cust, stamps, secs, value):
            f.write("%d\t%s\tpurchase\t%sT%02d:%02d:%02dZ\t%.2f\n" % (
                tenant, ids[c], d, s // 3600, s // 60 % 60, s % 60, v))
    print("customers=%d events=%d" % (m, cust.size))


def bgnbd_nll(lp, x, tx, T, w):
    r, al, a, b = np.exp(lp)
    xp = x > 0
    bx1 = np.where(xp, b + x - 1, 1.0)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(al)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    lT, ltx = np.log(al + T), np.log(al + tx)
    a3 = -(r + x) * lT
    a4 = np.where(xp, np.log(a) - np.log(bx1) - (r + x) * ltx, -np.inf)
    mx = np.maximum(a3, a4)
    e3, e4 = np.exp(a3 - mx), np.exp(a4 - mx)
    s = e3 + e4
    w3, w4 = e3 / s, e4 / s
    ll = a1 + a2 + mx + np.log(s)
    g = np.array([
        np.sum(w * (digamma(r + x) - digamma(r) + np.log(al) - w3 * lT - w4 * ltx)) * r,
        np.sum(w * (r / al - (r + x) * (w3 / (al + T) + w4 / (al + tx)))) * al,
        np.sum(w * (digamma(a + b) - digamma(a + b + x) + w4 / a)) * a,
        np.sum(w * (digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x)
                    - np.where(xp, w4 / bx1, 0))) * b,
    ])
    return -np.sum(w * ll), -g


def gg_nll(lp, x, mv, w):
    p, q, v = np.exp(lp)
    px = p * x
    den = v + x * mv
    ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(mv)
          + px * np.log(x) - (px + q) * np.log(den))
    g = np.array([
        np.sum(w * x * (digamma(px + q) - digamma(px) + np.log(mv) + np.log(x) - np.log(den))) * p,
        np.sum(w * (digamma(px + q) - digamma(q) + np.log(v) - np.log(den))) * q,
        np.sum(w * (q / v - (px + q) / den)) * v,
    ])
    return -np.sum(w * ll), -g


def fit(summaries, values, unit):
    s = np.loadtxt(summaries, delimiter=",", ndmin=2)
    v = np.loadtxt(values, delimiter=",", ndmin=2)
    x, tx, T, w = s[:, 0], s[:, 1] / unit, s[:, 2] / unit, s[:, 3]
    scale = 10 / T.max()
    t0 = time.perf_counter()
    o = minimize(bgnbd_nll, 0.1 * np.ones(4), args=(x, tx * scale, T * scale, w), jac=True,
                 method=None, tol=1e-7)
    t1 = time.perf_counter()
    g = minimize(gg_nll, 0.1 * np.ones(3), args=(v[:, 0], v[:, 1], v[:, 2]), jac=True,
                 method=None, tol=1e-7)
    t2 = time.perf_counter()
    r, al, a, b = np.exp(o.x)
    p, q, gam = np.exp(g.x)
    print("fit_seconds=%.3f bgnbd_seconds=%.3f gg_seconds=%.3f bgnbd_ok=%s gg_ok=%s r=%.6g "
          "alpha=%.6g a=%.6g b=%.6g p=%.6g q=%.6g gamma=%.6g" % (
              t2 - t0, t1 - t0, t2 - t1, o.success, g.success, r, al / scale, a, b, p, q, gam))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif len(sys.argv) == 5 and sys.argv[1] == "fit":
        fit(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

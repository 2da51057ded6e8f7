#!/usr/bin/python3
"""Reference figures for tests/unit/test_analytics_clv.c, computed independently with SciPy.

Not part of `make test` (the tests need no SciPy): run it by hand (Debian: apt-get install
python3-scipy; /usr/bin/python3 tests/unit/clv_reference.py) when the tables there must change.

- BG/NBD and Gamma-Gamma maximum likelihood on the CDNOW summaries with scipy.optimize
  (Nelder-Mead, then BFGS), as the `lifetimes` package does;
- P(alive) by FHL 2005's closed form;
- E[Y(t) | x, t_x, T] by numerical integration (scipy.integrate.quad) of its definition,
  P(alive) * E_{p ~ Beta(a, b + x)}[(1 - (1 + p t / (alpha + T))^-(r + x)) / p], not through the
  hypergeometric function the C code sums, so the two are independent;
- the continuously discounted expectation int_0^H e^(-delta s) dE(s) by quad as well;
- the same fits on the raw CDNOW sample (tests/data/cdnow/CDNOW_sample.txt) summarised as
  SPEC §6 says (one transaction per customer and UTC day, valued at the day's sum; calibration
  end 1997-09-30, weeks): the figures tests/api/test_w_clv.py compares the API's with.
"""
import collections
import datetime
import csv
import os

import numpy as np
from scipy.integrate import quad
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def fit(nll, n):
    res = minimize(nll, np.zeros(n), method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    res = minimize(nll, res.x, method="BFGS", options={"gtol": 1e-10})
    return np.exp(res.x), -res.fun


def summary_csv():
    path = os.path.join(ROOT, "tests/data/cdnow/cdnow_customers_summary_with_transactions.csv")
    rows = list(csv.DictReader(open(path)))
    x = np.array([float(r["x"]) for r in rows])
    tx = np.array([float(r["t_x"]) for r in rows])
    T = np.array([float(r["T"]) for r in rows])
    z = np.array([float(r["zbar"]) for r in rows])
    return x, tx, T, z


def raw_sample():
    days = collections.defaultdict(lambda: collections.defaultdict(float))
    end = datetime.date(1997, 9, 30)
    for line in open(os.path.join(ROOT, "tests/data/cdnow/CDNOW_sample.txt")):
        c, _, d, _, v = line.split()
        d = datetime.datetime.strptime(d, "%Y%m%d").date()
        if d <= end:
            days[c][d] += float(v)
    x, tx, T, z = [], [], [], []
    for ds in days.values():
        k = sorted(ds)
        x.append(len(k) - 1)
        tx.append((k[-1] - k[0]).days / 7)
        T.append((end - k[0]).days / 7)
        z.append(np.mean([ds[d] for d in k[1:]]) if len(k) > 1 else 0)
    return np.array(x, float), np.array(tx), np.array(T), np.array(z)


def cdnow(x, tx, T, z):

    def bg(lp):
        r, al, a, b = np.exp(lp)
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(al)
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a3 = -(r + x) * np.log(al + T)
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                      - (r + x) * np.log(al + tx), -np.inf)
        return -np.sum(a1 + a2 + np.logaddexp(a3, a4))

    m = x > 0
    xx, mm = x[m], z[m]

    def gg(lp):
        p, q, v = np.exp(lp)
        return -np.sum(gammaln(p * xx + q) - gammaln(p * xx) - gammaln(q) + q * np.log(v)
                       + (p * xx - 1) * np.log(mm) + p * xx * np.log(xx)
                       - (p * xx + q) * np.log(xx * mm + v))

    (r, al, a, b), ll = fit(bg, 4)
    print(f"BG/NBD r={r!r} alpha={al!r} a={a!r} b={b!r} ll={ll!r}")
    (p, q, v), ll = fit(gg, 3)
    print(f"Gamma-Gamma p={p!r} q={q!r} gamma={v!r} ll={ll!r}")


def p_alive(m, x, tx, T):
    r, al, a, b = m
    if x == 0:
        return 1.0
    return 1 / (1 + a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x))


def expected(m, t, x, tx, T):
    r, al, a, b = m
    if t == 0:
        return 0.0

    def f(p):
        return (-np.expm1(-(r + x) * np.log1p(p * t / (al + T))) / p
                * np.exp((a - 1) * np.log(p) + (b + x - 1) * np.log1p(-p) - betaln(a, b + x)))

    v, _ = quad(f, 0, 1, limit=500, epsabs=0, epsrel=1e-13, points=[min(0.5, a / (a + b + x))])
    return v * p_alive(m, x, tx, T)


def discounted(m, H, delta, x, tx, T):
    v, _ = quad(lambda s: np.exp(-delta * s) * expected(m, s, x, tx, T), 0, H, limit=200,
                epsrel=1e-12)
    return np.exp(-delta * H) * expected(m, H, x, tx, T) + delta * v


MODELS = {
    "cdnow": (0.2425929, 4.4135316, 0.79288615, 2.42575373),
    "a_is_1": (0.5, 10.0, 1.0, 3.0),
    "a_big": (1.5, 20.0, 3.0, 8.0),
    "ab_small": (0.3, 2.0, 0.3, 0.4),
    "days": (0.25, 30.9, 0.79, 2.43),
}
CASES = [(0, 0, 38.86), (2, 30.43, 38.86), (7, 35.14, 38.86), (50, 38, 38.86), (1, 0.5, 3.0),
         (0, 0, 0)]


def main():
    print("the published summary:")
    cdnow(*summary_csv())
    print("the raw sample:")
    cdnow(*raw_sample())
    print("/* model, r, alpha, a, b, t, x, t_x, T, P(alive), E[Y(t)] */")
    import warnings
    warnings.simplefilter("ignore")
    for name, m in MODELS.items():
        for c in CASES:
            for t in (1.0, 39.0, 520.0):
                print(f"{{{m[0]!r}, {m[1]!r}, {m[2]!r}, {m[3]!r}, {t!r}, {c[0]!r}, {c[1]!r}, "
                      f"{c[2]!r}, {p_alive(m, *c)!r}, {expected(m, t, *c)!r}}}, /* {name} */")
    print("/* model, horizon, delta, x, t_x, T, discounted E */")
    for name in ("cdnow", "days"):
        m = MODELS[name]
        for c in CASES[:4]:
            for H, rate in ((52.0, 0.1), (104.0, 0.25)):
                d = np.log1p(rate) / (365.25 / 7)
                print(f"{{{m[0]!r}, {m[1]!r}, {m[2]!r}, {m[3]!r}, {H!r}, {d!r}, {c[0]!r}, "
                      f"{c[1]!r}, {c[2]!r}, {discounted(m, H, d, *c)!r}}}, /* {name} */")


if __name__ == "__main__":
    main()

#!/bin/bash
# bench/contrast.sh [N] [D] — the contrast-group engine alone (analytics/contrast.c: AID,
# max_depth 3, min_size 50) over N = 1,000,000 customers x D = 10 numeric features (seeded
# NumPy data: normal, uniform, exponential, integer-valued columns; a target with steps,
# curves and noise), with 1 and 2 threads, beside scikit-learn's DecisionTreeRegressor
# (squared error, max_depth 3, min_samples_leaf 50: on numeric data without missing values
# the same tree) on the same data in the same run. Checks that both make the same partition
# (a one-to-one map between the leaves), then prints the times and the ratio. Needs
# python3-sklearn (Debian) for /usr/bin/python3. Never part of `make test`; asserts nothing
# about timings.
set -eu
cd "$(dirname "$0")/.."
N=${1:-1000000}
D=${2:-10}
PY=/usr/bin/python3
say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
$PY -c 'import sklearn' 2>/dev/null || { say "$PY needs scikit-learn (apt-get install python3-sklearn)"; exit 1; }

TMP=$(mktemp -d /tmp/segbench-contrast.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
make -s build/obj/analytics/contrast.o build/obj/lib/alloc.o
cc -O2 -g -std=c11 -D_GNU_SOURCE -Ianalytics -Ilib -o "$TMP/engine" bench/contrast_engine.c \
	build/obj/analytics/contrast.o build/obj/lib/alloc.o -lpthread -lm

say "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "generating $N x $D (seed 42)"
$PY - "$N" "$D" "$TMP" <<'PYEOF'
import sys
import numpy as np
n, d, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(42)
cols = []
for j in range(d):
    k = j % 4
    if k == 0:
        cols.append(rng.normal(0, 1, n))
    elif k == 1:
        cols.append(rng.uniform(0, 100, n))
    elif k == 2:
        cols.append(rng.exponential(3, n))
    else:
        cols.append(rng.integers(0, 50, n).astype(float))
X = np.ascontiguousarray(np.column_stack(cols))
y = (np.sin(X[:, 0]) * 3 + (X[:, 1 % d] > 60) * 2 + np.log1p(X[:, 2 % d])
     + 0.05 * X[:, 3 % d] + rng.normal(0, 1, n))
X.tofile(tmp + "/X.bin")
y.tofile(tmp + "/y.bin")
PYEOF

for th in 1 2; do
	say "engine, $th thread(s)"
	"$TMP/engine" "$N" "$D" "$TMP/X.bin" "$TMP/y.bin" "$th" "$TMP/leaves$th.bin" | tee "$TMP/engine$th.txt"
done
cmp -s "$TMP/leaves1.bin" "$TMP/leaves2.bin" || { say "1 and 2 threads differ"; exit 1; }

say "scikit-learn DecisionTreeRegressor"
$PY - "$N" "$D" "$TMP" <<'PYEOF'
import sys, time
import numpy as np
from sklearn.tree import DecisionTreeRegressor
n, d, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
X = np.fromfile(tmp + "/X.bin").reshape(n, d)
y = np.fromfile(tmp + "/y.bin")
t0 = time.perf_counter()
t = DecisionTreeRegressor(max_depth=3, min_samples_leaf=50, random_state=0).fit(X, y)
sk = time.perf_counter() - t0
ours = np.fromfile(tmp + "/leaves1.bin", dtype=np.uint32)
theirs = t.apply(X)
pairs = set(zip(ours.tolist(), theirs.tolist()))
same = len(pairs) == len(set(ours.tolist())) == len(set(theirs.tolist()))
print("scikit-learn fit %.3f s, %d leaves; same partition: %s" % (sk, t.get_n_leaves(), same))
for th in (1, 2):
    line = open("%s/engine%d.txt" % (tmp, th)).read()
    total = float(line.split("total ")[1].split(" s")[0])
    print("ratio scikit-learn / engine (%d thread%s): %.2f" % (th, "s" if th > 1 else "", sk / total))
if not same:
    sys.exit("the partitions differ")
PYEOF

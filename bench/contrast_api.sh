#!/bin/bash
# bench/contrast_api.sh [M] — a `contrast` analysis through the API over M customers (default
# 1,000,000): four numeric attributes (age an integer, score with one decimal, income and
# tenure numbers; no missing values) and the target `spend` (a number with steps in age and
# income, a slope in score, noise), max_depth 3, min_size 50, beside the same work by hand:
# psql's COPY of the same columns out to a CSV file, then /usr/bin/python3 loading it with
# NumPy and fitting scikit-learn's DecisionTreeRegressor (squared error, max_depth 3,
# min_samples_leaf 50: on numeric data without missing values the same tree) and taking each
# row's leaf (apply). Our side also writes every customer's leaf into the run's store and the
# result (tree, leaves as rules); the baseline writes nothing back.
#
# Figures (each the median of 3, alternating): POST /v1/analyses until succeeded (polled every
# 50 ms); COPY out + load + fit + apply. After timing, the partitions are compared (not timed):
# a one-to-one map between our leaves and scikit-learn's over every customer. Then one
# :materialize (a dynamic segment per leaf, each evaluated over every customer) is timed on
# its own. Needs python3-sklearn (Debian). See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

M=${1:-1000000}
PY=/usr/bin/python3
$PY -c 'import sklearn' 2>/dev/null || die "$PY needs scikit-learn (apt-get install python3-sklearn)"

machine_info
start_pg
build_daemon
setup_tenant

say "generating $M customers in SQL"
psql -qX -v ON_ERROR_STOP=1 <<SQL
SELECT setseed(0.42);
INSERT INTO customers (tenant_id, id, attributes)
SELECT $TENANT_ID, 'c-' || g, jsonb_build_object('age', age, 'score', score, 'income', income,
	'tenure', tenure, 'spend', round((age * 2 + CASE WHEN income > 60000 THEN 150 ELSE 0 END
		+ CASE WHEN age > 50 THEN 80 ELSE 0 END + 25 * score + tenure / 10
		+ 15 * (random() + random() + random() - 1.5))::numeric, 2))
FROM (SELECT g, 18 + (random() * 70)::int AS age, (1 + (random() * 29)::int) / 10.0 AS score,
	round((20000 + random() * 80000)::numeric, 2) AS income,
	round((random() * 3650)::numeric, 1) AS tenure
	FROM generate_series(1, $M) g) x;
VACUUM ANALYZE;
SQL

# Statements over 100 ms go to the server log, to show where the run spends its time.
psql -qX -c "ALTER SYSTEM SET log_min_duration_statement = 100" -c "SELECT pg_reload_conf()" >/dev/null

start_daemon

for a in age score income tenure spend; do
	api PUT "/v1/attributes/$a" '{"type": "number", "category": "other"}' >/dev/null
done

BODY='{"type": "contrast", "params": {"target": {"attr": "spend"}, "features": [{"attr": "age"},
	{"attr": "score"}, {"attr": "income"}, {"attr": "tenure"}], "max_depth": 3, "min_size": 50}}'

# The baseline: COPY out, then NumPy + scikit-learn; prints the seconds, leaves in base_leaf.
baseline() {
	t0=$(now)
	psql -qX -v ON_ERROR_STOP=1 -c "\\copy (SELECT (attributes->>'age')::float8,
		(attributes->>'score')::float8, (attributes->>'income')::float8,
		(attributes->>'tenure')::float8, (attributes->>'spend')::float8 FROM customers
		WHERE tenant_id = $TENANT_ID ORDER BY id COLLATE \"C\") TO '$BENCH_TMP/x.csv' CSV"
	$PY - "$BENCH_TMP" <<'PYEOF'
import sys
import numpy as np
from sklearn.tree import DecisionTreeRegressor
tmp = sys.argv[1]
a = np.loadtxt(tmp + "/x.csv", delimiter=",")
X, y = a[:, :4], a[:, 4]
tree = DecisionTreeRegressor(max_depth=3, min_samples_leaf=50).fit(X, y)
np.save(tmp + "/base_leaf.npy", tree.apply(X))
PYEOF
	t1=$(now)
	secs "$t0" "$t1"
}

say "contrast through the API, then COPY + NumPy + scikit-learn (3 each, alternating)"
OURS=()
BASE_T=()
for _ in 1 2 3; do
	psql -qX -c CHECKPOINT
	OURS+=("$(analysis_seconds "$BODY")")
	psql -qX -c CHECKPOINT
	BASE_T+=("$(baseline)")
done
ID=$(cat "$BENCH_TMP/last_id")

say "comparing the partitions"
STORE=$(psql -AtX -c "SELECT store FROM analyses WHERE id = $ID")
psql -qX -c "\\copy (SELECT leaf FROM $STORE ORDER BY customer_id) TO '$BENCH_TMP/ours.csv' CSV"
SAME=$($PY - "$BENCH_TMP" <<'PYEOF'
import sys
import numpy as np
tmp = sys.argv[1]
ours = np.loadtxt(tmp + "/ours.csv", dtype=np.int64)
base = np.load(tmp + "/base_leaf.npy")
pairs = set(zip(ours.tolist(), base.tolist()))
print("yes" if len(pairs) == len(set(ours.tolist())) == len(set(base.tolist())) else
      "NO (%d pairs, %d and %d leaves)" % (len(pairs), len(set(ours.tolist())),
                                          len(set(base.tolist()))))
PYEOF
)
LEAVES=$(api GET "/v1/analyses/$ID" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["result"]["leaves"]))')

# Where the last run spent its time, from the server log (statements over 100 ms only): the
# reader's FETCHes, the store's COPY batches, its primary key.
STEPS=$(sed -nE 's/.*duration: ([0-9.]+) ms +(statement|execute [^:]*): (FETCH [0-9]+ FROM seg_features|COPY seg_results[^ ]* FROM STDIN|ALTER TABLE seg_results[^ ]* ADD PRIMARY KEY).*/\3|\1/p' "$PGLOG" |
	sed -E 's/seg_results[.][a-z0-9_]+/<store>/' | tail -n 200 |
	awk -F'|' '{ n[$1]++; t[$1] += $2 } END { for (k in t) printf "%s: %d over 100 ms, %.2f s\n", k, n[k], t[k] / 1000 }')

say "materialising the last run"
t0=$(now)
MAT=$(api POST "/v1/analyses/$ID:materialize" '{"scheme_name": "bench"}')
t1=$(now)
MAT_S=$(secs "$t0" "$t1")
SCHEME=$(jget "$MAT" id)
# past SEGMENTD_SYNC_TIMEOUT the answer is 202 with the report so far: wait for the refreshes
MECE=False
for _ in $(seq 1 600); do
	MECE=$(api GET "/v1/schemes/$SCHEME" | python3 -c 'import json, sys; r = json.load(sys.stdin); print(r.get("mutually_exclusive") and r.get("collectively_exhaustive") and r.get("customers") == '"$M"')')
	[ "$MECE" = True ] && break
	sleep 0.2
done
t2=$(now)
MECE_S=$(secs "$t0" "$t2")

OURS_S=$(printf '%s\n' "${OURS[@]}" | median)
BASE_S=$(printf '%s\n' "${BASE_T[@]}" | median)

echo
echo "== bench/contrast_api.sh M=$M: $LEAVES leaves"
machine_info
echo "runs: contrast ${OURS[*]} / COPY + NumPy + sklearn ${BASE_T[*]}"
printf 'contrast (POST .. succeeded) %7.2f s   COPY + NumPy + sklearn %7.2f s   ratio %s   same partition: %s\n' \
	"$OURS_S" "$BASE_S" "$(ratio "$OURS_S" "$BASE_S")" "$SAME"
echo "the runs' statements over 100 ms (all three runs):"
printf '  %s\n' "$STEPS"
printf ':materialize (%s dynamic segments) answered in %7.2f s; every segment evaluated and the scheme MECE over every customer after %7.2f s: %s\n' \
	"$LEAVES" "$MAT_S" "$MECE_S" "$MECE"

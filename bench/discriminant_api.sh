#!/bin/bash
# bench/discriminant_api.sh [M] [H] — a `discriminant` analysis through the API over M
# customers (default 1,000,000) with four numeric attributes (three groups shifted apart,
# correlated noise; no missing values), of whom H per group (default 1,000) were sorted by
# hand into three static segments of a scheme (POST .../members); the rest are to be
# assigned. Beside the same work by hand: psql's COPY of the same features and each customer's
# hand-sorted group (the scheme's first segment) out to a CSV file, then /usr/bin/python3
# loading it with NumPy, fitting scikit-learn's LinearDiscriminantAnalysis on the hand-sorted
# customers, its literal leave-one-out (cross_val_predict with LeaveOneOut: what our
# `classification` and `hit_rate` are) and predict_proba of every customer. Our side also
# writes every customer's row into the run's store and the result; the baseline writes
# nothing back.
#
# Figures (each the median of 3, alternating): POST /v1/analyses until succeeded (polled every
# 50 ms); COPY out + load + fit + leave-one-out + predict_proba. After timing (not timed): the
# predicted groups of every customer compared, and the leave-one-out matrices. Then one
# :materialize (three static segments holding every customer) timed on its own. Needs
# python3-sklearn (Debian). See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

M=${1:-1000000}
H=${2:-1000}
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
SELECT $TENANT_ID, 'c-' || g, jsonb_build_object('a', round((k * 0.8 + z1)::numeric, 4),
	'b', round((k * 0.4 + 0.5 * z1 + z2)::numeric, 4),
	'c', round((100 + (k % 2) * 1.5 + 3 * z3)::numeric, 3),
	'd', round((0.3 * k + 0.4 * z2 + z4)::numeric, 4))
FROM (SELECT g, g % 3 AS k, sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z1,
	sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z2,
	sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z3,
	sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z4
	FROM generate_series(1, $M) g) x;
VACUUM ANALYZE;
SQL

psql -qX -c "ALTER SYSTEM SET log_min_duration_statement = 100" -c "SELECT pg_reload_conf()" >/dev/null

start_daemon

for a in a b c d; do
	api PUT "/v1/attributes/$a" '{"type": "number", "category": "other"}' >/dev/null
done

say "sorting $H customers per group by hand (static segments, a scheme)"
SEGS=
for k in 0 1 2; do
	s=$(jget "$(api POST /v1/segments "{\"name\": \"hand $k\", \"type\": \"static\"}")" id)
	ids=$(awk -v k="$k" -v h="$H" -v m="$M" 'BEGIN { n = 0; sep = "";
		for (g = 1; g <= m && n < h; g += 7) if (g % 3 == k) { printf "%s\"c-%d\"", sep, g; sep = ","; n++ } }')
	api POST "/v1/segments/$s/members" "{\"customer_ids\": [$ids]}" >/dev/null
	SEGS="$SEGS${SEGS:+,}\"$s\""
done
SCHEME=$(jget "$(api POST /v1/schemes "{\"name\": \"hand\", \"segments\": [$SEGS]}")" id)
BODY="{\"type\": \"discriminant\", \"params\": {\"groups\": \"$SCHEME\", \"features\": [{\"attr\": \"a\"},
	{\"attr\": \"b\"}, {\"attr\": \"c\"}, {\"attr\": \"d\"}]}}"

# The baseline: COPY out (features and each customer's first segment of the scheme), then
# NumPy + scikit-learn; prints the seconds, leaves base_pred.npy and base_cm.npy.
baseline() {
	t0=$(now)
	psql -qX -v ON_ERROR_STOP=1 -c "\\copy (SELECT (c.attributes->>'a')::float8,
		(c.attributes->>'b')::float8, (c.attributes->>'c')::float8,
		(c.attributes->>'d')::float8, coalesce(g.p - 1, -1) FROM customers c LEFT JOIN
		(SELECT m.customer_id, min(array_position(ARRAY[$(echo "$SEGS" | tr -d '"')]::bigint[],
		m.segment_id)) AS p FROM memberships m WHERE m.tenant_id = $TENANT_ID GROUP BY
		m.customer_id) g ON g.customer_id = c.id WHERE c.tenant_id = $TENANT_ID
		ORDER BY c.id COLLATE \"C\") TO '$BENCH_TMP/x.csv' CSV"
	$PY - "$BENCH_TMP" <<'PYEOF'
import sys
import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import LeaveOneOut, cross_val_predict
tmp = sys.argv[1]
a = np.loadtxt(tmp + "/x.csv", delimiter=",")
X, y = a[:, :4], a[:, 4].astype(int)
t = y >= 0
lda = LinearDiscriminantAnalysis().fit(X[t], y[t])
loo = cross_val_predict(LinearDiscriminantAnalysis(), X[t], y[t], cv=LeaveOneOut())
post = lda.predict_proba(X)
np.save(tmp + "/base_pred.npy", post.argmax(axis=1))
np.save(tmp + "/base_cm.npy", confusion_matrix(y[t], loo))
PYEOF
	t1=$(now)
	secs "$t0" "$t1"
}

say "discriminant through the API, then COPY + NumPy + scikit-learn (3 each, alternating)"
OURS=()
BASE_T=()
for _ in 1 2 3; do
	psql -qX -c CHECKPOINT
	OURS+=("$(analysis_seconds "$BODY")")
	psql -qX -c CHECKPOINT
	BASE_T+=("$(baseline)")
done
ID=$(cat "$BENCH_TMP/last_id")

say "comparing the predictions and the leave-one-out matrices"
STORE=$(psql -AtX -c "SELECT store FROM analyses WHERE id = $ID")
psql -qX -c "\\copy (SELECT predicted_group FROM $STORE ORDER BY customer_id) TO '$BENCH_TMP/ours.csv' CSV"
api GET "/v1/analyses/$ID" >"$BENCH_TMP/analysis.json"
SAME=$($PY - "$BENCH_TMP" <<'PYEOF'
import json, sys
import numpy as np
tmp = sys.argv[1]
ours = np.loadtxt(tmp + "/ours.csv", dtype=np.int64)
base = np.load(tmp + "/base_pred.npy")
cm = np.load(tmp + "/base_cm.npy").tolist()
res = json.load(open(tmp + "/analysis.json"))["result"]
print("%d of %d predictions differ; leave-one-out matrices %s; hit rate %.4f" % (
    int((ours != base).sum()), len(base), "equal" if res["classification"] == cm else "DIFFER",
    res["hit_rate"]))
PYEOF
)

STEPS=$(grep -E 'duration: ' "$PGLOG" | grep -E 'seg_features|seg_results|COPY|memberships' | tail -6 |
	sed -nE 's/.*duration: ([0-9.]+) ms +(statement|execute [^:]*): (.{0,90}).*/\1 ms: \3/p')

say "materialising the last run"
t0=$(now)
MAT=$(api POST "/v1/analyses/$ID:materialize" '{"scheme_name": "bench"}') || die "materialize: $MAT $(tail -5 "$DAEMON_LOG")"
t1=$(now)
MAT_S=$(secs "$t0" "$t1")
MS=$(jget "$MAT" id)
COVER=$(api GET "/v1/schemes/$MS" | python3 -c 'import json, sys; r = json.load(sys.stdin); print(r.get("mutually_exclusive") and r.get("collectively_exhaustive") and r.get("customers") == '"$M"')')

OURS_S=$(printf '%s\n' "${OURS[@]}" | median)
BASE_S=$(printf '%s\n' "${BASE_T[@]}" | median)

echo
echo "== bench/discriminant_api.sh M=$M H=$H (3 groups, 4 features)"
machine_info
echo "runs: discriminant ${OURS[*]} / COPY + NumPy + sklearn ${BASE_T[*]}"
printf 'discriminant (POST .. succeeded) %7.2f s   COPY + NumPy + sklearn (fit, LOO, predict_proba) %7.2f s   ratio %s\n' \
	"$OURS_S" "$BASE_S" "$(ratio "$OURS_S" "$BASE_S")"
echo "compared: $SAME"
echo "the last run's statements over 100 ms:"
printf '  %s\n' "$STEPS"
printf ':materialize (3 static segments over every customer) answered in %7.2f s; MECE over every customer: %s\n' \
	"$MAT_S" "$COVER"

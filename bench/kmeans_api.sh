#!/bin/bash
# bench/kmeans_api.sh [N] [K] [N_INIT] — a k-means analysis through the API over N customers
# (default 1,000,000) with three numeric attributes (income, age, visits) in four blobs and a
# string attribute (plan, four values, one-hot encoded), k = K (default 8; `auto`: 3..8 chosen by the sampled silhouette on both sides), n_init = N_INIT
# (default 3), seed 0, standard scaling; then materialising it as static segments. Beside a
# baseline in the same run on the same data:
#   ours      POST /v1/analyses {"type": "kmeans", ...} until succeeded (polled every 50 ms):
#             the features read, one-hot encoding, scaling, k-means++ and Lloyd (n_init runs),
#             silhouette on a sample of 3,000, Davies-Bouldin, Calinski-Harabasz, profiles,
#             labels, the rule of every cluster (contrast trees), the projection, and every
#             customer's cluster and distance written to the run's store
#   baseline  /usr/bin/python3 with NumPy/scikit-learn 1.2: the same attributes read with psql
#             (COPY ... TO STDOUT), the same one-hot encoding, StandardScaler,
#             KMeans(algorithm="lloyd", n_init, random_state 0), silhouette_score on a
#             sample of 3,000, davies_bouldin_score, calinski_harabasz_score, the labels and
#             distances written back into a table with COPY and a primary key
# and the ratio ours / baseline (below 1: ours is faster); the inertias are printed side by
# side. Then :materialize (static segments: every customer's membership and feed entry) is
# timed alone, and a re-run (:run) after 10 % of the customers moved in SQL: the whole
# analysis again and the segments following it (enters and exits) in its transaction. Never part of `make test`; nothing asserts on timings.
set -eu
. "$(dirname "$0")/common.sh"

N=${1:-1000000}
K=${2:-8}
KJSON=$K
[ "$K" = auto ] && KJSON='"auto"' # k_min..k_max 3..8, chosen by the sampled silhouette
NINIT=${3:-3}
PY=/usr/bin/python3
$PY -c 'import numpy, sklearn' 2>/dev/null || die "$PY needs numpy and sklearn"

machine_info
start_pg
build_daemon
setup_tenant

say "generating $N customers in SQL"
psql -qX -v ON_ERROR_STOP=1 <<SQL
SELECT setseed(0.42);
INSERT INTO customers (tenant_id, id, attributes)
SELECT $TENANT_ID, 'c-' || g, jsonb_build_object(
	'income', round((30000 + 20000 * (b % 2) + 8000 * n1)::numeric, 2),
	'age', round((30 + 15 * (b / 2) + 6 * n2)::numeric, 1),
	'visits', round((5 + 3 * b + 2 * n3)::numeric, 1),
	'plan', (ARRAY['free', 'pro', 'team', 'enterprise'])[1 + CASE WHEN random() < 0.8 THEN b
		ELSE (random() * 3.999)::int END])
FROM (SELECT g, (g % 4) AS b,
	sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS n1,
	sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS n2,
	sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS n3
	FROM generate_series(1, $N) g) x;
VACUUM ANALYZE;
SQL

start_daemon
for a in income age visits; do
	api PUT "/v1/attributes/$a" '{"type": "number"}' >/dev/null
done
api PUT /v1/attributes/plan '{"type": "string"}' >/dev/null

say "k-means through the API (k $K, n_init $NINIT)"
psql -qX -c CHECKPOINT
t0=$(now)
out=$(api POST /v1/analyses "{\"type\": \"kmeans\", \"params\": {\"features\": [{\"attr\": \"income\"},
	{\"attr\": \"age\"}, {\"attr\": \"visits\"}, {\"attr\": \"plan\"}], \"k\": $KJSON,
	\"n_init\": $NINIT, \"seed\": 0}}")
id=$(jget "$out" id)
for _ in $(seq 1 360000); do
	doc=$(api GET "/v1/analyses/$id")
	st=$(jget "$doc" status)
	case $st in
	succeeded) break ;;
	failed | cancelled) die "analysis $id $st: ${doc:0:400}" ;;
	esac
	sleep 0.05
done
t1=$(now)
OURS=$(secs "$t0" "$t1")
OURS_INERTIA=$(printf '%s' "$doc" | python3 -c 'import json, sys; r = json.load(sys.stdin)["result"]; print(r["inertia"], "(k %d)" % r["k"])')

say "the baseline (psql COPY + NumPy/scikit-learn + COPY back)"
psql -qX -c CHECKPOINT
t0=$(now)
psql -qX -v ON_ERROR_STOP=1 -c "\\copy (SELECT id, attributes->>'income', attributes->>'age',
	attributes->>'visits', attributes->>'plan' FROM customers WHERE tenant_id = $TENANT_ID
	ORDER BY id COLLATE \"C\") TO '$BENCH_TMP/x.csv' WITH (FORMAT csv)"
BASE_OUT=$($PY - "$BENCH_TMP/x.csv" "$BENCH_TMP/labels.csv" "$K" "$NINIT" <<'PY'
import sys, csv
import numpy as np
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import silhouette_score, davies_bouldin_score, calinski_harabasz_score
src, dst, k, n_init = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ids, num, plan = [], [], []
with open(src, newline="") as f:
    for r in csv.reader(f):
        ids.append(r[0]); num.append((float(r[1]), float(r[2]), float(r[3]))); plan.append(r[4])
num = np.array(num)
values = sorted(set(plan))
plan = np.array(plan)
x = np.hstack([num] + [(plan == v).astype(float)[:, None] for v in values])
x = StandardScaler().fit_transform(x)
rng = np.random.default_rng(0)
sample = rng.choice(len(x), size=min(3000, len(x)), replace=False)
best = None
for kk in (range(3, 9) if k == "auto" else [int(k)]):
    # "auto": each k from 3 to 8, the best sampled silhouette wins (as the analysis does)
    m = KMeans(n_clusters=kk, n_init=n_init, random_state=0, algorithm="lloyd").fit(x)
    sk = silhouette_score(x[sample], m.labels_[sample])
    if best is None or sk > best[0]:
        best = (sk, m)
s, km = best
db = davies_bouldin_score(x, km.labels_)
ch = calinski_harabasz_score(x, km.labels_)
dist = np.sqrt(((x - km.cluster_centers_[km.labels_]) ** 2).sum(axis=1))
with open(dst, "w") as f:
    for i, l, d in zip(ids, km.labels_, dist):
        f.write("%s,%d,%.17g\n" % (i, l, d))
print(km.inertia_, "(k %d)" % km.n_clusters)
PY
)
psql -qX -v ON_ERROR_STOP=1 -c "CREATE TABLE base_labels (customer_id text COLLATE \"C\",
	cluster integer, distance double precision)" \
	-c "\\copy base_labels FROM '$BENCH_TMP/labels.csv' WITH (FORMAT csv)" \
	-c "ALTER TABLE base_labels ADD PRIMARY KEY (customer_id)"
t1=$(now)
BASE_S=$(secs "$t0" "$t1")

say "materialising (static segments)"
t0=$(now)
api POST "/v1/analyses/${id}:materialize" '{"scheme_name": "bench"}' >"$BENCH_TMP/mat.json" || die "materialise: $(cat "$BENCH_TMP/mat.json")"
t1=$(now)
MAT=$(secs "$t0" "$t1")

say "moving 10 % of the customers to another blob in SQL, then :run (the segments follow)"
psql -qX -v ON_ERROR_STOP=1 -c "UPDATE customers SET attributes = attributes ||
	jsonb_build_object('income', (attributes->>'income')::float8 + 20000)
	WHERE tenant_id = $TENANT_ID AND (substr(id, 3)::bigint % 10) = 0 AND
	(attributes->>'income')::float8 < 40000"
t0=$(now)
api POST "/v1/analyses/${id}:run" >/dev/null
for _ in $(seq 1 360000); do
	doc=$(api GET "/v1/analyses/$id")
	st=$(jget "$doc" status)
	[ "$(jget "$doc" runs)" = 2 ] && [ "$st" = succeeded ] && break
	case $st in failed | cancelled) die "re-run $st: ${doc:0:400}" ;; esac
	sleep 0.05
done
t1=$(now)
RERUN=$(secs "$t0" "$t1")
MOVED=$(psql -AtX -c "SELECT count(*) FROM changes WHERE tenant_id = $TENANT_ID AND change = 'exited'")

echo
echo "== bench/kmeans_api.sh N=$N K=$K N_INIT=$NINIT"
machine_info
printf 'k-means analysis (API, until succeeded)  ours %8.2f s   baseline %8.2f s   ratio %s\n' \
	"$OURS" "$BASE_S" "$(ratio "$OURS" "$BASE_S")"
printf 'inertia                                  ours %s   sklearn %s\n' "$OURS_INERTIA" "$BASE_OUT"
printf 'materialise as %s static segments        %8.2f s (%s memberships)\n' "$K" "$MAT" \
	"$(psql -AtX -c "SELECT count(*) FROM memberships WHERE tenant_id = $TENANT_ID")"
printf 're-run that moves members                %8.2f s (%s customers exited a segment)\n' "$RERUN" "$MOVED"

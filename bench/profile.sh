#!/bin/bash
# bench/profile.sh [M] — a segment's profile and an overlap of 6 segments over M customers
# (default 1,000,000), each beside hand-written SQL computing the same numbers on the same
# tables in the same run (issue 7).
#
# The customers have 20 attributes: 12 numbers (3 of them missing for 20-50% of the
# customers) and 8 strings (2 of them missing for 10-40%), with cities such as "Zürich" and
# "東京", and metrics (orders, revenue, purchase dates) written straight into their columns.
# The profiled segment is a static one whose members (about 30%) are inserted in SQL.
# Figures:
#   profile   GET /v1/segments/{id}/profile, median of 5
#   overlap   GET /v1/segments:overlap?ids=<6 segments of 10-50% each>, median of 5
# against, in psql on the same cluster (median of 5 each):
#   profile   the numeric statistics (percentile_cont grouped by attribute), the top ten
#             values of each string attribute with their lift over the base, the six metrics'
#             statistics and revenue share: three statements a person would write
#   overlap   the pair counts by a self-join of the memberships
# The figures of both sides are compared (medians, top values, pair counts) before timing.
# See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

M=${1:-1000000}

machine_info
start_pg
build_daemon
setup_tenant

say "generating $M customers with 20 attributes in SQL"
psql -qX -v ON_ERROR_STOP=1 <<SQL
SELECT setseed(0.42);
INSERT INTO customers (tenant_id, id, attributes, created_at, orders, revenue, events,
	first_event_at, last_event_at, first_purchase_at, last_purchase_at)
SELECT $TENANT_ID, 'c-' || g,
	jsonb_strip_nulls(jsonb_build_object(
		'age', 18 + (random() * 70)::int,
		'score', round((random() * 100)::numeric, 2),
		'income', CASE WHEN random() < 0.8 THEN (20000 + random() * 180000)::int END,
		'visits', (random() * 50)::int,
		'basket', round((random() * 300)::numeric, 2),
		'nps', CASE WHEN random() < 0.5 THEN (random() * 10)::int END,
		'children', (random() * 4)::int,
		'distance_km', round((random() * 500)::numeric, 1),
		'tickets', (random() * 8)::int,
		'discount', round(random()::numeric, 3),
		'sessions', (random() * 200)::int,
		'rating', CASE WHEN random() < 0.7 THEN round((1 + random() * 4)::numeric, 1) END,
		'country', (ARRAY['DE','FR','US','GB','ES','IT','NL','PL','SE','JP','BR','IN'])[1 + (random() * 11)::int],
		'city', (ARRAY['Zürich','東京','Berlin','Paris','London','Madrid','Rome','Oslo','Lyon','Köln',
			'Kraków','São Paulo','Delhi','Osaka','Bern','Basel','Graz','Wien','Porto','Nice'])[1 + (random() * 19)::int],
		'plan', (ARRAY['free','pro','team','enterprise'])[1 + (random() * 3)::int],
		'channel', CASE WHEN random() < 0.9 THEN (ARRAY['web','app','store','phone','partner'])[1 + (random() * 4)::int] END,
		'gender', (ARRAY['f','m','d'])[1 + (random() * 2)::int],
		'language', (ARRAY['de','fr','en','es','it','ja','pt','pl'])[1 + (random() * 7)::int],
		'segment_hint', CASE WHEN random() < 0.6 THEN 'hint-' || (random() * 40)::int END,
		'device', (ARRAY['ios','android','desktop','tablet'])[1 + (random() * 3)::int])),
	now() - interval '3 years',
	o, round((o * (5 + random() * 100))::numeric, 2), o + (random() * 20)::int,
	now() - interval '2 years', now() - random() * interval '300 days',
	CASE WHEN o > 0 THEN now() - interval '2 years' END,
	CASE WHEN o > 0 THEN now() - random() * interval '700 days' END
FROM (SELECT g, greatest((random() * 12)::int - 2, 0) AS o FROM generate_series(1, $M) g) x;
VACUUM ANALYZE customers;
SQL

start_daemon

# api_seconds PATH OUT: GETs PATH into OUT, prints the seconds it took.
api_seconds() {
	curl -sS --fail-with-body -o "$2" -w '%{time_total}\n' "$BASE$1" -H "Authorization: Bearer $KEY"
}
# psql_seconds FILE: runs the SQL in FILE, prints the seconds it took.
psql_seconds() {
	t0=$(now)
	psql -qX -v ON_ERROR_STOP=1 -f "$1" >/dev/null
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

# The segments: a static one for the profile (score < 30: about 30%), and six for the overlap.
segment() { # NAME CONDITION
	local s id
	s=$(api POST /v1/segments "{\"name\": \"$1\", \"type\": \"static\"}")
	id=$(jget "$s" id)
	psql -qX -v ON_ERROR_STOP=1 -c "INSERT INTO memberships (tenant_id, segment_id, customer_id)
		SELECT $TENANT_ID, $id, c.id FROM customers c WHERE c.tenant_id = $TENANT_ID AND ($2)"
	echo "$id"
}
say "creating the segments"
SEG=$(segment profiled "(c.attributes ->> 'score')::numeric < 30")
O1=$(segment o1 "c.attributes ->> 'plan' IN ('pro', 'team')")
O2=$(segment o2 "c.attributes ->> 'country' IN ('DE', 'FR', 'US')")
O3=$(segment o3 "(c.attributes ->> 'age')::int < 40")
O4=$(segment o4 "c.orders >= 5")
O5=$(segment o5 "c.attributes ->> 'device' = 'ios'")
O6=$(segment o6 "(c.attributes ->> 'score')::numeric >= 50")
IDS="$O1,$O2,$O3,$O4,$O5,$O6"
psql -qX -c "VACUUM ANALYZE memberships"
SIZE=$(psql -AtX -c "SELECT count(*) FROM memberships WHERE segment_id = $SEG")

# The hand-written SQL: what a person who knows which attributes are numbers and which are
# strings would write for the same figures.
MEM="SELECT c.* FROM memberships m JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id
	WHERE m.tenant_id = $TENANT_ID AND m.segment_id = $SEG"
cat >"$BENCH_TMP/profile.sql" <<SQL
SET jit = off;
-- numeric attributes
SELECT e.key, count(*), avg(e.value::float8), min(e.value::float8), max(e.value::float8),
	percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY e.value::float8)
FROM ($MEM) c, jsonb_each(c.attributes) e WHERE jsonb_typeof(e.value) = 'number' GROUP BY e.key;
-- the ten most frequent values of each string attribute, their share and lift
WITH sc AS (SELECT e.key, e.value, count(*) AS n FROM ($MEM) c, jsonb_each(c.attributes) e
		WHERE jsonb_typeof(e.value) = 'string' GROUP BY e.key, e.value),
	top AS (SELECT * FROM (SELECT sc.*, row_number() OVER (PARTITION BY sc.key
		ORDER BY sc.n DESC, sc.value #>> '{}' COLLATE "C") AS rn FROM sc) x WHERE rn <= 10),
	bc AS (SELECT e.key, e.value, count(*) AS n FROM customers c, jsonb_each(c.attributes) e
		WHERE c.tenant_id = $TENANT_ID AND (e.key, e.value) IN (SELECT key, value FROM top)
		GROUP BY e.key, e.value),
	b AS (SELECT count(*) AS n FROM customers WHERE tenant_id = $TENANT_ID)
SELECT top.key, top.value, top.n, top.n::float8 / $SIZE,
	(top.n::float8 / $SIZE) / (bc.n::float8 / b.n)
FROM top JOIN bc ON bc.key = top.key AND bc.value = top.value, b ORDER BY top.key, top.rn;
-- metrics, share and revenue share
SELECT count(*), count(*)::float8 / (SELECT count(*) FROM customers WHERE tenant_id = $TENANT_ID),
	sum(revenue) / (SELECT sum(revenue) FROM customers WHERE tenant_id = $TENANT_ID),
	avg(orders), min(orders), max(orders),
	percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY orders),
	avg(revenue), min(revenue), max(revenue),
	percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY revenue),
	avg(seg_avg_order_value(orders, revenue)), min(seg_avg_order_value(orders, revenue)),
	max(seg_avg_order_value(orders, revenue)),
	percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY seg_avg_order_value(orders, revenue)),
	avg(seg_days_since(last_purchase_at)), min(seg_days_since(last_purchase_at)),
	max(seg_days_since(last_purchase_at)),
	percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY seg_days_since(last_purchase_at)),
	avg(seg_days_since(seg_tenure_start(created_at, first_event_at))),
	min(seg_days_since(seg_tenure_start(created_at, first_event_at))),
	max(seg_days_since(seg_tenure_start(created_at, first_event_at))),
	percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP
		(ORDER BY seg_days_since(seg_tenure_start(created_at, first_event_at))),
	avg(events), min(events), max(events),
	percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY events)
FROM ($MEM) c;
SQL
cat >"$BENCH_TMP/overlap.sql" <<SQL
SET jit = off;
SELECT a.segment_id, b.segment_id, count(*) FROM memberships a JOIN memberships b
	ON b.tenant_id = a.tenant_id AND b.customer_id = a.customer_id
WHERE a.tenant_id = $TENANT_ID AND a.segment_id IN ($IDS) AND b.tenant_id = $TENANT_ID
	AND b.segment_id IN ($IDS)
GROUP BY 1, 2;
SQL

say "checking that both sides compute the same numbers"
api GET "/v1/segments/$SEG/profile" >"$BENCH_TMP/profile.json"
psql -AtX -F '|' -f "$BENCH_TMP/profile.sql" >"$BENCH_TMP/profile.txt"
api GET "/v1/segments:overlap?ids=$IDS" >"$BENCH_TMP/overlap.json"
psql -AtX -F '|' -f "$BENCH_TMP/overlap.sql" >"$BENCH_TMP/overlap.txt"
python3 - "$BENCH_TMP" "$SIZE" "$IDS" <<'PY' || die "the figures differ"
import json, math, sys
tmp, size, ids = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
p = json.load(open(tmp + "/profile.json"))
assert p["size"] == size, (p["size"], size)
rows = [l.split("|") for l in open(tmp + "/profile.txt").read().splitlines() if l and l != "SET"]
num = {r[0]: r for r in rows if len(r) == 6}
cat = [r for r in rows if len(r) == 5]
close = lambda a, b: math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
assert sorted(num) == sorted(p["numeric"]), (sorted(num), sorted(p["numeric"]))
for k, r in num.items():
    s = p["numeric"][k]
    q = [float(x) for x in r[5].strip("{}").split(",")]
    assert int(r[1]) == s["count"] and close(r[2], s["mean"]) and close(r[3], s["min"]) \
        and close(r[4], s["max"]) and close(q[0], s["p25"]) and close(q[1], s["median"]) \
        and close(q[2], s["p75"]), (k, r, s)
got = [(k, json.dumps(e["value"], ensure_ascii=False), e["count"], e["share"], e["lift"])
       for k in sorted(p["categorical"]) for e in p["categorical"][k]]
assert len(got) == len(cat), (len(got), len(cat))
for g, r in zip(got, cat):
    assert g[0] == r[0] and json.loads(g[1]) == json.loads(r[1]) and g[2] == int(r[2]) \
        and close(g[3], r[3]) and close(g[4], r[4]), (g, r)
o = json.load(open(tmp + "/overlap.json"))
pairs = {(a, b): int(n) for a, b, n in (l.split("|") for l in open(tmp + "/overlap.txt").read().splitlines() if l and l != "SET")}
for i, a in enumerate(ids):
    for j, b in enumerate(ids):
        assert o["counts"][i][j] == pairs.get((a, b), 0), (a, b)
print("same numbers: %d numeric attributes, %d top values, %d pair counts"
      % (len(num), len(cat), len(ids) ** 2), file=sys.stderr)
PY

psql -qX -c CHECKPOINT
say "timing the profile"
PROFILE_S=$(for _ in 1 2 3 4 5; do api_seconds "/v1/segments/$SEG/profile" "$BENCH_TMP/p.json"; done | median)
PROFILE_SQL_S=$(for _ in 1 2 3 4 5; do psql_seconds "$BENCH_TMP/profile.sql"; done | median)
say "timing the overlap"
OVERLAP_S=$(for _ in 1 2 3 4 5; do api_seconds "/v1/segments:overlap?ids=$IDS" "$BENCH_TMP/o.json"; done | median)
OVERLAP_SQL_S=$(for _ in 1 2 3 4 5; do psql_seconds "$BENCH_TMP/overlap.sql"; done | median)

echo
echo "== bench/profile.sh M=$M: a segment of $SIZE members, 20 attributes; overlap of 6 segments"
machine_info
printf 'profile   %7.3f s   hand-written SQL %7.3f s   ratio %s (target <= 1.5)\n' \
	"$PROFILE_S" "$PROFILE_SQL_S" "$(ratio "$PROFILE_S" "$PROFILE_SQL_S")"
printf 'overlap   %7.3f s   hand-written SQL %7.3f s   ratio %s (target <= 1.5)\n' \
	"$OVERLAP_S" "$OVERLAP_SQL_S" "$(ratio "$OVERLAP_S" "$OVERLAP_SQL_S")"

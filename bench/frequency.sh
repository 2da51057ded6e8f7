#!/bin/bash
# bench/frequency.sh [M] [N] — a frequency analysis (buyers per month, thresholds suggested)
# over M customers (default 1,000,000) and N purchases (default 10,000,000), beside
# hand-written SQL computing the same classes on the same tables in the same run (issue 8).
#
# The purchases are written in SQL over the year 2025: 40 % of the customers buy once, 45 %
# at a low rate, 15 % at a high one (each customer's events spread evenly from their first
# purchase), so the rates have a long tail.
# Figure:
#   frequency   the job's own duration (finished_at - started_at) of POST
#               /v1/analyses/{id}:run of a frequency analysis (params {"as_of": ...}), median
#               of 3 re-runs, each writing a store of its own; and the time from the
#               POST until the run is seen succeeded (polled every 0.25 s, so up to 0.25 s late)
# against, in psql on the same cluster (median of 3):
#   frequency   the statements a person would write for the same result: the binned
#               per-customer aggregate (a temporary table), the binned distribution of the
#               repeat buyers' rates (one GROUP BY width_bucket), then every customer's row with
#               its class by the thresholds our run used, the same columns as our store, into a
#               table that replaces the previous one (CREATE TABLE AS over customers LEFT JOIN
#               the aggregate, in one transaction; no index, where our store has its key)
# The class counts of both sides are compared before timing.
# See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

M=${1:-1000000}
N=${2:-10000000}
AS_OF=2026-01-01T00:00:00Z

machine_info
start_pg
build_daemon
setup_tenant

say "generating $M customers and about $N purchases in SQL"
psql -qX -v ON_ERROR_STOP=1 <<SQL
SELECT setseed(0.42);
INSERT INTO customers (tenant_id, id)
SELECT $TENANT_ID, 'c-' || g FROM generate_series(1, $M) g;
-- k purchases per customer: 1 (40 %), a low rate or a high one; spread evenly from a first
-- purchase in 2025 to the end of the year
CREATE TEMP TABLE plan AS
SELECT 'c-' || g AS id, random() AS r,
	timestamptz '2025-01-01' + (random() * 300) * interval '1 day' AS first_at
FROM generate_series(1, $M) g;
INSERT INTO events (tenant_id, customer_id, type, occurred_at, amount)
SELECT $TENANT_ID, p.id, 'purchase',
	p.first_at + (timestamptz '2026-01-01' - p.first_at) * (i::float8 / k.k), 10
FROM plan p
CROSS JOIN LATERAL (SELECT CASE WHEN p.r < 0.4 THEN 1
	WHEN p.r < 0.85 THEN 2 + floor(random() * ($N::float8 / $M) * 1.2)::int
	ELSE 2 + floor(random() * ($N::float8 / $M) * 4)::int END AS k) k
CROSS JOIN LATERAL generate_series(0, k.k - 1) i;
UPDATE customers c SET events = a.n, orders = a.n, revenue = a.n * 10,
	first_event_at = a.f, last_event_at = a.l, first_purchase_at = a.f, last_purchase_at = a.l
FROM (SELECT customer_id, count(*) AS n, min(occurred_at) AS f, max(occurred_at) AS l
      FROM events WHERE tenant_id = $TENANT_ID GROUP BY 1) a
WHERE c.tenant_id = $TENANT_ID AND c.id = a.customer_id;
VACUUM ANALYZE;
SQL
EVENTS=$(psql -AtX -c "SELECT count(*) FROM events")
say "$EVENTS purchases"

start_daemon

# Light look-ups for the polling loops (no process per field): "status" and "runs" of a doc.
jstatus() { printf '%s' "$1" | sed -nE 's/.*"status" *: *"([a-z]+)".*/\1/p'; }
jruns() { printf '%s' "$1" | sed -nE 's/.*"runs" *: *([0-9]+).*/\1/p'; }

# The first run: creates the analysis ($ID) and waits for it.
first_run() {
	local body st
	body=$(curl -fsS -X POST "$BASE/v1/analyses" -H "Authorization: Bearer $KEY" \
		-H 'Content-Type: application/json' \
		-d "{\"type\": \"frequency\", \"params\": {\"as_of\": \"$AS_OF\"}}")
	ID=$(jget "$body" id)
	while :; do
		st=$(jget "$(curl -fsS "$BASE/v1/analyses/$ID" -H "Authorization: Bearer $KEY")" status)
		case $st in succeeded) break ;; failed | cancelled) die "run $ID $st" ;; esac
		sleep 0.25
	done
}

# One more run of the analysis (:run, which replaces its rows): prints its seconds, and
# appends the job's own duration to $BENCH_TMP/jobs.
run_ours() {
	local t0 t1 a runs
	runs=$(jruns "$(curl -fsS "$BASE/v1/analyses/$ID" -H "Authorization: Bearer $KEY")")
	t0=$(now)
	curl -fsS -o /dev/null -X POST "$BASE/v1/analyses/$ID:run" -H "Authorization: Bearer $KEY"
	while :; do
		sleep 0.25
		a=$(curl -fsS "$BASE/v1/analyses/$ID" -H "Authorization: Bearer $KEY")
		[ "$(jruns "$a")" -gt "$runs" ] && [ "$(jstatus "$a")" = succeeded ] && break
		case $(jstatus "$a") in failed | cancelled) die "run $ID failed" ;; esac
	done
	t1=$(now)
	JOB=$(jget "$a" job_id)
	curl -fsS "$BASE/v1/jobs/$JOB" -H "Authorization: Bearer $KEY" | python3 -c '
import datetime, json, sys
j = json.load(sys.stdin)
p = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
print("%.3f" % (p(j["finished_at"]) - p(j["started_at"])).total_seconds())' >>"$BENCH_TMP/jobs"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

# The hand-written SQL with thresholds $1 (a float8[] literal); prints its seconds.
run_sql() {
	local t0 t1
	t0=$(now)
	psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
BEGIN;
DROP TABLE IF EXISTS hand_rows;
CREATE TEMP TABLE agg AS
SELECT customer_id, count(*) AS n,
	greatest(1, extract(epoch FROM timestamptz '$AS_OF' - min(occurred_at))::float8 / 2629800) AS periods
FROM events WHERE tenant_id = $TENANT_ID AND type = 'purchase' AND occurred_at <= '$AS_OF'
GROUP BY customer_id;
SELECT width_bucket(n / periods, '$GRID'::float8[]), count(*) FROM agg WHERE n >= 2 GROUP BY 1;
CREATE TABLE hand_rows AS
SELECT c.id AS customer_id, CASE WHEN a.n IS NULL THEN 'none' WHEN a.n = 1 THEN 'one-time'
	WHEN a.n / a.periods >= ('$1'::float8[])[1] THEN 'regular' ELSE 'occasional' END
	AS frequency_class, coalesce(a.n, 0) AS events, a.periods, a.n / a.periods AS rate
FROM customers c LEFT JOIN agg a ON a.customer_id = c.id WHERE c.tenant_id = $TENANT_ID;
COMMIT;
SQL
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

GRID=$(python3 -c '
r10 = [100, 125, 160, 200, 250, 315, 400, 500, 630, 800]
print("{" + ",".join("%de%d" % (m, e - 2) for e in range(-7, 10) for m in r10) + "}")')

say "a first run (checks)"
first_run
RESULT=$(curl -fsS "$BASE/v1/analyses/$ID" -H "Authorization: Bearer $KEY")
THRESHOLDS=$(printf '%s' "$RESULT" | python3 -c '
import json, sys
r = json.load(sys.stdin)["result"]
print("{" + ",".join(repr(float(x)) for x in r["thresholds"]) + "}")')
OURS_COUNTS=$(printf '%s' "$RESULT" | python3 -c '
import json, sys
r = json.load(sys.stdin)["result"]
print(" ".join("%s=%d" % (c["class"], c["count"])
               for c in sorted(r["classes"], key=lambda c: c["class"]) if c["count"]))')
run_sql "$THRESHOLDS" >/dev/null
HAND_COUNTS=$(psql -AtX -c "SELECT string_agg(cls || '=' || n, ' ' ORDER BY cls) FROM (SELECT frequency_class AS cls, count(*) AS n FROM hand_rows GROUP BY 1) x")
[ "$OURS_COUNTS" = "$HAND_COUNTS" ] || die "the classes differ: ours $OURS_COUNTS, SQL $HAND_COUNTS"
say "classes agree: $OURS_COUNTS (thresholds $THRESHOLDS)"

OURS=()
HAND=()
for _ in 1 2 3; do
	OURS+=("$(run_ours)")
	HAND+=("$(run_sql "$THRESHOLDS")")
done
O=$(printf '%s\n' "${OURS[@]}" | median)
J=$(tail -n 3 "$BENCH_TMP/jobs" | median)
H=$(printf '%s\n' "${HAND[@]}" | median)

echo
echo "== bench/frequency.sh M=$M customers, $EVENTS purchases; classes $OURS_COUNTS"
printf 'frequency job %7.3f s   hand-written SQL %7.3f s   ratio %s (hand-written runs: %s)\n' \
	"$J" "$H" "$(ratio "$J" "$H")" "${HAND[*]}"
printf 'frequency, POST :run until seen succeeded %7.3f s (runs: %s)\n' "$O" "${OURS[*]}"

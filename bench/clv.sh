#!/bin/bash
# bench/clv.sh [M] — the CLV analysis (BG/NBD + Gamma-Gamma, weeks, horizon 52, no discount)
# over M customers (default 1,000,000) with purchase histories drawn from BG/NBD and spends
# from Gamma-Gamma (bench/clv.py gen: about 2.5 events per customer, seed 42), through the
# API, beside a lifetimes-style reference in the same run:
#   analysis          POST /v1/analyses {"type": "clv"} to succeeded (the job's own duration:
#                     summarise the events in SQL, fit, predict, write every customer's row)
#   fit in C          the two fits alone, from the daemon's log
#   summary SQL       psql: the same per-customer day-level summary, aggregated to what a fit
#                     needs (distinct (x, t_x, T) and (x, monetary) with counts), to CSV
#   fit in SciPy      bench/clv.py fit: scipy.optimize.minimize as lifetimes calls it (BFGS,
#                     analytic gradient, tol 1e-7) on the same aggregated data, the two
#                     minimize calls timed
# and the ratios fit/fit and analysis/(summary SQL + SciPy fit) — the latter a lower bound of a
# lifetimes pipeline, which has then written nothing back. Needs python3-scipy (Debian) for
# /usr/bin/python3. See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

M=${1:-1000000}
PY=/usr/bin/python3
$PY -c 'import numpy, scipy' 2>/dev/null || die "$PY needs numpy and scipy (apt-get install python3-scipy)"

machine_info
start_pg
build_daemon
setup_tenant

say "generating $M customers' purchase histories (bench/clv.py gen)"
GEN=$($PY "$ROOT/bench/clv.py" gen "$M" "$TENANT_ID" "$BENCH_TMP/customers.copy" "$BENCH_TMP/events.copy")
say "$GEN"
psql -qX -v ON_ERROR_STOP=1 <<SQL
\copy customers (tenant_id, id) FROM '$BENCH_TMP/customers.copy'
\copy events (tenant_id, customer_id, type, occurred_at, amount) FROM '$BENCH_TMP/events.copy'
VACUUM ANALYZE;
SQL
rm -f "$BENCH_TMP/customers.copy" "$BENCH_TMP/events.copy"
END=2025-12-28

# statements over half a second go to the server's log: the breakdown of the analysis below
psql -qX -c "ALTER DATABASE segbench SET log_min_duration_statement = 100"
start_daemon --log-level info

psql -qX -c CHECKPOINT
say "the analysis through the API"
a=$(api POST /v1/analyses "{\"type\": \"clv\", \"params\": {\"calibration_end\": \"$END\"}}")
AID=$(jget "$a" id)
JOB=$(jget "$a" job_id)
for _ in $(seq 1 72000); do
	st=$(jget "$(api GET "/v1/analyses/$AID")" status)
	case $st in
	succeeded) break ;;
	failed | cancelled) die "analysis $AID $st: $(api GET "/v1/analyses/$AID" | head -c 600)" ;;
	esac
	sleep 0.05
done
API_S=$(psql -AtX -c "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 3)
	FROM jobs WHERE id = $JOB")
RESULT=$(api GET "/v1/analyses/$AID")
FITLOG=$(grep -o 'clv fits: [^"]*' "$DAEMON_LOG" | tail -n 1)
PREDLOG=$(grep -o 'clv predictions [^"]*' "$DAEMON_LOG" | tail -n 1)
C_BG_MS=$(printf '%s' "$FITLOG" | sed -nE 's/.*BG\/NBD on ([0-9]+) distinct summaries in ([0-9.]+) ms.*/\2/p')
C_GG_MS=$(printf '%s' "$FITLOG" | sed -nE 's/.*Gamma-Gamma on ([0-9]+) distinct values in ([0-9.]+) ms.*/\2/p')
C_FIT_S=$(awk -v a="$C_BG_MS" -v b="$C_GG_MS" 'BEGIN { printf "%.3f", (a + b) / 1000 }')
# stmt_seconds PATTERN: the duration of the last logged statement whose text matches
stmt_seconds() {
	grep -E "duration: [0-9.]+ ms +(execute|statement).*$1" "$PGLOG" | tail -n 1 |
		sed -nE 's/.*duration: ([0-9.]+) ms.*/\1/p' | awk '{ printf "%.2f", $1 / 1000 }'
}
SUM_S=$(stmt_seconds 'INSERT INTO seg_clv_summary')
STORE_S=$(awk -v a="$(stmt_seconds 'CREATE TABLE seg_results')" \
	-v b="$(stmt_seconds 'ADD PRIMARY KEY')" -v c="$(stmt_seconds 'WITH st0 AS')" \
	'BEGIN { printf "%.2f (rows %.2f, key %.2f, figures %.2f)", a + b + c, a, b, c }')

say "the reference: summary SQL in psql, then SciPy"
SUMMARY="WITH d AS (SELECT e.customer_id, (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
		sum(coalesce(e.amount, 0)) AS value FROM events e
		WHERE e.tenant_id = $TENANT_ID AND e.type = 'purchase'
		AND e.occurred_at < DATE '$END' + 1 GROUP BY 1, 2),
	k AS (SELECT d.*, row_number() OVER (PARTITION BY d.customer_id ORDER BY d.day) AS n FROM d),
	s AS (SELECT count(*) - 1 AS x, max(day) - min(day) AS tx, DATE '$END' - min(day) AS t,
		(sum(value) FILTER (WHERE n > 1) / nullif(count(*) - 1, 0))::float8 AS m
		FROM k GROUP BY customer_id)"
psql -qX -c CHECKPOINT
t0=$(now)
psql -qX -v ON_ERROR_STOP=1 <<SQL
CREATE TEMP TABLE s AS $SUMMARY SELECT * FROM s;
\copy (SELECT x, tx, t, count(*) FROM s GROUP BY 1, 2, 3) TO '$BENCH_TMP/summaries.csv' CSV
\copy (SELECT x, m, count(*) FROM s WHERE x > 0 AND m > 0 GROUP BY 1, 2) TO '$BENCH_TMP/values.csv' CSV
SQL
t1=$(now)
SQL_S=$(secs "$t0" "$t1")
REF=$($PY "$ROOT/bench/clv.py" fit "$BENCH_TMP/summaries.csv" "$BENCH_TMP/values.csv" 7)
PY_FIT_S=$(printf '%s' "$REF" | sed -nE 's/.*fit_seconds=([0-9.]+).*/\1/p')
REF_S=$(awk -v a="$SQL_S" -v b="$PY_FIT_S" 'BEGIN { printf "%.3f", a + b }')

echo
echo "== bench/clv.sh M=$M ($GEN)"
machine_info
printf '%s\n' "$FITLOG" "$PREDLOG"
printf 'ours:      %s\n' "$(printf '%s' "$RESULT" | python3 -c 'import json, sys
r = json.load(sys.stdin)["result"]
print(" ".join("%s=%.6g" % (k, r["params"][k]) for k in ("r", "alpha", "a", "b", "p", "q", "gamma")),
      "customers=%d" % r["customers"])')"
printf 'reference: %s\n' "$REF"
printf 'analysis (API, whole job)  %7.2f s   summary SQL + SciPy fit %7.2f s   ratio %s\n' \
	"$API_S" "$REF_S" "$(ratio "$API_S" "$REF_S")"
printf 'fit (BG/NBD + GG), C       %7.3f s   SciPy (lifetimes-style) %7.3f s   ratio %s\n' \
	"$C_FIT_S" "$PY_FIT_S" "$(ratio "$C_FIT_S" "$PY_FIT_S")"
printf 'summary SQL alone (psql)   %7.2f s   in the analysis: summary %s s, store (every row, its key and the figures) %s s\n' \
	"$SQL_S" "${SUM_S:-?}" "${STORE_S:-?}"

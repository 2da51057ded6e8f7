#!/bin/bash
# bench/analyses.sh [M] [N] — an RFM and an ABC analysis over M customers and N events
# (defaults 1,000,000 and 10,000,000), each beside hand-written SQL that computes the same
# per-customer results into a table, on the same tables in the same run.
#
# Figures (each the median of 3):
#   rfm   POST /v1/analyses {"type": "rfm", "params": {"as_of": AS_OF}} until the analysis is
#         succeeded (polled every 50 ms): the scores of every customer in the run's store,
#         the result (cut points, grid, segments)
#   abc   POST /v1/analyses {"type": "abc"} until succeeded
# against, in psql on the same cluster (work_mem 64MB, as the analysis's own transaction):
#   RFM SQL  CREATE TABLE AS: the window's revenue events grouped per customer, the cut points
#            by percentile_disc at the exact positions ceil(k n / 5) of SPEC §6.1 (no ntile), the
#            scores by comparisons, the named segment by CASE, every customer (the unscored
#            as Lost); then the R×F grid with counts and revenue (GROUP BY)
#   ABC SQL  CREATE TABLE AS: running sums by window functions (revenue descending, id), the
#            class, rank and cumulative value of each customer; then what the result holds
#            beside the classes: the counts, value sums and thresholds per class (GROUP BY) and
#            the Pareto curve's cumulative value at the ranks ceil(k n / 100) (k = 1..100)
# After timing, every customer's scores and class are compared with the SQL's (not timed).
# The data is generated in SQL as in bench/segments.sh (events over two years before AS_OF,
# 30 % purchases), then VACUUM ANALYZE. See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

M=${1:-1000000}
N=${2:-10000000}
AS_OF=2026-11-01T00:00:00Z

machine_info
start_pg
build_daemon
setup_tenant

say "generating $M customers and $N events in SQL"
psql -qX -v ON_ERROR_STOP=1 <<SQL
SELECT setseed(0.42);
INSERT INTO customers (tenant_id, id, attributes, created_at)
SELECT $TENANT_ID, 'c-' || g, jsonb_build_object('age', 18 + (random() * 70)::int),
	'$AS_OF'::timestamptz - interval '3 years'
FROM generate_series(1, $M) g;
INSERT INTO events (tenant_id, customer_id, type, occurred_at, amount, properties)
SELECT $TENANT_ID, 'c-' || (1 + (random() * ($M - 1))::int),
	CASE WHEN r < 0.3 THEN 'purchase' ELSE 'page_view' END,
	'$AS_OF'::timestamptz - random() * interval '730 days',
	CASE WHEN r < 0.3 THEN round((5 + random() * 195)::numeric, 2) END,
	'{}'
FROM (SELECT random() AS r FROM generate_series(1, $N)) x;
UPDATE customers c SET events = a.n, orders = a.o, revenue = a.r, first_event_at = a.fe,
	last_event_at = a.le, first_purchase_at = a.fp, last_purchase_at = a.lp
FROM (SELECT customer_id, count(*) n, count(*) FILTER (WHERE type = 'purchase') o,
	coalesce(sum(amount) FILTER (WHERE type = 'purchase'), 0) r, min(occurred_at) fe,
	max(occurred_at) le, min(occurred_at) FILTER (WHERE type = 'purchase') fp,
	max(occurred_at) FILTER (WHERE type = 'purchase') lp
	FROM events WHERE tenant_id = $TENANT_ID GROUP BY 1) a
WHERE c.tenant_id = $TENANT_ID AND c.id = a.customer_id;
VACUUM ANALYZE;
SQL

RFM_SQL="SET work_mem = '64MB';
DROP TABLE IF EXISTS bench_rfm;
CREATE TABLE bench_rfm AS
WITH a AS (
	SELECT customer_id,
		floor(extract(epoch FROM '$AS_OF'::timestamptz - max(occurred_at)) / 86400)::bigint AS recency,
		count(*) AS frequency, coalesce(sum(amount), 0) AS monetary
	FROM events
	WHERE tenant_id = $TENANT_ID AND type = 'purchase'
		AND occurred_at > '$AS_OF'::timestamptz - interval '365 days'
		AND occurred_at <= '$AS_OF'::timestamptz
	GROUP BY customer_id),
q AS (SELECT array_agg((ceil(k * n / 5) - 0.5) / n ORDER BY k) AS q
	FROM (SELECT count(*)::float8 AS n FROM a) n, generate_series(1, 4) k),
c AS (SELECT percentile_disc((SELECT q FROM q)) WITHIN GROUP (ORDER BY recency) AS rc,
	percentile_disc((SELECT q FROM q)) WITHIN GROUP (ORDER BY frequency) AS fc,
	percentile_disc((SELECT q FROM q)) WITHIN GROUP (ORDER BY monetary) AS mc FROM a),
s AS (SELECT cu.id, a.recency, a.frequency, a.monetary,
	5 - ((a.recency > rc[1])::int + (a.recency > rc[2])::int + (a.recency > rc[3])::int
		+ (a.recency > rc[4])::int) AS r,
	1 + (a.frequency > fc[1])::int + (a.frequency > fc[2])::int + (a.frequency > fc[3])::int
		+ (a.frequency > fc[4])::int AS f,
	1 + (a.monetary > mc[1])::int + (a.monetary > mc[2])::int + (a.monetary > mc[3])::int
		+ (a.monetary > mc[4])::int AS m
	FROM customers cu LEFT JOIN a ON a.customer_id = cu.id CROSS JOIN c
	WHERE cu.tenant_id = $TENANT_ID)
SELECT id, r, f, m, r::text || f::text || m::text AS score,
	CASE WHEN r IS NULL THEN 'Lost'
		WHEN r = 5 AND f >= 4 THEN 'Champions'
		WHEN r IN (3, 4) AND f >= 4 THEN 'Loyal Customers'
		WHEN r >= 4 AND f IN (2, 3) THEN 'Potential Loyalists'
		WHEN r = 5 AND f = 1 THEN 'New Customers'
		WHEN r = 4 AND f = 1 THEN 'Promising'
		WHEN r = 3 AND f = 3 THEN 'Need Attention'
		WHEN r = 3 AND f <= 2 THEN 'About to Sleep'
		WHEN r <= 2 AND f IN (3, 4) THEN 'At Risk'
		WHEN r <= 2 AND f = 5 THEN 'Can''t Lose Them'
		ELSE 'Hibernating' END AS segment,
	recency, frequency, monetary
FROM s;
SELECT r, f, count(*), sum(monetary) FROM bench_rfm GROUP BY 1, 2;"

ABC_SQL="SET work_mem = '64MB';
DROP TABLE IF EXISTS bench_abc;
CREATE TABLE bench_abc AS
SELECT id, revenue, rank, before + revenue AS cumulative,
	CASE WHEN revenue <= 0 THEN 'C' WHEN before < 0.8 * total THEN 'A'
		WHEN before < 0.95 * total THEN 'B' ELSE 'C' END AS class
FROM (SELECT id, revenue, row_number() OVER w AS rank,
	sum(revenue) OVER (w ROWS UNBOUNDED PRECEDING) - revenue AS before,
	sum(revenue) FILTER (WHERE revenue > 0) OVER () AS total
	FROM customers WHERE tenant_id = $TENANT_ID WINDOW w AS (ORDER BY revenue DESC, id)) x;
SELECT class, count(*), sum(revenue), min(revenue) FROM bench_abc GROUP BY 1;
SELECT rank, cumulative FROM bench_abc WHERE rank = ANY (ARRAY(
	SELECT (g * n + 99) / 100 FROM (SELECT count(*) AS n FROM bench_abc WHERE revenue > 0) c,
	generate_series(1, 100) g)) AND revenue > 0 ORDER BY rank;"

# Statements over 100 ms go to the server log, to show where an analysis spends its time.
psql -qX -c "ALTER SYSTEM SET log_min_duration_statement = 100" -c "SELECT pg_reload_conf()" >/dev/null

start_daemon

sql_time() { # SQL: runs it in psql; prints the seconds
	t0=$(now)
	psql -qX -v ON_ERROR_STOP=1 -c "$1" >/dev/null
	t1=$(now)
	secs "$t0" "$t1"
}

say "RFM through the API, then hand-written SQL (3 each, alternating)"
RFM_API=()
RFM_SQLT=()
for _ in 1 2 3; do
	psql -qX -c CHECKPOINT
	RFM_API+=("$(analysis_seconds "{\"type\": \"rfm\", \"params\": {\"as_of\": \"$AS_OF\"}}")")
	psql -qX -c CHECKPOINT
	RFM_SQLT+=("$(sql_time "$RFM_SQL")")
done
RFM_ID=$(cat "$BENCH_TMP/last_id")

# The statements of the last RFM run, from the server log (the run's own connection).
RFM_STEPS=$(grep -E 'duration: .*(seg_rfm_agg|CREATE TABLE seg_results|ADD PRIMARY KEY)' "$PGLOG" | tail -5 |
	sed -nE 's/.*duration: ([0-9.]+) ms .*(CREATE TEMP TABLE seg_rfm_agg|SELECT count\(recency\)|percentile_disc|CREATE TABLE seg_results|ADD PRIMARY KEY|SELECT x\.r).*/\2: \1 ms/p')

say "ABC through the API, then hand-written SQL (3 each, alternating)"
ABC_API=()
ABC_SQLT=()
for _ in 1 2 3; do
	psql -qX -c CHECKPOINT
	ABC_API+=("$(analysis_seconds '{"type": "abc", "params": {}}')")
	psql -qX -c CHECKPOINT
	ABC_SQLT+=("$(sql_time "$ABC_SQL")")
done
ABC_ID=$(cat "$BENCH_TMP/last_id")

say "comparing every customer's results with the SQL's"
store() { psql -AtX -c "SELECT store FROM analyses WHERE id = $1"; }
RFM_DIFF=$(psql -AtX -c "SELECT count(*) FROM bench_rfm b FULL JOIN $(store "$RFM_ID") ac
	ON ac.customer_id = b.id WHERE b.id IS NULL OR ac.customer_id IS NULL
	OR ac.rfm_score IS DISTINCT FROM b.score OR ac.rfm_segment IS DISTINCT FROM b.segment")
ABC_DIFF=$(psql -AtX -c "SELECT count(*) FROM bench_abc b FULL JOIN $(store "$ABC_ID") ac
	ON ac.customer_id = b.id WHERE b.id IS NULL OR ac.customer_id IS NULL
	OR ac.abc_class IS DISTINCT FROM b.class")
SCORED=$(psql -AtX -c "SELECT count(*) FROM bench_rfm WHERE r IS NOT NULL")

RFM_S=$(printf '%s\n' "${RFM_API[@]}" | median)
RFM_B=$(printf '%s\n' "${RFM_SQLT[@]}" | median)
ABC_S=$(printf '%s\n' "${ABC_API[@]}" | median)
ABC_B=$(printf '%s\n' "${ABC_SQLT[@]}" | median)

echo
echo "== bench/analyses.sh M=$M N=$N: $SCORED customers scored by RFM"
machine_info
echo "runs: rfm ${RFM_API[*]} / sql ${RFM_SQLT[*]}; abc ${ABC_API[*]} / sql ${ABC_SQLT[*]}"
printf 'rfm (POST .. succeeded) %7.2f s   hand-written SQL %7.2f s   ratio %s (target <= 1.2)   customers differing: %s\n' \
	"$RFM_S" "$RFM_B" "$(ratio "$RFM_S" "$RFM_B")" "$RFM_DIFF"
echo "the last RFM run's statements over 100 ms:"
printf '  %s\n' "$RFM_STEPS"
printf 'abc (POST .. succeeded) %7.2f s   hand-written SQL %7.2f s   ratio %s (target <= 1.2)   customers differing: %s\n' \
	"$ABC_S" "$ABC_B" "$(ratio "$ABC_S" "$ABC_B")" "$ABC_DIFF"

#!/bin/bash
# bench/segments.sh [M] [N] — a dynamic segment over M customers and N events (defaults
# 1,000,000 and 10,000,000): its full refresh and its :preview, each beside hand-written SQL
# computing the same thing on the same tables in the same run.
#
# The rule mixes an attribute, a 90-day event count and a metric:
#   country in (DE, FR) and at least one purchase in the last 90 days and revenue > 250
# Figures:
#   refresh (first)   creating the segment: every member enters (the job's own duration)
#   refresh (again)   POST :refresh with nothing changed: compute, diff, apply nothing
#   preview           POST /v1/segments:preview, median of 5
# against, in psql on the same cluster:
#   CREATE TEMP TABLE AS SELECT id ... (the set, materialised), median of 3
#   SELECT count(*) ..., median of 5
# The data is generated in SQL (customers with attributes, events over two years, metrics
# computed from them), then VACUUM ANALYZE. See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

M=${1:-1000000}
N=${2:-10000000}

machine_info
start_pg
build_daemon
setup_tenant

say "generating $M customers and $N events in SQL"
psql -qX -v ON_ERROR_STOP=1 <<SQL
SELECT setseed(0.42);
INSERT INTO customers (tenant_id, id, attributes, created_at)
SELECT $TENANT_ID, 'c-' || g,
	jsonb_build_object('age', 18 + (random() * 70)::int,
		'country', (ARRAY['DE','FR','US','GB','ES','IT','NL','PL'])[1 + (random() * 7)::int],
		'plan', (ARRAY['free','pro','team'])[1 + (random() * 2)::int]),
	now() - interval '3 years'
FROM generate_series(1, $M) g;
INSERT INTO events (tenant_id, customer_id, type, occurred_at, amount, properties)
SELECT $TENANT_ID, 'c-' || (1 + (random() * ($M - 1))::int),
	CASE WHEN r < 0.3 THEN 'purchase' ELSE 'page_view' END,
	now() - random() * interval '730 days',
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

RULE='{"all": [{"attr": "country", "op": "in", "value": ["DE", "FR"]},
	{"event": "purchase", "within_days": 90, "agg": "count", "op": "gte", "value": 1},
	{"metric": "revenue", "op": "gt", "value": 250}]}'
WHERE="c.tenant_id = $TENANT_ID AND c.attributes -> 'country' IN ('\"DE\"', '\"FR\"')
	AND c.revenue > 250 AND EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = c.tenant_id
	AND e.customer_id = c.id AND e.type = 'purchase'
	AND e.occurred_at > now() - interval '90 days' AND e.occurred_at <= now())"

start_daemon --sync-timeout 3600

# job_seconds JOB_ID: waits for the job to succeed; prints its duration (finished - started).
job_seconds() {
	for _ in $(seq 1 36000); do
		st=$(jget "$(api GET "/v1/jobs/$1")" status)
		case $st in
		succeeded) break ;;
		failed | cancelled) die "job $1 $st" ;;
		esac
		sleep 0.05
	done
	psql -AtX -c "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 3)
		FROM jobs WHERE id = $1"
}

psql -qX -c CHECKPOINT
say "creating the segment (first refresh)"
seg=$(api POST /v1/segments "{\"name\": \"bench\", \"type\": \"dynamic\", \"rule\": $RULE}")
SEG_ID=$(jget "$seg" id)
[ -n "$SEG_ID" ] || die "no segment id in: ${seg:0:300}"
JOB=$(psql -AtX -c "SELECT max(id) FROM jobs WHERE target = $SEG_ID")
FIRST_S=$(job_seconds "$JOB")
SIZE=$(psql -AtX -c "SELECT count(*) FROM memberships WHERE segment_id = $SEG_ID")

psql -qX -c CHECKPOINT
say "refreshing again (nothing changed)"
job=$(api POST "/v1/segments/$SEG_ID:refresh")
JOB=$(jget "$job" id)
AGAIN_S=$(job_seconds "$JOB")

say "hand-written SQL"
SQL_S=$(for _ in 1 2 3; do
	psql -qX -c CHECKPOINT
	t0=$(now)
	psql -qX -v ON_ERROR_STOP=1 -c "CREATE TEMP TABLE x AS SELECT c.id FROM customers c WHERE $WHERE" >/dev/null
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
done | median)
EXPECT=$(psql -AtX -c "SELECT count(*) FROM customers c WHERE $WHERE")
[ "$EXPECT" = "$SIZE" ] || die "segment has $SIZE members, the hand-written SQL finds $EXPECT"

PREVIEW_S=$(for _ in 1 2 3 4 5; do
	t0=$(now)
	out=$(api POST /v1/segments:preview "{\"rule\": $RULE}")
	t1=$(now)
	[ "$(jget "$out" count)" = "$EXPECT" ] || die "preview says ${out:0:200}, expected $EXPECT"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
done | median)
COUNT_S=$(for _ in 1 2 3 4 5; do
	t0=$(now)
	psql -qX -c "SELECT count(*) FROM customers c WHERE $WHERE" >/dev/null
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
done | median)

echo
echo "== bench/segments.sh M=$M N=$N: $SIZE members"
machine_info
printf 'refresh (first, all enter) %7.2f s   hand-written SQL %7.2f s   ratio %s (target <= 1.5)\n' \
	"$FIRST_S" "$SQL_S" "$(ratio "$FIRST_S" "$SQL_S")"
printf 'refresh (again, no change) %7.2f s   hand-written SQL %7.2f s   ratio %s (target <= 1.5)\n' \
	"$AGAIN_S" "$SQL_S" "$(ratio "$AGAIN_S" "$SQL_S")"
printf 'preview                    %7.3f s   count(*)         %7.3f s   ratio %s (target <= 1.5)\n' \
	"$PREVIEW_S" "$COUNT_S" "$(ratio "$PREVIEW_S" "$COUNT_S")"

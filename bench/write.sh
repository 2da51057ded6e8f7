#!/bin/bash
# bench/write.sh [N] — one customer write (PATCH of attributes, which re-evaluates every dynamic
# segment for that customer before the answer) with 100 dynamic segments defined, beside the
# same write with none, in the same run: p50 and p99 over N sequential requests (default 5000)
# on one keep-alive connection, over 10,000 customers with events.
# Targets: p99 < 5 ms with 100 segments, and at most 3x the p99 without.
# See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"
N=${1:-5000}

machine_info
start_pg
build_daemon
setup_tenant
psql -qX -v ON_ERROR_STOP=1 <<SQL
INSERT INTO customers (tenant_id, id, attributes)
SELECT $TENANT_ID, 'c-' || g, jsonb_build_object('age', 18 + g % 70, 'plan', 'free')
FROM generate_series(1, 10000) g;
INSERT INTO events (tenant_id, customer_id, type, occurred_at, amount)
SELECT $TENANT_ID, 'c-' || (1 + g % 10000), CASE WHEN g % 3 = 0 THEN 'purchase' ELSE 'page_view' END,
	now() - (g % 700) * interval '1 day', CASE WHEN g % 3 = 0 THEN 20 + g % 80 END
FROM generate_series(1, 100000) g;
VACUUM ANALYZE;
SQL
start_daemon

python3 bench/write.py "$BASE" "$KEY" 200 warmup >/dev/null
read -r _ NONE_P50 NONE_P99 < <(python3 bench/write.py "$BASE" "$KEY" "$N" none)

say "defining 100 dynamic segments"
for i in $(seq 1 100); do
	case $((i % 5)) in
	0) rule='{"attr": "age", "op": "gte", "value": '$((18 + i % 60))'}' ;;
	1) rule='{"all": [{"attr": "plan", "op": "eq", "value": "pro"}, {"metric": "revenue", "op": "gt", "value": '$((i * 10))'}]}' ;;
	2) rule='{"event": "purchase", "within_days": '$((30 + i))', "agg": "count", "op": "gte", "value": 2}' ;;
	3) rule='{"any": [{"attr": "plan", "op": "in", "value": ["team", "pro"]}, {"metric": "recency_days", "op": "lt", "value": '$i'}]}' ;;
	4) rule='{"not": {"attr": "age", "op": "between", "value": [30, '$((30 + i % 40))']}}' ;;
	esac
	curl -sS --fail-with-body -o /dev/null -X POST "$BASE/v1/segments" \
		-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
		--data-binary "{\"name\": \"w$i\", \"type\": \"dynamic\", \"rule\": $rule}" ||
		die "could not create segment $i"
done
python3 bench/write.py "$BASE" "$KEY" 200 warmup >/dev/null
read -r _ SEG_P50 SEG_P99 < <(python3 bench/write.py "$BASE" "$KEY" "$N" segments)

echo
echo "== bench/write.sh N=$N"
machine_info
printf 'write, no segments     p50 %6.3f ms   p99 %6.3f ms\n' "$NONE_P50" "$NONE_P99"
printf 'write, 100 segments    p50 %6.3f ms   p99 %6.3f ms   p99 ratio %s (targets: p99 < 5 ms, ratio <= 3)\n' \
	"$SEG_P50" "$SEG_P99" "$(ratio "$SEG_P99" "$NONE_P99")"

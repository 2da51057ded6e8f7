#!/bin/bash
# bench/events.sh [N] [M] — throughput of POST /v1/events:import against a plain `psql \copy`
# of the same rows into a table of the same shape (LIKE events INCLUDING ALL: the same columns
# and the same indexes), in the same run, on the same cluster and the same data.
#
#   N                    events to import (default 10000000)
#   M                    customers they belong to (default N / 10)
#   BENCH_SEGMENTS=K     define K dynamic segments before the import (default 0), a mix of
#                        attribute, metric and 90-day event rules (bench/segments.json)
#   BENCH_SERVE_FLAGS    extra flags for `segmentd serve`
#
# The events are in time order over two years, each of a random customer (so nearly every
# batch touches distinct customers), 30% purchases with an amount, with a client id each (as
# shops send them, so the unique index on ids works on both sides). segmentd creates the
# customers as their first event arrives, keeps their metrics and (with segments) their
# memberships current before it answers; the baseline only copies rows.
# See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

N=${1:-10000000}
M=${2:-$((N / 10))}
K=${BENCH_SEGMENTS:-0}
read -r -a SERVE_FLAGS <<<"${BENCH_SERVE_FLAGS:-}"

machine_info
start_pg
build_daemon
setup_tenant

NDJSON=$BENCH_TMP/events.ndjson
COPYF=$BENCH_TMP/events.copy
say "generating $N events over $M customers"
# Deterministic (seed 42). The same rows in two forms: NDJSON for segmentd, COPY text for \copy.
awk -v n="$N" -v m="$M" -v t="$TENANT_ID" -v nd="$NDJSON" -v cp="$COPYF" 'BEGIN {
	srand(42)
	split("web app store", ch, " ")
	start = systime() - 2 * 365 * 86400
	for (i = 1; i <= n; i++) {
		ts = start + int(i * (2 * 365 * 86400 / n))
		when = strftime("%Y-%m-%dT%H:%M:%SZ", ts, 1)
		c = 1 + int(rand() * m)
		r = rand()
		channel = ch[1 + int(rand() * 3)]
		if (r < 0.3) {
			amount = sprintf("%.2f", 5 + rand() * 195)
			printf "{\"id\":\"e-%d\",\"customer_id\":\"c-%d\",\"type\":\"purchase\",\"occurred_at\":\"%s\",\"amount\":%s,\"properties\":{\"channel\":\"%s\"}}\n", i, c, when, amount, channel > nd
			printf "%s\te-%d\tc-%d\tpurchase\t%s\t%s\t{\"channel\": \"%s\"}\n", t, i, c, when, amount, channel > cp
		} else {
			type = r < 0.9 ? "page_view" : "login"
			printf "{\"id\":\"e-%d\",\"customer_id\":\"c-%d\",\"type\":\"%s\",\"occurred_at\":\"%s\",\"properties\":{\"channel\":\"%s\"}}\n", i, c, type, when, channel > nd
			printf "%s\te-%d\tc-%d\t%s\t%s\t\\N\t{\"channel\": \"%s\"}\n", t, i, c, type, when, channel > cp
		}
	}
}'
say "NDJSON $(du -h "$NDJSON" | cut -f1), COPY file $(du -h "$COPYF" | cut -f1)"
psql -qX -c 'CREATE TABLE baseline_events (LIKE events INCLUDING ALL)'

start_daemon "${SERVE_FLAGS[@]}"

if [ "$K" -gt 0 ]; then
	say "defining $K dynamic segments"
	for i in $(seq 1 "$K"); do
		case $((i % 4)) in
		0) rule='{"attr": "plan", "op": "eq", "value": "pro"}' ;;
		1) rule='{"metric": "revenue", "op": "gt", "value": '$((i * 50))'}' ;;
		2) rule='{"event": "purchase", "within_days": 90, "agg": "count", "op": "gte", "value": '$((1 + i % 3))'}' ;;
		3) rule='{"all": [{"metric": "orders", "op": "gte", "value": 2}, {"event": "page_view", "within_days": 30, "where": [{"prop": "channel", "op": "eq", "value": "app"}], "agg": "count", "op": "gte", "value": 1}]}' ;;
		esac
		curl -sS --fail-with-body -o /dev/null -X POST "$BASE/v1/segments" \
			-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
			--data-binary "{\"name\": \"bench $i\", \"type\": \"dynamic\", \"rule\": $rule}" ||
			die "could not create segment $i"
	done
fi

psql -qX -c CHECKPOINT
cpu0=$(cpu_s "$DAEMON_PID")
t0=$(now)
# -T streams the file (--data-binary @file would read all of it into curl's memory first)
answer=$(curl -sS --fail-with-body -X POST "$BASE/v1/events:import" \
	-H "Authorization: Bearer $KEY" -H 'Content-Type: application/x-ndjson' \
	-T "$NDJSON") || die "import failed: $answer"
t1=$(now)
OURS_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
sleep 0.5
OURS_CPU=$(awk -v a="$cpu0" -v b="$(cpu_s "$DAEMON_PID")" 'BEGIN { printf "%.2f", b - a }')
say "ours: ${answer:0:200}"
[ "$(json_field "$answer" accepted)" = "$N" ] || die "expected accepted = $N: $answer"

psql -qX -c CHECKPOINT
cpu0=$(cpu_s)
t0=$(now)
# bash's time gives the CPU of psql itself (it reads and sends the file, as segmentd does)
TIMEFORMAT='%U %S'
client=$( { time psql -qX -v ON_ERROR_STOP=1 -c "\\copy baseline_events (tenant_id, id, customer_id, type, occurred_at, amount, properties) FROM '$COPYF'" 2>&1 >/dev/null; } 2>&1 | tail -1)
t1=$(now)
BASE_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
sleep 0.5 # the postmaster reaps the COPY backend, adding its CPU to its own
BASE_CPU=$(awk -v a="$cpu0" -v b="$(cpu_s)" -v c="$client" 'BEGIN { split(c, u, " "); printf "%.2f", b - a + u[1] + u[2] }')

c1=$(psql -AtX -c "SELECT count(*) FROM events WHERE tenant_id = $TENANT_ID")
c2=$(psql -AtX -c "SELECT count(*) FROM baseline_events")
[ "$c1" = "$N" ] && [ "$c2" = "$N" ] || die "row counts: events $c1, baseline $c2, expected $N"
# The metrics are current: they agree with the events.
bad=$(psql -AtX -c "SELECT count(*) FROM customers c LEFT JOIN (SELECT customer_id, count(*) n,
	sum(amount) FILTER (WHERE type = 'purchase') r FROM events WHERE tenant_id = $TENANT_ID
	GROUP BY 1) e ON e.customer_id = c.id WHERE c.tenant_id = $TENANT_ID
	AND (c.events <> coalesce(e.n, 0) OR c.revenue <> coalesce(e.r, 0))")
[ "$bad" = 0 ] || die "$bad customers have metrics that disagree with their events"

ours_rate=$(rate "$N" "$OURS_S")
base_rate=$(rate "$N" "$BASE_S")
echo
echo "== bench/events.sh N=$N M=$M segments=$K, segmentd serve ${SERVE_FLAGS[*]:-(defaults)}"
machine_info
printf 'events   ours %8s events/s (%7.2f s)   baseline \\copy %8s rows/s (%7.2f s)   ratio %s\n' \
	"$ours_rate" "$OURS_S" "$base_rate" "$BASE_S" "$(ratio "$ours_rate" "$base_rate")"
printf 'cpu      ours %8.2f s (segmentd and PostgreSQL)   baseline %8.2f s (psql and PostgreSQL)   ratio %s\n' \
	"$OURS_CPU" "$BASE_CPU" "$(ratio "$BASE_CPU" "$OURS_CPU")"
echo "target: ratio >= 0.5 (the cpu ratio says the same where other work shares the machine)"

#!/bin/bash
# bench/import.sh [N] — bulk import throughput of POST /v1/customers:import against a plain
# `psql \copy` of the same rows into a table of the same shape, in the same run, on the same
# cluster and the same data. Also the daemon's peak RSS (VmHWM) during the import.
#
#   N                   customers to import (default 1000000)
#   BENCH_UPDATES=0     skip the second pass (same ids again: updates)
#   BENCH_SERVE_FLAGS   extra flags for `segmentd serve` (default: none, i.e. the defaults)
#
# Runs: (1) inserts into an empty customers table through segmentd (curl --data-binary, the
# body streamed), (2) baseline: \copy into an empty table baseline_customers (LIKE customers
# INCLUDING ALL: same columns, jsonb attributes, same primary key), (3) optionally the same
# file again through segmentd (merge mode: updates), against a baseline of \copy into a temp
# table plus INSERT ... ON CONFLICT DO UPDATE. A CHECKPOINT precedes each timed step.
# See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

N=${1:-1000000}
UPDATES=${BENCH_UPDATES:-1}
read -r -a SERVE_FLAGS <<<"${BENCH_SERVE_FLAGS:-}"

machine_info
start_pg
build_daemon
setup_tenant

NDJSON=$BENCH_TMP/customers.ndjson
COPYF=$BENCH_TMP/customers.copy
say "generating $N customers"
gen_customers "$N" "$NDJSON"
ndjson_to_copy "$NDJSON" "$COPYF"
[ "$(wc -l <"$COPYF")" -eq "$N" ] || die "COPY file has the wrong number of rows"
say "NDJSON $(du -h "$NDJSON" | cut -f1), COPY file $(du -h "$COPYF" | cut -f1)"
psql -qX -c 'CREATE TABLE baseline_customers (LIKE customers INCLUDING ALL)'

start_daemon "${SERVE_FLAGS[@]}"

# Samples the daemon's RSS every 0.2 s into $1 while it lives (VmHWM is the authoritative peak).
sample_rss() {
	while kill -0 "$DAEMON_PID" 2>/dev/null; do
		daemon_rss_kib >>"$1" 2>/dev/null || break
		sleep 0.2
	done
}

# ours LABEL EXPECT_FIELD: one timed import; sets OURS_S, OURS_HWM_KIB.
ours() {
	psql -qX -c CHECKPOINT
	daemon_hwm_reset
	: >"$BENCH_TMP/rss.$1"
	sample_rss "$BENCH_TMP/rss.$1" &
	sampler=$!
	t0=$(now)
	answer=$(import_file "$NDJSON") || die "import failed: $answer"
	t1=$(now)
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	OURS_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	OURS_HWM_KIB=$(daemon_hwm_kib)
	got=$(json_field "$answer" "$2")
	rejected=$(json_field "$answer" rejected)
	say "$1: ${answer:0:200}"
	[ "$got" = "$N" ] && [ "$rejected" = 0 ] || die "$1: expected $2 = $N, got: $answer"
}

# baseline LABEL SQL-FILE: one timed psql run; sets BASE_S.
baseline() {
	psql -qX -c CHECKPOINT
	t0=$(now)
	psql -qX -v ON_ERROR_STOP=1 -f "$2" >/dev/null
	t1=$(now)
	BASE_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

report() { # LABEL
	ours_rate=$(rate "$N" "$OURS_S")
	base_rate=$(rate "$N" "$BASE_S")
	printf '%-8s ours %8s rows/s (%7.2f s)   baseline %8s rows/s (%7.2f s)   ratio %s   peak RSS %.1f MiB (max sampled %.1f MiB)\n' \
		"$1" "$ours_rate" "$OURS_S" "$base_rate" "$BASE_S" "$(ratio "$ours_rate" "$base_rate")" \
		"$(awk -v k="$OURS_HWM_KIB" 'BEGIN { print k / 1024 }')" \
		"$(sort -n "$BENCH_TMP/rss.$1" | tail -1 | awk '{ print $1 / 1024 }')"
}

say "segmentd RSS before the import: $(daemon_rss_kib) KiB"
# (1) inserts
ours insert inserted
cat >"$BENCH_TMP/copy.sql" <<EOF
\\copy baseline_customers (tenant_id, id, attributes) FROM '$COPYF'
EOF
baseline insert "$BENCH_TMP/copy.sql"
c1=$(psql -AtX -c "SELECT count(*) FROM customers WHERE tenant_id = $TENANT_ID")
c2=$(psql -AtX -c "SELECT count(*) FROM baseline_customers")
[ "$c1" = "$N" ] && [ "$c2" = "$N" ] || die "row counts: customers $c1, baseline $c2, expected $N"
# Same content on both sides?
diff=$(psql -AtX -c "SELECT count(*) FROM customers c JOIN baseline_customers b USING (tenant_id, id)
	WHERE c.attributes IS DISTINCT FROM b.attributes")
[ "$diff" = 0 ] || die "$diff rows differ between customers and baseline_customers"
INSERT_LINE=$(report insert)

# (2) updates: the same ids again
if [ "$UPDATES" != 0 ]; then
	ours update updated
	cat >"$BENCH_TMP/upsert.sql" <<EOF
BEGIN;
CREATE TEMP TABLE stage (tenant_id bigint, id text COLLATE "C", attributes jsonb) ON COMMIT DROP;
\\copy stage FROM '$COPYF'
INSERT INTO baseline_customers AS b (tenant_id, id, attributes)
	SELECT tenant_id, id, attributes FROM stage
	ON CONFLICT (tenant_id, id) DO UPDATE
	SET attributes = b.attributes || EXCLUDED.attributes, updated_at = now();
COMMIT;
EOF
	baseline update "$BENCH_TMP/upsert.sql"
	UPDATE_LINE=$(report update)
fi

echo
echo "== bench/import.sh N=$N, segmentd serve ${SERVE_FLAGS[*]:-(defaults)}"
machine_info
echo "$INSERT_LINE"
[ "$UPDATES" = 0 ] || echo "$UPDATE_LINE"
echo "targets: insert ratio >= 0.7, peak RSS < 64 MiB"

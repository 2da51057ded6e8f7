#!/bin/bash
# bench/get.sh [N] — GET /v1/customers/{id} throughput and latency (wrk) against pgbench running
# the very query the daemon runs, prepared, in the same run on the same cluster and data.
#
#   N                   customers loaded first through the import (default 100000)
#   BENCH_DURATION      seconds of each measured run (default 20)
#   BENCH_SWEEP_DURATION seconds of each run of the settings sweep (default 8)
#   BENCH_CONNECTIONS   concurrent connections for wrk and clients for pgbench (default 64)
#   BENCH_SETTINGS      daemon settings to try, "THREADS:POOL:WORKERS ..." (--http-threads,
#                       --db-pool, --request-workers; default below); the best
#                       by requests/s and the best by p99 in the sweep (error-free) get full-length runs
#   BENCH_COMPARE       path of another segmentd binary (e.g. one built from an earlier commit)
#                       to measure in the same run, on the same data: two rounds, each running it
#                       and then ours (the best setting) for BENCH_DURATION, alternately
#   BENCH_COMPARE_FLAGS its serve flags (default "--http-threads 4 --db-pool 8"); it must
#                       accept them (an older binary knows no --request-workers)
#
# wrk: -t2 -cC -dDs --latency, a Lua script that asks for random existing ids c-1..c-N with the
# Authorization header and reports non-2xx/3xx responses and socket errors, which must be 0.
# pgbench: -n -cC -j2 -TD -M prepared -f lookup.sql with the same SELECT; failed transactions
# must be 0. PostgreSQL settings are identical for both sides. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

N=${1:-100000}
DURATION=${BENCH_DURATION:-20}
SWEEP=${BENCH_SWEEP_DURATION:-8}
CONNS=${BENCH_CONNECTIONS:-64}
SETTINGS=${BENCH_SETTINGS:-"1:8:8 2:8:8 2:4:4 2:8:16 4:8:8 2:16:16"}
command -v wrk >/dev/null || die "wrk is missing"
command -v pgbench >/dev/null || die "pgbench is missing (postgresql-contrib)"

machine_info
start_pg
build_daemon
setup_tenant

say "loading $N customers"
gen_customers "$N" "$BENCH_TMP/customers.ndjson"
start_daemon
answer=$(import_file "$BENCH_TMP/customers.ndjson")
[ "$(json_field "$answer" inserted)" = "$N" ] || die "load failed: $answer"
stop_daemon
psql -qX -c 'VACUUM ANALYZE customers' -c CHECKPOINT

cat >"$BENCH_TMP/get.lua" <<EOF
-- Random existing customer, authenticated; a summary line that bench/get.sh parses.
local n = $N
local auth = "Bearer $KEY"
math.randomseed(os.time())
request = function()
	return wrk.format("GET", "/v1/customers/c-" .. math.random(1, n), {["Authorization"] = auth})
end
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
		e.status, e.connect, e.read, e.write, e.timeout))
end
EOF

cat >"$BENCH_TMP/lookup.sql" <<EOF
\\set n random(1, $N)
SELECT seg_customer_json(c)::text FROM customers c WHERE c.tenant_id = $TENANT_ID AND c.id = 'c-' || :n;
EOF

# Sanity: one GET answers 200 with the customer, and the SQL finds it too.
start_daemon
code=$(curl -s -o "$BENCH_TMP/one.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$BASE/v1/customers/c-$N")
[ "$code" = 200 ] || die "GET /v1/customers/c-$N answered $code: $(cat "$BENCH_TMP/one.json")"
[ "$(psql -AtX -c "SELECT count(*) FROM customers WHERE tenant_id = $TENANT_ID AND id = 'c-$N'")" = 1 ] ||
	die "c-$N not in the table"
stop_daemon

# run_wrk SECONDS [lenient]: prints the BENCH line with errors=SUM appended; any non-2xx
# response or socket error (including wrk's 2 s timeout) fails the run unless "lenient" (the
# sweep, which then just does not pick that setting).
run_wrk() {
	out=$BENCH_TMP/wrk.out
	wrk -t2 -c"$CONNS" -d"$1"s --latency -s "$BENCH_TMP/get.lua" "$BASE" >"$out" 2>&1 ||
		die "wrk failed: $(cat "$out")"
	line=$(grep '^BENCH ' "$out") || die "wrk printed no summary: $(cat "$out")"
	errors=0
	for f in non2xx connect read write timeout; do
		v=$(printf '%s' "$line" | sed -nE "s/.* $f=([0-9]+).*/\\1/p")
		errors=$((errors + v))
	done
	[ "$errors" = 0 ] || [ "${2:-}" = lenient ] || die "wrk saw errors: $line"
	printf '%s errors=%s\n' "$line" "$errors"
}
field() { printf '%s' "$1" | sed -nE "s/.*[ ]$2=([0-9.]+).*/\\1/p"; }
# flags S: the daemon flags of a setting "THREADS:POOL:WORKERS"
flags() {
	IFS=: read -r t p w <<<"$1"
	echo "--http-threads $t --db-pool $p --request-workers ${w:-8}"
}

say "settings sweep, ${SWEEP}s each: $SETTINGS"
best_rps=0
best=
low_p99=
low=
SWEEP_LINES=
for s in $SETTINGS; do
	# shellcheck disable=SC2046 # the flags are words
	start_daemon $(flags "$s")
	run_wrk 2 lenient >/dev/null # warm: prepared statements, key cache, buffers
	line=$(run_wrk "$SWEEP" lenient)
	stop_daemon
	rps=$(field "$line" rps)
	p99=$(field "$line" p99_us)
	errs=$(field "$line" errors)
	SWEEP_LINES+=$(printf '  %-52s  %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  errors %s' \
		"$(flags "$s")" "$rps" "$(awk -v u="$(field "$line" p50_us)" 'BEGIN { print u / 1000 }')" \
		"$(awk -v u="$p99" 'BEGIN { print u / 1000 }')" "$errs")$'\n'
	say "$(flags "$s"): $rps req/s, p99 ${p99} us, errors $errs"
	if [ "$errs" = 0 ] && awk -v a="$rps" -v b="$best_rps" 'BEGIN { exit !(a > b) }'; then
		best_rps=$rps
		best=$s
	fi
	if [ "$errs" = 0 ] && { [ -z "$low" ] || [ "$p99" -lt "$low_p99" ]; }; then
		low_p99=$p99
		low=$s
	fi
done

[ -n "$best" ] || die "every setting saw errors"
# Full-length runs: the setting with the most requests/s, and the one with the lowest p99 if
# that is another.
MEASURED=$best
[ "$low" = "$best" ] || MEASURED="$best $low"
RESULT_LINES=
for s in $MEASURED; do
	say "measured run: $(flags "$s"), ${DURATION}s"
	# shellcheck disable=SC2046 # the flags are words
	start_daemon $(flags "$s")
	run_wrk 2 >/dev/null
	line=$(run_wrk "$DURATION")
	stop_daemon
	sed 's/^/  /' "$BENCH_TMP/wrk.out" >>"$BENCH_TMP/wrk.final"
	RESULT_LINES+="$s $(field "$line" rps) $(field "$line" p50_us) $(field "$line" p99_us)"$'\n'
done

COMPARE_LINES=
if [ -n "${BENCH_COMPARE:-}" ]; then
	[ -x "$BENCH_COMPARE" ] || die "BENCH_COMPARE=$BENCH_COMPARE is not an executable"
	cp "$BENCH_COMPARE" "$BENCH_TMP/segmentd.compare"
	OURS=$SEGMENTD
	read -r -a CFLAGS <<<"${BENCH_COMPARE_FLAGS:---http-threads 4 --db-pool 8}"
	for round in 1 2; do
		for who in compare ours; do
			if [ "$who" = compare ]; then
				SEGMENTD=$BENCH_TMP/segmentd.compare
				# shellcheck disable=SC2206 # the flags are words
				fl=("${CFLAGS[@]}")
			else
				SEGMENTD=$OURS
				# shellcheck disable=SC2207 # the flags are words
				fl=($(flags "$best"))
			fi
			say "comparison round $round: $who ${fl[*]}, ${DURATION}s"
			start_daemon "${fl[@]}"
			run_wrk 2 >/dev/null
			line=$(run_wrk "$DURATION")
			stop_daemon
			COMPARE_LINES+="$who $round $(field "$line" rps) $(field "$line" p99_us) ${fl[*]}"$'\n'
		done
	done
	SEGMENTD=$OURS
fi

say "baseline: pgbench -n -c$CONNS -j2 -T$DURATION -M prepared"
pgbench -n -c"$CONNS" -j2 -T2 -M prepared -f "$BENCH_TMP/lookup.sql" >/dev/null 2>&1 || true
pgbench -n -c"$CONNS" -j2 -T"$DURATION" -M prepared -f "$BENCH_TMP/lookup.sql" >"$BENCH_TMP/pgbench.out" 2>&1 ||
	die "pgbench failed: $(tail -20 "$BENCH_TMP/pgbench.out")"
failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$BENCH_TMP/pgbench.out")
[ "$failed" = 0 ] || die "pgbench failed transactions: ${failed:-unknown}: $(cat "$BENCH_TMP/pgbench.out")"
PG_TPS=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$BENCH_TMP/pgbench.out")
PG_LAT=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$BENCH_TMP/pgbench.out")
[ -n "$PG_TPS" ] || die "no tps in pgbench output: $(cat "$BENCH_TMP/pgbench.out")"

echo
echo "== bench/get.sh N=$N, $CONNS connections, ${DURATION}s"
machine_info
echo "settings tried (wrk ${SWEEP}s each):"
printf '%s' "$SWEEP_LINES"
echo "wrk output of the measured run(s):"
cat "$BENCH_TMP/wrk.final"
printf 'baseline %8.0f tps (pgbench -M prepared), latency average %s ms, failed 0\n' "$PG_TPS" "$PG_LAT"
printf '%s' "$RESULT_LINES" | while read -r s rps p50 p99; do
	printf 'ours     %8.0f req/s (%s), p50 %.2f ms, p99 %.2f ms, errors 0; ratio %s\n' \
		"$rps" "$(flags "$s")" "$(awk -v u="$p50" 'BEGIN { print u / 1000 }')" \
		"$(awk -v u="$p99" 'BEGIN { print u / 1000 }')" "$(ratio "$rps" "$PG_TPS")"
done
if [ -n "$COMPARE_LINES" ]; then
	echo "comparison in the same run (BENCH_COMPARE=$BENCH_COMPARE), ${DURATION}s each:"
	printf '%s' "$COMPARE_LINES" | while read -r who round rps p99 rest; do
		printf '  round %s  %-7s %8.0f req/s  p99 %6.2f ms  ratio %s  (%s)\n' "$round" "$who" \
			"$rps" "$(awk -v u="$p99" 'BEGIN { print u / 1000 }')" "$(ratio "$rps" "$PG_TPS")" "$rest"
	done
fi
echo "targets: ratio >= 0.7, p99 < 10 ms"

#!/bin/bash
# bench/soak.sh — a soak test: segmentd under a steady mix of reads and writes from wrk for
# minutes, checking that it stays healthy: no errors, resident memory and open files flat.
#
#   SOAK_SECONDS        length of the wrk run (default 300)
#   SOAK_CONNECTIONS    wrk connections (default 256); wrk runs 2 threads
#   SOAK_CUSTOMERS      customers c-1..c-N imported first (default 10000)
#   SOAK_WARMUP         seconds after which the reference sample is taken (default 60, or a
#                       quarter of SOAK_SECONDS when that is shorter than two minutes)
#   SOAK_SERVE_FLAGS    extra flags for `segmentd serve`
#
# The mix (bench/soak.lua), per request at random: 60 % GET /v1/customers/{id}, 10 % GET
# /v1/customers?limit=20, 10 % PUT /v1/customers/{id}, 10 % PATCH (merge patch), 10 % POST
# /v1/events (a purchase with an amount). Every 10 s the daemon's VmRSS and open file
# descriptors are sampled. Fails (exit 1) on any error — a status other than 200/201/202, or
# a socket error (connect, read, write, timeout) — if the daemon dies, if VmRSS at the end is
# more than 20 % and more than 8 MiB above the reference sample, or if open files at the end
# exceed the reference sample by more than 16. See docs/BENCHMARKS.md. Never part of `make test`.
set -eu
if [ $# -gt 0 ]; then # settings come from the environment only
	sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 2
fi
. "$(dirname "$0")/common.sh"

SECONDS_RUN=${SOAK_SECONDS:-300}
CONNS=${SOAK_CONNECTIONS:-256}
N=${SOAK_CUSTOMERS:-10000}
if [ -n "${SOAK_WARMUP:-}" ]; then
	WARMUP=$SOAK_WARMUP
elif [ "$SECONDS_RUN" -lt 120 ]; then
	WARMUP=$((SECONDS_RUN / 4))
else
	WARMUP=60
fi
INTERVAL=10
read -r -a SERVE_FLAGS <<<"${SOAK_SERVE_FLAGS:-}"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
[ "$SECONDS_RUN" -ge 20 ] || die "SOAK_SECONDS must be at least 20"
[ "$WARMUP" -lt "$SECONDS_RUN" ] || die "SOAK_WARMUP ($WARMUP) must be shorter than SOAK_SECONDS ($SECONDS_RUN)"

machine_info
start_pg
build_daemon
setup_tenant

# The daemon limits connections per client address; wrk's all come from 127.0.0.1. Raise the
# limit where the daemon has the flag (the request-worker HTTP layer); older daemons refuse
# unknown flags. start_daemon already passes --log-level warn.
if "$SEGMENTD" help 2>&1 | grep -q 'max-connections-per-address'; then
	SERVE_FLAGS+=(--max-connections-per-address 512)
fi

say "loading $N customers"
gen_customers "$N" "$BENCH_TMP/customers.ndjson"
start_daemon "${SERVE_FLAGS[@]}"
answer=$(import_file "$BENCH_TMP/customers.ndjson")
[ "$(json_field "$answer" inserted)" = "$N" ] || die "load failed: $answer"
psql -qX -c 'VACUUM ANALYZE customers'

# Sanity: each kind of request of the mix answers as expected once.
expect() { # STATUS METHOD PATH [BODY CONTENT-TYPE]
	if [ $# -gt 3 ]; then
		code=$(curl -s -o "$BENCH_TMP/one.out" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $KEY" \
			-H "Content-Type: $5" --data-binary "$4" "$BASE$3")
	else
		code=$(curl -s -o "$BENCH_TMP/one.out" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $KEY" "$BASE$3")
	fi
	[ "$code" = "$1" ] || die "$2 $3 answered $code, expected $1: $(cat "$BENCH_TMP/one.out")"
}
expect 200 GET "/v1/customers/c-$N"
expect 200 GET "/v1/customers?limit=20"
expect 200 PUT /v1/customers/c-1 '{"kind": "person", "attributes": {"age": 40}}' application/json
expect 200 PATCH /v1/customers/c-1 '{"attributes": {"score": 1.5}}' application/merge-patch+json
expect 202 POST /v1/events \
	'{"customer_id": "c-1", "type": "purchase", "occurred_at": "2026-01-01T00:00:00Z", "amount": 9.5}' \
	application/json

SAMPLES=$BENCH_TMP/samples # lines: seconds-since-start VmRSS-KiB open-fds
sample() { # LABEL-SECONDS
	rss=$(daemon_rss_kib 2>/dev/null) || return 1
	# shellcheck disable=SC2012 # fd names are numbers
	fds=$(ls "/proc/$DAEMON_PID/fd" 2>/dev/null | wc -l)
	[ -n "$rss" ] || return 1
	echo "$1 $rss $fds" >>"$SAMPLES"
}
: >"$SAMPLES"
sample 0 || die "cannot read /proc/$DAEMON_PID"

say "soak: wrk -t2 -c$CONNS -d${SECONDS_RUN}s, daemon flags: ${SERVE_FLAGS[*]:-(defaults)} --log-level warn"
T0=$(now)
wrk -t2 -c"$CONNS" -d"$SECONDS_RUN"s --latency -s "$ROOT/bench/soak.lua" "$BASE" -- "$N" "$KEY" \
	>"$BENCH_TMP/wrk.out" 2>&1 &
WRK_PID=$!

# Samples every INTERVAL s while wrk runs, the last one a second before its end.
t=$INTERVAL
while :; do
	[ "$t" -lt "$SECONDS_RUN" ] || t=$((SECONDS_RUN - 1))
	wait_s=$(awk -v t0="$T0" -v t="$t" -v now="$(now)" 'BEGIN { d = t0 + t - now; print (d > 0 ? d : 0) }')
	sleep "$wait_s"
	kill -0 "$WRK_PID" 2>/dev/null || break
	sample "$t" || break
	read -r _ rss fds < <(tail -1 "$SAMPLES")
	say "t=${t}s VmRSS $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') MiB, open files $fds"
	[ "$t" -lt $((SECONDS_RUN - 1)) ] || break
	t=$((t + INTERVAL))
done
wrk_rc=0
wait "$WRK_PID" || wrk_rc=$?
ALIVE=yes
kill -0 "$DAEMON_PID" 2>/dev/null || ALIVE=no
# After wrk has closed its connections (information only).
sleep 1
[ "$ALIVE" = no ] || sample after || true
HEALTHZ=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/healthz" || true)

line=$(grep '^SOAK ' "$BENCH_TMP/wrk.out" || true)
status_line=$(grep '^SOAK_STATUS' "$BENCH_TMP/wrk.out" || true)
field() { printf '%s' "$line" | sed -nE "s/.*[ ]$1=([0-9.]+).*/\\1/p"; }
ms() { awk -v u="$(field "$1")" 'BEGIN { printf "%.2f", u / 1000 }'; }

echo
echo "== bench/soak.sh: ${SECONDS_RUN}s, $CONNS connections, $N customers, segmentd serve ${SERVE_FLAGS[*]:-(defaults)} --log-level warn"
machine_info
echo "wrk output:"
grep -v '^SOAK' "$BENCH_TMP/wrk.out" | sed 's/^/  /'
FAIL=
if [ "$wrk_rc" != 0 ] || [ -z "$line" ]; then
	echo "wrk failed (exit $wrk_rc) or printed no summary"
	FAIL+=" wrk"
	errors=unknown
else
	printf 'requests %s in %.1f s: %.0f req/s; latency p50 %s ms, p90 %s ms, p99 %s ms, p99.9 %s ms, max %s ms\n' \
		"$(field requests)" "$(awk -v u="$(field duration_us)" 'BEGIN { print u / 1e6 }')" "$(field rps)" \
		"$(ms p50_us)" "$(ms p90_us)" "$(ms p99_us)" "$(ms p999_us)" "$(ms max_us)"
	echo "statuses: ${status_line#SOAK_STATUS }"
	errors=0
	for f in unexpected connect read write timeout; do
		errors=$((errors + $(field $f)))
	done
	printf 'errors %s: unexpected statuses %s (of them 503: %s), socket errors connect %s, read %s, write %s, timeout %s\n' \
		"$errors" "$(field unexpected)" "$(field s503)" "$(field connect)" "$(field read)" \
		"$(field write)" "$(field timeout)"
	[ "$errors" = 0 ] || FAIL+=" errors"
fi

echo "samples of the daemon (pid $DAEMON_PID):"
printf '  %8s %12s %10s\n' 't (s)' 'VmRSS (MiB)' 'open files'
awk '{ printf "  %8s %12.1f %10d\n", $1, $2 / 1024, $3 }' "$SAMPLES"
# The reference: the first sample at or after WARMUP; the end: the last one during the run.
REF_T=
END_T=
read -r REF_T REF_RSS REF_FDS < <(awk -v w="$WARMUP" '$1 != "after" && $1 >= w { print; exit }' "$SAMPLES") || true
read -r END_T END_RSS END_FDS < <(awk '$1 != "after"' "$SAMPLES" | tail -1) || true
read -r FIRST_T FIRST_RSS FIRST_FDS < <(head -1 "$SAMPLES") || true
MAX_RSS=$(awk '$1 != "after" && $2 > m { m = $2 } END { print m }' "$SAMPLES")
MAX_FDS=$(awk '$1 != "after" && $3 > m { m = $3 } END { print m }' "$SAMPLES")
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
if [ -z "${REF_T:-}" ] || [ "$REF_T" = "$END_T" ]; then
	echo "too few samples for the flatness checks (daemon or wrk ended early)"
	FAIL+=" samples"
else
	printf 'VmRSS:      first %s MiB (t=%s), reference %s MiB (t=%s), end %s MiB (t=%s), max %s MiB\n' \
		"$(mib "$FIRST_RSS")" "$FIRST_T" "$(mib "$REF_RSS")" "$REF_T" "$(mib "$END_RSS")" "$END_T" "$(mib "$MAX_RSS")"
	printf 'open files: first %s (t=%s), reference %s (t=%s), end %s (t=%s), max %s\n' \
		"$FIRST_FDS" "$FIRST_T" "$REF_FDS" "$REF_T" "$END_FDS" "$END_T" "$MAX_FDS"
	if awk -v e="$END_RSS" -v r="$REF_RSS" 'BEGIN { exit !(e > r * 1.2 && e - r > 8192) }'; then
		echo "VmRSS grew: end is more than 20 % and more than 8 MiB above the reference"
		FAIL+=" rss"
	fi
	if [ $((END_FDS - REF_FDS)) -gt 16 ]; then
		echo "open files grew by $((END_FDS - REF_FDS)) (more than 16) since the reference"
		FAIL+=" fds"
	fi
fi
echo "daemon alive after the run: $ALIVE; /healthz: $HEALTHZ"
[ "$ALIVE" = yes ] && [ "$HEALTHZ" = 200 ] || FAIL+=" daemon"
logged=$(grep -c . "$DAEMON_LOG" || true)
echo "daemon log (warn and above): $logged lines"
[ "$logged" = 0 ] || tail -5 "$DAEMON_LOG" | cut -c1-300 | sed 's/^/  /'
echo "limits: errors 0; VmRSS end <= reference + max(20 %, 8 MiB); open files end <= reference + 16"
if [ -n "$FAIL" ]; then
	echo "verdict: FAIL (${FAIL# })"
	exit 1
fi
echo "verdict: PASS"

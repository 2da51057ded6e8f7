# bench/common.sh — shared by bench/import.sh, bench/get.sh and bench/soak.sh (sourced, not run).
#
# Gives a benchmark a throw-away world and takes it all down again on exit:
#   - a PostgreSQL 15 cluster of its own (initdb under a temp dir, run as the `postgres` user
#     when we are root), listening only on a unix socket in that temp dir, fsync and
#     synchronous_commit at their defaults;
#   - a copy of build/segmentd (built with `make build/segmentd`), so a concurrent rebuild by
#     somebody else cannot swap the binary under a running benchmark;
#   - the migrations, one tenant with a read,write,admin key ($KEY, tenant id $TENANT_ID);
#   - segmentd itself (start_daemon / stop_daemon), on a free port in 18000-18999.
# Nothing here is part of `make test`, and nothing asserts on timings.
#
# Environment:
#   PGBIN          PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#   BENCH_PG_OPTS  extra postgres -c settings for the cluster, applied to both sides of every
#                  comparison (default: shared_buffers=512MB max_connections=200)
#   BENCH_KEEP     set to keep the temp dir (the data files are removed anyway with the cluster);
#                  BENCH_KEEP=pg also leaves the cluster running, to look into (it prints how
#                  to reach it and how to stop it)
#   BENCH_STATEMENTS=N  load pg_stat_statements and print, when the benchmark ends, the N
#                  statements that took the most database time (where the time went)
set -eu

cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.."
ROOT=$(pwd -P)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BENCH_PG_OPTS=${BENCH_PG_OPTS:-"-c shared_buffers=512MB -c max_connections=200"}
BENCH_STATEMENTS=${BENCH_STATEMENTS:-0}
[ "$BENCH_STATEMENTS" -gt 0 ] &&
	BENCH_PG_OPTS="$BENCH_PG_OPTS -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

for tool in curl psql; do
	command -v $tool >/dev/null 2>&1 || die "$tool is missing"
done
[ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb not found: install postgresql-15"

BENCH_TMP=$(mktemp -d /tmp/segbench.XXXXXX)
chmod 711 "$BENCH_TMP"
PGDATA=$BENCH_TMP/pg
PGSOCK=$BENCH_TMP/sock
PGLOG=$BENCH_TMP/postgresql.log
DAEMON_LOG=$BENCH_TMP/segmentd.log
DAEMON_PID=
PG_STARTED=

if [ "$(id -u)" = 0 ]; then
	PGOWNER=postgres
	as_pg() { (cd / && runuser -u "$PGOWNER" -- "$@"); }
else
	PGOWNER=$(id -un)
	as_pg() { (cd / && "$@"); }
fi

cleanup() {
	rc=$?
	trap - EXIT INT TERM
	stop_daemon || true
	if [ -n "$PG_STARTED" ] && [ "$BENCH_STATEMENTS" -gt 0 ]; then
		say "the $BENCH_STATEMENTS statements that took the most time (s, calls, ms per call):"
		psql -AtX -F ' | ' -c "SELECT round(total_exec_time::numeric / 1000, 2), calls,
			round(mean_exec_time::numeric, 2), left(regexp_replace(query, '\s+', ' ', 'g'), 160)
			FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT $BENCH_STATEMENTS" >&2 || true
	fi
	if [ -n "$PG_STARTED" ] && [ "${BENCH_KEEP:-}" = pg ]; then
		say "the cluster still runs: psql -h $PGSOCK -p $PGPORT -U postgres segbench;" \
			"stop it with: runuser -u $PGOWNER -- $PGBIN/pg_ctl stop -D $PGDATA"
		exit $rc
	fi
	if [ -n "$PG_STARTED" ]; then
		as_pg "$PGBIN/pg_ctl" stop -D "$PGDATA" -m fast -w >/dev/null 2>&1 ||
			as_pg "$PGBIN/pg_ctl" stop -D "$PGDATA" -m immediate -w >/dev/null 2>&1 || true
	fi
	if [ -n "${BENCH_KEEP:-}" ]; then
		rm -rf "$PGDATA"
		say "kept $BENCH_TMP"
	else
		rm -rf "$BENCH_TMP"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port in 18000-18999 that nothing listens on.
free_port() {
	for _ in $(seq 1 50); do
		p=$((18000 + $(od -An -N2 -tu2 /dev/urandom) % 1000))
		if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	die "no free port in 18000-18999"
}

# Starts the cluster and creates database `segbench`; exports DATABASE_URL and PG* for psql.
start_pg() {
	mkdir -p "$PGDATA" "$PGSOCK"
	chmod 700 "$PGDATA" "$PGSOCK"
	[ "$(id -u)" = 0 ] && chown "$PGOWNER:" "$PGDATA" "$PGSOCK"
	PGPORT=$(free_port) # names the socket only: listen_addresses is empty
	as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
		>"$BENCH_TMP/initdb.log" 2>&1 || die "initdb failed: $(tail -5 "$BENCH_TMP/initdb.log")"
	touch "$PGLOG" && [ "$(id -u)" = 0 ] && chown "$PGOWNER:" "$PGLOG"
	as_pg "$PGBIN/pg_ctl" start -D "$PGDATA" -l "$PGLOG" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$PGSOCK' -p $PGPORT $BENCH_PG_OPTS" \
		>/dev/null || die "PostgreSQL did not start: $(tail -5 "$PGLOG")"
	PG_STARTED=1
	export PGHOST=$PGSOCK PGPORT PGUSER=postgres PGDATABASE=segbench
	psql -qX -d postgres -c 'CREATE DATABASE segbench' >/dev/null
	[ "$BENCH_STATEMENTS" -gt 0 ] && psql -qX -c "CREATE EXTENSION pg_stat_statements" >/dev/null
	export DATABASE_URL="host=$PGSOCK port=$PGPORT user=postgres dbname=segbench"
	say "PostgreSQL $(psql -AtX -c 'SHOW server_version') on $PGSOCK:$PGPORT" \
		"(fsync=$(psql -AtX -c 'SHOW fsync'), synchronous_commit=$(psql -AtX -c 'SHOW synchronous_commit')," \
		"shared_buffers=$(psql -AtX -c 'SHOW shared_buffers'))"
}

# Builds the daemon and copies it into the temp dir ($SEGMENTD).
build_daemon() {
	say "make build/segmentd"
	make -s -C "$ROOT" build/segmentd >&2 || die "build failed"
	SEGMENTD=$BENCH_TMP/segmentd
	cp "$ROOT/build/segmentd" "$SEGMENTD"
}

# Migrates and creates one key; sets KEY and TENANT_ID.
setup_tenant() {
	"$SEGMENTD" migrate >"$BENCH_TMP/migrate.log" 2>&1 || die "migrate failed: $(tail -5 "$BENCH_TMP/migrate.log")"
	KEY=$("$SEGMENTD" keys create --tenant bench --scopes read,write,admin 2>/dev/null | tail -n 1)
	case $KEY in sgd_*) ;; *) die "keys create printed no key" ;; esac
	TENANT_ID=$(psql -AtX -c "SELECT id FROM tenants WHERE name = 'bench'")
}

# start_daemon [serve flags...]: starts segmentd and waits for /healthz; sets DAEMON_PID, PORT, BASE.
start_daemon() {
	PORT=$(free_port)
	BASE=http://127.0.0.1:$PORT
	"$SEGMENTD" serve --listen "127.0.0.1:$PORT" --log-level warn "$@" >>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 1 100); do
		if curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null; then
			say "segmentd $* (pid $DAEMON_PID) on $BASE"
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || die "segmentd exited: $(tail -5 "$DAEMON_LOG")"
		sleep 0.1
	done
	die "segmentd did not answer /healthz"
}

stop_daemon() {
	[ -n "${DAEMON_PID:-}" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
}

# Peak resident set of the daemon (VmHWM) in KiB, and a way to reset it between runs.
daemon_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$DAEMON_PID/status"; }
daemon_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status"; }
daemon_hwm_reset() { echo 5 >"/proc/$DAEMON_PID/clear_refs"; }

now() { date +%s.%N; }
# secs T0 T1: the seconds between two `now`s, to the millisecond.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
# The median of the numbers on stdin, one a line.
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# api METHOD PATH [BODY]: a request to the daemon with the tenant's key (after start_daemon).
api() {
	curl -sS --fail-with-body -X "$1" "$BASE$2" -H "Authorization: Bearer $KEY" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"}
}
# jget JSON KEY: a top-level member, as text.
jget() { printf '%s' "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }
# analysis_seconds BODY: POSTs an analysis and polls it every 50 ms until it succeeded; prints
# the seconds from the POST; the analysis's id goes to $BENCH_TMP/last_id. Dies when it fails.
analysis_seconds() {
	local t0 t1 out id st
	t0=$(now)
	out=$(api POST /v1/analyses "$1")
	id=$(jget "$out" id)
	[ -n "$id" ] || die "no analysis id in: ${out:0:300}"
	for _ in $(seq 1 180000); do
		st=$(jget "$(api GET "/v1/analyses/$id")" status)
		case $st in
		succeeded) break ;;
		failed | cancelled) die "analysis $id $st: $(api GET "/v1/analyses/$id" | head -c 400)" ;;
		esac
		sleep 0.05
	done
	t1=$(now)
	echo "$id" >"$BENCH_TMP/last_id"
	secs "$t0" "$t1"
}
# CPU seconds (user + system) used so far by the cluster (its exited backends included, as
# the postmaster reaped them) and by the processes named, e.g. `cpu_s $DAEMON_PID`: a figure
# that other work on the machine disturbs far less than the wall clock.
cpu_s() {
	local pm tck
	pm=$(head -1 "$PGDATA/postmaster.pid")
	tck=$(getconf CLK_TCK)
	{
		awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
		for p in $(ps --ppid "$pm" -o pid= 2>/dev/null) "$@"; do
			awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true
		done
	} | awk -v t="$tck" '{ s += $1 } END { printf "%.2f", s / t }'
}
# fmt_rate ROWS SECONDS
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Writes N customers (ids c-1..c-N, 5 attributes) as NDJSON to FILE; deterministic (seed 42).
gen_customers() {
	awk -v n="$1" 'BEGIN {
		srand(42)
		split("DE FR US GB ES IT NL PL SE JP BR IN CA AU MX", cc, " ")
		split("free pro team enterprise", pl, " ")
		for (i = 1; i <= n; i++) {
			printf "{\"id\": \"c-%d\", \"attributes\": {\"age\": %d, \"country\": \"%s\", " \
				"\"plan\": \"%s\", \"score\": %.4f, \"signup_date\": \"%04d-%02d-%02d\"}}\n",
				i, 18 + int(rand() * 70), cc[1 + int(rand() * 15)], pl[1 + int(rand() * 4)],
				rand() * 100, 2015 + int(rand() * 11), 1 + int(rand() * 12), 1 + int(rand() * 28)
		}
	}' >"$2"
}

# NDJSON as written by gen_customers -> COPY text rows "tenant_id \t id \t attributes".
# The generated data holds no backslash, tab or newline inside values, so no escaping is needed.
ndjson_to_copy() {
	if grep -q '\\' "$1"; then die "$1 holds backslashes: ndjson_to_copy would need escaping"; fi
	sed -E "s/^\\{\"id\": \"([^\"]*)\", \"attributes\": (.*)\\}\$/$TENANT_ID\t\\1\t\\2/" "$1" >"$2"
}

# import_file FILE [QUERY]: POSTs FILE to the customers import; the answer goes to stdout.
import_file() {
	curl -sS --fail-with-body -X POST "$BASE/v1/customers:import${2:-}" \
		-H "Authorization: Bearer $KEY" -H 'Content-Type: application/x-ndjson' \
		--data-binary @"$1"
}

# json_field JSON NAME: a top-level integer member.
json_field() { printf '%s' "$1" | sed -nE "s/.*\"$2\":([0-9]+).*/\\1/p"; }

machine_info() {
	printf 'machine: %s cores, %s, %s GiB RAM; load average %s\n' "$(nproc)" \
		"$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
		"$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)" \
		"$(cut -d' ' -f1-3 /proc/loadavg)"
	printf 'commit: %s (segmentd built from the work tree: %s); date: %s\n' \
		"$(git -C "$ROOT" rev-parse --short HEAD)" "$(git -C "$ROOT" describe --always --dirty)" \
		"$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

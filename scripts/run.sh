#!/bin/sh
# scripts/run.sh — what `make run` does after building: segmentd on a PostgreSQL 15 cluster of
# its own, kept under var/ (never the system cluster).
#
#   scripts/run.sh [serve] [FLAGS...]  start the local cluster (create it the first time),
#                                      create an API key once, then run `segmentd serve FLAGS...`
#                                      in the foreground (Ctrl-C stops it)
#   scripts/run.sh db                  only create/start the local cluster; prints
#                                      `export DATABASE_URL=...` (so: eval "$(scripts/run.sh db)")
#   scripts/run.sh psql                open psql on the local database
#   scripts/run.sh stop                stop the local cluster
#
# Files: var/pg (data directory), var/run (socket directory), var/log/postgresql.log,
# var/api-key (the key of tenant `default`, mode 600). The cluster listens on a unix socket in
# var/run only, never on TCP; its port (SEGMENTD_PG_PORT, default 5499) only names the socket.
# As root, PostgreSQL (which refuses to run as root) runs as the `postgres` user.
# Environment: SEGMENTD_PG_PORT, SEGMENTD_PG_BIN (default /usr/lib/postgresql/15/bin),
# SEGMENTD_BIN (default build/segmentd), and every SEGMENTD_* setting of the daemon.
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
VAR=$ROOT/var
PGDATA=$VAR/pg
SOCKDIR=$VAR/run
LOGDIR=$VAR/log
LOGFILE=$LOGDIR/postgresql.log
KEYFILE=$VAR/api-key
PORT=${SEGMENTD_PG_PORT:-5499}
PGBIN=${SEGMENTD_PG_BIN:-/usr/lib/postgresql/15/bin}
SEGMENTD=${SEGMENTD_BIN:-$ROOT/build/segmentd}
DBNAME=segmentd
DBUSER=segmentd

say() { printf 'run.sh: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# Shell-quotes $1 for printing.
shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# Quotes $1 as a libpq conninfo value when it needs it.
connquote() {
	case $1 in
	*[[:space:]\'\\]* | '') printf "'%s'" "$(printf '%s' "$1" | sed "s/[\\\\']/\\\\&/g")" ;;
	*) printf '%s' "$1" ;;
	esac
}

case $PORT in
'' | *[!0-9]*) die "SEGMENTD_PG_PORT must be a port number, not '$PORT'" ;;
esac
[ -x "$PGBIN/pg_ctl" ] || die "$PGBIN/pg_ctl not found: install postgresql-15 (make deps)"

if [ "$(id -u)" = 0 ]; then IS_ROOT=1; else IS_ROOT=; fi

# The operating-system user that owns the cluster and runs PostgreSQL.
if [ -f "$PGDATA/PG_VERSION" ]; then
	PGOWNER=$(stat -c %U "$PGDATA")
elif [ "$IS_ROOT" ]; then
	PGOWNER=postgres
else
	PGOWNER=$(id -un)
fi
if [ "$IS_ROOT" ]; then
	[ "$PGOWNER" != root ] || die "$PGDATA belongs to root; PostgreSQL cannot run as root (remove var/pg)"
	id -u "$PGOWNER" >/dev/null 2>&1 || die "user $PGOWNER does not exist: install postgresql-15 (make deps)"
elif [ "$PGOWNER" != "$(id -un)" ]; then
	die "$PGDATA belongs to $PGOWNER: run this as $PGOWNER or as root, or remove var/"
fi

# Runs a command as the cluster's owner, from / (its working directory may be unreadable).
as_pg() {
	if [ "$IS_ROOT" ]; then
		(cd / && runuser -u "$PGOWNER" -- "$@")
	else
		(cd / && "$@")
	fi
}

pg_running() { as_pg "$PGBIN/pg_ctl" status -D "$PGDATA" >/dev/null 2>&1; }

# As root: PGOWNER must be able to traverse every directory down to var/. Where it cannot
# (a repository under /root, which is 0700), grant it traverse permission only.
grant_traverse() {
	rest=${VAR#/}
	cur=
	while [ -n "$rest" ]; do
		comp=${rest%%/*}
		case $rest in
		*/*) rest=${rest#*/} ;;
		*) rest= ;;
		esac
		cur=$cur/$comp
		runuser -u "$PGOWNER" -- test -x "$cur" && continue
		command -v setfacl >/dev/null 2>&1 ||
			die "user $PGOWNER cannot enter $cur and setfacl is missing: install acl (make deps)"
		setfacl -m "u:$PGOWNER:x" "$cur" ||
			die "user $PGOWNER cannot enter $cur and setfacl failed: run the repository from elsewhere"
		say "granted user $PGOWNER traverse permission on $cur: setfacl -m u:$PGOWNER:x $cur"
		say "    (undo with: setfacl -x u:$PGOWNER $cur)"
	done
}

# Creates the cluster if needed, starts it if not running, creates the database once.
# Sets DATABASE_URL (exported) and FRESH (non-empty when the database was created just now).
prepare_db() {
	FRESH=
	mkdir -p "$VAR" "$SOCKDIR" "$LOGDIR"
	chmod 700 "$SOCKDIR"
	if [ "$IS_ROOT" ]; then
		chown "$PGOWNER:" "$SOCKDIR" "$LOGDIR"
		grant_traverse
	fi

	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		if [ -d "$PGDATA" ] && [ -n "$(ls -A "$PGDATA")" ]; then
			die "$PGDATA is not empty but holds no cluster: remove it"
		fi
		mkdir -p "$PGDATA"
		chmod 700 "$PGDATA"
		[ -z "$IS_ROOT" ] || chown "$PGOWNER:" "$PGDATA"
		say "creating a PostgreSQL cluster in var/pg (run as $PGOWNER)"
		if ! as_pg "$PGBIN/initdb" -D "$PGDATA" -U "$DBUSER" -A trust -E UTF8 --no-locale \
			>"$LOGDIR/initdb.log" 2>&1; then
			cat "$LOGDIR/initdb.log" >&2
			die "initdb failed"
		fi
		# Port and socket come from segmentd.conf, rewritten at each start.
		printf "\ninclude_if_exists = 'segmentd.conf'\n" >>"$PGDATA/postgresql.conf"
	fi
	version=$(cat "$PGDATA/PG_VERSION")
	[ "$version" = 15 ] || die "var/pg holds a PostgreSQL $version cluster, not 15: remove var/pg"

	if pg_running; then
		:
	else
		sockconf=$(printf '%s' "$SOCKDIR" | sed "s/'/''/g")
		cat >"$PGDATA/segmentd.conf" <<EOF
# Written by scripts/run.sh at each start: a unix socket in var/run only, no TCP.
listen_addresses = ''
port = $PORT
unix_socket_directories = '$sockconf'
unix_socket_permissions = 0700
EOF
		[ -z "$IS_ROOT" ] || chown "$PGOWNER:" "$PGDATA/segmentd.conf"
		say "starting PostgreSQL (var/pg, socket in var/run, port $PORT, log var/log/postgresql.log)"
		if ! as_pg "$PGBIN/pg_ctl" start -D "$PGDATA" -l "$LOGFILE" -w -t 60 -s; then
			tail -n 20 "$LOGFILE" >&2 || true
			die "PostgreSQL did not start; see $LOGFILE"
		fi
	fi

	# The running server's own port and socket directory (it may have been started earlier
	# with another SEGMENTD_PG_PORT).
	port=$(sed -n 4p "$PGDATA/postmaster.pid")
	sock=$(sed -n 5p "$PGDATA/postmaster.pid")
	[ "$port" = "$PORT" ] || say "note: the local cluster is already running on port $port"
	"$PGBIN/pg_isready" -q -h "$sock" -p "$port" -t 30 || die "PostgreSQL is not ready; see $LOGFILE"

	exists=$("$PGBIN/psql" -X -At -h "$sock" -p "$port" -U "$DBUSER" -d postgres \
		-c "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'")
	if [ "$exists" != 1 ]; then
		say "creating database $DBNAME"
		"$PGBIN/createdb" -h "$sock" -p "$port" -U "$DBUSER" "$DBNAME"
		FRESH=1
	fi

	DATABASE_URL="host=$(connquote "$sock") port=$port dbname=$DBNAME user=$DBUSER"
	export DATABASE_URL

	# A key kept from an earlier database means nothing in a new one.
	if [ "$FRESH" ] && [ -e "$KEYFILE" ]; then
		say "new database: discarding the old var/api-key"
		rm -f "$KEYFILE"
	fi
}

# Creates the API key of tenant `default` once and keeps it in var/api-key; sets KEY.
ensure_key() {
	if [ ! -s "$KEYFILE" ]; then
		[ -x "$SEGMENTD" ] || die "$SEGMENTD not found: build it first (make run does)"
		say "applying migrations"
		"$SEGMENTD" migrate >&2 || die "segmentd migrate failed"
		say "creating an API key for tenant default (scopes read,write,admin)"
		out=$("$SEGMENTD" keys create --tenant default --scopes read,write,admin) ||
			die "segmentd keys create failed"
		key=$(printf '%s\n' "$out" | tail -n 1)
		case $key in
		'' | *[[:space:]]*) die "segmentd keys create printed no key on its last line" ;;
		esac
		(umask 077 && printf '%s\n' "$key" >"$KEYFILE.tmp")
		mv -f "$KEYFILE.tmp" "$KEYFILE"
	fi
	chmod 600 "$KEYFILE"
	KEY=$(head -n 1 "$KEYFILE")
}

cmd=${1:-serve}
[ $# -eq 0 ] || shift
case $cmd in
serve)
	prepare_db
	ensure_key
	listen=${SEGMENTD_LISTEN:-127.0.0.1:8080}
	case $listen in
	0.0.0.0:*) listen=127.0.0.1:${listen#0.0.0.0:} ;;
	'[::]:'*) listen="[::1]:${listen#'[::]:'}" ;;
	esac
	cat >&2 <<EOF

API key of tenant "default" (kept in var/api-key):
    $KEY
Try, from another terminal:
    KEY=\$(cat var/api-key)
    curl -H "Authorization: Bearer \$KEY" http://$listen/v1/customers
Database: DATABASE_URL=$(shquote "$DATABASE_URL")   (psql: scripts/run.sh psql)
Ctrl-C stops segmentd; the PostgreSQL cluster under var/ keeps running.
Stop it with: scripts/run.sh stop

EOF
	exec "$SEGMENTD" serve "$@"
	;;
db)
	prepare_db
	printf 'export DATABASE_URL=%s\n' "$(shquote "$DATABASE_URL")"
	;;
psql)
	prepare_db
	PGHOST=$sock PGPORT=$port PGUSER=$DBUSER PGDATABASE=$DBNAME
	export PGHOST PGPORT PGUSER PGDATABASE
	exec "$PGBIN/psql" "$@"
	;;
stop)
	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		say "no local cluster in var/pg"
	elif pg_running; then
		as_pg "$PGBIN/pg_ctl" stop -D "$PGDATA" -m fast -w -s
		say "local PostgreSQL stopped"
	else
		say "local PostgreSQL is not running"
	fi
	;;
-h | --help | help)
	sed -n '2,/^set -eu/p' "$ROOT/scripts/run.sh" | sed '$d; s/^# \{0,1\}//'
	;;
*)
	die "unknown command '$cmd' (serve, db, psql, stop, help)"
	;;
esac

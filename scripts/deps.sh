#!/bin/sh
# Installs what building, running and testing segmentd needs on Debian 12 (bookworm).
# Called by `make deps` (and so by `make run`, `make test`, `make asan`).
# Quiet and fast when everything is there; otherwise, as root, runs apt-get; not as root,
# says what to install and exits 1.
set -eu

# build-essential pkg-config: compiler, make, pkg-config for the Makefile
# lib*-dev: libmicrohttpd (HTTP), jansson (JSON), libuv (event loop), libpq (PostgreSQL),
#           OpenSSL libcrypto (SHA-256 of API keys), libcsv (CSV imports), cmocka (unit tests)
# postgresql-15 postgresql-contrib: the server for `make run` and the tests
# postgresql-common: pg_virtualenv (throw-away PostgreSQL for the tests)
# python3-numpy python3-scipy python3-sklearn: the reference the analytics tests compare with
#           (tests/analytics; run with /usr/bin/python3, Debian's own)
# python3: API tests; curl: examples and smoke checks; git: version string
# acl: setfacl, used by scripts/run.sh when the postgres user cannot reach var/
# clang-format: the tests check that the C sources keep the committed .clang-format
# clang libclang-rt-14-dev: the libFuzzer drivers in tests/fuzz
PKGS="build-essential pkg-config libmicrohttpd-dev libjansson-dev libuv1-dev libpq-dev
libssl-dev libcsv-dev libcmocka-dev postgresql-15 postgresql-contrib postgresql-common
python3 python3-numpy python3-scipy python3-sklearn curl git ca-certificates acl clang-format clang libclang-rt-14-dev"

# The OpenAPI linter (@redocly/cli) runs on Node; any npm on PATH will do.
if ! command -v npm >/dev/null 2>&1; then
	PKGS="$PKGS nodejs npm"
fi

missing=
for p in $PKGS; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $status in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing Debian packages:$missing" >&2
	echo "deps.sh: install them as root:" >&2
	echo "    apt-get update && apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi

echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing

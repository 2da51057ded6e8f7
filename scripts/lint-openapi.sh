#!/bin/sh
# Lints openapi.yaml with Redocly CLI (rules: redocly.yaml, the "recommended" set).
# Installs a pinned Redocly CLI into .cache/redocly/<version>/ (git-ignored) the first time;
# installs nodejs and npm with apt-get when npm is missing (Debian 12, as root).
# Fails on any error and on any warning: the description is kept at zero of both.
# The last line is "ok - openapi lint" or "not ok - openapi lint" for the test runner.
#
# Usage: sh scripts/lint-openapi.sh
set -u

# Redocly CLI 2.x needs Node >= 20.19 (or >= 22.12); Debian 12's own nodejs is 18.19, for which
# 1.34.20 is used (1.34.21, the last 1.x, cannot be installed: it needs an unpublished
# @redocly/respect-core@1.34.21). Both are exact pins; the same description passes both cleanly.
REDOCLY_VERSION=2.77.0
REDOCLY_VERSION_NODE18=1.34.20

cd "$(dirname "$0")/.." || exit 1

fail() {
	echo "lint-openapi: $*" >&2
	echo "not ok - openapi lint"
	exit 1
}

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	echo "lint-openapi: npm not found; installing nodejs and npm with apt-get" >&2
	if [ "$(id -u)" -eq 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		fail "npm is missing and this is not root; install nodejs and npm"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update >&2 || fail "apt-get update failed"
	$SUDO apt-get install -y nodejs npm >&2 || fail "apt-get install nodejs npm failed"
fi

node_ok_for_v2=$(node -e '
	const [a, b] = process.versions.node.split(".").map(Number);
	console.log((a === 20 && b >= 19) || (a === 22 && b >= 12) || a > 22 ? "yes" : "no");
') || fail "node does not run"
if [ "$node_ok_for_v2" = yes ]; then
	version=$REDOCLY_VERSION
else
	version=$REDOCLY_VERSION_NODE18
fi

prefix=.cache/redocly/$version
redocly=$prefix/node_modules/.bin/redocly
if [ ! -x "$redocly" ] || [ "$("$redocly" --version 2>/dev/null)" != "$version" ]; then
	echo "lint-openapi: installing @redocly/cli@$version into $prefix" >&2
	mkdir -p "$prefix" || fail "cannot create $prefix"
	npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
		"@redocly/cli@$version" >&2 || fail "npm install @redocly/cli@$version failed"
	[ -x "$redocly" ] || fail "$redocly missing after npm install"
fi

# No update notices or banners, no telemetry; output stays deterministic.
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true REDOCLY_SUPPRESS_NOTIFICATIONS=true REDOCLY_TELEMETRY=off

# Human-readable report first; its exit status is non-zero on any error.
"$redocly" lint --config redocly.yaml openapi.yaml
status=$?

# Then the totals, so that warnings fail too.
totals=$("$redocly" lint --config redocly.yaml --format=json openapi.yaml 2>/dev/null | node -e '
	let s = "";
	process.stdin.on("data", (d) => (s += d));
	process.stdin.on("end", () => {
		try {
			const t = JSON.parse(s).totals;
			console.log(t.errors + " " + t.warnings);
		} catch (e) {
			console.log("? ?");
		}
	});
')
errors=${totals% *}
warnings=${totals#* }
echo "lint-openapi: redocly $version: $errors error(s), $warnings warning(s)" >&2

if [ "$status" -ne 0 ] || [ "$errors" != 0 ] || [ "$warnings" != 0 ]; then
	echo "not ok - openapi lint"
	exit 1
fi
echo "ok - openapi lint"

#!/bin/sh
# Runs the whole test suite and prints "N passed, N failed" as its last line.
#
#   sh tests/run.sh BUILD_DIR               everything below
#   sh tests/run.sh --unit-only BUILD_DIR   unit tests only
#
# (a) every unit test binary BUILD_DIR/tests/test_* (TAP: "ok N - name" / "not ok N - name");
# (b) the API tests: pg_virtualenv -t -v 15 python3 tests/api/run.py --build BUILD_DIR;
# (c) sh scripts/lint-openapi.sh (skipped with a note when missing);
# (d) sh scripts/check-layers.sh (the include layers of STYLE.md);
# (e) the libFuzzer drivers of tests/fuzz, built with clang, replaying their committed corpus;
#     then fuzz_rules and fuzz_bodies explore, in parallel, for FUZZ_SECONDS each (default 60;
#     0 skips), growing build/fuzz/corpus/NAME; a finding (crash, leak, assertion, timeout) is
#     a failed test, its input kept as build/fuzz/NAME-crash-* (or leak-, timeout-...);
# (f) make check-format (the committed .clang-format);
# (g) the analytics reference tests: /usr/bin/python3 tests/analytics/test_NAME.py BUILD_DIR
#     runs BUILD_DIR/tests/analytics_NAME beside NumPy, SciPy and scikit-learn (TAP lines).
# Every line starting with "ok" or "not ok" counts. A part that exits non-zero, or a unit binary
# whose results fall short of its TAP plan, adds a failure of its own even if its TAP lines were
# fine. With SEGMENTD_SANITIZED=1 the binaries are sanitizer builds: ASAN_OPTIONS/UBSAN_OPTIONS
# are set, and the API harness fails when the daemon's stderr has a sanitizer report.
# Exits 0 only when nothing failed.

set -u

unit_only=0
if [ "${1-}" = "--unit-only" ]; then
	unit_only=1
	shift
fi
if [ $# -ne 1 ]; then
	echo "usage: sh tests/run.sh [--unit-only] BUILD_DIR" >&2
	exit 2
fi

# BUILD_DIR is taken relative to the caller's directory; then work from the repository root.
case $1 in
/*) build=$1 ;;
*) build=$(pwd)/$1 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

if [ "${SEGMENTD_SANITIZED-}" = 1 ]; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	export ASAN_OPTIONS UBSAN_OPTIONS SEGMENTD_SANITIZED
fi
# cmocka prints TAP when asked to
CMOCKA_MESSAGE_OUTPUT=TAP
export CMOCKA_MESSAGE_OUTPUT

tmp=$(mktemp -d "${TMPDIR:-/tmp}/segmentd-tests.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; exit 130' INT TERM

passed=0
failed=0

# count FILE: adds the TAP results in FILE to passed/failed; sets n_ok, n_fail.
count() {
	n_ok=$(grep -Ec '^ok( |$)' "$1")
	n_fail=$(grep -Ec '^not ok( |$)' "$1")
	passed=$((passed + n_ok))
	failed=$((failed + n_fail))
}

# check NAME COMMAND...: runs COMMAND; one TAP line "ok - NAME" or, with the end of its output,
# "not ok - NAME".
check() {
	name=$1
	shift
	if "$@" >"$tmp/check.out" 2>&1; then
		echo "ok - $name"
		passed=$((passed + 1))
	else
		tail -30 "$tmp/check.out" | sed 's/^/# /'
		echo "not ok - $name"
		failed=$((failed + 1))
	fi
}

# extra_failure MESSAGE: one more failure, printed as a TAP line.
extra_failure() {
	echo "not ok - $1"
	failed=$((failed + 1))
}

# ----- (a) unit tests -----------------------------------------------------------------------
if command -v timeout >/dev/null 2>&1; then
	limit="timeout 600"
else
	limit=""
fi
found=0
for bin in "$build"/tests/test_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	found=1
	name=$(basename "$bin")
	echo "# unit: $name"
	$limit "$bin" >"$tmp/unit.out" 2>"$tmp/unit.err"
	rc=$?
	cat "$tmp/unit.out"
	count "$tmp/unit.out"
	if [ "$rc" -ne 0 ]; then
		sed 's/^/# stderr: /' "$tmp/unit.err" | tail -n 40
		extra_failure "$name exited with status $rc"
	elif [ "$n_ok" -eq 0 ] && [ "$n_fail" -eq 0 ]; then
		sed 's/^/# stderr: /' "$tmp/unit.err" | tail -n 20
		extra_failure "$name printed no TAP results"
	else
		# a plan "1..N" must be met (a binary that stops early but exits 0 is caught here)
		plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$tmp/unit.out" | head -n 1)
		if [ -n "$plan" ] && [ "$plan" -ne $((n_ok + n_fail)) ]; then
			extra_failure "$name planned $plan tests but reported $((n_ok + n_fail))"
		fi
	fi
done
if [ "$found" -eq 0 ]; then
	echo "# note: no unit test binaries in $build/tests"
fi

# ----- (g) the analytics engines beside NumPy, SciPy and scikit-learn ----------------------
# Debian's own interpreter, which has python3-sklearn (a python3 earlier on PATH may not).
for t in tests/analytics/test_*.py; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .py)
	echo "# analytics: /usr/bin/python3 $t $build"
	$limit /usr/bin/python3 "$t" "$build" >"$tmp/ana.out" 2>"$tmp/ana.err"
	rc=$?
	cat "$tmp/ana.out"
	count "$tmp/ana.out"
	if [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
		sed 's/^/# stderr: /' "$tmp/ana.err" | tail -n 40
		extra_failure "$name exited with status $rc"
	elif [ "$n_ok" -eq 0 ] && [ "$n_fail" -eq 0 ]; then
		extra_failure "$name printed no TAP results"
	fi
done

if [ "$unit_only" -eq 0 ]; then
	# ----- (b) API tests --------------------------------------------------------------------
	echo "# api: pg_virtualenv -t -v 15 python3 tests/api/run.py --build $build"
	if ! command -v pg_virtualenv >/dev/null 2>&1; then
		extra_failure "api tests: pg_virtualenv not found (install postgresql-common)"
	elif ! command -v python3 >/dev/null 2>&1; then
		extra_failure "api tests: python3 not found"
	else
		# -t: clusters in a temporary directory even as root, so parallel runs do not collide
		{
			pg_virtualenv -t -v 15 python3 tests/api/run.py --build "$build" 2>&1
			echo $? >"$tmp/api.rc"
		} | tee "$tmp/api.out"
		rc=$(cat "$tmp/api.rc" 2>/dev/null || echo 99)
		count "$tmp/api.out"
		if [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
			extra_failure "api tests exited with status $rc without a failing test (crash?)"
		fi
	fi

	# ----- (c) openapi lint -----------------------------------------------------------------
	if [ -f scripts/lint-openapi.sh ]; then
		echo "# lint: sh scripts/lint-openapi.sh"
		sh scripts/lint-openapi.sh >"$tmp/lint.out" 2>&1
		rc=$?
		cat "$tmp/lint.out"
		count "$tmp/lint.out"
		if [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
			extra_failure "openapi lint exited with status $rc"
		elif [ "$n_ok" -eq 0 ] && [ "$n_fail" -eq 0 ]; then
			extra_failure "openapi lint printed no result line"
		fi
	else
		echo "# skip: scripts/lint-openapi.sh not found, openapi lint not run"
	fi

	# ----- (d) includes follow the layers of STYLE.md ---------------------------------------
	echo "# layers: sh scripts/check-layers.sh"
	sh scripts/check-layers.sh >"$tmp/layers.out" 2>&1
	cat "$tmp/layers.out"
	count "$tmp/layers.out"

	# ----- (e) the fuzz drivers replay their committed corpus, then two of them explore ------
	echo "# fuzz: make fuzz-build; each driver over tests/fuzz/corpus/NAME"
	if make -s fuzz-build >"$tmp/fuzzbuild.out" 2>&1; then
		for f in build/fuzz/fuzz_*; do
			[ -x "$f" ] || continue
			n=$(basename "$f")
			check "fuzz corpus $n" "$f" -runs=0 "tests/fuzz/corpus/$n"
		done
		seconds=${FUZZ_SECONDS:-60}
		if [ "$seconds" -gt 0 ]; then
			echo "# fuzz: fuzz_rules and fuzz_bodies explore for $seconds s each, in parallel"
			for n in fuzz_rules fuzz_bodies; do
				mkdir -p "build/fuzz/corpus/$n"
				dict=""
				[ -f "tests/fuzz/$n.dict" ] && dict="-dict=tests/fuzz/$n.dict"
				"build/fuzz/$n" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
					$dict -artifact_prefix="build/fuzz/$n-" "build/fuzz/corpus/$n" \
					"tests/fuzz/corpus/$n" >"$tmp/$n.log" 2>&1 &
				eval "pid_$n=\$!"
			done
			for n in fuzz_rules fuzz_bodies; do
				eval "pid=\$pid_$n"
				if wait "$pid"; then
					echo "ok - fuzz $n for $seconds s without a finding"
					passed=$((passed + 1))
				else
					grep -E 'ERROR|Assertion|runtime error|SUMMARY|artifact|#[0-9]+ 0x' \
						"$tmp/$n.log" | head -40 | sed 's/^/# /'
					echo "not ok - fuzz $n for $seconds s: a finding (replay: build/fuzz/$n FILE)"
					failed=$((failed + 1))
				fi
			done
		fi
	else
		tail -20 "$tmp/fuzzbuild.out" | sed 's/^/# /'
		extra_failure "fuzz drivers did not build (clang and libclang-rt-14-dev are needed)"
	fi

	# ----- (f) the C sources keep the committed .clang-format -------------------------------
	echo "# format: make check-format"
	check "clang-format (make format fixes it)" make -s check-format
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

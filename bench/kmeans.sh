#!/usr/bin/env bash
# bench/kmeans.sh [N] [D] [K] — the k-means engine alone (analytics/kmeans.c through
# build/tests/analytics_kmeans's `bench` mode) beside scikit-learn 1.2's KMeans(algorithm=
# "lloyd") on the same data from the same initial centres (scikit-learn's kmeans_plusplus),
# tol 1e-4, max_iter 300: the fit's time (wall clock, and CPU seconds of the process, which
# other work on a shared machine disturbs less) and per iteration, the iterations, the inertia
# of both and the ratio, with 1 and with 2 threads (threadpoolctl limits scikit-learn's OpenMP
# likewise); and the engine's peak memory beyond the matrix (VmHWM after the fit minus before
# it, the matrix already read). Defaults: N = 1,000,000, D = 8, K = 8; blobs with sd 3 around K
# centres in [-10, 10]^D (overlapping). Median of 3 fits each, ours and scikit-learn's
# alternating. Then the k "auto" sweep (k 3..8, n_init 10, silhouette on 3,000 points) with 2
# threads, once each, beside scikit-learn's (KMeans for each k, silhouette_score with
# sample_size 3,000): BENCH_SWEEP=0 skips it. Needs python3-sklearn for /usr/bin/python3. See docs/BENCHMARKS.md. Never part
# of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

N=${1:-1000000}
D=${2:-8}
K=${3:-8}
PY=/usr/bin/python3
$PY -c 'import sklearn, threadpoolctl' 2>/dev/null || die "$PY needs scikit-learn (apt-get install python3-sklearn)"

say "make build/tests/analytics_kmeans"
make -s -C "$ROOT" build/tests/analytics_kmeans >&2 || die "build failed"
DRV=$BENCH_TMP/analytics_kmeans
cp "$ROOT/build/tests/analytics_kmeans" "$DRV"

say "generating $N x $D blobs and scikit-learn's k-means++ centres (k = $K)"
$PY "$ROOT/bench/kmeans.py" gen "$N" "$D" "$K" 42 "$BENCH_TMP/x.bin" "$BENCH_TMP/init.bin"

jf() { printf '%s' "$1" | $PY -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
fmt() { awk -v s="$1" -v c="$2" -v i="$3" 'BEGIN { printf "%.3f / %.3f (%d, %.1f)", s, c, i, 1000 * s / i }'; }

echo
echo "== bench/kmeans.sh N=$N D=$D K=$K"
machine_info
printf '%-8s %-36s %-36s %s\n' threads "ours: wall / CPU s (iter, ms/iter)" \
	"scikit-learn: wall / CPU s (iter, ms/iter)" "ratio wall, CPU"
for T in 1 2; do
	ow=() oc=() sw=() sc=()
	for _ in 1 2 3; do
		OUT=$(cat "$BENCH_TMP/x.bin" "$BENCH_TMP/init.bin" | "$DRV" bench "$N" "$D" "$K" 300 "$T")
		ow+=("$(jf "$OUT" seconds)")
		oc+=("$(jf "$OUT" cpu_seconds)")
		REF=$($PY "$ROOT/bench/kmeans.py" fit "$BENCH_TMP/x.bin" "$D" "$BENCH_TMP/init.bin" "$T" 1)
		sw+=("$(jf "$REF" seconds)")
		sc+=("$(jf "$REF" cpu_seconds)")
	done
	OW=$(median3 "${ow[@]}") OC=$(median3 "${oc[@]}")
	SW=$(median3 "${sw[@]}") SC=$(median3 "${sc[@]}")
	OI=$(jf "$OUT" iterations) SI=$(jf "$REF" iterations)
	printf '%-8s %-36s %-36s %s\n' "$T" "$(fmt "$OW" "$OC" "$OI")" "$(fmt "$SW" "$SC" "$SI")" \
		"$(ratio "$SW" "$OW")x, $(ratio "$SC" "$OC")x faster"
	OIN=$(jf "$OUT" inertia) SIN=$(jf "$REF" inertia)
	printf '         inertia: ours %.10g, scikit-learn %.10g (ours / theirs - 1 = %s)\n' "$OIN" "$SIN" \
		"$(awk -v a="$OIN" -v b="$SIN" 'BEGIN { printf "%.1e", a / b - 1 }')"
	[ "$T" = 1 ] && MEM=$OUT
done
HA=$(jf "$MEM" hwm_after) HB=$(jf "$MEM" hwm_before) MB=$(jf "$MEM" matrix_bytes) EB=$(jf "$MEM" estimate_bytes)
awk -v a="$HA" -v b="$HB" -v m="$MB" -v e="$EB" 'BEGIN {
	printf "memory: the engine'"'"'s peak beyond the matrix %.1f MB = %.2f x the matrix (%.1f MB); seg_kmeans_memory says %.1f MB\n",
		(a - b) / 1e6, (a - b) / m, m / 1e6, e / 1e6 }'

[ "${BENCH_SWEEP:-1}" = 0 ] && exit 0
say "the k auto sweep (3..8, n_init 10, 2 threads): ours, then scikit-learn's"
OUT=$("$DRV" auto "$N" "$D" 3 8 10 300 1e-4 42 2 3000 <"$BENCH_TMP/x.bin")
REF=$($PY "$ROOT/bench/kmeans.py" sweep "$BENCH_TMP/x.bin" "$D" 3 8 10 2 3000 42)
printf 'sweep k 3..8, n_init 10, 2 threads: ours %.2f s (CPU %.2f s, k %s), scikit-learn %.2f s (CPU %.2f s, k %s): %sx faster\n' \
	"$(jf "$OUT" seconds)" "$(jf "$OUT" cpu_seconds)" "$(jf "$OUT" k)" \
	"$(jf "$REF" seconds)" "$(jf "$REF" cpu_seconds)" "$(jf "$REF" k)" \
	"$(ratio "$(jf "$REF" seconds)" "$(jf "$OUT" seconds)")"

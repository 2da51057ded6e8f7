#!/bin/bash
# bench/factor.sh [N] [P] [G] — the factor and discriminant engines alone (no database, no
# API) on N = 1,000,000 rows x P = 10 features (3 latent factors, G = 4 groups, 70 % of the
# rows assigned to a group; bench/factor.py gen, seed 42), beside NumPy / scikit-learn in the
# same run on the same data:
#   factor        seg_factor_fit (auto, varimax) + seg_factor_scores of every row, against
#                 NumPy: corrcoef, eigh, R's varimax, KMO, Bartlett, regression scores
#   discriminant  seg_discriminant_fit (leave-one-out included) + classify every row, against
#                 sklearn LinearDiscriminantAnalysis fit + predict_proba (no leave-one-out:
#                 its cost as literal refits is printed as an estimate, 3 refits x n)
# and the ratios ours / baseline (below 1: ours is faster, as everywhere in
# docs/BENCHMARKS.md); the results of both sides are compared (max |difference| of every row's
# scores and posteriors). Ours is single-threaded; NumPy's BLAS may use both cores. See
# docs/BENCHMARKS.md. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

N=${1:-1000000}
P=${2:-10}
G=${3:-4}
PY=/usr/bin/python3
$PY -c 'import numpy, scipy, sklearn' 2>/dev/null ||
	die "$PY needs numpy, scipy and sklearn (apt-get install python3-sklearn)"

make -s -C "$ROOT" build/obj/analytics/factor.o build/obj/analytics/discriminant.o \
	build/obj/analytics/linalg.o build/obj/analytics/stats.o build/obj/lib/alloc.o
BIN=$BENCH_TMP/factor_bench
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/analytics" -I"$ROOT/lib" -o "$BIN" \
	"$ROOT/bench/factor_bench.c" "$ROOT"/build/obj/analytics/{factor,discriminant,linalg,stats}.o \
	"$ROOT/build/obj/lib/alloc.o" -lm

say "generating $N x $P (bench/factor.py gen)"
$PY "$ROOT/bench/factor.py" gen "$N" "$P" "$G" "$BENCH_TMP/x.f64" "$BENCH_TMP/groups.i32"
say "the engines"
OURS=$("$BIN" "$BENCH_TMP/x.f64" "$BENCH_TMP/groups.i32" "$N" "$P" "$G" \
	"$BENCH_TMP/scores.f64" "$BENCH_TMP/post.f64")
say "NumPy / scikit-learn"
REF=$($PY "$ROOT/bench/factor.py" ref "$N" "$P" "$G" "$BENCH_TMP/x.f64" \
	"$BENCH_TMP/groups.i32" "$BENCH_TMP/scores.f64" "$BENCH_TMP/post.f64")

val() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
echo
echo "== bench/factor.sh N=$N P=$P G=$G"
machine_info
printf 'ours:      %s\n' "$OURS"
printf 'reference: %s\n' "$REF"
FS=$(val "$OURS" factor_s)
NFS=$(val "$REF" numpy_factor_s)
DS=$(val "$OURS" discriminant_s)
LS=$(val "$REF" sklearn_lda_s)
printf 'factor (fit + every score)        ours %7.3f s   NumPy %7.3f s   ratio %s\n' \
	"$FS" "$NFS" "$(ratio "$FS" "$NFS")"
printf 'discriminant (fit+LOO + classify) ours %7.3f s   sklearn (no LOO) %7.3f s   ratio %s\n' \
	"$DS" "$LS" "$(ratio "$DS" "$LS")"
printf 'leave-one-out by sklearn refits (estimate) %s s\n' "$(val "$REF" sklearn_loo_estimate_s)"

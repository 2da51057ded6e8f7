#!/bin/bash
# bench/schemes.sh [M] — the report of a 6-segment scheme over M customers (default 1,000,000),
# beside hand-written SQL computing the same numbers on the same tables in the same run; then
# :snapshot (first, every customer stored; again, nothing changed; after 1 % of the customers
# moved) and the transitions between two snapshots.
#
# Six static segments, made in SQL (memberships inserted directly, sizes set), overlapping and
# leaving about 20 % of the customers in none:
#   s1 g % 10 < 3   s2 g % 7 < 2   s3 g % 5 = 0   s4 g in (600000, 750000]   s5 g % 13 < 4
#   s6 random() < 0.1
# Figures (each over HTTP with curl, median of 5):
#   report        GET /v1/schemes/{id}
# against two hand-written queries in psql on the same cluster (median of 5 each, alternating
# with ours); the ratio is taken against the faster:
#   filters  one GROUP BY customer_id over the scheme's memberships (segment_id IN (...)), a
#            boolean per segment, then count(*) FILTER (...) for every size, assigned count,
#            pair and the overlapping customers, beside count(*) of the customers
#   masks    a bit mask per customer (bit_or of a CASE), customers counted per mask, then the
#            figures summed from those (at most 63) rows with FILTERs
# The report's numbers are checked against both. Never part of `make test`.
set -eu
. "$(dirname "$0")/common.sh"

M=${1:-1000000}

machine_info
start_pg
build_daemon
setup_tenant
start_daemon

# timed CMD...: the seconds CMD takes (its output discarded)
timed() {
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

say "six static segments"
S=()
for i in 1 2 3 4 5 6; do
	seg=$(api POST /v1/segments "{\"name\": \"s$i\", \"type\": \"static\"}")
	S+=("$(jget "$seg" id)")
done

say "generating $M customers and their memberships in SQL"
psql -qX -v ON_ERROR_STOP=1 <<SQL
SELECT setseed(0.42);
INSERT INTO customers (tenant_id, id, attributes)
SELECT $TENANT_ID, 'c-' || g, '{}' FROM generate_series(1, $M) g;
INSERT INTO memberships (tenant_id, segment_id, customer_id)
SELECT $TENANT_ID, x.sid, 'c-' || x.g FROM (
	SELECT ${S[0]} AS sid, g FROM generate_series(1, $M) g WHERE g % 10 < 3
	UNION ALL SELECT ${S[1]}, g FROM generate_series(1, $M) g WHERE g % 7 < 2
	UNION ALL SELECT ${S[2]}, g FROM generate_series(1, $M) g WHERE g % 5 = 0
	UNION ALL SELECT ${S[3]}, g FROM generate_series(1, $M) g
		WHERE g > $M * 6 / 10 AND g <= $M * 3 / 4
	UNION ALL SELECT ${S[4]}, g FROM generate_series(1, $M) g WHERE g % 13 < 4
	UNION ALL SELECT ${S[5]}, g FROM generate_series(1, $M) g WHERE random() < 0.1) x;
UPDATE segments s SET size = (SELECT count(*) FROM memberships m
	WHERE m.tenant_id = s.tenant_id AND m.segment_id = s.id)
WHERE s.tenant_id = $TENANT_ID;
VACUUM ANALYZE;
SQL
MEMBERS=$(psql -AtX -c "SELECT count(*) FROM memberships WHERE tenant_id = $TENANT_ID")
say "$MEMBERS memberships"

IDS="${S[0]},${S[1]},${S[2]},${S[3]},${S[4]},${S[5]}"
scheme=$(api POST /v1/schemes "{\"name\": \"bench\", \"segments\": [\"${S[0]}\", \"${S[1]}\",
	\"${S[2]}\", \"${S[3]}\", \"${S[4]}\", \"${S[5]}\"], \"fallback\": \"Other\"}")
K=$(jget "$scheme" id)

# The natural hand-written query: a boolean per segment, every figure a FILTERed count.
sizes="" assigned="" pairs="" before="false" sum="0"
for i in 0 1 2 3 4 5; do
	sizes="$sizes, count(*) FILTER (WHERE m$i) AS size$i"
	assigned="$assigned, count(*) FILTER (WHERE m$i AND NOT ($before)) AS assigned$i"
	before="$before OR m$i"
	sum="$sum + m$i::int"
	for j in 0 1 2 3 4 5; do
		[ "$j" -gt "$i" ] && pairs="$pairs, count(*) FILTER (WHERE m$i AND m$j) AS p${i}_$j"
	done
done
flags=""
for i in 0 1 2 3 4 5; do flags="$flags, bool_or(segment_id = ${S[$i]}) AS m$i"; done
NATURAL="WITH per AS (SELECT customer_id $flags FROM memberships
	WHERE tenant_id = $TENANT_ID AND segment_id IN ($IDS) GROUP BY customer_id)
SELECT (SELECT count(*) FROM customers WHERE tenant_id = $TENANT_ID) AS customers,
	(SELECT count(*) FROM customers WHERE tenant_id = $TENANT_ID) - count(*) AS unassigned,
	count(*) FILTER (WHERE $sum >= 2) AS overlapping $sizes $assigned $pairs FROM per"

# The same figures from a mask per customer (bit i: segment i), counted per combination, the
# figures summed from the combinations in SQL.
msizes="" massigned="" mpairs=""
for i in 0 1 2 3 4 5; do
	msizes="$msizes, coalesce(sum(n) FILTER (WHERE mask & $((1 << i)) <> 0), 0) AS size$i"
	massigned="$massigned, coalesce(sum(n) FILTER (WHERE mask & $((1 << i)) <> 0 AND mask & $(((1 << i) - 1)) = 0), 0) AS assigned$i"
	for j in 0 1 2 3 4 5; do
		b=$(((1 << i) | (1 << j)))
		[ "$j" -gt "$i" ] && mpairs="$mpairs, coalesce(sum(n) FILTER (WHERE mask & $b = $b), 0) AS p${i}_$j"
	done
done
MASKS="WITH x AS (SELECT mask, count(*) AS n FROM (SELECT bit_or(CASE segment_id
	WHEN ${S[0]} THEN 1 WHEN ${S[1]} THEN 2 WHEN ${S[2]} THEN 4 WHEN ${S[3]} THEN 8
	WHEN ${S[4]} THEN 16 ELSE 32 END) AS mask FROM memberships
	WHERE tenant_id = $TENANT_ID AND segment_id IN ($IDS) GROUP BY customer_id) y GROUP BY mask)
SELECT (SELECT count(*) FROM customers WHERE tenant_id = $TENANT_ID) AS customers,
	(SELECT count(*) FROM customers WHERE tenant_id = $TENANT_ID) - sum(n) AS unassigned,
	sum(n) FILTER (WHERE mask & (mask - 1) <> 0) AS overlapping $msizes $massigned $mpairs FROM x"

say "checking the report against the hand-written SQL"
rep=$(api GET "/v1/schemes/$K")
nat=$(psql -AtX -F ' ' -c "$NATURAL")
msk=$(psql -AtX -F ' ' -c "$MASKS")
[ "$nat" = "$msk" ] || die "the two hand-written queries disagree: $nat / $msk"
ours=$(printf '%s' "$rep" | python3 -c '
import json, sys
r = json.load(sys.stdin)
seg = r["segments"]
ids = [s["id"] for s in seg]
pairs = {(o["a"], o["b"]): o["count"] for o in r["overlaps"]}
out = [r["customers"], r["unassigned"], r["overlapping_customers"]]
out += [s["size"] for s in seg] + [s["assigned"] for s in seg]
out += [pairs.get((ids[i], ids[j]), 0) for i in range(6) for j in range(i + 1, 6)]
print(" ".join(map(str, out)))')
[ "$ours" = "$nat" ] || die "the report says $ours, the hand-written SQL $nat"
say "report agrees: $(printf '%s' "$rep" | head -c 300)..."

psql -qX -c CHECKPOINT
# warm both sides once, then five timed runs each, alternating
timed api GET "/v1/schemes/$K" >/dev/null
timed psql -qX -c "$NATURAL" >/dev/null
REPORT=() NAT=() MSK=()
for _ in 1 2 3 4 5; do
	REPORT+=("$(timed api GET "/v1/schemes/$K")")
	NAT+=("$(timed psql -qX -c "$NATURAL")")
	MSK+=("$(timed psql -qX -c "$MASKS")")
done
REPORT_S=$(printf '%s\n' "${REPORT[@]}" | median)
NAT_S=$(printf '%s\n' "${NAT[@]}" | median)
MSK_S=$(printf '%s\n' "${MSK[@]}" | median)
BEST_S=$(awk -v a="$NAT_S" -v b="$MSK_S" 'BEGIN { print (a < b ? a : b) }')

say "snapshots and transitions"
psql -qX -c CHECKPOINT
SNAP1_S=$(timed api POST "/v1/schemes/$K:snapshot")
SNAP2_S=$(timed api POST "/v1/schemes/$K:snapshot")
# 1 % of the customers move: they leave s1 (most of them then fall to another segment)
psql -qX -v ON_ERROR_STOP=1 -c "DELETE FROM memberships WHERE tenant_id = $TENANT_ID
	AND segment_id = ${S[0]} AND customer_id IN (SELECT 'c-' || g FROM generate_series(1, $M) g
	WHERE g % 10 = 0 AND g % 100 < 30)" >/dev/null
SNAP3_S=$(timed api POST "/v1/schemes/$K:snapshot")
CHANGED=$(psql -AtX -c "SELECT changed FROM scheme_snapshots WHERE scheme_id = $K ORDER BY id DESC LIMIT 1")
FROM=$(psql -AtX -c "SELECT seg_ts(at) FROM scheme_snapshots WHERE scheme_id = $K ORDER BY id LIMIT 1")
TRANS=()
for _ in 1 2 3 4 5; do
	TRANS+=("$(timed api GET "/v1/schemes/$K/transitions?from=$FROM")")
done
TRANS_S=$(printf '%s\n' "${TRANS[@]}" | median)
ROWS=$(psql -AtX -c "SELECT count(*) FROM scheme_assignments WHERE scheme_id = $K")

echo
echo "== bench/schemes.sh M=$M: 6 segments, $MEMBERS memberships"
machine_info
printf 'report (GET, HTTP)        %7.3f s   hand-written SQL %7.3f s (filters %.3f, masks %.3f)   ratio %s (target <= 1.5)\n' \
	"$REPORT_S" "$BEST_S" "$NAT_S" "$MSK_S" "$(ratio "$REPORT_S" "$BEST_S")"
printf 'runs: report %s | filters %s | masks %s\n' "${REPORT[*]}" "${NAT[*]}" "${MSK[*]}"
printf ':snapshot, first (all %s customers stored)  %7.3f s\n' "$M" "$SNAP1_S"
printf ':snapshot, nothing changed                  %7.3f s\n' "$SNAP2_S"
printf ':snapshot, %s customers changed            %7.3f s\n' "$CHANGED" "$SNAP3_S"
printf 'transitions (first -> latest), median of 5  %7.3f s   (%s history rows)\n' "$TRANS_S" "$ROWS"

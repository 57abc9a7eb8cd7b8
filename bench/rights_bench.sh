#!/usr/bin/env bash
# gdpr_erase and gdpr_export against hand-written SQL for the same schema,
# at two database sizes; prints p50/p95/p99 and the ratios. Expects a running
# cluster (test/lib/cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${RIGHTS_SIZES:-"10000 100000"}
SAMPLES=${RIGHTS_SAMPLES:-300}
q() { "$(pg_config --bindir)/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

declare -A p50 p95
printf '\n%-10s %-12s %8s %8s %8s\n' subjects method p50_ms p95_ms p99_ms
for n in $SIZES; do
  db=rights_$n
  q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  q -d "$db" -v subjects="$n" -f bench/rights_setup.sql >/dev/null
  # warm-up: one committed call caches the compiled plan, as in production
  q -d "$db" -c "SELECT gdpr_export('buser', '1')" -c "SELECT count(*) FROM b.measure(20)" >/dev/null
  q -d "$db" -At -F' ' -c "
    CREATE TEMP TABLE m AS SELECT * FROM b.measure($SAMPLES);
    SELECT method,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY ms),
           percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)
      FROM m GROUP BY method ORDER BY method" >"/tmp/rights_$n"
  while read -r method a b c; do
    printf '%-10s %-12s %8.2f %8.2f %8.2f\n' "$n" "$method" "$a" "$b" "$c"
    p50[$n.$method]=$a; p95[$n.$method]=$b
  done <"/tmp/rights_$n"
  rows=$(q -d "$db" -At -c "SELECT sum(reltuples)::bigint FROM pg_class WHERE relnamespace = 'b'::regnamespace AND relkind = 'r'")
  echo "           ($rows rows in 12 tables)"
  q -d postgres -c "DROP DATABASE $db"
done

set -- $SIZES
small=$1; large=${2:-$1}
verdict=PASS
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.2f", a / b }'; }
check() {  # label value limit
  local ok; ok=$(awk -v v="$2" -v l="$3" 'BEGIN { print (v != "" && v + 0 > 0 && v <= l) ? "ok" : "MISS" }')
  [ "$ok" = ok ] || verdict=MISS
  printf '%-56s %6sx %7s %s\n' "$1" "$2" "<= $3x" "$ok"
}
printf '\n%-56s %7s %8s\n' ratio value target
for n in $SIZES; do
  check "erase  p50 vs hand-written, $n subjects" "$(ratio "${p50[$n.ours_erase]:-}" "${p50[$n.hand_erase]:-}")" 1.3
  check "erase  p95 vs hand-written, $n subjects" "$(ratio "${p95[$n.ours_erase]:-}" "${p95[$n.hand_erase]:-}")" 1.3
  check "export p50 vs hand-written, $n subjects" "$(ratio "${p50[$n.ours_export]:-}" "${p50[$n.hand_export]:-}")" 1.3
  check "export p95 vs hand-written, $n subjects" "$(ratio "${p95[$n.ours_export]:-}" "${p95[$n.hand_export]:-}")" 1.3
done
check "erase  p50 at $large vs at $small subjects" "$(ratio "${p50[$large.ours_erase]:-}" "${p50[$small.ours_erase]:-}")" 1.2
check "export p50 at $large vs at $small subjects" "$(ratio "${p50[$large.ours_export]:-}" "${p50[$small.ours_export]:-}")" 1.2
printf '\nrights benchmark: %s\n' "$verdict"

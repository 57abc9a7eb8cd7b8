#!/usr/bin/env bash
# The application load against pg_gdpr: writers encrypting (new contacts,
# page views, new users: first uses of keys), readers decrypting, a DPO
# erasing and exporting, a session shredding keys; pgbench runs each script
# in parallel. Reports throughput per script, erase/export/shred latency
# under load against the same operations alone (same run), errors by
# SQLSTATE, then checks the invariants (bench/load/invariants.sql).
#   USERS=5000 DURATION=180 bench/load_test.sh       (make check: a short run)
# Exit 1 if an invariant is broken or an error is not one the load may
# cause (erased subject 55000, foreign key 23503, serialization 40001,
# deadlock 40P01).
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-5000}
DURATION=${DURATION:-180}
ALONE=${ALONE:-$((DURATION / 6 + 5))}
own_cluster=false
if [ -z "${PGHOST:-}" ]; then
  . test/lib/cluster.sh
  cluster_start >/dev/null
  own_cluster=true
fi
bindir=$(pg_config --bindir)
db=gdpr_load
q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
"$bindir/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
finish() {
  "$bindir/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  if $own_cluster; then cluster_stop; fi
}
trap finish EXIT
q -v users="$USERS" -f bench/load/setup.sql >/dev/null
echo "load test: $USERS users, $((USERS * 4)) contacts, $((USERS * 10)) page views; ${ALONE}s alone, ${DURATION}s under load"

bench() {  # script clients seconds -> pgbench output file
  "$bindir/pgbench" -n -f "bench/load/$1.sql" -c "$2" -j "$2" -T "$3" -D users="$USERS" \
    --failures-detailed "$db" >"$work/$1.out" 2>&1 || true
}
work=$(mktemp -d)
# alone: the DPO and the shredder without the application
bench dpo 1 "$ALONE" & bench shredder 1 "$ALONE" & wait
q -c "UPDATE load.phase SET name = 'under load'"
bench writer 3 "$DURATION" & bench reader 3 "$DURATION" & bench dpo 1 "$DURATION" & bench shredder 1 "$DURATION" & wait

echo "throughput under load (transactions/s of each script, pgbench):"
for s in writer reader dpo shredder; do
  tps=$(grep -oE '^tps = [0-9.]+' "$work/$s.out" | head -1 | cut -d' ' -f3)
  failed=$(grep -oE 'number of failed transactions: [0-9]+' "$work/$s.out" | grep -oE '[0-9]+$' || echo 0)
  aborted=$(grep -c "aborted in command" "$work/$s.out" || true)
  printf '  %-9s %8s tps   failed %s   clients aborted %s\n' "$s" "${tps:-?}" "${failed:-0}" "$aborted"
done
echo "latency, ms (p50 / p95, count):"
q -At -F ' ' <<'SQL' | awk '{printf "  %-7s %-11s p50 %8.2f   p95 %8.2f   n %s\n", $1, $2, $3, $4, $5}'
SELECT op, replace(phase, ' ', '_'), percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY ms), count(*)
  FROM load.latency GROUP BY op, phase ORDER BY op, phase
SQL
echo "errors by SQLSTATE:"
q -At -F ' ' -c "SELECT script, sqlstate, count(*), min(message) FROM load.errors GROUP BY 1, 2 ORDER BY 1, 2" | sed 's/^/  /'
erasures=$(q -At -c "SELECT count(*) FROM gdpr.audit_log WHERE action = 'erase' AND (details ->> 'found')::boolean")
echo "erasures: $erasures; invariants:"
q -At -F ' | ' -f bench/load/invariants.sql | sed 's/^/  /' | tee "$work/invariants"
status=0
if awk -F ' \\| ' '$2 != 0' "$work/invariants" | grep -q .; then echo "load test: an invariant is broken"; status=1; fi
unexpected=$(q -At -c "SELECT string_agg(DISTINCT sqlstate, ' ') FROM load.errors WHERE sqlstate NOT IN ('55000', '23503', '40001', '40P01')")
if [ -n "$unexpected" ]; then echo "load test: unexpected errors: $unexpected"; status=1; fi
if grep -q "aborted in command" "$work"/*.out; then echo "load test: a pgbench client was aborted"; grep -h "aborted" "$work"/*.out | head -3; status=1; fi
rm -rf "$work"
exit $status

#!/usr/bin/env bash
# Consent-aware views against the bare table, on 1,000,000 rows of 100,000
# subjects with a realistic mix of choices: primary-key lookups (pgbench,
# prepared statements) and full scans; a view that decrypts a column
# against reading its ciphertext; INSERT through a view that encrypts
# against INSERT calling gdpr_encrypt(). Ratios of medians of interleaved
# runs in one cluster. Expects a running cluster (test/lib/cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${BENCH_RUNS:-5}
LOOKUP_SECONDS=${CONSENT_LOOKUP_SECONDS:-5}
q() { "$(pg_config --bindir)/psql" -X -q -v ON_ERROR_STOP=1 -d consent_bench "$@"; }
"$(pg_config --bindir)/psql" -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS consent_bench" -c "CREATE DATABASE consent_bench"
# every key of the 100,000 subjects stays cached (the default keeps 16,384)
"$(pg_config --bindir)/psql" -X -q -d postgres -c "ALTER DATABASE consent_bench SET pg_gdpr.key_cache_size = 131072"
q -f bench/consent_setup.sql | grep -E "^Time|^ [a-z_]+ +\| [tf]"
time_query() { q -At -c "SELECT cb.time_ms(\$q\$$1\$q\$)"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A queries=(
  [scan_bare_usage]="SELECT count(*), sum(length(feature)) FROM cb.events"
  [scan_view_usage]="SELECT count(*), sum(length(feature)) FROM cb.events_product_improvement"
  [scan_barrier_only]="SELECT count(*), sum(length(feature)) FROM cb.events_barrier_only"
  [scan_bare_personal]="SELECT count(*), sum(length(detail)) FROM cb.events"
  [scan_view_marketing]="SELECT count(*), sum(length(detail)) FROM cb.events_direct_marketing"
  [read_ciphertext]="SELECT count(*), sum(length(detail_enc)) FROM cb.events"
  [read_decrypt_call]="SELECT count(*), sum(length(gdpr_decrypt(detail_enc, 'cb.events.detail_enc'))) FROM cb.events"
  [read_decrypted]="SELECT count(*), sum(length(detail_enc)) FROM cb.events_service_delivery"
  [insert_encrypt]="INSERT INTO cb.events (event_id, customer_id, feature, detail, detail_enc) SELECT 2000000 + i, 1 + 100 * (i % 1000), 'reports', 'x' || i, gdpr_encrypt('customer', (1 + 100 * (i % 1000))::text, 'secret ' || i, 'cb.events.detail_enc') FROM generate_series(1, 20000) i"
  [insert_view]="INSERT INTO cb.events_service_delivery (event_id, customer_id, detail, detail_enc) SELECT 3000000 + i, 1 + 100 * (i % 1000), 'x' || i, 'secret ' || i FROM generate_series(1, 20000) i"
)
names=(scan_bare_usage scan_view_usage scan_barrier_only scan_bare_personal scan_view_marketing read_ciphertext read_decrypt_call read_decrypted insert_encrypt insert_view)
cleanup="DELETE FROM cb.events WHERE event_id > 1000000"
for name in "${names[@]}"; do time_query "${queries[$name]}" >/dev/null; done
q -c "$cleanup" -c "VACUUM cb.events"
declare -A samples
for run in $(seq "$RUNS"); do
  for name in "${names[@]}"; do
    samples[$name]+="$(time_query "${queries[$name]}") "
  done
  q -c "$cleanup"
done
declare -A ms
for name in "${names[@]}"; do ms[$name]=$(echo "${samples[$name]}" | median); done

# Primary-key lookups: pgbench, one client, prepared statements, interleaved.
cat >/tmp/consent_bare.sql <<'SQL'
\set id random(1, 1000000)
SELECT event_id, customer_id, feature FROM cb.events WHERE event_id = :id;
SQL
cat >/tmp/consent_view.sql <<'SQL'
\set id random(1, 1000000)
SELECT event_id, customer_id, feature FROM cb.events_product_improvement WHERE event_id = :id;
SQL
cat >/tmp/consent_barrier.sql <<'SQL'
\set id random(1, 1000000)
SELECT event_id, customer_id, feature FROM cb.events_barrier_only WHERE event_id = :id;
SQL
tps() { "$(pg_config --bindir)/pgbench" -n -M prepared -c 1 -T "$LOOKUP_SECONDS" -f "$1" consent_bench 2>/dev/null | awk '/^tps/ {print $3; exit}'; }
bare_tps="" ; view_tps="" ; barrier_tps=""
for run in $(seq 3); do
  bare_tps+="$(tps /tmp/consent_bare.sql) "
  view_tps+="$(tps /tmp/consent_view.sql) "
  barrier_tps+="$(tps /tmp/consent_barrier.sql) "
done
bare_tps=$(echo "$bare_tps" | median); view_tps=$(echo "$view_tps" | median); barrier_tps=$(echo "$barrier_tps" | median)
rm -f /tmp/consent_bare.sql /tmp/consent_view.sql /tmp/consent_barrier.sql
q -c "EXPLAIN (COSTS OFF) SELECT event_id, customer_id, feature FROM cb.events_product_improvement WHERE event_id = 42"

printf '\n%-58s %10s\n' "query (median of $RUNS)" "ms"
for name in "${names[@]}"; do printf '%-58s %10.1f\n' "$name: ${queries[$name]:0:48}..." "${ms[$name]}"; done
printf '%-58s %10.0f\n' "pk lookups/s, bare table (pgbench, prepared)" "$bare_tps"
printf '%-58s %10.0f\n' "pk lookups/s, product_improvement view" "$view_tps"
printf '%-58s %10.0f\n' "pk lookups/s, security_barrier view, no filter" "$barrier_tps"

awk -v sb="${ms[scan_bare_usage]}" -v sv="${ms[scan_view_usage]}" -v pb="${ms[scan_bare_personal]}" \
    -v pv="${ms[scan_view_marketing]}" -v rc="${ms[read_ciphertext]}" -v rd="${ms[read_decrypted]}" -v rdc="${ms[read_decrypt_call]}" \
    -v ie="${ms[insert_encrypt]}" -v iv="${ms[insert_view]}" -v bt="$bare_tps" -v vt="$view_tps" \
    -v bo="${ms[scan_barrier_only]}" -v bb="$barrier_tps" 'BEGIN {
  verdict = "PASS"
  printf "\n%-58s %8s %8s\n", "ratio", "value", "target"
  r = bt / vt; ok = r <= 1.10; if (!ok) verdict = "MISS"
  printf "%-58s %7.2fx %8s %s\n", "pk lookup through view vs bare table (time per lookup)", r, "<= 1.10x", ok ? "ok" : "MISS"
  r = sv / sb; ok = r <= 1.3; if (!ok) verdict = "MISS"
  printf "%-58s %7.2fx %8s %s\n", "full scan, legitimate-interest view (objections) vs bare", r, "<= 1.3x", ok ? "ok" : "MISS"
  r = pv / pb; ok = r <= 1.3; if (!ok) verdict = "MISS"
  printf "%-58s %7.2fx %8s %s\n", "full scan, consent view (40 % consented) vs bare", r, "<= 1.3x", ok ? "ok" : "MISS"
  printf "%-58s %7.2fx %8s\n", "  of which the security_barrier view itself: lookup", bt / bb, "(report)"
  printf "%-58s %7.2fx %8s\n", "  of which the security_barrier view itself: scan", bo / sb, "(report)"
  printf "%-58s %7.2fx %8s\n", "  the consent filter alone: lookup, vs barrier-only view", bb / vt, "(report)"
  printf "%-58s %7.2fx %8s\n", "  the consent filter alone: scan, vs barrier-only view", sv / bo, "(report)"
  printf "%-58s %7.2fx %8s\n", "view decrypting one column vs reading its ciphertext", rd / rc, "(report)"
  printf "%-58s %7.2fx %8s\n", "  the same vs calling gdpr_decrypt() on the table", rd / rdc, "(report)"
  printf "%-58s %7.2fx %8s\n", "INSERT through the view vs INSERT with gdpr_encrypt()", iv / ie, "(report)"
  printf "\nconsent-aware views benchmark: %s\n", verdict
}'
"$(pg_config --bindir)/psql" -X -q -d postgres -c "DROP DATABASE consent_bench"

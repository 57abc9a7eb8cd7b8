#!/usr/bin/env bash
# Key operations against a key table of 1,000,000 keys, as ratios against
# the same operations on a key table of a few hundred keys, measured in the
# same run: every key operation is an index lookup, so the ratios stay near
# 1 whatever the number of keys. Also prints the plans of the lookups.
#   KEYS=1000000 RUNS=5 bench/key_table_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/cluster.sh
KEYS=${KEYS:-1000000}
RUNS=${RUNS:-5}
CLUSTER_EXTRA_CONF="shared_buffers = '256MB'
jit = off"
cluster_start >/dev/null
q() { psql_q -At -v ON_ERROR_STOP=1 "$@"; }
q <<'SQL' >/dev/null
CREATE EXTENSION pg_gdpr;
CREATE TABLE users (user_id bigint PRIMARY KEY, email bytea);
SELECT gdpr_register_subject('user', 'users', 'user_id');
SELECT gdpr_tag('users', 'email', 'personal');
CREATE FUNCTION time_ms(statement text) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE t timestamptz := clock_timestamp();
BEGIN EXECUTE statement; RETURN extract(epoch FROM clock_timestamp() - t) * 1000; END $$;
SQL
# One round: 200 new subjects encrypted (a key-cache miss and a key row
# each), 200 shredded, 50 erased, then 200 values decrypted in a new
# session (a cache miss per subject). Milliseconds per operation.
round() {
  local base=$1
  q -c "INSERT INTO users SELECT i, gdpr_encrypt('user', i::text, 'u' || i || '@example.com', 'users.email')
          FROM generate_series($base, $base + 199) i" >/dev/null
  local enc shred erase dec
  enc=$(q -c "SELECT time_ms(\$\$SELECT count(gdpr_encrypt('visitor', 'v' || i, 'x', 'c')) FROM generate_series($base, $base + 199) i\$\$) / 200")
  shred=$(q -c "SELECT time_ms(\$\$SELECT count(gdpr_shred_key('visitor', 'v' || i)) FROM generate_series($base, $base + 199) i\$\$) / 200")
  dec=$(q -c "SELECT time_ms(\$\$SELECT count(gdpr_decrypt(email, 'users.email')) FROM users WHERE user_id BETWEEN $base AND $base + 199\$\$) / 200")
  erase=$(q -c "SELECT time_ms(\$\$SELECT count(gdpr_erase('user', i::text, 'bench')) FROM generate_series($base, $base + 49) i\$\$) / 50")
  echo "$enc $shred $dec $erase"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
measure() {  # phase -> medians "enc shred dec erase"
  local out=() col
  for run in $(seq "$RUNS"); do out+=("$(round $(($1 * 1000000 + run * 1000)))"); done
  for col in 1 2 3 4; do printf '%s ' "$(printf '%s\n' "${out[@]}" | awk -v c=$col '{print $c}' | median)"; done
}
round 100000000 >/dev/null  # warm-up
small=$(measure 1)
q -c "INSERT INTO gdpr.subject_key (key_id, subject_address, key_class, shredded_at)
      SELECT nextval('gdpr.subject_key_key_id_seq'), sha256(('filler ' || i)::bytea), 'main', now()
        FROM generate_series(1, $KEYS) i" >/dev/null
q -c "VACUUM ANALYZE gdpr.subject_key" >/dev/null
large=$(measure 2)
keys=$(q -c "SELECT count(*) FROM gdpr.subject_key")
echo "key operations, ms per operation (median of $RUNS rounds): small key table vs $keys keys"
awk -v s="$small" -v l="$large" 'BEGIN {
  split(s, a, " "); split(l, b, " "); split("encrypt_new_subject shred_key decrypt_cache_miss erase", n, " ");
  for (i = 1; i <= 4; i++) printf "  %-20s %8.3f ms  %8.3f ms  ratio %.2f\n", n[i], a[i], b[i], b[i] / a[i] }'
echo "plans at $keys keys:"
q -c "EXPLAIN (COSTS OFF) SELECT key_id FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('user', '1') AND key_class = 'main' ORDER BY shredded_at IS NULL LIMIT 1" | sed 's/^/  /'
q -c "EXPLAIN (COSTS OFF) SELECT key_id FROM gdpr.subject_key WHERE key_id = 42" | sed 's/^/  /'

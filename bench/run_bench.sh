#!/usr/bin/env bash
# pg_gdpr benchmarks. Every figure is a ratio against a baseline measured in
# the same run on the same data, repeated and interleaved (the machine is
# shared and noisy); medians are reported.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/cluster.sh

RUNS=${BENCH_RUNS:-5}
CLUSTER_EXTRA_CONF="shared_buffers = '1GB'
max_parallel_workers_per_gather = 0
jit = off"
cluster_start
echo "benchmark cluster in $CLUSTER_DIR ($RUNS interleaved runs per query)"

psql_q -f bench/encryption_setup.sql >/dev/null
echo "data: 1,000,000 rows of ~44-byte strings, 10,000 subjects"

time_query() { psql_q -At -c "SELECT bench.time_ms(\$q\$$1\$q\$)"; }

declare -A samples
mapfile -t lines < bench/encryption_queries.txt
for name_sql in "${lines[@]}"; do time_query "${name_sql#*$'\t'}" >/dev/null; done  # warm-up
for run in $(seq "$RUNS"); do
  for name_sql in "${lines[@]}"; do
    name=${name_sql%%$'\t'*}
    samples[$name]+="$(time_query "${name_sql#*$'\t'}") "
  done
done
# pgp_sym_encrypt is two orders of magnitude slower: a 100,000-row sample,
# measured once, against ours on the same sample.
pgp_ms=$(time_query "SELECT sum(length(pgp_sym_encrypt(email, 'pw'))) FROM bench.plain WHERE i <= 100000")
ours_sample_ms=$(time_query "SELECT sum(length(gdpr_encrypt('user', subject, email, 'bench.email'))) FROM bench.plain WHERE i <= 100000")

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A ms
for name in "${!samples[@]}"; do ms[$name]=$(echo "${samples[$name]}" | median); done

awk -v plain="${ms[plain_length]}" -v enc="${ms[ours_encrypt]}" -v pgce="${ms[pgcrypto_encrypt]}" \
    -v dec="${ms[ours_decrypt]}" -v pgcd="${ms[pgcrypto_decrypt]}" \
    -v pgp="$pgp_ms" -v oursample="$ours_sample_ms" 'BEGIN {
  rows = 1000000
  printf "\n%-44s %10s %12s\n", "query (median)", "ms", "rows/s"
  printf "%-44s %10.0f %12.0f\n", "sum(length(email))  [plain scan]", plain, rows / plain * 1000
  printf "%-44s %10.0f %12.0f\n", "gdpr_encrypt", enc, rows / enc * 1000
  printf "%-44s %10.0f %12.0f\n", "pgcrypto encrypt(..., aes)", pgce, rows / pgce * 1000
  printf "%-44s %10.0f %12.0f\n", "gdpr_decrypt", dec, rows / dec * 1000
  printf "%-44s %10.0f %12.0f\n", "pgcrypto decrypt(..., aes)", pgcd, rows / pgcd * 1000
  printf "%-44s %10.0f %12.0f\n", "pgp_sym_encrypt (100,000 rows, once)", pgp, 100000 / pgp * 1000
  printf "%-44s %10.0f %12.0f\n", "gdpr_encrypt (same 100,000 rows, once)", oursample, 100000 / oursample * 1000
  verdict = "PASS"
  printf "\n%-52s %8s %8s\n", "ratio", "value", "target"
  r = pgce / enc;  ok = r >= 2;   if (!ok) verdict = "MISS"; printf "%-52s %7.2fx %8s %s\n", "encrypt rows/s vs pgcrypto encrypt()", r, ">= 2x", ok ? "ok" : "MISS"
  r = pgcd / dec;  ok = r >= 2;   if (!ok) verdict = "MISS"; printf "%-52s %7.2fx %8s %s\n", "decrypt rows/s vs pgcrypto decrypt()", r, ">= 2x", ok ? "ok" : "MISS"
  r = pgp / oursample; ok = r >= 100; if (!ok) verdict = "MISS"; printf "%-52s %7.0fx %8s %s\n", "encrypt rows/s vs pgp_sym_encrypt()", r, ">= 100x", ok ? "ok" : "MISS"
  r = enc / plain; ok = r <= 3;   if (!ok) verdict = "MISS"; printf "%-52s %7.2fx %8s %s\n", "encrypt cost vs plain length() scan", r, "<= 3x", ok ? "ok" : "MISS"
  r = dec / plain; ok = r <= 3;   if (!ok) verdict = "MISS"; printf "%-52s %7.2fx %8s %s\n", "decrypt cost vs plain length() scan", r, "<= 3x", ok ? "ok" : "MISS"
  printf "\nencryption benchmark: %s\n", verdict
}'

if [ "${BENCH_RIGHTS:-1}" = 1 ]; then
  echo
  echo "rights: gdpr_erase / gdpr_export against hand-written SQL for the same schema"
  bash bench/rights_bench.sh
fi

if [ "${BENCH_SIDECAR:-1}" = 1 ]; then
  echo
  echo "sidecar: purge, partitions and backups against hand-written SQL and pg_dump"
  bash bench/sidecar_bench.sh
fi

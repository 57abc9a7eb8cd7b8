#!/usr/bin/env bash
# pg_gdpr benchmarks. Every figure is a ratio against a baseline measured in
# the same run on the same data, repeated and interleaved (the machine is
# shared and noisy); medians are reported.
#   BENCH_RUNS=5        rounds per query (encryption)
#   BENCH_ENCRYPTION=0  skip the encryption benchmark
#   BENCH_RIGHTS=0      skip the rights benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/cluster.sh

CLUSTER_EXTRA_CONF="shared_buffers = '1GB'
max_parallel_workers_per_gather = 0
jit = off"
cluster_start
echo "benchmark cluster in $CLUSTER_DIR"

if [ "${BENCH_ENCRYPTION:-1}" = 1 ]; then
  echo
  echo "encryption: gdpr_encrypt / gdpr_decrypt against a plain scan and pgcrypto"
  bash bench/encryption_bench.sh
fi

if [ "${BENCH_RIGHTS:-1}" = 1 ]; then
  echo
  echo "rights: gdpr_erase / gdpr_export against hand-written SQL for the same schema"
  bash bench/rights_bench.sh
fi

if [ "${BENCH_CONSENT:-1}" = 1 ]; then
  echo
  echo "consent-aware views against the bare table (1,000,000 rows, 100,000 subjects)"
  bash bench/consent_bench.sh
fi

if [ "${BENCH_SIDECAR:-1}" = 1 ]; then
  echo
  echo "sidecar: purge, partitions and backups against hand-written SQL and pg_dump"
  bash bench/sidecar_bench.sh
fi

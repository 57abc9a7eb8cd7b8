#!/usr/bin/env bash
# Generated schemas against gdpr_erase and gdpr_export, checked by an
# oracle that follows the data's foreign keys itself (test/erase_fuzz).
# Fixed seeds here; `make fuzz-erase SEEDS=1-2000` for long runs.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
seeds=${ERASE_FUZZ_SEEDS:-1-60}
"$PG_BINDIR/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS erase_fuzz" -c "CREATE DATABASE erase_fuzz" >/dev/null || exit 1
trap '"$PG_BINDIR/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS erase_fuzz" >/dev/null 2>&1' EXIT
"$PG_BINDIR/psql" -X -q -d erase_fuzz -c "CREATE EXTENSION pg_gdpr" >/dev/null || exit 1
PGDATABASE=erase_fuzz PG_BINDIR=$PG_BINDIR python3 test/erase_fuzz/erase_fuzz.py --seeds "$seeds"

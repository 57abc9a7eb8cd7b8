#!/usr/bin/env bash
# gdpr_encrypt / gdpr_decrypt against a plain scan and pgcrypto on the same
# 1,000,000 rows (10,000 subjects), in two settings measured in one run:
#   warm  one session: every query once untimed, then interleaved rounds, so
#         keys are cached and plans are ready (a connection pool's session);
#   cold  a new backend for every query: every key is loaded and unwrapped
#         inside the timed query.
# Medians of BENCH_RUNS rounds; pgp_sym_encrypt (100x slower) once, on a
# 100,000-row sample against ours on the same sample. Also: memory per
# cached key (growth of the backend's anonymous memory while it caches
# 10,000 keys), and the OpenSSL path (pg_gdpr.cipher_implementation =
# openssl) in a warm session, for comparison. Expects a running cluster
# (test/lib/cluster.sh) with shared_buffers large enough for the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${BENCH_RUNS:-5}
bindir=$(pg_config --bindir)
psql_at() { "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

psql_at -f bench/encryption_setup.sql >/dev/null
echo "data: 1,000,000 rows of ~44-byte strings, 10,000 subjects; $RUNS rounds per setting"
echo "cipher: $(psql_at -c 'SHOW pg_gdpr.cipher_in_use')"

mapfile -t lines < bench/encryption_queries.txt
name_of() { printf '%s' "${1%%$'\t'*}"; }
sql_of() { printf '%s' "${1#*$'\t'}"; }
timed() { printf "SELECT '%s', bench.time_ms(\$q\$%s\$q\$);\n" "$1" "$2"; }

# Two long-lived sessions (psql coprocesses): the default implementation and
# OpenSSL forced. Every query runs once untimed in each, then every round
# times each query in the warm session, in a new backend, and (ours only)
# with OpenSSL, one after the other, so load changes on the machine hit all
# settings alike.
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
coproc WARM { psql_at -F ' ' 2>>"$errors"; }
# (bash warns that a second coproc exists; both work)
{ coproc OPENSSL { PGOPTIONS="-c pg_gdpr.cipher_implementation=openssl" psql_at -F ' ' 2>>"$errors"; }; } 2>/dev/null
in_session() {  # in_session <fd-in> <fd-out> sql: prints the milliseconds
  local name ms
  timed x "$3" >&"$1"
  if ! read -r -t 900 name ms <&"$2"; then
    echo "a benchmark session failed:" >&2
    cat "$errors" >&2
    exit 1
  fi
  echo "$ms"
}
declare -A warm cold openssl
for line in "${lines[@]}"; do
  in_session "${WARM[1]}" "${WARM[0]}" "$(sql_of "$line")" >/dev/null
  case $(name_of "$line") in
    ours_*) in_session "${OPENSSL[1]}" "${OPENSSL[0]}" "$(sql_of "$line")" >/dev/null ;;
  esac
done
for _ in $(seq "$RUNS"); do
  for line in "${lines[@]}"; do
    name=$(name_of "$line")
    warm[$name]+="$(in_session "${WARM[1]}" "${WARM[0]}" "$(sql_of "$line")") "
    cold[$name]+="$(timed x "$(sql_of "$line")" | psql_at -F ' ' | cut -d' ' -f2) "
    case $name in
      ours_*) openssl[$name]+="$(in_session "${OPENSSL[1]}" "${OPENSSL[0]}" "$(sql_of "$line")") " ;;
    esac
  done
done
exec {WARM[1]}>&- {OPENSSL[1]}>&-
wait

# pgp_sym_encrypt is two orders of magnitude slower: once, on 100,000 rows.
sample="FROM bench.plain WHERE i <= 100000"
read -r pgp_ms ours_sample_ms < <(psql_at -F ' ' -c "
  SELECT bench.time_ms(\$q\$SELECT sum(length(gdpr_encrypt('user', subject, email, 'bench.email'))) $sample\$q\$)" -c "
  SELECT bench.time_ms(\$q\$SELECT sum(length(pgp_sym_encrypt(email, 'pw'))) $sample\$q\$),
         bench.time_ms(\$q\$SELECT sum(length(gdpr_encrypt('user', subject, email, 'bench.email'))) $sample\$q\$)" | tail -1)

# Memory per cached key: anonymous memory (the C++ heap, not shared buffers)
# of one backend before and after it caches the 10,000 subjects' keys.
key_memory() {
  psql_at "$@" <<'SQL'
SELECT pg_backend_pid() AS pid \gset
\setenv BACKEND_PID :pid
SELECT sum(length(gdpr_decrypt(ct, 'bench.email'))) FROM bench.ours WHERE i <= 10 \g /dev/null
SELECT sum(length(ct)) FROM bench.ours \g /dev/null
\! awk '/^RssAnon/ {print $2}' /proc/$BACKEND_PID/status
SELECT sum(length(gdpr_decrypt(ct, 'bench.email'))) FROM bench.ours \g /dev/null
\! awk '/^RssAnon/ {print $2}' /proc/$BACKEND_PID/status
SELECT count(DISTINCT subject) FROM bench.plain
 WHERE subject NOT IN (SELECT subject FROM bench.plain WHERE i <= 10);
SQL
}
per_key() { key_memory "$@" | paste -sd' ' | awk '{printf "%.0f", ($2 - $1) * 1024 / $3}'; }
key_bytes=$(per_key)
key_bytes_openssl=$(PGOPTIONS="-c pg_gdpr.cipher_implementation=openssl" per_key)

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m() { local -n samples=$1; echo "${samples[$2]}" | median; }

printf '\n%-34s %10s %12s %10s %12s\n' "query (median ms, rows/s)" "warm ms" "warm rows/s" "cold ms" "cold rows/s"
for line in "${lines[@]}"; do
  name=$(name_of "$line")
  awk -v n="$name" -v w="$(m warm "$name")" -v c="$(m cold "$name")" \
    'BEGIN { printf "%-34s %10.0f %12.0f %10.0f %12.0f\n", n, w, 1e9 / w, c, 1e9 / c }'
done
awk -v e="$(m openssl ours_encrypt)" -v d="$(m openssl ours_decrypt)" 'BEGIN {
  printf "%-34s %10.0f %12.0f\n", "ours_encrypt, OpenSSL forced", e, 1e9 / e
  printf "%-34s %10.0f %12.0f\n", "ours_decrypt, OpenSSL forced", d, 1e9 / d }'
awk -v p="$pgp_ms" -v o="$ours_sample_ms" 'BEGIN {
  printf "%-34s %10.0f %12.0f   (100,000 rows, once)\n", "pgp_sym_encrypt", p, 1e8 / p
  printf "%-34s %10.0f %12.0f   (same rows, warm)\n", "ours_encrypt", o, 1e8 / o }'
echo "memory per cached key: $key_bytes bytes (ipsec-mb or default), $key_bytes_openssl bytes (OpenSSL forced)"

verdict=PASS
ratio() {  # label value target-op target
  local ok
  ok=$(awk -v v="$2" -v op="$3" -v t="$4" 'BEGIN { print (op == ">=" ? v >= t : v <= t) ? "ok" : "MISS" }')
  [ "$ok" = ok ] || verdict=MISS
  printf '%-52s %7.2fx %3s %-5s %s\n' "$1" "$2" "$3" "${4}x" "$ok"
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
printf '\n%-52s %8s %9s\n' "ratio" "value" "target"
for mode in warm cold; do
  ratio "$mode: encrypt rows/s vs pgcrypto encrypt()" "$(div "$(m $mode pgcrypto_encrypt)" "$(m $mode ours_encrypt)")" ">=" 4
  ratio "$mode: decrypt rows/s vs pgcrypto decrypt()" "$(div "$(m $mode pgcrypto_decrypt)" "$(m $mode ours_decrypt)")" ">=" 4
  limit=$([ $mode = warm ] && echo 2.5 || echo 3)
  ratio "$mode: encrypt cost vs plain length() scan" "$(div "$(m $mode ours_encrypt)" "$(m $mode plain_length)")" "<=" "$limit"
  ratio "$mode: decrypt cost vs plain length() scan" "$(div "$(m $mode ours_decrypt)" "$(m $mode plain_length)")" "<=" "$limit"
done
ratio "encrypt rows/s vs pgp_sym_encrypt()" "$(div "$pgp_ms" "$ours_sample_ms")" ">=" 100
printf '\nencryption benchmark: %s\n' "$verdict"

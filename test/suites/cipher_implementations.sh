#!/usr/bin/env bash
# Both AES-GCM implementations end to end: a session uses Intel ipsec-mb
# where the build has it and the processor supports it, OpenSSL when
# pg_gdpr.cipher_implementation = openssl (or without ipsec-mb); values
# sealed by either open with the other, tampering and shredding behave the
# same; and every pg_regress test passes once more with OpenSSL forced (the
# main run used the default). Expects a running cluster (test/lib/cluster.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
bindir=$(pg_config --bindir)
db=cipher_implementations
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
q() { "$bindir/psql" -X -At -v ON_ERROR_STOP=1 "$@"; }
openssl_q() { PGOPTIONS="-c pg_gdpr.cipher_implementation=openssl" q "$@"; }
cleanup() {
  q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
    -c "ALTER SYSTEM RESET pg_gdpr.cipher_implementation" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
}
trap cleanup EXIT
cleanup
q -d postgres -c "CREATE DATABASE $db" >/dev/null
q -d "$db" -c "CREATE EXTENSION pg_gdpr" >/dev/null

# -- which implementation a session uses
module=$(pg_config --pkglibdir)/pg_gdpr.so
if ldd "$module" | grep -q libIPSec_MB && grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
  expected_default='ipsec-mb *'
else
  expected_default='OpenSSL *'
fi
default_in_use=$(q -d "$db" -c "SHOW pg_gdpr.cipher_in_use")
forced_in_use=$(openssl_q -d "$db" -c "SHOW pg_gdpr.cipher_in_use")
# shellcheck disable=SC2053  # glob match on purpose
[[ $default_in_use == $expected_default ]] || fail "default session uses '$default_in_use', expected '$expected_default'"
[[ $forced_in_use == "OpenSSL "*"(forced by pg_gdpr.cipher_implementation)" ]] ||
  fail "forced session uses '$forced_in_use'"
echo "default: $default_in_use; forced: $forced_in_use"

# Fixed for the session: a SET is refused; postgresql.conf (here ALTER
# SYSTEM) applies to sessions started after a reload, not to running ones.
state=$(q -d "$db" -c "DO \$\$ BEGIN SET pg_gdpr.cipher_implementation = openssl; EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'sqlstate %', SQLSTATE; END \$\$" 2>&1)
[[ $state == *"sqlstate 55P02"* ]] || fail "SET pg_gdpr.cipher_implementation was not refused: $state"
coproc RUNNING { q -d "$db" 2>&1; }
echo "SHOW pg_gdpr.cipher_in_use;" >&"${RUNNING[1]}"
read -r -t 30 running_before <&"${RUNNING[0]}"
q -d "$db" -c "ALTER SYSTEM SET pg_gdpr.cipher_implementation = openssl" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
by_config=$(q -d "$db" -c "SHOW pg_gdpr.cipher_in_use")
echo "SHOW pg_gdpr.cipher_in_use;" >&"${RUNNING[1]}"
read -r -t 30 running_after <&"${RUNNING[0]}"
exec {RUNNING[1]}>&-
q -d "$db" -c "ALTER SYSTEM RESET pg_gdpr.cipher_implementation" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
[[ $by_config == "OpenSSL "* ]] || fail "a new session after the reload uses '$by_config'"
[ "$running_before" = "$default_in_use" ] || fail "a running session reported '$running_before'"
[ "$running_after" = "$running_before" ] || fail "a running session changed from '$running_before' to '$running_after'"
[ "$(q -d "$db" -c "SHOW pg_gdpr.cipher_in_use")" = "$default_in_use" ] || fail "RESET did not bring back the default"

# -- values sealed by either implementation open with both
q -d "$db" -c "CREATE TABLE vault (i int PRIMARY KEY, sealed_by text, v bytea)" \
  -c "INSERT INTO vault SELECT i, 'default', gdpr_encrypt('user', (i % 50)::text, 'value ' || i, 'vault.v')
        FROM generate_series(1, 1000) AS i" >/dev/null
openssl_q -d "$db" -c "INSERT INTO vault SELECT i, 'openssl', gdpr_encrypt('user', (i % 50)::text, 'value ' || i, 'vault.v')
        FROM generate_series(1001, 2000) AS i" >/dev/null
check_all='SELECT count(*) FILTER (WHERE gdpr_decrypt(v, $$vault.v$$) = $$value $$ || i) FROM vault'
[ "$(q -d "$db" -c "$check_all")" = 2000 ] || fail "the default implementation did not open all 2,000 values"
[ "$(openssl_q -d "$db" -c "$check_all")" = 2000 ] || fail "OpenSSL did not open all 2,000 values"

# -- a tampered tag, a wrong context: the same error from both
for sealed_by in default openssl; do
  for reader in q openssl_q; do
    out=$($reader -d "$db" -c "SELECT gdpr_decrypt(set_byte(v, length(v) - 1, get_byte(v, length(v) - 1) # 1), 'vault.v')
        FROM vault WHERE sealed_by = '$sealed_by' LIMIT 1" 2>&1)
    [[ $out == *"does not authenticate"* ]] || fail "$reader accepted a tampered tag of a value sealed by $sealed_by: $out"
    out=$($reader -d "$db" -c "SELECT gdpr_decrypt(v, 'vault.other') FROM vault WHERE sealed_by = '$sealed_by' LIMIT 1" 2>&1)
    [[ $out == *"does not authenticate"* ]] || fail "$reader accepted a wrong context for a value sealed by $sealed_by: $out"
  done
done

# -- a shredded key reads as NULL in both
q -d "$db" -c "SELECT gdpr_shred_key('user', '7')" >/dev/null
shredded='SELECT count(*) FILTER (WHERE gdpr_decrypt(v, $$vault.v$$) IS NULL) FROM vault'
[ "$(q -d "$db" -c "$shredded")" = 40 ] || fail "default: subject 7's 40 values are not NULL after the shred"
[ "$(openssl_q -d "$db" -c "$shredded")" = 40 ] || fail "OpenSSL: subject 7's 40 values are not NULL after the shred"

# -- every pg_regress test again, with OpenSSL forced in every session,
# from the configuration the first run started with (its tests leave
# settings behind with ALTER SYSTEM, e.g. a second master key version)
q -d postgres -c "ALTER SYSTEM RESET ALL" -c "SELECT pg_reload_conf()" >/dev/null
# and without the reader roles (cluster-wide) that the first run and the
# isolation specs left behind with their databases
q -d postgres -c "DROP DATABASE IF EXISTS isolation_regression" -c "DROP DATABASE IF EXISTS contrib_regression" >/dev/null
q -d postgres -c "SELECT format('DROP ROLE %I;', rolname) FROM pg_roles WHERE rolname LIKE 'gdpr\_reader\_%'" \
  | "$bindir/psql" -X -q -d postgres >/dev/null
sleep 1
PGXS_TEST=$(pg_config --pkglibdir)/pgxs/src/test
results=build/test-results/regress-openssl
mapfile -t regress < <(ls sql/*.sql | xargs -n1 basename | sed 's/\.sql$//' | sort)
if ! PGOPTIONS="-c pg_gdpr.cipher_implementation=openssl" "$PGXS_TEST/regress/pg_regress" \
  --inputdir=. --outputdir="$results" --bindir="$bindir" --host="$PGHOST" --port="$PGPORT" \
  --user=postgres --dbname=contrib_regression --load-extension=pg_gdpr "${regress[@]}" >"$results.log" 2>&1; then
  cat "$results.log" "$results/regression.diffs" 2>/dev/null
  fail "pg_regress with pg_gdpr.cipher_implementation = openssl"
fi

if [ "$fails" -gt 0 ]; then
  echo "cipher implementations: $fails failure(s)"
  exit 1
fi
echo "cipher implementations: both seal and open each other's values; all ${#regress[@]} pg_regress tests pass with OpenSSL forced"

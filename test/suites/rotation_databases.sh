#!/usr/bin/env bash
# Master key rotation across the databases of one cluster. The key file
# serves every database; gdpr_master_key_status() sees one. Following the
# README: rotate in one database, and version 1 is still needed by the
# other, whose status says so; rotate there too, and only then may version 1
# leave the key file; every database reads all its values with version 2
# alone, and its tombstones still match.
# Expects a running cluster (PGHOST/PGPORT from test/lib/cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
bindir=$(pg_config --bindir)
keys=$PG_GDPR_TEST_KEYDIR
q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
original=$(q -d postgres -At -c "SHOW pg_gdpr.master_key_file")
use_keys() {
  q -d postgres -c "ALTER SYSTEM SET pg_gdpr.master_key_file = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 0.3
}
cleanup() {
  use_keys "$original" || true
  for db in rot_a rot_b; do q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
fail() { echo "rotation across databases: $*" >&2; exit 1; }
# "version:wrapped_keys" of every version this database's status lists
status() { q -d "$1" -At -c "SELECT string_agg(version || ':' || wrapped_keys, ' ' ORDER BY version) FROM gdpr_master_key_status()"; }
readable() { q -d "$1" -At -c "SELECT count(*) FILTER (WHERE gdpr_decrypt(ct, 'rot.v') = 'value ' || i) FROM vault"; }

use_keys "$keys/master_v1.keys"
for db in rot_a rot_b; do
  q -d postgres -c "CREATE DATABASE $db"
  q -d "$db" -c "CREATE EXTENSION pg_gdpr" \
    -c "CREATE TABLE vault AS SELECT i, gdpr_encrypt('user', 'rot-' || i, 'value ' || i, 'rot.v') AS ct FROM generate_series(1, 20) i" \
    -c "INSERT INTO gdpr.tombstone (subject_hash, kind) VALUES (gdpr.subject_hash('user', 'gone'), 'user')" >/dev/null
done
# 20 data keys and the installation root, each database
[ "$(status rot_a)" = "1:21" ] && [ "$(status rot_b)" = "1:21" ] || fail "before: $(status rot_a) / $(status rot_b)"

# Version 2 is added; rotation in rot_a only.
use_keys "$keys/master_v12.keys"
[ "$(q -d rot_a -At -c "SELECT gdpr_rotate_master_key()")" = 21 ] || fail "rot_a did not re-wrap 21 keys"
[ "$(status rot_a)" = "1:0 2:21" ] || fail "rot_a after its rotation: $(status rot_a)"
# rot_b's own status shows version 1 still in use: it may not leave yet
[ "$(status rot_b)" = "1:21 2:0" ] || fail "rot_b before its rotation: $(status rot_b)"
[ "$(q -d rot_b -At -c "SELECT gdpr_rotate_master_key()")" = 21 ] || fail "rot_b did not re-wrap 21 keys"
for db in rot_a rot_b; do
  [ "$(status $db)" = "1:0 2:21" ] || fail "$db after rotation: $(status $db)"
done

# Every database at 0 for version 1: it leaves the key file.
use_keys "$keys/master_v2.keys"
for db in rot_a rot_b; do
  [ "$(readable $db)" = 20 ] || fail "$db reads $(readable $db) of 20 values with version 2 alone"
  q -d "$db" -At -c "SELECT count(*) FROM gdpr.tombstone WHERE subject_hash = gdpr.subject_hash('user', 'gone')" \
    | grep -qx 1 || fail "$db: the tombstone no longer matches after rotation"
  [ "$(status $db)" = "2:21" ] || fail "$db with version 2 alone: $(status $db)"
done
echo "rotation across databases: version 1 stayed needed in rot_b until rot_b rotated; both read every value and match their tombstones with version 2 alone"

#!/usr/bin/env bash
# The data map, tags, holds, ledger and tombstones survive pg_dump /
# pg_restore, and the data keys come back from a key backup (the dump holds
# none): the restored database answers the same.
# Expects a running cluster (PGHOST/PGPORT from test/lib/cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
bindir=$(pg_config --bindir)
work=$(mktemp -d)
chmod 755 "$work"
q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  rm -rf "$work"
  q -d postgres -c "DROP DATABASE IF EXISTS dump_src" -c "DROP DATABASE IF EXISTS dump_dst" >/dev/null 2>&1 || true
}
trap cleanup EXIT

q -d postgres -c "CREATE DATABASE dump_src" -c "CREATE DATABASE dump_dst"
q -d dump_src -c "CREATE EXTENSION pg_gdpr" -f test/fixtures/crm.sql >/dev/null
q -d dump_src -c "SELECT gdpr_load_policy_defaults()" \
  -c "SELECT gdpr_erase('user', '1', 'before the dump')" \
  -c "SELECT gdpr_request('contact', '10', 'access', 'web')" >/dev/null

# What must be the same on both sides.
snapshot() {
  q -d "$1" -At <<'SQL'
SELECT 'map', table_name, depth, reached_by::text, columns::text, on_erase, warnings::text
  FROM gdpr_data_map('user') ORDER BY 2;
SELECT 'kind', kind, root_table::text, id_column FROM gdpr.subject_kind ORDER BY 2;
SELECT 'link', link_table::text, link_column, kind FROM gdpr.subject_link ORDER BY 2;
SELECT 'hold', hold_table::text, keep::text, from_column, reason FROM gdpr.legal_hold ORDER BY 2;
SELECT 'label', objoid::regclass::text, objsubid, label FROM pg_seclabel WHERE provider = 'pg_gdpr' ORDER BY 2, 3;
SELECT 'tombstone', encode(subject_hash, 'hex'), kind FROM gdpr.tombstone ORDER BY 2;
SELECT 'hash', encode(gdpr.subject_hash('user', '1'), 'hex');
SELECT 'held', hold_table::text, row_key::text FROM gdpr.hold_release ORDER BY 2, 3;
SELECT 'request', request_type, status, kind FROM gdpr.request ORDER BY 2;
SELECT 'audit', action, count(*) FROM gdpr.audit_log WHERE action NOT IN ('export', 'key_backup', 'key_backup_restored') GROUP BY action ORDER BY 2;
SELECT 'purposes', count(*) FROM gdpr.purpose;
SELECT 'decrypt', user_id, gdpr_decrypt(email, 'crm.users.email') FROM crm.users ORDER BY 2;
SELECT 'held invoice', invoice_id, gdpr_decrypt(billing_name, 'crm.invoices.billing_name') FROM crm.invoices ORDER BY 2;
SELECT 'export', gdpr_export('contact', '11') -> 'data';
SQL
}

snapshot dump_src >"$work/before"
"$bindir/pg_dump" -Fc -d dump_src -f "$work/dump"
q -d dump_src -At -c "SELECT encode(gdpr_key_backup(), 'hex')" >"$work/keys.hex"
"$bindir/pg_restore" --exit-on-error -d dump_dst "$work/dump"
echo "SELECT gdpr_restore_key_backup(decode(:'backup', 'hex')) > 0" \
  | q -d dump_dst -At -v backup="$(cat "$work/keys.hex")" | grep -qx t
snapshot dump_dst >"$work/after"

if ! diff "$work/before" "$work/after"; then
  echo "dump/restore: the restored database differs"
  exit 1
fi
# erasing after the restore still works, with the restored map
q -d dump_dst -At -c "SELECT gdpr_erase('user', '2', 'after restore') -> 'keys_shredded'" | grep -qx 1
echo "dump/restore: $(wc -l <"$work/before") facts identical after pg_dump/pg_restore and the key backup; erase works on the restored database"

#!/usr/bin/env bash
# Keys kept apart from data, with real pg_dump and pg_dumpall:
#  - a plain pg_dump holds no wrapped key; a dump of the whole cluster holds
#    neither an erased subject's id nor a canary plaintext nor a canary id
#    that was only ever given to gdpr_encrypt;
#  - dump -> erase -> restore: with the newest key backup everyone else is
#    readable again and the erased subject's values stay unreadable; with an
#    older key backup, replaying the tombstones recorded since destroys the
#    erased subject's key again; a key backup never brings back the main key
#    of a subject with a tombstone;
#  - the restored tombstone matches the subject only through the master key:
#    nothing in the dump reverses it;
#  - a tampered or foreign key backup is refused and changes nothing.
# Expects a running cluster (PGHOST/PGPORT from test/lib/cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
bindir=$(pg_config --bindir)
work=$(mktemp -d)
chmod 755 "$work"
dbs=(kb_src kb_new kb_old kb_late kb_foreign)
q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  rm -rf "$work"
  for db in "${dbs[@]}"; do q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
fail() { echo "key backups: $*" >&2; exit 1; }
key_backup() { q -d "$1" -At -c "SELECT encode(gdpr_key_backup(), 'hex')"; }
restore_keys() {  # psql interpolates variables in scripts, not in -c
  echo "SELECT gdpr_restore_key_backup(decode(:'backup', 'hex'))" | q -d "$1" -At -v backup="$(cat "$2")"
}

canary_id=canary-id-5c1d9e
canary_plain=canary-plaintext-9e2f41
visitor_id=canary-visitor-77a1b3
visitor_plain=canary-note-3b8c02

q -d postgres -c "CREATE DATABASE kb_src"
q -d kb_src <<SQL >/dev/null
CREATE EXTENSION pg_gdpr;
CREATE TABLE app_users (user_id text PRIMARY KEY, email bytea);
SELECT gdpr_register_subject('user', 'app_users', 'user_id');
SELECT gdpr_tag('app_users', 'email', 'personal');
INSERT INTO app_users
SELECT id, gdpr_encrypt('user', id, CASE WHEN id = '$canary_id' THEN '$canary_plain' ELSE id || '@example.com' END,
                        'app_users.email')
  FROM unnest(ARRAY['alice', 'carol', '$canary_id']) id;
-- a subject whose id never appears in any table, only given to gdpr_encrypt
CREATE TABLE notes AS SELECT gdpr_encrypt('visitor', '$visitor_id', '$visitor_plain', 'notes.body') AS body;
SQL
readable() {  # db -> "alice,carol,<canary>" as far as readable; errors as ERR
  q -d "$1" -At -c "SELECT string_agg(user_id || '=' || coalesce(gdpr_decrypt(email, 'app_users.email'), 'NULL'), ',' ORDER BY user_id) FROM app_users" 2>/dev/null || echo ERR
}

# 1. The dump holds the installation and the tombstones, never a key row.
key_backup kb_src >"$work/keys_before.hex"
"$bindir/pg_dump" -d kb_src -f "$work/dump.sql"
grep -q "COPY gdpr.installation" "$work/dump.sql" || fail "the dump lacks gdpr.installation"
if grep -q "COPY gdpr.subject_key " "$work/dump.sql"; then fail "the dump holds gdpr.subject_key rows"; fi
wrapped=$(q -d kb_src -At -c "SELECT encode(wrapped_key, 'hex') FROM gdpr.subject_key LIMIT 1")
if grep -q "$wrapped" "$work/dump.sql"; then fail "a wrapped key is in the dump"; fi

# 2. Erase the canary subject; the newest key backup holds no key of it.
q -d kb_src -c "SELECT gdpr_erase('user', '$canary_id', 'canary erasure')" >/dev/null
key_backup kb_src >"$work/keys_after.hex"
# Erasures since the dump: what the sidecar replays after a restore.
q -d kb_src -At -c "SELECT encode(subject_hash, 'hex') || ',' || kind || ',' || encode(key_address, 'hex') FROM gdpr.tombstone" \
  >"$work/tombstones.csv"

# 3. The whole cluster holds no canary in any form a grep can find.
"$bindir/pg_dumpall" -f "$work/cluster.sql"
for canary in "$canary_id" "$canary_plain" "$visitor_id" "$visitor_plain"; do
  if grep -q "$canary" "$work/cluster.sql"; then fail "pg_dumpall holds $canary"; fi
done

replay_tombstones() {
  while IFS=, read -r hash kind address; do
    q -d "$1" -c "INSERT INTO gdpr.tombstone (subject_hash, kind, key_address)
                  VALUES (decode('$hash', 'hex'), '$kind', decode('$address', 'hex')) ON CONFLICT DO NOTHING"
  done <"$work/tombstones.csv"
}

# 4. The dump taken before the erase, with the newest key backup.
q -d postgres -c "CREATE DATABASE kb_new"
q -d kb_new -f "$work/dump.sql" >/dev/null
[ "$(readable kb_new)" = ERR ] || fail "a dump restored without keys decrypts: $(readable kb_new)"
restored=$(restore_keys kb_new "$work/keys_after.hex")
[ "$restored" = 3 ] || fail "the newest key backup restored $restored keys, expected 3"
expected="alice=alice@example.com,$canary_id=NULL,carol=carol@example.com"
[ "$(readable kb_new)" = "$expected" ] || fail "after the newest key backup: $(readable kb_new)"
replay_tombstones kb_new
# the replayed tombstone refuses the erased subject's rows, as in the original
if q -d kb_new -c "UPDATE app_users SET email = NULL WHERE user_id = 'alice'" \
     -c "INSERT INTO app_users VALUES ('$canary_id', NULL)" >/dev/null 2>&1; then
  fail "the restored database took a new row of the erased subject"
fi
q -d kb_new -At -c "SELECT count(*) FROM gdpr.tombstone WHERE subject_hash = gdpr.subject_hash('user', '$canary_id')" \
  | grep -qx 1 || fail "the replayed tombstone does not match the subject through the master key"

# 5. Nothing in the dump reverses the tombstone: neither a plain hash of the
# id nor an HMAC keyed with any value the dump holds matches it.
q -d kb_new -c "CREATE EXTENSION pgcrypto" >/dev/null
matches=$(q -d kb_new -At <<SQL
WITH candidates(k) AS (
  SELECT installation_id FROM gdpr.installation UNION ALL SELECT wrapped_root FROM gdpr.installation
  UNION ALL SELECT substr(wrapped_root, 13, 32) FROM gdpr.installation UNION ALL SELECT ''::bytea
), messages(m) AS (
  SELECT convert_to('user', 'UTF8') || '\x00'::bytea || convert_to('$canary_id', 'UTF8')
  UNION ALL SELECT convert_to('$canary_id', 'UTF8')
)
SELECT count(*) FROM gdpr.tombstone t, candidates c, messages m
 WHERE t.subject_hash IN (hmac(m.m, c.k, 'sha256'), digest(m.m, 'sha256'), hmac(m.m, c.k, 'sha512'));
SQL
)
[ "$matches" = 0 ] || fail "a tombstone was reversed with what the dump holds"

# 6. The same dump with the key backup taken before the erase: the erased
# subject's key is back until the tombstones recorded since are replayed.
q -d postgres -c "CREATE DATABASE kb_old"
q -d kb_old -f "$work/dump.sql" >/dev/null
restore_keys kb_old "$work/keys_before.hex" >/dev/null
[ "$(readable kb_old)" = "alice=alice@example.com,$canary_id=$canary_plain,carol=carol@example.com" ] \
  || fail "the old key backup did not restore every key: $(readable kb_old)"
replay_tombstones kb_old
[ "$(readable kb_old)" = "$expected" ] || fail "replaying the tombstone left the erased subject readable: $(readable kb_old)"

# 7. Tombstones first, then the old key backup: the main key comes back shredded.
q -d postgres -c "CREATE DATABASE kb_late"
q -d kb_late -f "$work/dump.sql" >/dev/null
replay_tombstones kb_late
restored=$(restore_keys kb_late "$work/keys_before.hex")
[ "$restored" = 3 ] || fail "a key backup restored the main key of a subject with a tombstone ($restored keys)"
[ "$(readable kb_late)" = "$expected" ] || fail "after tombstones and the old key backup: $(readable kb_late)"
# restoring twice adds nothing
[ "$(restore_keys kb_late "$work/keys_after.hex")" = 0 ] || fail "a second restore added keys"

# 8. Tampered and foreign backups are refused, and nothing changes.
before=$(q -d kb_late -At -c "SELECT count(*), count(wrapped_key) FROM gdpr.subject_key")
python3 - "$work/keys_after.hex" >"$work/tampered.hex" <<'PY'
import sys
b = bytearray.fromhex(open(sys.argv[1]).read().strip())
b[len(b) // 2] ^= 1
print(b.hex())
PY
out=$(restore_keys kb_late "$work/tampered.hex" 2>&1) && fail "a tampered backup was restored"
echo "$out" | grep -q "key backup is not intact" || fail "unexpected error for a tampered backup: $out"
q -d postgres -c "CREATE DATABASE kb_foreign"
q -d kb_foreign -c "CREATE EXTENSION pg_gdpr" -c "SELECT gdpr_encrypt('user', 'x', 'y', 'c')" >/dev/null
out=$(restore_keys kb_foreign "$work/keys_after.hex" 2>&1) && fail "a foreign backup was restored"
echo "$out" | grep -q "belongs to another installation" || fail "unexpected error for a foreign backup: $out"
out=$(q -d kb_foreign -At -c "SELECT gdpr_restore_key_backup('\\x0102'::bytea)" 2>&1) && fail "junk was restored"
echo "$out" | grep -q "not a pg_gdpr key backup" || fail "unexpected error for junk: $out"
[ "$(q -d kb_late -At -c "SELECT count(*), count(wrapped_key) FROM gdpr.subject_key")" = "$before" ] \
  || fail "a refused backup changed the key table"

echo "key backups: no key in pg_dump, no canary in pg_dumpall; dump + newest key backup reads everyone but the erased subject; old key backup + replayed tombstones too; tampered, foreign and junk backups refused"

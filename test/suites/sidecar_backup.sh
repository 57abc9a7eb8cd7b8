#!/usr/bin/env bash
# pg_gdpr_sidecar backup, verify-backups, expire-backups, restore, status
# and run, with the real binary, pg_dump and pg_restore: copies in every
# target; one flipped byte fails verification and makes restore refuse
# before anything is restored; expiry of backups dated 89, 90 and 91 days
# ago; a restore after an erase keeps the subject erased; a key backup
# exists exactly when the extension has gdpr_key_backup(); status reports
# master key versions of every database; the daemon reloads on SIGHUP
# (keeping its configuration when the new one is invalid) and stops on SIGTERM.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib/sidecar_suite.sh
db=sidecar_backup
suite_workspace $db ${db}_restored ${db}_refused ${db}_other
q -d postgres -c "CREATE DATABASE $db" -c "CREATE DATABASE ${db}_other" >/dev/null
q -d ${db}_other -c "CREATE EXTENSION pg_gdpr" >/dev/null
q -d $db >/dev/null <<'SQL'
CREATE EXTENSION pg_gdpr;
CREATE TABLE members (member_id bigint PRIMARY KEY, email bytea, name text);
SELECT gdpr_register_subject('member', 'members', 'member_id');
SELECT gdpr_tag('members', 'email', 'personal', 'members.email');
SELECT gdpr_tag('members', 'name', 'personal');
INSERT INTO members SELECT g, gdpr_encrypt('member', g::text, 'm' || g || '@example.com', 'members.email'), 'Member ' || g
  FROM generate_series(1, 3) g;
SQL
(umask 077; random_key_hex >"$work/backup.key")
t1=$work/eu t2=$work/apac
common=(-d "dbname=$db" --backup-target "$t1" --backup-target "$t2" --backup-key-file "$work/backup.key")
has_key_backup=$(qv -d $db -c "SELECT count(*) FROM pg_proc WHERE proname = 'gdpr_key_backup'")

# ---- backup to two targets ---------------------------------------------------------
id=$("$SIDECAR" backup "${common[@]}" 2>"$work/backup.log")
check "backup exits 0" 0 $?
for t in "$t1" "$t2"; do
  [ -s "$t/$id.dump.gcm" ] && [ -s "$t/$id.dump.gcm.manifest.json" ] || fail "no copy of $id in $t"
done
cmp -s "$t1/$id.dump.gcm" "$t2/$id.dump.gcm" || fail "the two copies differ"
python3 - "$t1/$id.dump.gcm.manifest.json" "$t1/$id.dump.gcm" <<'PY' || fail "the manifest is incomplete or wrong"
import hashlib, json, os, sys
m = json.load(open(sys.argv[1]))
data = open(sys.argv[2], "rb").read()
assert m["sha256"] == hashlib.sha256(data).hexdigest() and m["size"] == len(data), m
assert m["database"] == "sidecar_backup" and len(m["key_id"]) == 16 and m["taken_at"].endswith("Z"), m
assert data[:8] == b"PGGDPRBK", data[:8]
PY
grep -qa "m1@example.com" "$t1/$id.dump.gcm" && fail "plaintext found in the encrypted backup"
check "the backup is in the catalog" "1" "$(qv -d $db -c "SELECT count(*) FROM gdpr.backup WHERE backup_id = '$id' AND cardinality(targets) = 2")"
keys_files=$(ls "$t1"/*.keys.gcm 2>/dev/null | wc -l)
if [ "$has_key_backup" -gt 0 ]; then
  check "a key backup is written when gdpr_key_backup() exists" 1 "$keys_files"
else
  check "no key backup when gdpr_key_backup() does not exist" 0 "$keys_files"
fi

# ---- verify, tamper, restore refused -------------------------------------------------
"$SIDECAR" verify-backups "${common[@]}" 2>"$work/verify.log"
check "verify-backups of good copies exits 0" 0 $?
ciphertext_of_2=$(qv -d $db -c "SELECT encode(email, 'hex') FROM members WHERE member_id = 2")
cp "$t1/$id.dump.gcm" "$work/pristine"
size=$(stat -c %s "$t1/$id.dump.gcm")
printf '\x5a' | dd of="$t1/$id.dump.gcm" bs=1 seek=$((size / 2)) conv=notrunc status=none
"$SIDECAR" verify-backups "${common[@]}" 2>"$work/verify.log"
check "verify-backups after one flipped byte exits 1" 1 $?
grep -q "BAD: $t1/$id.dump.gcm" "$work/verify.log" || fail "verify does not name the bad copy: $(cat "$work/verify.log")"
"$SIDECAR" restore "$id" --into ${db}_refused -d "dbname=$db" --backup-target "$t1" --backup-key-file "$work/backup.key" 2>"$work/refused.log"
check "restore of a tampered backup exits 1" 1 $?
grep -q "refused" "$work/refused.log" || fail "restore does not say it refused: $(cat "$work/refused.log")"
check "and nothing was restored" 0 "$(qv -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '${db}_refused'")"
head -c 1000 "$work/pristine" >"$t1/$id.dump.gcm"
"$SIDECAR" verify-backups "${common[@]}" 2>"$work/verify.log"
check "a truncated copy fails verification" 1 $?
grep -q "truncated" "$work/verify.log" || fail "truncation not named: $(cat "$work/verify.log")"
cp "$work/pristine" "$t1/$id.dump.gcm"
(umask 077; random_key_hex >"$work/other.key")
"$SIDECAR" verify-backups -d "dbname=$db" --backup-target "$t1" --backup-key-file "$work/other.key" 2>"$work/verify.log"
check "another key fails verification" 1 $?
grep -q "not with the configured key" "$work/verify.log" || fail "wrong key not named: $(cat "$work/verify.log")"

# ---- restore after an erase: nobody comes back -----------------------------------
q -d $db -c "SELECT gdpr_erase('member', '2', 'request by mail')" >/dev/null
"$SIDECAR" restore "$id" --into ${db}_restored "${common[@]}" 2>"$work/restore.log"
check "restore exits 0" 0 $?
check "the erased member is not back" "1 3" "$(qv -d ${db}_restored -c "SELECT string_agg(member_id::text, ' ' ORDER BY member_id) FROM members")"
check "its tombstone is in the restored database" 1 \
  "$(qv -d ${db}_restored -c "SELECT count(*) FROM gdpr.tombstone WHERE subject_hash = gdpr.subject_hash('member', '2')")"
for d in $db ${db}_restored; do
  plain=$(qv -d $d -c "SELECT gdpr_decrypt('\\x$ciphertext_of_2'::bytea, 'members.email')" 2>&1)
  case "$plain" in *m2@example.com*) fail "member 2's old ciphertext is readable in $d";; *) echo "ok: member 2's old ciphertext unreadable in $d";; esac
done
if [ "$has_key_backup" -eq 0 ]; then
  check "keys never travel in a data backup: no usable data key in the restored database" 0 \
    "$(qv -d ${db}_restored -c "SELECT count(*) FROM gdpr.subject_key WHERE wrapped_key IS NOT NULL")"
fi
if [ "$has_key_backup" -gt 0 ]; then
  check "a member not erased is readable after the restore" "m1@example.com" \
    "$(qv -d ${db}_restored -c "SELECT gdpr_decrypt(email, 'members.email') FROM members WHERE member_id = 1")"
fi
"$SIDECAR" restore "$id" --into ${db}_restored "${common[@]}" 2>"$work/again.log"
check "restore into an existing database is refused (2)" 2 $?

# ---- expiry: 89 days kept; 90 and 91 deleted everywhere; missing copies reported ----
for days in 89 90 91; do
  "$SIDECAR" backup "${common[@]}" --now "$(date -u -d "-$days days" +%Y-%m-%dT%H:%M:%SZ)" >"$work/id$days" 2>/dev/null \
    || fail "backup dated $days days ago"
done
id89=$(cat "$work/id89") id90=$(cat "$work/id90") id91=$(cat "$work/id91")
"$SIDECAR" backup "${common[@]}" --now "$(date -u -d "-95 days" +%Y-%m-%dT%H:%M:%SZ)" >"$work/id95" 2>/dev/null || fail "backup dated 95 days ago"
id95=$(cat "$work/id95")
rm "$t1/$id95".* "$t2/$id95".*
rm "$t2/$id91.dump.gcm"
"$SIDECAR" expire-backups "${common[@]}" 2>"$work/expire.log"
check "expire-backups with a missing copy exits 0" 0 $?
grep -q "copy already missing: $t2/$id91.dump.gcm" "$work/expire.log" || fail "the missing copy is not reported: $(cat "$work/expire.log")"
grep -q "$id95 is past its maximum age and no target holds a copy" "$work/expire.log" || fail "the lost backup is not reported: $(cat "$work/expire.log")"
for t in "$t1" "$t2"; do
  [ -e "$t/$id89.dump.gcm" ] || fail "the 89-day-old backup was deleted from $t"
  [ -e "$t/$id90.dump.gcm" ] && fail "the 90-day-old backup is still in $t"
  [ -e "$t/$id91.dump.gcm" ] && fail "the 91-day-old backup is still in $t"
  [ -e "$t/$id91.dump.gcm.manifest.json" ] && fail "the 91-day-old manifest is still in $t"
  [ -e "$t/$id.dump.gcm" ] || fail "today's backup was deleted from $t"
done
check "the catalog records the expiries, also of a backup with no copy left" "$id95 $id91 $id90" \
  "$(qv -d $db -c "SELECT string_agg(backup_id, ' ' ORDER BY backup_id) FROM gdpr.backup WHERE expired_at IS NOT NULL")"
if [ "$has_key_backup" -gt 0 ]; then
  check "no key backup older than 30 days is left" 1 "$(ls "$t1"/*.keys.gcm | wc -l)"
fi
"$SIDECAR" expire-backups "${common[@]}" --backup-max-age 80d 2>/dev/null
[ -e "$t1/$id89.dump.gcm" ] && fail "--backup-max-age 80d kept the 89-day-old backup"
"$SIDECAR" expire-backups "${common[@]}" --key-backup-max-age 31d 2>/dev/null
check "a key backup age over 30 days is refused" 2 $?

# ---- status: every database with pg_gdpr -----------------------------------------
"$SIDECAR" status -d "dbname=$db" >"$work/status.txt" 2>&1
check "status exits 0" 0 $?
for d in $db ${db}_restored ${db}_other; do
  grep -q "^  $d: v1" "$work/status.txt" || fail "status does not show the master keys of $d: $(cat "$work/status.txt")"
done
"$SIDECAR" status -d "dbname=$db" --log-format json >"$work/status.json"
python3 - "$work/status.json" <<'PY' || fail "status --log-format json is not the documented document"
import json, sys
s = json.load(open(sys.argv[1]))
names = {d["database"] for d in s["master_keys"]}
assert {"sidecar_backup", "sidecar_backup_other", "sidecar_backup_restored"} <= names, names
assert {"retention", "due", "requests_overdue", "last_runs", "backups"} <= s.keys(), s.keys()
assert any(j["job"] == "backup" for j in s["last_runs"]), s["last_runs"]
PY

# ---- the daemon --------------------------------------------------------------------
cat >"$work/run.conf" <<CONF
dbname = dbname=$db
log-format = json
[schedule]
purge = 1s
backup = 0
expire-backups = 0
CONF
"$SIDECAR" run --config "$work/run.conf" 2>"$work/run.log" &
daemon=$!
runs_of_purge() { qv -d $db -c "SELECT coalesce(extract(epoch FROM started_at)::int8, 0) FROM gdpr.job_run WHERE job = 'purge'"; }
for _ in $(seq 1 50); do [ -n "$(runs_of_purge)" ] && break; sleep 0.2; done
[ -n "$(runs_of_purge)" ] || fail "the daemon did not run purge"
"$SIDECAR" run --config "$work/run.conf" 2>"$work/second.log"
check "a second daemon exits 4" 4 $?
printf 'no-such-setting = 1\n' >>"$work/run.conf"
kill -HUP $daemon
sleep 1
kill -0 $daemon 2>/dev/null || fail "the daemon died on an invalid configuration"
grep -q "keeping the old one" "$work/run.log" || fail "no message about the invalid configuration: $(cat "$work/run.log")"
first=$(runs_of_purge)
sleep 2.5
[ "$(runs_of_purge)" -gt "$first" ] || fail "the daemon stopped scheduling purge after SIGHUP"
kill -TERM $daemon
wait $daemon
check "the daemon exits 0 on SIGTERM" 0 $?
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$work/run.log" || fail "the daemon's log is not JSON lines"

finish_suite "sidecar backup"

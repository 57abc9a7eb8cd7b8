#!/usr/bin/env bash
# Consent-aware views, their write triggers and grants, the Art. 9 guard
# and the choices survive pg_dump / pg_restore without a restore error; the
# per-subject state is derived again from the restored choices; the
# restored views filter, decrypt and encrypt as before.
# Expects a running cluster (PGHOST/PGPORT from test/lib/cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
bindir=$(pg_config --bindir)
work=$(mktemp -d)
chmod 755 "$work"
q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  rm -rf "$work"
  q -d postgres -c "DROP DATABASE IF EXISTS consent_src" -c "DROP DATABASE IF EXISTS consent_dst" >/dev/null 2>&1 || true
}
trap cleanup EXIT

q -d postgres -c "CREATE DATABASE consent_src" -c "CREATE DATABASE consent_dst"
q -d consent_src >/dev/null <<'SQL'
CREATE EXTENSION pg_gdpr;
CREATE TABLE people (person_id bigint PRIMARY KEY, email bytea, name text, health text);
SELECT gdpr_register_subject('person', 'people', 'person_id');
SELECT gdpr_tag('people', 'email', 'personal', 'people.email');
SELECT gdpr_tag('people', 'name', 'personal');
SELECT gdpr_tag('people', 'health', 'sensitive');
SELECT gdpr_load_policy_defaults();
SELECT gdpr_define_purpose('care', 'consent', '{personal,sensitive}', 'Care the person asked for', '{service}');
SELECT gdpr_create_view('people', 'direct_marketing');
SELECT gdpr_create_view('people', 'service_delivery');
INSERT INTO people_service_delivery (person_id, email, name) VALUES (1, 'ada@example.org', 'Ada'), (2, 'alan@example.org', 'Alan');
SELECT gdpr_set_consent('person', '1', 'direct_marketing', true, 'web_form');
SELECT gdpr_set_consent('person', '2', 'care', true, 'paper');
UPDATE people SET health = 'asthma' WHERE person_id = 2;
SELECT gdpr_restrict('person', '2', 'accuracy contested');
SQL

snapshot() {
  q -d "$1" -At <<'SQL'
SELECT 'views', string_agg(view::text || ':' || purpose, ',' ORDER BY view::text) FROM gdpr.consent_view;
SELECT 'state', kind, purpose, subject_id, allowed FROM gdpr.processing_state ORDER BY 2, 3, 4;
SELECT 'choices', count(*) FROM gdpr.choice;
SELECT 'guards', string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'people'::regclass AND NOT tgisinternal;
SET ROLE gdpr_reader_direct_marketing;
SELECT 'marketing', person_id, email, name FROM people_direct_marketing ORDER BY 2;
RESET ROLE;
SET ROLE gdpr_reader_service_delivery;
SELECT 'service', person_id, email FROM people_service_delivery ORDER BY 2;
RESET ROLE;
SQL
}

"$bindir/pg_dump" -Fc -d consent_src -f "$work/src.dump"
if ! "$bindir/pg_restore" -d consent_dst "$work/src.dump" 2>"$work/restore.err"; then
  echo "pg_restore reported errors:"; cat "$work/restore.err"; exit 1
fi
# keys travel apart from the data: the key backup comes back separately
q -d consent_src -At -c "SELECT encode(gdpr_key_backup(), 'hex')" >"$work/keys.hex"
echo "SELECT gdpr_restore_key_backup(decode(:'backup', 'hex')) > 0" \
  | q -d consent_dst -At -v backup="$(cat "$work/keys.hex")" >/dev/null
snapshot consent_src >"$work/src.txt"
snapshot consent_dst >"$work/dst.txt"
if ! diff "$work/src.txt" "$work/dst.txt"; then
  echo "the restored database answers differently"; exit 1
fi
grep -q '^marketing|1|ada@example.org|Ada$' "$work/dst.txt" || { echo "marketing view lost Ada"; cat "$work/dst.txt"; exit 1; }
grep -q '^state|person|service_delivery|2|f$' "$work/dst.txt" || { echo "restriction not derived again"; cat "$work/dst.txt"; exit 1; }
# the restored write trigger encrypts, the restored guard refuses
q -d consent_dst -At -c "INSERT INTO people_service_delivery (person_id, email, name) VALUES (3, 'grace@example.org', 'Grace')" \
  -c "SELECT 'sealed', gdpr_decrypt(email, 'people.email') FROM people WHERE person_id = 3" >"$work/write.txt"
grep -q '^sealed|grace@example.org$' "$work/write.txt" || { echo "write through the restored view failed"; cat "$work/write.txt"; exit 1; }
if q -d consent_dst -c "UPDATE people SET health = 'x' WHERE person_id = 1" >/dev/null 2>&1; then
  echo "the restored Art. 9 guard let a sensitive value through"; exit 1
fi
echo "consent dump/restore: $(wc -l <"$work/src.txt") facts identical; restored views write and guard"

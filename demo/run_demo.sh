#!/usr/bin/env bash
# A guided tour of pg_gdpr on a throwaway cluster: what is being done, the
# SQL, and what PostgreSQL answers. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/cluster.sh

bold=$'\e[1m'; dim=$'\e[2m'; cyan=$'\e[36m'; reset=$'\e[0m'
if [ ! -t 1 ]; then bold= dim= cyan= reset=; fi

chapter() { printf '\n%s══ %s ══%s\n' "$bold" "$*" "$reset"; }
say() { printf '%s\n' "$*" | fold -s -w 78; }
# step "what it shows" "SQL": prints the SQL, runs it, prints the answer.
step() {
  printf '\n%s▸ %s%s\n' "$cyan" "$1" "$reset"
  printf '%s' "$2" | sed "s/^/  ${dim}│${reset} /"
  printf '\n'
  { psql_q -d crm -P footer=off -c "$2" 2>&1 || true; } | sed "s/^/    /"
}
# setup "what it does" "SQL": prints the SQL and runs it without showing results.
setup() {
  printf '\n%s▸ %s%s\n' "$cyan" "$1" "$reset"
  printf '%s' "$2" | sed "s/^/  ${dim}│${reset} /"
  printf '\n'
  psql_q -d crm -c "$2" >/dev/null
}

chapter "Setting up"
say "Starting a throwaway PostgreSQL cluster with shared_preload_libraries = 'pg_gdpr' and a master key file (mode 0600, outside the database)."
cluster_start
psql_q -c "CREATE DATABASE crm" >/dev/null
psql_q -d crm -c "CREATE EXTENSION pg_gdpr" >/dev/null
say "Cluster running in $CLUSTER_DIR; pg_gdpr installed in database crm."
psql_q -d crm -f demo/crm_schema.sql >/dev/null
say "Loaded a small CRM (demo/crm_schema.sql): accounts, users, contacts. Every personal field was written with gdpr_encrypt(), under the key of the person it describes."

chapter "Per-subject encryption"
step "What is stored: ciphertext only (format version, key id, nonce, AES-256-GCM tag)" \
"SELECT contact_id, company, left(encode(email, 'hex'), 40) || '…' AS email_on_disk
  FROM contacts ORDER BY contact_id;"
step "The application reads it back with the context it was written under" \
"SELECT contact_id, gdpr_decrypt(email, 'crm.contacts.email') AS email,
       gdpr_decrypt(phone, 'crm.contacts.phone') AS phone
  FROM contacts ORDER BY contact_id;"
step "Each subject has its own data key, stored only wrapped by the master key, under a keyed address (no id)" \
"SELECT key_id, encode(substr(subject_address, 1, 6), 'hex') || '...' AS address, key_class, kek_version,
       length(wrapped_key) AS wrapped_bytes
  FROM gdpr.subject_key ORDER BY key_id;"
step "A ciphertext cannot be moved to another column unnoticed" \
"SELECT gdpr_decrypt(email, 'crm.contacts.phone') FROM contacts WHERE contact_id = 100;"

chapter "Crypto-shredding"
say "Marie Curie asks to be forgotten. Destroying her data key erases every copy of her encrypted data at once: in the table, in backups, in exports, in replicas."
step "Shred contact 100's key" "SELECT gdpr_shred_key('contact', '100') AS keys_destroyed;"
step "Her fields now read as NULL; nobody else is affected" \
"SELECT contact_id, gdpr_decrypt(email, 'crm.contacts.email') AS email
  FROM contacts ORDER BY contact_id;"
step "Nothing new can be encrypted for her" \
"SELECT gdpr_encrypt('contact', '100', 'marie@new.example', 'crm.contacts.email');"

chapter "The data map"
say "Tell pg_gdpr what a subject is, which tables have no foreign key, what the law says to keep, and what each column holds. It finds the rest by following foreign keys."
setup "Register subjects, a link, a legal hold, and column categories" \
"SELECT gdpr_register_subject('user', 'users', 'user_id');
SELECT gdpr_register_subject('contact', 'contacts', 'contact_id');
SELECT gdpr_link('page_views', 'user', 'user_id');
SELECT gdpr_hold('invoices', '7 years', 'issued_on', 'tax law: invoices are kept 7 years');
SELECT gdpr_tag('users', 'email', 'personal', 'crm.users.email');
SELECT gdpr_tag('users', 'full_name', 'personal', 'crm.users.full_name');
SELECT gdpr_tag('users', 'job_title', 'personal');
SELECT gdpr_tag('contacts', 'email', 'personal', 'crm.contacts.email');
SELECT gdpr_tag('contacts', 'phone', 'personal', 'crm.contacts.phone');
SELECT gdpr_tag('invoices', 'billing_name', 'personal', 'crm.invoices.billing_name');
SELECT gdpr_tag('sessions', 'ip_address', 'technical');
SELECT gdpr_load_policy_defaults();"
step "What pg_gdpr found for a user, and what it warns about" \
"SELECT table_name, reached_by, on_erase, warnings FROM gdpr_data_map('user');"

chapter "The right of access (Art. 15)"
step "Alan asks what the CRM holds about him: one call, decrypted, with purposes, recipients and retention" \
"SELECT jsonb_pretty(gdpr_export('user', '11') - 'purposes' - 'recipients' - 'generated_at');"

chapter "The right to erasure (Art. 17)"
say "Alan asks to be forgotten. The request is recorded with its 30-day due date, verified, then carried out in one transaction."
setup "Record and verify the request" \
"SELECT gdpr_request('user', '11', 'erasure', 'privacy@ form');
SELECT gdpr_verify_request(1);"
step "Carry it out" \
"SELECT jsonb_pretty(gdpr_fulfil_request(1) - 'subject_hash');"
step "What is left: the recent invoice, readable for the tax office; his user row, anonymized, because the invoice references it; the contact he managed, detached" \
"SELECT invoice_id, gdpr_decrypt(billing_name, 'crm.invoices.billing_name') AS billing_name, issued_on FROM invoices;
SELECT user_id, gdpr_decrypt(full_name, 'crm.users.full_name') AS full_name, job_title FROM users ORDER BY user_id;
SELECT contact_id, owner_id FROM contacts ORDER BY contact_id;"
step "The evidence: the ledger and the append-only audit log (subjects as keyed hashes)" \
"SELECT request_id, request_type, status, subject_id, due_at::date FROM gdpr.request;
SELECT audit_id, action, acting_role, left(encode(subject_hash, 'hex'), 12) || '…' AS subject FROM gdpr.audit_log ORDER BY audit_id;"
step "Nobody can rewrite it" "DELETE FROM gdpr.audit_log;"

chapter "Least privilege"
say "The DPO holds gdpr_admin and owns no table. Only a table's owner may map it; whatever pg_gdpr runs on a table runs as that table's owner, with search_path pinned, the way PostgreSQL runs VACUUM."
setup "A DPO role; page views now belong to their own role, whose trigger would like to be superuser" \
"CREATE ROLE crm_dpo LOGIN;
GRANT gdpr_admin TO crm_dpo;
CREATE ROLE crm_owner;
GRANT gdpr_app TO crm_owner;
CREATE TABLE public.trigger_log (ran_as name, dpo_became_superuser boolean);
CREATE FUNCTION public.sneaky() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  BEGIN EXECUTE 'ALTER ROLE crm_dpo SUPERUSER'; EXCEPTION WHEN insufficient_privilege THEN NULL; END;
  INSERT INTO public.trigger_log VALUES (current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = 'crm_dpo'));
  RETURN OLD;
END \$\$;
ALTER TABLE page_views OWNER TO crm_owner;
ALTER TABLE trigger_log OWNER TO crm_owner;
ALTER FUNCTION sneaky() OWNER TO crm_owner;
CREATE TRIGGER sneaky BEFORE DELETE ON page_views FOR EACH ROW EXECUTE FUNCTION sneaky();"
step "The DPO cannot map a system catalog, nor a table it does not own" \
"SET ROLE crm_dpo; SELECT gdpr_register_subject('acct', 'pg_catalog.pg_authid', 'rolname');"
step "The DPO erases Ada: the owner's trigger ran as the owner, not as the DPO, and gained nothing" \
"SET ROLE crm_dpo; SELECT gdpr_erase('user', '10', 'request 2') -> 'tables' AS erased;
RESET ROLE; SELECT * FROM trigger_log;"
step "Internal functions answer to nobody: the audit log's actor cannot be forged" \
"SET ROLE crm_dpo; SELECT gdpr._shred_key('user', '20');"

chapter "Master key rotation"
say "The operator adds version 2 to the key file and reloads; rotation re-wraps the data keys without touching a single row of data."
KEYS=$CLUSTER_DIR/keys/master_v12.keys
psql_q -c "ALTER SYSTEM SET pg_gdpr.master_key_file = '$KEYS'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
step "Re-wrap every data key under the newest master key" "SELECT gdpr_rotate_master_key() AS rewrapped;"
step "Version 1 wraps nothing any more in this database (pg_gdpr_sidecar status checks every database before it leaves the key file)" \
"SELECT * FROM gdpr_master_key_status();"
step "Data reads as before" \
"SELECT user_id, gdpr_decrypt(full_name, 'crm.users.full_name') AS full_name FROM users ORDER BY user_id;"

chapter "Two AES-GCM implementations, one format"
say "Each session seals and opens values with Intel ipsec-mb where the processor supports it (about 5x faster per value), and with OpenSSL otherwise or when pg_gdpr.cipher_implementation = openssl. Both write the same bytes: either one reads what the other wrote."
step "What this session uses" "SHOW pg_gdpr.cipher_in_use;"
PGOPTIONS="-c pg_gdpr.cipher_implementation=openssl" step \
  "A session started with OpenSSL forced reads the same values" \
"SHOW pg_gdpr.cipher_in_use;
SELECT user_id, gdpr_decrypt(full_name, 'crm.users.full_name') AS full_name FROM users ORDER BY user_id;"

chapter "Purposes, consent and consent-aware views"
say "Each purpose gets a view that shows only the people who may be processed for it, only the columns it may use, decrypted. Selling data or behavioural advertising cannot even be declared."
step "A purpose that sells data is refused, whatever it is called" \
"SELECT gdpr_define_purpose('partner_insights', 'legitimate_interests', '{personal}', 'Insights for partners', '{sale}');"
setup "A view per purpose, made by the table's owner" \
"SELECT gdpr_create_view('users', 'service_delivery');
SELECT gdpr_create_view('users', 'direct_marketing');"
step "The application writes plain SQL: the view encrypts under the new user's own key" \
"INSERT INTO users_service_delivery (user_id, account_id, email, full_name, job_title)
VALUES (21, 2, 'katherine@globex.example', 'Katherine Johnson', 'CTO');
SELECT user_id, left(encode(email, 'hex'), 24) || '…' AS stored, gdpr_decrypt(email, 'crm.users.email') AS decrypted
  FROM users WHERE user_id = 21;"
setup "Katherine consents to newsletters on the web form; Grace says nothing" \
"SELECT gdpr_set_consent('user', '21', 'direct_marketing', true, 'web_form');"
step "The mailer (role gdpr_reader_direct_marketing) sees Katherine only, and not the tables" \
"SET ROLE gdpr_reader_direct_marketing;
SELECT user_id, email, full_name, job_title FROM users_direct_marketing;
SELECT count(*) FROM users;"
setup "Her browser sends a Global Privacy Control signal: consent withdrawn" \
"SELECT gdpr_set_consent('user', '21', 'direct_marketing', false, 'gpc');"
step "From that commit on, the mailer's next statement no longer sees her; service delivery still does" \
"SELECT (SELECT count(*) FROM users_direct_marketing) AS marketing, (SELECT count(*) FROM users_service_delivery WHERE user_id = 21) AS service;"
step "Her choices, in order, never overwritten" \
"SELECT action, purpose, source, recorded_at::time(0) FROM gdpr.choice ORDER BY choice_id;"
chapter "Keys kept apart from data"
say "pg_dump holds ciphertext, the data map and tombstones, never a data key. Keys are backed up on their own (at most 30 days, never a shredded key); a restore is the dump + the newest key backup + the erasures since."
"$PG_BINDIR/pg_dump" -d crm -f "$CLUSTER_DIR/crm.sql"
psql_q -d crm -At -c "SELECT encode(gdpr_key_backup(), 'hex')" >"$CLUSTER_DIR/crm.keys.hex"
say "The dump: $(grep -c '^COPY gdpr.subject_key ' "$CLUSTER_DIR/crm.sql" || true) copies of the key table. The key backup: $(($(wc -c <"$CLUSTER_DIR/crm.keys.hex") / 2)) bytes, sealed."
psql_q -c "CREATE DATABASE crm_restored" >/dev/null
psql_q -d crm_restored -f "$CLUSTER_DIR/crm.sql" >/dev/null 2>&1
restored() { { psql_q -d crm_restored -P footer=off -c "$1" 2>&1 || true; } | sed "s/^/    /"; }
printf '\n%s▸ %s%s\n' "$cyan" "The restored dump alone cannot decrypt" "$reset"
restored "SELECT user_id, gdpr_decrypt(full_name, 'crm.users.full_name') FROM users WHERE user_id = 20;"
printf '\n%s▸ %s%s\n' "$cyan" "With the key backup, everyone comes back but the erased" "$reset"
echo "SELECT gdpr_restore_key_backup(decode(:'k', 'hex')) AS keys_restored" \
  | psql_q -d crm_restored -v k="$(cat "$CLUSTER_DIR/crm.keys.hex")" | sed "s/^/    /"
restored "SELECT user_id, gdpr_decrypt(full_name, 'crm.users.full_name') AS full_name FROM users ORDER BY user_id;"

chapter "Retention and backups: pg_gdpr_sidecar"
say "The policy keeps technical data 90 days and backups 90 days at most. Rules live in the database; pg_gdpr_sidecar (from cron or as a daemon) applies them in short batches and takes encrypted backups."
SIDECAR=$(pg_config --bindir)/pg_gdpr_sidecar
setup "Old sessions, and the policy's retention rules for the tables this CRM has (sessions: technical data, 90 days)" \
"INSERT INTO sessions (session_id, user_id, ip_address, started_at)
SELECT 100 + g, 20, '203.0.113.9', now() - g * interval '30 days' FROM generate_series(1, 6) g;
SELECT gdpr_load_retention_defaults();"
step "What is due" "SELECT table_name, action, keep, counted_from, due_rows FROM gdpr_retention_status();"
printf '\n%s▸ pg_gdpr_sidecar purge%s\n' "$cyan" "$reset"
"$SIDECAR" purge -d dbname=crm 2>&1 | sed 's/^/    /'
step "Sessions left: none older than 90 days; every batch is in the audit log" \
"SELECT session_id, started_at::date FROM sessions ORDER BY session_id;
SELECT action, details->>'table' AS table_name, details->>'rows' AS rows FROM gdpr.audit_log WHERE action = 'retention_purge';"
(umask 077; random_key_hex >"$CLUSTER_DIR/backup.key")
backup=(-d dbname=crm --backup-target "$CLUSTER_DIR/backups/eu" --backup-target "$CLUSTER_DIR/backups/apac"
        --backup-key-file "$CLUSTER_DIR/backup.key")
printf '\n%s▸ pg_gdpr_sidecar backup, to two targets (pg_dump -Fc through AES-256-GCM; no data keys inside)%s\n' "$cyan" "$reset"
id=$("$SIDECAR" backup "${backup[@]}" 2>/dev/null)
ls -l "$CLUSTER_DIR"/backups/* | sed 's/^/    /'
"$SIDECAR" backup "${backup[@]}" --now "$(date -u -d '-91 days' +%Y-%m-%dT%H:%M:%SZ)" >/dev/null 2>&1
printf '\n%s▸ pg_gdpr_sidecar expire-backups: the backup dated 91 days ago goes, from every target%s\n' "$cyan" "$reset"
"$SIDECAR" expire-backups "${backup[@]}" 2>&1 | sed 's/^/    /'
setup "Grace Hopper is erased after the backup was taken" "SELECT gdpr_erase('user', '20', 'request 3');"
printf '\n%s▸ pg_gdpr_sidecar restore %s --into crm_from_backup%s\n' "$cyan" "$id" "$reset"
"$SIDECAR" restore "$id" --into crm_from_backup "${backup[@]}" 2>&1 | sed 's/^/    /'
printf '\n%s▸ In the restored database, Grace is not back: her erasure was replayed%s\n' "$cyan" "$reset"
psql_q -d crm_from_backup -P footer=off -c "SELECT user_id, job_title FROM users ORDER BY user_id;" | sed 's/^/    /'

chapter "Done"
say "The cluster is stopped and removed. Read README.md for every function, and run 'make check' for the test suites."

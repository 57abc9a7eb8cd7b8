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
step "Each subject has its own data key, stored only wrapped by the master key" \
"SELECT subject_kind, subject_id, key_class, kek_version, length(wrapped_key) AS wrapped_bytes
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

chapter "Master key rotation"
say "The operator adds version 2 to the key file and reloads; rotation re-wraps the data keys without touching a single row of data."
KEYS=$CLUSTER_DIR/keys/master_v12.keys
psql_q -c "ALTER SYSTEM SET pg_gdpr.master_key_file = '$KEYS'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
step "Re-wrap every data key under the newest master key" "SELECT gdpr_rotate_master_key() AS rewrapped;"
step "Version 1 wraps nothing any more and can leave the key file" \
"SELECT * FROM gdpr_master_key_status();"
step "Data reads as before" \
"SELECT user_id, gdpr_decrypt(full_name, 'crm.users.full_name') AS full_name FROM users ORDER BY user_id;"

chapter "Done"
say "The cluster is stopped and removed. Read README.md for every function, and run 'make check' for the test suites."

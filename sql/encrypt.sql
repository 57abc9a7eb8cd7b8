-- gdpr_encrypt / gdpr_decrypt round trips.

-- section: text and bytea round trips
SELECT gdpr_decrypt(gdpr_encrypt('user', '1', 'alice@example.com', 'crm.users.email'),
                    'crm.users.email') AS email;
SELECT gdpr_decrypt_bytea(gdpr_encrypt('user', '1', '\x00ff10'::bytea, 'crm.users.avatar'),
                          'crm.users.avatar') AS avatar;
-- a text value can also be read as its bytes
SELECT gdpr_decrypt_bytea(gdpr_encrypt('user', '1', 'abc', 'c'), 'c') AS text_as_bytes;

-- section: empty, NULL, non-ASCII
SELECT gdpr_decrypt(gdpr_encrypt('user', '1', '', 'c'), 'c') = '' AS empty_round_trip;
SELECT gdpr_encrypt('user', '1', NULL::text, 'c') IS NULL AS null_text_stays_null,
       gdpr_encrypt('user', '1', NULL::bytea, 'c') IS NULL AS null_bytea_stays_null,
       gdpr_decrypt(NULL, 'c') IS NULL AS null_ciphertext_stays_null;
SELECT gdpr_decrypt(gdpr_encrypt('contact', 'ø-7', 'Zoë Ångström 東京 🚀', 'c'), 'c') AS non_ascii;

-- section: every length from 0 to 64, and 1 MB
SELECT count(*) AS lengths_ok
  FROM generate_series(0, 64) AS n
 WHERE gdpr_decrypt(gdpr_encrypt('user', '2', repeat('x', n), 'len'), 'len') = repeat('x', n)
   AND length(gdpr_encrypt('user', '2', repeat('x', n), 'len')) = n + 38;
SELECT md5(gdpr_decrypt(gdpr_encrypt('user', '3', big, 'big'), 'big')) = md5(big) AS one_mb_ok
  FROM (SELECT string_agg(md5(i::text), '') AS big FROM generate_series(1, 32768) AS i) AS s;

-- section: each value gets a fresh nonce; each subject its own key
SELECT count(DISTINCT gdpr_encrypt('user', '1', 'same', 'c')) AS distinct_ciphertexts
  FROM generate_series(1, 100);
SELECT substring(gdpr_encrypt('user', '1', 'x', 'c') from 3 for 8)
       <> substring(gdpr_encrypt('user', '2', 'x', 'c') from 3 for 8) AS different_key_ids,
       substring(gdpr_encrypt('user', '1', 'x', 'c') from 3 for 8)
       = substring(gdpr_encrypt('user', '1', 'y', 'd') from 3 for 8) AS same_key_for_subject;
SELECT get_byte(gdpr_encrypt('user', '1', 'x', 'c'), 0) AS format_version,
       get_byte(gdpr_encrypt('user', '1', 'x', 'c'), 1) AS text_type,
       get_byte(gdpr_encrypt('user', '1', 'x'::bytea, 'c'), 1) AS bytea_type;

-- section: one key row per subject, stored only wrapped
SELECT s.kind, s.id, k.key_class, k.kek_version, length(k.wrapped_key) AS wrapped_bytes, length(k.subject_address) AS address_bytes
  FROM gdpr.subject_key k
  JOIN (VALUES ('user', 'bad-input'), ('user', '1'), ('contact', 'ø-7'), ('user', '2'), ('user', '3')) s(kind, id) ON k.subject_address = gdpr._subject_key_address(s.kind, s.id)
 ORDER BY k.key_id;
-- the key table names no subject: no kind, no id, only a keyed address
SELECT string_agg(column_name, ', ' ORDER BY ordinal_position) AS key_table_columns
  FROM information_schema.columns WHERE table_schema = 'gdpr' AND table_name = 'subject_key';

-- section: a key created in a rolled-back transaction is not reused
BEGIN;
SELECT gdpr_encrypt('user', 'rolled-back', 'x', 'c') IS NOT NULL AS encrypted;
ROLLBACK;
SELECT gdpr_decrypt(gdpr_encrypt('user', 'rolled-back', 'after rollback', 'c'), 'c') AS decrypts;
SELECT count(*) AS keys_for_subject FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('user', 'rolled-back');
BEGIN;
SAVEPOINT s;
SELECT gdpr_encrypt('user', 'sub-rolled-back', 'x', 'c') IS NOT NULL AS encrypted;
ROLLBACK TO SAVEPOINT s;
CREATE TABLE kept AS SELECT gdpr_encrypt('user', 'sub-rolled-back', 'kept', 'c') AS v;
COMMIT;
SELECT gdpr_decrypt(v, 'c') AS decrypts FROM kept;
DROP TABLE kept;

-- section: encrypting a table column and reading it back
CREATE TABLE contacts (id int PRIMARY KEY, email bytea);
INSERT INTO contacts
SELECT i, gdpr_encrypt('contact', (i % 7)::text, 'person' || i || '@example.com', 'crm.contacts.email')
  FROM generate_series(1, 1000) AS i;
SELECT count(*) FILTER (WHERE gdpr_decrypt(email, 'crm.contacts.email') = 'person' || id || '@example.com') AS decrypted,
       count(*) AS total
  FROM contacts;
DROP TABLE contacts;

-- section: one transaction that creates the keys of many subjects (a bulk
-- load) commits: more subjects than the server's lock table holds locks
CREATE TABLE bulk AS
SELECT i, gdpr_encrypt('bulk', i::text, 'value ' || i, 'test.bulk') AS v FROM generate_series(1, 12000) AS i;
SELECT count(*) FILTER (WHERE gdpr_decrypt(v, 'test.bulk') = 'value ' || i) AS decrypted FROM bulk;
SELECT count(*) AS keys FROM gdpr.subject_key
 WHERE subject_address IN (SELECT gdpr._subject_key_address('bulk', i::text) FROM generate_series(1, 12000) i);
DELETE FROM gdpr.subject_key
 WHERE subject_address IN (SELECT gdpr._subject_key_address('bulk', i::text) FROM generate_series(1, 12000) i);
DROP TABLE bulk;

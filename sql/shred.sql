-- gdpr_shred_key: crypto-shredding a subject.
CREATE TABLE notes AS
SELECT gdpr_encrypt('user', 'shred-me', 'secret note', 'crm.notes.body') AS ct,
       gdpr_encrypt('user', 'keep-me', 'other note', 'crm.notes.body') AS other;

-- section: shredding destroys the key; the subject's data reads as NULL, others' is untouched
SELECT gdpr_shred_key('user', 'shred-me') AS keys_shredded;
SELECT gdpr_decrypt(ct, 'crm.notes.body') IS NULL AS erased,
       gdpr_decrypt(other, 'crm.notes.body') AS other_subject
  FROM notes;
SELECT key_class, kek_version, wrapped_key IS NULL AS no_key_material,
       shredded_at IS NOT NULL AS shredded
  FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('user', 'shred-me');

-- section: strict mode raises instead of returning NULL
SET pg_gdpr.strict_decrypt = on;
SELECT regexp_replace(test.error_of($$SELECT gdpr_decrypt(ct, 'crm.notes.body') FROM notes$$),
                      '\d+ was', 'N was') AS strict_error;
RESET pg_gdpr.strict_decrypt;

-- section: shredding twice is harmless
SELECT gdpr_shred_key('user', 'shred-me') AS second_time;

-- section: nothing new can be encrypted for an erased subject
SELECT * FROM test.full_error_of($$SELECT gdpr_encrypt('user', 'shred-me', 'new', 'c')$$);

-- section: shredding a subject that never had a key also blocks it
SELECT gdpr_shred_key('user', 'never-seen') AS keys_shredded;
SELECT test.error_of($$SELECT gdpr_encrypt('user', 'never-seen', 'new', 'c')$$);

-- section: a rolled-back shred changes nothing
BEGIN;
SELECT gdpr_shred_key('user', 'keep-me') AS keys_shredded;
SELECT gdpr_decrypt(other, 'crm.notes.body') IS NULL AS erased_inside_transaction FROM notes;
ROLLBACK;
SELECT gdpr_decrypt(other, 'crm.notes.body') AS after_rollback FROM notes;

-- section: a shred inside a rolled-back savepoint changes nothing either
BEGIN;
SAVEPOINT s;
SELECT gdpr_shred_key('user', 'keep-me') AS keys_shredded;
ROLLBACK TO SAVEPOINT s;
SELECT gdpr_decrypt(other, 'crm.notes.body') AS after_savepoint_rollback FROM notes;
COMMIT;

-- section: a key row deleted by hand also stops decryption at once
BEGIN;
DELETE FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('user', 'keep-me');
SELECT regexp_replace(test.error_of($$SELECT gdpr_decrypt(other, 'crm.notes.body') FROM notes$$),
                      'key \d+', 'key N') AS deleted_key;
ROLLBACK;

-- section: bad input
SELECT test.error_of($$SELECT gdpr_shred_key(NULL, '1')$$);
SELECT test.error_of($$SELECT gdpr_shred_key('user', NULL)$$);
SELECT test.error_of($$SELECT gdpr_shred_key('', '1')$$);

-- section: a transaction that shredded keys cannot be prepared
BEGIN;
SELECT gdpr_shred_key('user', 'prepared') AS keys_shredded;
PREPARE TRANSACTION 'shred';
SELECT count(*) AS prepared_transactions FROM pg_prepared_xacts;
SELECT count(*) AS rows_for_prepared FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('user', 'prepared');
DROP TABLE notes;

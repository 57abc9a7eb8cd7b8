-- After the load: nothing of an erased user is left, every other user's
-- values decrypt, no erased subject has a live main key, every shredded
-- visitor key is gone. One row per invariant, "violations" must be 0.
SELECT 'erased users left in load.users' AS invariant, count(*) AS violations
  FROM load.users u JOIN gdpr.tombstone t ON t.subject_hash = gdpr.subject_hash('user', u.user_id::text)
UNION ALL
SELECT 'contacts of erased users', count(*)
  FROM load.contacts c JOIN gdpr.tombstone t ON t.subject_hash = gdpr.subject_hash('user', c.owner_id::text)
UNION ALL
SELECT 'page views of erased users', count(*)
  FROM load.page_views v JOIN gdpr.tombstone t ON t.subject_hash = gdpr.subject_hash('user', v.user_id::text)
UNION ALL
SELECT 'users whose email does not decrypt', count(*)
  FROM load.users WHERE gdpr_decrypt(email, 'load.users.email') IS NULL
UNION ALL
SELECT 'contacts whose email does not decrypt', count(*)
  FROM load.contacts WHERE gdpr_decrypt(email, 'load.contacts.email') IS NULL
UNION ALL
SELECT 'live main keys of erased subjects', count(*)
  FROM gdpr.subject_key k JOIN gdpr.tombstone t ON t.key_address = k.subject_address
 WHERE k.key_class = 'main' AND k.shredded_at IS NULL
UNION ALL
SELECT 'erasures without a tombstone', count(*)
  FROM gdpr.audit_log a WHERE a.action = 'erase' AND (a.details ->> 'found')::boolean
   AND NOT EXISTS (SELECT 1 FROM gdpr.tombstone t WHERE t.subject_hash = a.subject_hash);

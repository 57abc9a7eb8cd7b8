-- The request ledger and the append-only audit log.
\i test/fixtures/crm.sql

-- section: an erasure request goes through receipt, verification, completion
SELECT gdpr_request('user', '3', 'erasure', 'web form') AS request_id \gset
SELECT request_type, status, due_at - received_at AS time_to_answer, subject_id
  FROM gdpr.request WHERE request_id = :request_id;
SELECT * FROM test.full_error_of(format('SELECT gdpr_fulfil_request(%s)', :request_id));
SELECT count(*) AS graces_rows_untouched FROM crm.users WHERE user_id = 3 AND full_name IS NOT NULL;
SELECT gdpr_verify_request(:request_id);
SELECT test.error_of(format('SELECT gdpr_verify_request(%s)', :request_id));
SELECT gdpr_fulfil_request(:request_id) -> 'tables' AS erased;
SELECT request_type, status, completed_at IS NOT NULL AS completed, subject_id,
       outcome -> 'keys_shredded' AS keys
  FROM gdpr.request WHERE request_id = :request_id;
SELECT count(*) AS tombstone_names_request FROM gdpr.tombstone WHERE request_id = :request_id;

-- section: access and restriction requests
SELECT gdpr_request('user', '2', 'access', 'email') AS access_id \gset
SELECT gdpr_verify_request(:access_id);
SELECT gdpr_fulfil_request(:access_id) -> 'subject' AS exported_for;
SELECT gdpr_request('user', '2', 'restriction', 'email') AS restriction_id \gset
SELECT gdpr_verify_request(:restriction_id);
SELECT gdpr_fulfil_request(:restriction_id);
SELECT jsonb_array_length(gdpr_export('user', '2') -> 'requests') AS requests_in_export;

-- section: overdue requests
SELECT gdpr_request('contact', '10', 'objection', 'phone') AS late_id \gset
UPDATE gdpr.request SET received_at = now() - interval '40 days', due_at = now() - interval '10 days'
 WHERE request_id = :late_id;
SELECT request_type, status, overdue > interval '9 days' AS ten_days_late FROM gdpr_requests_overdue();

-- section: the ledger keeps the canonical id: '002' is user 2
SELECT gdpr_request('user', '002', 'access', 'web form') AS canonical_id \gset
SELECT subject_id FROM gdpr.request WHERE request_id = :canonical_id;
-- erasing the subject clears the id from every one of its requests, not only the fulfilled one
SELECT gdpr_erase('user', '2', 'test') ->> 'found' AS found;
SELECT count(*) AS requests_naming_user_2 FROM gdpr.request WHERE kind = 'user' AND subject_id = '2';

-- section: bad input
SELECT test.error_of($$SELECT gdpr_request('user', '2', 'deletion', 'web')$$);
SELECT test.error_of($$SELECT gdpr_request('lead', '2', 'erasure', 'web')$$);
SELECT test.error_of($$SELECT gdpr_request('user', '2', 'erasure', NULL)$$);
SELECT test.error_of($$SELECT gdpr_verify_request(987654)$$);
SELECT test.error_of($$SELECT gdpr_fulfil_request(NULL)$$);

-- section: the audit log is append-only, for everyone
SELECT action, kind, acting_role, request_id IS NOT NULL AS has_request
  FROM gdpr.audit_log WHERE action LIKE 'request%' ORDER BY audit_id;
SELECT * FROM test.full_error_of($$UPDATE gdpr.audit_log SET action = 'nothing'$$);
SELECT test.error_of($$DELETE FROM gdpr.audit_log$$);
SELECT test.error_of($$TRUNCATE gdpr.audit_log$$);
-- a DPO cannot either, even claiming maintenance
CREATE ROLE auditor_tamper LOGIN IN ROLE gdpr_admin;
SET ROLE auditor_tamper;
SET gdpr.audit_maintenance = on;
SELECT test.error_of($$DELETE FROM gdpr.audit_log$$);
RESET gdpr.audit_maintenance;
RESET ROLE;
DROP ROLE auditor_tamper;

SELECT test.reset_crm();

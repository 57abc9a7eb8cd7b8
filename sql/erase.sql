-- gdpr_erase: one transaction, per-table report, holds, shared rows, keys.
\i test/fixtures/crm.sql
CREATE TEMP TABLE audit_start AS SELECT coalesce(max(audit_id), 0) AS id FROM gdpr.audit_log;

-- section: erasing user 1 (Ada)
SELECT jsonb_pretty(gdpr_erase('user', '1', 'test: user asked to be forgotten') - 'subject_hash' - 'held_until');

-- section: what is left
SELECT user_id, full_name, job_title, manager_id, gdpr_decrypt(email, 'crm.users.email') AS email
  FROM crm.users ORDER BY user_id;
SELECT message_id, sender_id, recipient_id, gdpr_decrypt(body, 'crm.messages.body') AS body
  FROM crm.messages ORDER BY message_id;
-- the recent invoice stays for tax law, still readable; the 8-year-old one is gone
SELECT invoice_id, user_id, gdpr_decrypt(billing_name, 'crm.invoices.billing_name') AS billing_name
  FROM crm.invoices ORDER BY invoice_id;
SELECT payment_id, invoice_id, card_last4 FROM crm.payments ORDER BY 1;
SELECT hold_table, row_key, release_at > now() + interval '6 years' AS held_for_years
  FROM gdpr.hold_release ORDER BY hold_table::text;
SELECT contact_id, owner_id FROM crm.contacts ORDER BY 1;
SELECT deal_id, owner_id FROM crm.deals ORDER BY 1;
SELECT (SELECT count(*) FROM crm.activities WHERE user_id = 1) AS activities,
       (SELECT count(*) FROM crm.sessions WHERE user_id = 1) AS sessions,
       (SELECT count(*) FROM crm.usage_events WHERE user_id = 1) AS usage_events,
       (SELECT count(*) FROM crm.notes WHERE author_id = 1) AS notes,
       (SELECT count(*) FROM crm.attachments WHERE note_id = 800) AS attachments;
-- other users are untouched
SELECT count(*) AS alans_rows FROM crm.activities WHERE user_id = 2;
-- keys: main shredded, hold key kept while the hold lasts
SELECT key_class, shredded_at IS NOT NULL AS shredded FROM gdpr.subject_key
 WHERE subject_address = gdpr._subject_key_address('user', '1') ORDER BY 1;
SELECT count(*) AS tombstones FROM gdpr.tombstone WHERE subject_hash = gdpr.subject_hash('user', '1');

-- section: a table linked without a foreign key refuses new rows for the erased subject
SELECT test.error_of($$INSERT INTO crm.usage_events VALUES (99, 1, 'reports')$$);
INSERT INTO crm.usage_events VALUES (98, 2, 'reports');
DELETE FROM crm.usage_events WHERE event_id = 98;

-- section: calling it again reports nothing to do
SELECT gdpr_erase('user', '1', 'again') -> 'tables' AS tables, gdpr_erase('user', '1', 'again') -> 'keys_shredded' AS keys;

-- section: the second party of a shared message is erased: now the row goes
SELECT gdpr_erase('user', '2', 'test') -> 'tables' -> 'crm.messages' AS messages;
SELECT count(*) AS messages_left FROM crm.messages;

-- section: unknown id: zero, not an error
SELECT gdpr_erase('user', '424242', 'test') -> 'tables' AS tables;

-- section: a contact: shared deals survive, its link rows go
SELECT gdpr_erase('contact', '11', 'test') -> 'tables' AS tables;
SELECT * FROM crm.deal_contacts ORDER BY 1, 2;
SELECT deal_id FROM crm.deals ORDER BY 1;

-- section: bad input
SELECT * FROM test.full_error_of($$SELECT gdpr_erase('customer', '1', 'x')$$);
SELECT test.error_of($$SELECT gdpr_erase(NULL, '1', 'x')$$);
SELECT test.error_of($$SELECT gdpr_erase('user', NULL, 'x')$$);
SELECT test.error_of($$SELECT gdpr_erase('user', '', 'x')$$);
SELECT test.error_of($$SELECT gdpr_erase('user', '3', NULL)$$);
SELECT test.error_of($$SELECT gdpr_erase('user', 'not-a-number', 'x')$$);

-- section: an erase that fails half-way changes nothing
CREATE FUNCTION crm.refuse_session_delete() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'sessions are locked for an audit'; END $$;
CREATE TRIGGER refuse BEFORE DELETE ON crm.sessions FOR EACH ROW EXECUTE FUNCTION crm.refuse_session_delete();
INSERT INTO crm.sessions VALUES (700, 3, '203.0.113.5');
SELECT test.error_of($$SELECT gdpr_erase('user', '3', 'x')$$);
SELECT full_name, gdpr_decrypt(email, 'crm.users.email') AS email FROM crm.users WHERE user_id = 3;
SELECT count(*) AS graces_keys_shredded FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('user', '3') AND shredded_at IS NOT NULL;
DROP TRIGGER refuse ON crm.sessions;

-- section: the audit log recorded every erase with the acting role
SELECT action, kind, acting_role, details ->> 'reason' AS reason, details ->> 'keys_shredded' AS keys
  FROM gdpr.audit_log WHERE audit_id > (SELECT id FROM audit_start) ORDER BY audit_id;

SELECT test.reset_crm();

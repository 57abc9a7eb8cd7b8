-- Consent-aware views (issue 10): rows per subject's choices, columns per
-- purpose's categories, decryption on read, encryption on write, every
-- read path, and the Art. 9 guard.
\i test/fixtures/crm.sql
SET client_min_messages = warning;
SELECT gdpr_load_policy_defaults() > 0 AS defaults_loaded;
SELECT gdpr_define_purpose('health_coaching', 'consent', '{personal,sensitive}',
                           'Coaching based on health data the person provides', '{service}', true);
RESET client_min_messages;
-- Ada (1) wants newsletters, Alan (2) does not say, Grace (3) is restricted
SELECT gdpr_set_consent('user', '1', 'direct_marketing', true, 'web_form') > 0 AS ada_consents;
SELECT gdpr_restrict('user', '3', 'accuracy contested') > 0 AS grace_restricted;

-- a function that leaks every value it is given
CREATE FUNCTION test.leak(value text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
  RAISE NOTICE 'leaked: %', value;
  RETURN true;
END
$$;
GRANT EXECUTE ON FUNCTION test.leak(text) TO PUBLIC;

-- section: creating views
SELECT gdpr_create_view('crm.users', 'direct_marketing') AS view;
SELECT gdpr_create_view('crm.users', 'service_delivery', 'crm.users_service') AS view;
SELECT gdpr_create_view('crm.users', 'product_improvement') AS view;
SELECT gdpr_create_view('crm.usage_events', 'product_improvement') AS view;
SELECT gdpr_create_view('crm.messages', 'service_delivery') AS view;
SELECT gdpr_create_view('crm.attachments', 'direct_marketing') AS view;
SELECT view, rel, purpose, created_by FROM gdpr.consent_view ORDER BY view::text;
SELECT c.relname, c.relowner::regrole AS owner, c.reloptions
  FROM pg_class c WHERE c.oid IN (SELECT view FROM gdpr.consent_view) ORDER BY 1;

-- section: bad input: nothing is created
SELECT test.error_of($$SELECT gdpr_create_view('crm.accounts', 'service_delivery')$$);
SELECT test.error_of($$SELECT gdpr_create_view('crm.users', 'nonsense')$$);
SELECT test.error_of($$SELECT gdpr_create_view(NULL, 'service_delivery')$$);
SELECT test.error_of($$SELECT gdpr_create_view('crm.users', NULL)$$);
SELECT test.error_of($$SELECT gdpr_create_view('crm.users', 'billing', 'crm.users')$$);
SELECT test.error_of($$SELECT gdpr_create_view('crm.users', 'billing', 'a.b.c')$$);
SELECT test.error_of($$SELECT gdpr_create_view('crm.users', 'billing', 'nowhere.users_billing')$$);
SELECT test.error_of($$SELECT gdpr_create_view('crm.users_service', 'billing')$$);
SELECT count(*) AS views FROM gdpr.consent_view;

-- section: rows per subject, columns per category, decrypted
SET ROLE gdpr_reader_direct_marketing;
SELECT user_id, email, full_name, job_title, account_id FROM crm.users_direct_marketing ORDER BY user_id;
SELECT * FROM crm.attachments_direct_marketing ORDER BY note_id, seq;
RESET ROLE;
SET ROLE gdpr_reader_service_delivery;
SELECT user_id, email, full_name, manager_id FROM crm.users_service ORDER BY user_id;
SELECT message_id, sender_id, recipient_id, body FROM crm.messages_service_delivery ORDER BY message_id;
RESET ROLE;
SET ROLE gdpr_reader_product_improvement;
SELECT user_id, email, full_name, job_title FROM crm.users_product_improvement ORDER BY user_id;
SELECT * FROM crm.usage_events_product_improvement ORDER BY event_id;
RESET ROLE;

-- section: the reader gets nothing but its views
SET ROLE gdpr_reader_direct_marketing;
SELECT test.error_of($$SELECT * FROM crm.users$$);
SELECT test.error_of($$SELECT * FROM crm.users_service$$);
SELECT test.error_of($$SELECT * FROM gdpr.processing_state$$);
SELECT test.error_of($$SELECT count(*) FROM crm.users_direct_marketing v JOIN crm.users u USING (user_id)$$);
SELECT test.error_of($$UPDATE crm.users_direct_marketing SET full_name = 'x'$$);
SELECT test.error_of($$DELETE FROM crm.users_direct_marketing$$);
RESET ROLE;

-- section: every read path, with a leaky function: only Ada is ever seen
SET ROLE gdpr_reader_direct_marketing;
SELECT user_id FROM crm.users_direct_marketing WHERE test.leak(full_name);
SELECT user_id FROM crm.users_direct_marketing WHERE test.leak(email) AND user_id = 2;
BEGIN;
DECLARE c CURSOR FOR SELECT user_id, full_name FROM crm.users_direct_marketing WHERE test.leak(job_title);
FETCH ALL FROM c;
CLOSE c;
COMMIT;
PREPARE marketing(bigint) AS SELECT user_id, full_name FROM crm.users_direct_marketing WHERE user_id = $1 AND test.leak(full_name);
EXECUTE marketing(1);
EXECUTE marketing(2);
COPY (SELECT user_id, email, full_name FROM crm.users_direct_marketing WHERE test.leak(full_name)) TO STDOUT;
SELECT u.user_id, count(a.seq) AS attachments
  FROM crm.users_direct_marketing u LEFT JOIN crm.attachments_direct_marketing a ON test.leak(a.file_name) AND a.note_id IN (800, 801)
 GROUP BY u.user_id;
SELECT count(*) AS via_subquery FROM (SELECT * FROM crm.users_direct_marketing OFFSET 0) s WHERE test.leak(s.full_name);
EXPLAIN (COSTS OFF) SELECT user_id FROM crm.users_direct_marketing WHERE test.leak(full_name);
RESET ROLE;

-- section: a withdrawal is seen by the next statement, prepared or not
SET ROLE gdpr_reader_direct_marketing;
PREPARE marketing_all AS SELECT user_id FROM crm.users_direct_marketing;
EXECUTE marketing_all;
RESET ROLE;
SELECT gdpr_set_consent('user', '1', 'direct_marketing', false, 'email') > 0 AS withdrawn;
SET ROLE gdpr_reader_direct_marketing;
EXECUTE marketing_all;
EXECUTE marketing(1);
RESET ROLE;
SELECT gdpr_set_consent('user', '1', 'direct_marketing', true, 'web_form') > 0 AS given_again;

-- section: objection and restriction hide the subject; lifting shows it again
SELECT gdpr_object('user', '2', 'product_improvement') > 0 AS objected;
SET ROLE gdpr_reader_product_improvement;
SELECT user_id FROM crm.usage_events_product_improvement ORDER BY event_id;
RESET ROLE;
SELECT gdpr_lift_restriction('user', '3') > 0 AS lifted;
SET ROLE gdpr_reader_service_delivery;
SELECT user_id FROM crm.users_service ORDER BY user_id;
RESET ROLE;

-- section: writing through the view encrypts under the row's subject's key
SELECT gdpr_create_view('crm.invoices', 'billing') AS view;
INSERT INTO crm.users_service (user_id, account_id, email, full_name, job_title)
VALUES (4, 1, 'katherine@nasa.example', 'Katherine Johnson', 'Mathematician')
RETURNING user_id, email, full_name;
SELECT get_byte(email, 0) AS format_version, gdpr._ciphertext_key(email) = (SELECT key_id FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('user', '4') AND key_class = 'main') AS sealed_with_users_key,
       position('katherine' IN encode(email, 'escape')) = 0 AS not_plaintext,
       gdpr_decrypt(email, 'crm.users.email') AS decrypted, created_at IS NOT NULL AS default_applied
  FROM crm.users WHERE user_id = 4;
SELECT test.error_of($$SELECT gdpr_decrypt(email, 'crm.invoices.billing_name') FROM crm.users WHERE user_id = 4$$);
UPDATE crm.users_service SET email = 'kj@nasa.example' WHERE user_id = 4;
UPDATE crm.users_service SET job_title = 'Research Mathematician' WHERE user_id = 4;
SELECT user_id, email, job_title FROM crm.users_service WHERE user_id = 4;
SELECT gdpr_decrypt(email, 'crm.users.email') AS stored FROM crm.users WHERE user_id = 4;
-- a child row is sealed under its own subject's key
INSERT INTO crm.invoices_billing (invoice_id, user_id, billing_name, amount, issued_on)
VALUES (903, 4, 'Katherine Johnson, Hampton VA', 12, current_date);
SELECT gdpr_decrypt(billing_name, 'crm.invoices.billing_name') AS billing_name,
       gdpr._ciphertext_key(billing_name) = (SELECT key_id FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('user', '4') AND key_class = 'main') AS users_key
  FROM crm.invoices WHERE invoice_id = 903;
SELECT invoice_id, billing_name FROM crm.invoices_billing WHERE invoice_id = 903;
DELETE FROM crm.invoices_billing WHERE invoice_id = 903;
SELECT count(*) AS invoice_903 FROM crm.invoices WHERE invoice_id = 903;
-- what the purpose may not write, or whom it may not process
SELECT test.error_of($$INSERT INTO crm.users_product_improvement (user_id, account_id, email) VALUES (5, 1, 'x@y')$$);
SELECT test.error_of($$INSERT INTO crm.usage_events_product_improvement VALUES (9, 1, 'x')$$);
SELECT gdpr_restrict('user', '4', 'accuracy contested') > 0 AS restricted;
-- (the restricted row is not in the view: nothing to update)
UPDATE crm.users_service SET job_title = 'x' WHERE user_id = 4;
SELECT test.error_of($$INSERT INTO crm.invoices_billing (invoice_id, user_id, billing_name, amount, issued_on) VALUES (904, 4, 'x', 1, current_date)$$);
SELECT count(*) AS rows_updated FROM crm.users WHERE job_title = 'x';
SELECT gdpr_lift_restriction('user', '4') > 0 AS lifted;

-- section: a linked array of ids: the row is shown when every subject it names may be processed
CREATE TABLE crm.photos (photo_id bigint PRIMARY KEY, user_ids bigint[] NOT NULL, caption text);
SELECT gdpr_link('crm.photos', 'user', 'user_ids');
INSERT INTO crm.photos VALUES (1, '{1}', 'Ada'), (2, '{1,2}', 'Ada and Alan'), (3, '{3,4}', 'Grace and Katherine'), (4, '{}', 'the office');
SELECT gdpr_create_view('crm.photos', 'direct_marketing') AS view;
SELECT gdpr_create_view('crm.photos', 'product_improvement') AS view;
SELECT photo_id, caption FROM crm.photos_direct_marketing ORDER BY photo_id;
SELECT photo_id, caption FROM crm.photos_product_improvement ORDER BY photo_id;

-- section: the write trigger runs with the table owner's rights, never more
SELECT p.proname, p.prosecdef, p.proowner::regrole AS owner, p.proconfig
  FROM pg_proc p WHERE p.proname = 'users_service_write';

-- section: views follow tags, columns and purposes
ALTER TABLE crm.users ADD COLUMN health_note text;
SELECT gdpr_tag('crm.users', 'health_note', 'sensitive');
SELECT attname FROM pg_attribute WHERE attrelid = 'crm.users_service'::regclass AND attnum > 0 ORDER BY attnum;
UPDATE gdpr.purpose SET categories = '{personal,customer,technical,sensitive}', lawful_basis = 'consent' WHERE purpose = 'service_delivery';
SELECT count(*) AS without_consent FROM crm.users_service;
UPDATE gdpr.purpose SET categories = '{personal,customer,technical}', lawful_basis = 'contract' WHERE purpose = 'service_delivery';
SELECT count(*) AS again FROM crm.users_service;
SELECT gdpr_tag('crm.users', 'job_title', 'usage');
SET ROLE gdpr_reader_product_improvement;
SELECT user_id, job_title FROM crm.users_product_improvement ORDER BY user_id;
RESET ROLE;
SELECT gdpr_refresh_views() AS rebuilt;
SELECT gdpr_tag('crm.users', 'job_title', 'personal');

-- section: Art. 9: a sensitive value only with explicit consent
SELECT gdpr_create_view('crm.users', 'health_coaching') AS view;
SELECT test.error_of($$UPDATE crm.users SET health_note = 'asthma' WHERE user_id = 2$$);
SELECT test.error_of($$INSERT INTO crm.users (user_id, account_id, email, health_note) VALUES (6, 1, '\x00', 'diabetes')$$);
SELECT test.error_of($$INSERT INTO crm.users_health_coaching (user_id, account_id, email) VALUES (6, 1, 'x')$$);
SELECT gdpr_set_consent('user', '2', 'health_coaching', true, 'web_form') > 0 AS explicit_consent;
UPDATE crm.users SET health_note = 'asthma' WHERE user_id = 2;
UPDATE crm.users SET full_name = 'Alan M. Turing' WHERE user_id = 2;
UPDATE crm.users SET health_note = NULL WHERE user_id = 4;
SELECT gdpr_set_consent('user', '2', 'health_coaching', false, 'web_form') > 0 AS withdrawn;
SELECT test.error_of($$UPDATE crm.users SET health_note = 'asthma, mild' WHERE user_id = 2$$);
SELECT user_id, health_note FROM crm.users WHERE health_note IS NOT NULL;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'crm.users'::regclass AND tgname LIKE 'gdpr_sensitive%' ORDER BY 1;

-- section: dropping a table: reported, or the views go with CASCADE
SELECT test.error_of($$DROP TABLE crm.usage_events$$);
SET client_min_messages = warning;
DROP TABLE crm.usage_events CASCADE;
RESET client_min_messages;
SELECT view FROM gdpr.consent_view ORDER BY view::text;
DROP VIEW crm.attachments_direct_marketing;
SELECT count(*) AS views_left FROM gdpr.consent_view;

-- section: creating views is for the table's owner
CREATE ROLE consent_stranger;
GRANT gdpr_app TO consent_stranger;
GRANT USAGE ON SCHEMA crm TO consent_stranger;
SET ROLE consent_stranger;
SELECT test.error_of($$SELECT gdpr_create_view('crm.users', 'billing')$$);
RESET ROLE;
REVOKE USAGE ON SCHEMA crm FROM consent_stranger;
DROP ROLE consent_stranger;

-- section: audit
SELECT action, details ->> 'view' AS view FROM gdpr.audit_log WHERE action = 'create_view' AND details ->> 'view' LIKE 'crm.%' ORDER BY audit_id;

-- section: a purpose with views cannot be deleted
SELECT test.error_of($$DELETE FROM gdpr.purpose WHERE purpose = 'health_coaching'$$);

-- (tests leave no choices, purposes, keys or roles behind for the next file)
SELECT test.reset_crm();
DELETE FROM gdpr.subject_key WHERE subject_address IN (SELECT gdpr._subject_key_address('user', i) FROM unnest(ARRAY['4', '5', '6']) i);
SELECT test.reset_consent();

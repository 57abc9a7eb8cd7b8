-- Consent-aware views and the Art. 9 guard against table owners and
-- writers who try to get around them, and schemas that used to break them.
-- Each section was an attack or a failure found by review.
SET client_min_messages = warning;
CREATE ROLE ch_clinic; GRANT gdpr_app TO ch_clinic;
CREATE ROLE ch_mallory; GRANT gdpr_app TO ch_mallory;
CREATE ROLE ch_frontdesk;
CREATE SCHEMA ch;
GRANT CREATE, USAGE ON SCHEMA ch TO ch_clinic, ch_mallory;
GRANT USAGE ON SCHEMA ch TO ch_frontdesk;
SELECT gdpr_load_policy_defaults() > 0 AS defaults_loaded;
SELECT gdpr_define_purpose('health_care', 'consent', '{personal,sensitive}',
                           'Care based on health data the patient provides', '{service}', true);
RESET client_min_messages;

-- section: a write function of the view's name that someone else owns is not taken over
CREATE FUNCTION ch.audit_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
SET ROLE ch_mallory;
CREATE TABLE ch.my_users (user_id bigint PRIMARY KEY, name text);
SELECT gdpr_register_subject('ch_user', 'ch.my_users', 'user_id') IS NOT NULL AS registered;
SELECT test.error_of($$SELECT gdpr_create_view('ch.my_users', 'service_delivery', 'ch.audit')$$);
RESET ROLE;
SELECT proname, proowner::regrole AS owner FROM pg_proc WHERE proname = 'audit_write';
SELECT count(*) AS views_named_audit FROM pg_class WHERE relname = 'audit';

-- section: another owner's consent view cannot be redefined over one's own table
SET ROLE ch_clinic;
CREATE TABLE ch.patients (patient_id bigint PRIMARY KEY, email bytea, full_name text, diagnosis text);
SELECT gdpr_register_subject('ch_patient', 'ch.patients', 'patient_id') IS NOT NULL AS registered;
SELECT gdpr_tag('ch.patients', 'email', 'personal', 'ch.patients.email') IS NOT NULL AS tagged;
SELECT gdpr_tag('ch.patients', 'full_name', 'personal') IS NOT NULL AS tagged;
SELECT gdpr_create_view('ch.patients', 'service_delivery') AS view;
GRANT SELECT, INSERT, UPDATE ON ch.patients_service_delivery TO ch_frontdesk;
RESET ROLE;
SET ROLE ch_mallory;
CREATE TABLE ch.loot (patient_id bigint PRIMARY KEY, email text, full_name text, diagnosis text);
SELECT gdpr_register_subject('ch_loot', 'ch.loot', 'patient_id') IS NOT NULL AS registered;
SELECT test.error_of($$SELECT gdpr_create_view('ch.loot', 'service_delivery', 'ch.patients_service_delivery')$$);
RESET ROLE;
SELECT v.view, v.rel, c.relowner::regrole AS owner FROM gdpr.consent_view v JOIN pg_class c ON c.oid = v.view ORDER BY 1;

-- section: writes through a view work for an owner who is not a superuser, and for its grantees
SET ROLE ch_clinic;
INSERT INTO ch.patients_service_delivery (patient_id, email, full_name) VALUES (1, 'ada@example.org', 'Ada');
RESET ROLE;
SET ROLE ch_frontdesk;
INSERT INTO ch.patients_service_delivery (patient_id, email, full_name) VALUES (2, 'bob@example.org', 'Bob');
-- reading (an UPDATE reads) is for members of the purpose's reader role
SELECT test.error_of($$UPDATE ch.patients_service_delivery SET full_name = 'Bob B.' WHERE patient_id = 2$$);
RESET ROLE;
GRANT gdpr_reader_service_delivery TO ch_frontdesk;
SET ROLE ch_frontdesk;
UPDATE ch.patients_service_delivery SET full_name = 'Bob B.' WHERE patient_id = 2;
RESET ROLE;
SELECT patient_id, position('example'::bytea in email) = 0 AS sealed,
       gdpr_decrypt(email, 'ch.patients.email') AS email, full_name
  FROM ch.patients ORDER BY 1;

-- section: rebuilding a view that must be dropped and made again (a column tagged encrypted)
SET ROLE ch_clinic;
ALTER TABLE ch.patients ADD COLUMN phone bytea;
SELECT gdpr_tag('ch.patients', 'phone', 'personal', 'ch.patients.phone') IS NOT NULL AS tagged;
ALTER TABLE ch.patients RENAME COLUMN full_name TO name;
RESET ROLE;
SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
 WHERE a.attrelid = 'ch.patients_service_delivery'::regclass AND a.attnum > 0 ORDER BY a.attnum;
SELECT has_table_privilege('ch_frontdesk', 'ch.patients_service_delivery', 'INSERT') AS grant_kept;

-- section: a hidden column of a NOT NULL domain is NULL of its base type
CREATE DOMAIN ch.iban AS text NOT NULL CHECK (VALUE ~ '^[A-Z]{2}');
CREATE DOMAIN ch.strict_iban AS ch.iban CHECK (length(VALUE) > 4);
CREATE TABLE ch.accounts (account_id int PRIMARY KEY REFERENCES ch.patients (patient_id), iban ch.strict_iban, plan text);
SELECT gdpr_tag('ch.accounts', 'iban', 'customer') IS NOT NULL AS tagged;
SELECT gdpr_tag('ch.accounts', 'plan', 'usage') IS NOT NULL AS tagged;
INSERT INTO ch.accounts VALUES (1, 'DE1234', 'pro');
SELECT gdpr_create_view('ch.accounts', 'product_improvement') AS view;
SELECT * FROM ch.accounts_product_improvement;

-- section: Art. 9: sensitive values in a child table, guarded through its parents
CREATE TABLE ch.visits (visit_id int PRIMARY KEY, patient_id bigint NOT NULL REFERENCES ch.patients (patient_id));
CREATE TABLE ch.findings (finding_id int PRIMARY KEY, visit_id int NOT NULL REFERENCES ch.visits,
                          finding text, severity int,
                          finding_class text GENERATED ALWAYS AS (upper(left(finding, 3))) STORED);
SELECT gdpr_tag('ch.findings', 'finding', 'sensitive') IS NOT NULL AS tagged;
SELECT gdpr_tag('ch.findings', 'finding_class', 'sensitive') IS NOT NULL AS tagged;
SELECT tgname, tgtype & 2 = 0 AS after_row, pg_get_triggerdef(oid) ~ 'SELECT' AS looks_up_parents
  FROM pg_trigger WHERE tgrelid = 'ch.findings'::regclass AND tgname LIKE 'gdpr%' ORDER BY 1;
INSERT INTO ch.visits VALUES (10, 1), (20, 2);
SELECT gdpr_set_consent('ch_patient', '1', 'health_care', true, 'web_form') > 0 AS ada_consents;
INSERT INTO ch.findings (finding_id, visit_id, finding) VALUES (1, 10, 'hypertension');
SELECT test.error_of($$INSERT INTO ch.findings (finding_id, visit_id, finding) VALUES (2, 20, 'diabetes')$$);
-- moving a sensitive value to a subject without consent, however it is done
SELECT test.error_of($$UPDATE ch.findings SET visit_id = 20 WHERE finding_id = 1$$);
SELECT test.error_of($$INSERT INTO ch.findings (finding_id, visit_id, finding) VALUES (1, 10, NULL)
                       ON CONFLICT (finding_id) DO UPDATE SET visit_id = 20$$);
UPDATE ch.findings SET severity = 3 WHERE finding_id = 1;
SELECT finding_id, visit_id, finding, finding_class, severity FROM ch.findings;

-- section: Art. 9: a later BEFORE trigger that derives a sensitive value is judged too
CREATE FUNCTION ch.derive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.finding := coalesce(NEW.finding, 'derived: at risk');
  RETURN NEW;
END $$;
CREATE TRIGGER zz_derive BEFORE INSERT ON ch.findings FOR EACH ROW EXECUTE FUNCTION ch.derive();
SELECT test.error_of($$INSERT INTO ch.findings (finding_id, visit_id) VALUES (3, 20)$$);
DROP TRIGGER zz_derive ON ch.findings;

-- section: Art. 9: a security-restricted operation of a writer does not skip the guard
CREATE ROLE ch_writer;
GRANT USAGE ON SCHEMA ch TO ch_writer;
GRANT INSERT ON ch.findings TO ch_writer;
GRANT CREATE ON SCHEMA ch TO ch_writer;
SET ROLE ch_writer;
CREATE FUNCTION ch.sneak() RETURNS int LANGUAGE sql AS $$
  INSERT INTO ch.findings (finding_id, visit_id, finding) VALUES (4, 20, 'positive') RETURNING 1
$$;
SELECT test.error_of($$CREATE MATERIALIZED VIEW ch.mv AS SELECT ch.sneak()$$);
RESET ROLE;
SELECT count(*) AS stored_for_bob FROM ch.findings f JOIN ch.visits v USING (visit_id) WHERE v.patient_id = 2;

-- section: Art. 9: an owner's new partition gets the guard, and it holds there
SET ROLE ch_clinic;
CREATE TABLE ch.labs (patient_id bigint NOT NULL REFERENCES ch.patients (patient_id), taken date NOT NULL,
                      result text) PARTITION BY RANGE (taken);
CREATE TABLE ch.labs_2026 PARTITION OF ch.labs FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT gdpr_tag('ch.labs', 'result', 'sensitive') IS NOT NULL AS tagged;
CREATE TABLE ch.labs_2027 PARTITION OF ch.labs FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
INSERT INTO ch.labs VALUES (1, '2027-03-01', 'negative');
SELECT test.error_of($$INSERT INTO ch.labs VALUES (2, '2027-03-01', 'positive')$$);
SELECT test.error_of($$INSERT INTO ch.labs_2026 VALUES (2, '2026-03-01', 'positive')$$);
RESET ROLE;

-- section: rows tied by ON DELETE SET NULL follow their subject's restriction
CREATE TABLE ch.sessions (session_id int PRIMARY KEY,
                          patient_id bigint REFERENCES ch.patients (patient_id) ON DELETE SET NULL, ip inet);
SELECT gdpr_tag('ch.sessions', 'ip', 'technical') IS NOT NULL AS tagged;
INSERT INTO ch.sessions VALUES (1, 1, '10.0.0.1'), (2, 2, '10.0.0.2'), (3, NULL, '10.0.0.3');
SELECT gdpr_create_view('ch.sessions', 'security_compliance') AS view;
SELECT gdpr_restrict('ch_patient', '2', 'accuracy contested') > 0 AS bob_restricted;
SELECT session_id, ip FROM ch.sessions_security_compliance ORDER BY 1;

-- section: after an erasure, rows kept under a legal hold are seen only for legal claims
CREATE TABLE ch.invoices (invoice_id int PRIMARY KEY, patient_id bigint NOT NULL REFERENCES ch.patients (patient_id),
                          issued_on date NOT NULL, billed_to text, amount numeric);
CREATE TABLE ch.receipts (invoice_id int, line int, patient_id bigint NOT NULL REFERENCES ch.patients (patient_id),
                          issued_on date NOT NULL, PRIMARY KEY (invoice_id, line));
SELECT gdpr_tag('ch.invoices', 'billed_to', 'personal') IS NOT NULL AS tagged;
SELECT gdpr_hold('ch.invoices', '7 years', 'issued_on', 'tax law') IS NOT NULL AS held;
SELECT gdpr_hold('ch.receipts', '7 years', 'issued_on', 'tax law') IS NOT NULL AS held;
INSERT INTO ch.invoices VALUES (1, 1, current_date, 'Ada', 10), (2, 2, current_date, 'Bob', 20);
INSERT INTO ch.receipts VALUES (1, 1, 1, current_date), (2, 1, 2, current_date);
SELECT gdpr_create_view('ch.invoices', 'customer_support') AS view;
SELECT gdpr_create_view('ch.invoices', 'legal_claims') AS view;
SELECT gdpr_create_view('ch.receipts', 'customer_support') AS view;
SELECT gdpr_lift_restriction('ch_patient', '2') > 0 AS bob_lifted;
DELETE FROM ch.sessions;
SELECT (gdpr_erase('ch_patient', '2', 'test: request 7') ->> 'found')::boolean AS bob_erased;
SELECT invoice_id, billed_to FROM ch.invoices_customer_support ORDER BY 1;
SELECT invoice_id, billed_to FROM ch.invoices_legal_claims ORDER BY 1;
SELECT invoice_id, line FROM ch.receipts_customer_support ORDER BY 1;
SELECT count(*) AS held_rows FROM gdpr.hold_release WHERE released_at IS NULL;

-- section: a kind's choices are recorded and read by its root table's owner or the DPO only
SET ROLE ch_mallory;
SELECT test.error_of($$SELECT gdpr_set_consent('ch_patient', '1', 'direct_marketing', true, 'api')$$);
SELECT test.error_of($$SELECT * FROM gdpr_choices('ch_patient', '1')$$);
RESET ROLE;
SET ROLE ch_clinic;
SELECT purpose, may_process, why FROM gdpr_choices('ch_patient', '1') WHERE purpose IN ('health_care', 'direct_marketing');
SELECT test.error_of($$SELECT * FROM gdpr_choices('ch_patient', '99')$$);
RESET ROLE;

-- section: a choice given under another spelling of the id reaches the views
CREATE TABLE ch.accounts_n (account_no numeric PRIMARY KEY, holder text);
SELECT gdpr_register_subject('ch_account', 'ch.accounts_n', 'account_no') IS NOT NULL AS registered;
SELECT gdpr_tag('ch.accounts_n', 'holder', 'personal') IS NOT NULL AS tagged;
INSERT INTO ch.accounts_n VALUES (1001, 'Ann'), (1002, 'Ben');
SELECT gdpr_create_view('ch.accounts_n', 'customer_support') AS view;
SELECT gdpr_object('ch_account', '1002.00', 'customer_support') > 0 AS ben_objects;
SELECT account_no, holder FROM ch.accounts_n_customer_support ORDER BY 1;

-- section: purpose names: words, not fragments, and short enough for their reader role
SELECT gdpr_define_purpose('sales_support', 'contract', '{customer}', 'Help the sales team answer customers', '{service}') IS NOT NULL AS declared;
SELECT gdpr_define_purpose('wholesale_orders', 'contract', '{customer}', 'Orders of wholesale customers', '{service}') IS NOT NULL AS declared;
SELECT test.error_of($$SELECT gdpr_define_purpose('data_sales', 'consent', '{personal}', 'Partners', '{internal}')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose(repeat('fraud_detection_', 4), 'legitimate_interests', '{usage}', 'x', '{security}')$$);

-- section: a table whose rows' subject cannot be found gets no view
CREATE TABLE ch.chats (chat_id int PRIMARY KEY, member_ids bigint[]);
SELECT gdpr_link('ch.chats', 'ch_patient', 'member_ids') IS NOT NULL AS linked;
CREATE TABLE ch.chat_messages (message_id int PRIMARY KEY, chat_id int NOT NULL REFERENCES ch.chats, body text);
SELECT gdpr_tag('ch.chat_messages', 'body', 'personal') IS NOT NULL AS tagged;
SELECT test.error_of($$SELECT gdpr_create_view('ch.chat_messages', 'direct_marketing')$$);

-- section: row-level security on a parent the view reads subjects through is refused
SET ROLE ch_clinic;
CREATE TABLE ch.projects (project_id int PRIMARY KEY, patient_id bigint NOT NULL REFERENCES ch.patients (patient_id), tenant text);
CREATE TABLE ch.tasks (task_id int PRIMARY KEY, project_id int NOT NULL REFERENCES ch.projects, note text);
SELECT gdpr_tag('ch.tasks', 'note', 'personal') IS NOT NULL AS tagged;
SELECT gdpr_create_view('ch.tasks', 'direct_marketing') AS view;
-- the views' owner owns it: its policies do not apply to the owner
ALTER TABLE ch.projects ENABLE ROW LEVEL SECURITY;
SELECT test.error_of($$ALTER TABLE ch.projects FORCE ROW LEVEL SECURITY$$);
SELECT relforcerowsecurity FROM pg_class WHERE oid = 'ch.projects'::regclass;
RESET ROLE;

-- section: a DPO's direct change of a purpose is audited and reaches its views
SET client_min_messages = warning;
SET check_function_bodies = off;
UPDATE gdpr.purpose SET categories = '{usage}' WHERE purpose = 'customer_support';
RESET check_function_bodies;
RESET client_min_messages;
SELECT action, details ->> 'purpose' AS purpose, details -> 'now' -> 'categories' AS categories
  FROM gdpr.audit_log WHERE action = 'change_purpose' AND details ->> 'purpose' = 'customer_support' ORDER BY audit_id;
SELECT invoice_id, billed_to FROM ch.invoices_customer_support ORDER BY 1;

-- section: renaming a parent keeps the child's view and guard working
ALTER TABLE ch.visits RENAME TO encounters;
ALTER TABLE ch.encounters RENAME COLUMN patient_id TO patient;
-- (the guard looks Ada up through the renamed table)
INSERT INTO ch.findings (finding_id, visit_id, finding) VALUES (5, 10, 'follow-up');
SELECT gdpr_create_view('ch.findings', 'service_delivery') AS view;
ALTER TABLE ch.encounters RENAME TO visits;
INSERT INTO ch.findings_service_delivery (finding_id, visit_id, severity) VALUES (7, 10, 1);
SELECT finding_id, visit_id FROM ch.findings_service_delivery ORDER BY 1;

-- section: a writing view of rows of two subjects says whose key seals
CREATE TABLE ch.clinicians (clinician_id int PRIMARY KEY, name text);
SELECT gdpr_register_subject('ch_clinician', 'ch.clinicians', 'clinician_id') IS NOT NULL AS registered;
CREATE TABLE ch.notes (note_id int PRIMARY KEY, patient_id bigint NOT NULL REFERENCES ch.patients (patient_id),
                       clinician_id int NOT NULL REFERENCES ch.clinicians, body bytea);
SELECT gdpr_tag('ch.notes', 'body', 'personal', 'ch.notes.body') IS NOT NULL AS tagged;
SELECT gdpr_create_view('ch.notes', 'service_delivery') AS view;

-- section: the filter answers a kind's root owner, not another owner with views of its own
SET ROLE ch_mallory;
SELECT test.error_of($$SELECT gdpr_may_process('ch_patient', 'health_care', true, 1)$$);
SELECT test.error_of($$SELECT gdpr_may_process('*held', ('ch.invoices'::regclass)::oid::text, false, 2)$$)
       LIKE '42501: permission denied for the processing state of purpose %' AS held_rows_refused;
RESET ROLE;
SET ROLE ch_clinic;
SELECT gdpr_may_process('ch_patient', 'health_care', true, 1) AS ada_consented;
RESET ROLE;

-- section: 19-digit integer ids and char(n) ids follow their choices
CREATE TABLE ch.snow (snow_id bigint PRIMARY KEY, note text);
SELECT gdpr_register_subject('ch_snow', 'ch.snow', 'snow_id') IS NOT NULL AS registered;
INSERT INTO ch.snow VALUES (1234567890123456789, 'big'), (-1234567890123456789, 'negative'), (7, 'small');
SELECT gdpr_create_view('ch.snow', 'customer_support') AS view;
SELECT gdpr_object('ch_snow', '1234567890123456789', 'customer_support') > 0 AS objected;
SELECT gdpr_object('ch_snow', '-1234567890123456789', 'customer_support') > 0 AS objected;
SELECT snow_id FROM ch.snow_customer_support ORDER BY 1;
CREATE TABLE ch.codes (code char(8) PRIMARY KEY, note text);
SELECT gdpr_register_subject('ch_code', 'ch.codes', 'code') IS NOT NULL AS registered;
INSERT INTO ch.codes VALUES ('AB1', 'one'), ('CD2', 'two');
SELECT gdpr_create_view('ch.codes', 'customer_support') AS view;
SELECT gdpr_object('ch_code', 'AB1', 'customer_support') > 0 AS objected;
SELECT code, note FROM ch.codes_customer_support ORDER BY 1;

-- section: Art. 9: a writer's code that pg_gdpr runs (a domain check of an id) is judged
INSERT INTO ch.patients (patient_id, full_name) VALUES (3, 'Cy');  -- no consent to anything
INSERT INTO ch.visits VALUES (30, 3);
CREATE ROLE ch_lab;
GRANT gdpr_app TO ch_lab;
GRANT USAGE, CREATE ON SCHEMA ch TO ch_lab;
GRANT INSERT ON ch.findings TO ch_lab;
SET ROLE ch_lab;
CREATE FUNCTION ch.smuggle(code text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('ch.armed', true) = 'on' THEN
    INSERT INTO ch.findings (finding_id, visit_id, finding) VALUES (99, 30, 'smuggled')
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN true;
END $$;
CREATE DOMAIN ch.sample_code AS text CHECK (ch.smuggle(VALUE));
CREATE TABLE ch.samples (code ch.sample_code PRIMARY KEY);
INSERT INTO ch.samples VALUES ('s1');
SELECT gdpr_register_subject('ch_sample', 'ch.samples', 'code') IS NOT NULL AS registered;
SET ch.armed = on;
SELECT test.error_of($$SELECT gdpr_set_consent('ch_sample', 's1', 'direct_marketing', true, 'api')$$);
RESET ch.armed;
RESET ROLE;
SELECT count(*) AS smuggled FROM ch.findings WHERE finding_id = 99;

-- (tests leave no kinds, choices, purposes or roles behind for the next file)
SET client_min_messages = warning;
DROP SCHEMA ch CASCADE;
DELETE FROM gdpr.subject_kind WHERE kind LIKE 'ch\_%';
SELECT test.reset_consent('ch\_%');

-- The data map: registration, tags, links, holds, resolution, and keeping
-- up with renames and drops.
\i test/fixtures/crm.sql

-- section: the resolved map of users
\x on
SELECT * FROM gdpr_data_map('user');
\x off
SELECT table_name, depth, reached_by, on_erase FROM gdpr_data_map('contact');

-- section: tags are security labels; invalid labels are refused with the list
SELECT a.attrelid::regclass, a.attname, l.label
  FROM pg_seclabel l JOIN pg_attribute a ON a.attrelid = l.objoid AND a.attnum = l.objsubid
 WHERE l.provider = 'pg_gdpr' ORDER BY a.attrelid::regclass::text, a.attname;
SELECT * FROM test.full_error_of($$SECURITY LABEL FOR pg_gdpr ON COLUMN crm.users.full_name IS 'secret'$$);
SELECT test.error_of($$SELECT gdpr_tag('crm.users', 'full_name', 'health')$$);
SELECT test.error_of($$SELECT gdpr_tag('crm.users', 'full_name', 'personal encrypted extra')$$);
SELECT test.error_of($$SECURITY LABEL FOR pg_gdpr ON TABLE crm.users IS 'personal'$$);
SELECT test.error_of($$SELECT gdpr_tag('crm.users', 'no_such_column', 'personal')$$);
SELECT test.error_of($$SELECT gdpr_tag('crm.users', NULL, 'personal')$$);
-- removing a label is allowed
SECURITY LABEL FOR pg_gdpr ON COLUMN crm.users.job_title IS NULL;
SELECT gdpr_tag('crm.users', 'job_title', 'personal');

-- section: bad registrations
SELECT * FROM test.full_error_of($$SELECT * FROM gdpr_data_map('customer')$$);
SELECT test.error_of($$SELECT * FROM gdpr_data_map(NULL)$$);
SELECT test.error_of($$SELECT gdpr_register_subject('User', 'crm.users', 'user_id')$$);
SELECT test.error_of($$SELECT gdpr_register_subject('user', 'crm.users', 'full_name')$$);
SELECT test.error_of($$SELECT gdpr_register_subject('user', 'crm.users', 'nope')$$);
SELECT test.error_of($$SELECT gdpr_register_subject('user', NULL, 'user_id')$$);
SELECT test.error_of($$SELECT gdpr_register_subject('view_kind', 'pg_catalog.pg_stats', 'tablename')$$);
SELECT test.error_of($$SELECT gdpr_link('crm.usage_events', 'nobody', 'user_id')$$);
SELECT test.error_of($$SELECT gdpr_hold('crm.invoices', '-1 day', 'issued_on', 'tax')$$);
SELECT test.error_of($$SELECT gdpr_hold('crm.invoices', '7 years', 'issued_on', '')$$);
SELECT test.error_of($$SELECT gdpr_hold('crm.usage_events', '7 years', 'nope', 'x')$$);
CREATE TABLE crm.no_pk (user_id bigint REFERENCES crm.users, d date);
SELECT test.error_of($$SELECT gdpr_hold('crm.no_pk', '1 year', 'd', 'x')$$);
DROP TABLE crm.no_pk;

-- section: a table whose rows are subjects of another kind is flagged when
-- erasing would delete them (a plain foreign key, not ON DELETE SET NULL)
CREATE TABLE crm.leads (lead_id bigint PRIMARY KEY, owner_id bigint REFERENCES crm.users);
SELECT gdpr_register_subject('lead', 'crm.leads', 'lead_id');
SELECT table_name, on_erase, warnings FROM gdpr_data_map('user') WHERE table_name = 'crm.leads';
-- crm.contacts' owner key is ON DELETE SET NULL: no warning
SELECT warnings FROM gdpr_data_map('user') WHERE table_name = 'crm.contacts';
DROP TABLE crm.leads;
SELECT kind FROM gdpr.subject_kind ORDER BY kind;

-- section: a foreign key added later joins the map at once
CREATE TABLE crm.tasks (task_id bigint PRIMARY KEY, assignee bigint REFERENCES crm.users, title text);
SELECT table_name, reached_by FROM gdpr_data_map('user') WHERE table_name = 'crm.tasks';

-- section: an FK cycle and a self-reference do not loop
CREATE TABLE crm.teams (team_id bigint PRIMARY KEY, lead_task bigint REFERENCES crm.tasks);
ALTER TABLE crm.tasks ADD COLUMN team_id bigint REFERENCES crm.teams;
SELECT table_name, depth FROM gdpr_data_map('user') WHERE table_name IN ('crm.tasks', 'crm.teams', 'crm.users') ORDER BY 2, 1;

-- section: renames are followed, drops are cleaned up
ALTER TABLE crm.usage_events RENAME TO feature_events;
ALTER TABLE crm.feature_events RENAME COLUMN user_id TO member_id;
ALTER TABLE crm.invoices RENAME COLUMN issued_on TO issue_date;
ALTER TABLE crm.users RENAME COLUMN user_id TO id;
SELECT kind, root_table, id_column FROM gdpr.subject_kind ORDER BY kind;
SELECT link_table, link_column, kind FROM gdpr.subject_link;
SELECT hold_table, keep, from_column FROM gdpr.legal_hold ORDER BY hold_table::text;
SELECT table_name, reached_by FROM gdpr_data_map('user') WHERE table_name = 'crm.feature_events';
ALTER TABLE crm.feature_events RENAME COLUMN member_id TO user_id;
ALTER TABLE crm.users RENAME COLUMN id TO user_id;
DROP TABLE crm.feature_events;
SELECT count(*) AS links_left FROM gdpr.subject_link;
ALTER TABLE crm.payments DROP COLUMN paid_on;
SELECT hold_table FROM gdpr.legal_hold ORDER BY hold_table::text;
DROP TABLE crm.attachment_versions;
SELECT count(*) AS tables_in_map FROM gdpr_data_map('user');

SELECT test.reset_crm();

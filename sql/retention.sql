-- Retention rules and their one-batch-per-call purge functions.
SET client_min_messages = warning;
CREATE SCHEMA ret;
CREATE TABLE ret.logins (login_id bigint PRIMARY KEY, ip inet, at timestamptz NOT NULL);
INSERT INTO ret.logins SELECT g, '192.0.2.1', now() - g * interval '1 day' FROM generate_series(1, 200) g;
CREATE TABLE ret.events (event_id bigint PRIMARY KEY, user_ref bigint, ip inet, feature text NOT NULL,
                         occurred_at timestamptz NOT NULL);
INSERT INTO ret.events SELECT g, g % 7, '198.51.100.7', 'report', now() - g * interval '10 days' FROM generate_series(1, 100) g;
CREATE TABLE ret.members (member_id bigint PRIMARY KEY, email text, name text);
CREATE TABLE ret.subscriptions (subscription_id bigint PRIMARY KEY,
                                member_id bigint NOT NULL REFERENCES ret.members, ended_at date);
CREATE INDEX ON ret.subscriptions (member_id);
INSERT INTO ret.members VALUES (1, 'a@example.com', 'closed long ago'), (2, 'b@example.com', 'closed last week'),
                               (3, 'c@example.com', 'one ended, one running'), (4, 'd@example.com', 'no subscription');
INSERT INTO ret.subscriptions VALUES (10, 1, current_date - 90), (11, 1, current_date - 60), (20, 2, current_date - 7),
                                     (30, 3, current_date - 90), (31, 3, NULL);
SELECT gdpr_tag('ret.logins', 'ip', 'technical');
SELECT gdpr_tag('ret.events', 'ip', 'technical');
SELECT gdpr_tag('ret.events', 'user_ref', 'personal');
SELECT gdpr_tag('ret.events', 'feature', 'usage');
SELECT gdpr_tag('ret.members', 'email', 'personal');
SELECT gdpr_tag('ret.members', 'name', 'personal');
SELECT gdpr_register_subject('member', 'ret.members', 'member_id');
-- runs a rule's batches until its pass is complete; returns the number of calls
CREATE FUNCTION ret.purge_all(rule integer, batch integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE calls integer := 0; r jsonb;
BEGIN
  LOOP r := gdpr_purge_step(rule, batch); calls := calls + 1; EXIT WHEN (r->>'done')::boolean; END LOOP;
  RETURN calls;
END $$;

-- section: rules
SELECT gdpr_set_retention('ret.logins', '90 days', 'at', 'delete') AS logins_rule \gset
SELECT gdpr_set_retention('ret.events', '24 months', 'occurred_at', 'anonymize') AS events_rule \gset
SELECT gdpr_set_retention('ret.members', '30 days', 'ended_at', 'erase', from_table => 'ret.subscriptions') AS members_rule \gset
SELECT table_name, action, keep, counted_from, due_rows > 0 AS some_due, overdue_rows <= due_rows AS overdue_among_due,
       last_pass_done_at IS NULL AS never_ran
  FROM gdpr_retention_status() ORDER BY rule_id;
-- setting a rule again replaces it
SELECT gdpr_set_retention('ret.logins', '90 days', 'at', 'delete') = :logins_rule AS same_rule;

-- section: one batch per call, resumable; no row done twice
SELECT count(*) AS logins_due FROM ret.logins WHERE at < now() - interval '90 days' \gset
SELECT gdpr_purge_step(:logins_rule, 50) - 'blocks_done' - 'blocks_total' - 'rows' AS first_batch;
SELECT count(*) < 200 AS some_deleted, count(*) > 200 - :logins_due AS not_all_yet FROM ret.logins;
SELECT ret.purge_all(:logins_rule, 50) > 1 AS in_several_batches;
SELECT count(*) AS logins_left, max(now() - at) < interval '90 days' AS none_due FROM ret.logins;
SELECT sum((details->>'rows')::int) = :logins_due AS audit_counts_each_row_once FROM gdpr.audit_log
 WHERE action = 'retention_purge' AND (details->>'rule_id')::int = :logins_rule;
-- a second pass finds nothing
SELECT gdpr_purge_step(:logins_rule) ->> 'rows' AS rows, gdpr_purge_step(:logins_rule) ->> 'done' AS done;

-- section: anonymize keeps the rows and the usage columns
SELECT ret.purge_all(:events_rule, 1000) > 0 AS purged;
SELECT count(*) AS events,
       count(*) FILTER (WHERE ip IS NULL AND user_ref IS NULL) = count(*) FILTER (WHERE occurred_at < now() - interval '24 months') AS anonymized_exactly_the_due,
       count(*) FILTER (WHERE (ip IS NULL) <> (occurred_at < now() - interval '24 months')) AS wrong_rows,
       count(*) FILTER (WHERE feature = 'report') AS usage_kept
  FROM ret.events;

-- section: erase follows the subscription's end date, through gdpr_erase
SELECT gdpr_purge_step(:members_rule) - 'failed' AS erase_batch;
SELECT member_id, email, name FROM ret.members ORDER BY member_id;
SELECT count(*) AS tombstones FROM gdpr.tombstone WHERE kind = 'member';
SELECT gdpr_purge_step(:members_rule) ->> 'rows' AS again;

-- section: partitions entirely past retention are dropped
CREATE TABLE ret.audit_trail (id bigint, at timestamptz NOT NULL, ip inet) PARTITION BY RANGE (at);
DO $$ DECLARE m timestamptz; BEGIN
  FOR m IN SELECT generate_series(date_trunc('month', now()) - interval '5 months', date_trunc('month', now()), interval '1 month') LOOP
    EXECUTE format('CREATE TABLE ret.audit_trail_%s PARTITION OF ret.audit_trail FOR VALUES FROM (%L) TO (%L)',
                   to_char(m, 'YYYYMM'), m, m + interval '1 month');
  END LOOP;
END $$;
INSERT INTO ret.audit_trail SELECT g, now() - g * interval '1 hour', '192.0.2.9' FROM generate_series(1, 3000) g
 WHERE now() - g * interval '1 hour' >= date_trunc('month', now()) - interval '5 months';
SELECT gdpr_set_retention('ret.audit_trail', '60 days', 'at', 'delete') AS trail_rule \gset
SELECT count(*) FILTER (WHERE at < now() - interval '60 days') > 0 AS some_due FROM ret.audit_trail;
SELECT count(*) AS not_due FROM ret.audit_trail WHERE at >= now() - interval '60 days' \gset
SELECT ret.purge_all(:trail_rule, 10000) > 0 AS purged;
SELECT count(*) FILTER (WHERE at < now() - interval '60 days') AS due_left, count(*) = :not_due AS rest_kept FROM ret.audit_trail;
SELECT count(*) BETWEEN 2 AND 4 AS partitions_left FROM pg_inherits WHERE inhparent = 'ret.audit_trail'::regclass;
SELECT count(*) > 0 AS partitions_dropped FROM gdpr.audit_log
 WHERE action = 'retention_purge' AND details ? 'partitions_dropped';

-- section: everything in one call, for pg_cron
SELECT gdpr_purge(1000) - 'rules' - 'holds' AS purge;
SELECT gdpr_purge(1000) - 'rules' - 'holds' AS purge;

-- section: bad input
SELECT test.error_of($$SELECT gdpr_set_retention('ret.logins', '90 days', 'at', 'shred')$$);
SELECT test.error_of($$SELECT gdpr_set_retention('ret.logins', '-1 day', 'at', 'delete')$$);
SELECT test.error_of($$SELECT gdpr_set_retention('ret.logins', '90 days', 'ip', 'delete')$$);
SELECT test.error_of($$SELECT gdpr_set_retention('ret.logins', '90 days', 'nope', 'delete')$$);
SELECT test.error_of($$SELECT gdpr_set_retention('ret.logins', '90 days', 'at', 'erase')$$);
SELECT test.error_of($$SELECT gdpr_set_retention('ret.logins', '90 days', 'ended_at', 'delete', 'ret.subscriptions')$$);
SELECT test.error_of($$SELECT gdpr_set_retention('ret.logins', '90 days', 'at', 'anonymize', categories => '{usage}')$$);
SELECT test.error_of($$SELECT gdpr_set_retention('ret.logins', '90 days', 'at', 'delete', categories => '{secret}')$$);
SELECT test.error_of($$SELECT gdpr_set_retention(NULL, '90 days', 'at', 'delete')$$);
SELECT test.error_of($$SELECT gdpr_set_retention('pg_catalog.pg_class', '90 days', 'at', 'delete')$$);
SELECT test.error_of($$SELECT gdpr_purge_step(4242)$$);
SELECT test.error_of($$SELECT gdpr_purge_step(1, 0)$$);
SELECT test.error_of($$SELECT gdpr_replay_tombstones('{}')$$);
SELECT gdpr_drop_retention('ret.logins', 'delete') AS dropped, gdpr_drop_retention('ret.logins', 'delete') AS again;

-- section: privileges: only the table's owner sets rules; purging needs gdpr_admin
CREATE ROLE ret_stranger;
GRANT gdpr_app TO ret_stranger;
GRANT USAGE ON SCHEMA ret TO ret_stranger;
SET ROLE ret_stranger;
SELECT test.error_of($$SELECT gdpr_set_retention('ret.events', '1 day', 'occurred_at', 'delete')$$);
SELECT test.error_of($$SELECT gdpr_purge_step(2)$$);
RESET ROLE;
DROP SCHEMA ret CASCADE;
DROP ROLE ret_stranger;
DELETE FROM gdpr.retention_rule;
RESET client_min_messages;

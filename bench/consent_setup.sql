-- Data for the consent-aware view benchmark: 100,000 subjects
-- (cb.customers) and 1,000,000 events of theirs, each with a usage column,
-- a personal column and an encrypted personal column; a realistic mix of
-- choices: 40 % consented to direct marketing (5 % of them withdrew
-- later), 5 % objected to product improvement, 1 % restricted, 0.5 %
-- with an erasure request pending.
CREATE EXTENSION IF NOT EXISTS pg_gdpr;
SET client_min_messages = warning;
\timing on
CREATE SCHEMA cb;

CREATE FUNCTION cb.time_ms(statement text) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz := clock_timestamp();
BEGIN
  EXECUTE statement;
  RETURN extract(epoch FROM clock_timestamp() - started) * 1000;
END
$$;

CREATE TABLE cb.customers (customer_id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE cb.events (
  event_id    bigint PRIMARY KEY,
  customer_id int NOT NULL REFERENCES cb.customers,
  feature     text NOT NULL DEFAULT 'unknown',
  detail      text,
  detail_enc  bytea);
SELECT gdpr_register_subject('customer', 'cb.customers', 'customer_id');
SELECT gdpr_tag('cb.customers', 'name', 'personal');
SELECT gdpr_tag('cb.events', 'feature', 'usage');
SELECT gdpr_tag('cb.events', 'detail', 'personal');
SELECT gdpr_tag('cb.events', 'detail_enc', 'personal', 'cb.events.detail_enc');
SELECT gdpr_load_policy_defaults();

INSERT INTO cb.customers SELECT i, 'customer ' || i FROM generate_series(1, 100000) i;
INSERT INTO cb.events
SELECT i, c, (ARRAY['reports', 'export', 'search', 'import'])[1 + i % 4], d,
       gdpr_encrypt('customer', c::text, d, 'cb.events.detail_enc')
  FROM generate_series(1, 1000000) i,
       LATERAL (SELECT (1 + (i::bigint * 7919) % 100000)::int AS c, md5(i::text) || '@example.com' AS d) x;
CREATE INDEX ON cb.events (customer_id);

-- the choices, written as gdpr_set_consent & co. would (one call each is
-- ~1 ms: 50,000 calls would dominate the setup), then the state derived
-- by pg_gdpr itself, once
ALTER TABLE gdpr.choice DISABLE TRIGGER choice_recorded;
ALTER TABLE gdpr.request DISABLE TRIGGER erasure_request_changed;
INSERT INTO gdpr.choice (kind, subject_id, action, purpose, source, recorded_by)
SELECT 'customer', i::text, 'consent_granted', 'direct_marketing', 'web_form', 'bench'
  FROM generate_series(1, 100000) i WHERE i % 5 IN (1, 2);
INSERT INTO gdpr.choice (kind, subject_id, action, purpose, source, recorded_by)
SELECT 'customer', i::text, 'consent_withdrawn', 'direct_marketing', 'gpc', 'bench'
  FROM generate_series(1, 100000) i WHERE i % 5 = 1 AND i % 10 = 1 AND i % 4 = 1;
INSERT INTO gdpr.choice (kind, subject_id, action, purpose, source, recorded_by)
SELECT 'customer', i::text, 'objected', 'product_improvement', 'api', 'bench'
  FROM generate_series(1, 100000) i WHERE i % 20 = 3;
INSERT INTO gdpr.choice (kind, subject_id, action, source, reason, recorded_by)
SELECT 'customer', i::text, 'restricted', 'support_agent', 'accuracy contested', 'bench'
  FROM generate_series(1, 100000) i WHERE i % 100 = 7;
INSERT INTO gdpr.request (kind, subject_id, subject_hash, request_type, channel, due_at)
SELECT 'customer', i::text, gdpr.subject_hash('customer', i::text), 'erasure', 'email', now() + interval '1 month'
  FROM generate_series(1, 100000) i WHERE i % 200 = 11;
ALTER TABLE gdpr.choice ENABLE TRIGGER choice_recorded;
ALTER TABLE gdpr.request ENABLE TRIGGER erasure_request_changed;
SELECT gdpr._refresh_state('customer', NULL, NULL);

SELECT gdpr_create_view('cb.events', 'product_improvement');
SELECT gdpr_create_view('cb.events', 'direct_marketing');
SELECT gdpr_create_view('cb.events', 'service_delivery');
-- PostgreSQL's own share: a security_barrier view of the same columns with
-- no filter at all (what any view that must stop leaky functions costs)
CREATE VIEW cb.events_barrier_only WITH (security_barrier = true) AS
SELECT event_id, customer_id, feature, NULL::text AS detail, NULL::text AS detail_enc FROM cb.events;
VACUUM ANALYZE cb.customers;
VACUUM ANALYZE cb.events;
VACUUM ANALYZE gdpr.processing_state;

SELECT purpose, allowed, count(*) FROM gdpr.processing_state GROUP BY 1, 2 ORDER BY 1, 2;

-- The load test's schema: users with an encrypted email, contacts they own
-- (foreign key), page views linked without a foreign key, and the tables
-- that collect errors by SQLSTATE and latencies. :users subjects.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_gdpr;
CREATE SCHEMA load;
CREATE TABLE load.users (user_id bigint PRIMARY KEY, email bytea NOT NULL, name text);
CREATE TABLE load.contacts (contact_id bigserial PRIMARY KEY,
                            owner_id bigint NOT NULL REFERENCES load.users ON DELETE CASCADE, email bytea);
CREATE INDEX ON load.contacts (owner_id);
CREATE TABLE load.page_views (view_id bigserial PRIMARY KEY, user_id bigint NOT NULL, url text,
                              at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON load.page_views (user_id);
SELECT gdpr_register_subject('user', 'load.users', 'user_id');
SELECT gdpr_link('load.page_views', 'user', 'user_id');
SELECT gdpr_tag('load.users', 'email', 'personal', 'load.users.email');
SELECT gdpr_tag('load.users', 'name', 'personal');
SELECT gdpr_tag('load.contacts', 'email', 'personal', 'load.contacts.email');
SELECT gdpr_tag('load.page_views', 'url', 'usage');
INSERT INTO load.users
SELECT i, gdpr_encrypt('user', i::text, 'u' || i || '@example.com', 'load.users.email'), 'user ' || i
  FROM generate_series(1, :users) i;
INSERT INTO load.contacts (owner_id, email)
SELECT 1 + i % :users, gdpr_encrypt('user', (1 + i % :users)::text, 'c' || i || '@example.com', 'load.contacts.email')
  FROM generate_series(1, :users * 4) i;
INSERT INTO load.page_views (user_id, url) SELECT 1 + i % :users, '/page/' || i FROM generate_series(1, :users * 10) i;
ANALYZE;

CREATE SEQUENCE load.new_user_id START 10000000;
CREATE UNLOGGED TABLE load.errors (script text NOT NULL, sqlstate text NOT NULL, message text);
CREATE UNLOGGED TABLE load.latency (phase text NOT NULL, op text NOT NULL, ms double precision NOT NULL);
CREATE TABLE load.phase (name text NOT NULL);
INSERT INTO load.phase VALUES ('alone');

-- Runs a statement; an error is counted by SQLSTATE instead of ending the
-- pgbench client. With op, the time it took is recorded too.
CREATE FUNCTION load.run(script text, statement text, op text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz := clock_timestamp();
BEGIN
  BEGIN
    EXECUTE statement;
  EXCEPTION WHEN OTHERS THEN
    INSERT INTO load.errors VALUES (script, SQLSTATE, left(SQLERRM, 200));
    RETURN;
  END;
  IF op IS NOT NULL THEN
    INSERT INTO load.latency SELECT p.name, op, extract(epoch FROM clock_timestamp() - t) * 1000 FROM load.phase p;
  END IF;
END
$$;

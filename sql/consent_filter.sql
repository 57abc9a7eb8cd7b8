-- The row filter of consent-aware views (gdpr_may_process) against an
-- oracle that reads the raw choice history itself: for integer, uuid and
-- text ids, direct, nullable and indirect (through a parent) subjects, in
-- each of the filter's ways of reading the state: one index probe per
-- lookup, a load of the purpose's state for scans, the switch between the
-- two within one query, and parallel workers.
SET client_min_messages = warning;
CREATE SCHEMA pf;
CREATE TABLE pf.customers (id int PRIMARY KEY, name text);
CREATE TABLE pf.orders (order_id bigint PRIMARY KEY, customer_id int REFERENCES pf.customers, note text);
CREATE TABLE pf.lines (line_id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES pf.orders, item text);
CREATE TABLE pf.members (member_id uuid PRIMARY KEY, nick text);
CREATE TABLE pf.posts (post_id int PRIMARY KEY, member_id uuid NOT NULL REFERENCES pf.members, body text);
CREATE TABLE pf.handles (handle text PRIMARY KEY, bio text);
SELECT gdpr_register_subject('pf_customer', 'pf.customers', 'id') IS NOT NULL AS registered;
SELECT gdpr_register_subject('pf_member', 'pf.members', 'member_id') IS NOT NULL AS registered;
SELECT gdpr_register_subject('pf_handle', 'pf.handles', 'handle') IS NOT NULL AS registered;
SELECT gdpr_tag(t, c, 'personal') IS NOT NULL AS tagged
  FROM (VALUES ('pf.customers', 'name'), ('pf.orders', 'note'), ('pf.lines', 'item'),
               ('pf.members', 'nick'), ('pf.posts', 'body'), ('pf.handles', 'bio')) v(t, c);
SELECT gdpr_load_policy_defaults() > 0 AS defaults_loaded;

SELECT setseed(0.42);
INSERT INTO pf.customers SELECT i, 'customer ' || i FROM generate_series(1, 400) i;
INSERT INTO pf.orders SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE 1 + (i * 37) % 400 END, 'order ' || i
  FROM generate_series(1, 1200) i;
INSERT INTO pf.lines SELECT i, 1 + (i * 7) % 1200, 'line ' || i FROM generate_series(1, 3000) i;
INSERT INTO pf.members SELECT md5('m' || i)::uuid, 'member ' || i FROM generate_series(1, 300) i;
INSERT INTO pf.posts SELECT i, md5('m' || (1 + i % 300))::uuid, 'post ' || i FROM generate_series(1, 900) i;
INSERT INTO pf.handles SELECT 'h' || i || CASE WHEN i % 3 = 0 THEN ' x' ELSE '' END, 'bio ' || i FROM generate_series(1, 200) i;

-- Choices at random: consent given, later withdrawn or given again;
-- objections; restrictions, some lifted.
DO $$
DECLARE
  s record;
  r double precision;
BEGIN
  FOR s IN SELECT 'pf_customer' AS kind, id::text AS id FROM pf.customers
           UNION ALL SELECT 'pf_member', member_id::text FROM pf.members
           UNION ALL SELECT 'pf_handle', handle FROM pf.handles LOOP
    r := random();
    IF r < 0.45 THEN PERFORM gdpr_set_consent(s.kind, s.id, 'direct_marketing', true, 'web_form'); END IF;
    IF r < 0.10 THEN PERFORM gdpr_set_consent(s.kind, s.id, 'direct_marketing', false, 'gpc'); END IF;
    IF r < 0.04 THEN PERFORM gdpr_set_consent(s.kind, s.id, 'direct_marketing', true, 'api'); END IF;
    r := random();
    IF r < 0.15 THEN PERFORM gdpr_object(s.kind, s.id, 'product_improvement'); END IF;
    r := random();
    IF r < 0.08 THEN PERFORM gdpr_restrict(s.kind, s.id, 'accuracy contested'); END IF;
    IF r < 0.03 THEN PERFORM gdpr_lift_restriction(s.kind, s.id); END IF;
  END LOOP;
END
$$;

-- The oracle: straight from the history, without pg_gdpr's derived state.
CREATE FUNCTION pf.may(kind text, id text, purpose text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN id IS NULL THEN true
    WHEN coalesce((SELECT c.action FROM gdpr.choice c WHERE c.kind = $1 AND c.subject_id = $2 AND c.purpose IS NULL
                    ORDER BY c.choice_id DESC LIMIT 1) = 'restricted', false) THEN false
    WHEN $3 = 'direct_marketing'
      THEN coalesce((SELECT c.action FROM gdpr.choice c WHERE c.kind = $1 AND c.subject_id = $2 AND c.purpose = $3
                      ORDER BY c.choice_id DESC LIMIT 1) = 'consent_granted', false)
    ELSE NOT EXISTS (SELECT 1 FROM gdpr.choice c WHERE c.kind = $1 AND c.subject_id = $2 AND c.purpose = $3
                      AND c.action = 'objected') END
$$;
CREATE TABLE pf.expected AS
SELECT p.purpose, 'customers' AS rel, c.id::text AS row_id, pf.may('pf_customer', c.id::text, p.purpose) AS visible
  FROM pf.customers c, (VALUES ('direct_marketing'), ('product_improvement')) p(purpose)
UNION ALL
SELECT p.purpose, 'orders', o.order_id::text, pf.may('pf_customer', o.customer_id::text, p.purpose)
  FROM pf.orders o, (VALUES ('direct_marketing'), ('product_improvement')) p(purpose)
UNION ALL
SELECT p.purpose, 'lines', l.line_id::text, pf.may('pf_customer', o.customer_id::text, p.purpose)
  FROM pf.lines l JOIN pf.orders o USING (order_id), (VALUES ('direct_marketing'), ('product_improvement')) p(purpose)
UNION ALL
SELECT p.purpose, 'posts', t.post_id::text, pf.may('pf_member', t.member_id::text, p.purpose)
  FROM pf.posts t, (VALUES ('direct_marketing'), ('product_improvement')) p(purpose)
UNION ALL
SELECT p.purpose, 'handles', h.handle, pf.may('pf_handle', h.handle, p.purpose)
  FROM pf.handles h, (VALUES ('direct_marketing'), ('product_improvement')) p(purpose);

SELECT count(*) AS views FROM (
  SELECT gdpr_create_view(t::regclass, p) FROM unnest(ARRAY['pf.customers', 'pf.orders', 'pf.lines', 'pf.posts', 'pf.handles']) t,
                                              unnest(ARRAY['direct_marketing', 'product_improvement']) p) v;
GRANT USAGE ON SCHEMA pf TO gdpr_reader_direct_marketing, gdpr_reader_product_improvement;
GRANT SELECT ON pf.expected TO gdpr_reader_direct_marketing, gdpr_reader_product_improvement;

-- What each view shows, as (rel, row id), read in a given way.
CREATE FUNCTION pf.shown(purpose text, how text) RETURNS TABLE (rel text, row_id text)
LANGUAGE plpgsql AS $$
DECLARE
  t record;
  id text;
BEGIN
  FOR t IN SELECT * FROM (VALUES ('customers', 'id'), ('orders', 'order_id'), ('lines', 'line_id'),
                                 ('posts', 'post_id'), ('handles', 'handle')) v(rel, key) LOOP
    IF how = 'scan' THEN
      RETURN QUERY EXECUTE format('SELECT %L, %I::text FROM pf.%I', t.rel, t.key, t.rel || '_' || purpose);
    ELSIF how = 'lookups' THEN
      -- one statement per row (a fifth of them): each reads the state by one index probe
      FOR id IN SELECT e.row_id FROM pf.expected e WHERE e.rel = t.rel AND e.purpose = shown.purpose
                  AND hashtext(e.row_id) % 5 = 0 LOOP
        RETURN QUERY EXECUTE format('SELECT %L, %I::text FROM pf.%I WHERE %I::text = $1', t.rel, t.key,
                                    t.rel || '_' || purpose, t.key) USING id;
      END LOOP;
    ELSE
      -- windows of 60 rows: probes first, then a load within one statement
      FOR id IN SELECT min(w.row_id) FROM (SELECT e.row_id, (row_number() OVER (ORDER BY e.row_id) - 1) / 60 AS n
                                             FROM pf.expected e WHERE e.rel = t.rel AND e.purpose = shown.purpose) w
                 GROUP BY w.n LOOP
        RETURN QUERY EXECUTE format('SELECT * FROM (SELECT %L, %I::text AS k FROM pf.%I WHERE %I::text >= $1 ORDER BY %I::text LIMIT 60) w',
                                    t.rel, t.key, t.rel || '_' || purpose, t.key, t.key) USING id;
      END LOOP;
    END IF;
  END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION pf.shown(text, text) TO gdpr_reader_direct_marketing, gdpr_reader_product_improvement;

-- The same answer as the oracle, every way, for each purpose, read by the
-- purpose's reader role. Counts show the test is not vacuous.
CREATE FUNCTION pf.compare(purpose text, how text) RETURNS TABLE (rel text, shown bigint, expected bigint, wrong bigint)
LANGUAGE sql AS $$
  WITH s AS (SELECT DISTINCT * FROM pf.shown(purpose, how)),
       e AS (SELECT x.rel, x.row_id FROM pf.expected x WHERE x.purpose = compare.purpose AND x.visible
                AND (how <> 'lookups' OR hashtext(x.row_id) % 5 = 0))
  SELECT r.rel, (SELECT count(*) FROM s WHERE s.rel = r.rel), (SELECT count(*) FROM e WHERE e.rel = r.rel),
         (SELECT count(*) FROM ((SELECT * FROM s EXCEPT SELECT * FROM e) UNION ALL (SELECT * FROM e EXCEPT SELECT * FROM s)) d
           WHERE d.rel = r.rel)
    FROM (VALUES ('customers'), ('orders'), ('lines'), ('posts'), ('handles')) r(rel)
$$;
GRANT EXECUTE ON FUNCTION pf.compare(text, text) TO gdpr_reader_direct_marketing, gdpr_reader_product_improvement;
RESET client_min_messages;

SET ROLE gdpr_reader_direct_marketing;
SELECT * FROM pf.compare('direct_marketing', 'scan');
SELECT * FROM pf.compare('direct_marketing', 'lookups');
SELECT * FROM pf.compare('direct_marketing', 'windows');
RESET ROLE;
SET ROLE gdpr_reader_product_improvement;
SELECT * FROM pf.compare('product_improvement', 'scan');
SELECT * FROM pf.compare('product_improvement', 'lookups');
SELECT * FROM pf.compare('product_improvement', 'windows');
RESET ROLE;

-- parallel workers load the state themselves
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET force_parallel_mode = on;
SET ROLE gdpr_reader_direct_marketing;
SELECT * FROM pf.compare('direct_marketing', 'scan');
EXPLAIN (COSTS OFF) SELECT count(*) FROM pf.posts_direct_marketing;
RESET ROLE;
RESET force_parallel_mode;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;

-- a withdrawal reaches the next statement of a cursor-free reader at once
SELECT gdpr_set_consent('pf_handle', h.handle, 'direct_marketing', false, 'api') > 0 AS withdrawn
  FROM (SELECT e.row_id AS handle FROM pf.expected e WHERE e.rel = 'handles' AND e.purpose = 'direct_marketing' AND e.visible
         ORDER BY 1 LIMIT 1) h;
UPDATE pf.expected e SET visible = pf.may('pf_handle', e.row_id, 'direct_marketing') WHERE e.rel = 'handles';
SET ROLE gdpr_reader_direct_marketing;
SELECT * FROM pf.compare('direct_marketing', 'scan') WHERE rel = 'handles';

-- the filter itself: only for readers of the purpose, only as views call it
SELECT test.error_of($$SELECT gdpr_may_process('pf_customer', 'product_improvement', false, 1)$$);
SELECT gdpr_may_process('pf_customer', 'direct_marketing', true, NULL::int) AS nobody_is_shown;
SELECT test.error_of($$SELECT gdpr_may_process(handle, 'direct_marketing', true, 1) FROM pf.handles_direct_marketing$$);
RESET ROLE;
CREATE ROLE pf_outsider;
GRANT USAGE ON SCHEMA pf TO pf_outsider;
GRANT SELECT ON pf.customers_direct_marketing TO pf_outsider;
GRANT EXECUTE ON FUNCTION gdpr_may_process(text, text, boolean, anyelement) TO pf_outsider;
SET ROLE pf_outsider;
SELECT * FROM test.full_error_of($$SELECT count(*) FROM pf.customers_direct_marketing$$);
RESET ROLE;
REVOKE ALL ON FUNCTION gdpr_may_process(text, text, boolean, anyelement) FROM pf_outsider;
REVOKE ALL ON pf.customers_direct_marketing FROM pf_outsider;
REVOKE ALL ON SCHEMA pf FROM pf_outsider;
DROP ROLE pf_outsider;

-- (tests leave no kinds, choices, purposes or roles behind for the next file)
SET client_min_messages = warning;
DROP SCHEMA pf CASCADE;
DELETE FROM gdpr.subject_kind WHERE kind LIKE 'pf\_%';
SELECT test.reset_consent();

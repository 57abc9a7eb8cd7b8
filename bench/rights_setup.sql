-- Data for the rights benchmark: :subjects users, twelve tables, a skewed
-- number of rows per subject (most own a handful, a few own hundreds), every
-- foreign key indexed. psql variable: subjects.
CREATE EXTENSION IF NOT EXISTS pg_gdpr;
CREATE SCHEMA b;
SET client_min_messages = warning;
CREATE TABLE b.users (user_id bigint PRIMARY KEY, email text, full_name text);
CREATE TABLE b.profiles (user_id bigint PRIMARY KEY REFERENCES b.users, bio text, birth_year int);
CREATE TABLE b.sessions (session_id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES b.users, ip inet);
CREATE TABLE b.page_views (view_id bigserial PRIMARY KEY, user_id bigint NOT NULL, path text);
CREATE TABLE b.orders (order_id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES b.users, total numeric);
CREATE TABLE b.order_items (item_id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES b.orders, sku text);
CREATE TABLE b.payments (payment_id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES b.orders, amount numeric);
CREATE TABLE b.notes (note_id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES b.users, body text);
CREATE TABLE b.note_tags (note_id bigint NOT NULL REFERENCES b.notes, tag text NOT NULL, PRIMARY KEY (note_id, tag));
CREATE TABLE b.tickets (ticket_id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES b.users, subject text);
CREATE TABLE b.ticket_replies (reply_id bigserial PRIMARY KEY, ticket_id bigint NOT NULL REFERENCES b.tickets, body text);
CREATE TABLE b.devices (device_id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES b.users, model text);

-- rows per subject and table: 1 for most, up to ~400 for a few
CREATE FUNCTION b.skewed() RETURNS integer LANGUAGE sql VOLATILE AS
$$ SELECT floor(exp(power(random(), 4) * 6))::integer $$;

INSERT INTO b.users SELECT i, 'user' || i || '@example.com', 'User ' || i FROM generate_series(1, :subjects) i;
INSERT INTO b.profiles SELECT user_id, 'bio', 1980 FROM b.users;
INSERT INTO b.sessions (user_id, ip) SELECT u, '192.0.2.1' FROM b.users, LATERAL (SELECT user_id AS u FROM generate_series(1, b.skewed())) s;
INSERT INTO b.page_views (user_id, path) SELECT u, '/home' FROM b.users, LATERAL (SELECT user_id AS u FROM generate_series(1, b.skewed())) s;
INSERT INTO b.orders (user_id, total) SELECT u, 10 FROM b.users, LATERAL (SELECT user_id AS u FROM generate_series(1, b.skewed())) s;
INSERT INTO b.order_items (order_id, sku) SELECT o, 'sku' FROM b.orders, LATERAL (SELECT order_id AS o FROM generate_series(1, b.skewed())) s;
INSERT INTO b.payments (order_id, amount) SELECT order_id, total FROM b.orders;
INSERT INTO b.notes (user_id, body) SELECT u, 'note' FROM b.users, LATERAL (SELECT user_id AS u FROM generate_series(1, b.skewed())) s;
INSERT INTO b.note_tags SELECT note_id, 'tag' || g FROM b.notes, generate_series(1, 2) g;
INSERT INTO b.tickets (user_id, subject) SELECT u, 'help' FROM b.users, LATERAL (SELECT user_id AS u FROM generate_series(1, b.skewed())) s;
INSERT INTO b.ticket_replies (ticket_id, body) SELECT ticket_id, 'reply' FROM b.tickets;
INSERT INTO b.devices (user_id, model) SELECT u, 'phone' FROM b.users, LATERAL (SELECT user_id AS u FROM generate_series(1, b.skewed())) s;
CREATE INDEX ON b.sessions (user_id);
CREATE INDEX ON b.page_views (user_id);
CREATE INDEX ON b.orders (user_id);
CREATE INDEX ON b.order_items (order_id);
CREATE INDEX ON b.payments (order_id);
CREATE INDEX ON b.notes (user_id);
CREATE INDEX ON b.tickets (user_id);
CREATE INDEX ON b.ticket_replies (ticket_id);
CREATE INDEX ON b.devices (user_id);
VACUUM ANALYZE;

SELECT gdpr_register_subject('buser', 'b.users', 'user_id');
SELECT gdpr_link('b.page_views', 'buser', 'user_id');
SELECT gdpr_tag('b.users', 'email', 'personal');
SELECT gdpr_tag('b.users', 'full_name', 'personal');
SELECT gdpr_tag('b.sessions', 'ip', 'technical');

-- The hand-written equivalents a team would write for this schema.
CREATE FUNCTION b.hand_erase(id bigint) RETURNS void LANGUAGE sql AS $$
  DELETE FROM b.order_items WHERE order_id IN (SELECT order_id FROM b.orders WHERE user_id = id);
  DELETE FROM b.payments WHERE order_id IN (SELECT order_id FROM b.orders WHERE user_id = id);
  DELETE FROM b.note_tags WHERE note_id IN (SELECT note_id FROM b.notes WHERE user_id = id);
  DELETE FROM b.ticket_replies WHERE ticket_id IN (SELECT ticket_id FROM b.tickets WHERE user_id = id);
  DELETE FROM b.orders WHERE user_id = id;
  DELETE FROM b.notes WHERE user_id = id;
  DELETE FROM b.tickets WHERE user_id = id;
  DELETE FROM b.sessions WHERE user_id = id;
  DELETE FROM b.page_views WHERE user_id = id;
  DELETE FROM b.devices WHERE user_id = id;
  DELETE FROM b.profiles WHERE user_id = id;
  DELETE FROM b.users WHERE user_id = id;
$$;

CREATE FUNCTION b.hand_export(id bigint) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'users', (SELECT json_agg(t) FROM b.users t WHERE user_id = id),
    'profiles', (SELECT json_agg(t) FROM b.profiles t WHERE user_id = id),
    'sessions', (SELECT json_agg(t) FROM b.sessions t WHERE user_id = id),
    'page_views', (SELECT json_agg(t) FROM b.page_views t WHERE user_id = id),
    'orders', (SELECT json_agg(t) FROM b.orders t WHERE user_id = id),
    'order_items', (SELECT json_agg(t) FROM b.order_items t WHERE order_id IN (SELECT order_id FROM b.orders WHERE user_id = id)),
    'payments', (SELECT json_agg(t) FROM b.payments t WHERE order_id IN (SELECT order_id FROM b.orders WHERE user_id = id)),
    'notes', (SELECT json_agg(t) FROM b.notes t WHERE user_id = id),
    'note_tags', (SELECT json_agg(t) FROM b.note_tags t WHERE note_id IN (SELECT note_id FROM b.notes WHERE user_id = id)),
    'tickets', (SELECT json_agg(t) FROM b.tickets t WHERE user_id = id),
    'ticket_replies', (SELECT json_agg(t) FROM b.ticket_replies t WHERE ticket_id IN (SELECT ticket_id FROM b.tickets WHERE user_id = id)),
    'devices', (SELECT json_agg(t) FROM b.devices t WHERE user_id = id))
$$;

-- Times one call of each method per sampled subject, interleaved; every
-- erase runs in a subtransaction that is rolled back, so both methods see
-- the same data. Returns one row per (method, subject) in milliseconds.
CREATE FUNCTION b.measure(samples integer)
  RETURNS TABLE (method text, subject bigint, ms double precision) LANGUAGE plpgsql AS $$
DECLARE
  s bigint;
  round bigint;
  t0 timestamptz;
  elapsed double precision;
BEGIN
  FOR s, round IN SELECT 1 + floor(random() * (SELECT count(*) FROM b.users))::bigint, g
                    FROM generate_series(1, samples) g LOOP
    -- Warm the subject's pages first, untimed, and rotate the order of the
    -- methods: whichever ran first would otherwise pay every cache miss.
    PERFORM b.hand_export(s);
    FOREACH method IN ARRAY (SELECT array_agg(m ORDER BY (i + round) % 4)
                               FROM unnest(ARRAY['ours_erase', 'hand_erase', 'ours_export', 'hand_export'])
                                    WITH ORDINALITY u(m, i)) LOOP
      BEGIN
        t0 := clock_timestamp();
        CASE method
          WHEN 'ours_erase' THEN PERFORM gdpr_erase('buser', s::text, 'bench');
          WHEN 'hand_erase' THEN PERFORM b.hand_erase(s);
          WHEN 'ours_export' THEN PERFORM gdpr_export('buser', s::text);
          ELSE PERFORM b.hand_export(s);
        END CASE;
        elapsed := extract(epoch FROM clock_timestamp() - t0) * 1000;
        RAISE EXCEPTION USING ERRCODE = 'P0009';  -- roll the subtransaction back
      EXCEPTION WHEN SQLSTATE 'P0009' THEN
        subject := s; ms := elapsed; RETURN NEXT;
      END;
    END LOOP;
  END LOOP;
END
$$;

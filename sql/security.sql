-- The privilege model under attack, with the roles the README tells a DBA
-- to create: sec_app owns the application's tables and holds gdpr_app,
-- sec_dpo holds gdpr_admin, sec_other owns an unrelated table. Every attack
-- below must fail, and owners' code must run with the owner's rights only.
-- keys made by this file are removed at its end
CREATE TABLE test.sec_keys_before AS SELECT coalesce(max(key_id), 0) AS max_id FROM gdpr.subject_key;
CREATE ROLE sec_app LOGIN;
GRANT gdpr_app TO sec_app;
CREATE ROLE sec_dpo LOGIN;
GRANT gdpr_admin TO sec_dpo;
CREATE ROLE sec_other LOGIN;
CREATE SCHEMA sec AUTHORIZATION sec_app;
GRANT USAGE ON SCHEMA sec TO PUBLIC;
CREATE SCHEMA other AUTHORIZATION sec_other;
GRANT USAGE ON SCHEMA other TO PUBLIC;

-- What owners' code records: who it ran as, and whether it got further.
CREATE TABLE sec.ran_as (what text, role name, superuser boolean);
ALTER TABLE sec.ran_as OWNER TO sec_app;

SET ROLE sec_app;
-- Tries to become superuser and records the identity it ran with.
CREATE FUNCTION sec.escalate(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE 'ALTER ROLE sec_app SUPERUSER';
  EXCEPTION WHEN insufficient_privilege THEN NULL;
  END;
  INSERT INTO sec.ran_as VALUES (what, current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_app'));
  RETURN true;
END
$$;
CREATE TYPE sec.mood AS ENUM ('happy', 'sad');
CREATE FUNCTION sec.mood_json(sec.mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN PERFORM sec.escalate('cast to json during export'); RETURN '"mood"'::json; END $$;
CREATE CAST (sec.mood AS json) WITH FUNCTION sec.mood_json(sec.mood);
CREATE FUNCTION sec.mood_text(sec.mood) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM sec.escalate('cast to text in the guard'); RETURN 'x'; END $$;
CREATE CAST (sec.mood AS text) WITH FUNCTION sec.mood_text(sec.mood);
CREATE FUNCTION sec.check_note(text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RETURN sec.escalate('domain check during rectify'); END $$;
CREATE DOMAIN sec.note AS text CHECK (sec.check_note(VALUE));
CREATE FUNCTION sec.policy(bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RETURN sec.escalate('row-level security policy'); END $$;
CREATE FUNCTION sec.index_key(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RAISE NOTICE 'index expression runs as %', current_user; RETURN lower($1); END $$;
CREATE FUNCTION sec.before_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM sec.escalate('trigger during erase'); RETURN OLD; END $$;

CREATE TABLE sec.users (user_id bigint PRIMARY KEY, email text, mood sec.mood, note sec.note);
CREATE TABLE sec.orders (order_id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES sec.users, item text);
CREATE TRIGGER orders_before_delete BEFORE DELETE ON sec.orders FOR EACH ROW EXECUTE FUNCTION sec.before_delete();
CREATE TABLE sec.notes (note_id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES sec.users, body text);
CREATE INDEX notes_body ON sec.notes (sec.index_key(body));
ALTER TABLE sec.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE sec.notes FORCE ROW LEVEL SECURITY;
CREATE POLICY notes_policy ON sec.notes USING (sec.policy(note_id));
CREATE TABLE sec.visits (visit_id bigint PRIMARY KEY, user_id bigint NOT NULL, mood sec.mood);
CREATE TABLE sec.archive (order_id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES sec.users, item text);
CREATE TABLE sec.archived_log (order_id bigint);
CREATE RULE archive_instead AS ON DELETE TO sec.archive
  DO INSTEAD (INSERT INTO sec.archived_log VALUES (OLD.order_id); SELECT sec.escalate('DO INSTEAD rule during erase'));
INSERT INTO sec.users VALUES (1, 'ada@example.com', 'happy', 'n'), (2, 'alan@example.com', 'sad', 'n'),
                             (3, 'grace@example.com', 'sad', 'n');
INSERT INTO sec.orders VALUES (10, 1, 'book'), (11, 2, 'pen'), (12, 3, 'ink');
INSERT INTO sec.notes VALUES (20, 1, 'Hello'), (21, 2, 'World');
INSERT INTO sec.visits VALUES (30, 1, 'happy');
INSERT INTO sec.archive VALUES (40, 1, 'old');

-- section: the owner maps its own tables
SELECT gdpr_register_subject('sec_user', 'sec.users', 'user_id');
SELECT gdpr_link('sec.visits', 'sec_user', 'user_id');
SELECT gdpr_tag('sec.users', 'email', 'personal');
RESET ROLE;
DELETE FROM sec.ran_as;

SET ROLE sec_other;
CREATE TABLE other.secrets (secret_id bigint PRIMARY KEY, owner_id bigint, secret text);
INSERT INTO other.secrets VALUES (1, 1, 'the other role''s data');
RESET ROLE;

-- section: system catalogs and pg_gdpr's own tables cannot be mapped, by anyone
SET ROLE sec_dpo;
SELECT test.error_of($$SELECT gdpr_register_subject('acct', 'pg_catalog.pg_authid', 'rolname')$$);
SELECT test.error_of($$SELECT gdpr_link('pg_catalog.pg_class', 'sec_user', 'relname')$$);
SELECT test.error_of($$SELECT gdpr_tag('pg_catalog.pg_authid', 'rolname', 'personal')$$);
RESET ROLE;
SELECT test.error_of($$SELECT gdpr_register_subject('acct', 'pg_catalog.pg_authid', 'rolname')$$);
SELECT test.error_of($$SELECT gdpr_hold('gdpr.audit_log', '1 year', 'logged_at', 'evidence')$$);
SELECT test.error_of($$SECURITY LABEL FOR pg_gdpr ON COLUMN pg_catalog.pg_authid.rolname IS 'personal'$$);

-- section: another role's table cannot be mapped by the DPO nor by another owner
SET ROLE sec_dpo;
SELECT * FROM test.full_error_of($$SELECT gdpr_register_subject('loot', 'other.secrets', 'secret_id')$$);
SELECT test.error_of($$SELECT gdpr_link('other.secrets', 'sec_user', 'owner_id')$$);
SELECT test.error_of($$SELECT gdpr_hold('other.secrets', '1 year', 'secret_id', 'mine now')$$);
SELECT test.error_of($$SELECT gdpr_tag('other.secrets', 'secret', 'personal')$$);
RESET ROLE;
SET ROLE sec_app;
SELECT test.error_of($$SELECT gdpr_link('other.secrets', 'sec_user', 'owner_id')$$);
-- nor can a kind be moved onto a table its registrant does not own
RESET ROLE;
SET ROLE sec_other;
SELECT test.error_of($$SELECT gdpr_register_subject('sec_user', 'other.secrets', 'secret_id')$$);
RESET ROLE;
SELECT root_table FROM gdpr.subject_kind WHERE kind = 'sec_user';
SELECT count(*) AS secrets_left FROM other.secrets;

-- section: a policy the owner forces on itself cannot hide rows from export or erase: they refuse
SET ROLE sec_dpo;
SELECT test.error_of($$SELECT gdpr_export('sec_user', '2')$$);
RESET ROLE;
SET ROLE sec_app;
ALTER TABLE sec.notes NO FORCE ROW LEVEL SECURITY;
RESET ROLE;

-- section: a DO INSTEAD rule on DELETE makes the plan refuse before anything changes
SET ROLE sec_dpo;
SELECT test.error_of($$SELECT gdpr_erase('sec_user', '1', 'security test')$$);
RESET ROLE;
SELECT count(*) AS users_kept FROM sec.users WHERE user_id = 1;
SELECT count(*) AS rule_ran FROM sec.ran_as;
SET ROLE sec_app;
DROP RULE archive_instead ON sec.archive;
RESET ROLE;

-- section: the DPO's erase and export run the owner's code as the owner
SET ROLE sec_dpo;
SELECT gdpr_export('sec_user', '2') -> 'data' -> 'sec.users' AS exported_user;
SELECT gdpr_rectify('sec_user', '2', 'sec.users', 'note', 'checked');
SELECT gdpr_rectify('sec_user', '2', 'sec.notes', 'body', 'Changed');
SELECT gdpr_erase('sec_user', '2', 'security test') -> 'tables' AS erased;
RESET ROLE;
SELECT what, role, superuser FROM sec.ran_as ORDER BY what;
SELECT rolname, rolsuper FROM pg_roles WHERE rolname LIKE 'sec\_%' ORDER BY rolname;

-- section: the guard on a linked table calls no cast: the owner's insert runs nothing of the owner's as superuser
DELETE FROM sec.ran_as;
SET ROLE sec_app;
SELECT test.error_of($$INSERT INTO sec.visits VALUES (31, 2, 'sad')$$);
INSERT INTO sec.visits VALUES (32, 1, 'sad');
RESET ROLE;
SELECT count(*) AS casts_called FROM sec.ran_as;

-- section: a table the owner gives away is no longer erasable through the old mapping
ALTER TABLE sec.visits OWNER TO sec_other;
SET ROLE sec_dpo;
SELECT * FROM test.full_error_of($$SELECT gdpr_erase('sec_user', '3', 'after a change of owner')$$);
RESET ROLE;
ALTER TABLE sec.visits OWNER TO sec_app;
SET ROLE sec_app;
SELECT gdpr_link('sec.visits', 'sec_user', 'user_id');
RESET ROLE;

-- section: owners' triggers cannot call back into the rights functions
SET ROLE sec_app;
CREATE FUNCTION sec.reenter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM public.gdpr_link('sec.visits', 'sec_user', 'user_id'); RETURN OLD; END $$;
CREATE TRIGGER orders_reenter BEFORE DELETE ON sec.orders FOR EACH ROW EXECUTE FUNCTION sec.reenter();
RESET ROLE;
SET ROLE sec_dpo;
SELECT test.error_of($$SELECT gdpr_erase('sec_user', '3', 'reentry')$$);
RESET ROLE;
DROP TRIGGER orders_reenter ON sec.orders;

-- section: another gdpr_app member cannot hook its own table into someone else's kind
CREATE ROLE sec_mallory LOGIN;
GRANT gdpr_app TO sec_mallory;
CREATE SCHEMA mal AUTHORIZATION sec_mallory;
GRANT USAGE ON SCHEMA mal TO PUBLIC;
SET ROLE sec_mallory;
CREATE TABLE mal.spy (id bigint PRIMARY KEY, user_id bigint);
SELECT * FROM test.full_error_of($$SELECT gdpr_link('mal.spy', 'sec_user', 'user_id')$$);
-- nor remove the owner's links
SELECT test.error_of($$SELECT gdpr_unlink('sec.visits', 'sec_user', 'user_id')$$);
RESET ROLE;
SELECT count(*) AS links_of_mallory FROM gdpr.subject_link WHERE link_table::text LIKE 'mal.%';

-- section: a table that only references the root, owned by someone who never mapped it, is not read or changed
SET ROLE sec_mallory;
CREATE TABLE mal.notes (note_id bigint PRIMARY KEY, user_id bigint REFERENCES sec.users ON DELETE SET NULL,
                        private_note text);
RESET ROLE;
GRANT REFERENCES ON sec.users TO sec_mallory;
SET ROLE sec_mallory;
CREATE TABLE mal.notes2 (note_id bigint PRIMARY KEY, user_id bigint REFERENCES sec.users ON DELETE SET NULL,
                         private_note text);
INSERT INTO mal.notes2 VALUES (1, 3, 'mallory''s own note about user 3');
RESET ROLE;
SET ROLE sec_dpo;
SELECT gdpr_export('sec_user', '3') -> 'data' ? 'mal.notes2' AS exported, gdpr_export('sec_user', '3') -> 'not_exported' AS not_exported;
SELECT test.error_of($$SELECT gdpr_rectify('sec_user', '3', 'mal.notes2', 'private_note', 'overwritten')$$);
RESET ROLE;
SELECT private_note FROM mal.notes2;
SELECT warnings FROM gdpr_data_map('sec_user') WHERE table_name = 'mal.notes2';
-- once its owner tags it, it is part of the map
SET ROLE sec_mallory;
SELECT gdpr_tag('mal.notes2', 'private_note', 'personal');
RESET ROLE;
SET ROLE sec_dpo;
SELECT gdpr_export('sec_user', '3') -> 'data' -> 'mal.notes2' AS exported;
RESET ROLE;
DROP SCHEMA mal CASCADE;
REVOKE REFERENCES ON sec.users FROM sec_mallory;
DROP ROLE sec_mallory;

-- section: an owner's trigger that cancels a delete cannot make the erase report success
SET ROLE sec_app;
CREATE FUNCTION sec.keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER users_keep BEFORE DELETE ON sec.users FOR EACH ROW EXECUTE FUNCTION sec.keep();
RESET ROLE;
SET ROLE sec_dpo;
SELECT * FROM test.full_error_of($$SELECT gdpr_erase('sec_user', '3', 'request 9')$$);
RESET ROLE;
SELECT count(*) AS tombstones FROM gdpr.tombstone WHERE subject_hash = gdpr.subject_hash('sec_user', '3');
DROP TRIGGER users_keep ON sec.users;

-- section: column names with commas cannot make two key sets collide
SET ROLE sec_app;
CREATE TABLE sec.pairs (a int, b int, "a,b" int UNIQUE, user_id bigint NOT NULL REFERENCES sec.users,
                        PRIMARY KEY (a, b));
CREATE TABLE sec.by_pair (id int PRIMARY KEY, a int, b int, FOREIGN KEY (a, b) REFERENCES sec.pairs);
CREATE TABLE sec.by_comma (id int PRIMARY KEY, ab int REFERENCES sec.pairs ("a,b"));
INSERT INTO sec.pairs VALUES (1, 1, 100, 3);
INSERT INTO sec.by_pair VALUES (1, 1, 1);
INSERT INTO sec.by_comma VALUES (1, 100);
RESET ROLE;
SET ROLE sec_dpo;
SELECT gdpr_erase('sec_user', '3', 'request 10') -> 'tables' AS erased;
RESET ROLE;
SELECT (SELECT count(*) FROM sec.by_pair) AS by_pair_left, (SELECT count(*) FROM sec.by_comma) AS by_comma_left;

-- section: internal functions are granted to nobody; the actor cannot be forged
SET ROLE sec_dpo;
SELECT test.error_of($$SELECT gdpr._shred_key('sec_user', '999')$$);
SELECT test.error_of($$SELECT gdpr._erase('sec_user', '2', 'forged')$$);
SELECT test.error_of($$SELECT gdpr._audit('erase', 'sec_user', NULL, NULL, '{}')$$);
SELECT test.error_of($$SELECT gdpr._owner_exec('sec.users', 'DELETE FROM sec.users', NULL, NULL)$$);
SELECT test.error_of($$SELECT gdpr._actor()$$);
SELECT gdpr_shred_key('sec_user', '999');
RESET ROLE;
-- outside an entry point the bodies refuse to guess an actor, even for a superuser
SELECT test.error_of($$SELECT gdpr._shred_key('sec_user', '998')$$);
SELECT action, acting_role, session_role FROM gdpr.audit_log
 WHERE kind = 'sec_user' AND action IN ('shred_keys', 'erase') ORDER BY audit_id;

-- section: the audit log has no bypass setting; only a superuser purges, and that is logged
SET ROLE sec_dpo;
SET gdpr.audit_maintenance = on;
SELECT test.error_of($$DELETE FROM gdpr.audit_log$$);
SELECT test.error_of($$SELECT gdpr_purge_audit_log(now())$$);
RESET gdpr.audit_maintenance;
RESET ROLE;
SELECT test.error_of($$DELETE FROM gdpr.audit_log$$);
SELECT test.error_of($$UPDATE gdpr.audit_log SET acting_role = 'nobody'$$);
SELECT gdpr_purge_audit_log(now() - interval '100 years') AS purged;
SELECT action, acting_role, details ->> 'removed' AS removed FROM gdpr.audit_log
 WHERE action = 'audit_log_purged';
SELECT test.error_of($$SELECT gdpr_purge_audit_log(now() + interval '1 day')$$);

-- section: every function of the extension
-- SECURITY DEFINER ones pin search_path
SELECT p.oid::regprocedure AS unpinned FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_gdpr'
 WHERE p.prosecdef AND NOT coalesce(p.proconfig @> '{"search_path=pg_catalog, pg_temp"}', false);
-- none is executable by a role holding nothing (PUBLIC)
CREATE ROLE sec_nobody;
SELECT p.oid::regprocedure AS public_function FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_gdpr'
 WHERE has_function_privilege('sec_nobody', p.oid, 'EXECUTE');
DROP ROLE sec_nobody;
-- none that takes an acting role is granted to anyone, nor any body in schema gdpr
SELECT p.oid::regprocedure AS granted_internal FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_gdpr'
  CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
 WHERE a.grantee <> p.proowner
   AND (p.pronamespace = 'gdpr'::regnamespace
        OR EXISTS (SELECT 1 FROM unnest(p.proargnames) n WHERE n ~ '(actor|acting|role)'));

-- section: messages name no key file and no erased subject
ALTER SYSTEM SET pg_gdpr.master_key_file = '/nonexistent/secret-keys-dir/pg_gdpr.keys';
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
\c
SET ROLE sec_app;
SELECT state, position('secret-keys-dir' IN concat(message, detail, hint)) = 0 AS path_hidden
  FROM test.full_error_of($$SELECT gdpr_encrypt('sec_user', '5', 'x', 'ctx')$$);
RESET ROLE;
-- back to both versions, as master_key.sql left it (its keys are wrapped by version 2)
\getenv keydir PG_GDPR_TEST_KEYDIR
\set v12 :keydir '/master_v12.keys'
ALTER SYSTEM SET pg_gdpr.master_key_file = :'v12';
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
\c
SET ROLE sec_app;
SELECT state, position('2' IN concat(message, detail, hint)) = 0 AS id_hidden
  FROM test.full_error_of($$INSERT INTO sec.visits VALUES (33, 2, 'sad')$$);
RESET ROLE;

-- section: a hostile search_path: trojans in public that shadow built-ins are never called
CREATE DATABASE sec_hostile;
\c sec_hostile
CREATE SCHEMA test;
CREATE FUNCTION test.trojan(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'trojan % was called', what; END $$;
GRANT USAGE ON SCHEMA test TO PUBLIC;
CREATE FUNCTION public.tx(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT test.trojan('= (text, text)') $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.tx);
CREATE FUNCTION public.nx(name, name) RETURNS boolean LANGUAGE sql AS $$ SELECT test.trojan('= (name, name)') $$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.nx);
CREATE FUNCTION public.ox(oid, oid) RETURNS boolean LANGUAGE sql AS $$ SELECT test.trojan('= (oid, oid)') $$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.ox);
CREATE FUNCTION public.bx(bytea, bytea) RETURNS boolean LANGUAGE sql AS $$ SELECT test.trojan('= (bytea, bytea)') $$;
CREATE OPERATOR public.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = public.bx);
CREATE FUNCTION public.jx(jsonb, text) RETURNS jsonb LANGUAGE sql AS $$ SELECT test.trojan('-> (jsonb, text)')::text::jsonb $$;
CREATE OPERATOR public.-> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = public.jx);
CREATE FUNCTION public.jtx(jsonb, text) RETURNS text LANGUAGE sql AS $$ SELECT test.trojan('->> (jsonb, text)')::text $$;
CREATE OPERATOR public.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = public.jtx);
CREATE FUNCTION public.cx(text, text) RETURNS text LANGUAGE sql AS $$ SELECT test.trojan('|| (text, text)')::text $$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.cx);
CREATE FUNCTION public.format(text) RETURNS text LANGUAGE sql AS $$ SELECT test.trojan('format(text)')::text $$;
CREATE FUNCTION public.format(text, text) RETURNS text LANGUAGE sql AS $$ SELECT test.trojan('format(text, text)')::text $$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT test.trojan('lower(text)')::text $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT test.trojan('now()')::text::timestamptz $$;
CREATE FUNCTION public.hashtext(text) RETURNS integer LANGUAGE sql AS $$ SELECT test.trojan('hashtext(text)')::int $$;
CREATE FUNCTION public.encode(bytea, text) RETURNS text LANGUAGE sql AS $$ SELECT test.trojan('encode')::text $$;
CREATE FUNCTION public.decode(text, text) RETURNS bytea LANGUAGE sql AS $$ SELECT test.trojan('decode')::text::bytea $$;
CREATE FUNCTION public.quote_ident(text) RETURNS text LANGUAGE sql AS $$ SELECT test.trojan('quote_ident')::text $$;
CREATE FUNCTION public.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql AS $$ SELECT test.trojan('to_jsonb')::text::jsonb $$;
CREATE FUNCTION public.jsonb_build_object(text, text) RETURNS jsonb LANGUAGE sql AS $$ SELECT test.trojan('jsonb_build_object')::text::jsonb $$;
CREATE FUNCTION public.jsonb_array_elements(jsonb) RETURNS SETOF jsonb LANGUAGE sql AS $$ SELECT test.trojan('jsonb_array_elements')::text::jsonb $$;
CREATE FUNCTION public.pg_has_role(oid, oid, text) RETURNS boolean LANGUAGE sql AS $$ SELECT test.trojan('pg_has_role') $$;
CREATE FUNCTION public.pg_advisory_xact_lock(integer, integer) RETURNS void LANGUAGE sql AS $$ SELECT test.trojan('pg_advisory_xact_lock'); $$;
CREATE FUNCTION public.gen_random_uuid() RETURNS uuid LANGUAGE sql AS $$ SELECT test.trojan('gen_random_uuid')::text::uuid $$;
SET search_path = public, pg_catalog;
CREATE EXTENSION pg_gdpr;
CREATE SCHEMA crm AUTHORIZATION sec_app;
GRANT USAGE ON SCHEMA crm TO PUBLIC;
SET ROLE sec_app;
SET search_path = public, pg_catalog;
CREATE TABLE crm.users (user_id bigint PRIMARY KEY, email bytea, name text);
CREATE TABLE crm.orders (order_id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES crm.users, item text);
CREATE TABLE crm.lines (line_id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES crm.orders, qty integer);
CREATE TABLE crm.invoices (invoice_id bigint PRIMARY KEY, user_id bigint REFERENCES crm.users, issued_on date NOT NULL, billing_name bytea);
CREATE TABLE crm.events (event_id bigint PRIMARY KEY, user_id bigint NOT NULL);
SELECT gdpr_register_subject('user', 'crm.users', 'user_id');
SELECT gdpr_link('crm.events', 'user', 'user_id');
SELECT gdpr_hold('crm.invoices', '7 years', 'issued_on', 'tax law');
SELECT gdpr_tag('crm.users', 'email', 'personal', 'crm.users.email');
SELECT gdpr_tag('crm.users', 'name', 'personal');
SELECT gdpr_tag('crm.invoices', 'billing_name', 'personal', 'crm.invoices.billing_name');
INSERT INTO crm.users SELECT i, gdpr_encrypt('user', i::text, pg_catalog.concat('u', i, '@example.com'), 'crm.users.email'), 'User'
  FROM generate_series(1, 3) i;
INSERT INTO crm.orders VALUES (10, 1, 'book'), (11, 2, 'pen');
INSERT INTO crm.lines VALUES (100, 10, 1), (101, 11, 2);
INSERT INTO crm.invoices SELECT 1000, 1, current_date, gdpr_encrypt('user', '1', 'Ada', 'crm.invoices.billing_name');
INSERT INTO crm.events VALUES (500, 1), (501, 2);
SELECT gdpr_decrypt(email, 'crm.users.email') IS NOT NULL AS decrypted FROM crm.users WHERE user_id IN (1);
RESET ROLE;
SET ROLE sec_dpo;
SET search_path = public, pg_catalog;
SELECT count(*) AS mapped_tables FROM gdpr_data_map('user');
SELECT gdpr_export('user', '1') IS NOT NULL AS exported;
SELECT gdpr_rectify('user', '1', 'crm.users', 'name', 'Ada L.') AS rectified;
SELECT gdpr_rectify('user', '1', 'crm.users', 'email', 'ada@new.example') AS rectified;
SELECT gdpr_request('user', '2', 'erasure', 'web form') AS request;
SELECT gdpr_verify_request(1);
SELECT gdpr_fulfil_request(1) IS NOT NULL AS fulfilled;
SELECT gdpr_erase('user', '1', 'hostile search_path') IS NOT NULL AS erased;
SELECT gdpr_shred_key('user', '3') AS shredded;
SELECT count(*) AS overdue FROM gdpr_requests_overdue();
SELECT gdpr_master_key_status() IS NOT NULL AS status;
RESET ROLE;
-- the guard of a linked table, under the same search_path
SET ROLE sec_app;
SET search_path = public, pg_catalog;
INSERT INTO crm.events VALUES (502, 1);
RESET ROLE;
RESET search_path;
-- user 2 is gone; user 1 stays, anonymized, for its invoice under the legal hold; user 3 stays
SELECT count(*) AS users_left FROM crm.users;
SELECT count(*) AS events_left FROM crm.events;
SELECT count(*) AS invoices_kept FROM crm.invoices;
\c contrib_regression
DROP DATABASE sec_hostile;

-- clean up
DROP SCHEMA sec CASCADE;
DROP SCHEMA other CASCADE;
DELETE FROM gdpr.subject_key WHERE key_id > (SELECT max_id FROM test.sec_keys_before);
DROP TABLE test.sec_keys_before;
DELETE FROM gdpr.tombstone WHERE kind = 'sec_user';
DROP ROLE sec_app, sec_dpo, sec_other;

-- ---------------------------------------------------------------------------
-- Purposes and a person's choices: consent, restriction (Art. 18) and
-- objection (Art. 21).
--
-- A purpose declares its lawful basis, the data categories it may use and
-- the kinds of processing it does. The kinds come from a fixed vocabulary
-- (gdpr.processing_kind) that marks what the privacy policy forbids: sale
-- of personal data, behavioural advertising, sharing with advertising
-- networks, data brokers or marketing platforms. A purpose doing any of
-- those cannot be stored, under any name, by any path (a trigger on
-- gdpr.purpose checks every INSERT and UPDATE).
--
-- Choices are appended to gdpr.choice, never changed. What they mean now,
-- per subject and purpose, is kept in gdpr.processing_state, the small
-- table the consent-aware views read: for a purpose based on consent, the
-- subjects who may be processed (allowed); for any other purpose, the
-- subjects who may not (restricted, objected, erasure pending). Subjects
-- who never made a choice have no row at all.
-- ---------------------------------------------------------------------------

CREATE TABLE gdpr.processing_kind (
  processing           text PRIMARY KEY,
  forbidden            boolean NOT NULL,
  survives_restriction boolean NOT NULL,  -- Art. 18(2): storage and legal claims
  description          text NOT NULL
);
COMMENT ON TABLE gdpr.processing_kind IS
  'What a purpose may do with personal data; forbidden kinds cannot be declared (the privacy policy forbids them)';
INSERT INTO gdpr.processing_kind VALUES
  ('service', false, false, 'providing and maintaining the contracted service'),
  ('support', false, false, 'answering inquiries and sending essential service communications'),
  ('security', false, false, 'detecting and preventing fraud and abuse, protecting accounts'),
  ('legal_obligation', false, false, 'complying with a legal obligation'),
  ('billing', false, false, 'payments, subscriptions and renewal reminders'),
  ('analytics', false, false, 'analysing usage, anonymized or aggregated'),
  ('personalization', false, false, 'remembering settings, language and display preferences'),
  ('direct_marketing', false, false, 'marketing messages sent by the controller itself'),
  ('internal', false, false, 'other processing by the controller itself, not disclosed to anyone'),
  ('storage', false, true, 'keeping the data, nothing else'),
  ('legal_claims', false, true, 'establishing, exercising or defending legal claims'),
  ('sale', true, false, 'selling or renting personal data to third parties'),
  ('behavioural_advertising', true, false, 'targeting advertising by a person''s behaviour or profile'),
  ('advertising_network_sharing', true, false, 'sharing personal data with advertising networks'),
  ('data_broker_sharing', true, false, 'sharing personal data with data brokers'),
  ('marketing_platform_sharing', true, false, 'sharing personal data with third-party marketing platforms');
REVOKE ALL ON gdpr.processing_kind FROM PUBLIC;
-- The vocabulary is part of the extension: what the policy forbids stays
-- forbidden.
CREATE FUNCTION gdpr._processing_kinds_fixed() RETURNS trigger
  LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'the kinds of processing are fixed by pg_gdpr'
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'What the privacy policy forbids stays forbidden; describe purposes with the kinds there are.';
END
$fn$;
CREATE TRIGGER processing_kinds_fixed BEFORE INSERT OR UPDATE OR DELETE ON gdpr.processing_kind
  FOR EACH ROW EXECUTE FUNCTION gdpr._processing_kinds_fixed();
CREATE TRIGGER processing_kinds_no_truncate BEFORE TRUNCATE ON gdpr.processing_kind
  FOR EACH STATEMENT EXECUTE FUNCTION gdpr._processing_kinds_fixed();

ALTER TABLE gdpr.purpose
  ADD COLUMN processing text[] NOT NULL DEFAULT '{internal}',
  ADD COLUMN may_write boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN gdpr.purpose.processing IS 'Kinds of processing (gdpr.processing_kind); none may be forbidden';
COMMENT ON COLUMN gdpr.purpose.may_write IS 'Whether its consent-aware views take INSERT, UPDATE and DELETE';

-- Every way into gdpr.purpose (gdpr_define_purpose, a DPO's INSERT or
-- UPDATE, a restore) passes this check.
CREATE FUNCTION gdpr._check_purpose() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  bad text;
  categories constant text[] := '{personal,usage,customer,technical,sensitive}';
BEGIN
  IF NEW.purpose !~ '^[a-z][a-z0-9_]*$' THEN
    RAISE EXCEPTION 'invalid purpose name "%"', NEW.purpose
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A purpose is lower-case letters, digits and underscores, starting with a letter, e.g. ''direct_marketing''.';
  END IF;
  -- its reader role is gdpr_reader_<purpose>, and role names end at 63
  -- bytes: two longer names would share one role
  IF length(NEW.purpose) > 51 THEN
    RAISE EXCEPTION 'purpose name "%" is too long', NEW.purpose
      USING ERRCODE = 'name_too_long', DETAIL = 'Its reader role gdpr_reader_<purpose> must fit in 63 bytes.',
            HINT = 'Use at most 51 characters.';
  END IF;
  IF cardinality(NEW.processing) IS NULL OR cardinality(NEW.processing) = 0 OR array_position(NEW.processing, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'purpose "%" must declare the kinds of processing it does', NEW.purpose
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name them from gdpr.processing_kind, e.g. ''{service}''.';
  END IF;
  SELECT string_agg(p, ', ') INTO bad FROM unnest(NEW.processing) p
   WHERE EXISTS (SELECT 1 FROM gdpr.processing_kind k WHERE k.processing = p AND k.forbidden);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'purpose "%" declares processing the privacy policy forbids: %', NEW.purpose, bad
      USING ERRCODE = 'check_violation',
            DETAIL = 'The policy: "We never sell your personal data to third parties or use it for behavioral advertising", "We never share your personal data with advertising networks, data brokers, or marketing platforms."',
            HINT = 'Such a purpose cannot be declared under any name.';
  END IF;
  SELECT string_agg(p, ', ') INTO bad FROM unnest(NEW.processing) p
   WHERE NOT EXISTS (SELECT 1 FROM gdpr.processing_kind k WHERE k.processing = p);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'unknown kind of processing: %', bad
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Known kinds: ' || (SELECT string_agg(k.processing, ', ' ORDER BY k.processing) FROM gdpr.processing_kind k WHERE NOT k.forbidden) || '.',
            HINT = 'Describe what the purpose does with the kinds pg_gdpr knows.';
  END IF;
  -- the words, too: a purpose that says it sells data is refused whatever
  -- kinds it declares
  IF replace(NEW.purpose, '_', ' ') || ' ' || NEW.description ~* '(\msell|\msale\M|\msold\M|\mdata.?sales?\M|behaviou?ral.?(advertising|targeting)|advertising.?network|\mad.?network|data.?broker|marketing.?platform)' THEN
    RAISE EXCEPTION 'purpose "%" describes processing the privacy policy forbids', NEW.purpose
      USING ERRCODE = 'check_violation',
            DETAIL = 'Its name or description speaks of selling data, behavioural advertising, advertising networks, data brokers or marketing platforms.',
            HINT = 'Such a purpose cannot be declared under any name.';
  END IF;
  IF cardinality(NEW.categories) IS NULL OR cardinality(NEW.categories) = 0 THEN
    RAISE EXCEPTION 'purpose "%" must name the data categories it uses', NEW.purpose
      USING ERRCODE = 'invalid_parameter_value', HINT = 'For example ''{personal,customer}''.';
  END IF;
  SELECT string_agg(coalesce(c, 'NULL'), ', ') INTO bad FROM unnest(NEW.categories) c WHERE c IS NULL OR c <> ALL (categories);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'unknown data category: %', bad
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Categories are ' || array_to_string(categories, ', ') || '.';
  END IF;
  IF 'direct_marketing' = ANY (NEW.processing) AND NEW.lawful_basis <> 'consent' THEN
    RAISE EXCEPTION 'purpose "%" does direct marketing, which needs consent as its lawful basis', NEW.purpose
      USING ERRCODE = 'check_violation', HINT = 'Declare it with lawful basis ''consent''.';
  END IF;
  IF 'sensitive' = ANY (NEW.categories) AND NEW.lawful_basis <> 'consent' THEN
    RAISE EXCEPTION 'purpose "%" uses sensitive data, which needs explicit consent as its lawful basis (Art. 9)', NEW.purpose
      USING ERRCODE = 'check_violation',
            HINT = 'The policy collects sensitive data only when the person provides it explicitly: declare it with lawful basis ''consent''.';
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER purpose_checked BEFORE INSERT OR UPDATE ON gdpr.purpose
  FOR EACH ROW EXECUTE FUNCTION gdpr._check_purpose();

-- The purposes of the privacy policy; existing rows keep what the DPO set.
CREATE FUNCTION gdpr._load_purpose_defaults() RETURNS integer
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  added integer;
BEGIN
  INSERT INTO gdpr.purpose AS p (purpose, lawful_basis, description, categories, processing, may_write) VALUES
    ('service_delivery', 'contract', 'Provide, maintain, and continuously improve the CRM platform',
     '{personal,customer,technical}', '{service,storage}', true),
    ('customer_support', 'legitimate_interests', 'Respond to inquiries, troubleshoot issues, and send essential service communications',
     '{personal,customer,technical}', '{support}', true),
    ('security_compliance', 'legal_obligation', 'Detect and prevent fraud, enforce terms of service, and comply with legal obligations',
     '{personal,technical,usage}', '{security,legal_obligation}', false),
    ('product_improvement', 'legitimate_interests', 'Analyze usage patterns to prioritize feature development and enhance user experience',
     '{usage}', '{analytics}', false),
    ('billing', 'contract', 'Process payments, manage subscriptions, and send renewal reminders',
     '{personal,customer}', '{billing}', true),
    ('direct_marketing', 'consent', 'Newsletters and offers from us, only with the person''s consent',
     '{personal}', '{direct_marketing}', false),
    ('legal_claims', 'legal_obligation', 'Establish, exercise or defend legal claims; keep data under a legal hold',
     '{personal,customer,technical,usage}', '{legal_claims,storage}', false),
    ('essential_cookies', 'contract', 'Essential cookies: authentication, security, session management',
     '{technical}', '{service}', false),
    ('preference_cookies', 'consent', 'Preference cookies: settings, language and display preferences',
     '{technical}', '{personalization}', false),
    ('analytics_cookies', 'consent', 'Analytics cookies: usage patterns, anonymized, no personal data',
     '{usage}', '{analytics}', false),
    ('security_cookies', 'legitimate_interests', 'Security cookies: detect and prevent fraud, protect against CSRF attacks',
     '{technical}', '{security}', false)
  ON CONFLICT (purpose) DO NOTHING;
  GET DIAGNOSTICS added = ROW_COUNT;
  RETURN added;
END
$fn$;

CREATE FUNCTION gdpr._require_purpose(purpose text) RETURNS gdpr.purpose
  LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  p gdpr.purpose;
BEGIN
  PERFORM gdpr._require(purpose, 'purpose');
  SELECT * INTO p FROM gdpr.purpose q WHERE q.purpose = _require_purpose.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown purpose "%"', purpose
      USING ERRCODE = 'undefined_object',
            DETAIL = coalesce('Declared purposes: ' || (SELECT string_agg(q.purpose, ', ' ORDER BY q.purpose) FROM gdpr.purpose q) || '.',
                              'No purpose is declared.'),
            HINT = 'Declare it with gdpr_define_purpose(), or load the policy''s with gdpr_load_policy_defaults().';
  END IF;
  RETURN p;
END
$fn$;

CREATE FUNCTION gdpr._define_purpose(name text, lawful_basis text, categories text[], description text,
                                     processing text[], may_write boolean)
  RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  bases constant text[] := '{consent,contract,legal_obligation,vital_interests,public_task,legitimate_interests}';
BEGIN
  PERFORM gdpr._require(name, 'purpose name');
  PERFORM gdpr._require(lawful_basis, 'lawful basis');
  PERFORM gdpr._require(categories, 'categories');
  PERFORM gdpr._require(description, 'description');
  PERFORM gdpr._require(processing, 'kinds of processing');
  PERFORM gdpr._require(may_write, 'may_write');
  IF lawful_basis <> ALL (bases) THEN
    RAISE EXCEPTION 'unknown lawful basis "%"', lawful_basis
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Art. 6 bases: ' || array_to_string(bases, ', ') || '.';
  END IF;
  IF btrim(description) = '' THEN
    RAISE EXCEPTION 'a purpose needs a description'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Say what the data is used for, as the privacy policy does.';
  END IF;
  INSERT INTO gdpr.purpose AS p (purpose, lawful_basis, description, categories, processing, may_write)
  VALUES (name, lawful_basis, description, categories, processing, may_write)
  ON CONFLICT (purpose) DO UPDATE
    SET lawful_basis = excluded.lawful_basis, description = excluded.description,
        categories = excluded.categories, processing = excluded.processing, may_write = excluded.may_write;
  PERFORM gdpr._audit('define_purpose', NULL, NULL, NULL,
                      jsonb_build_object('purpose', name, 'lawful_basis', lawful_basis, 'categories', categories,
                                         'processing', processing, 'may_write', may_write));
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_define_purpose(name text, lawful_basis text, categories text[], description text,
                                                processing text[] DEFAULT '{internal}', may_write boolean DEFAULT false)
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_define_purpose(text, text, text[], text, text[], boolean) IS
  'Declares (or redefines) a purpose: lawful basis, categories it may use, kinds of processing; forbidden processing is refused';

-- ---- choices -----------------------------------------------------------------

CREATE TABLE gdpr.choice (
  choice_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind        text NOT NULL,
  subject_id  text NOT NULL,  -- canonical; the subject's choices go with its erasure
  action      text NOT NULL CHECK (action IN ('consent_granted', 'consent_withdrawn', 'restricted',
                                              'restriction_lifted', 'objected')),
  purpose     text,           -- NULL for a restriction: it covers every purpose
  source      text NOT NULL,
  reason      text,
  recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  recorded_by name NOT NULL,
  CHECK ((purpose IS NULL) = (action IN ('restricted', 'restriction_lifted')))
);
CREATE INDEX choice_subject ON gdpr.choice (kind, subject_id, purpose, choice_id);
COMMENT ON TABLE gdpr.choice IS
  'Every consent, withdrawal, restriction and objection of a data subject, in order; never changed, erased with the subject';

CREATE FUNCTION gdpr._choice_is_history() RETURNS trigger
  LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'gdpr.choice is a history: its records cannot be changed'
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Record a new choice (gdpr_set_consent, gdpr_lift_restriction); erasure removes a subject''s records.';
END
$fn$;
CREATE TRIGGER choice_is_history BEFORE UPDATE ON gdpr.choice
  FOR EACH ROW EXECUTE FUNCTION gdpr._choice_is_history();
CREATE TRIGGER choice_no_truncate BEFORE TRUNCATE ON gdpr.choice
  FOR EACH STATEMENT EXECUTE FUNCTION gdpr._choice_is_history();

-- The current meaning of the choices, read by every consent-aware view.
CREATE TABLE gdpr.processing_state (
  -- "C": the views' filter probes the indexes per row, and byte order
  -- compares fastest
  kind       text COLLATE "C" NOT NULL,
  purpose    text COLLATE "C" NOT NULL,
  subject_id text COLLATE "C" NOT NULL,
  allowed    boolean NOT NULL,  -- true: consent given (consent purposes); false: blocked (the others)
  -- integer ids as integers: views of tables keyed by integers compare
  -- without converting every row's id to text
  subject_int bigint GENERATED ALWAYS AS (
    CASE WHEN subject_id OPERATOR(pg_catalog.~) '^-?[0-9]{1,18}$' THEN subject_id::bigint
         -- 19 digits (snowflake ids): those that fit
         WHEN subject_id OPERATOR(pg_catalog.~) '^-?[0-9]{19}$'
              AND subject_id::pg_catalog.numeric OPERATOR(pg_catalog.>=) -9223372036854775808::pg_catalog.numeric
              AND subject_id::pg_catalog.numeric OPERATOR(pg_catalog.<=) 9223372036854775807::pg_catalog.numeric
           THEN subject_id::bigint END) STORED,
  -- (kind, purpose) as one integer: the views' filter descends these
  -- indexes comparing integers, not two strings per level (the filter
  -- checks kind and purpose on every row it finds, so a collision of the
  -- hash costs nothing but a wasted read)
  scope bigint GENERATED ALWAYS AS (
    pg_catalog.hashtextextended(kind OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) purpose, 0)) STORED,
  PRIMARY KEY (kind, purpose, subject_id) INCLUDE (allowed)
);
CREATE INDEX processing_state_scope_int ON gdpr.processing_state (scope, subject_int);
CREATE INDEX processing_state_scope_text ON gdpr.processing_state (scope, subject_id);
COMMENT ON TABLE gdpr.processing_state IS
  'Per subject and purpose, what the choices mean now: consent purposes list who may be processed, the others who may not';

SELECT pg_catalog.pg_extension_config_dump('gdpr.choice', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.choice_choice_id_seq', '');
-- The state is not dumped: it is derived again, row by row, as a restore
-- loads the choices, purposes and requests (their triggers below).
REVOKE ALL ON gdpr.choice, gdpr.processing_state FROM PUBLIC;

-- What the state should be, for the subjects and purposes the filters
-- select (NULL: all): from the latest choice per purpose, the latest
-- restriction, and erasure requests not yet carried out.
CREATE FUNCTION gdpr._derived_state(only_kind text, only_subject text, only_purpose text)
  RETURNS TABLE (kind text, purpose text, subject_id text, allowed boolean)
  LANGUAGE sql STABLE AS $fn$
  WITH subjects AS (
    SELECT c.kind, c.subject_id FROM gdpr.choice c
     WHERE (only_kind IS NULL OR c.kind OPERATOR(pg_catalog.=) only_kind)
       AND (only_subject IS NULL OR c.subject_id OPERATOR(pg_catalog.=) only_subject)
    UNION
    SELECT r.kind, r.subject_id FROM gdpr.request r
     WHERE r.request_type OPERATOR(pg_catalog.=) 'erasure' AND r.status IN ('received', 'verified')
       AND r.subject_id IS NOT NULL
       AND (only_kind IS NULL OR r.kind OPERATOR(pg_catalog.=) only_kind)
       AND (only_subject IS NULL OR r.subject_id OPERATOR(pg_catalog.=) only_subject)),
  survivors AS (SELECT pg_catalog.array_agg(k.processing) AS kinds FROM gdpr.processing_kind k WHERE k.survives_restriction),
  judged AS (
    SELECT s.kind, p.purpose, s.subject_id, p.lawful_basis OPERATOR(pg_catalog.=) 'consent' AS needs_consent,
           EXISTS (SELECT 1 FROM gdpr.request r
                    WHERE r.kind OPERATOR(pg_catalog.=) s.kind AND r.subject_id OPERATOR(pg_catalog.=) s.subject_id
                      AND r.request_type OPERATOR(pg_catalog.=) 'erasure' AND r.status IN ('received', 'verified'))
           OR (coalesce((SELECT c.action FROM gdpr.choice c
                          WHERE c.kind OPERATOR(pg_catalog.=) s.kind AND c.subject_id OPERATOR(pg_catalog.=) s.subject_id
                            AND c.purpose IS NULL
                          ORDER BY c.choice_id DESC LIMIT 1) OPERATOR(pg_catalog.=) 'restricted', false)
               AND NOT p.processing OPERATOR(pg_catalog.<@) (SELECT v.kinds FROM survivors v)) AS blocked,
           (SELECT c.action FROM gdpr.choice c
             WHERE c.kind OPERATOR(pg_catalog.=) s.kind AND c.subject_id OPERATOR(pg_catalog.=) s.subject_id
               AND c.purpose OPERATOR(pg_catalog.=) p.purpose
             ORDER BY c.choice_id DESC LIMIT 1) AS last_choice
      FROM subjects s CROSS JOIN gdpr.purpose p
     WHERE only_purpose IS NULL OR p.purpose OPERATOR(pg_catalog.=) only_purpose)
  SELECT j.kind, j.purpose, j.subject_id, j.needs_consent
    FROM judged j
   WHERE CASE WHEN j.needs_consent
              THEN j.last_choice IS NOT DISTINCT FROM 'consent_granted' AND NOT j.blocked
              ELSE j.blocked OR j.last_choice IS NOT DISTINCT FROM 'objected' END
$fn$;

CREATE FUNCTION gdpr._refresh_state(only_kind text, only_subject text, only_purpose text) RETURNS void
  LANGUAGE sql VOLATILE AS $fn$
  DELETE FROM gdpr.processing_state s
   WHERE s.kind OPERATOR(pg_catalog.<>) '*held'  -- kept by gdpr._held_row_state()
     AND (only_kind IS NULL OR s.kind OPERATOR(pg_catalog.=) only_kind)
     AND (only_subject IS NULL OR s.subject_id OPERATOR(pg_catalog.=) only_subject)
     AND (only_purpose IS NULL OR s.purpose OPERATOR(pg_catalog.=) only_purpose);
  INSERT INTO gdpr.processing_state AS s (kind, purpose, subject_id, allowed)
  SELECT d.kind, d.purpose, d.subject_id, d.allowed FROM gdpr._derived_state(only_kind, only_subject, only_purpose) d
  ON CONFLICT ON CONSTRAINT processing_state_pkey DO UPDATE SET allowed = excluded.allowed;
$fn$;

-- Whether this is a restore (pg_restore, or psql running a dump): its data
-- comes by COPY and its scripts turn check_function_bodies off. A restore
-- brings the views and triggers as they were dumped: they must not be
-- made twice.
CREATE FUNCTION gdpr._bulk_load() RETURNS boolean
  LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(pg_catalog.current_query() OPERATOR(pg_catalog.~*) '^\s*COPY\s', false)
      OR NOT pg_catalog.current_setting('check_function_bodies')::boolean
$fn$;

-- New choices (recorded, or restored): their subjects' state follows.
CREATE FUNCTION gdpr._choice_recorded() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  subject record;
BEGIN
  FOR subject IN SELECT DISTINCT n.kind, n.subject_id FROM new_choices n LOOP
    PERFORM gdpr._refresh_state(subject.kind, subject.subject_id, NULL);
  END LOOP;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER choice_recorded AFTER INSERT ON gdpr.choice REFERENCING NEW TABLE AS new_choices
  FOR EACH STATEMENT EXECUTE FUNCTION gdpr._choice_recorded();

-- A purpose's basis or kinds changed: its state is recomputed for everyone.
CREATE FUNCTION gdpr._purpose_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF EXISTS (SELECT 1 FROM gdpr.consent_view v WHERE v.purpose = OLD.purpose) THEN
      RAISE EXCEPTION 'purpose "%" has consent-aware views', OLD.purpose
        USING ERRCODE = 'dependent_objects_still_exist',
              DETAIL = 'Views: ' || (SELECT string_agg(v.view::text, ', ' ORDER BY v.view::text) FROM gdpr.consent_view v WHERE v.purpose = OLD.purpose) || '.',
              HINT = 'Drop the views first.';
    END IF;
    DELETE FROM gdpr.processing_state s WHERE s.purpose = OLD.purpose;
    INSERT INTO gdpr.audit_log (acting_role, action, details)
    VALUES (session_user, 'delete_purpose', jsonb_build_object('purpose', OLD.purpose, 'was', to_jsonb(OLD)));
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.purpose <> OLD.purpose THEN
    RAISE EXCEPTION 'a purpose cannot be renamed'
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Consent was given to the purpose under its name: declare a new purpose instead.';
  END IF;
  -- a change of what a purpose may do is evidence, however it was made
  -- (gdpr_define_purpose logs its own INSERT)
  IF TG_OP = 'UPDATE' AND to_jsonb(NEW) IS DISTINCT FROM to_jsonb(OLD) THEN
    -- (as a table write it may come from no gdpr_* function: the session's
    -- role is the one that acts)
    INSERT INTO gdpr.audit_log (acting_role, action, details)
    VALUES (session_user, 'change_purpose',
            jsonb_build_object('purpose', NEW.purpose, 'was', to_jsonb(OLD), 'now', to_jsonb(NEW)));
  END IF;
  PERFORM gdpr._refresh_state(NULL, NULL, NEW.purpose);
  -- a restore (COPY) brings the views as they were dumped; a change of an
  -- existing purpose is never a restore
  IF TG_OP = 'UPDATE' OR NOT gdpr._bulk_load() THEN
    PERFORM gdpr._refresh_views_of(NULL, NEW.purpose);
  END IF;
  RETURN NEW;
END
$fn$;

-- Serializes the choices of one subject, and waits for an erasure of it in
-- progress (which holds the subject lock exclusively); refuses an erased
-- subject and, per the documented rule, one that does not exist.
CREATE FUNCTION gdpr._choice_subject(kind text, subject_id text) RETURNS text
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  k gdpr.subject_kind := gdpr._require_kind(kind);
  canonical text := gdpr._canonical_id(k, subject_id);
  hash bytea := gdpr.subject_hash(kind, canonical);
  stored text;
BEGIN
  PERFORM gdpr._require_choice_rights(k);
  PERFORM gdpr._lock_subject(hash, true);
  PERFORM pg_advisory_xact_lock(hashtext('pg_gdpr.choice'), hashtext(kind || ':' || canonical));
  IF EXISTS (SELECT 1 FROM gdpr.tombstone t WHERE t.subject_hash = hash) THEN
    RAISE EXCEPTION 'subject of kind "%" was erased', kind
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'An erased subject''s choices are erased with it; nothing can be recorded for it again.';
  END IF;
  stored := gdpr._stored_subject_id(k, canonical);
  IF stored IS NULL THEN
    RAISE EXCEPTION 'no subject of kind "%" has this id', kind
      USING ERRCODE = 'no_data_found',
            DETAIL = format('Choices are recorded for existing subjects only: a row of %s.', k.root_table),
            HINT = 'Insert the subject''s row first (in the same transaction, e.g. at sign-up), then record its choices.';
  END IF;
  -- the spelling the root row stores, as views compare it ('1001' for a
  -- numeric '1001.0'; the stored case under a case-insensitive collation)
  RETURN stored;
END
$fn$;

-- The subject's id as its root row stores it, as text, or NULL when no
-- root row has it (read as the root table's owner).
CREATE FUNCTION gdpr._stored_subject_id(k gdpr.subject_kind, subject_id text) RETURNS text
  LANGUAGE sql STABLE AS $fn$
  SELECT gdpr._owner_query(k.root_table,
           -- (format's %%s: the type's output function, as the views' filter
           -- and the guards spell ids, char(n) padding included)
           format('SELECT pg_catalog.to_jsonb((SELECT pg_catalog.format(''%%s'', t0.%I) FROM %s t0 WHERE t0.%I OPERATOR(pg_catalog.=) $1::%s LIMIT 1))',
                  k.id_column, k.root_table, k.id_column, (gdpr._column_types(k.root_table, ARRAY[k.id_column]))[1]),
           subject_id, NULL) #>> '{}'
$fn$;

-- A kind's choices are the business of whoever owns its root table (the
-- application that collects them) and of the DPO, not of every gdpr_app
-- member: another owner could otherwise forge or read them.
CREATE FUNCTION gdpr._require_choice_rights(k gdpr.subject_kind) RETURNS void
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  owner regrole := (SELECT c.relowner::regrole FROM pg_class c WHERE c.oid = k.root_table);
BEGIN
  IF NOT (pg_has_role(gdpr._actor(), owner, 'USAGE') OR pg_has_role(gdpr._actor(), 'gdpr_admin', 'USAGE')) THEN
    RAISE EXCEPTION 'permission denied for the choices of subjects of kind "%"', k.kind
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('They are recorded and read by the owner of %s (%s) or by a member of gdpr_admin.', k.root_table, owner);
  END IF;
END
$fn$;

CREATE FUNCTION gdpr._require_source(source text) RETURNS void
  LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
  sources constant text[] := '{web_form,cookie_banner,api,gpc,email,phone,paper,support_agent,import}';
BEGIN
  PERFORM gdpr._require(source, 'source');
  IF source <> ALL (sources) THEN
    RAISE EXCEPTION 'unknown source of a choice "%"', source
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Say how it was given: ' || array_to_string(sources, ', ') || ' (gpc: a Global Privacy Control signal).';
  END IF;
END
$fn$;

CREATE FUNCTION gdpr._record_choice(kind text, subject_id text, action text, purpose text, source text, reason text)
  RETURNS bigint LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  id bigint;
BEGIN
  INSERT INTO gdpr.choice (kind, subject_id, action, purpose, source, reason, recorded_by)
  VALUES (kind, subject_id, action, purpose, source, reason,
          (SELECT r.rolname FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) gdpr._actor()))
  RETURNING choice_id INTO id;  -- the state follows (choice_recorded)
  PERFORM gdpr._audit(action, kind, gdpr.subject_hash(kind, subject_id), NULL,
                      jsonb_strip_nulls(jsonb_build_object('purpose', purpose, 'source', source, 'choice_id', id)));
  RETURN id;
END
$fn$;

CREATE FUNCTION gdpr._set_consent(kind text, subject_id text, purpose text, granted boolean, source text)
  RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  p gdpr.purpose := gdpr._require_purpose(purpose);
BEGIN
  PERFORM gdpr._require(granted, 'granted');
  PERFORM gdpr._require_source(source);
  IF p.lawful_basis <> 'consent' THEN
    RAISE EXCEPTION 'purpose "%" is based on %, not on consent', purpose, p.lawful_basis
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Consent is recorded for purposes based on consent; to stop processing for legitimate interests, use gdpr_object(); gdpr_restrict() restricts all processing.';
  END IF;
  IF granted AND source = 'gpc' THEN
    RAISE EXCEPTION 'a Global Privacy Control signal withdraws consent, it cannot give it'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Record GPC signals with granted => false.';
  END IF;
  subject_id := gdpr._choice_subject(kind, subject_id);
  RETURN gdpr._record_choice(kind, subject_id, CASE WHEN granted THEN 'consent_granted' ELSE 'consent_withdrawn' END,
                             purpose, source, NULL);
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_set_consent(kind text, subject_id text, purpose text, granted boolean, source text)
  RETURNS bigint LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_set_consent(text, text, text, boolean, text) IS
  'Records a subject''s consent to (or withdrawal from) a purpose based on consent; effective for every reader from its commit';

CREATE FUNCTION gdpr._restrict(kind text, subject_id text, reason text)
  RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM gdpr._require(reason, 'reason');
  IF btrim(reason) = '' THEN
    RAISE EXCEPTION 'a restriction needs a reason'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Art. 18(1): e.g. ''accuracy contested'', ''objection pending''.';
  END IF;
  subject_id := gdpr._choice_subject(kind, subject_id);
  RETURN gdpr._record_choice(kind, subject_id, 'restricted', NULL, 'support_agent', reason);
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_restrict(kind text, subject_id text, reason text)
  RETURNS bigint LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_restrict(text, text, text) IS
  'Restricts processing of a subject (Art. 18): its data is visible to no purpose except storage and legal claims';

CREATE FUNCTION gdpr._lift_restriction(kind text, subject_id text)
  RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  subject_id := gdpr._choice_subject(kind, subject_id);
  IF (SELECT c.action FROM gdpr.choice c
       WHERE c.kind = _lift_restriction.kind AND c.subject_id = _lift_restriction.subject_id AND c.purpose IS NULL
       ORDER BY c.choice_id DESC LIMIT 1) IS DISTINCT FROM 'restricted' THEN
    RAISE EXCEPTION 'processing of this subject of kind "%" is not restricted', kind
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Nothing was changed.';
  END IF;
  RETURN gdpr._record_choice(kind, subject_id, 'restriction_lifted', NULL, 'support_agent', NULL);
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_lift_restriction(kind text, subject_id text)
  RETURNS bigint LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_lift_restriction(text, text) IS
  'Ends a restriction of processing (Art. 18(3)); the subject''s other choices apply again';

CREATE FUNCTION gdpr._object(kind text, subject_id text, purpose text)
  RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  p gdpr.purpose := gdpr._require_purpose(purpose);
BEGIN
  IF p.lawful_basis NOT IN ('legitimate_interests', 'public_task') AND NOT 'direct_marketing' = ANY (p.processing) THEN
    RAISE EXCEPTION 'an objection does not apply to purpose "%", based on %', purpose, p.lawful_basis
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Art. 21 applies to processing for legitimate interests or a public task, and always to direct marketing.',
            HINT = CASE WHEN p.lawful_basis = 'consent' THEN 'Withdraw the consent: gdpr_set_consent(..., false, ...).'
                        ELSE 'To stop all processing while a claim is checked, use gdpr_restrict().' END;
  END IF;
  subject_id := gdpr._choice_subject(kind, subject_id);
  RETURN gdpr._record_choice(kind, subject_id, 'objected', purpose, 'support_agent', NULL);
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_object(kind text, subject_id text, purpose text)
  RETURNS bigint LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_object(text, text, text) IS
  'Records an objection (Art. 21): ends processing for a purpose based on legitimate interests, or for direct marketing';

-- The current choices of a subject, for people: one row per purpose.
-- gdpr_choices: through the entry point (the caller must own the kind's
-- root table or be the DPO), as jsonb, then as rows.
CREATE FUNCTION gdpr._choices_json(kind text, subject_id text) RETURNS jsonb
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  k gdpr.subject_kind := gdpr._require_kind(kind);
  canonical text;
BEGIN
  PERFORM gdpr._require_choice_rights(k);
  canonical := gdpr._stored_subject_id(k, gdpr._canonical_id(k, subject_id));
  IF canonical IS NULL THEN
    RAISE EXCEPTION 'no subject of kind "%" has this id', kind
      USING ERRCODE = 'no_data_found', HINT = 'Check the id: choices are kept for existing subjects only.';
  END IF;
  RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
            'purpose', p.purpose, 'lawful_basis', p.lawful_basis,
            'may_process', CASE WHEN p.lawful_basis = 'consent' THEN coalesce(s.allowed, false) ELSE s.allowed IS NULL END,
            'why', CASE WHEN p.lawful_basis = 'consent' AND s.allowed THEN 'consent given'
                        WHEN p.lawful_basis = 'consent' THEN 'no consent'
                        WHEN s.allowed IS NULL THEN 'lawful basis: ' || p.lawful_basis
                        ELSE 'restricted, objected or erasure pending' END) ORDER BY p.purpose), '[]')
    FROM gdpr.purpose p
    LEFT JOIN gdpr.processing_state s ON s.kind = _choices_json.kind AND s.purpose = p.purpose
                                      AND s.subject_id = canonical);
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_choices_json(kind text, subject_id text) RETURNS jsonb
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_choices_json(text, text) IS
  'What a subject''s choices allow now, per purpose, as jsonb (gdpr_choices as rows)';
CREATE FUNCTION @extschema@.gdpr_choices(kind text, subject_id text)
  RETURNS TABLE (purpose text, lawful_basis text, may_process boolean, why text)
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT r.purpose, r.lawful_basis, r.may_process, r.why
    FROM pg_catalog.jsonb_to_recordset(@extschema@.gdpr_choices_json(kind, subject_id))
         AS r(purpose text, lawful_basis text, may_process boolean, why text)
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_choices(text, text) IS
  'Per purpose, whether a subject may be processed now, and why';

-- Erasure and export of a subject's choices (called from 50_rights.sql).
CREATE FUNCTION gdpr._erase_choices(kind text, subject_id text) RETURNS bigint
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  n bigint;
BEGIN
  DELETE FROM gdpr.processing_state s WHERE s.kind = _erase_choices.kind AND s.subject_id = _erase_choices.subject_id;
  DELETE FROM gdpr.choice c WHERE c.kind = _erase_choices.kind AND c.subject_id = _erase_choices.subject_id;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$fn$;

CREATE FUNCTION gdpr._export_choices(kind text, subject_id text) RETURNS jsonb
  LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
           'action', c.action, 'purpose', c.purpose, 'source', c.source, 'reason', c.reason,
           'recorded_at', c.recorded_at, 'recorded_by', c.recorded_by)) ORDER BY c.choice_id), '[]')
    FROM gdpr.choice c
   WHERE c.kind OPERATOR(pg_catalog.=) _export_choices.kind AND c.subject_id OPERATOR(pg_catalog.=) _export_choices.subject_id
$fn$;

-- An erasure request not yet carried out stops all processing of its
-- subject; a rejected one no longer does.
CREATE FUNCTION gdpr._erasure_request_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF NEW.subject_id IS NOT NULL THEN
    PERFORM gdpr._refresh_state(NEW.kind, NEW.subject_id, NULL);
  END IF;
  RETURN NULL;
END
$fn$;
CREATE INDEX request_erasure_subject ON gdpr.request (kind, subject_id) WHERE request_type = 'erasure';
CREATE TRIGGER erasure_request_changed AFTER INSERT OR UPDATE OF status ON gdpr.request
  FOR EACH ROW WHEN (NEW.request_type = 'erasure') EXECUTE FUNCTION gdpr._erasure_request_changed();

-- Helpers shared by the regression tests (not part of the extension).
CREATE SCHEMA test;

-- Runs a statement and returns "SQLSTATE: message" of the error it raises,
-- or 'no error'. Lets tests check SQLSTATEs without unstable LOCATION lines.
CREATE FUNCTION test.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  state text;
  message text;
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
  RETURN state || ': ' || message;
END
$$;

-- The same, with the detail and hint.
CREATE FUNCTION test.full_error_of(statement text) RETURNS TABLE (state text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
  RETURN NEXT;
END
$$;

GRANT USAGE ON SCHEMA test TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test TO PUBLIC;
SELECT test.error_of('SELECT 1/0');

-- Removes the CRM fixture (test/fixtures/crm.sql) and everything pg_gdpr
-- recorded about its subjects, so the next test file starts clean. The
-- audit log is append-only: tests look at rows added since they started.
CREATE FUNCTION test.reset_crm() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL client_min_messages = warning;
  DROP SCHEMA IF EXISTS crm CASCADE;
  DELETE FROM gdpr.subject_kind;
  DELETE FROM gdpr.subject_link;
  DELETE FROM gdpr.legal_hold;
  DELETE FROM gdpr.subject_key WHERE subject_address IN (SELECT gdpr._subject_key_address(k, i) FROM unnest(ARRAY['user', 'contact']) k, unnest(ARRAY['1', '2', '3', '10', '11', '424242']) i);
  DELETE FROM gdpr.tombstone;
  DELETE FROM gdpr.hold_release;
  DELETE FROM gdpr.request;
END
$$;

-- Removes what the consent tests recorded (choices, state, purposes) and
-- the reader roles their views made, plus the roles named like_pattern
-- (their own), so the next test file starts clean.
CREATE FUNCTION test.reset_consent(like_pattern text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r name;
BEGIN
  SET LOCAL client_min_messages = warning;
  DELETE FROM gdpr.choice;
  DELETE FROM gdpr.processing_state;
  DELETE FROM gdpr.purpose;
  DELETE FROM gdpr.processor;
  DELETE FROM gdpr.category_retention;
  FOR r IN SELECT rolname FROM pg_roles
            WHERE rolname LIKE 'gdpr\_reader\_%' OR rolname LIKE like_pattern LOOP
    EXECUTE format('DROP OWNED BY %I', r);
    EXECUTE format('DROP ROLE %I', r);
  END LOOP;
END
$$;

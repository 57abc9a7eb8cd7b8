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

-- Roles are cluster-wide and may exist already from another database.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'gdpr_app') THEN
    CREATE ROLE gdpr_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'gdpr_admin') THEN
    CREATE ROLE gdpr_admin NOLOGIN;
  END IF;
  IF NOT pg_catalog.pg_has_role('gdpr_admin', 'gdpr_app', 'MEMBER') THEN
    GRANT gdpr_app TO gdpr_admin;
  END IF;
END
$roles$;

CREATE SCHEMA gdpr;
COMMENT ON SCHEMA gdpr IS 'pg_gdpr catalog: keys, data map, requests and audit log';
REVOKE ALL ON SCHEMA gdpr FROM PUBLIC;

-- The install script's grants of public functions: EXECUTE for one role
-- (gdpr_app or gdpr_admin) and nobody else; the signatures are resolved
-- in the extension's schema.
CREATE FUNCTION gdpr._grant_only_to(grantee name, functions text[]) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  f text;
BEGIN
  FOREACH f IN ARRAY functions LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION @extschema@.%s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION @extschema@.%s TO %I', f, grantee);
  END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION gdpr._grant_only_to(name, text[]) FROM PUBLIC;

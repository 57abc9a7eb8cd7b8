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


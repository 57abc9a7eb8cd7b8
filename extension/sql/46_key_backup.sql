-- ---------------------------------------------------------------------------
-- Key backups: the data keys travel apart from the data. gdpr_key_backup()
-- returns every key row (wrapped keys, and shredded rows without any key)
-- with what a restore needs (installation id, the key id sequence), sealed
-- with a key derived from the master key. gdpr_restore_key_backup() checks
-- the seal and the installation, unwraps every key to prove it, and adds
-- the rows the database lacks; a row it has already is kept as it is (a
-- shredded key stays shredded), and a subject with a tombstone gets no main
-- key back. Either every row is restored or nothing is.
-- ---------------------------------------------------------------------------
CREATE FUNCTION gdpr._key_backup_bytes() RETURNS bytea
  LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'gdpr_key_backup_bytes';
CREATE FUNCTION gdpr._restore_key_backup_bytes(backup bytea) RETURNS bigint
  LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'gdpr_restore_key_backup_bytes';

CREATE FUNCTION gdpr._key_backup() RETURNS bytea
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  backup bytea := gdpr._key_backup_bytes();
BEGIN
  PERFORM gdpr._audit('key_backup', NULL, NULL, NULL,
                      jsonb_build_object('bytes', length(backup),
                                         'keys', (SELECT count(*) FROM gdpr.subject_key WHERE wrapped_key IS NOT NULL)));
  RETURN backup;
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_key_backup() RETURNS bytea
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_key_backup() IS
  'A sealed backup of this database''s data keys (wrapped; shredded keys only as markers): keep it apart from data backups, at most 30 days';

CREATE FUNCTION gdpr._restore_key_backup(backup bytea) RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  restored bigint;
BEGIN
  PERFORM gdpr._require(backup, 'key backup');
  restored := gdpr._restore_key_backup_bytes(backup);
  PERFORM gdpr._audit('key_backup_restored', NULL, NULL, NULL, jsonb_build_object('keys_restored', restored));
  RETURN restored;
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_restore_key_backup(backup bytea) RETURNS bigint
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_restore_key_backup(bytea) IS
  'Restores the data keys of a key backup of this database; refuses a tampered or foreign backup without changing anything; returns the keys restored';

REVOKE ALL ON FUNCTION @extschema@.gdpr_key_backup() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gdpr_restore_key_backup(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.gdpr_key_backup() TO gdpr_admin;
GRANT EXECUTE ON FUNCTION @extschema@.gdpr_restore_key_backup(bytea) TO gdpr_admin;

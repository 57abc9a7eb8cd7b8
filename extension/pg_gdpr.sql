-- pg_gdpr install script: the full current version. The build copies it to
-- pg_gdpr--<version>.sql; each release adds an upgrade script beside it.
\echo Use "CREATE EXTENSION pg_gdpr" to load this file. \quit

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

-- ---------------------------------------------------------------------------
-- Data keys: one row per (subject kind, subject id, key class). The key is
-- stored only wrapped by the master key; shredding clears it for good and
-- keeps the row, so later encryption for an erased subject is refused and
-- its ciphertexts read as erased rather than unknown. Key classes let data
-- under a legal hold use a key that outlives the subject's main key.
-- ---------------------------------------------------------------------------
CREATE SEQUENCE gdpr.subject_key_key_id_seq AS bigint;

CREATE TABLE gdpr.subject_key (
  key_id        bigint PRIMARY KEY,
  subject_kind  text NOT NULL CHECK (subject_kind OPERATOR(pg_catalog.<>) ''),
  subject_id    text NOT NULL CHECK (subject_id OPERATOR(pg_catalog.<>) ''),
  key_class     text NOT NULL DEFAULT 'main' CHECK (key_class OPERATOR(pg_catalog.<>) ''),
  kek_version   integer,
  wrapped_key   bytea,
  created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
  shredded_at   timestamptz,
  UNIQUE (subject_kind, subject_id, key_class),
  CHECK ((shredded_at IS NULL) = (wrapped_key IS NOT NULL AND kek_version IS NOT NULL))
);
ALTER SEQUENCE gdpr.subject_key_key_id_seq OWNED BY gdpr.subject_key.key_id;
COMMENT ON TABLE gdpr.subject_key IS
  'Per-subject data keys, wrapped by the master key; wrapped_key is NULL once shredded';
REVOKE ALL ON gdpr.subject_key FROM PUBLIC;
REVOKE ALL ON SEQUENCE gdpr.subject_key_key_id_seq FROM PUBLIC;
-- pg_dump keeps the (wrapped) keys; a backup that must not carry them
-- excludes this table's data.
SELECT pg_catalog.pg_extension_config_dump('gdpr.subject_key', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.subject_key_key_id_seq', '');

CREATE FUNCTION gdpr._subject_key_changed() RETURNS trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'gdpr_subject_key_changed';
REVOKE ALL ON FUNCTION gdpr._subject_key_changed() FROM PUBLIC;

CREATE TRIGGER subject_key_changed
  AFTER UPDATE OR DELETE OR TRUNCATE ON gdpr.subject_key
  FOR EACH STATEMENT EXECUTE FUNCTION gdpr._subject_key_changed();

-- ---------------------------------------------------------------------------
-- Encryption. Not STRICT: a NULL subject or context is an error, only a
-- NULL value passes through as NULL.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.gdpr_encrypt(kind text, subject_id text, plaintext text, context text)
  RETURNS bytea LANGUAGE c VOLATILE PARALLEL UNSAFE
  AS 'MODULE_PATHNAME', 'gdpr_encrypt_text';
COMMENT ON FUNCTION @extschema@.gdpr_encrypt(text, text, text, text) IS
  'Encrypts text with the data key of subject (kind, subject_id), AES-256-GCM, bound to context';

CREATE FUNCTION @extschema@.gdpr_encrypt(kind text, subject_id text, plaintext bytea, context text)
  RETURNS bytea LANGUAGE c VOLATILE PARALLEL UNSAFE
  AS 'MODULE_PATHNAME', 'gdpr_encrypt_bytea';
COMMENT ON FUNCTION @extschema@.gdpr_encrypt(text, text, bytea, text) IS
  'Encrypts bytea with the data key of subject (kind, subject_id), AES-256-GCM, bound to context';

CREATE FUNCTION @extschema@.gdpr_decrypt(ciphertext bytea, context text)
  RETURNS text LANGUAGE c VOLATILE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'gdpr_decrypt_text';
COMMENT ON FUNCTION @extschema@.gdpr_decrypt(bytea, text) IS
  'Decrypts a text value; NULL if its subject was erased (error with pg_gdpr.strict_decrypt)';

CREATE FUNCTION @extschema@.gdpr_decrypt_bytea(ciphertext bytea, context text)
  RETURNS bytea LANGUAGE c VOLATILE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'gdpr_decrypt_bytea';
COMMENT ON FUNCTION @extschema@.gdpr_decrypt_bytea(bytea, text) IS
  'Decrypts a value to bytea; NULL if its subject was erased (error with pg_gdpr.strict_decrypt)';

-- ---------------------------------------------------------------------------
-- Keys
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.gdpr_shred_key(kind text, subject_id text)
  RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $fn$
#variable_conflict use_column
DECLARE
  shredded integer;
BEGIN
  IF $1 IS NULL OR $2 IS NULL THEN
    RAISE EXCEPTION 'subject kind and subject id must not be NULL'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the kind and id of the subject whose keys are to be shredded.';
  END IF;
  IF $1 = '' OR $2 = '' THEN
    RAISE EXCEPTION 'subject kind and subject id must not be empty'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the kind and id of the subject whose keys are to be shredded.';
  END IF;
  -- A shredded main key is kept even if the subject never had one, so that
  -- nothing can be encrypted for the erased subject afterwards.
  INSERT INTO gdpr.subject_key AS k (key_id, subject_kind, subject_id, key_class, shredded_at)
  VALUES (nextval('gdpr.subject_key_key_id_seq'), $1, $2, 'main', now())
  ON CONFLICT (subject_kind, subject_id, key_class) DO NOTHING;

  UPDATE gdpr.subject_key AS k
     SET wrapped_key = NULL, kek_version = NULL, shredded_at = now()
   WHERE k.subject_kind = $1 AND k.subject_id = $2 AND k.shredded_at IS NULL;
  GET DIAGNOSTICS shredded = ROW_COUNT;
  RETURN shredded;
END
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_shred_key(text, text) IS
  'Destroys every data key of a subject: its ciphertexts can never be decrypted again';

CREATE FUNCTION @extschema@.gdpr_rotate_master_key(max_keys bigint DEFAULT NULL)
  RETURNS bigint LANGUAGE c VOLATILE PARALLEL UNSAFE
  AS 'MODULE_PATHNAME', 'gdpr_rotate_master_key';
COMMENT ON FUNCTION @extschema@.gdpr_rotate_master_key(bigint) IS
  'Re-wraps up to max_keys data keys (all if NULL) under the newest master key version';

CREATE FUNCTION gdpr._master_key_versions() RETURNS integer[]
  LANGUAGE c VOLATILE PARALLEL UNSAFE
  AS 'MODULE_PATHNAME', 'gdpr_master_key_versions';
REVOKE ALL ON FUNCTION gdpr._master_key_versions() FROM PUBLIC;

CREATE FUNCTION @extschema@.gdpr_master_key_status()
  RETURNS TABLE (version integer, newest boolean, configured boolean, wrapped_keys bigint)
  LANGUAGE sql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $fn$
  WITH configured AS (
    SELECT v FROM unnest(gdpr._master_key_versions()) AS v
  ), used AS (
    SELECT kek_version AS v, count(*) AS n
      FROM gdpr.subject_key WHERE wrapped_key IS NOT NULL GROUP BY kek_version
  )
  SELECT coalesce(c.v, u.v),
         coalesce(c.v, u.v) = (SELECT max(v) FROM configured),
         c.v IS NOT NULL,
         coalesce(u.n, 0)
    FROM configured c FULL JOIN used u ON c.v = u.v
   ORDER BY 1
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_master_key_status() IS
  'Master key versions: which are configured, which is newest, how many data keys each wraps';

-- ---------------------------------------------------------------------------
-- Self-test of the C++/PostgreSQL error boundary (superusers only).
-- ---------------------------------------------------------------------------
CREATE FUNCTION gdpr._boundary_selftest(mode text) RETURNS bigint
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_boundary_selftest';
REVOKE ALL ON FUNCTION gdpr._boundary_selftest(text) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; gdpr_app encrypts and decrypts;
-- gdpr_admin (a member of gdpr_app) also shreds and manages master keys.
-- ---------------------------------------------------------------------------
REVOKE ALL ON FUNCTION @extschema@.gdpr_encrypt(text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gdpr_encrypt(text, text, bytea, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gdpr_decrypt(bytea, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gdpr_decrypt_bytea(bytea, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gdpr_shred_key(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gdpr_rotate_master_key(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.gdpr_master_key_status() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION @extschema@.gdpr_encrypt(text, text, text, text) TO gdpr_app;
GRANT EXECUTE ON FUNCTION @extschema@.gdpr_encrypt(text, text, bytea, text) TO gdpr_app;
GRANT EXECUTE ON FUNCTION @extschema@.gdpr_decrypt(bytea, text) TO gdpr_app;
GRANT EXECUTE ON FUNCTION @extschema@.gdpr_decrypt_bytea(bytea, text) TO gdpr_app;
GRANT EXECUTE ON FUNCTION @extschema@.gdpr_shred_key(text, text) TO gdpr_admin;
GRANT EXECUTE ON FUNCTION @extschema@.gdpr_rotate_master_key(bigint) TO gdpr_admin;
GRANT EXECUTE ON FUNCTION @extschema@.gdpr_master_key_status() TO gdpr_admin;

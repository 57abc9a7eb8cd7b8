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
-- Keys
-- ---------------------------------------------------------------------------
CREATE FUNCTION gdpr._shred_key(kind text, subject_id text)
  RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $fn$
DECLARE
  shredded integer;
BEGIN
  IF kind IS NULL OR subject_id IS NULL THEN
    RAISE EXCEPTION 'subject kind and subject id must not be NULL'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the kind and id of the subject whose keys are to be shredded.';
  END IF;
  IF kind = '' OR subject_id = '' THEN
    RAISE EXCEPTION 'subject kind and subject id must not be empty'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the kind and id of the subject whose keys are to be shredded.';
  END IF;
  -- A shredded main key is kept even if the subject never had one, so that
  -- nothing can be encrypted for the erased subject afterwards, in any
  -- spelling of its id.
  subject_id := gdpr._canonical_subject_id(kind, subject_id);
  shredded := gdpr._shred_keys(kind, subject_id, false);
  PERFORM gdpr._audit('shred_keys', kind, gdpr.subject_hash(kind, subject_id), NULL,
                      jsonb_build_object('keys_shredded', shredded));
  RETURN shredded;
END
$fn$;

CREATE FUNCTION @extschema@.gdpr_shred_key(kind text, subject_id text)
  RETURNS integer LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_shred_key(text, text) IS
  'Destroys every data key of a subject: its ciphertexts can never be decrypted again';

CREATE FUNCTION gdpr._rewrap_data_keys(max_keys bigint)
  RETURNS bigint LANGUAGE c VOLATILE PARALLEL UNSAFE
  AS 'MODULE_PATHNAME', 'gdpr_rotate_master_key';

CREATE FUNCTION gdpr._rotate_master_key(max_keys bigint)
  RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  rewrapped bigint := gdpr._rewrap_data_keys(max_keys);
BEGIN
  PERFORM gdpr._audit('rotate_master_key', NULL, NULL, NULL,
                      jsonb_build_object('rewrapped', rewrapped,
                                         'newest_version', (SELECT max(v) FROM unnest(gdpr._master_key_versions()) v)));
  RETURN rewrapped;
END
$fn$;

CREATE FUNCTION @extschema@.gdpr_rotate_master_key(max_keys bigint DEFAULT NULL)
  RETURNS bigint LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
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


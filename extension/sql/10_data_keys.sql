-- ---------------------------------------------------------------------------
-- Data keys: one row per (subject, key class), addressed by a keyed hash of
-- the subject's kind and canonical id, never by the id itself. The key is
-- stored only wrapped by the master key, bound to its key id, key class,
-- address and installation; shredding clears it for good and keeps the row,
-- so later encryption for an erased subject is refused and its ciphertexts
-- read as erased rather than unknown. Key classes let data under a legal
-- hold use a key that outlives the subject's main key.
--
-- Keys are kept apart from data: gdpr.subject_key is not dumped by pg_dump
-- (it is not an extension configuration table); gdpr_key_backup() writes
-- the keys on their own and gdpr_restore_key_backup() reads them back.
-- ---------------------------------------------------------------------------

-- The installation: a random id, and a random root secret stored only
-- wrapped by the master key (bound to the installation id), from which the
-- hash keys are derived with HKDF (installation_keys.cpp): the key table's
-- addresses, the subject hashes of tombstones, requests and the audit log,
-- and the seal of key backups. Made on first use, not by CREATE EXTENSION,
-- so that a restore brings back the original; dumped with the database, so
-- a restored dump still matches its tombstones, yet without the master key
-- nothing in it reverses one. Rotation re-wraps the root like a data key.
CREATE TABLE gdpr.installation (
  singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  installation_id  bytea NOT NULL CHECK (pg_catalog.length(installation_id) OPERATOR(pg_catalog.=) 16),
  root_kek_version integer NOT NULL,
  wrapped_root     bytea NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE gdpr.installation IS
  'This database''s installation id and its hash root secret, wrapped by the master key';
REVOKE ALL ON gdpr.installation FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('gdpr.installation', '');

CREATE SEQUENCE gdpr.subject_key_key_id_seq AS bigint;

CREATE TABLE gdpr.subject_key (
  key_id          bigint PRIMARY KEY,
  subject_address bytea NOT NULL CHECK (pg_catalog.length(subject_address) OPERATOR(pg_catalog.=) 32),
  key_class       text NOT NULL DEFAULT 'main' CHECK (key_class OPERATOR(pg_catalog.<>) ''),
  kek_version     integer,
  wrapped_key     bytea,
  created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
  shredded_at     timestamptz,
  CHECK ((shredded_at IS NULL) = (wrapped_key IS NOT NULL AND kek_version IS NOT NULL))
);
-- Not unique: a first use of a subject's key never waits for another
-- transaction's first use (two open transactions each create one; both
-- keys are the subject's, and encryption takes the oldest), and a shredded
-- row among them means the subject is erased.
CREATE INDEX subject_key_address ON gdpr.subject_key (subject_address, key_class);

-- A key created by a transaction that an erase or shred of the same
-- subject overtook must not commit: just before commit, under the
-- subject's key lock (which shredding takes too), a shredded row of the
-- same subject and class committed meanwhile makes the creating
-- transaction fail (40001; KeyStore::check_new_keys).
-- The locks that order shredding a subject's keys against a transaction
-- committing a new key of the subject. Shredding takes two: the subject's
-- own and one of 64 stripes. A creator of a few keys takes each subject's
-- own lock; a creator of many (a bulk load of 100,000 new subjects) takes
-- the stripes instead, since one lock per subject would exhaust the
-- server's lock table. Both kinds are taken in one sorted order.
CREATE FUNCTION gdpr._lock_key_address(address bytea) RETURNS void
  LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT pg_advisory_xact_lock(hashtext('pg_gdpr.key'), h),
         pg_advisory_xact_lock(hashtext('pg_gdpr.key_stripe'), h OPERATOR(pg_catalog.&) 63)
    FROM (SELECT hashtext(encode(address, 'hex')) AS h) x
$fn$;
CREATE FUNCTION gdpr._lock_new_key_addresses(addresses_hex text[]) RETURNS void
  LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT NULL::void FROM (
    SELECT count(pg_advisory_xact_lock(l.space, l.lock_id)) FROM (
      SELECT DISTINCT
             CASE WHEN many THEN hashtext('pg_gdpr.key_stripe') ELSE hashtext('pg_gdpr.key') END AS space,
             CASE WHEN many THEN hashtext(a) OPERATOR(pg_catalog.&) 63 ELSE hashtext(a) END AS lock_id
        FROM unnest(addresses_hex) a,
             (SELECT cardinality(addresses_hex) OPERATOR(pg_catalog.>) 64 AS many) m
       ORDER BY 1, 2) l) locked
$fn$;
ALTER SEQUENCE gdpr.subject_key_key_id_seq OWNED BY gdpr.subject_key.key_id;
COMMENT ON TABLE gdpr.subject_key IS
  'Per-subject data keys by keyed address, wrapped by the master key; wrapped_key is NULL once shredded; not in pg_dump';
REVOKE ALL ON gdpr.subject_key FROM PUBLIC;
REVOKE ALL ON SEQUENCE gdpr.subject_key_key_id_seq FROM PUBLIC;
-- The sequence is dumped (it holds no key): a restored database never hands
-- out a key id that its old ciphertexts or a key backup already use.
SELECT pg_catalog.pg_extension_config_dump('gdpr.subject_key_key_id_seq', '');

-- The keyed hashes, from the C++ key store. subject_hash: tombstones,
-- requests, holds and the audit log (the caller passes the canonical id).
-- _subject_key_address: the key table's address of a subject (the id is
-- made canonical first, as gdpr_encrypt does).
CREATE FUNCTION gdpr.subject_hash(kind text, subject_id text) RETURNS bytea
  LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'gdpr_subject_hash';
CREATE FUNCTION gdpr._subject_key_address(kind text, subject_id text) RETURNS bytea
  LANGUAGE c STABLE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'gdpr_subject_key_address';
REVOKE ALL ON FUNCTION gdpr.subject_hash(text, text), gdpr._subject_key_address(text, text) FROM PUBLIC;

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

-- One database: the master key file serves the whole cluster, so a
-- version may leave it only when no database still needs it (see the
-- README: pg_gdpr_sidecar status visits every database).
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
    UNION ALL  -- the installation's root secret counts as one wrapped key
    SELECT root_kek_version, 1 FROM gdpr.installation
  ), per_version AS (
    SELECT v, sum(n)::bigint AS n FROM used GROUP BY v
  )
  SELECT coalesce(c.v, u.v),
         coalesce(c.v, u.v) = (SELECT max(v) FROM configured),
         c.v IS NOT NULL,
         coalesce(u.n, 0)
    FROM configured c FULL JOIN per_version u ON c.v = u.v
   ORDER BY 1
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_master_key_status() IS
  'Master key versions in this database only: configured, newest, keys each wraps (data keys and the installation root); a version with wrapped_keys > 0 in any database must stay in the key file: pg_gdpr_sidecar status checks every database';

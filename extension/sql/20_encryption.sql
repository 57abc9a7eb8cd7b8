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

-- Parallel safe: workers read keys with the query's snapshot, so large
-- decrypting scans run in parallel.
CREATE FUNCTION @extschema@.gdpr_decrypt(ciphertext bytea, context text)
  RETURNS text LANGUAGE c VOLATILE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'gdpr_decrypt_text';
COMMENT ON FUNCTION @extschema@.gdpr_decrypt(bytea, text) IS
  'Decrypts a text value; NULL if its subject was erased (error with pg_gdpr.strict_decrypt)';

CREATE FUNCTION @extschema@.gdpr_decrypt_bytea(ciphertext bytea, context text)
  RETURNS bytea LANGUAGE c VOLATILE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'gdpr_decrypt_bytea';
COMMENT ON FUNCTION @extschema@.gdpr_decrypt_bytea(bytea, text) IS
  'Decrypts a value to bytea; NULL if its subject was erased (error with pg_gdpr.strict_decrypt)';


CREATE FUNCTION gdpr._rekey(ciphertext bytea, context text, kind text, subject_id text, key_class text)
  RETURNS bytea LANGUAGE c VOLATILE PARALLEL UNSAFE
  AS 'MODULE_PATHNAME', 'gdpr_rekey';

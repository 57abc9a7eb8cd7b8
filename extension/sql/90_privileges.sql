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

-- Least privilege: roles, grants, SECURITY DEFINER hygiene.
CREATE ROLE stranger LOGIN;
CREATE ROLE app_user LOGIN IN ROLE gdpr_app;
CREATE ROLE privacy_officer LOGIN IN ROLE gdpr_admin;
CREATE TABLE priv_sample AS SELECT gdpr_encrypt('user', 'priv', 'secret', 'c') AS ct;
GRANT SELECT ON priv_sample TO PUBLIC;

-- section: a role without grants can do nothing with keys or ciphertexts
SET ROLE stranger;
SELECT test.error_of('SELECT * FROM gdpr.subject_key');
SELECT test.error_of($$SELECT gdpr_decrypt(ct, 'c') FROM priv_sample$$);
SELECT test.error_of($$SELECT gdpr_encrypt('user', 'x', 'y', 'c')$$);
SELECT test.error_of($$SELECT gdpr_shred_key('user', 'priv')$$);
SELECT test.error_of($$SELECT gdpr_rotate_master_key()$$);
SELECT test.error_of($$SELECT * FROM gdpr_master_key_status()$$);
SELECT test.error_of($$SELECT gdpr._boundary_selftest('cpp')$$);
SELECT test.error_of($$SELECT gdpr_erase('user', 'priv', 'x')$$);
SELECT test.error_of($$SELECT gdpr._erase('user', 'priv', 'x', 'someone_else', NULL)$$);
SELECT test.error_of($$SELECT gdpr_export('user', 'priv')$$);
SELECT test.error_of($$SELECT * FROM gdpr_data_map('user')$$);
SELECT test.error_of($$SELECT gdpr_register_subject('user', 'priv_sample', 'ct')$$);
SELECT test.error_of($$SELECT gdpr_request('user', 'priv', 'erasure', 'web')$$);
SELECT test.error_of($$SELECT * FROM gdpr.audit_log$$);
SELECT test.error_of($$SELECT * FROM gdpr.request$$);
RESET ROLE;

-- section: gdpr_app encrypts and decrypts without seeing the key table
SET ROLE app_user;
SELECT gdpr_decrypt(ct, 'c') AS decrypted FROM priv_sample;
SELECT gdpr_decrypt(gdpr_encrypt('user', 'priv-new', 'fresh', 'c'), 'c') AS new_subject;
SELECT test.error_of('SELECT * FROM gdpr.subject_key');
SELECT test.error_of($$SELECT gdpr_shred_key('user', 'priv')$$);
SELECT test.error_of($$SELECT gdpr_rotate_master_key()$$);
SELECT test.error_of($$SELECT gdpr_erase('user', 'priv', 'x')$$);
SELECT test.error_of($$SELECT gdpr_export('user', 'priv')$$);
-- the caller's search_path cannot redirect the key queries
CREATE TEMP TABLE subject_key (key_id bigint);
SET search_path = pg_temp, public;
SELECT gdpr_decrypt(gdpr_encrypt('user', 'priv-path', 'still safe', 'c'), 'c') AS with_hostile_path;
RESET search_path;
RESET ROLE;

-- section: gdpr_admin shreds
SET ROLE privacy_officer;
SELECT gdpr_shred_key('user', 'priv') AS keys_shredded;
SELECT gdpr_decrypt(ct, 'c') IS NULL AS erased FROM priv_sample;
SELECT count(*) > 0 AS sees_status FROM gdpr_master_key_status();
-- and reads the evidence, naming itself as the actor
SELECT action, acting_role FROM gdpr.audit_log WHERE action = 'shred_keys' ORDER BY audit_id DESC LIMIT 1;
SELECT test.error_of($$SELECT * FROM gdpr.subject_key$$);
SELECT test.error_of($$SELECT * FROM gdpr.installation$$);
RESET ROLE;

-- section: nothing of the extension is executable by PUBLIC
SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_gdpr'
 WHERE p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0)
 ORDER BY 1;

-- section: who may execute what
SELECT p.oid::regprocedure AS function,
       string_agg(a.grantee::regrole::text, ', ' ORDER BY a.grantee::regrole::text) AS granted_to
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_gdpr'
  CROSS JOIN LATERAL aclexplode(p.proacl) a
 WHERE a.grantee <> p.proowner
 GROUP BY p.oid ORDER BY p.oid::regprocedure::text;

-- section: every SECURITY DEFINER function pins its search_path
SELECT p.oid::regprocedure AS security_definer, p.proconfig
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_gdpr'
 WHERE p.prosecdef ORDER BY p.oid::regprocedure::text;

-- section: no privileges on the catalog for anyone but the owner
SELECT c.relname, c.relacl FROM pg_class c
 WHERE c.relnamespace = 'gdpr'::regnamespace AND c.relkind IN ('r', 'S') ORDER BY 1;

DROP TABLE priv_sample, pg_temp.subject_key;
DROP ROLE stranger, app_user, privacy_officer;

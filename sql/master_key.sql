-- The master key: missing, wrong, unsafe, from a command, and rotation.
\getenv keydir PG_GDPR_TEST_KEYDIR
\set v1 :keydir '/master_v1.keys'
\set v12 :keydir '/master_v12.keys'
\set v2 :keydir '/master_v2.keys'
\set wrong :keydir '/master_wrong.keys'
\set readable :keydir '/master_readable.keys'
\set missing :keydir '/no_such.keys'
\set command 'cat ' :keydir '/master_v12.keys'

CREATE TABLE vault AS
SELECT i, gdpr_encrypt('user', 'rot-' || i, 'value ' || i, 'rot') AS ct
  FROM generate_series(1, 25) AS i;
SELECT version, newest, configured, wrapped_keys >= 25 AS wraps_the_keys
  FROM gdpr_master_key_status();

-- section: no master key configured: the server runs, key functions explain
ALTER SYSTEM SET pg_gdpr.master_key_file = '';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\c
\x on
SELECT * FROM test.full_error_of($$SELECT gdpr_encrypt('user', 'no-key', 'x', 'c')$$);
\x off
SELECT test.error_of($$SELECT gdpr_decrypt(ct, 'rot') FROM vault WHERE i = 1$$);
SELECT 1 AS server_still_fine;

-- section: a different key under the same version number
ALTER SYSTEM SET pg_gdpr.master_key_file = :'wrong';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\c
\x on
SELECT state, regexp_replace(message, 'key \d+', 'key N') AS message, detail, hint
  FROM test.full_error_of($$SELECT gdpr_decrypt(ct, 'rot') FROM vault WHERE i = 1$$);
\x off

-- section: a key file others can read, and one that does not exist
ALTER SYSTEM SET pg_gdpr.master_key_file = :'readable';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\c
SELECT regexp_replace(test.error_of($$SELECT gdpr_decrypt(ct, 'rot') FROM vault WHERE i = 1$$),
                      '"[^"]*"', '"..."') AS readable_file;
ALTER SYSTEM SET pg_gdpr.master_key_file = :'missing';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\c
SELECT regexp_replace(test.error_of($$SELECT gdpr_decrypt(ct, 'rot') FROM vault WHERE i = 1$$),
                      '"[^"]*"', '"..."') AS missing_file;

-- section: both a file and a command set
ALTER SYSTEM SET pg_gdpr.master_key_file = :'v1';
ALTER SYSTEM SET pg_gdpr.master_key_command = :'command';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\c
SELECT test.error_of($$SELECT gdpr_decrypt(ct, 'rot') FROM vault WHERE i = 1$$);

-- section: keys from a command; version 2 is added and becomes the newest
ALTER SYSTEM RESET pg_gdpr.master_key_file;
ALTER SYSTEM SET pg_gdpr.master_key_file = '';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\c
SELECT gdpr_decrypt(ct, 'rot') AS via_command FROM vault WHERE i = 1;
SELECT version, newest, configured, wrapped_keys > 0 AS has_keys FROM gdpr_master_key_status();

-- section: rotation re-wraps in batches; data stays readable throughout
SELECT gdpr_rotate_master_key(10) AS first_batch;
SELECT count(*) FILTER (WHERE gdpr_decrypt(ct, 'rot') = 'value ' || i) AS readable_mid_rotation
  FROM vault;
SELECT gdpr_rotate_master_key() > 0 AS rest_rewrapped;
SELECT gdpr_rotate_master_key() AS nothing_left;
SELECT version, newest, configured, wrapped_keys > 0 AS has_keys FROM gdpr_master_key_status();
SELECT test.error_of($$SELECT gdpr_rotate_master_key(-1)$$);

-- section: after rotation, version 1 can go: a fresh session reads every value with version 2 alone
ALTER SYSTEM SET pg_gdpr.master_key_command = '';
ALTER SYSTEM SET pg_gdpr.master_key_file = :'v2';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\c
SELECT count(*) FILTER (WHERE gdpr_decrypt(ct, 'rot') = 'value ' || i) AS readable_with_v2_only
  FROM vault;
SELECT gdpr_decrypt(gdpr_encrypt('user', 'after-rotation', 'new', 'c'), 'c') AS new_key_under_v2;

-- Later tests run with both versions available.
ALTER SYSTEM SET pg_gdpr.master_key_file = :'v12';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\c
DROP TABLE vault;

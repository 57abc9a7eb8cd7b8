-- Data for the encryption benchmark: 1,000,000 short strings (~44 bytes)
-- belonging to 10,000 subjects, plus the same data encrypted by pg_gdpr and
-- by pgcrypto so that decryption can be measured on stored ciphertexts.
CREATE EXTENSION IF NOT EXISTS pg_gdpr;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA bench;

CREATE FUNCTION bench.time_ms(statement text) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
  started timestamptz := clock_timestamp();
BEGIN
  EXECUTE statement;
  RETURN extract(epoch FROM clock_timestamp() - started) * 1000;
END
$$;

CREATE TABLE bench.plain AS
SELECT i, (i % 10000)::text AS subject, md5(i::text) || '@example.com' AS email
  FROM generate_series(1, 1000000) AS i;
CREATE TABLE bench.ours AS
SELECT i, gdpr_encrypt('user', subject, email, 'bench.email') AS ct FROM bench.plain;
CREATE TABLE bench.pgcrypto AS
SELECT i, encrypt(convert_to(email, 'UTF8'), '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea, 'aes') AS ct
  FROM bench.plain;
VACUUM ANALYZE bench.plain;
VACUUM ANALYZE bench.ours;
VACUUM ANALYZE bench.pgcrypto;

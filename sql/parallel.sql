-- Decryption in parallel plans: workers read keys with the query's
-- snapshot (a parallel query may not take a new one).
CREATE TABLE par (i int, c bytea, d bytea);
INSERT INTO par SELECT i, gdpr_encrypt('user', 'par-' || (i % 50), 'value ' || i, 'par.c'),
                          gdpr_encrypt('user', 'par-' || (i % 50), convert_to('bytes ' || i, 'UTF8'), 'par.d')
  FROM generate_series(1, 5000) i;
ANALYZE par;
SELECT gdpr_shred_key('user', 'par-7');
-- a new session: no key is cached yet
\c
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(gdpr_decrypt(c, 'par.c')) FROM par;
SELECT count(gdpr_decrypt(c, 'par.c')) AS readable, count(*) FILTER (WHERE gdpr_decrypt(c, 'par.c') IS NULL) AS erased,
       count(gdpr_decrypt_bytea(d, 'par.d')) AS readable_bytes
  FROM par;
SELECT sum(length(gdpr_decrypt(c, 'par.c'))) AS total_length FROM par;
-- a tampered ciphertext is still an error in a worker
UPDATE par SET c = set_byte(c, 30, get_byte(c, 30) # 1) WHERE i = 4242;
SELECT test.error_of($$SELECT count(gdpr_decrypt(c, 'par.c')) FROM par$$);
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE par;
DELETE FROM gdpr.subject_key WHERE subject_address IN (SELECT gdpr._subject_key_address('user', 'par-' || i) FROM generate_series(0, 49) i);

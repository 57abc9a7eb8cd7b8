-- gdpr_encrypt / gdpr_decrypt reject bad input with clear errors.
CREATE TABLE sample AS
SELECT gdpr_encrypt('user', 'bad-input', 'alice@example.com', 'crm.users.email') AS ct;

-- section: NULL and empty arguments
SELECT test.error_of($$SELECT gdpr_encrypt(NULL, '1', 'x', 'c')$$);
SELECT test.error_of($$SELECT gdpr_encrypt('user', NULL, 'x', 'c')$$);
SELECT test.error_of($$SELECT gdpr_encrypt('user', '1', 'x', NULL)$$);
SELECT test.error_of($$SELECT gdpr_encrypt('', '1', 'x', 'c')$$);
SELECT test.error_of($$SELECT gdpr_encrypt('user', '', 'x', 'c')$$);
SELECT test.error_of($$SELECT gdpr_decrypt(ct, NULL) FROM sample$$);
SELECT * FROM test.full_error_of($$SELECT gdpr_encrypt('user', '1', 'x', '')$$);
SELECT test.error_of($$SELECT gdpr_encrypt('user', '1', '\x00'::bytea, '')$$);
SELECT test.error_of($$SELECT gdpr_decrypt(ct, '') FROM sample$$);

-- section: wrong context
SELECT * FROM test.full_error_of($$SELECT gdpr_decrypt(ct, 'crm.users.phone') FROM sample$$);

-- section: a flipped bit anywhere is an error, never garbage (every bit of every byte)
SELECT count(*) AS bit_flips,
       count(*) FILTER (WHERE test.error_of(format('SELECT gdpr_decrypt(%L::bytea, %L)',
                                     set_byte(ct, byte, get_byte(ct, byte) # (1 << bit)),
                                     'crm.users.email')) <> 'no error') AS rejected
  FROM sample, generate_series(0, length(ct) - 1) AS byte, generate_series(0, 7) AS bit;
-- the kinds of errors they raise
SELECT test.error_of(format('SELECT gdpr_decrypt(%L::bytea, %L)',
                            set_byte(ct, byte, get_byte(ct, byte) # 1), 'crm.users.email')) AS error,
       count(*) AS bytes
  FROM sample, generate_series(0, length(ct) - 1) AS byte
 GROUP BY 1 ORDER BY 2, 1;

-- section: truncation at every length is an error
SELECT test.error_of(format('SELECT gdpr_decrypt(%L::bytea, %L)', substring(ct from 1 for n),
                            'crm.users.email')) AS error,
       count(*) AS lengths
  FROM sample, generate_series(0, length(ct) - 1) AS n
 GROUP BY 1 ORDER BY 1;

-- section: unknown version, payload type, key id
SELECT test.error_of(format('SELECT gdpr_decrypt(%L::bytea, %L)', set_byte(ct, 0, 2), 'c')) FROM sample;
SELECT test.error_of(format('SELECT gdpr_decrypt(%L::bytea, %L)', set_byte(ct, 1, 7), 'c')) FROM sample;
SELECT * FROM test.full_error_of($$SELECT gdpr_decrypt('\x01010000000000ffffff'::bytea || '\x00000000000000000000000000000000000000000000000000000000'::bytea, 'c')$$);

-- section: a bytea ciphertext is not read as text; invalid text is refused
SELECT * FROM test.full_error_of($$SELECT gdpr_decrypt(gdpr_encrypt('user', '1', '\xff'::bytea, 'c'), 'c')$$);
-- text that is not valid UTF-8 cannot be produced by gdpr_encrypt(text), so
-- it is checked on the way out: flip the type byte of a bytea ciphertext
-- and the tag check catches it first
SELECT test.error_of($$SELECT gdpr_decrypt(set_byte(gdpr_encrypt('user', '1', '\xff'::bytea, 'c'), 1, 1), 'c')$$);

-- section: nothing was changed by the failed calls
SELECT gdpr_decrypt(ct, 'crm.users.email') AS still_decrypts FROM sample;
DROP TABLE sample;

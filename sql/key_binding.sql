-- A wrapped key is bound to its row: swapping or copying key rows, or
-- moving a key to another key class, makes it refuse to unwrap, with an
-- error that says so, instead of handing one subject's key to another.
CREATE TABLE bound AS
SELECT s AS who, gdpr_encrypt('user', s, 'value of ' || s, 'bound.v') AS ct
  FROM unnest(ARRAY['bind-a', 'bind-b', 'bind-c']) s;
SELECT who, gdpr_decrypt(ct, 'bound.v') AS before FROM bound ORDER BY who;
CREATE TABLE bound_keys AS
SELECT s AS who, k.* FROM unnest(ARRAY['bind-a', 'bind-b', 'bind-c']) s
  JOIN gdpr.subject_key k ON k.subject_address = gdpr._subject_key_address('user', s);

-- section: swap the addresses of two key rows: neither unwraps
BEGIN;
-- in three steps: one live key per address at any moment
UPDATE gdpr.subject_key k SET subject_address = '\x00'::bytea || substr(k.subject_address, 2)
  FROM bound_keys a WHERE a.who = 'bind-a' AND k.key_id = a.key_id;
UPDATE gdpr.subject_key k SET subject_address = a.subject_address
  FROM bound_keys a, bound_keys b WHERE a.who = 'bind-a' AND b.who = 'bind-b' AND k.key_id = b.key_id;
UPDATE gdpr.subject_key k SET subject_address = b.subject_address
  FROM bound_keys a, bound_keys b WHERE a.who = 'bind-a' AND b.who = 'bind-b' AND k.key_id = a.key_id;
SELECT state, regexp_replace(message, 'key \d+', 'key N') AS message, detail
  FROM test.full_error_of($$SELECT gdpr_decrypt(ct, 'bound.v') FROM bound WHERE who = 'bind-a'$$);
-- encrypting for a (swapped) subject refuses too, rather than using the other's key
SELECT state, regexp_replace(message, 'key \d+', 'key N') AS message
  FROM test.full_error_of($$SELECT gdpr_encrypt('user', 'bind-b', 'x', 'bound.v')$$);
ROLLBACK;

-- section: copy one subject's wrapped key onto another's row: it does not unwrap there
BEGIN;
UPDATE gdpr.subject_key k SET wrapped_key = a.wrapped_key, kek_version = a.kek_version
  FROM bound_keys a, bound_keys c WHERE a.who = 'bind-a' AND c.who = 'bind-c' AND k.key_id = c.key_id;
SELECT state, regexp_replace(message, 'key \d+', 'key N') AS message
  FROM test.full_error_of($$SELECT gdpr_decrypt(ct, 'bound.v') FROM bound WHERE who = 'bind-c'$$);
ROLLBACK;

-- section: a copied row under another key class, or a key moved to another class, does not unwrap
BEGIN;
UPDATE gdpr.subject_key k SET key_class = 'hold' FROM bound_keys a WHERE a.who = 'bind-a' AND k.key_id = a.key_id;
SELECT state, regexp_replace(message, 'key \d+', 'key N') AS message
  FROM test.full_error_of($$SELECT gdpr_decrypt(ct, 'bound.v') FROM bound WHERE who = 'bind-a'$$);
ROLLBACK;

-- section: after the rollbacks every value reads as before
SELECT who, gdpr_decrypt(ct, 'bound.v') AS after FROM bound ORDER BY who;

-- section: the address is a keyed hash: not a plain hash of kind and id
SELECT count(*) AS plain_hash_matches FROM bound_keys
 WHERE subject_address IN (sha256(convert_to('user', 'UTF8') || '\x00'::bytea || convert_to(who, 'UTF8')),
                           sha256(convert_to(who, 'UTF8')));
-- the tombstone hash and the key address of a subject differ (distinct keys)
SELECT gdpr.subject_hash('user', 'bind-a') <> gdpr._subject_key_address('user', 'bind-a') AS distinct_keys;

DELETE FROM gdpr.subject_key WHERE key_id IN (SELECT key_id FROM bound_keys);
DROP TABLE bound, bound_keys;

-- ---------------------------------------------------------------------------
-- A tombstone also names the erased subject's address in the key table (a
-- keyed hash under its own key, not the subject hash). Replaying erasures
-- after a restore is then enough to destroy the subject's main key again,
-- even if the key backup that was restored still held it, and a key backup
-- never brings back the main key of a subject with a tombstone.
-- ---------------------------------------------------------------------------
ALTER TABLE gdpr.tombstone ADD COLUMN key_address bytea;
CREATE INDEX tombstone_key_address ON gdpr.tombstone (key_address);

CREATE FUNCTION gdpr._tombstone_shreds_key() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF NEW.key_address IS NOT NULL THEN
    PERFORM gdpr._lock_key_address(NEW.key_address);
    INSERT INTO gdpr.subject_key AS k (key_id, subject_address, key_class, shredded_at)
    SELECT nextval('gdpr.subject_key_key_id_seq'), NEW.key_address, 'main', now()
     WHERE NOT EXISTS (SELECT 1 FROM gdpr.subject_key o
                        WHERE o.subject_address = NEW.key_address AND o.key_class = 'main');
    UPDATE gdpr.subject_key k SET wrapped_key = NULL, kek_version = NULL, shredded_at = now()
     WHERE k.subject_address = NEW.key_address AND k.key_class = 'main' AND k.shredded_at IS NULL;
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER tombstone_shreds_key AFTER INSERT ON gdpr.tombstone
  FOR EACH ROW EXECUTE FUNCTION gdpr._tombstone_shreds_key();

-- ---------------------------------------------------------------------------
-- The rights of the data subject: erasure (Art. 17), access and portability
-- (Art. 15/20), rectification (Art. 16), and the request ledger. Each public
-- function is the C entry point gdpr_rights_entry, which records the
-- calling role and runs the SECURITY DEFINER body of the same name in
-- schema gdpr (granted to nobody). The bodies run every statement on a
-- user's table as that table's owner (gdpr._owner_exec / _owner_query) and
-- write pg_gdpr's own catalog as the extension's owner.
-- ---------------------------------------------------------------------------

-- Destroys a subject's data keys, except the legal-hold key class when asked.
CREATE FUNCTION gdpr._shred_keys(kind text, subject_id text, keep_hold_keys boolean)
  RETURNS integer LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
  shredded integer;
  address bytea := gdpr._subject_key_address($1, $2);
BEGIN
  PERFORM gdpr._lock_key_address(address);
  INSERT INTO gdpr.subject_key AS k (key_id, subject_address, key_class, shredded_at)
  SELECT nextval('gdpr.subject_key_key_id_seq'), address, 'main', now()
   WHERE NOT EXISTS (SELECT 1 FROM gdpr.subject_key o WHERE o.subject_address = address AND o.key_class = 'main');
  UPDATE gdpr.subject_key AS k
     SET wrapped_key = NULL, kek_version = NULL, shredded_at = now()
   WHERE k.subject_address = address AND k.shredded_at IS NULL
     AND NOT ($3 AND k.key_class = 'hold');
  GET DIAGNOSTICS shredded = ROW_COUNT;
  RETURN shredded;
END
$fn$;

CREATE FUNCTION gdpr._require_subject_id(subject_id text) RETURNS void
  LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  PERFORM gdpr._require(subject_id, 'subject id');
  IF subject_id = '' THEN
    RAISE EXCEPTION 'subject id must not be empty'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the id of the data subject.';
  END IF;
END
$fn$;

-- The canonical text of a subject id: the id read as the root id column's
-- type and written back ('050' is user 50, an upper-case uuid its
-- lower-case form), so that erase, export, rectify and requests all name
-- the same subject and the same keys. Read by the root table's owner: the
-- type may be a domain with the owner's checks.
CREATE FUNCTION gdpr._canonical_id(k gdpr.subject_kind, subject_id text) RETURNS text
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  type_name text := (gdpr._column_types(k.root_table, ARRAY[k.id_column]))[1];
BEGIN
  PERFORM gdpr._require_subject_id(subject_id);
  BEGIN
    RETURN gdpr._owner_query(k.root_table,
                             format('SELECT pg_catalog.to_jsonb($1::%s::pg_catalog.text)', type_name),
                             subject_id, NULL) #>> '{}';
  EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
    RAISE EXCEPTION 'subject id is not a valid % for kind "%"', type_name, k.kind
      USING ERRCODE = 'invalid_text_representation',
            DETAIL = format('Subjects of kind %s are identified by column %s of %s.', k.kind, k.id_column, k.root_table),
            HINT = 'Pass the id of an existing subject.';
  END;
END
$fn$;

-- The canonical id for the key store (C++, on a key-cache miss): through
-- the root id column's type when the kind is registered, else as given.
CREATE FUNCTION gdpr._canonical_subject_id(kind text, subject_id text) RETURNS text
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  k gdpr.subject_kind;
BEGIN
  SELECT * INTO k FROM gdpr.subject_kind s WHERE s.kind = _canonical_subject_id.kind;
  IF NOT FOUND THEN
    RETURN subject_id;
  END IF;
  RETURN gdpr._canonical_id(k, subject_id);
END
$fn$;

-- ---- erasure ------------------------------------------------------------------

-- Where erase had to keep a subject's root row (anonymized: held or shared
-- rows still refer to it), the foreign keys to it would accept new rows
-- for the erased subject. Every table with a key to the root id gets the
-- erased-subject guard on those columns (by number), once; it costs its
-- inserts a tombstone lookup from then on, so only kinds that need it pay.
CREATE FUNCTION gdpr._guard_kept_root(kind text) RETURNS void
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  k gdpr.subject_kind := gdpr._require_kind(kind);
  g record;
BEGIN
  FOR g IN
    SELECT f.conrelid::regclass AS rel, array_agg(DISTINCT f.conkey[1]::text ORDER BY f.conkey[1]::text) AS attnums
      FROM gdpr._foreign_keys() f
      JOIN pg_attribute a ON a.attrelid = k.root_table AND a.attname = k.id_column
     WHERE f.confrelid = k.root_table AND f.conparentid = 0 AND f.confkey = ARRAY[a.attnum]
       AND f.conrelid <> k.root_table
       AND NOT (SELECT r.relispartition FROM pg_class r WHERE r.oid = f.conrelid)
     GROUP BY f.conrelid ORDER BY 1::text
  LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_trigger t
                           WHERE t.tgrelid = g.rel AND t.tgname = 'gdpr_refuse_erased_' || kind || '_fk'
                             AND t.tgnargs = 1 + cardinality(g.attnums));
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT OR UPDATE ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION gdpr._refuse_erased_subject(%L, %s)',
                   'gdpr_refuse_erased_' || kind || '_fk', g.rel, kind,
                   (SELECT string_agg(quote_literal(n), ', ') FROM unnest(g.attnums) n));
  END LOOP;
END
$fn$;

CREATE FUNCTION gdpr._erase_subject(kind text, subject_id text, reason text, request_id bigint)
  RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  k gdpr.subject_kind := gdpr._require_kind(kind);
  plan gdpr.map_cache;
  step jsonb;
  rel regclass;
  n bigint;
  hash bytea;
  keys jsonb;
  found_rows jsonb;
  rekeyed jsonb;
  tables jsonb := '{}';
  touched bigint := 0;
  kept_shared jsonb;
  own_keys bigint[];
  root_found boolean;
  left_behind text[];
  shredded integer;
  held_until timestamptz;
  report jsonb;
  deferred_keys text[];
BEGIN
  PERFORM gdpr._require(reason, 'reason');
  IF btrim(reason) = '' THEN
    RAISE EXCEPTION 'an erasure needs a reason'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Name the request or the rule, e.g. ''request 42''.';
  END IF;
  subject_id := gdpr._canonical_id(k, subject_id);
  hash := gdpr.subject_hash(kind, subject_id);
  plan := gdpr._compiled(kind);
  IF cardinality(plan.refusals) > 0 THEN
    RAISE EXCEPTION 'subjects of kind "%" cannot be erased safely', kind
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = array_to_string(plan.refusals, E'\n'),
            HINT = format('Fix what is listed; gdpr_data_map(%L) shows it too. Nothing was changed.', kind);
  END IF;
  -- Lock order, as in the guard of linked tables: the root row, then the
  -- subject lock. Rows racing this erase, through a foreign key or in a
  -- linked table, wait for it, and nothing deadlocks with it.
  root_found := gdpr._owner_exec(k.root_table, plan.lock_sql, subject_id, NULL) > 0;
  PERFORM gdpr._lock_subject(hash, false);
  keys := gdpr._collect_keys(plan, subject_id);
  -- only values sealed under the subject's own main key are re-keyed for a
  -- hold: another subject's ciphertext in a shared row is not its to move
  own_keys := ARRAY(SELECT sk.key_id FROM gdpr.subject_key sk
                     WHERE sk.subject_address = gdpr._subject_key_address(kind, _erase_subject.subject_id)
                       AND sk.key_class = 'main' AND sk.wrapped_key IS NOT NULL);
  deferred_keys := gdpr._immediate_keys(ARRAY(SELECT DISTINCT (s->>'rel')::oid::regclass
                                                 FROM jsonb_array_elements(plan.erase_steps) s));
  FOR step IN SELECT s FROM jsonb_array_elements(plan.erase_steps) s LOOP
    rel := (step->>'rel')::oid;
    CASE step->>'mode'
      WHEN 'collect' THEN
        keys := keys || coalesce(gdpr._owner_query(rel, step->>'sql', subject_id, keys), '{}');
        n := 0;
      WHEN 'hold' THEN
        -- Held rows are recorded once (a second erase finds them recorded)
        -- and their encrypted values re-keyed under the subject's hold key.
        found_rows := gdpr._owner_query(rel, step->>'sql', subject_id, keys);
        WITH newly_held AS (
          INSERT INTO gdpr.hold_release AS h (subject_hash, kind, hold_table, row_key, release_at)
          SELECT hash, kind, rel, r.value->'row_key', (r.value->>'release_at')::timestamptz
            FROM jsonb_array_elements(found_rows) r
          ON CONFLICT DO NOTHING RETURNING h.row_key)
        SELECT count(*),
               coalesce(jsonb_agg(jsonb_build_object('row_key', r.value->'row_key', 'values',
                 (SELECT coalesce(jsonb_object_agg(c.key, encode(gdpr._rekey(decode(c.value, 'hex'), step->'encrypted'->>c.key,
                                                                              kind, subject_id, 'hold'), 'hex')), '{}')
                    FROM jsonb_each_text(r.value->'values') c
                   WHERE gdpr._ciphertext_key(decode(c.value, 'hex')) = ANY (own_keys)))), '[]')
          INTO n, rekeyed
          FROM jsonb_array_elements(found_rows) r JOIN newly_held nh ON nh.row_key = r.value->'row_key';
        IF n > 0 AND step->>'apply_sql' IS NOT NULL THEN
          PERFORM gdpr._owner_exec(rel, step->>'apply_sql', subject_id, jsonb_build_object('rekeyed', rekeyed));
        END IF;
      ELSE
        n := gdpr._owner_exec(rel, step->>'sql', subject_id, keys);
    END CASE;
    IF n > 0 THEN
      touched := touched + n;
      tables := jsonb_set(tables, ARRAY[step->>'table'],
                          coalesce(tables->(step->>'table'), '{}')
                          || jsonb_build_object(step->>'action',
                               coalesce((tables->(step->>'table')->>(step->>'action'))::bigint, 0) + n));
    END IF;
  END LOOP;
  PERFORM gdpr._erase_choices(kind, subject_id);  -- 60_purposes_consent.sql
  -- An id nobody ever had: nothing to erase, and nothing left behind that
  -- would block a future subject with this id.
  IF NOT root_found AND touched = 0
     AND NOT EXISTS (SELECT 1 FROM gdpr.subject_key sk WHERE sk.subject_address = gdpr._subject_key_address(kind, _erase_subject.subject_id))
     AND NOT EXISTS (SELECT 1 FROM gdpr.tombstone t WHERE t.subject_hash = hash) THEN
    PERFORM gdpr._defer_keys_again(deferred_keys);
    report := jsonb_build_object('kind', kind, 'subject_hash', encode(hash, 'hex'), 'reason', reason,
                                 'found', false, 'tables', tables, 'keys_shredded', 0);
    PERFORM gdpr._audit('erase', kind, hash, request_id, report);
    RETURN report;
  END IF;
  -- The erase checks its own result, triggers and cascades included: of
  -- the subject, only held rows and anonymized rows others reference stay.
  keys := gdpr._collect_keys(plan, subject_id);
  SELECT coalesce(array_agg(format('%s: %s rows', c.value->>'table', r.n ->> 'left')) FILTER (WHERE (r.n ->> 'left')::bigint > 0), '{}'),
         coalesce(jsonb_object_agg(c.value->>'table', (r.n ->> 'shared')::bigint) FILTER (WHERE (r.n ->> 'shared')::bigint > 0), '{}')
    INTO left_behind, kept_shared
    FROM jsonb_array_elements(plan.check_steps) c,
         LATERAL (SELECT gdpr._owner_query((c.value->>'rel')::oid, c.value->>'sql', subject_id, keys) AS n) r;
  IF cardinality(left_behind) > 0 THEN
    RAISE EXCEPTION 'erasure of a subject of kind "%" left data of it behind', kind
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'Left after the erase: ' || array_to_string(left_behind, ', ') || '. Nothing was changed.',
            HINT = 'A trigger or a default may have written the subject''s data again; gdpr_data_map() shows the plan.';
  END IF;
  PERFORM gdpr._defer_keys_again(deferred_keys);
  IF root_found AND NOT coalesce(tables -> k.root_table::text ? 'deleted', false) THEN
    PERFORM gdpr._guard_kept_root(kind);
  END IF;
  SELECT max(h.release_at) INTO held_until FROM gdpr.hold_release h
   WHERE h.subject_hash = hash AND h.released_at IS NULL;
  -- the hold key goes when the last held row is released (gdpr_release_holds)
  UPDATE gdpr.hold_release h
     SET hold_key_id = (SELECT sk.key_id FROM gdpr.subject_key sk
                         WHERE sk.subject_address = gdpr._subject_key_address(_erase_subject.kind, _erase_subject.subject_id)
                           AND sk.key_class = 'hold')
   WHERE h.subject_hash = hash AND h.released_at IS NULL AND h.hold_key_id IS NULL;
  shredded := gdpr._shred_keys(kind, subject_id, held_until IS NOT NULL);
  INSERT INTO gdpr.tombstone AS t (subject_hash, kind, request_id, key_address)
  VALUES (hash, kind, request_id, gdpr._subject_key_address(kind, subject_id))
  ON CONFLICT (subject_hash) DO NOTHING;
  -- Requests keep their keyed hash, not the id.
  UPDATE gdpr.request q SET subject_id = NULL WHERE q.subject_hash = hash AND q.subject_id IS NOT NULL;
  -- rows kept because they belong to someone else too, still naming the
  -- subject where their reference could not be set to NULL
  FOR step IN SELECT jsonb_build_object('table', e.key, 'n', e.value) FROM jsonb_each(kept_shared) e LOOP
    tables := jsonb_set(tables, ARRAY[step->>'table'],
                        coalesce(tables->(step->>'table'), '{}') || jsonb_build_object('kept_shared', step->'n'));
  END LOOP;
  report := jsonb_build_object('kind', kind, 'subject_hash', encode(hash, 'hex'), 'reason', reason, 'found', true,
                               'tables', tables, 'keys_shredded', shredded, 'held_until', held_until);
  PERFORM gdpr._audit('erase', kind, hash, request_id, report);
  RETURN report;
END
$fn$;

CREATE FUNCTION gdpr._erase(kind text, subject_id text, reason text)
  RETURNS jsonb LANGUAGE sql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT gdpr._erase_subject(kind, subject_id, reason, NULL)
$fn$;
CREATE FUNCTION @extschema@.gdpr_erase(kind text, subject_id text, reason text)
  RETURNS jsonb LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_erase(text, text, text) IS
  'Erases a subject in one transaction: deletes, detaches or anonymizes its rows, keeps held rows, shreds its keys, leaves a tombstone';

-- ---- end of legal holds ---------------------------------------------------------

-- Releases up to max_rows held rows whose hold has ended, oldest first: the
-- row is deleted (as its table's owner), or, where other rows still refer
-- to it, its tagged columns are anonymized; a row still held for another
-- subject stays as it is. When a subject's last held row is released, its
-- hold key is shredded, and what was sealed under it becomes noise. One
-- batch per call, so that a scheduler (the sidecar, pg_cron) keeps each
-- transaction short.
CREATE FUNCTION gdpr._release_holds(max_rows integer) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r record;
  pk name[];
  match text;
  anon text;
  released integer := 0;
  deleted integer := 0;
  anonymized integer := 0;
  kept integer := 0;
  keys_shredded integer := 0;
  n bigint;
  report jsonb;
  deferred_keys text[];
BEGIN
  PERFORM gdpr._require(max_rows, 'batch size');
  IF max_rows <= 0 THEN
    RAISE EXCEPTION 'batch size must be positive'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'For example gdpr_release_holds(1000).';
  END IF;
  FOR r IN SELECT h.* FROM gdpr.hold_release h
            WHERE h.released_at IS NULL AND h.release_at <= now()
            ORDER BY h.release_at LIMIT max_rows FOR UPDATE SKIP LOCKED LOOP
    IF to_regclass(r.hold_table::text) IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM gdpr.hold_release o
                        WHERE o.hold_table = r.hold_table AND o.row_key = r.row_key
                          AND o.subject_hash <> r.subject_hash AND o.released_at IS NULL) THEN
      pk := gdpr._primary_key(r.hold_table);
      match := (SELECT string_agg(format('t0.%I = ($2 ->> %L)::%s', c, c, (gdpr._column_types(r.hold_table, ARRAY[c]))[1]), ' AND ')
                  FROM unnest(pk) c);
      deferred_keys := gdpr._immediate_keys(ARRAY[r.hold_table]);
      BEGIN
        n := gdpr._owner_exec(r.hold_table, format('DELETE FROM %s t0 WHERE %s', r.hold_table, match), NULL, r.row_key);
        deleted := deleted + n;
      EXCEPTION WHEN foreign_key_violation OR restrict_violation THEN
        anon := gdpr._anonymize_set(r.hold_table);
        IF anon IS NOT NULL THEN
          n := gdpr._owner_exec(r.hold_table, format('UPDATE %s t0 SET %s WHERE %s', r.hold_table, anon, match), NULL, r.row_key);
          anonymized := anonymized + n;
        END IF;
      END;
      PERFORM gdpr._defer_keys_again(deferred_keys);
    ELSE
      kept := kept + 1;
    END IF;
    UPDATE gdpr.hold_release h SET released_at = now()
     WHERE h.subject_hash = r.subject_hash AND h.hold_table = r.hold_table AND h.row_key = r.row_key;
    released := released + 1;
    IF r.hold_key_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM gdpr.hold_release h WHERE h.subject_hash = r.subject_hash AND h.released_at IS NULL) THEN
      UPDATE gdpr.subject_key sk SET wrapped_key = NULL, kek_version = NULL, shredded_at = now()
       WHERE sk.key_id = r.hold_key_id AND sk.shredded_at IS NULL;
      GET DIAGNOSTICS n = ROW_COUNT;
      keys_shredded := keys_shredded + n;
    END IF;
  END LOOP;
  report := jsonb_build_object('released', released, 'deleted', deleted, 'anonymized', anonymized,
                               'still_held_for_others', kept, 'hold_keys_shredded', keys_shredded);
  IF released > 0 THEN
    PERFORM gdpr._audit('release_holds', NULL, NULL, NULL, report);
  END IF;
  RETURN report;
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_release_holds(max_rows integer DEFAULT 1000)
  RETURNS jsonb LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_release_holds(integer) IS
  'Releases one batch of held rows whose legal hold has ended: deletes or anonymizes them, shreds hold keys no longer needed';

-- ---- access and portability --------------------------------------------------

-- The data key id named in a ciphertext's header (bytes 2..9, big-endian);
-- NULL for anything too short to be one.
CREATE FUNCTION gdpr._ciphertext_key(ciphertext bytea) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT AS $fn$
  SELECT CASE WHEN pg_catalog.length(ciphertext) >= 10
              THEN ('x' || pg_catalog.encode(pg_catalog.substr(ciphertext, 3, 8), 'hex'))::pg_catalog.bit(64)::pg_catalog.int8 END
$fn$;

-- An exported encrypted value (bytea as "\x..." text), decrypted to JSON:
-- text as a string, anything else as base64. Only the subject's own
-- values are decrypted (the key id is in the ciphertext's header): in a
-- row shared with someone else, their encrypted fields stay out (null).
CREATE FUNCTION gdpr._decrypted_json(hex text, context text, own_keys bigint[]) RETURNS jsonb
  LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  ciphertext bytea;
BEGIN
  IF hex IS NULL THEN
    RETURN 'null';
  END IF;
  ciphertext := decode(substr(hex, 3), 'hex');
  IF coalesce(gdpr._ciphertext_key(ciphertext) <> ALL (own_keys), true) THEN
    RETURN 'null';
  END IF;
  IF get_byte(ciphertext, 1) = 1 THEN
    RETURN coalesce(to_jsonb(@extschema@.gdpr_decrypt(ciphertext, context)), 'null');
  END IF;
  RETURN coalesce(to_jsonb(encode(@extschema@.gdpr_decrypt_bytea(ciphertext, context), 'base64')), 'null');
END
$fn$;

CREATE FUNCTION gdpr._export_subject(kind text, subject_id text, request_id bigint)
  RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  plan gdpr.map_cache;
  step jsonb;
  keys jsonb;
  found_rows jsonb;
  data jsonb := '{}';
  hash bytea;
  tables_with_rows text[];
  held_categories text[];
  own_keys bigint[];
  uncovered regclass[];
  document jsonb;
BEGIN
  subject_id := gdpr._canonical_id(gdpr._require_kind(kind), subject_id);
  plan := gdpr._compiled(kind);
  keys := gdpr._collect_keys(plan, subject_id);
  own_keys := ARRAY(SELECT sk.key_id FROM gdpr.subject_key sk
                     WHERE sk.subject_address = gdpr._subject_key_address(kind, _export_subject.subject_id));
  uncovered := gdpr._uncovered_tables(plan);
  FOR step IN SELECT s FROM jsonb_array_elements(plan.export_steps) s LOOP
    CONTINUE WHEN (step->>'rel')::oid::regclass = ANY (uncovered)
               OR (step ? 'references' AND NOT gdpr._covered(kind, (step->>'rel')::oid));
    found_rows := gdpr._owner_query((step->>'rel')::oid, step->>'sql', subject_id, keys);
    CONTINUE WHEN step ? 'references' AND found_rows = '[]';
    IF step->'encrypted' <> '{}' THEN
      found_rows := (SELECT coalesce(jsonb_agg(r.value || (SELECT coalesce(jsonb_object_agg(c.key, gdpr._decrypted_json(r.value->>c.key, c.value, own_keys)), '{}')
                                                             FROM jsonb_each_text(step->'encrypted') c WHERE r.value ? c.key)
                                               ORDER BY r.i), '[]')
                       FROM jsonb_array_elements(found_rows) WITH ORDINALITY r(value, i));
    END IF;
    data := data || jsonb_build_object(step->>'table', found_rows);
  END LOOP;
  hash := gdpr.subject_hash(kind, subject_id);
  tables_with_rows := ARRAY(SELECT d.key FROM jsonb_each(data) d WHERE jsonb_array_length(d.value) > 0);
  held_categories := ARRAY(SELECT DISTINCT c FROM unnest(tables_with_rows) t,
                                  jsonb_array_elements_text(plan.categories -> t) c ORDER BY 1);
  document := jsonb_build_object(
    'subject', jsonb_build_object('kind', kind, 'id', subject_id),
    'generated_at', now(),
    'data', data,
    'not_exported', (SELECT coalesce(jsonb_agg(jsonb_build_object('table', u::text, 'why',
                        'its owner has not mapped it: it only references a mapped table through a foreign key')), '[]')
                       FROM unnest(uncovered) u),
    'categories', to_jsonb(held_categories),
    'purposes', coalesce((SELECT jsonb_agg(jsonb_build_object('purpose', p.purpose, 'lawful_basis', p.lawful_basis,
                                                              'description', p.description, 'categories', p.categories)
                                           ORDER BY p.purpose)
                            FROM gdpr.purpose p WHERE p.categories && held_categories), '[]'),
    'choices', gdpr._export_choices(kind, subject_id),  -- 60_purposes_consent.sql
    'recipients', coalesce((SELECT jsonb_agg(jsonb_build_object('processor', r.processor, 'service', r.service,
                                                                'location', r.location) ORDER BY r.processor)
                              FROM gdpr.processor r), '[]'),
    'retention', coalesce((SELECT jsonb_object_agg(c.category, c.retention)
                             FROM gdpr.category_retention c WHERE c.category = ANY (held_categories)), '{}'),
    'legal_holds', coalesce((SELECT jsonb_agg(jsonb_build_object('table', h.hold_table::text, 'kept_for', h.keep::text,
                                                                 'counted_from', h.from_column, 'reason', h.reason))
                               FROM gdpr.legal_hold h WHERE h.hold_table::text = ANY (tables_with_rows)), '[]'),
    'requests', coalesce((SELECT jsonb_agg(jsonb_build_object('request_id', r.request_id, 'type', r.request_type,
                                                              'status', r.status, 'received_at', r.received_at,
                                                              'due_at', r.due_at, 'completed_at', r.completed_at)
                                           ORDER BY r.request_id)
                            FROM gdpr.request r WHERE r.subject_hash = hash), '[]'));
  PERFORM gdpr._audit('export', kind, hash, request_id,
                      jsonb_build_object('rows', (SELECT coalesce(jsonb_object_agg(d.key, jsonb_array_length(d.value)), '{}')
                                                    FROM jsonb_each(data) d WHERE jsonb_array_length(d.value) > 0)));
  RETURN document;
END
$fn$;

CREATE FUNCTION gdpr._export(kind text, subject_id text)
  RETURNS jsonb LANGUAGE sql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT gdpr._export_subject(kind, subject_id, NULL)
$fn$;
CREATE FUNCTION @extschema@.gdpr_export(kind text, subject_id text)
  RETURNS jsonb LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_export(text, text) IS
  'Everything held about a subject (Art. 15/20): its rows in every table of the map, decrypted, with purposes, categories, recipients, retention and requests';

CREATE FUNCTION @extschema@.gdpr_export_rows(kind text, subject_id text)
  RETURNS TABLE (table_name text, row_data jsonb) LANGUAGE sql VOLATILE
  SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT d.key, r.value
    FROM jsonb_each(@extschema@.gdpr_export(kind, subject_id) -> 'data') d,
         jsonb_array_elements(d.value) r
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_export_rows(text, text) IS
  'The subject''s rows one per line (table, row as JSON), for a portable download (Art. 20)';

-- ---- rectification ------------------------------------------------------------

CREATE FUNCTION gdpr._rectify(kind text, subject_id text, rel regclass, column_name name, value text)
  RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  plan gdpr.map_cache;
  col record;
  new_value text := value;
  set_expression text;
  n bigint;
  deferred_keys text[];
BEGIN
  subject_id := gdpr._canonical_id(gdpr._require_kind(kind), subject_id);
  PERFORM gdpr._require(rel, 'table');
  PERFORM gdpr._require(column_name, 'column name');
  plan := gdpr._compiled(kind);
  IF NOT rel = ANY (plan.tables) THEN
    RAISE EXCEPTION 'table % holds no data of subject kind "%"', rel, kind
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('gdpr_data_map(%L) lists the tables of this kind.', kind);
  END IF;
  IF rel = ANY (gdpr._uncovered_tables(plan)) THEN
    RAISE EXCEPTION 'table % has not been mapped by its owner', rel
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'It only references a mapped table through a foreign key; its owner has not let pg_gdpr change it.',
            HINT = 'Its owner can tag its columns with gdpr_tag() to bring it into the map.';
  END IF;
  PERFORM gdpr._require_column(rel, column_name, 'rectified');
  SELECT * INTO col FROM gdpr._column_labels(rel) l WHERE l.column_name = _rectify.column_name;
  -- Art. 9: the guard does not judge pg_gdpr's own statements, so a
  -- rectification of a sensitive column is judged here, as the guard
  -- would: a value only with the subject's explicit consent.
  IF col.category = 'sensitive' AND value IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM gdpr.processing_state s JOIN gdpr.purpose p ON p.purpose = s.purpose
                      WHERE s.kind = _rectify.kind AND s.subject_id = _rectify.subject_id AND s.allowed
                        AND p.lawful_basis = 'consent' AND 'sensitive' = ANY (p.categories)) THEN
    RAISE EXCEPTION '%.% holds sensitive data (Art. 9): the subject has not given explicit consent to a purpose that uses it', rel, column_name
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Record the consent first (gdpr_set_consent), or rectify the value to NULL.';
  END IF;
  -- The new value reaches the owner's statement as a parameter: encrypted
  -- here (as pg_gdpr), or converted to the column's type by the owner.
  IF col.encrypted THEN
    new_value := encode(@extschema@.gdpr_encrypt(kind, subject_id, value, col.context), 'hex');
    set_expression := 'pg_catalog.decode($2 ->> ''value'', ''hex'')';
  ELSE
    set_expression := format('($2 ->> ''value'')::%s', col.type_name);
  END IF;
  deferred_keys := gdpr._immediate_keys(ARRAY[rel]);
  n := gdpr._owner_exec(rel, format('UPDATE %s t0 SET %I = %s WHERE %s', rel, column_name, set_expression,
                                    plan.predicates ->> rel::text),
                        subject_id, gdpr._collect_keys(plan, subject_id) || jsonb_build_object('value', new_value));
  PERFORM gdpr._defer_keys_again(deferred_keys);
  PERFORM gdpr._audit('rectify', kind, gdpr.subject_hash(kind, subject_id), NULL,
                      jsonb_build_object('table', rel::text, 'column', column_name, 'rows', n));
  RETURN n;
END
$fn$;

CREATE FUNCTION @extschema@.gdpr_rectify(kind text, subject_id text, rel regclass, column_name name, value text)
  RETURNS bigint LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_rectify(text, text, regclass, name, text) IS
  'Corrects a column of the subject''s rows (Art. 16), encrypting it if the column is tagged encrypted; audited without the value';

-- ---- the request ledger --------------------------------------------------------

CREATE FUNCTION gdpr._request(kind text, subject_id text, request_type text, channel text)
  RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  types constant text[] := '{access,portability,erasure,rectification,restriction,objection,consent_withdrawal}';
  id bigint;
  hash bytea;
BEGIN
  subject_id := gdpr._canonical_id(gdpr._require_kind(kind), subject_id);
  PERFORM gdpr._require(request_type, 'request type');
  PERFORM gdpr._require(channel, 'channel');
  IF request_type <> ALL (types) THEN
    RAISE EXCEPTION 'unknown request type "%"', request_type
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use one of: ' || array_to_string(types, ', ') || '.';
  END IF;
  hash := gdpr.subject_hash(kind, subject_id);
  INSERT INTO gdpr.request (kind, subject_id, subject_hash, request_type, channel, due_at)
  VALUES (kind, subject_id, hash, request_type, channel, now() + interval '1 month')
  RETURNING request_id INTO id;
  PERFORM gdpr._audit('request_received', kind, hash, id,
                      jsonb_build_object('type', request_type, 'channel', channel));
  RETURN id;
END
$fn$;

CREATE FUNCTION gdpr._get_request(request_id bigint, expected_status text) RETURNS gdpr.request
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r gdpr.request;
BEGIN
  PERFORM gdpr._require(request_id, 'request id');
  SELECT * INTO r FROM gdpr.request q WHERE q.request_id = _get_request.request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'request % does not exist', request_id
      USING ERRCODE = 'undefined_object', HINT = 'gdpr.request lists the requests.';
  END IF;
  IF r.status <> expected_status THEN
    RAISE EXCEPTION 'request % is %, not %', request_id, r.status, expected_status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE expected_status WHEN 'verified' THEN 'Verify the requester''s identity first, then call gdpr_verify_request().'
                                        ELSE 'Only a request just received can be verified.' END;
  END IF;
  RETURN r;
END
$fn$;

CREATE FUNCTION gdpr._verify_request(request_id bigint) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r gdpr.request := gdpr._get_request(request_id, 'received');
BEGIN
  UPDATE gdpr.request q SET status = 'verified', verified_at = now() WHERE q.request_id = r.request_id;
  PERFORM gdpr._audit('request_verified', r.kind, r.subject_hash, r.request_id, '{}');
END
$fn$;

-- Carries out a verified request and records its completion. Erasure,
-- access and portability are executed; restriction, objection, consent
-- withdrawal and rectification are recorded (they are enforced by the
-- consent-aware views, and by gdpr_rectify() with the corrected values).
CREATE FUNCTION gdpr._fulfil_request(request_id bigint) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r gdpr.request := gdpr._get_request(request_id, 'verified');
  result jsonb;
  summary jsonb;
BEGIN
  CASE r.request_type
    WHEN 'erasure' THEN
      result := gdpr._erase_subject(r.kind, r.subject_id, format('request %s', r.request_id), r.request_id);
      summary := result;
    WHEN 'access', 'portability' THEN
      result := gdpr._export_subject(r.kind, r.subject_id, r.request_id);
      summary := jsonb_build_object('exported_tables', (SELECT count(*) FROM jsonb_each(result->'data') d
                                                          WHERE jsonb_array_length(d.value) > 0));
    ELSE
      summary := jsonb_build_object('recorded', r.request_type);
      result := summary;
  END CASE;
  UPDATE gdpr.request q
     SET status = 'completed', completed_at = now(), outcome = summary,
         subject_id = CASE WHEN r.request_type = 'erasure' THEN NULL ELSE q.subject_id END
   WHERE q.request_id = r.request_id;
  PERFORM gdpr._audit('request_completed', r.kind, r.subject_hash, r.request_id, summary);
  RETURN result;
END
$fn$;

CREATE FUNCTION @extschema@.gdpr_request(kind text, subject_id text, request_type text, channel text)
  RETURNS bigint LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_request(text, text, text, text) IS
  'Records a request of a data subject (access, portability, erasure, rectification, restriction, objection, consent_withdrawal), due in one month';

CREATE FUNCTION @extschema@.gdpr_verify_request(request_id bigint)
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_verify_request(bigint) IS
  'Records that the requester''s identity was verified; only verified requests are carried out';

CREATE FUNCTION @extschema@.gdpr_fulfil_request(request_id bigint)
  RETURNS jsonb LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_fulfil_request(bigint) IS
  'Carries out a verified request (erasure, access, portability; records the others) and completes it';

CREATE FUNCTION @extschema@.gdpr_requests_overdue()
  RETURNS TABLE (request_id bigint, kind text, request_type text, status text,
                 received_at timestamptz, due_at timestamptz, overdue interval)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT r.request_id, r.kind, r.request_type, r.status, r.received_at, r.due_at, now() - r.due_at
    FROM gdpr.request r
   WHERE r.status IN ('received', 'verified') AND r.due_at < now()
   ORDER BY r.due_at
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_requests_overdue() IS
  'Open requests past their one-month due date';

-- ---------------------------------------------------------------------------
-- The rights of the data subject: erasure (Art. 17), access and portability
-- (Art. 15/20), rectification (Art. 16), and the request ledger. Each public
-- function is SECURITY INVOKER so that current_user is the acting role; it
-- hands that role to a SECURITY DEFINER body in schema gdpr, which only
-- gdpr_admin may call, and which writes the audit log.
-- ---------------------------------------------------------------------------

-- Destroys a subject's data keys, except the legal-hold key class when asked.
CREATE FUNCTION gdpr._shred_keys(kind text, subject_id text, keep_hold_keys boolean)
  RETURNS integer LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
  shredded integer;
BEGIN
  INSERT INTO gdpr.subject_key AS k (key_id, subject_kind, subject_id, key_class, shredded_at)
  VALUES (nextval('gdpr.subject_key_key_id_seq'), $1, $2, 'main', now())
  ON CONFLICT (subject_kind, subject_id, key_class) DO NOTHING;
  UPDATE gdpr.subject_key AS k
     SET wrapped_key = NULL, kek_version = NULL, shredded_at = now()
   WHERE k.subject_kind = $1 AND k.subject_id = $2 AND k.shredded_at IS NULL
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

-- ---- erasure ------------------------------------------------------------------

CREATE FUNCTION gdpr._erase(kind text, subject_id text, reason text, acting_role name, request_id bigint)
  RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  k gdpr.subject_kind := gdpr._require_kind(kind);
  plan gdpr.map_cache;
  step jsonb;
  n bigint;
  hash bytea;
  tables jsonb := '{}';
  shredded integer;
  held_until timestamptz;
  report jsonb;
BEGIN
  PERFORM gdpr._require_subject_id(subject_id);
  PERFORM gdpr._require(reason, 'reason');
  hash := gdpr.subject_hash(kind, subject_id);
  plan := gdpr._compiled(kind);
  -- Rows of linked tables (no foreign key) racing this erase wait for it.
  PERFORM gdpr._lock_subject(hash, false);
  -- The subject's root row is locked first: a concurrent insert of a row
  -- referencing it waits for this transaction, then fails its foreign key.
  EXECUTE format('SELECT 1 FROM %s WHERE %I = $1::%s FOR UPDATE', k.root_table, k.id_column,
                 (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                   WHERE a.attrelid = k.root_table AND a.attname = k.id_column))
    USING subject_id;
  FOR step IN SELECT s FROM jsonb_array_elements(plan.erase_steps) s LOOP
    EXECUTE step->>'sql' USING subject_id, hash;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
      tables := jsonb_set(tables, ARRAY[step->>'table'],
                          coalesce(tables->(step->>'table'), '{}')
                          || jsonb_build_object(step->>'action',
                               coalesce((tables->(step->>'table')->>(step->>'action'))::bigint, 0) + n));
    END IF;
  END LOOP;
  SELECT max(h.release_at) INTO held_until FROM gdpr.hold_release h
   WHERE h.subject_hash = hash AND h.released_at IS NULL;
  shredded := gdpr._shred_keys(kind, subject_id, held_until IS NOT NULL);
  INSERT INTO gdpr.tombstone AS t (subject_hash, kind, request_id) VALUES (hash, kind, request_id)
  ON CONFLICT (subject_hash) DO NOTHING;
  report := jsonb_build_object('kind', kind, 'subject_hash', encode(hash, 'hex'), 'reason', reason,
                               'tables', tables, 'keys_shredded', shredded, 'held_until', held_until);
  PERFORM gdpr._audit(acting_role, 'erase', kind, hash, request_id, report);
  RETURN report;
END
$fn$;

CREATE FUNCTION @extschema@.gdpr_erase(kind text, subject_id text, reason text)
  RETURNS jsonb LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT gdpr._erase(kind, subject_id, reason, current_user, NULL)
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_erase(text, text, text) IS
  'Erases a subject in one transaction: deletes, detaches or anonymizes its rows, keeps held rows, shreds its keys, leaves a tombstone';

-- ---- access and portability --------------------------------------------------

CREATE FUNCTION gdpr._export(kind text, subject_id text, acting_role name, request_id bigint)
  RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  k gdpr.subject_kind := gdpr._require_kind(kind);
  plan gdpr.map_cache;
  data jsonb;
  hash bytea;
  tables_with_rows text[];
  held_categories text[];
  document jsonb;
BEGIN
  PERFORM gdpr._require_subject_id(subject_id);
  plan := gdpr._compiled(kind);
  EXECUTE plan.export_sql INTO data USING subject_id;
  hash := gdpr.subject_hash(kind, subject_id);
  tables_with_rows := ARRAY(SELECT d.key FROM jsonb_each(data) d WHERE jsonb_array_length(d.value) > 0);
  held_categories := ARRAY(SELECT DISTINCT c FROM unnest(tables_with_rows) t,
                                  jsonb_array_elements_text(plan.categories -> t) c ORDER BY 1);
  document := jsonb_build_object(
    'subject', jsonb_build_object('kind', kind, 'id', subject_id),
    'generated_at', now(),
    'data', data,
    'categories', to_jsonb(held_categories),
    'purposes', coalesce((SELECT jsonb_agg(jsonb_build_object('purpose', p.purpose, 'lawful_basis', p.lawful_basis,
                                                              'description', p.description, 'categories', p.categories)
                                           ORDER BY p.purpose)
                            FROM gdpr.purpose p WHERE p.categories && held_categories), '[]'),
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
  PERFORM gdpr._audit(acting_role, 'export', kind, hash, request_id,
                      jsonb_build_object('rows', (SELECT coalesce(jsonb_object_agg(d.key, jsonb_array_length(d.value)), '{}')
                                                    FROM jsonb_each(data) d WHERE jsonb_array_length(d.value) > 0)));
  RETURN document;
END
$fn$;

CREATE FUNCTION @extschema@.gdpr_export(kind text, subject_id text)
  RETURNS jsonb LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT gdpr._export(kind, subject_id, current_user, NULL)
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_export(text, text) IS
  'Everything held about a subject (Art. 15/20): its rows in every table of the map, decrypted, with purposes, categories, recipients, retention and requests';

CREATE FUNCTION @extschema@.gdpr_export_rows(kind text, subject_id text)
  RETURNS TABLE (table_name text, row_data jsonb) LANGUAGE sql VOLATILE
  SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT d.key, r.value
    FROM jsonb_each(gdpr._export(kind, subject_id, current_user, NULL) -> 'data') d,
         jsonb_array_elements(d.value) r
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_export_rows(text, text) IS
  'The subject''s rows one per line (table, row as JSON), for a portable download (Art. 20)';

-- ---- rectification ------------------------------------------------------------

CREATE FUNCTION gdpr._rectify(kind text, subject_id text, rel regclass, column_name name, value text,
                              acting_role name)
  RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  k gdpr.subject_kind := gdpr._require_kind(kind);
  ext text := (SELECT quote_ident(n.nspname) FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
                WHERE x.extname = 'pg_gdpr');
  col record;
  n bigint;
BEGIN
  PERFORM gdpr._require_subject_id(subject_id);
  PERFORM gdpr._require(rel, 'table');
  PERFORM gdpr._require(column_name, 'column name');
  IF NOT EXISTS (SELECT 1 FROM gdpr._map_tables(kind) m WHERE m.rel = _rectify.rel) THEN
    RAISE EXCEPTION 'table % holds no data of subject kind "%"', rel, kind
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('gdpr_data_map(%L) lists the tables of this kind.', kind);
  END IF;
  PERFORM gdpr._require_column(rel, column_name, 'rectified');
  SELECT * INTO col FROM gdpr._column_labels(rel) l WHERE l.column_name = _rectify.column_name;
  EXECUTE format('UPDATE %s t0 SET %I = %s WHERE %s', rel, column_name,
                 CASE WHEN col.encrypted THEN format('%s.gdpr_encrypt(%L, $1, $3, %L)', ext, kind, col.context)
                      ELSE format('$3::%s', col.type_name) END,
                 gdpr._owned_predicate(kind, rel, 't0'))
    USING subject_id, NULL::bytea, value;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM gdpr._audit(acting_role, 'rectify', kind, gdpr.subject_hash(kind, subject_id), NULL,
                      jsonb_build_object('table', rel::text, 'column', column_name, 'rows', n));
  RETURN n;
END
$fn$;

CREATE FUNCTION @extschema@.gdpr_rectify(kind text, subject_id text, rel regclass, column_name name, value text)
  RETURNS bigint LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT gdpr._rectify(kind, subject_id, rel, column_name, value, current_user)
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_rectify(text, text, regclass, name, text) IS
  'Corrects a column of the subject''s rows (Art. 16), encrypting it if the column is tagged encrypted; audited without the value';

-- ---- the request ledger --------------------------------------------------------

CREATE FUNCTION gdpr._request(kind text, subject_id text, request_type text, channel text, acting_role name)
  RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  types constant text[] := '{access,portability,erasure,rectification,restriction,objection,consent_withdrawal}';
  id bigint;
  hash bytea;
BEGIN
  PERFORM gdpr._require_kind(kind);
  PERFORM gdpr._require_subject_id(subject_id);
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
  PERFORM gdpr._audit(acting_role, 'request_received', kind, hash, id,
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

CREATE FUNCTION gdpr._verify_request(request_id bigint, acting_role name) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r gdpr.request := gdpr._get_request(request_id, 'received');
BEGIN
  UPDATE gdpr.request q SET status = 'verified', verified_at = now() WHERE q.request_id = r.request_id;
  PERFORM gdpr._audit(acting_role, 'request_verified', r.kind, r.subject_hash, r.request_id, '{}');
END
$fn$;

-- Carries out a verified request and records its completion. Erasure,
-- access and portability are executed; restriction, objection, consent
-- withdrawal and rectification are recorded (they are enforced by the
-- consent-aware views, and by gdpr_rectify() with the corrected values).
CREATE FUNCTION gdpr._fulfil_request(request_id bigint, acting_role name) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r gdpr.request := gdpr._get_request(request_id, 'verified');
  result jsonb;
  summary jsonb;
BEGIN
  CASE r.request_type
    WHEN 'erasure' THEN
      result := gdpr._erase(r.kind, r.subject_id, format('request %s', r.request_id), acting_role, r.request_id);
      summary := result;
    WHEN 'access', 'portability' THEN
      result := gdpr._export(r.kind, r.subject_id, acting_role, r.request_id);
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
  PERFORM gdpr._audit(acting_role, 'request_completed', r.kind, r.subject_hash, r.request_id, summary);
  RETURN result;
END
$fn$;

CREATE FUNCTION @extschema@.gdpr_request(kind text, subject_id text, request_type text, channel text)
  RETURNS bigint LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT gdpr._request(kind, subject_id, request_type, channel, current_user)
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_request(text, text, text, text) IS
  'Records a request of a data subject (access, portability, erasure, rectification, restriction, objection, consent_withdrawal), due in one month';

CREATE FUNCTION @extschema@.gdpr_verify_request(request_id bigint)
  RETURNS void LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT gdpr._verify_request(request_id, current_user)
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_verify_request(bigint) IS
  'Records that the requester''s identity was verified; only verified requests are carried out';

CREATE FUNCTION @extschema@.gdpr_fulfil_request(request_id bigint)
  RETURNS jsonb LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT gdpr._fulfil_request(request_id, current_user)
$fn$;
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

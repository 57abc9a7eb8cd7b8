-- ---------------------------------------------------------------------------
-- Consent-aware views: a security_barrier view of a table for one purpose,
-- owned by the table's owner. Rows: only those whose subjects may be
-- processed for the purpose now (gdpr.processing_state, read by the view's
-- owner). Columns: those whose category the purpose may not use are NULL,
-- encrypted ones it may use are decrypted. Writes, for purposes that may
-- write, go through an INSTEAD OF trigger owned by the table's owner
-- (SECURITY DEFINER: the owner's rights, never more) that seals plaintext
-- for encrypted columns under the row's subject's key.
-- And the Art. 9 guard on tables with sensitive columns.
-- ---------------------------------------------------------------------------

CREATE TABLE gdpr.consent_view (
  view       regclass PRIMARY KEY,
  rel        regclass NOT NULL,
  purpose    text NOT NULL,
  created_by regrole NOT NULL,
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE gdpr.consent_view IS 'Consent-aware views made by gdpr_create_view(), rebuilt when tags, purposes or the map change';
SELECT pg_catalog.pg_extension_config_dump('gdpr.consent_view', '');
REVOKE ALL ON gdpr.consent_view FROM PUBLIC;

CREATE TRIGGER purpose_changed AFTER INSERT OR UPDATE OR DELETE ON gdpr.purpose
  FOR EACH ROW EXECUTE FUNCTION gdpr._purpose_changed();

-- Decryption as the views call it: gdpr_decrypt() itself, declared STABLE
-- (a key is not shredded within a statement of the reading session), so
-- that a query that does not select an encrypted column of a view does not
-- decrypt it. Granted to the reader roles of views that decrypt.
CREATE FUNCTION @extschema@.gdpr_view_decrypt(ciphertext bytea, context text) RETURNS text
  LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'gdpr_decrypt_text';
COMMENT ON FUNCTION @extschema@.gdpr_view_decrypt(bytea, text) IS
  'gdpr_decrypt() as consent-aware views call it (STABLE: columns a query does not select are not decrypted)';
REVOKE ALL ON FUNCTION @extschema@.gdpr_view_decrypt(bytea, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.gdpr_view_decrypt(bytea, text) TO gdpr_app;

-- "The subject may be processed for the purpose now", per row: the C
-- filter of processing_filter.cpp (an index probe per row for lookups, one
-- load of the purpose's state and a hash probe per row for scans). Read by
-- the views' readers; it checks they may learn the purpose's state.
CREATE FUNCTION @extschema@.gdpr_may_process(kind text, purpose text, needs_consent boolean, subject anyelement)
  RETURNS boolean LANGUAGE c STABLE PARALLEL SAFE COST 1 AS 'MODULE_PATHNAME', 'gdpr_may_process';
COMMENT ON FUNCTION @extschema@.gdpr_may_process(text, text, boolean, anyelement) IS
  'The row filter of consent-aware views: whether the subject may be processed for the purpose now (readers of the purpose''s views only)';
REVOKE ALL ON FUNCTION @extschema@.gdpr_may_process(text, text, boolean, anyelement) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.gdpr_may_process(text, text, boolean, anyelement) TO gdpr_app, gdpr_admin;

-- The subject a row of e.rel belongs to through edge e, as an expression
-- over alias: the column itself for a direct edge, else the parent's
-- subject found through the foreign key (one scalar subquery per level).
CREATE FUNCTION gdpr._subject_expr(k gdpr.subject_kind, edges gdpr.map_edge[], e gdpr.map_edge,
                                   alias text, level integer DEFAULT 1)
  RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  pe gdpr.map_edge;
  parent_alias text := 'p' || level;
  inner_expr text;
BEGIN
  IF gdpr._edge_is_direct(k, e) THEN
    RETURN format('%I.%I', alias, e.cols[1]);
  END IF;
  IF level > 8 THEN
    RETURN NULL;
  END IF;
  SELECT m.* INTO pe FROM unnest(edges) m
   WHERE m.rel = e.parent AND NOT coalesce(m.on_delete IN ('n', 'd'), false)
     AND NOT (m.edge = 'link' AND gdpr._element_type(m.rel, m.cols[1]) IS NOT NULL)
   ORDER BY gdpr._edge_is_direct(k, m) DESC, m.depth, m.constraint_name LIMIT 1;
  IF pe.rel IS NULL THEN
    RETURN NULL;
  END IF;
  inner_expr := gdpr._subject_expr(k, edges, pe, parent_alias, level + 1);
  IF inner_expr IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN format('(SELECT %s FROM %s %I WHERE %s)', inner_expr, e.parent, parent_alias,
                (SELECT string_agg(format('%I.%I OPERATOR(pg_catalog.=) %I.%I', parent_alias, pc, alias, c), ' AND ')
                   FROM unnest(e.parent_cols, e.cols) u(pc, c)));
END
$fn$;

-- The subjects of rel's rows, per kind whose map holds rel: (kind, edge
-- name, expression over alias, whether it may be NULL, whether it is a
-- linked array of ids). An edge that erasure only detaches (ON DELETE SET
-- NULL) still names a subject whose choices the row follows while it is
-- attached (a session's IP address), and seals only when nothing else names one.
CREATE FUNCTION gdpr._row_subjects(rel regclass, alias text)
  RETURNS TABLE (kind text, edge text, expr text, nullable boolean, is_array boolean)
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  k gdpr.subject_kind;
  edges gdpr.map_edge[];
  e gdpr.map_edge;
BEGIN
  FOR k IN SELECT * FROM gdpr.subject_kind ORDER BY 1 LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM gdpr._map_tables(k.kind) t WHERE t.rel = _row_subjects.rel);
    edges := gdpr._edges(k.kind);
    FOR e IN SELECT m.* FROM unnest(edges) m
              WHERE m.rel = _row_subjects.rel
              ORDER BY gdpr._edge_is_direct(k, m) DESC,
                       (m.edge = 'link' AND gdpr._element_type(m.rel, m.cols[1]) IS NOT NULL),
                       m.edge DESC, m.constraint_name LOOP
      kind := k.kind;
      edge := coalesce(e.constraint_name, e.edge || ' ' || e.cols[1]);
      expr := gdpr._subject_expr(k, edges, e, alias);
      nullable := NOT gdpr._edge_is_direct(k, e) OR e.nullable OR coalesce(e.on_delete IN ('n', 'd'), false);
      is_array := e.edge = 'link' AND gdpr._element_type(e.rel, e.cols[1]) IS NOT NULL;
      CONTINUE WHEN expr IS NULL;
      RETURN NEXT;
    END LOOP;
  END LOOP;
END
$fn$;

-- "The subject expr (of kind) may be processed for purpose p now": the C
-- filter for one subject; for a linked array of ids, an anti-join over
-- every id it names (rare, and not on the fast path).
CREATE FUNCTION gdpr._may_process_sql(p gdpr.purpose, kind text, expr text, nullable boolean,
                                      is_array boolean DEFAULT false) RETURNS text
  LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE
    -- a linked array of ids: every subject it names (NULL elements are nobody)
    WHEN is_array
      THEN format('NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(%s) u(id) WHERE NOT @extschema@.gdpr_may_process(%L::pg_catalog.text, %L::pg_catalog.text, %L::pg_catalog.bool, u.id))',
                  expr, kind, p.purpose, p.lawful_basis = 'consent')
    -- one subject (NULL: nobody's, which the filter lets through)
    ELSE format('@extschema@.gdpr_may_process(%L::pg_catalog.text, %L::pg_catalog.text, %L::pg_catalog.bool, (%s))',
                kind, p.purpose, p.lawful_basis = 'consent', expr) END
$fn$;

-- The subjects of a table's rows, found once per view build (the walk of
-- the map is the slow part) over a placeholder alias, then over each alias
-- the view and its trigger need.
CREATE FUNCTION gdpr._subjects_json(rel regclass) RETURNS jsonb
  LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]') FROM gdpr._row_subjects(rel, 'row__') r
$fn$;
CREATE FUNCTION gdpr._subjects_as(subjects jsonb, alias text)
  RETURNS TABLE (kind text, edge text, expr text, nullable boolean, is_array boolean)
  LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT r.kind, r.edge, replace(r.expr, 'row__.', quote_ident(alias) || '.'), r.nullable, r.is_array
    FROM jsonb_to_recordset(subjects) AS r(kind text, edge text, expr text, nullable boolean, is_array boolean)
$fn$;

-- (No subject found: no row is shown. gdpr_create_view refuses such a
-- table; a rebuild after the map changed hides everything, and warns.)
CREATE FUNCTION gdpr._row_condition(subjects jsonb, p gdpr.purpose, alias text) RETURNS text
  LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(string_agg(gdpr._may_process_sql(p, r.kind, r.expr, r.nullable, r.is_array), ' AND '), 'false')
    FROM gdpr._subjects_as(subjects, alias) r
$fn$;

-- ---- rows kept under a legal hold -------------------------------------------
-- A row an erasure keeps for a legal hold (an invoice kept 7 years for tax
-- law) is the erased subject's, restricted to the hold's purpose (Art.
-- 17(3), 18(2)): only purposes whose every kind of processing survives a
-- restriction (storage, legal claims) see it. The state lists each held
-- row under kind '*held' (no subject kind can have that name), purpose =
-- the table's oid, subject = the row's key as gdpr._held_key() spells it,
-- so the views' filter reads it like any other entry. The entries follow
-- gdpr.hold_release, also as a restore loads it.

-- How a held row's key is spelled in the state: a single integer key as
-- itself (the filter's fast path); any other key as the hex of each key
-- column's binary send form, so that no session setting (TimeZone,
-- DateStyle) of a reader changes it.
CREATE FUNCTION gdpr._held_key_parts(rel regclass)
  RETURNS TABLE (column_name name, type_name text, send_function text)
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT k.c, format_type(a.atttypid, a.atttypmod),
         CASE WHEN t.typsend <> 0 THEN format('%I.%I', n.nspname, p.proname) END
    FROM unnest(gdpr._primary_key(rel)) WITH ORDINALITY k(c, i)
    JOIN pg_attribute a ON a.attrelid = rel AND a.attname = k.c
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_proc p ON p.oid = t.typsend
    LEFT JOIN pg_namespace n ON n.oid = p.pronamespace
   ORDER BY k.i
$fn$;
CREATE FUNCTION gdpr._held_key_expr(rel regclass, alias text) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE WHEN count(*) = 1 AND bool_and(k.type_name IN ('smallint', 'integer', 'bigint'))
              THEN format('%I.%I', alias, min(k.column_name))
              ELSE format('pg_catalog.concat_ws(''|'', %s)',
                          string_agg(CASE WHEN k.send_function IS NOT NULL
                                          THEN format('pg_catalog.encode(%s(%I.%I), ''hex'')', k.send_function, alias, k.column_name)
                                          ELSE format('%I.%I::pg_catalog.text', alias, k.column_name) END, ', ')) END
    FROM gdpr._held_key_parts(rel) k
$fn$;
CREATE FUNCTION gdpr._held_key(rel regclass, row_key jsonb) RETURNS text
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  key text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM gdpr._held_key_parts(rel)) THEN
    RETURN NULL;  -- no primary key (any more)
  END IF;
  -- the row rebuilt from the recorded key (jsonb spells dates and times
  -- in ISO, which every setting reads back), then spelled as the views do
  EXECUTE format('SELECT %s FROM (SELECT %s) t0', gdpr._held_key_expr(rel, 't0'),
                 (SELECT string_agg(format('($1 ->> %L)::%s AS %I', k.column_name, k.type_name, k.column_name), ', ')
                    FROM gdpr._held_key_parts(rel) k))
    INTO key USING row_key;
  RETURN key;
END
$fn$;

CREATE FUNCTION gdpr._held_row_state() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM gdpr.processing_state s
     WHERE s.kind = '*held' AND s.purpose = OLD.hold_table::oid::text
       AND CASE WHEN cardinality(gdpr._primary_key(OLD.hold_table)) = 0 THEN true  -- its table is gone
                ELSE s.subject_id = gdpr._held_key(OLD.hold_table, OLD.row_key) END
       AND NOT EXISTS (SELECT 1 FROM gdpr.hold_release h
                        WHERE h.hold_table = OLD.hold_table AND h.row_key = OLD.row_key AND h.released_at IS NULL);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.released_at IS NULL
     AND cardinality(gdpr._primary_key(NEW.hold_table)) > 0 THEN
    INSERT INTO gdpr.processing_state (kind, purpose, subject_id, allowed)
    VALUES ('*held', NEW.hold_table::oid::text, gdpr._held_key(NEW.hold_table, NEW.row_key), false)
    ON CONFLICT ON CONSTRAINT processing_state_pkey DO NOTHING;
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER held_row_state AFTER INSERT OR UPDATE OR DELETE ON gdpr.hold_release
  FOR EACH ROW EXECUTE FUNCTION gdpr._held_row_state();

-- The condition a view of rel for purpose p adds for held rows (none when
-- the table has no legal hold, or the purpose survives a restriction).
CREATE FUNCTION gdpr._held_condition(rel regclass, p gdpr.purpose, alias text) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT format('@extschema@.gdpr_may_process(''*held''::pg_catalog.text, (%L::pg_catalog.regclass)::pg_catalog.oid::pg_catalog.text, false, %s)',
                rel::text, gdpr._held_key_expr(rel, alias))
   WHERE EXISTS (SELECT 1 FROM gdpr.legal_hold h WHERE h.hold_table = rel)
     AND NOT p.processing <@ (SELECT array_agg(k.processing) FROM gdpr.processing_kind k WHERE k.survives_restriction)
$fn$;

-- The columns of rel as a purpose sees them. A hidden column is NULL of
-- its type, or of the base type of its domain (a NOT NULL or CHECK domain
-- would refuse the NULL).
CREATE FUNCTION gdpr._view_columns(rel regclass, p gdpr.purpose)
  RETURNS TABLE (column_name name, type_name text, visible boolean, encrypted boolean, context text,
                 generated boolean, default_sql text)
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT l.column_name,
         CASE WHEN l.category IS NULL OR l.category = ANY (p.categories) THEN l.type_name
              ELSE (WITH RECURSIVE base(oid, typmod, domain) AS (
                      SELECT t.oid, a.atttypmod, t.typtype = 'd' FROM pg_type t WHERE t.oid = a.atttypid
                      UNION ALL
                      SELECT t.typbasetype, t.typtypmod, bt.typtype = 'd'
                        FROM base b JOIN pg_type t ON t.oid = b.oid JOIN pg_type bt ON bt.oid = t.typbasetype
                       WHERE b.domain)
                    SELECT format_type(b.oid, b.typmod) FROM base b WHERE NOT b.domain) END,
         l.category IS NULL OR l.category = ANY (p.categories), l.encrypted, l.context,
         a.attgenerated <> '' ,
         CASE WHEN a.attidentity <> '' THEN format('pg_catalog.nextval(%L::pg_catalog.regclass)', pg_get_serial_sequence(rel::text, l.column_name))
              ELSE pg_get_expr(d.adbin, d.adrelid) END
    FROM gdpr._column_labels(rel) l
    JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = l.attnum
    LEFT JOIN pg_attrdef d ON d.adrelid = rel AND d.adnum = l.attnum AND a.attgenerated = ''
   ORDER BY l.attnum
$fn$;

-- Refuses writes through a view of a purpose that does not write.
CREATE FUNCTION gdpr._consent_view_read_only() RETURNS trigger
  LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'view % is read-only: purpose "%" does not write', TG_TABLE_NAME, TG_ARGV[0]
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Write through a view of a purpose that may write (e.g. service_delivery).';
END
$fn$;

-- The body of the INSTEAD OF trigger of a view of a purpose that writes.
CREATE FUNCTION gdpr._write_trigger_body(rel regclass, p gdpr.purpose, view_name text, subjects jsonb,
                                         creating boolean DEFAULT true) RETURNS text
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  pk name[] := gdpr._primary_key(rel);
  owner_subject record;
  old_subject text;
  c record;
  hidden_checks text := '';
  insert_cols text[] := '{}';
  insert_vals text[] := '{}';
  update_sets text[] := '{}';
  match text;
  seal text;
  warned_two_subjects boolean := false;
BEGIN
  IF cardinality(pk) = 0 THEN
    RAISE EXCEPTION 'table % has no primary key', rel
      USING ERRCODE = 'invalid_object_definition',
            DETAIL = format('Purpose %s writes; its view finds the row to change by primary key.', p.purpose),
            HINT = 'Add a primary key to the table.';
  END IF;
  match := (SELECT string_agg(format('t0.%I OPERATOR(pg_catalog.=) old.%I', k, k), ' AND ') FROM unnest(pk) k);
  -- whose key seals the encrypted columns: the row's mandatory subject (the
  -- root's id, a NOT NULL foreign key or link) before optional ones
  SELECT * INTO owner_subject FROM gdpr._subjects_as(subjects, 'new') r WHERE NOT r.is_array
   ORDER BY r.nullable, r.kind, r.edge LIMIT 1;
  SELECT r.expr INTO old_subject FROM gdpr._subjects_as(subjects, 'old') r WHERE NOT r.is_array
   ORDER BY r.nullable, r.kind, r.edge LIMIT 1;
  FOR c IN SELECT * FROM gdpr._view_columns(rel, p) LOOP
    CONTINUE WHEN c.generated;
    IF NOT c.visible THEN
      hidden_checks := hidden_checks || format(
        E'  IF new.%1$I IS DISTINCT FROM %2$s THEN\n'
        '    RAISE EXCEPTION %3$L USING ERRCODE = ''insufficient_privilege'', HINT = %4$L;\n  END IF;\n',
        c.column_name, CASE WHEN c.encrypted THEN 'NULL' ELSE '(CASE WHEN TG_OP = ''UPDATE'' THEN old.' || quote_ident(c.column_name) || ' END)' END,
        format('column %s of %s is not available to purpose %s', c.column_name, view_name, p.purpose),
        'Leave it out: its category is not one the purpose may use.');
      CONTINUE;
    END IF;
    IF c.encrypted THEN
      IF (SELECT count(DISTINCT r.kind) FROM gdpr._subjects_as(subjects, 'new') r WHERE NOT r.is_array AND NOT r.nullable) > 1
         AND NOT warned_two_subjects AND creating THEN
        RAISE WARNING 'rows of % belong to subjects of several kinds: % seals their encrypted columns under the % key', rel, view_name, owner_subject.kind
          USING DETAIL = 'An erasure of a subject of another kind does not shred what was written for it through this view.',
                HINT = 'Write such columns with gdpr_encrypt() under the key of the subject they are about.';
        warned_two_subjects := true;
      END IF;
      IF owner_subject.expr IS NULL THEN
        RAISE EXCEPTION 'cannot tell whose key seals column % of %', c.column_name, rel
          USING ERRCODE = 'invalid_object_definition',
                HINT = 'Writes through the view encrypt under the row''s subject''s key: the table must be in a subject kind''s map.';
      END IF;
      seal := format('@extschema@.gdpr_encrypt(%L, (%s)::pg_catalog.text, new.%I, %L)',
                     owner_subject.kind, owner_subject.expr, c.column_name, c.context);
      insert_cols := insert_cols || quote_ident(c.column_name);
      insert_vals := insert_vals || seal;
      update_sets := update_sets || format('%I = CASE WHEN new.%I IS NOT DISTINCT FROM old.%I AND (%s) IS NOT DISTINCT FROM (%s) THEN t0.%I ELSE %s END',
                                           c.column_name, c.column_name, c.column_name, owner_subject.expr,
                                           old_subject, c.column_name, seal);
    ELSE
      insert_cols := insert_cols || quote_ident(c.column_name);
      insert_vals := insert_vals || format('new.%I', c.column_name);
      update_sets := update_sets || format('%I = new.%I', c.column_name, c.column_name);
    END IF;
  END LOOP;
  RETURN format($body$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM %1$s t0 WHERE %2$s;
    RETURN old;
  END IF;
%3$s  IF NOT (%4$s) THEN
    RAISE EXCEPTION %5$L USING ERRCODE = 'insufficient_privilege',
      HINT = 'The subject has not consented, objected, is restricted or its erasure is pending; gdpr_choices() tells which.';
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO %1$s (%6$s) VALUES (%7$s);
  ELSE
    UPDATE %1$s t0 SET %8$s WHERE %2$s;
  END IF;
  RETURN new;
END
$body$, rel, match, hidden_checks, gdpr._row_condition(subjects, p, 'new'),
        format('the row''s subject may not be processed for purpose %s', p.purpose),
        array_to_string(insert_cols, ', '), array_to_string(insert_vals, ', '),
        array_to_string(update_sets, ', '));
END
$fn$;

-- Creates or rebuilds one view; returns it.
CREATE FUNCTION gdpr._build_view(view_schema name, view_name name, rel regclass, purpose text)
  RETURNS regclass LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  p gdpr.purpose := gdpr._require_purpose(purpose);
  qualified text := format('%I.%I', view_schema, view_name);
  owner regrole := (SELECT c.relowner::regrole FROM pg_class c WHERE c.oid = rel);
  reader text := left('gdpr_reader_' || purpose, 63);
  existing oid := to_regclass(qualified);
  saved_acl aclitem[];
  registered gdpr.consent_view;
  subjects jsonb := gdpr._subjects_json(rel);
  items text;
  decrypts boolean;
  select_sql text;
  grant_row record;
  v regclass;
  c record;
  write_function regprocedure;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM gdpr.subject_kind k, gdpr._map_tables(k.kind) t WHERE t.rel = _build_view.rel) THEN
    RAISE EXCEPTION 'table % is not in the data map', rel
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'A consent-aware view filters rows by their subject; pg_gdpr knows the subjects of mapped tables only.',
            HINT = 'Register a subject kind whose map reaches it (gdpr_register_subject, gdpr_link); gdpr_data_map() lists the tables.';
  END IF;
  IF jsonb_array_length(subjects) = 0 THEN
    IF existing IS NULL THEN
      RAISE EXCEPTION 'cannot tell whose rows % holds', rel
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = 'No subject column, foreign key path or link leads from its rows to a subject (an array link on a parent table, or a path longer than 8 tables, is not followed).',
              HINT = 'Link the table to its subject (gdpr_link), or read it through a view of a table that names its subject.';
    END IF;
    RAISE WARNING 'cannot tell whose rows % holds: view % shows none of them', rel, qualified
      USING HINT = 'Link the table to its subject (gdpr_link), then gdpr_refresh_views().';
  END IF;
  -- A row-level security policy on a table the view reads a row's subject
  -- through would decide, as the view's owner and with the reader's
  -- settings, whether that subject is found: a row whose parent it hides
  -- would count as nobody's and be shown.
  IF EXISTS (SELECT 1 FROM jsonb_to_recordset(subjects) AS x(expr text),
                      regexp_matches(x.expr, 'FROM ((?:"[^"]+"|[^ ."]+)(?:\.(?:"[^"]+"|[^ ."]+))?) p[0-9]+', 'g') m,
                      pg_class pc
              WHERE pc.oid = to_regclass(m[1]) AND pc.relrowsecurity
                AND (pc.relforcerowsecurity OR pc.relowner <> owner::oid)) THEN
    RAISE EXCEPTION 'a table that % reaches its rows'' subjects through has row-level security', rel
      USING ERRCODE = 'feature_not_supported',
            DETAIL = 'A policy could hide a parent row from the view''s owner, and the child row would then count as nobody''s.',
            HINT = 'Let the table''s owner own those tables too (without FORCE ROW LEVEL SECURITY), or disable row-level security on them.';
  END IF;
  -- Only a rebuild of this very view (same table, same purpose) may
  -- replace a relation or a write function that exists: anything else
  -- under that name belongs to someone, who would lose it to the table's
  -- owner (a trigger function handed over becomes that owner's code
  -- running in its callers' sessions).
  IF existing IS NOT NULL AND NOT EXISTS (SELECT 1 FROM gdpr.consent_view cv
                                           WHERE cv.view = existing AND cv.rel = _build_view.rel
                                             AND cv.purpose = _build_view.purpose) THEN
    RAISE EXCEPTION 'relation % already exists', qualified
      USING ERRCODE = 'duplicate_table', HINT = 'Name the view differently: gdpr_create_view(rel, purpose, view_name).';
  END IF;
  write_function := to_regprocedure(format('%I.%I()', view_schema, left(view_name || '_write', 63)));
  IF write_function IS NOT NULL
     AND NOT (existing IS NOT NULL AND EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = existing
                                                  AND t.tgname = 'gdpr_write' AND t.tgfoid = write_function)) THEN
    RAISE EXCEPTION 'function %() already exists', format('%I.%I', view_schema, left(view_name || '_write', 63))
      USING ERRCODE = 'duplicate_function',
            DETAIL = 'The view''s write trigger function would take its name.',
            HINT = 'Name the view differently: gdpr_create_view(rel, purpose, view_name).';
  END IF;
  SELECT string_agg(CASE WHEN NOT vc.visible AND vc.encrypted THEN format('NULL::pg_catalog.text AS %I', vc.column_name)
                         WHEN NOT vc.visible THEN format('NULL::%s AS %I', vc.type_name, vc.column_name)
                         WHEN vc.encrypted THEN format('@extschema@.gdpr_view_decrypt(t0.%I, %L) AS %I', vc.column_name, vc.context, vc.column_name)
                         ELSE format('t0.%I', vc.column_name) END, ', '),
         bool_or(vc.visible AND vc.encrypted)
    INTO items, decrypts
    FROM gdpr._view_columns(rel, p) vc;
  select_sql := format('SELECT %s FROM %s t0 WHERE %s', items, rel,
                       concat_ws(' AND ', gdpr._row_condition(subjects, p, 't0'), gdpr._held_condition(rel, p, 't0')));
  IF existing IS NOT NULL THEN
    BEGIN
      EXECUTE format('CREATE OR REPLACE VIEW %s WITH (security_barrier = true) AS %s', qualified, select_sql);
    EXCEPTION WHEN invalid_table_definition OR datatype_mismatch OR feature_not_supported THEN
      -- a column changed type (tagged encrypted, say): drop and make it
      -- again, with the grants it had
      SELECT pc.relacl INTO saved_acl FROM pg_class pc WHERE pc.oid = existing;
      SELECT * INTO registered FROM gdpr.consent_view cv WHERE cv.view = existing;
      EXECUTE format('DROP VIEW %s', qualified);
      EXECUTE format('CREATE VIEW %s WITH (security_barrier = true) AS %s', qualified, select_sql);
      FOR grant_row IN SELECT a.privilege_type, a.grantee FROM aclexplode(saved_acl) a WHERE a.grantee <> owner::oid LOOP
        EXECUTE format('GRANT %s ON %s TO %s', grant_row.privilege_type, qualified,
                       CASE WHEN grant_row.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(grant_row.grantee::regrole::text) END);
      END LOOP;
    END;
  ELSE
    EXECUTE format('CREATE VIEW %s WITH (security_barrier = true) AS %s', qualified, select_sql);
  END IF;
  v := qualified::regclass;
  EXECUTE format('ALTER VIEW %s OWNER TO %s', qualified, owner);
  EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', qualified);
  IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = reader) THEN
    EXECUTE format('CREATE ROLE %I NOLOGIN', reader);
  END IF;
  EXECUTE format('GRANT SELECT ON %s TO %I', qualified, reader);
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', view_schema, reader);
  IF decrypts THEN
    EXECUTE format('GRANT EXECUTE ON FUNCTION @extschema@.gdpr_view_decrypt(bytea, text) TO %I', reader);
  END IF;
  EXECUTE format('GRANT EXECUTE ON FUNCTION @extschema@.gdpr_may_process(pg_catalog.text, pg_catalog.text, pg_catalog.bool, anyelement) TO %I, %s',
                 reader, owner);
  -- writes
  IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = v AND t.tgname = 'gdpr_write') THEN
    EXECUTE format('DROP TRIGGER gdpr_write ON %s', qualified);
  END IF;
  IF p.may_write THEN
    FOR c IN SELECT * FROM gdpr._view_columns(rel, p) x WHERE x.visible AND x.default_sql IS NOT NULL LOOP
      EXECUTE format('ALTER VIEW %s ALTER COLUMN %I SET DEFAULT %s', qualified, c.column_name, c.default_sql);
    END LOOP;
    EXECUTE format('CREATE OR REPLACE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
                   'SET search_path = pg_catalog, pg_temp AS %L',
                   view_schema, left(view_name || '_write', 63), gdpr._write_trigger_body(rel, p, qualified, subjects, existing IS NULL));
    EXECUTE format('ALTER FUNCTION %I.%I() OWNER TO %s', view_schema, left(view_name || '_write', 63), owner);
    EXECUTE format('REVOKE ALL ON FUNCTION %I.%I() FROM PUBLIC', view_schema, left(view_name || '_write', 63));
    EXECUTE format('CREATE TRIGGER gdpr_write INSTEAD OF INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION %I.%I()',
                   qualified, view_schema, left(view_name || '_write', 63));
  ELSE
    EXECUTE format('CREATE TRIGGER gdpr_write INSTEAD OF INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION gdpr._consent_view_read_only(%L)',
                   qualified, purpose);
    -- the purpose no longer writes: the view's own write function goes
    IF write_function IS NOT NULL THEN
      EXECUTE format('DROP FUNCTION %s', write_function);
    END IF;
  END IF;
  -- a view dropped and made again has a new oid; the list follows it
  IF registered.view IS NOT NULL AND registered.view::oid <> v::oid THEN
    INSERT INTO gdpr.consent_view (view, rel, purpose, created_by, created_at)
    VALUES (v, registered.rel, registered.purpose, registered.created_by, registered.created_at)
    ON CONFLICT (view) DO NOTHING;
  END IF;
  RETURN v;
END
$fn$;

CREATE FUNCTION gdpr._create_view(rel regclass, purpose text, view_name text)
  RETURNS regclass LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  parts text[];
  owner oid;
  v regclass;
BEGIN
  PERFORM gdpr._require(rel, 'table');
  PERFORM gdpr._require_purpose(purpose);
  PERFORM gdpr._require_table(rel);
  PERFORM gdpr._require_mappable(rel);
  SELECT c.relowner INTO owner FROM pg_class c WHERE c.oid = rel;
  IF (SELECT q.may_write FROM gdpr.purpose q WHERE q.purpose = _create_view.purpose)
     AND NOT pg_has_role(owner, 'gdpr_app', 'USAGE') THEN
    RAISE EXCEPTION 'the owner of % is not a member of gdpr_app', rel
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'Writes through the view encrypt with the owner''s rights.',
            HINT = format('GRANT gdpr_app TO %s;', owner::regrole);
  END IF;
  parts := CASE WHEN view_name IS NULL
                THEN ARRAY[(SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel)::text,
                           (SELECT c.relname FROM pg_class c WHERE c.oid = rel) || '_' || purpose]
                ELSE parse_ident(view_name) END;
  IF cardinality(parts) = 1 THEN
    parts := ARRAY[(SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel)::text] || parts;
  END IF;
  IF cardinality(parts) <> 2 THEN
    RAISE EXCEPTION 'invalid view name "%"', view_name
      USING ERRCODE = 'invalid_name', HINT = 'Pass a name, or schema.name.';
  END IF;
  IF to_regnamespace(quote_ident(parts[1])) IS NULL OR NOT has_schema_privilege(owner, quote_ident(parts[1]), 'CREATE') THEN
    RAISE EXCEPTION 'the owner of % may not create objects in schema %', rel, parts[1]
      USING ERRCODE = 'insufficient_privilege', HINT = 'Put the view in a schema where the table''s owner may create objects.';
  END IF;
  v := gdpr._build_view(parts[1], parts[2], rel, purpose);
  INSERT INTO gdpr.consent_view AS cv (view, rel, purpose, created_by) VALUES (v, rel, purpose, gdpr._actor())
  ON CONFLICT (view) DO UPDATE SET rel = excluded.rel, purpose = excluded.purpose, created_by = excluded.created_by;
  PERFORM gdpr._audit('create_view', NULL, NULL, NULL,
                      jsonb_build_object('view', v::text, 'table', rel::text, 'purpose', purpose));
  RETURN v;
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_create_view(rel regclass, purpose text, view_name text DEFAULT NULL)
  RETURNS regclass LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_create_view(regclass, text, text) IS
  'Creates a consent-aware view of a table for a purpose (default name table_purpose), owned by the table''s owner, readable by gdpr_reader_<purpose>';

-- Rebuilds the views of a table or a purpose (NULL: all) and the Art. 9
-- guards; returns how many views were rebuilt.
CREATE FUNCTION gdpr._refresh_views_of(rel regclass, purpose text) RETURNS integer
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  cv record;
  n integer := 0;
BEGIN
  FOR cv IN SELECT v.view, v.rel, v.purpose, n.nspname, c.relname
              FROM gdpr.consent_view v JOIN pg_class c ON c.oid = v.view JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE (_refresh_views_of.rel IS NULL OR v.rel = _refresh_views_of.rel)
               AND (_refresh_views_of.purpose IS NULL OR v.purpose = _refresh_views_of.purpose)
             ORDER BY v.view::text LOOP
    PERFORM gdpr._build_view(cv.nspname, cv.relname, cv.rel, cv.purpose);
    n := n + 1;
  END LOOP;
  RETURN n;
END
$fn$;

CREATE FUNCTION gdpr._refresh_views() RETURNS integer
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  n integer;
BEGIN
  PERFORM gdpr._sync_sensitive_guards();
  n := gdpr._refresh_views_of(NULL, NULL);
  PERFORM gdpr._audit('refresh_views', NULL, NULL, NULL, jsonb_build_object('views', n));
  RETURN n;
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_refresh_views() RETURNS integer
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_refresh_views() IS
  'Rebuilds every consent-aware view and Art. 9 guard from the current tags, purposes and map';

-- ---- Art. 9: sensitive columns ----------------------------------------------

-- The guard's trigger function; only ever called as a trigger. Tables'
-- owners get EXECUTE, since creating a partition clones the trigger as
-- they are.
CREATE FUNCTION @extschema@.gdpr_sensitive_guard() RETURNS trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'gdpr_sensitive_guard';
COMMENT ON FUNCTION @extschema@.gdpr_sensitive_guard() IS
  'The Art. 9 guard (an AFTER row trigger that pg_gdpr installs on tables with sensitive columns)';
REVOKE ALL ON FUNCTION @extschema@.gdpr_sensitive_guard() FROM PUBLIC;

-- Installs (or removes) the guard of a table: AFTER INSERT and UPDATE
-- triggers (AFTER: they see the row as stored, after every BEFORE trigger,
-- generated columns included), with a triple per subject edge: kind,
-- subject column, or a lookup through the parents ($1 is the row). An
-- UPDATE is judged when it writes a sensitive value or moves one to
-- another subject.
CREATE FUNCTION gdpr._sync_sensitive_guard(rel regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  sensitive name[] := ARRAY(SELECT l.column_name FROM gdpr._column_labels(rel) l WHERE l.category = 'sensitive' ORDER BY l.attnum);
  subjects jsonb;
  args text;
  subject_columns name[];
BEGIN
  IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname = 'gdpr_sensitive_insert' AND t.tgparentid = 0) THEN
    EXECUTE format('DROP TRIGGER gdpr_sensitive_insert ON %s', rel);
  END IF;
  IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname = 'gdpr_sensitive_update' AND t.tgparentid = 0) THEN
    EXECUTE format('DROP TRIGGER gdpr_sensitive_update ON %s', rel);
  END IF;
  IF cardinality(sensitive) = 0 THEN
    RETURN;
  END IF;
  subjects := gdpr._subjects_json(rel);
  SELECT string_agg(format('%L, %L, %L', r.kind,
                           CASE WHEN r.direct THEN (parse_ident(r.expr))[2] ELSE '' END,
                           CASE WHEN r.direct THEN '' ELSE 'SELECT ' || replace(r.expr, 'row__.', '($1).') END), ', '),
         array_agg(DISTINCT c.col) FILTER (WHERE c.col IS NOT NULL)
    INTO args, subject_columns
    FROM (SELECT x.*, x.expr ~ '^row__\.("[^"]+"|[^.()" ]+)$' AS direct
            FROM jsonb_to_recordset(subjects) AS x(kind text, edge text, expr text, nullable boolean, is_array boolean)
           WHERE NOT x.is_array) r
    LEFT JOIN LATERAL (SELECT (parse_ident('row__.' || m[1]))[2] AS col
                         FROM regexp_matches(r.expr, 'row__\.("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)', 'g') m) c ON true;
  IF args IS NULL THEN
    RAISE WARNING 'no subject found for the rows of %: writes of its sensitive columns are refused', rel
      USING DETAIL = 'The Art. 9 guard needs to know the row''s subject (root id, link, or a foreign key path to the root).',
            HINT = 'Register or link the table (gdpr_register_subject, gdpr_link), then gdpr_refresh_views().';
  END IF;
  EXECUTE format('GRANT EXECUTE ON FUNCTION @extschema@.gdpr_sensitive_guard() TO %s',
                 (SELECT c.relowner::regrole FROM pg_class c WHERE c.oid = rel));
  EXECUTE format('CREATE TRIGGER gdpr_sensitive_insert AFTER INSERT ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION @extschema@.gdpr_sensitive_guard(%s)',
                 rel, (SELECT string_agg(format('NEW.%I IS NOT NULL', c), ' OR ') FROM unnest(sensitive) c), coalesce(args, ''));
  EXECUTE format('CREATE TRIGGER gdpr_sensitive_update AFTER UPDATE ON %s FOR EACH ROW WHEN ((%s) AND (%s)) EXECUTE FUNCTION @extschema@.gdpr_sensitive_guard(%s)',
                 rel,
                 (SELECT string_agg(format('NEW.%I IS NOT NULL', c), ' OR ') FROM unnest(sensitive) c),
                 (SELECT string_agg(format('NEW.%I IS DISTINCT FROM OLD.%I', c, c), ' OR ')
                    FROM unnest(sensitive || coalesce(subject_columns, '{}')) c),
                 coalesce(args, ''));
END
$fn$;

-- The guards of every table with a sensitive column.
CREATE FUNCTION gdpr._sync_sensitive_guards() RETURNS void
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  rel regclass;
BEGIN
  FOR rel IN SELECT DISTINCT l.objoid::regclass FROM pg_seclabel l
              WHERE l.provider = 'pg_gdpr' AND l.classoid = 'pg_class'::regclass AND l.label LIKE 'sensitive%'
                AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = l.objoid) LOOP
    PERFORM gdpr._sync_sensitive_guard(rel);
  END LOOP;
END
$fn$;

-- ---- following the schema ----------------------------------------------------

-- A table's tags or columns changed: its guard and views follow.
CREATE FUNCTION gdpr._views_on_ddl_command_end() RETURNS event_trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  altered regclass;
BEGIN
  IF to_regclass('gdpr.consent_view') IS NULL OR gdpr._bulk_load() THEN
    RETURN;  -- (a restore brings the views and guards as they were dumped)
  END IF;
  FOR altered IN SELECT DISTINCT c.objid::regclass FROM pg_event_trigger_ddl_commands() c
              JOIN pg_class r ON r.oid = c.objid AND r.relkind IN ('r', 'p')
             WHERE c.command_tag IN ('SECURITY LABEL', 'ALTER TABLE') LOOP
    PERFORM gdpr._sync_sensitive_guard(altered);
    -- a parent of other tables: their guards may find subjects through it
    IF EXISTS (SELECT 1 FROM pg_constraint k WHERE k.contype = 'f' AND k.confrelid = altered AND k.conrelid <> altered) THEN
      PERFORM gdpr._sync_sensitive_guards();
    END IF;
    PERFORM gdpr._refresh_views_of(altered, NULL);
    -- views of other tables that read their rows' subjects through this
    -- one (renamed, or a key column renamed): their write triggers name it
    -- in their text
    PERFORM gdpr._build_view(n.nspname, c.relname, cv.rel, cv.purpose)
       FROM (SELECT DISTINCT v.view, v.rel, v.purpose FROM gdpr.consent_view v
               JOIN pg_rewrite r ON r.ev_class = v.view
               JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
              WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = altered AND v.rel <> altered) cv
       JOIN pg_class c ON c.oid = cv.view JOIN pg_namespace n ON n.oid = c.relnamespace;
    -- row-level security on a table other views read subjects through:
    -- every view checks again (and the ALTER fails if one would leak)
    IF EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = altered AND c.relrowsecurity) THEN
      PERFORM gdpr._refresh_views_of(NULL, NULL);
    END IF;
  END LOOP;
END
$fn$;

-- A dropped view leaves the list.
CREATE FUNCTION gdpr._views_on_sql_drop() RETURNS event_trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF to_regclass('gdpr.consent_view') IS NULL THEN
    RETURN;
  END IF;
  DELETE FROM gdpr.consent_view v
   WHERE v.view IN (SELECT d.objid FROM pg_event_trigger_dropped_objects() d WHERE d.object_type = 'view');
END
$fn$;

-- The map changed: every view and guard follows.
CREATE FUNCTION gdpr._views_on_map_change() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF gdpr._bulk_load() THEN
    RETURN NULL;  -- a restore brings the views and guards as they were dumped
  END IF;
  PERFORM gdpr._sync_sensitive_guards();
  PERFORM gdpr._refresh_views_of(NULL, NULL);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER views_follow_kinds AFTER INSERT OR UPDATE OR DELETE ON gdpr.subject_kind
  FOR EACH STATEMENT EXECUTE FUNCTION gdpr._views_on_map_change();
CREATE TRIGGER views_follow_links AFTER INSERT OR UPDATE OR DELETE ON gdpr.subject_link
  FOR EACH STATEMENT EXECUTE FUNCTION gdpr._views_on_map_change();
-- a legal hold added or removed changes which views filter held rows
CREATE TRIGGER views_follow_holds AFTER INSERT OR UPDATE OR DELETE ON gdpr.legal_hold
  FOR EACH STATEMENT EXECUTE FUNCTION gdpr._views_on_map_change();

CREATE EVENT TRIGGER pg_gdpr_views_ddl_command_end ON ddl_command_end
  WHEN TAG IN ('SECURITY LABEL', 'ALTER TABLE') EXECUTE FUNCTION gdpr._views_on_ddl_command_end();
CREATE EVENT TRIGGER pg_gdpr_views_sql_drop ON sql_drop EXECUTE FUNCTION gdpr._views_on_sql_drop();

-- ---- privileges ------------------------------------------------------------------
SELECT gdpr._grant_only_to('gdpr_app', ARRAY[
  'gdpr_create_view(regclass, text, text)', 'gdpr_refresh_views()',
  'gdpr_set_consent(text, text, text, boolean, text)', 'gdpr_object(text, text, text)', 'gdpr_choices(text, text)',
  'gdpr_choices_json(text, text)']);
SELECT gdpr._grant_only_to('gdpr_admin', ARRAY[
  'gdpr_define_purpose(text, text, text[], text, text[], boolean)',
  'gdpr_restrict(text, text, text)', 'gdpr_lift_restriction(text, text)']);
GRANT SELECT ON gdpr.processing_kind, gdpr.choice, gdpr.processing_state, gdpr.consent_view TO gdpr_admin;

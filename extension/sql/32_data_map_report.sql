-- ---------------------------------------------------------------------------
-- gdpr_data_map(kind): the resolved map, for people. And the event triggers
-- that keep the map in step with the schema.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.gdpr_data_map(kind text)
  RETURNS TABLE (table_name text, depth integer, reached_by text[], columns jsonb,
                 on_erase text, warnings text[])
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  edges gdpr.map_edge[] := gdpr._edges(kind);
  t record;
  h gdpr.legal_hold;
  w text[];
BEGIN
  PERFORM gdpr._require_kind(kind);
  FOR t IN SELECT m.rel, m.depth, m.owning FROM gdpr._map_tables(kind) m ORDER BY m.depth, m.rel::text LOOP
    table_name := t.rel::text;
    depth := t.depth;
    reached_by := ARRAY(
      SELECT CASE e.edge
               WHEN 'root' THEN format('root, subject id in %s', e.cols[1])
               WHEN 'link' THEN format('linked by column %s', e.cols[1])
               ELSE format('%s (%s) -> %s', e.constraint_name, array_to_string(e.cols, ', '), e.parent) END
        FROM unnest(edges) e WHERE e.rel = t.rel ORDER BY e.edge DESC, e.constraint_name);
    SELECT coalesce(jsonb_object_agg(c.category, c.cols), '{}') INTO columns
      FROM (SELECT l.category, jsonb_agg(l.column_name || CASE WHEN l.encrypted THEN ' (encrypted)' ELSE '' END
                                         ORDER BY l.attnum) AS cols
              FROM gdpr._column_labels(t.rel) l WHERE l.category IS NOT NULL GROUP BY l.category) c;
    SELECT * INTO h FROM gdpr.legal_hold lh WHERE lh.hold_table = t.rel;
    on_erase := CASE
      WHEN h.hold_table IS NOT NULL THEN
        format('kept %s from %s (%s), then erased; older rows, and rows whose %s is NULL, deleted',
               h.keep, h.from_column, h.reason, h.from_column)
      WHEN t.depth = 0 THEN 'deleted (anonymized while other rows still reference it)'
      WHEN EXISTS (SELECT 1 FROM unnest(edges) e WHERE e.rel = t.rel AND e.on_delete IN ('n', 'd')) THEN
        'detached (its foreign key is ON DELETE SET NULL), the row stays; its personal values are anonymized unless the row is tied to someone else too'
      WHEN gdpr._sharing(gdpr._require_kind(kind), t.rel, edges) IS NOT NULL THEN
        'deleted; kept while it also belongs to another subject (of this or another kind), with this subject''s reference set to NULL where it may be'
      ELSE 'deleted' END;
    w := '{}';
    -- columns that look personal but carry no category
    w := w || ARRAY(
      SELECT format('column %s looks personal but has no category: tag it with gdpr_tag()', l.column_name)
        FROM gdpr._column_labels(t.rel) l
       WHERE l.category IS NULL
         AND l.column_name ~* '(e_?mail|phone|mobile|(first|last|full|given|family|display)_?name|^name$|birth|^dob$|address|street|post_?code|zip|(^|_)ip(_|$)|ip_?addr|passport|ssn|national_id|iban)'
       ORDER BY l.attnum);
    -- a foreign key without an index makes every erase scan the table
    w := w || ARRAY(
      SELECT CASE WHEN e.edge = 'link'
                  THEN format('linked column %s has no index: erasing a subject scans the whole table', e.cols[1])
                  ELSE format('foreign key %s (%s) has no index: erasing a subject scans the whole table',
                              e.constraint_name, array_to_string(e.cols, ', ')) END
        FROM unnest(edges) e
       WHERE e.rel = t.rel AND e.edge IN ('fk', 'link')
         AND NOT EXISTS (
           SELECT 1 FROM pg_index i
            WHERE i.indrelid = t.rel
              AND (SELECT array_agg(a.attname ORDER BY u.o) FROM unnest(i.indkey[0:cardinality(e.cols) - 1]) WITH ORDINALITY u(n, o)
                     JOIN pg_attribute a ON a.attrelid = t.rel AND a.attnum = u.n) = e.cols)
       ORDER BY e.constraint_name);
    -- ON DELETE CASCADE into a held table would delete rows the law keeps
    IF h.hold_table IS NOT NULL THEN
      w := w || ARRAY(
        SELECT format('foreign key %s is ON DELETE CASCADE: deleting its parent row outside pg_gdpr would delete held rows',
                      e.constraint_name)
          FROM unnest(edges) e WHERE e.rel = t.rel AND e.on_delete = 'c');
    END IF;
    -- rows that are subjects of another kind would be deleted with this one
    IF t.depth > 0 THEN
      w := w || ARRAY(
        SELECT format('rows of this table are subjects of kind "%s": erasing a %s keeps them, and keeps what it references of this subject',
                      k.kind, gdpr_data_map.kind)
          FROM gdpr.subject_kind k
         WHERE k.root_table = t.rel AND k.kind <> gdpr_data_map.kind AND t.owning
         ORDER BY k.kind);
    END IF;
    -- personal data in shared rows can only be erased per subject if encrypted
    IF (SELECT count(*) FROM unnest(edges) e WHERE e.rel = t.rel AND e.edge = 'fk') > 1 THEN
      w := w || ARRAY(
        SELECT format('column %s is personal but not encrypted in a table shared by subjects: in a shared row it stays when one of them is erased, and no export shows it; encrypt it under its writer''s key',
                      l.column_name)
          FROM gdpr._column_labels(t.rel) l
         WHERE l.category IN ('personal', 'sensitive') AND NOT l.encrypted ORDER BY l.attnum);
    END IF;
    -- at the root: columns elsewhere that look like a reference to it but
    -- are neither a foreign key nor a link (same name and type as the id),
    -- and arrays or documents that may hold ids
    IF t.depth = 0 THEN
      w := w || ARRAY(
        SELECT format('column %s.%s looks like a %s id (same name and type) but has no foreign key and no link: link it with gdpr_link() or add a foreign key',
                      a.attrelid::regclass, a.attname, gdpr_data_map.kind)
          FROM gdpr.subject_kind k
          JOIN pg_attribute ra ON ra.attrelid = k.root_table AND ra.attname = k.id_column
          JOIN pg_attribute a ON a.attname IN (k.id_column, k.kind || '_id') AND a.atttypid = ra.atttypid
                             AND a.attnum > 0 AND NOT a.attisdropped AND a.attrelid <> k.root_table
          JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'gdpr')
                                                     AND n.nspname !~ '^pg_(toast|temp)'
         WHERE k.kind = gdpr_data_map.kind
           AND NOT EXISTS (SELECT 1 FROM gdpr._foreign_keys() f WHERE f.conrelid = a.attrelid AND f.contype = 'f'
                              AND a.attnum = ANY (f.conkey))
           AND NOT EXISTS (SELECT 1 FROM gdpr.subject_link l WHERE l.link_table = a.attrelid AND l.link_column = a.attname)
         ORDER BY 1);
    END IF;
    -- a table its owner has not mapped: erased as its foreign key says, never exported or rectified
    IF NOT gdpr._covered(kind, t.rel) THEN
      w := w || format('table is owned by %s, who has not mapped it: erase deletes or detaches its rows as its foreign key says, but export and rectify leave it out until its owner tags it',
                       (SELECT c.relowner::regrole FROM pg_class c WHERE c.oid = t.rel));
    END IF;
    -- columns erasure could not anonymize in rows that must stay
    w := w || ARRAY(SELECT a.problem FROM gdpr._anonymization(t.rel) a WHERE a.problem IS NOT NULL ORDER BY a.attnum);
    -- rules that would make erasure do something else
    w := w || ARRAY(SELECT format('rule %s rewrites %s: erasure refuses this table', r.rulename,
                                  CASE r.ev_type WHEN '3' THEN 'UPDATE' ELSE 'DELETE' END)
                      FROM pg_rewrite r WHERE r.ev_class = t.rel AND r.ev_type IN ('3', '4') ORDER BY r.rulename);
    warnings := w;
    RETURN NEXT;
  END LOOP;
  -- the parent side: rows the subject's rows refer to (depth -1)
  FOR t IN SELECT p.rel, array_agg(format('referred to by %s (%s) of %s', p.constraint_name,
                                          array_to_string(p.cols, ', '), p.child)
                                   ORDER BY p.child::text, p.constraint_name) AS refs
             FROM gdpr._parent_tables(kind) p GROUP BY p.rel ORDER BY p.rel::text LOOP
    table_name := t.rel::text;
    depth := -1;
    reached_by := t.refs;
    SELECT coalesce(jsonb_object_agg(c.category, c.cols), '{}') INTO columns
      FROM (SELECT l.category, jsonb_agg(l.column_name || CASE WHEN l.encrypted THEN ' (encrypted)' ELSE '' END
                                         ORDER BY l.attnum) AS cols
              FROM gdpr._column_labels(t.rel) l WHERE l.category IS NOT NULL GROUP BY l.category) c;
    on_erase := 'the rows the subject''s rows refer to: deleted once no other row refers to them; kept while others do (shared, like a family''s address)';
    warnings := ARRAY(SELECT format('rule %s rewrites %s: erasure refuses this table', r.rulename,
                                    CASE r.ev_type WHEN '3' THEN 'UPDATE' ELSE 'DELETE' END)
                        FROM pg_rewrite r WHERE r.ev_class = t.rel AND r.ev_type IN ('3', '4') ORDER BY r.rulename);
    RETURN NEXT;
  END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_data_map(text) IS
  'The tables holding a kind''s data, how each is reached, its columns by category, what erasure does, and warnings';

-- The compiled plan itself, step by step: the statements erase and export
-- run, in their order, each by its table's owner ($1 is the subject id, $2
-- the key sets collected before). gdpr_data_map describes; this is what
-- runs, so an auditor can read one against the other.
CREATE FUNCTION @extschema@.gdpr_erase_plan(kind text)
  RETURNS TABLE (step integer, phase text, table_name text, action text, statement text)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  plan gdpr.map_cache := gdpr._compiled(kind);
BEGIN
  RETURN QUERY
    SELECT (row_number() OVER (ORDER BY x.o, x.i))::integer, x.phase, x.t, x.a, x.sql
      FROM (SELECT 1 AS o, r.i, 'refused' AS phase, NULL::text AS t, NULL::text AS a, r.v AS sql
              FROM unnest(plan.refusals) WITH ORDINALITY r(v, i)
            UNION ALL
            SELECT 2, 1, 'lock', (SELECT k.root_table::text FROM gdpr.subject_kind k WHERE k.kind = gdpr_erase_plan.kind),
                   'locked', plan.lock_sql
            UNION ALL
            SELECT 3, c.i, 'collect', c.v ->> 'table', c.v ->> 'mode', c.v ->> 'sql'
              FROM jsonb_array_elements(plan.collect_steps) WITH ORDINALITY c(v, i)
            UNION ALL
            SELECT 4, e.i, 'erase', e.v ->> 'table', e.v ->> 'action',
                   concat_ws(E';\n', e.v ->> 'sql', e.v ->> 'apply_sql')
              FROM jsonb_array_elements(plan.erase_steps) WITH ORDINALITY e(v, i)
            UNION ALL
            SELECT 5, c.i, 'check', c.v ->> 'table', 'checked', c.v ->> 'sql'
              FROM jsonb_array_elements(plan.check_steps) WITH ORDINALITY c(v, i)
            UNION ALL
            SELECT 6, x.i, 'export', x.v ->> 'table', 'exported', x.v ->> 'sql'
              FROM jsonb_array_elements(plan.export_steps) WITH ORDINALITY x(v, i)) x;
END
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_erase_plan(text) IS
  'The compiled statements gdpr_erase and gdpr_export run for a kind, in order, with the table and action of each';

-- Any DDL may change the map: drop the compiled statements, follow column
-- renames in the registrations.
CREATE FUNCTION gdpr._on_ddl_command_end() RETURNS event_trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  cmd record;
  new_name name;
BEGIN
  IF to_regclass('gdpr.map_cache') IS NULL THEN
    RETURN;  -- the extension itself is being created or dropped
  END IF;
  -- Temporary objects never hold a subject's data: sessions that create
  -- temp tables must not throw away every compiled plan.
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
                  WHERE c.schema_name IS NULL OR c.schema_name !~ '^pg_temp') THEN
    RETURN;
  END IF;
  DELETE FROM gdpr.map_cache;
  FOR cmd IN SELECT c.objid, c.objsubid FROM pg_event_trigger_ddl_commands() c
              WHERE c.command_tag = 'ALTER TABLE' AND c.object_type = 'table column' LOOP
    SELECT a.attname INTO new_name FROM pg_attribute a WHERE a.attrelid = cmd.objid AND a.attnum = cmd.objsubid;
    UPDATE gdpr.subject_kind k SET id_column = new_name
     WHERE k.root_table = cmd.objid
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = cmd.objid AND a.attname = k.id_column AND NOT a.attisdropped);
    UPDATE gdpr.subject_link l SET link_column = new_name
     WHERE l.link_table = cmd.objid
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = cmd.objid AND a.attname = l.link_column AND NOT a.attisdropped);
    UPDATE gdpr.legal_hold h SET from_column = new_name
     WHERE h.hold_table = cmd.objid
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = cmd.objid AND a.attname = h.from_column AND NOT a.attisdropped);
  END LOOP;
END
$fn$;

-- A dropped table or column leaves the map.
CREATE FUNCTION gdpr._on_sql_drop() RETURNS event_trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  dropped record;
  gone text;
BEGIN
  IF to_regclass('gdpr.map_cache') IS NULL THEN
    RETURN;
  END IF;
  DELETE FROM gdpr.map_cache;
  FOR dropped IN SELECT d.objid, d.objsubid, d.object_type FROM pg_event_trigger_dropped_objects() d
                  WHERE d.object_type IN ('table', 'table column') LOOP
    FOR gone IN
      DELETE FROM gdpr.subject_kind k
       WHERE k.root_table = dropped.objid
         AND (dropped.object_type = 'table'
              OR NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = dropped.objid AND a.attname = k.id_column AND NOT a.attisdropped))
      RETURNING k.kind
    LOOP
      RAISE NOTICE 'pg_gdpr: subject kind "%" is unregistered: its root table or id column was dropped', gone;
    END LOOP;
    DELETE FROM gdpr.subject_link l
     WHERE l.link_table = dropped.objid
       AND (dropped.object_type = 'table'
            OR NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = dropped.objid AND a.attname = l.link_column AND NOT a.attisdropped));
    DELETE FROM gdpr.legal_hold h
     WHERE h.hold_table = dropped.objid
       AND (dropped.object_type = 'table'
            OR NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = dropped.objid AND a.attname = h.from_column AND NOT a.attisdropped));
  END LOOP;
END
$fn$;

CREATE EVENT TRIGGER pg_gdpr_ddl_command_end ON ddl_command_end EXECUTE FUNCTION gdpr._on_ddl_command_end();
CREATE EVENT TRIGGER pg_gdpr_sql_drop ON sql_drop EXECUTE FUNCTION gdpr._on_sql_drop();

-- ---------------------------------------------------------------------------
-- How a table's rows are tied to a subject ("edges"), the SQL predicate that
-- selects one subject's rows, and the per-kind compiled export and erase
-- statements. Everything is rebuilt from the catalog when the schema or the
-- map changes (see the event triggers at the end).
-- ---------------------------------------------------------------------------

-- Each way a map table's rows belong to a subject: the root's id column, a
-- linked column, or a foreign key to a table nearer the root.
CREATE TYPE gdpr.map_edge AS (
  rel regclass, depth integer, edge text, parent regclass, constraint_name name,
  cols name[], parent_cols name[], col_types text[], nullable boolean, on_delete "char");

CREATE FUNCTION gdpr._map_edges(kind text) RETURNS SETOF gdpr.map_edge
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  WITH k AS (SELECT * FROM gdpr._require_kind(kind)),
  t AS (SELECT * FROM gdpr._map_tables(kind)),
  col AS (
    SELECT a.attrelid, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod) AS type_name, a.attnotnull
      FROM pg_attribute a WHERE a.attnum > 0 AND NOT a.attisdropped)
  SELECT t.rel, 0, 'root', NULL::regclass, NULL::name, ARRAY[k.id_column], NULL::name[],
         ARRAY[(SELECT c.type_name FROM col c WHERE c.attrelid = t.rel AND c.attname = k.id_column)],
         false, NULL::"char"
    FROM t, k WHERE t.depth = 0
  UNION ALL
  SELECT t.rel, t.depth, 'link', NULL, NULL, ARRAY[l.link_column], NULL,
         ARRAY[(SELECT c.type_name FROM col c WHERE c.attrelid = t.rel AND c.attname = l.link_column)],
         NOT (SELECT c.attnotnull FROM col c WHERE c.attrelid = t.rel AND c.attname = l.link_column), NULL
    FROM t JOIN gdpr.subject_link l ON l.link_table = t.rel AND l.kind = _map_edges.kind
  UNION ALL
  SELECT t.rel, t.depth, 'fk', p.rel, f.conname,
         ARRAY(SELECT c.attname FROM unnest(f.conkey) WITH ORDINALITY u(n, i)
                 JOIN col c ON c.attrelid = f.conrelid AND c.attnum = u.n ORDER BY u.i),
         ARRAY(SELECT c.attname FROM unnest(f.confkey) WITH ORDINALITY u(n, i)
                 JOIN col c ON c.attrelid = f.confrelid AND c.attnum = u.n ORDER BY u.i),
         NULL,
         NOT EXISTS (SELECT 1 FROM unnest(f.conkey) u(n) JOIN col c ON c.attrelid = f.conrelid AND c.attnum = u.n
                      WHERE c.attnotnull),
         f.confdeltype
    FROM t
    JOIN pg_constraint f ON f.conrelid = t.rel AND f.contype = 'f' AND f.conparentid = 0
    JOIN t p ON p.rel = f.confrelid AND p.depth < t.depth AND p.owning
$fn$;

-- The edges of a kind, walked once: compiling and reporting pass this array
-- down instead of walking the catalog again for every table.
CREATE FUNCTION gdpr._edges(kind text) RETURNS gdpr.map_edge[]
  LANGUAGE sql STABLE AS $fn$
  SELECT ARRAY(SELECT m FROM gdpr._map_edges(kind) m)
$fn$;

CREATE FUNCTION gdpr._qualified(alias text, cols name[]) RETURNS text
  LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT string_agg(format('%I.%I', alias, c), ', ' ORDER BY i)
    FROM unnest(cols) WITH ORDINALITY u(c, i)
$fn$;

-- The predicate selecting one edge's rows of a subject whose id is $1.
CREATE FUNCTION gdpr._edge_predicate(kind text, e gdpr.map_edge, alias text, level integer,
                                     edges gdpr.map_edge[])
  RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  inner_alias text := 'p' || level;
BEGIN
  IF e.edge IN ('root', 'link') THEN
    RETURN format('%I.%I = $1::%s', alias, e.cols[1], e.col_types[1]);
  END IF;
  -- A foreign key to the root's id column: the constraint guarantees the
  -- referenced row, so compare with the id directly instead of joining.
  IF e.parent = (SELECT k.root_table FROM gdpr.subject_kind k WHERE k.kind = _edge_predicate.kind)
     AND e.parent_cols = ARRAY[(SELECT k.id_column FROM gdpr.subject_kind k WHERE k.kind = _edge_predicate.kind)] THEN
    RETURN format('%I.%I = $1::%s', alias, e.cols[1],
                  (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                    WHERE a.attrelid = e.parent AND a.attname = e.parent_cols[1]));
  END IF;
  RETURN format('(%s) IN (SELECT %s FROM %s %I WHERE %s)',
                gdpr._qualified(alias, e.cols), gdpr._qualified(inner_alias, e.parent_cols),
                e.parent, inner_alias, gdpr._owned_predicate(kind, e.parent, inner_alias, level + 1, edges));
END
$fn$;

-- The predicate selecting every row of rel that belongs to the subject $1.
CREATE FUNCTION gdpr._owned_predicate(kind text, rel regclass, alias text, level integer DEFAULT 0,
                                      edges gdpr.map_edge[] DEFAULT NULL)
  RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  e gdpr.map_edge;
  parts text[] := '{}';
BEGIN
  IF edges IS NULL THEN
    edges := gdpr._edges(kind);
  END IF;
  FOR e IN SELECT m.* FROM unnest(edges) m WHERE m.rel = _owned_predicate.rel ORDER BY m.edge, m.constraint_name LOOP
    parts := parts || gdpr._edge_predicate(kind, e, alias, level, edges);
  END LOOP;
  RETURN '(' || array_to_string(parts, ' OR ') || ')';
END
$fn$;

-- Columns erasure anonymizes in rows that must stay: tagged columns other
-- than customer data, except primary key columns, NOT NULL encrypted
-- columns (left to the shredded key) and NOT NULL columns of types without
-- a placeholder.
CREATE FUNCTION gdpr._anonymizable_columns(rel regclass)
  RETURNS TABLE (column_name name, attnum smallint, not_null boolean)
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT l.column_name, l.attnum, l.not_null
    FROM gdpr._column_labels(rel) l
   WHERE l.category IN ('personal', 'sensitive', 'usage', 'technical')
     AND NOT (l.encrypted AND l.not_null)
     AND (NOT l.not_null OR l.type_name IN ('text', 'character varying'))
     AND l.attnum <> ALL (SELECT unnest(i.indkey) FROM pg_index i WHERE i.indrelid = rel AND i.indisprimary)
$fn$;

-- The SET list that anonymizes them: NULL, or for NOT NULL text a unique
-- placeholder.
CREATE FUNCTION gdpr._anonymize_set(rel regclass) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT string_agg(
           format('%I = %s', c.column_name,
                  CASE WHEN NOT c.not_null THEN 'NULL'
                       ELSE '''erased-'' || pg_catalog.gen_random_uuid()' END), ', ' ORDER BY c.attnum)
    FROM gdpr._anonymizable_columns(rel) c
$fn$;

-- True for rows that still hold something _anonymize_set() would erase.
CREATE FUNCTION gdpr._anonymize_pending(rel regclass) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT '(' || string_agg(
           CASE WHEN NOT c.not_null THEN format('t0.%I IS NOT NULL', c.column_name)
                ELSE format('t0.%I NOT LIKE ''erased-%%''', c.column_name) END, ' OR ' ORDER BY c.attnum) || ')'
    FROM gdpr._anonymizable_columns(rel) c
$fn$;

-- Whether rows of a subject in rel can survive its erasure (and so keep
-- referencing their parents): rel is under a legal hold, its rows may be
-- shared with another subject, or a foreign key into it retains rows. The
-- erase statements check for remaining references only where this can
-- happen; elsewhere PostgreSQL's own foreign key checks suffice.
CREATE FUNCTION gdpr._can_retain(kind text, rel regclass, edges gdpr.map_edge[], seen oid[] DEFAULT '{}')
  RETURNS boolean LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  f record;
BEGIN
  IF rel::oid = ANY (seen) THEN
    RETURN true;  -- a cycle: assume the worst
  END IF;
  IF EXISTS (SELECT 1 FROM gdpr.legal_hold h WHERE h.hold_table = rel)
     OR (SELECT count(*) FROM unnest(edges) e WHERE e.rel = _can_retain.rel AND e.edge = 'fk') > 1 THEN
    RETURN true;
  END IF;
  FOR f IN SELECT c.conrelid::regclass AS child, c.conname,
                  NOT EXISTS (SELECT 1 FROM unnest(c.conkey) u(n) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n
                               WHERE a.attnotnull) AS nullable
             FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = rel AND c.conparentid = 0 LOOP
    IF gdpr._fk_retains(kind, f.child, f.conname, f.nullable, edges, seen || rel::oid) THEN
      RETURN true;
    END IF;
  END LOOP;
  RETURN false;
END
$fn$;

-- Whether rows of child referencing a subject's rows through this foreign
-- key can still be there when those rows are deleted.
CREATE FUNCTION gdpr._fk_retains(kind text, child regclass, constraint_name name, nullable boolean,
                                 edges gdpr.map_edge[], seen oid[] DEFAULT '{}')
  RETURNS boolean LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  e gdpr.map_edge;
BEGIN
  SELECT m.* INTO e FROM unnest(edges) m
   WHERE m.rel = child AND m.constraint_name = _fk_retains.constraint_name;
  IF NOT FOUND THEN
    RETURN NOT nullable;  -- not the subject's row: its reference is cleared if it may be NULL
  END IF;
  IF e.on_delete IN ('n', 'd') THEN
    RETURN EXISTS (SELECT 1 FROM gdpr.legal_hold h WHERE h.hold_table = child);  -- detached unless held
  END IF;
  RETURN gdpr._can_retain(kind, child, edges, seen);
END
$fn$;

CREATE FUNCTION gdpr._primary_key(rel regclass) RETURNS name[]
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT ARRAY(SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY u(n, o)
                 JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = u.n
                WHERE i.indrelid = rel AND i.indisprimary ORDER BY u.o)
$fn$;

-- Compiles the export statement and the ordered erase steps of a kind.
CREATE FUNCTION gdpr._compile(kind text) RETURNS gdpr.map_cache
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  ext text := (SELECT quote_ident(n.nspname) FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
                WHERE x.extname = 'pg_gdpr');
  edges gdpr.map_edge[] := gdpr._edges(kind);
  t record;
  e gdpr.map_edge;
  e2 gdpr.map_edge;
  f record;
  pred text;
  held text;
  h gdpr.legal_hold;
  select_list text;
  pk name[];
  export_parts text[] := '{}';
  steps jsonb := '[]';
  anon text;
  shared text;
  unreferenced text;
  result gdpr.map_cache;
BEGIN
  PERFORM gdpr._require_kind(kind);
  FOR t IN SELECT m.rel, m.depth, m.owning FROM gdpr._map_tables(kind) m ORDER BY m.depth DESC, m.rel::text LOOP
    pred := gdpr._owned_predicate(kind, t.rel, 't0', 0, edges);
    pk := gdpr._primary_key(t.rel);

    -- export: every column, encrypted ones decrypted; of rows the subject
    -- is only linked to (detach-only tables), not the personal columns,
    -- which are about someone else
    SELECT string_agg(
             CASE WHEN l.encrypted THEN format(
               'CASE pg_catalog.get_byte(t0.%1$I, 1) WHEN 1 THEN pg_catalog.to_jsonb(%2$s.gdpr_decrypt(t0.%1$I, %3$L)) '
               'ELSE pg_catalog.to_jsonb(pg_catalog.encode(%2$s.gdpr_decrypt_bytea(t0.%1$I, %3$L), ''base64'')) END AS %1$I',
               l.column_name, ext, l.context)
             ELSE format('t0.%I', l.column_name) END, ', ' ORDER BY l.attnum)
      INTO select_list FROM gdpr._column_labels(t.rel) l
     WHERE t.owning OR l.category IS NULL OR l.category NOT IN ('personal', 'sensitive');
    export_parts := format('%L, (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), ''[]''::pg_catalog.jsonb) FROM (SELECT %s FROM %s t0 WHERE %s%s) x)',
                           t.rel::text, select_list, t.rel, pred,
                           CASE WHEN cardinality(pk) > 0 THEN ' ORDER BY ' || gdpr._qualified('t0', pk) ELSE '' END)
                    || export_parts;

    -- erase, step 1: rows under a legal hold stay, re-keyed so that their
    -- encrypted fields outlive the subject's main key
    SELECT * INTO h FROM gdpr.legal_hold lh WHERE lh.hold_table = t.rel;
    held := 'false';
    IF FOUND THEN
      held := format('(t0.%I + %L::interval > pg_catalog.now())', h.from_column, h.keep);
      -- rows newly held are recorded and re-keyed in one statement; a second
      -- erase finds them recorded already and reports nothing to do
      SELECT string_agg(format('%1$I = gdpr._rekey(t0.%1$I, %2$L, %3$L, $1, ''hold'')', l.column_name, l.context, kind), ', ')
        INTO anon FROM gdpr._column_labels(t.rel) l WHERE l.encrypted;
      steps := steps || jsonb_build_object('table', t.rel::text, 'action', 'held', 'sql', format(
        'WITH newly_held AS (INSERT INTO gdpr.hold_release (subject_hash, kind, hold_table, row_key, release_at) '
        'SELECT $2, %L, %L::regclass, pg_catalog.jsonb_build_object(%s), t0.%I + %L::interval FROM %s t0 WHERE %s AND %s '
        'ON CONFLICT DO NOTHING RETURNING row_key)%s SELECT 1 FROM newly_held',
        kind, t.rel::text,
        (SELECT string_agg(format('%L, t0.%I', c, c), ', ') FROM unnest(pk) c),
        h.from_column, h.keep, t.rel, pred, held,
        CASE WHEN anon IS NULL THEN '' ELSE format(
          ', rekeyed AS (UPDATE %s t0 SET %s FROM newly_held n WHERE n.row_key = pg_catalog.jsonb_build_object(%s) RETURNING 1)',
          t.rel, anon, (SELECT string_agg(format('%L, t0.%I', c, c), ', ') FROM unnest(pk) c)) END));
    END IF;

    -- step 2: detach rows that outlive this subject: the schema says so
    -- (ON DELETE SET NULL / SET DEFAULT), or the row also belongs to another
    -- subject through another foreign key of the map (shared)
    FOR e IN SELECT m.* FROM unnest(edges) m WHERE m.rel = t.rel AND m.edge = 'fk' AND m.nullable LOOP
      shared := NULL;
      FOR e2 IN SELECT m.* FROM unnest(edges) m
                 WHERE m.rel = t.rel AND m.edge = 'fk' AND m.constraint_name <> e.constraint_name LOOP
        shared := concat_ws(' OR ', shared, format('((%s) IS NOT NULL AND NOT %s)',
                    gdpr._qualified('t0', e2.cols), gdpr._edge_predicate(kind, e2, 't0', 1, edges)));
      END LOOP;
      IF e.on_delete IN ('n', 'd') OR shared IS NOT NULL THEN
        steps := steps || jsonb_build_object('table', t.rel::text, 'action', 'detached', 'sql', format(
          'UPDATE %s t0 SET (%s) = ROW(%s) WHERE %s AND NOT %s%s',
          t.rel, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(e.cols) c),
          (SELECT string_agg(CASE WHEN e.on_delete = 'd' THEN 'DEFAULT' ELSE 'NULL' END, ', ') FROM unnest(e.cols) c),
          gdpr._edge_predicate(kind, e, 't0', 1, edges), held,
          CASE WHEN e.on_delete IN ('n', 'd') THEN '' ELSE ' AND (' || shared || ')' END));
      END IF;
    END LOOP;

    -- step 3: references from rows that are not the subject's (a manager
    -- column, a sibling table) are cleared where they may be NULL
    unreferenced := '';
    FOR f IN
      SELECT c.conrelid::regclass AS child, c.conname,
             ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY u(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n ORDER BY u.i) AS cols,
             ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY u(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = u.n ORDER BY u.i) AS parent_cols,
             NOT EXISTS (SELECT 1 FROM unnest(c.conkey) u(n) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n
                          WHERE a.attnotnull) AS nullable
        FROM pg_constraint c
       WHERE c.contype = 'f' AND c.confrelid = t.rel AND c.conparentid = 0
       ORDER BY c.conrelid::regclass::text, c.conname
    LOOP
      IF gdpr._fk_retains(kind, f.child, f.conname, f.nullable, edges) THEN
        unreferenced := unreferenced || format(' AND NOT EXISTS (SELECT 1 FROM %s r WHERE (%s) = (%s))',
                                               f.child, gdpr._qualified('r', f.cols), gdpr._qualified('t0', f.parent_cols));
      END IF;
      IF f.nullable AND NOT EXISTS (SELECT 1 FROM unnest(edges) m
                                     WHERE m.rel = f.child AND m.constraint_name = f.conname) THEN
        steps := steps || jsonb_build_object('table', f.child::text, 'action', 'references_cleared', 'sql', format(
          'UPDATE %s r SET (%s) = ROW(%s) WHERE (%s) IN (SELECT %s FROM %s t0 WHERE %s)',
          f.child, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(f.cols) c),
          (SELECT string_agg('NULL', ', ') FROM unnest(f.cols) c),
          gdpr._qualified('r', f.cols), gdpr._qualified('t0', f.parent_cols), t.rel, pred));
      END IF;
    END LOOP;

    -- step 4: delete what nothing else needs
    steps := steps || jsonb_build_object('table', t.rel::text, 'action', 'deleted', 'sql',
      format('DELETE FROM %s t0 WHERE %s AND NOT %s%s', t.rel, pred, held, unreferenced));

    -- step 5: anonymize what had to stay because other rows reference it
    anon := gdpr._anonymize_set(t.rel);
    IF anon IS NOT NULL AND unreferenced <> '' THEN
      steps := steps || jsonb_build_object('table', t.rel::text, 'action', 'anonymized', 'sql',
        format('UPDATE %s t0 SET %s WHERE %s AND NOT %s AND %s', t.rel, anon, pred, held,
               gdpr._anonymize_pending(t.rel)));
    END IF;
  END LOOP;

  result.kind := kind;
  -- jsonb_build_object takes at most 100 arguments: 40 tables per call.
  result.export_sql := 'SELECT ' || (
    SELECT string_agg('pg_catalog.jsonb_build_object(' || array_to_string(chunk, ', ') || ')', ' || ')
      FROM (SELECT array_agg(part ORDER BY i) AS chunk
              FROM unnest(export_parts) WITH ORDINALITY u(part, i) GROUP BY (i - 1) / 40) c);
  result.erase_steps := steps;
  result.categories := (SELECT coalesce(jsonb_object_agg(m.rel::text, to_jsonb(ARRAY(
                            SELECT DISTINCT l.category FROM gdpr._column_labels(m.rel) l
                             WHERE l.category IS NOT NULL ORDER BY 1))), '{}')
                          FROM gdpr._map_tables(kind) m);
  result.built_at := now();
  -- Cache it unless another transaction is caching the same kind right now:
  -- an export must never wait for an uncommitted erase just to share a plan.
  IF NOT pg_try_advisory_xact_lock(hashtext('pg_gdpr.map_cache'), hashtext(kind)) THEN
    RETURN result;
  END IF;
  INSERT INTO gdpr.map_cache AS m VALUES (result.*)
  ON CONFLICT ON CONSTRAINT map_cache_pkey DO UPDATE SET export_sql = excluded.export_sql, erase_steps = excluded.erase_steps,
                                   categories = excluded.categories,
                                   built_at = excluded.built_at;
  RETURN result;
END
$fn$;

CREATE FUNCTION gdpr._compiled(kind text) RETURNS gdpr.map_cache
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  cached gdpr.map_cache;
BEGIN
  SELECT * INTO cached FROM gdpr.map_cache m WHERE m.kind = _compiled.kind;
  IF FOUND THEN
    RETURN cached;
  END IF;
  RETURN gdpr._compile(kind);
END
$fn$;

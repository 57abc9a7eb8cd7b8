-- ---------------------------------------------------------------------------
-- How a table's rows are tied to a subject ("edges"), the SQL predicate that
-- selects one subject's rows, and the per-kind compiled export and erase
-- statements. Everything is rebuilt from the catalog when the schema or the
-- map changes (see the event triggers at the end).
-- ---------------------------------------------------------------------------

-- Each way a map table's rows belong to a subject: the root's id column, a
-- linked column, or a foreign key to a table nearer the root.
-- detach_cols: what ON DELETE SET NULL / SET DEFAULT sets (PostgreSQL 15
-- lets a foreign key name a subset: SET NULL (owner_id)).
CREATE TYPE gdpr.map_edge AS (
  rel regclass, depth integer, edge text, parent regclass, constraint_name name,
  cols name[], parent_cols name[], col_types text[], nullable boolean, on_delete "char",
  detach_cols name[]);

-- The edge a foreign key makes from rel (at depth) to parent.
CREATE FUNCTION gdpr._fk_edge(rel regclass, depth integer, parent regclass, f gdpr.foreign_key)
  RETURNS gdpr.map_edge LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT ROW(rel, depth, 'fk', parent, f.conname,
             ARRAY(SELECT a.attname FROM unnest(f.conkey) WITH ORDINALITY u(n, i)
                     JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = u.n ORDER BY u.i),
             ARRAY(SELECT a.attname FROM unnest(f.confkey) WITH ORDINALITY u(n, i)
                     JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = u.n ORDER BY u.i),
             NULL,
             NOT EXISTS (SELECT 1 FROM unnest(f.conkey) u(n) JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = u.n
                          WHERE a.attnotnull),
             f.confdeltype,
             ARRAY(SELECT a.attname FROM unnest(CASE WHEN f.confdeltype IN ('n', 'd') AND cardinality(f.confdelsetcols) > 0
                                                     THEN f.confdelsetcols ELSE f.conkey END) WITH ORDINALITY u(n, i)
                     JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = u.n ORDER BY u.i))::gdpr.map_edge
$fn$;

CREATE FUNCTION gdpr._map_edges(kind text) RETURNS SETOF gdpr.map_edge
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  WITH k AS (SELECT * FROM gdpr._require_kind(kind)),
  t AS (SELECT * FROM gdpr._map_tables(kind)),
  col AS (
    SELECT a.attrelid, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod) AS type_name, a.attnotnull
      FROM pg_attribute a WHERE a.attnum > 0 AND NOT a.attisdropped)
  SELECT t.rel, 0, 'root', NULL::regclass, NULL::name, ARRAY[k.id_column], NULL::name[],
         ARRAY[(SELECT c.type_name FROM col c WHERE c.attrelid = t.rel AND c.attname = k.id_column)],
         false, NULL::"char", NULL::name[]
    FROM t, k WHERE t.depth = 0
  UNION ALL
  SELECT t.rel, t.depth, 'link', NULL, NULL, ARRAY[l.link_column], NULL,
         ARRAY[(SELECT c.type_name FROM col c WHERE c.attrelid = t.rel AND c.attname = l.link_column)],
         NOT (SELECT c.attnotnull FROM col c WHERE c.attrelid = t.rel AND c.attname = l.link_column), NULL,
         ARRAY[l.link_column]
    FROM t JOIN gdpr.subject_link l ON l.link_table = t.rel AND l.kind = _map_edges.kind
  UNION ALL
  SELECT (gdpr._fk_edge(t.rel, t.depth, p.rel, f)).*
    FROM t
    JOIN gdpr._foreign_keys() f ON f.conrelid = t.rel AND f.contype = 'f' AND f.conparentid = 0
    JOIN t p ON p.rel = f.confrelid AND p.depth < t.depth AND p.owning
$fn$;

-- The order of a kind's tables: each after every table of the map it
-- refers to by a foreign key, so that their key sets are known when its
-- rows are looked for; erasure runs in the reverse order, children first.
-- A cycle is broken at the shallowest table.
CREATE FUNCTION gdpr._plan_order(kind text) RETURNS regclass[]
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  ordered regclass[] := '{}';
  pending regclass[] := ARRAY(SELECT m.rel FROM gdpr._map_tables(kind) m ORDER BY m.depth, m.rel::text);
  next_rel regclass;
BEGIN
  WHILE cardinality(pending) > 0 LOOP
    SELECT c.rel INTO next_rel FROM unnest(pending) WITH ORDINALITY c(rel, i)
     WHERE NOT EXISTS (SELECT 1 FROM gdpr._foreign_keys() fk
                        WHERE fk.contype = 'f' AND fk.conrelid = c.rel AND fk.confrelid <> c.rel AND fk.conparentid = 0
                          AND fk.confrelid = ANY (pending))
     ORDER BY c.i LIMIT 1;
    IF next_rel IS NULL THEN
      next_rel := pending[1];
    END IF;
    ordered := ordered || next_rel;
    pending := array_remove(pending, next_rel);
  END LOOP;
  RETURN ordered;
END
$fn$;

-- The edges of a kind, walked once: compiling and reporting pass this array
-- down instead of walking the catalog again for every table. Besides the
-- walk's edges, every foreign key from a table of the map to an owning
-- table of the map that comes before it in the plan's order: a row that
-- refers to the subject's row there is the subject's too (between tables
-- at the same depth, or back up the walk).
CREATE FUNCTION gdpr._edges(kind text) RETURNS gdpr.map_edge[]
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  WITH walk AS (SELECT m FROM gdpr._map_edges(kind) m),
  tabs AS (SELECT t.rel, t.depth, t.owning, o.i
             FROM gdpr._map_tables(kind) t JOIN unnest(gdpr._plan_order(kind)) WITH ORDINALITY o(rel, i) ON o.rel = t.rel)
  SELECT ARRAY(
    SELECT m FROM walk
    UNION ALL
    SELECT gdpr._fk_edge(c.rel, c.depth, p.rel, f)
      FROM tabs c
      JOIN gdpr._foreign_keys() f ON f.conrelid = c.rel AND f.contype = 'f' AND f.conparentid = 0
      JOIN tabs p ON p.rel = f.confrelid AND p.i < c.i AND p.owning AND p.rel <> c.rel
     WHERE NOT EXISTS (SELECT 1 FROM walk w WHERE (w.m).rel = c.rel AND (w.m).constraint_name = f.conname))
$fn$;

CREATE FUNCTION gdpr._qualified(alias text, cols name[]) RETURNS text
  LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT string_agg(format('%I.%I', alias, c), ', ' ORDER BY i)
    FROM unnest(cols) WITH ORDINALITY u(c, i)
$fn$;

-- Key sets. Every statement pg_gdpr runs on a user's table runs as that
-- table's owner and reads that table only: the values by which rows of
-- other tables belong to the subject (a parent's referenced columns) are
-- collected beforehand, each by its own table's owner, and handed to the
-- next statements in the jsonb parameter $2 under the key set's name.
CREATE FUNCTION gdpr._keyset(rel regclass, cols name[]) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  -- by column number: names may hold any character
  SELECT format('%s(%s)', rel::oid,
                (SELECT string_agg(a.attnum::text, ',' ORDER BY u.i)
                   FROM unnest(cols) WITH ORDINALITY u(c, i)
                   JOIN pg_attribute a ON a.attrelid = rel AND a.attname = u.c))
$fn$;

-- The column types of rel's cols, as cast targets.
CREATE FUNCTION gdpr._column_types(rel regclass, cols name[]) RETURNS text[]
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT ARRAY(SELECT format_type(a.atttypid, a.atttypmod)
                 FROM unnest(cols) WITH ORDINALITY u(c, i)
                 JOIN pg_attribute a ON a.attrelid = rel AND a.attname = u.c ORDER BY u.i)
$fn$;

-- "rel's cols, aliased, are one of the tuples of key set ks" (or are not).
-- The first column is compared with an array built once per statement, so
-- that an index on it is used; composite keys are then matched exactly.
CREATE FUNCTION gdpr._in_keyset(alias text, rel regclass, cols name[], ks text, negate boolean DEFAULT false)
  RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  WITH c AS (SELECT u.c, u.t, u.i FROM unnest(cols, gdpr._column_types(rel, cols)) WITH ORDINALITY u(c, t, i)),
  first AS (
    SELECT format('%I.%I = ANY (ARRAY(SELECT (k ->> 0)::%s FROM pg_catalog.jsonb_array_elements($2 -> %L) k))',
                  alias, c.c, c.t, ks) AS sql
      FROM c WHERE c.i = 1),
  exact AS (
    SELECT format('EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements($2 -> %L) k WHERE %s)', ks,
                  string_agg(format('%I.%I = (k ->> %s)::%s', alias, c.c, c.i - 1, c.t), ' AND ' ORDER BY c.i)) AS sql
      FROM c)
  SELECT CASE WHEN cardinality(cols) = 1 AND negate THEN format('(%s) IS NOT TRUE', first.sql)
              WHEN cardinality(cols) = 1 THEN first.sql
              WHEN negate THEN format('NOT (%s AND %s)', first.sql, exact.sql)
              ELSE format('(%s AND %s)', first.sql, exact.sql) END
    FROM first, exact
$fn$;

-- The jsonb array of one key set's tuples, over the rows aliased alias.
CREATE FUNCTION gdpr._keyset_tuples(alias text, cols name[], only_where text DEFAULT NULL) RETURNS text
  LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT format('COALESCE(pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_array(%s)) FILTER (WHERE %s%s), ''[]''::pg_catalog.jsonb)',
                string_agg(format('%I.%I::pg_catalog.text', alias, c), ', ' ORDER BY i),
                string_agg(format('%I.%I IS NOT NULL', alias, c), ' AND ' ORDER BY i),
                CASE WHEN only_where IS NULL THEN '' ELSE ' AND ' || only_where END)
    FROM unnest(cols) WITH ORDINALITY u(c, i)
$fn$;

-- Whether an edge compares with the subject id directly: the root's id
-- column, a linked column, or a foreign key to the root's id column.
CREATE FUNCTION gdpr._edge_is_direct(k gdpr.subject_kind, e gdpr.map_edge) RETURNS boolean
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT e.edge IN ('root', 'link')
      OR (e.parent = k.root_table AND e.parent_cols = ARRAY[k.id_column])
$fn$;

-- The element type of an array column (NULL for any other column): a
-- linked array names every subject it holds.
CREATE FUNCTION gdpr._element_type(rel regclass, col name) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT format_type(t.typelem, NULL)
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
   WHERE a.attrelid = rel AND a.attname = col AND t.typcategory = 'A' AND t.typelem <> 0
$fn$;

-- The predicate selecting one edge's rows of the subject whose id is $1.
CREATE FUNCTION gdpr._edge_predicate(k gdpr.subject_kind, e gdpr.map_edge, alias text)
  RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE WHEN e.edge = 'link' AND gdpr._element_type(e.rel, e.cols[1]) IS NOT NULL
              THEN format('$1::%s = ANY (%I.%I)', gdpr._element_type(e.rel, e.cols[1]), alias, e.cols[1])
              WHEN gdpr._edge_is_direct(k, e)
              THEN format('%I.%I = $1::%s', alias, e.cols[1], (gdpr._column_types(e.rel, e.cols))[1])
              ELSE gdpr._in_keyset(alias, e.rel, e.cols, gdpr._keyset(e.parent, e.parent_cols)) END
$fn$;

-- The predicate selecting every row of rel that belongs to the subject $1
-- (strict: not the rows tied to it only by ON DELETE SET NULL / SET
-- DEFAULT keys, which its erasure detaches and whose own rows it does not
-- follow).
CREATE FUNCTION gdpr._owned_predicate(k gdpr.subject_kind, rel regclass, alias text, edges gdpr.map_edge[],
                                      strict boolean DEFAULT false)
  RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT '(' || coalesce(string_agg(gdpr._edge_predicate(k, m, alias), ' OR ' ORDER BY m.edge, m.constraint_name), 'false') || ')'
    FROM unnest(edges) m
   WHERE m.rel = _owned_predicate.rel AND NOT (strict AND coalesce(m.on_delete IN ('n', 'd'), false))
$fn$;

-- The ways a row of rel can also belong to someone else, whose erasure
-- must not take it: the row refers, through another edge of the map, to
-- another subject of this kind (a message's other party, a block between
-- two users); it refers to a subject of another kind (a visit is the
-- patient's and the clinician's); or it is itself another kind's subject.
-- Where the other subject is named directly (ref_kind, ref_col), a subject
-- that was erased no longer counts: a shared row goes with its last living
-- subject.
-- Through an edge to a table further down the walk, the row referred to
-- counts as someone else's only if it is attached to anyone at all: rows
-- referring to orphans (a row whose own keys are all NULL) are found per
-- erase (gdpr._collect_keys, mode 'orphans') and do not count.
-- With detached, ties by ON DELETE SET NULL / SET DEFAULT keys count too:
-- they do not make a row someone's, but whose values a detached row holds
-- is only clear when it is tied to nobody else at all.
CREATE FUNCTION gdpr._sharing_parts(k gdpr.subject_kind, rel regclass, edges gdpr.map_edge[],
                                    detached boolean DEFAULT false)
  RETURNS TABLE (part text, ref_kind text, ref_col name, via gdpr.map_edge)
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT format('((%s) IS NOT NULL AND NOT %s%s)', gdpr._qualified('t0', e.cols), gdpr._edge_predicate(k, e, 't0'),
                CASE WHEN gdpr._edge_is_direct(k, e) OR e.edge <> 'fk' THEN ''
                     ELSE ' AND ' || gdpr._in_keyset('t0', rel, e.cols, gdpr._orphan_set(e), true) END),
         CASE WHEN gdpr._edge_is_direct(k, e) THEN k.kind END,
         CASE WHEN gdpr._edge_is_direct(k, e) THEN e.cols[1] END,
         CASE WHEN gdpr._edge_is_direct(k, e) OR e.edge <> 'fk' THEN NULL ELSE e END
    FROM unnest(edges) e
   WHERE e.rel = _sharing_parts.rel AND e.edge IN ('fk', 'link')
     -- a row tied to a parent by ON DELETE SET NULL is not that parent's:
     -- the parent's erasure detaches it
     AND (detached OR coalesce(e.on_delete NOT IN ('n', 'd'), true))
     AND (SELECT count(*) FROM unnest(edges) x WHERE x.rel = _sharing_parts.rel AND x.edge <> 'root') > 1
  UNION ALL
  -- a linked array that names someone else too (a photo of several people)
  SELECT format('pg_catalog.cardinality(pg_catalog.array_remove(t0.%I, $1::%s)) > 0', e.cols[1],
                gdpr._element_type(e.rel, e.cols[1])), NULL, NULL, NULL
    FROM unnest(edges) e
   WHERE e.rel = _sharing_parts.rel AND e.edge = 'link' AND gdpr._element_type(e.rel, e.cols[1]) IS NOT NULL
  UNION ALL
  SELECT 'true', o.kind, o.id_column, NULL FROM gdpr.subject_kind o WHERE o.root_table = rel AND o.kind <> k.kind
  UNION ALL
  SELECT format('(%s) IS NOT NULL', gdpr._qualified('t0', f.cols)),
         CASE WHEN f.parent_cols = ARRAY[f.id_column] THEN f.kind END,
         CASE WHEN f.parent_cols = ARRAY[f.id_column] THEN f.cols[1] END, NULL
    FROM (SELECT o.kind, o.id_column,
                 ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY u(n, i)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n ORDER BY u.i) AS cols,
                 ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY u(n, i)
                         JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = u.n ORDER BY u.i) AS parent_cols
            FROM gdpr._foreign_keys() c JOIN gdpr.subject_kind o ON o.root_table = c.confrelid AND o.kind <> k.kind
           -- a SET NULL key to another kind's subject does not make the row
           -- that subject's: its erasure detaches it
           WHERE c.contype = 'f' AND c.conrelid = rel AND c.conparentid = 0
             AND (detached OR c.confdeltype NOT IN ('n', 'd'))) f
  UNION ALL
  SELECT format('t0.%I IS NOT NULL', l.link_column), l.kind, l.link_column, NULL
    FROM gdpr.subject_link l WHERE l.link_table = rel AND l.kind <> k.kind

$fn$;

-- The key set of the rows an edge refers to that are attached to nobody.
CREATE FUNCTION gdpr._orphan_set(e gdpr.map_edge) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT 'orphans ' || gdpr._keyset(e.rel, e.cols)
$fn$;

-- The key set of the subjects of ref_kind named in rel.ref_col that were
-- erased (see gdpr._collect_keys).
CREATE FUNCTION gdpr._erased_set(rel regclass, ref_kind text, ref_col name) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT 'erased ' || ref_kind || ' ' || gdpr._keyset(rel, ARRAY[ref_col])
$fn$;

-- True for rows of rel that also belong to a living someone else; NULL when
-- no row of rel can be shared.
CREATE FUNCTION gdpr._sharing(k gdpr.subject_kind, rel regclass, edges gdpr.map_edge[],
                              detached boolean DEFAULT false) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT '(' || string_agg(CASE WHEN p.ref_col IS NULL THEN p.part
                                ELSE format('(%s AND %s)', p.part,
                                            gdpr._in_keyset('t0', rel, ARRAY[p.ref_col],
                                                            gdpr._erased_set(rel, p.ref_kind, p.ref_col), true)) END,
                           ' OR ') || ')'
    FROM gdpr._sharing_parts(k, rel, edges, detached) p
$fn$;

-- How erasure anonymizes each tagged column of a row that must stay: the
-- value it writes and the test for a value not yet anonymized. Nullable
-- columns become NULL; NOT NULL ones a placeholder of their (base) type
-- that fits its length: text 'erased-<uuid>' cut to the column's length,
-- zero, the epoch, false, 0.0.0.0, the nil uuid, the enum's first label,
-- an empty array or document. Primary key columns, generated columns
-- (never written) and NOT NULL encrypted columns (unreadable once the key
-- is shredded) are left alone; a NOT NULL column of any other type has no
-- safe placeholder and is reported in problem.
CREATE FUNCTION gdpr._anonymization(rel regclass)
  RETURNS TABLE (column_name name, attnum smallint, set_expr text, pending_expr text, problem text)
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  c record;
  base oid;
  base_mod integer;
  category "char";
  kind "char";
  placeholder text;
  not_null boolean;
  n integer;
BEGIN
  FOR c IN
    SELECT l.column_name, l.attnum, l.not_null, l.encrypted, a.atttypid, a.atttypmod, a.attgenerated
      FROM gdpr._column_labels(rel) l
      JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = l.attnum
     WHERE l.category IN ('personal', 'sensitive', 'usage', 'technical')
       AND a.attgenerated = ''
       AND NOT (l.encrypted AND l.not_null)
       AND l.attnum <> ALL (SELECT unnest(i.indkey) FROM pg_index i WHERE i.indrelid = rel AND i.indisprimary)
     ORDER BY l.attnum
  LOOP
    column_name := c.column_name;
    attnum := c.attnum;
    problem := NULL;
    -- the base type of a domain, the length it allows, and whether the
    -- domain itself forbids NULL
    base := c.atttypid;
    base_mod := c.atttypmod;
    not_null := c.not_null;
    WHILE (SELECT t.typtype FROM pg_type t WHERE t.oid = base) = 'd' LOOP
      SELECT t.typbasetype, CASE WHEN t.typtypmod >= 0 THEN t.typtypmod ELSE base_mod END, not_null OR t.typnotnull
        INTO base, base_mod, not_null FROM pg_type t WHERE t.oid = base;
    END LOOP;
    IF NOT not_null THEN
      set_expr := 'NULL';
      pending_expr := format('t0.%I IS NOT NULL', c.column_name);
      RETURN NEXT;
      CONTINUE;
    END IF;
    SELECT t.typcategory, t.typtype INTO category, kind FROM pg_type t WHERE t.oid = base;
    n := CASE WHEN base IN ('varchar'::regtype, 'bpchar'::regtype) AND base_mod > 4 THEN base_mod - 4 END;
    placeholder := CASE
      WHEN category = 'S' THEN
        format('pg_catalog.left(''erased-'' || pg_catalog.gen_random_uuid()::pg_catalog.text, %s)', coalesce(n, 43))
      WHEN category = 'N' THEN '0'
      WHEN base IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype) THEN '''1970-01-01'''
      WHEN base IN ('time'::regtype, 'timetz'::regtype) THEN '''00:00'''
      WHEN base = 'interval'::regtype THEN '''0'''
      WHEN base = 'bool'::regtype THEN 'false'
      WHEN base = 'inet'::regtype THEN '''0.0.0.0'''
      WHEN base = 'cidr'::regtype THEN '''0.0.0.0/32'''
      WHEN base IN ('macaddr'::regtype, 'macaddr8'::regtype) THEN '''00:00:00:00:00:00'''
      WHEN base = 'uuid'::regtype THEN '''00000000-0000-0000-0000-000000000000'''
      WHEN base = 'bytea'::regtype THEN '''\x'''
      WHEN base IN ('json'::regtype, 'jsonb'::regtype) THEN '''{}'''
      WHEN category = 'A' THEN '''{}'''
      WHEN kind = 'e' THEN quote_literal((SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = base
                                           ORDER BY e.enumsortorder LIMIT 1))
    END;
    -- a domain's checks are the owner's code: the placeholder is tried, as
    -- the owner, before any erase relies on it
    IF placeholder IS NOT NULL AND c.atttypid <> base THEN
      BEGIN
        PERFORM gdpr._owner_query(rel, format('SELECT pg_catalog.to_jsonb((%s)::%s IS NOT NULL)', placeholder,
                                              format_type(c.atttypid, c.atttypmod)), NULL, NULL);
      EXCEPTION WHEN integrity_constraint_violation OR data_exception THEN
        placeholder := NULL;
      END;
    END IF;
    IF placeholder IS NULL THEN
      set_expr := NULL;
      pending_expr := NULL;
      problem := format('column %s is NOT NULL and of type %s, which has no anonymous placeholder that it accepts: make it nullable or encrypt it',
                        c.column_name, format_type(c.atttypid, c.atttypmod));
    ELSIF category = 'S' THEN
      set_expr := placeholder;
      pending_expr := format('t0.%I::pg_catalog.text NOT LIKE %L', c.column_name,
                             left('erased-', coalesce(n, 7)) || '%');
    ELSE
      set_expr := format('(%s)::%s', placeholder, format_type(c.atttypid, c.atttypmod));
      pending_expr := format('t0.%I::pg_catalog.text IS DISTINCT FROM (%s)::%s::pg_catalog.text', c.column_name, placeholder,
                             format_type(c.atttypid, c.atttypmod));
    END IF;
    RETURN NEXT;
  END LOOP;
END
$fn$;

-- The SET list that anonymizes a table's row (NULL when nothing to do).
CREATE FUNCTION gdpr._anonymize_set(rel regclass) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT string_agg(format('%I = %s', a.column_name, a.set_expr), ', ' ORDER BY a.attnum)
    FROM gdpr._anonymization(rel) a WHERE a.set_expr IS NOT NULL
$fn$;

-- True for rows that still hold something _anonymize_set() would erase.
CREATE FUNCTION gdpr._anonymize_pending(rel regclass) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT '(' || string_agg(a.pending_expr, ' OR ' ORDER BY a.attnum) || ')'
    FROM gdpr._anonymization(rel) a WHERE a.pending_expr IS NOT NULL
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
     OR gdpr._sharing(gdpr._require_kind(kind), rel, edges) IS NOT NULL THEN
    RETURN true;
  END IF;
  FOR f IN SELECT c.conrelid::regclass AS child, c.conname,
                  NOT EXISTS (SELECT 1 FROM unnest(c.conkey) u(n) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n
                               WHERE a.attnotnull) AS nullable
             FROM gdpr._foreign_keys() c WHERE c.contype = 'f' AND c.confrelid = rel AND c.conparentid = 0 LOOP
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

-- Rows on the parent side: a table outside the map that owning tables of
-- the map refer to by a foreign key (the subject's address row). Its rows
-- referred to by the subject's rows are the subject's too, and erase
-- deletes each one that no other row refers to any more; a row others
-- still refer to (a family's address) is shared and stays. Only a table
-- whose owner tagged personal or sensitive columns in it and has the
-- rights of the referring table's owner qualifies: a lookup table (a
-- country, a product) never does, and nobody can make erase delete
-- another owner's rows by referring to them. Another kind's root is that
-- kind's subject, never this one's; and a table whose rows hang off any
-- subject through a chain of foreign keys (even ON DELETE SET NULL ones)
-- or a link belongs to whoever its rows hang off, so it never is a parent
-- side either.
CREATE FUNCTION gdpr._hangs_off_subject(rel regclass) RETURNS boolean
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  WITH RECURSIVE up(rel) AS (
    SELECT rel::oid
    UNION
    SELECT f.confrelid FROM up JOIN gdpr._foreign_keys() f ON f.conrelid = up.rel AND f.conparentid = 0)
  SELECT EXISTS (SELECT 1 FROM up WHERE up.rel IN (SELECT k.root_table FROM gdpr.subject_kind k)
                                     OR up.rel IN (SELECT l.link_table FROM gdpr.subject_link l))
$fn$;

CREATE FUNCTION gdpr._parent_tables(kind text)
  RETURNS TABLE (rel regclass, child regclass, constraint_name name, cols name[], parent_cols name[])
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  WITH m AS (SELECT * FROM gdpr._map_tables(kind)),
  -- the cheap tests first, once: the walk up the keys runs only for the
  -- few tables left
  candidate AS MATERIALIZED (
    SELECT f.confrelid::regclass AS rel, f.conrelid::regclass AS child, f.conname, f.conkey, f.confkey
      FROM gdpr._foreign_keys() f
      JOIN m ON m.rel = f.conrelid AND m.owning
      JOIN pg_class pc ON pc.oid = f.confrelid
      JOIN pg_class cc ON cc.oid = f.conrelid
     WHERE f.conparentid = 0
       AND f.confrelid NOT IN (SELECT m2.rel FROM m m2)
       AND NOT EXISTS (SELECT 1 FROM gdpr.subject_kind o WHERE o.root_table = f.confrelid)
       AND pg_has_role(pc.relowner, cc.relowner, 'USAGE')),
  parent AS MATERIALIZED (
    SELECT DISTINCT c.rel FROM candidate c
     WHERE EXISTS (SELECT 1 FROM gdpr._column_labels(c.rel) l WHERE l.category IN ('personal', 'sensitive'))),
  eligible AS MATERIALIZED (
    SELECT p.rel FROM parent p WHERE NOT gdpr._hangs_off_subject(p.rel))
  SELECT c.rel, c.child, c.conname,
         ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY u(n, i)
                 JOIN pg_attribute a ON a.attrelid = c.child AND a.attnum = u.n ORDER BY u.i),
         ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY u(n, i)
                 JOIN pg_attribute a ON a.attrelid = c.rel AND a.attnum = u.n ORDER BY u.i)
    FROM candidate c JOIN eligible e ON e.rel = c.rel
   ORDER BY 1, 2, 3
$fn$;

-- The step that lists, by the referring table's owner, which rows of key
-- set ks the rows of child still refer to (through cols), as key set
-- ref_name.
CREATE FUNCTION gdpr._references_found_step(child regclass, cols name[], ks text, ref_name text) RETURNS jsonb
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT jsonb_build_object('table', child::text, 'rel', child::oid, 'action', 'references_found', 'mode', 'collect',
    'sql', format('SELECT pg_catalog.jsonb_build_object(%L, %s) FROM %s r WHERE %s',
                  ref_name, gdpr._keyset_tuples('r', cols), child, gdpr._in_keyset('r', child, cols, ks)))
$fn$;

-- Compiles a kind's plan: the statement that locks the subject's root row,
-- the key-set collection (parents first), the export statement of each
-- table and the ordered erase steps. Every statement names one user table,
-- runs as its owner (gdpr._owner_exec / _owner_query) and takes the subject
-- id as $1 and the key sets as $2. Steps that write pg_gdpr's own catalog
-- (holds) return what they found and leave the writing to the caller.
CREATE FUNCTION gdpr._compile(kind text) RETURNS gdpr.map_cache
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  k gdpr.subject_kind := gdpr._require_kind(kind);
  edges gdpr.map_edge[] := gdpr._edges(kind);
  t record;
  e gdpr.map_edge;
  e2 gdpr.map_edge;
  f record;
  pred text;
  preds jsonb := '{}';
  held text;
  h gdpr.legal_hold;
  select_list text;
  encrypted jsonb;
  pk name[];
  needed jsonb := '{}';   -- table oid -> {key set name: [columns]}
  collect jsonb := '[]';
  exports jsonb := '[]';
  steps jsonb := '[]';
  checks jsonb := '[]';
  refusals text[] := '{}';
  rule record;
  anon text;
  unreferenced text;
  ref_name text;
  ref_count integer := 0;
  ks text;
  sharing text;
  sharings jsonb := '{}';  -- table -> its sharing predicate (null: none)
  sharings_any jsonb := '{}';  -- the same, ties by SET NULL keys included
  sharing_any text;
  strict_pred text;
  own_values text;
  part record;
  ordered regclass[];
  result gdpr.map_cache;
BEGIN
  -- The key sets the statements below read: the parents of foreign-key
  -- edges that do not compare with the id directly, and every table of the
  -- map referenced by a foreign key (its referencing rows are cleared or
  -- checked by the referenced columns).
  FOR e IN SELECT m.* FROM unnest(edges) m WHERE m.edge = 'fk' AND NOT gdpr._edge_is_direct(k, m) LOOP
    needed := jsonb_set(needed, ARRAY[e.parent::oid::text],
                        coalesce(needed -> e.parent::oid::text, '{}')
                        || jsonb_build_object(gdpr._keyset(e.parent, e.parent_cols), to_jsonb(e.parent_cols)));
  END LOOP;
  FOR t IN SELECT m.rel FROM gdpr._map_tables(kind) m LOOP
    FOR f IN SELECT ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY u(n, i)
                            JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = u.n ORDER BY u.i) AS parent_cols
               FROM gdpr._foreign_keys() c WHERE c.contype = 'f' AND c.confrelid = t.rel AND c.conparentid = 0 LOOP
      needed := jsonb_set(needed, ARRAY[t.rel::oid::text],
                          coalesce(needed -> t.rel::oid::text, '{}')
                          || jsonb_build_object(gdpr._keyset(t.rel, f.parent_cols), to_jsonb(f.parent_cols)));
    END LOOP;
  END LOOP;

  -- the subject's rows' references to parent-side rows
  FOR f IN SELECT * FROM gdpr._parent_tables(kind) LOOP
    needed := jsonb_set(needed, ARRAY[f.child::oid::text],
                        coalesce(needed -> f.child::oid::text, '{}')
                        || jsonb_build_object(gdpr._keyset(f.child, f.cols), to_jsonb(f.cols)));
  END LOOP;

  ordered := gdpr._plan_order(kind);

  -- Collection, in that order: a table's predicate reads its parents' sets.
  FOR t IN SELECT c.rel, i FROM unnest(ordered) WITH ORDINALITY c(rel, i) ORDER BY i LOOP
    pred := gdpr._owned_predicate(k, t.rel, 't0', edges);
    preds := preds || jsonb_build_object(t.rel::text, pred);
    -- which of the other subjects named in the subject's rows were erased
    collect := collect || coalesce((
      SELECT jsonb_agg(DISTINCT jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'mode', 'erased',
               'name', gdpr._erased_set(t.rel, p.ref_kind, p.ref_col), 'ref_kind', p.ref_kind, 'sql', format(
               'SELECT pg_catalog.to_jsonb(COALESCE(pg_catalog.array_agg(DISTINCT t0.%1$I::pg_catalog.text) FILTER (WHERE t0.%1$I IS NOT NULL), ''{}'')) FROM %2$s t0 WHERE %3$s',
               p.ref_col, t.rel, pred)))
        FROM gdpr._sharing_parts(k, t.rel, edges, true) p WHERE p.ref_col IS NOT NULL), '[]');
    -- which rows the subject's rows refer to through an edge belong to no
    -- living subject: the owner of this table lists them, the parent's
    -- owner reports each one's ties (ids of subjects it names directly,
    -- and whether it hangs off anything else), and pg_gdpr keeps those
    -- whose direct subjects are all erased and that hang off nothing else
    collect := collect || coalesce((
      SELECT jsonb_agg(jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'mode', 'orphans',
               'name', gdpr._orphan_set(p.via), 'parent', (p.via).parent::oid,
               'sql', format('SELECT pg_catalog.jsonb_build_object(''candidates'', %s) FROM %s t0 WHERE %s',
                             gdpr._keyset_tuples('t0', (p.via).cols, 'NOT ' || gdpr._edge_predicate(k, p.via, 't0')),
                             t.rel, pred),
               'check_sql', format(
                 'SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(%s), '
                 'pg_catalog.jsonb_build_array(%s), %s)), ''[]''::pg_catalog.jsonb) FROM %s t0 WHERE %s',
                 (SELECT string_agg(format('t0.%I::pg_catalog.text', c), ', ') FROM unnest((p.via).parent_cols) c),
                 coalesce((SELECT string_agg(format('t0.%I::pg_catalog.text', x.cols[1]), ', ')
                             FROM unnest(edges) x
                            WHERE x.rel = (p.via).parent AND x.edge <> 'root' AND gdpr._edge_is_direct(k, x)), ''),
                 coalesce((SELECT string_agg(format('((%s) IS NOT NULL)', gdpr._qualified('t0', x.cols)), ' OR ')
                             FROM unnest(edges) x
                            WHERE x.rel = (p.via).parent AND x.edge <> 'root' AND NOT gdpr._edge_is_direct(k, x)), 'false'),
                 (p.via).parent,
                 gdpr._in_keyset('t0', (p.via).parent, (p.via).parent_cols, 'candidates'))))
        FROM gdpr._sharing_parts(k, t.rel, edges, true) p WHERE (p.via).rel IS NOT NULL), '[]');
    -- rows shared with someone else are not the subject's alone: what hangs
    -- off them is not followed
    sharing := gdpr._sharing(k, t.rel, edges);
    sharings := sharings || jsonb_build_object(t.rel::text, sharing);
    sharings_any := sharings_any || jsonb_build_object(t.rel::text, gdpr._sharing(k, t.rel, edges, true));
    CONTINUE WHEN needed -> t.rel::oid::text IS NULL;
    collect := collect || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'mode', 'keys', 'sql', format(
      'SELECT pg_catalog.jsonb_build_object(%s) FROM %s t0 WHERE %s',
      (SELECT string_agg(format('%L, %s', n.key,
                                gdpr._keyset_tuples('t0', ARRAY(SELECT jsonb_array_elements_text(n.value))::name[],
                                                    gdpr._owned_predicate(k, t.rel, 't0', edges, true)
                                                    || CASE WHEN sharing IS NULL THEN '' ELSE ' AND NOT ' || sharing END)), ', ')
         FROM jsonb_each(needed -> t.rel::oid::text) n),
      t.rel, pred));
  END LOOP;

  FOR t IN SELECT m.rel, m.depth, m.owning FROM gdpr._map_tables(kind) m
            JOIN unnest(ordered) WITH ORDINALITY c(rel, i) ON c.rel = m.rel ORDER BY c.i DESC LOOP
    pred := preds ->> t.rel::text;
    pk := gdpr._primary_key(t.rel);
    sharing := sharings ->> t.rel::text;
    sharing_any := sharings_any ->> t.rel::text;
    strict_pred := gdpr._owned_predicate(k, t.rel, 't0', edges, true);
    -- Whose are a row's plaintext personal values: the subject's in a row
    -- that is its alone, and in a row detached from it (ON DELETE SET NULL)
    -- that is tied to nobody else; in a row shared with anyone they cannot
    -- be told apart, so they are nobody's to export or erase. Encrypted
    -- values say whose they are: their key.
    own_values := format('(NOT %s AND (%s OR NOT %s))', coalesce(sharing, 'false'), strict_pred,
                         coalesce(sharing_any, 'false'));

    -- export: every column; encrypted ones are decrypted afterwards by
    -- pg_gdpr, never inside the owner's statement, and only when the
    -- subject's own key sealed them; plaintext personal values only where
    -- they are the subject's (above). A table with inheritance children is
    -- read ONLY, and each child on its own with its own columns too (the
    -- inherited ones labelled as in the parent).
    FOR part IN
      WITH RECURSIVE tree AS (
        SELECT t.rel::oid AS rel, 0 AS lvl
        UNION ALL
        SELECT i.inhrelid, tree.lvl + 1 FROM tree JOIN pg_inherits i ON i.inhparent = tree.rel
          JOIN pg_class c ON c.oid = i.inhrelid WHERE NOT c.relispartition)
      SELECT tree.rel::regclass AS rel, tree.lvl,
             EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                      WHERE i.inhparent = tree.rel AND NOT c.relispartition) AS has_children
        FROM tree ORDER BY tree.lvl DESC, tree.rel::regclass::text DESC
    LOOP
      SELECT string_agg(CASE WHEN l.category IN ('personal', 'sensitive') AND NOT l.encrypted
                             THEN format('CASE WHEN %s THEN t0.%I END AS %I', own_values, l.column_name, l.column_name)
                             ELSE format('t0.%I', l.column_name) END, ', ' ORDER BY l.attnum),
             coalesce(jsonb_object_agg(l.column_name, l.context) FILTER (WHERE l.encrypted), '{}')
        INTO select_list, encrypted
        FROM (SELECT cl.column_name, cl.attnum, coalesce(pl.category, cl.category) AS category,
                     CASE WHEN pl.category IS NOT NULL THEN pl.encrypted ELSE cl.encrypted END AS encrypted,
                     CASE WHEN pl.category IS NOT NULL THEN pl.context ELSE cl.context END AS context
                FROM gdpr._column_labels(part.rel) cl
                LEFT JOIN gdpr._column_labels(t.rel) pl ON pl.column_name = cl.column_name) l;
      exports := jsonb_build_object('table', part.rel::text, 'rel', part.rel::oid, 'encrypted', encrypted, 'sql', format(
        'SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), ''[]''::pg_catalog.jsonb) FROM (SELECT %s FROM %s%s t0 WHERE %s%s) x',
        select_list, CASE WHEN part.has_children THEN 'ONLY ' ELSE '' END, part.rel, pred,
        CASE WHEN cardinality(pk) > 0 THEN ' ORDER BY ' || gdpr._qualified('t0', pk) ELSE '' END)) || exports;
    END LOOP;

    -- erase, step 1: rows under a legal hold stay. The owner's statement
    -- lists them with their encrypted values; pg_gdpr records them and
    -- re-keys those values so that they outlive the subject's main key,
    -- and the apply statement writes them back.
    SELECT * INTO h FROM gdpr.legal_hold lh WHERE lh.hold_table = t.rel;
    held := 'false';
    IF FOUND THEN
      -- A row whose date is NULL has not started its legal period: it is
      -- not held, and is erased like any other row.
      held := format('COALESCE(t0.%I + %L::interval > pg_catalog.now(), false)', h.from_column, h.keep);
      SELECT coalesce(jsonb_object_agg(l.column_name, l.context), '{}') INTO encrypted
        FROM gdpr._column_labels(t.rel) l WHERE l.encrypted;
      steps := steps || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'action', 'held', 'mode', 'hold',
        'encrypted', encrypted,
        'sql', format(
          'SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''row_key'', pg_catalog.jsonb_build_object(%s), '
          '''release_at'', t0.%I + %L::interval, ''values'', pg_catalog.jsonb_build_object(%s))), ''[]''::pg_catalog.jsonb) '
          'FROM %s t0 WHERE %s AND %s',
          (SELECT string_agg(format('%L, t0.%I', c, c), ', ') FROM unnest(pk) c),
          h.from_column, h.keep,
          coalesce((SELECT string_agg(format('%L, pg_catalog.encode(t0.%I, ''hex'')', c.key, c.key), ', ')
                      FROM jsonb_each_text(encrypted) c), ''),
          t.rel, pred, held),
        'apply_sql', CASE WHEN encrypted = '{}' THEN NULL ELSE format(
          'UPDATE %s t0 SET %s FROM pg_catalog.jsonb_array_elements($2 -> ''rekeyed'') v WHERE %s',
          t.rel,
          (SELECT string_agg(format('%I = COALESCE(pg_catalog.decode(v.value -> ''values'' ->> %L, ''hex''), t0.%I)',
                                    c.key, c.key, c.key), ', ')
             FROM jsonb_each_text(encrypted) c),
          (SELECT string_agg(format('t0.%I = (v.value -> ''row_key'' ->> %L)::%s', c, c,
                                    (gdpr._column_types(t.rel, ARRAY[c]))[1]), ' AND ')
             FROM unnest(pk) c)) END);
    END IF;

    -- step 2: rows the schema detaches from the subject (ON DELETE SET
    -- NULL / SET DEFAULT) and that are tied to nobody else hold the
    -- subject's values (a review's author name): anonymized first, while
    -- their key still says whose they are
    IF EXISTS (SELECT 1 FROM unnest(edges) m WHERE m.rel = t.rel AND m.on_delete IN ('n', 'd')) THEN
      anon := gdpr._anonymize_set(t.rel);
      refusals := refusals || ARRAY(SELECT format('%s: %s', t.rel, a.problem) FROM gdpr._anonymization(t.rel) a
                                     WHERE a.problem IS NOT NULL ORDER BY a.attnum);
      IF anon IS NOT NULL THEN
        steps := steps || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'action', 'anonymized', 'mode', 'exec', 'sql',
          format('UPDATE %s t0 SET %s WHERE %s AND NOT %s AND NOT %s AND NOT %s AND %s', t.rel, anon, pred, strict_pred, held,
                 coalesce(sharing_any, 'false'), gdpr._anonymize_pending(t.rel)));
      END IF;
    END IF;

    -- a linked array loses the subject's id in every row that stays
    FOR e IN SELECT m.* FROM unnest(edges) m
              WHERE m.rel = t.rel AND m.edge = 'link' AND gdpr._element_type(m.rel, m.cols[1]) IS NOT NULL LOOP
      steps := steps || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'action', 'detached', 'mode', 'exec', 'sql', format(
        'UPDATE %s t0 SET %I = pg_catalog.array_remove(t0.%I, $1::%s) WHERE %s AND NOT %s AND %s',
        t.rel, e.cols[1], e.cols[1], gdpr._element_type(e.rel, e.cols[1]), gdpr._edge_predicate(k, e, 't0'), held,
        coalesce(sharing, 'false')));
    END LOOP;

    -- then detach rows that outlive this subject: the schema says so
    -- (ON DELETE SET NULL / SET DEFAULT, on the columns it names), or the
    -- row also belongs to someone else and this reference may be NULL
    FOR e IN SELECT m.* FROM unnest(edges) m
              WHERE m.rel = t.rel AND m.edge = 'fk' AND (m.nullable OR m.on_delete IN ('n', 'd')) LOOP
      IF e.on_delete IN ('n', 'd') OR sharing IS NOT NULL THEN
        steps := steps || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'action', 'detached', 'mode', 'exec', 'sql', format(
          'UPDATE %s t0 SET (%s) = ROW(%s) WHERE %s AND NOT %s%s',
          t.rel, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(e.detach_cols) c),
          (SELECT string_agg(CASE WHEN e.on_delete = 'd' THEN 'DEFAULT' ELSE 'NULL' END, ', ') FROM unnest(e.detach_cols) c),
          gdpr._edge_predicate(k, e, 't0'), held,
          CASE WHEN e.on_delete IN ('n', 'd') THEN '' ELSE ' AND ' || sharing END));
      END IF;
    END LOOP;

    -- step 3: references from rows that are not the subject's (a manager
    -- column, a sibling table) are cleared where they may be NULL; rows of
    -- tables that keep referencing the subject's rows are found, by the
    -- referencing table's owner, just before those rows are deleted
    unreferenced := '';
    FOR f IN
      SELECT c.conrelid::regclass AS child, c.conname,
             ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY u(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n ORDER BY u.i) AS cols,
             ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY u(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = u.n ORDER BY u.i) AS parent_cols,
             -- the columns a reference is cleared by: those ON DELETE SET NULL (cols) names
             ARRAY(SELECT a.attname FROM unnest(CASE WHEN cardinality(c.confdelsetcols) > 0 THEN c.confdelsetcols
                                                     ELSE c.conkey END) WITH ORDINALITY u(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n ORDER BY u.i) AS clear_cols,
             NOT EXISTS (SELECT 1 FROM unnest(CASE WHEN cardinality(c.confdelsetcols) > 0 THEN c.confdelsetcols
                                                   ELSE c.conkey END) u(n)
                           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n
                          WHERE a.attnotnull) AS nullable
        FROM gdpr._foreign_keys() c
       WHERE c.contype = 'f' AND c.confrelid = t.rel AND c.conparentid = 0
         AND t.owning  -- rows of a detach-only table stay: nothing refers to a deleted row
       ORDER BY c.conrelid::regclass::text, c.conname
    LOOP
      ks := gdpr._keyset(t.rel, f.parent_cols);
      IF gdpr._fk_retains(kind, f.child, f.conname, f.nullable, edges) THEN
        ref_count := ref_count + 1;
        ref_name := 'still_referenced_' || ref_count;
        steps := steps || gdpr._references_found_step(f.child, f.cols, ks, ref_name);
        unreferenced := unreferenced || ' AND ' || gdpr._in_keyset('t0', t.rel, f.parent_cols, ref_name, true);
      END IF;
      IF f.nullable AND NOT EXISTS (SELECT 1 FROM unnest(edges) m
                                     WHERE m.rel = f.child AND m.constraint_name = f.conname) THEN
        steps := steps || jsonb_build_object('table', f.child::text, 'rel', f.child::oid, 'action', 'references_cleared',
          'mode', 'exec', 'sql', format(
          'UPDATE %s r SET (%s) = ROW(%s) WHERE %s',
          f.child, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(f.clear_cols) c),
          (SELECT string_agg('NULL', ', ') FROM unnest(f.clear_cols) c),
          gdpr._in_keyset('r', f.child, f.cols, ks)));
        -- what erase changes there, export shows: the row's key and its
        -- reference to the subject (the rest of the row is someone else's)
        exports := exports || jsonb_build_object('table', format('%s (references to the subject)', f.child),
          'rel', f.child::oid, 'references', true, 'encrypted', '{}'::jsonb, 'sql', format(
          'SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), ''[]''::pg_catalog.jsonb) FROM (SELECT %s FROM %s r WHERE %s) x',
          (SELECT string_agg(format('r.%I', c), ', ') FROM (SELECT DISTINCT c FROM unnest(gdpr._primary_key(f.child) || f.cols) c) u),
          f.child, gdpr._in_keyset('r', f.child, f.cols, ks)));
      END IF;
    END LOOP;

    -- step 4: delete what nothing else needs
    steps := steps || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'action', 'deleted', 'mode', 'exec', 'sql',
      format('DELETE FROM %s t0 WHERE %s AND NOT %s%s%s', t.rel, pred, held, unreferenced,
             CASE WHEN sharing IS NULL THEN '' ELSE ' AND NOT ' || sharing END));

    -- step 5: anonymize what had to stay because other rows reference it
    anon := gdpr._anonymize_set(t.rel);
    IF unreferenced <> '' THEN
      refusals := refusals || ARRAY(SELECT format('%s: %s', t.rel, a.problem) FROM gdpr._anonymization(t.rel) a
                                     WHERE a.problem IS NOT NULL ORDER BY a.attnum);
    END IF;
    IF anon IS NOT NULL AND unreferenced <> '' THEN
      steps := steps || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'action', 'anonymized', 'mode', 'exec', 'sql',
        format('UPDATE %s t0 SET %s WHERE %s AND NOT %s AND %s%s', t.rel, anon, pred, held,
               gdpr._anonymize_pending(t.rel), CASE WHEN sharing IS NULL THEN '' ELSE ' AND NOT ' || sharing END));
    END IF;

    -- the erase's own check, afterwards: of this table, only held rows may
    -- remain, and rows kept because others reference them once nothing
    -- tagged of the subject is left in them
    -- (it also counts the rows kept because they belong to someone else
    -- too, for the report)
    checks := checks || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'sql', format(
      'SELECT pg_catalog.jsonb_build_object(''left'', count(*) FILTER (WHERE NOT %2$s AND %3$s AND NOT %4$s), '
      '''shared'', count(*) FILTER (WHERE NOT %2$s AND %4$s)) FROM %1$s t0 WHERE %5$s',
      t.rel, held,
      CASE WHEN unreferenced = '' THEN 'true' ELSE coalesce(gdpr._anonymize_pending(t.rel), 'false') END,
      coalesce(sharing, 'false'), pred));
  END LOOP;

  -- Parent-side rows, last: once the subject's rows are gone, each one no
  -- other row refers to is deleted. Which rows still are referred to is
  -- asked of every referring table's owner, by the referenced columns.
  FOR t IN SELECT p.rel,
                  '(' || string_agg(gdpr._in_keyset('t0', p.rel, p.parent_cols, gdpr._keyset(p.child, p.cols)), ' OR ') || ')' AS pred
             FROM gdpr._parent_tables(kind) p GROUP BY p.rel ORDER BY p.rel::text LOOP
    SELECT string_agg(format('t0.%I', l.column_name), ', ' ORDER BY l.attnum),
           coalesce(jsonb_object_agg(l.column_name, l.context) FILTER (WHERE l.encrypted), '{}')
      INTO select_list, encrypted FROM gdpr._column_labels(t.rel) l;
    pk := gdpr._primary_key(t.rel);
    exports := exports || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'encrypted', encrypted, 'sql', format(
      'SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), ''[]''::pg_catalog.jsonb) FROM (SELECT %s FROM %s t0 WHERE %s%s) x',
      select_list, t.rel, t.pred,
      CASE WHEN cardinality(pk) > 0 THEN ' ORDER BY ' || gdpr._qualified('t0', pk) ELSE '' END));
    unreferenced := '';
    FOR f IN
      SELECT c.conrelid::regclass AS child,
             ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY u(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n ORDER BY u.i) AS cols,
             ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY u(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = u.n ORDER BY u.i) AS parent_cols
        FROM gdpr._foreign_keys() c
       WHERE c.confrelid = t.rel AND c.conparentid = 0
       ORDER BY c.conrelid::regclass::text, c.conname
    LOOP
      ks := 'parent rows ' || gdpr._keyset(t.rel, f.parent_cols);
      ref_count := ref_count + 1;
      ref_name := 'still_referenced_' || ref_count;
      steps := steps || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'action', 'parent_rows', 'mode', 'collect',
        'sql', format('SELECT pg_catalog.jsonb_build_object(%L, %s) FROM %s t0 WHERE %s',
                      ks, gdpr._keyset_tuples('t0', f.parent_cols), t.rel, t.pred));
      steps := steps || gdpr._references_found_step(f.child, f.cols, ks, ref_name);
      unreferenced := unreferenced || ' AND ' || gdpr._in_keyset('t0', t.rel, f.parent_cols, ref_name, true);
    END LOOP;
    steps := steps || jsonb_build_object('table', t.rel::text, 'rel', t.rel::oid, 'action', 'deleted', 'mode', 'exec', 'sql',
      format('DELETE FROM %s t0 WHERE %s%s', t.rel, t.pred, unreferenced));
  END LOOP;

  -- Rules that rewrite DELETE or UPDATE on a table erase writes to would
  -- make it do something else than the plan says.
  FOR rule IN
    SELECT DISTINCT r.ev_class::regclass AS rel, r.rulename,
           CASE r.ev_type WHEN '3' THEN 'UPDATE' ELSE 'DELETE' END AS event
      FROM pg_rewrite r
     WHERE r.ev_type IN ('3', '4')
       AND r.ev_class IN (SELECT (x->>'rel')::oid FROM jsonb_array_elements(steps) x WHERE x->>'mode' <> 'collect')
     ORDER BY 1, 2
  LOOP
    refusals := refusals || format('%s: rule %s rewrites %s, so erasure cannot know what it does', rule.rel, rule.rulename, rule.event);
  END LOOP;

  result.kind := kind;
  -- The subject's root row is locked first: a concurrent insert of a row
  -- referencing it waits for the erase, then fails its foreign key.
  result.lock_sql := format('SELECT 1 FROM %s t0 WHERE t0.%I = $1::%s FOR UPDATE', k.root_table, k.id_column,
                            (gdpr._column_types(k.root_table, ARRAY[k.id_column]))[1]);
  result.collect_steps := collect;
  result.export_steps := exports;
  result.erase_steps := steps;
  result.check_steps := checks;
  result.refusals := ARRAY(SELECT DISTINCT r FROM unnest(refusals) r ORDER BY r);
  result.predicates := preds;
  result.tables := ARRAY(SELECT m.rel FROM gdpr._map_tables(kind) m ORDER BY m.depth, m.rel::text);
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
  ON CONFLICT ON CONSTRAINT map_cache_pkey
  DO UPDATE SET lock_sql = excluded.lock_sql, collect_steps = excluded.collect_steps,
                export_steps = excluded.export_steps, erase_steps = excluded.erase_steps,
                check_steps = excluded.check_steps, refusals = excluded.refusals,
                predicates = excluded.predicates, tables = excluded.tables,
                categories = excluded.categories, built_at = excluded.built_at;
  RETURN result;
END
$fn$;

-- The kind's plan, compiled at most once between changes of the schema or
-- the map; the owners' permission is checked on every call.
CREATE FUNCTION gdpr._compiled(kind text) RETURNS gdpr.map_cache
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  cached gdpr.map_cache;
BEGIN
  SELECT * INTO cached FROM gdpr.map_cache m WHERE m.kind = _compiled.kind;
  IF NOT FOUND THEN
    cached := gdpr._compile(kind);
  END IF;
  PERFORM gdpr._require_map_rights(cached);
  RETURN cached;
END
$fn$;

-- Runs the plan's collection steps: the key sets of the subject's rows,
-- each read by its own table's owner.
CREATE FUNCTION gdpr._collect_keys(plan gdpr.map_cache, subject_id text) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  step jsonb;
  keys jsonb := '{}';
BEGIN
  FOR step IN SELECT s FROM jsonb_array_elements(plan.collect_steps) s LOOP
    IF step->>'mode' = 'orphans' THEN
      keys := keys || jsonb_build_object(step->>'name', (
        SELECT coalesce(jsonb_agg(r.value -> 0), '[]')
          FROM jsonb_array_elements(gdpr._owner_query((step->>'parent')::oid, step->>'check_sql', subject_id,
                 keys || gdpr._owner_query((step->>'rel')::oid, step->>'sql', subject_id, keys))) r
         WHERE NOT (r.value ->> 2)::boolean
           AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.value -> 1) d(id)
                            WHERE d.id IS NOT NULL
                              AND NOT EXISTS (SELECT 1 FROM gdpr.tombstone ts
                                               WHERE ts.subject_hash = gdpr.subject_hash(plan.kind, d.id)))));
    ELSIF step->>'mode' = 'erased' THEN
      -- the owner lists the ids; pg_gdpr keeps those with a tombstone
      keys := keys || jsonb_build_object(step->>'name', (
        SELECT coalesce(jsonb_agg(jsonb_build_array(v.id)), '[]')
          FROM jsonb_array_elements_text(gdpr._owner_query((step->>'rel')::oid, step->>'sql', subject_id, keys)) v(id)
         WHERE EXISTS (SELECT 1 FROM gdpr.tombstone t WHERE t.subject_hash = gdpr.subject_hash(step->>'ref_kind', v.id))));
    ELSE
      keys := keys || coalesce(gdpr._owner_query((step->>'rel')::oid, step->>'sql', subject_id, keys), '{}');
    END IF;
  END LOOP;
  RETURN keys;
END
$fn$;

-- ---------------------------------------------------------------------------
-- Retention: rules per table (how long, counted from which date, then
-- delete, anonymize or erase whole subjects), and the functions that apply
-- them one short batch per call, so that a scheduler (pg_gdpr_sidecar,
-- pg_cron) keeps every transaction short and can stop between any two.
--
-- A batch of a delete or anonymize rule examines one range of the table's
-- blocks (a TID range scan) and moves a cursor past it, in the same
-- transaction as the rows it changed: stopped at any moment, the next call
-- resumes where the last committed batch ended, and no row is done twice.
-- A pass over the table ends when the cursor reaches its end; the next call
-- starts a new pass. Partitions entirely past retention are dropped instead.
-- An erase rule walks the root table of a subject kind by id and erases
-- each due subject through the same code as gdpr_erase.
-- Statements on users' tables run as the table's owner (_owner_exec).
-- ---------------------------------------------------------------------------

CREATE TABLE gdpr.retention_rule (
  rule_id     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rel         regclass NOT NULL,
  keep        interval NOT NULL CHECK (keep OPERATOR(pg_catalog.>) interval '0'),
  from_column name NOT NULL,
  action      text NOT NULL CHECK (action IN ('delete', 'anonymize', 'erase')),
  from_table  regclass,        -- the date is in this table, joined by a foreign key
  categories  text[] NOT NULL, -- anonymize: tagged columns of these categories are cleared
  mapped_by   regrole NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  UNIQUE (rel, action)
);
COMMENT ON TABLE gdpr.retention_rule IS 'Retention rules: how long rows are kept, from which date, then delete, anonymize or erase';
SELECT pg_catalog.pg_extension_config_dump('gdpr.retention_rule', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.retention_rule_rule_id_seq', '');

-- Where each rule's current pass stands. Physical positions: not dumped (a
-- restored database starts a fresh pass).
CREATE TABLE gdpr.retention_state (
  rule_id           integer PRIMARY KEY,
  cursor_rel        oid,       -- delete/anonymize: the table or partition being walked
  cursor_block      bigint NOT NULL DEFAULT 0,
  cursor_key        text,      -- erase: the last subject id examined
  undroppable       oid[] NOT NULL DEFAULT '{}',  -- partitions a DROP failed on: deleted row by row
  pass_started_at   timestamptz,
  pass_rows         bigint NOT NULL DEFAULT 0,
  last_pass_done_at timestamptz,
  last_batch_at     timestamptz,
  total_rows        bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE gdpr.retention_state IS 'Progress of each retention rule''s current pass (resumable cursor)';

-- The last run of each sidecar job (purge, backup, expire-backups, ...).
CREATE TABLE gdpr.job_run (
  job         text PRIMARY KEY,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  succeeded   boolean NOT NULL,
  details     jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE gdpr.job_run IS 'Last run of each scheduled job and whether it succeeded';

-- Encrypted backups taken by pg_gdpr_sidecar: one row per backup, naming
-- the copies; kept by pg_dump so that a restored database knows its past.
CREATE TABLE gdpr.backup (
  backup_id   text PRIMARY KEY,
  taken_at    timestamptz NOT NULL,
  database    name NOT NULL,
  key_id      text NOT NULL,
  size_bytes  bigint NOT NULL,
  sha256      text NOT NULL,
  targets     text[] NOT NULL,
  key_backup  boolean NOT NULL,   -- a key backup was written beside it
  expired_at  timestamptz
);
COMMENT ON TABLE gdpr.backup IS 'Encrypted backups: checksum, size, key id, copies, and when they were expired';
SELECT pg_catalog.pg_extension_config_dump('gdpr.backup', '');
REVOKE ALL ON gdpr.retention_rule, gdpr.retention_state, gdpr.job_run, gdpr.backup FROM PUBLIC;

-- ---- rules ----------------------------------------------------------------------

-- The foreign key between a rule's table and the table holding its date:
-- (child, child columns, parent, parent columns), in either direction.
CREATE FUNCTION gdpr._retention_join(rel regclass, from_table regclass)
  RETURNS TABLE (date_in_child boolean, rel_cols name[], from_cols name[])
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT c.conrelid = from_table,
         CASE WHEN c.conrelid = from_table THEN p.cols ELSE k.cols END,
         CASE WHEN c.conrelid = from_table THEN k.cols ELSE p.cols END
    FROM pg_constraint c,
         LATERAL (SELECT array_agg(a.attname ORDER BY u.o) FROM unnest(c.conkey) WITH ORDINALITY u(n, o)
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n) k(cols),
         LATERAL (SELECT array_agg(a.attname ORDER BY u.o) FROM unnest(c.confkey) WITH ORDINALITY u(n, o)
                    JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = u.n) p(cols)
   WHERE c.contype = 'f' AND c.conparentid = 0
     AND ((c.conrelid = from_table AND c.confrelid = rel) OR (c.conrelid = rel AND c.confrelid = from_table))
   ORDER BY c.conrelid = from_table DESC, c.conname
   LIMIT 1
$fn$;

-- The predicate selecting a rule's due rows (alias t0), with the cutoff in
-- $2 ->> 'cutoff'. A row whose date is NULL is never due. Following another
-- table's date: a row is due when it has rows there and every one of them
-- is past the cutoff (a user whose every subscription ended long enough
-- ago), or when the row it refers to is (an event of a closed account).
CREATE FUNCTION gdpr._retention_predicate(r gdpr.retention_rule) RETURNS text
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  j record;
  pairs text;
  -- an initplan: read from $2 once per statement, not once per row
  cutoff constant text := '(SELECT ($2 OPERATOR(pg_catalog.->>) ''cutoff'')::pg_catalog.timestamptz)';
BEGIN
  IF r.from_table IS NULL THEN
    RETURN format('t0.%I < %s', r.from_column, cutoff);
  END IF;
  SELECT * INTO j FROM gdpr._retention_join(r.rel, r.from_table);
  pairs := (SELECT string_agg(format('f.%I = t0.%I', j.from_cols[i], j.rel_cols[i]), ' AND ')
              FROM generate_subscripts(j.rel_cols, 1) i);
  IF j.date_in_child THEN
    RETURN format('EXISTS (SELECT 1 FROM %1$s f WHERE %2$s) AND NOT EXISTS (SELECT 1 FROM %1$s f WHERE %2$s AND (f.%3$I IS NULL OR f.%3$I >= %4$s))',
                  r.from_table, pairs, r.from_column, cutoff);
  END IF;
  RETURN format('EXISTS (SELECT 1 FROM %s f WHERE %s AND f.%I < %s)', r.from_table, pairs, r.from_column, cutoff);
END
$fn$;

CREATE FUNCTION gdpr._set_retention(rel regclass, keep interval, from_column name, action text,
                                    from_table regclass, categories text[])
  RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  actions constant text[] := '{delete,anonymize,erase}';
  all_categories constant text[] := '{personal,usage,customer,technical,sensitive}';
  date_table regclass := coalesce(from_table, rel);
  id integer;
BEGIN
  PERFORM gdpr._require(rel, 'table');
  PERFORM gdpr._require(keep, 'retention period');
  PERFORM gdpr._require(from_column, 'column the period counts from');
  PERFORM gdpr._require(action, 'action');
  PERFORM gdpr._require_table(rel);
  PERFORM gdpr._require_mappable(rel);
  IF action <> ALL (actions) THEN
    RAISE EXCEPTION 'unknown retention action "%"', action
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use delete, anonymize or erase.';
  END IF;
  IF keep <= interval '0' THEN
    RAISE EXCEPTION 'retention period must be positive'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'For technical logs kept 90 days: interval ''90 days''.';
  END IF;
  IF from_table IS NOT NULL THEN
    PERFORM gdpr._require_table(from_table);
    IF NOT EXISTS (SELECT 1 FROM gdpr._retention_join(rel, from_table)) THEN
      RAISE EXCEPTION 'no foreign key joins % and %', rel, from_table
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'A rule may follow the date of a table it references or that references it.';
    END IF;
  END IF;
  PERFORM gdpr._require_column(date_table, from_column, 'date');
  IF (SELECT t.typcategory FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       WHERE a.attrelid = date_table AND a.attname = from_column) <> 'D' THEN
    RAISE EXCEPTION 'column "%" of % is not a date or timestamp', from_column, date_table
      USING ERRCODE = 'datatype_mismatch', HINT = 'Count the period from a date, timestamp or timestamptz column.';
  END IF;
  IF categories IS NULL OR cardinality(categories) = 0 OR NOT categories <@ all_categories THEN
    RAISE EXCEPTION 'categories must be a non-empty list of: %', array_to_string(all_categories, ', ')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'The default clears personal, sensitive and technical columns.';
  END IF;
  IF action = 'erase' AND NOT EXISTS (SELECT 1 FROM gdpr.subject_kind k WHERE k.root_table = rel) THEN
    RAISE EXCEPTION 'table % is not the root table of a subject kind', rel
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'An erase rule erases whole subjects: register the kind first with gdpr_register_subject().';
  END IF;
  IF action = 'anonymize' AND NOT EXISTS (SELECT 1 FROM gdpr._anonymization(rel) a JOIN gdpr._column_labels(rel) l USING (attnum)
                                            WHERE l.category = ANY (categories) AND a.set_expr IS NOT NULL) THEN
    RAISE EXCEPTION 'table % has no tagged column of categories % to anonymize', rel, array_to_string(categories, ', ')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Tag the columns to clear with gdpr_tag(), or choose other categories.';
  END IF;
  INSERT INTO gdpr.retention_rule AS r (rel, keep, from_column, action, from_table, categories, mapped_by)
  VALUES (rel, keep, from_column, action, from_table, categories, gdpr._actor())
  ON CONFLICT ON CONSTRAINT retention_rule_rel_action_key DO UPDATE
     SET keep = excluded.keep, from_column = excluded.from_column, from_table = excluded.from_table,
         categories = excluded.categories, mapped_by = excluded.mapped_by
  RETURNING r.rule_id INTO id;
  DELETE FROM gdpr.retention_state s WHERE s.rule_id = id;
  PERFORM gdpr._audit('retention_rule', NULL, NULL, NULL,
                      jsonb_build_object('rule_id', id, 'table', rel::text, 'keep', keep::text, 'from_column', from_column,
                                         'from_table', from_table::text, 'action', action));
  RETURN id;
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_set_retention(rel regclass, keep interval, from_column name, action text,
                                                from_table regclass DEFAULT NULL,
                                                categories text[] DEFAULT '{personal,sensitive,technical}')
  RETURNS integer LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_set_retention(regclass, interval, name, text, regclass, text[]) IS
  'Sets how long a table''s rows are kept, counted from a date column (of the table or of one it is joined to by a foreign key), then delete, anonymize or erase the subject';

CREATE FUNCTION gdpr._drop_retention(rel regclass, action text) RETURNS boolean
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  id integer;
BEGIN
  PERFORM gdpr._require(rel, 'table');
  PERFORM gdpr._require(action, 'action');
  PERFORM gdpr._require_mappable(rel);
  DELETE FROM gdpr.retention_rule r WHERE r.rel = _drop_retention.rel AND r.action = _drop_retention.action
  RETURNING r.rule_id INTO id;
  IF id IS NULL THEN
    RETURN false;
  END IF;
  DELETE FROM gdpr.retention_state s WHERE s.rule_id = id;
  PERFORM gdpr._audit('retention_rule_dropped', NULL, NULL, NULL,
                      jsonb_build_object('rule_id', id, 'table', rel::text, 'action', action));
  RETURN true;
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_drop_retention(rel regclass, action text)
  RETURNS boolean LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_drop_retention(regclass, text) IS
  'Removes a table''s retention rule for an action; true if there was one';

-- The policy's retention table, for the tables of the demo CRM that exist
-- here: sessions (technical, 90 days), usage events (anonymized after 24
-- months), users of closed accounts (erased 30 days after the
-- subscription ends). Returns the rules set.
CREATE FUNCTION gdpr._load_retention_defaults() RETURNS integer
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  n integer := 0;
  ns oid := (SELECT e.extnamespace FROM pg_extension e WHERE e.extname = 'pg_gdpr');
  target regclass;
BEGIN
  target := to_regclass(format('%I.sessions', ns::regnamespace::text));
  IF target IS NOT NULL AND gdpr._has_column(target, 'started_at') THEN
    PERFORM gdpr._set_retention(target, '90 days', 'started_at', 'delete', NULL, '{personal,sensitive,technical}');
    n := n + 1;
  END IF;
  target := to_regclass(format('%I.usage_events', ns::regnamespace::text));
  IF target IS NOT NULL AND gdpr._has_column(target, 'occurred_at') THEN
    PERFORM gdpr._set_retention(target, '24 months', 'occurred_at', 'anonymize', NULL, '{personal,sensitive,technical}');
    n := n + 1;
  END IF;
  target := to_regclass(format('%I.users', ns::regnamespace::text));
  IF target IS NOT NULL AND to_regclass(format('%I.subscriptions', ns::regnamespace::text)) IS NOT NULL
     AND EXISTS (SELECT 1 FROM gdpr.subject_kind k WHERE k.root_table = target) THEN
    PERFORM gdpr._set_retention(target, '30 days', 'ended_at', 'erase',
                                to_regclass(format('%I.subscriptions', ns::regnamespace::text)), '{personal,sensitive,technical}');
    n := n + 1;
  END IF;
  RETURN n;
END
$fn$;
CREATE FUNCTION gdpr._has_column(rel regclass, col name) RETURNS boolean
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped)
$fn$;
CREATE FUNCTION @extschema@.gdpr_load_retention_defaults()
  RETURNS integer LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_load_retention_defaults() IS
  'Sets the privacy policy''s retention rules on the demo CRM''s tables (sessions, usage_events, users with subscriptions) that exist';

-- ---- one batch ----------------------------------------------------------------------

-- The bounds of a range partition on the rule's date column, as text
-- (NULL for MINVALUE/MAXVALUE or any other kind of partition).
CREATE FUNCTION gdpr._partition_bounds(part regclass, parent regclass, date_column name,
                                       OUT lower_bound text, OUT upper_bound text)
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  m text[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_attribute a ON a.attrelid = p.partrelid
                  WHERE p.partrelid = parent AND p.partstrat = 'r' AND p.partnatts = 1
                    AND a.attnum = p.partattrs[0] AND a.attname = date_column) THEN
    RETURN;
  END IF;
  m := regexp_match((SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.oid = part),
                    '^FOR VALUES FROM \((.*)\) TO \((.*)\)$');
  IF m IS NULL THEN
    RETURN;
  END IF;
  IF m[1] LIKE '''%''' THEN lower_bound := replace(substr(m[1], 2, length(m[1]) - 2), '''''', ''''); END IF;
  IF m[2] LIKE '''%''' THEN upper_bound := replace(substr(m[2], 2, length(m[2]) - 2), '''''', ''''); END IF;
END
$fn$;

-- Compares a partition bound (text of the date column's type) with the cutoff.
CREATE FUNCTION gdpr._bound_before(bound text, rel regclass, date_column name, cutoff timestamptz) RETURNS boolean
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  result boolean;
BEGIN
  IF bound IS NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('SELECT %L::%s <= $1', bound, (gdpr._column_types(rel, ARRAY[date_column]))[1]) INTO result USING cutoff;
  RETURN result;
END
$fn$;

-- The tables a delete or anonymize rule walks: the table itself, or the
-- leaf partitions that may hold due rows (a partition whose lower bound is
-- not before the cutoff holds none), in oid order.
CREATE FUNCTION gdpr._retention_targets(r gdpr.retention_rule, cutoff timestamptz) RETURNS oid[]
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE WHEN (SELECT c.relkind FROM pg_class c WHERE c.oid = r.rel) <> 'p' THEN ARRAY[r.rel::oid]
         ELSE ARRAY(SELECT t.relid::oid FROM pg_partition_tree(r.rel) t
                     WHERE t.isleaf AND t.relid <> r.rel
                       AND (r.from_table IS NOT NULL
                            OR NOT coalesce((SELECT b.lower_bound IS NOT NULL
                                                    AND NOT gdpr._bound_before(b.lower_bound, r.rel, r.from_column, cutoff)
                                               FROM gdpr._partition_bounds(t.relid, t.parentrelid, r.from_column) b), false))
                     ORDER BY t.relid::oid)
         END
$fn$;

-- Drops the partitions entirely past retention (delete rules on their
-- own date only), up to max_parts in one transaction; returns their names
-- and estimated rows, or NULL when there is none.
CREATE FUNCTION gdpr._drop_expired_partitions(r gdpr.retention_rule, s gdpr.retention_state, cutoff timestamptz,
                                              max_parts integer)
  RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  part record;
  estimate bigint := 0;
  dropped text[] := '{}';
  part_rows bigint;
  part_name text;
BEGIN
  FOR part IN SELECT t.relid, t.parentrelid FROM pg_partition_tree(r.rel) t
               WHERE t.isleaf AND t.relid <> r.rel AND t.relid::oid <> ALL (s.undroppable)
               ORDER BY t.relid::oid LOOP
    EXIT WHEN cardinality(dropped) >= max_parts;
    CONTINUE WHEN NOT (SELECT gdpr._bound_before(b.upper_bound, r.rel, r.from_column, cutoff)
                         FROM gdpr._partition_bounds(part.relid, part.parentrelid, r.from_column) b);
    BEGIN
      part_rows := coalesce((SELECT greatest(c.reltuples, 0)::bigint FROM pg_class c WHERE c.oid = part.relid), 0);
      part_name := part.relid::regclass::text;
      PERFORM gdpr._owner_exec(part.relid, format('DROP TABLE %s', part.relid), NULL, NULL);
      estimate := estimate + part_rows;
      dropped := dropped || part_name;
    EXCEPTION WHEN dependent_objects_still_exist OR foreign_key_violation OR object_in_use THEN
      -- deleted row by row instead
      UPDATE gdpr.retention_state st SET undroppable = st.undroppable || part.relid::oid WHERE st.rule_id = r.rule_id;
      s.undroppable := s.undroppable || part.relid::oid;
    END;
  END LOOP;
  IF cardinality(dropped) = 0 THEN
    RETURN NULL;
  END IF;
  RETURN jsonb_build_object('partitions', to_jsonb(dropped), 'rows_estimate', estimate);
END
$fn$;

-- One batch of an erase rule: the next due subjects by id, each erased as
-- gdpr_erase does (a subject that fails is reported and retried next pass).
CREATE FUNCTION gdpr._purge_erase_step(r gdpr.retention_rule, s gdpr.retention_state, max_rows integer, cutoff timestamptz)
  RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  k gdpr.subject_kind;
  type_name text;
  ids jsonb;
  id text;
  n integer := 0;
  examined integer := 0;
  failed jsonb := '[]';
  message text;
  state text;
  limit_n integer := greatest(1, least(max_rows, 100));
BEGIN
  SELECT * INTO k FROM gdpr.subject_kind sk WHERE sk.root_table = r.rel ORDER BY sk.kind LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % of retention rule % is no longer the root of a subject kind', r.rel, r.rule_id
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Register the kind again or drop the rule with gdpr_drop_retention().';
  END IF;
  type_name := (gdpr._column_types(r.rel, ARRAY[k.id_column]))[1];
  ids := gdpr._owner_query(r.rel,
           format('SELECT coalesce(pg_catalog.jsonb_agg(x.id ORDER BY x.o), ''[]'') FROM '
                  '(SELECT t0.%1$I::pg_catalog.text AS id, t0.%1$I AS o FROM %2$s t0 WHERE %3$s '
                  'AND ($2 OPERATOR(pg_catalog.->>) ''after'' IS NULL OR t0.%1$I > ($2 OPERATOR(pg_catalog.->>) ''after'')::%4$s) '
                  'ORDER BY t0.%1$I LIMIT ($2 OPERATOR(pg_catalog.->>) ''limit'')::pg_catalog.int4) x',
                  k.id_column, r.rel, gdpr._retention_predicate(r), type_name),
           NULL, jsonb_build_object('cutoff', cutoff, 'after', s.cursor_key, 'limit', limit_n));
  FOR id IN SELECT jsonb_array_elements_text(ids) LOOP
    examined := examined + 1;
    IF NOT EXISTS (SELECT 1 FROM gdpr.tombstone t WHERE t.subject_hash = gdpr.subject_hash(k.kind, id)) THEN
      BEGIN
        PERFORM gdpr._erase_subject(k.kind, id, format('retention rule %s', r.rule_id), NULL);
        n := n + 1;
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
        failed := failed || jsonb_build_object('subject_hash', encode(gdpr.subject_hash(k.kind, id), 'hex'),
                                               'sqlstate', state, 'error', message);
      END;
    END IF;
    s.cursor_key := id;
  END LOOP;
  IF examined < limit_n THEN
    UPDATE gdpr.retention_state st
       SET cursor_key = NULL, pass_rows = 0, pass_started_at = NULL, last_pass_done_at = now(),
           last_batch_at = now(), total_rows = st.total_rows + n
     WHERE st.rule_id = r.rule_id;
  ELSE
    UPDATE gdpr.retention_state st
       SET cursor_key = s.cursor_key, pass_rows = st.pass_rows + n, last_batch_at = now(),
           pass_started_at = coalesce(st.pass_started_at, now()), total_rows = st.total_rows + n
     WHERE st.rule_id = r.rule_id;
  END IF;
  RETURN jsonb_build_object('rule_id', r.rule_id, 'table', r.rel::text, 'action', 'erase', 'rows', n,
                            'examined', examined, 'failed', failed, 'done', examined < limit_n);
END
$fn$;

-- One batch of a rule. Returns what it did: rows changed, the partition
-- dropped, how far the pass is (blocks), and done = true when the pass
-- reached the end (the next call starts a new one).
CREATE FUNCTION gdpr._purge_step(rule_id integer, max_rows integer) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r gdpr.retention_rule;
  s gdpr.retention_state;
  cutoff timestamptz;
  targets oid[];
  target oid;
  nblocks bigint;
  per_block float8;
  blocks bigint;
  n bigint := 0;
  stmt text;
  anon text;
  pending text;
  dropped jsonb;
  result jsonb;
  blocks_total bigint;
  blocks_done bigint;
BEGIN
  PERFORM gdpr._require(rule_id, 'rule id');
  PERFORM gdpr._require(max_rows, 'batch size');
  IF max_rows <= 0 THEN
    RAISE EXCEPTION 'batch size must be positive'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'For example gdpr_purge_step(1, 10000).';
  END IF;
  SELECT * INTO r FROM gdpr.retention_rule x WHERE x.rule_id = _purge_step.rule_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'retention rule % does not exist', rule_id
      USING ERRCODE = 'undefined_object', HINT = 'gdpr_retention_status() lists the rules.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_roles o ON o.oid = r.mapped_by
                  WHERE c.oid = r.rel AND pg_has_role(r.mapped_by, c.relowner, 'USAGE')) THEN
    RAISE EXCEPTION 'retention rule % on % was set by a role that no longer owns the table', rule_id, r.rel
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'The table''s current owner must set the rule again with gdpr_set_retention().';
  END IF;
  -- One batch of a rule at a time: a second scheduler waits here (or
  -- fails on lock_timeout) and then continues after the first one's batch.
  INSERT INTO gdpr.retention_state AS st (rule_id) VALUES (r.rule_id) ON CONFLICT DO NOTHING;
  SELECT * INTO s FROM gdpr.retention_state st WHERE st.rule_id = r.rule_id FOR UPDATE;
  cutoff := now() - r.keep;

  IF r.action = 'erase' THEN
    result := gdpr._purge_erase_step(r, s, max_rows, cutoff);
    IF (result->>'rows')::bigint > 0 OR result->'failed' <> '[]' THEN
      PERFORM gdpr._audit('retention_purge', NULL, NULL, NULL, result);
    END IF;
    RETURN result;
  END IF;

  IF r.action = 'delete' AND r.from_table IS NULL
     AND (SELECT c.relkind FROM pg_class c WHERE c.oid = r.rel) = 'p' THEN
    dropped := gdpr._drop_expired_partitions(r, s, cutoff, 100);
    IF dropped IS NOT NULL THEN
      UPDATE gdpr.retention_state st SET last_batch_at = now(),
             total_rows = st.total_rows + (dropped->>'rows_estimate')::bigint
       WHERE st.rule_id = r.rule_id;
      result := jsonb_build_object('rule_id', r.rule_id, 'table', r.rel::text, 'action', r.action, 'rows', 0,
                                   'partitions_dropped', dropped->'partitions', 'rows_estimate', dropped->'rows_estimate',
                                   'done', false);
      PERFORM gdpr._audit('retention_purge', NULL, NULL, NULL, result);
      RETURN result;
    END IF;
    SELECT * INTO s FROM gdpr.retention_state st WHERE st.rule_id = r.rule_id;
  END IF;

  targets := gdpr._retention_targets(r, cutoff);
  -- progress over the whole pass, in blocks
  SELECT coalesce(sum(pg_relation_size(t) / current_setting('block_size')::bigint), 0),
         coalesce(sum(pg_relation_size(t) / current_setting('block_size')::bigint) FILTER (WHERE t < s.cursor_rel), 0)
    INTO blocks_total, blocks_done FROM unnest(targets) t;
  target := (SELECT min(t) FROM unnest(targets) t WHERE t >= coalesce(s.cursor_rel, 0));
  IF target IS DISTINCT FROM s.cursor_rel THEN
    s.cursor_block := 0;
  END IF;
  LOOP
    IF target IS NULL THEN
      -- the pass is complete
      UPDATE gdpr.retention_state st
         SET cursor_rel = NULL, cursor_block = 0, pass_rows = 0, pass_started_at = NULL,
             last_pass_done_at = now(), last_batch_at = now()
       WHERE st.rule_id = r.rule_id;
      RETURN jsonb_build_object('rule_id', r.rule_id, 'table', r.rel::text, 'action', r.action, 'rows', 0,
                                'blocks_done', blocks_total, 'blocks_total', blocks_total, 'done', true);
    END IF;
    nblocks := pg_relation_size(target) / current_setting('block_size')::bigint;
    EXIT WHEN s.cursor_block < nblocks;
    blocks_done := blocks_done + nblocks;
    target := (SELECT min(t) FROM unnest(targets) t WHERE t > target);
    s.cursor_block := 0;
  END LOOP;

  SELECT CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN c.reltuples / c.relpages ELSE 100 END
    INTO per_block FROM pg_class c WHERE c.oid = target;
  blocks := greatest(1, ceil(max_rows / greatest(per_block, 1)))::bigint;
  IF r.action = 'delete' THEN
    stmt := format('DELETE FROM %s t0 WHERE t0.ctid >= ($2 OPERATOR(pg_catalog.->>) ''lo'')::pg_catalog.tid '
                   'AND t0.ctid < ($2 OPERATOR(pg_catalog.->>) ''hi'')::pg_catalog.tid AND %s',
                   target::regclass, gdpr._retention_predicate(r));
  ELSE
    SELECT string_agg(format('%I = %s', a.column_name, a.set_expr), ', ' ORDER BY a.attnum),
           '(' || string_agg(a.pending_expr, ' OR ' ORDER BY a.attnum) || ')'
      INTO anon, pending
      FROM gdpr._anonymization(r.rel) a JOIN gdpr._column_labels(r.rel) l USING (attnum)
     WHERE l.category = ANY (r.categories) AND a.set_expr IS NOT NULL;
    IF anon IS NULL THEN
      RAISE EXCEPTION 'retention rule % has no tagged column of categories % left to anonymize in %',
                      r.rule_id, array_to_string(r.categories, ', '), r.rel
        USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Tag the columns to clear with gdpr_tag().';
    END IF;
    stmt := format('UPDATE %s t0 SET %s WHERE t0.ctid >= ($2 OPERATOR(pg_catalog.->>) ''lo'')::pg_catalog.tid '
                   'AND t0.ctid < ($2 OPERATOR(pg_catalog.->>) ''hi'')::pg_catalog.tid AND %s AND %s',
                   target::regclass, anon, gdpr._retention_predicate(r), pending);
  END IF;
  n := gdpr._owner_exec(target::regclass, stmt, NULL,
                        jsonb_build_object('cutoff', cutoff,
                                           'lo', format('(%s,0)', s.cursor_block),
                                           'hi', format('(%s,0)', least(s.cursor_block + blocks, 4294967295))));
  UPDATE gdpr.retention_state st
     SET cursor_rel = target, cursor_block = s.cursor_block + blocks, pass_rows = st.pass_rows + n,
         pass_started_at = coalesce(st.pass_started_at, now()), last_batch_at = now(), total_rows = st.total_rows + n
   WHERE st.rule_id = r.rule_id;
  result := jsonb_build_object('rule_id', r.rule_id, 'table', target::regclass::text, 'action', r.action, 'rows', n,
                               'blocks_done', least(blocks_done + s.cursor_block + blocks, blocks_total),
                               'blocks_total', blocks_total, 'done', false);
  IF n > 0 THEN
    PERFORM gdpr._audit('retention_purge', NULL, NULL, NULL, result);
  END IF;
  RETURN result;
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_purge_step(rule_id integer, max_rows integer DEFAULT 10000)
  RETURNS jsonb LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_purge_step(integer, integer) IS
  'One batch of a retention rule (about max_rows rows examined, or one expired partition dropped); done = true when its pass is complete';

-- Everything due, one batch each, for schedulers without the sidecar
-- (pg_cron): one batch of every rule whose pass is not complete, one batch
-- of ended legal holds, and every verified erasure request. Each part that
-- fails is reported and the others still run. Call it until "more" is false.
CREATE FUNCTION gdpr._purge(max_rows integer) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  rule record;
  step jsonb;
  steps jsonb := '[]';
  errors jsonb := '[]';
  more boolean := false;
  holds jsonb;
  req record;
  fulfilled integer := 0;
  message text;
BEGIN
  PERFORM gdpr._require(max_rows, 'batch size');
  FOR rule IN SELECT x.rule_id FROM gdpr.retention_rule x ORDER BY x.rule_id LOOP
    BEGIN
      step := gdpr._purge_step(rule.rule_id, max_rows);
      steps := steps || step;
      more := more OR NOT (step->>'done')::boolean;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
      errors := errors || jsonb_build_object('rule_id', rule.rule_id, 'error', message);
    END;
  END LOOP;
  BEGIN
    holds := gdpr._release_holds(max_rows);
    more := more OR (holds->>'released')::integer > 0;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
    errors := errors || jsonb_build_object('release_holds', message);
  END;
  FOR req IN SELECT q.request_id FROM gdpr.request q
              WHERE q.status = 'verified' AND q.request_type = 'erasure' ORDER BY q.due_at LOOP
    BEGIN
      PERFORM gdpr._fulfil_request(req.request_id);
      fulfilled := fulfilled + 1;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
      errors := errors || jsonb_build_object('request_id', req.request_id, 'error', message);
    END;
  END LOOP;
  RETURN jsonb_build_object('rules', steps, 'holds', holds, 'erasure_requests', fulfilled,
                            'errors', errors, 'more', more);
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_purge(max_rows integer DEFAULT 10000)
  RETURNS jsonb LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_purge(integer) IS
  'One batch of every retention rule, of ended legal holds, and every verified erasure request (for pg_cron); call until more is false';

-- ---- what is due ---------------------------------------------------------------------

CREATE FUNCTION @extschema@.gdpr_retention_status(max_count integer DEFAULT 1000000) RETURNS TABLE (
    rule_id integer, table_name text, action text, keep interval, counted_from text,
    due_rows bigint, overdue_rows bigint, pass_in_progress boolean, last_pass_done_at timestamptz, total_rows bigint)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r gdpr.retention_rule;
  s gdpr.retention_state;
  count_sql text;
BEGIN
  FOR r IN SELECT * FROM gdpr.retention_rule x ORDER BY x.rule_id LOOP
    SELECT * INTO s FROM gdpr.retention_state st WHERE st.rule_id = r.rule_id;
    rule_id := r.rule_id;
    table_name := r.rel::text;
    action := r.action;
    keep := r.keep;
    counted_from := coalesce(r.from_table::text || '.', '') || r.from_column;
    count_sql := format('SELECT pg_catalog.to_jsonb(pg_catalog.count(*)) FROM (SELECT 1 FROM %s t0 WHERE %s%s LIMIT ($2 OPERATOR(pg_catalog.->>) ''limit'')::pg_catalog.int8) x',
                        r.rel, gdpr._retention_predicate(r),
                        CASE WHEN r.action = 'anonymize' THEN
                          ' AND ' || coalesce((SELECT '(' || string_agg(a.pending_expr, ' OR ') || ')'
                                                 FROM gdpr._anonymization(r.rel) a JOIN gdpr._column_labels(r.rel) l USING (attnum)
                                                WHERE l.category = ANY (r.categories) AND a.pending_expr IS NOT NULL), 'false')
                        ELSE '' END);
    due_rows := gdpr._owner_query(r.rel, count_sql, NULL,
                                  jsonb_build_object('cutoff', now() - r.keep, 'limit', max_count))::text::bigint;
    -- overdue: due for more than a day
    overdue_rows := gdpr._owner_query(r.rel, count_sql, NULL,
                                      jsonb_build_object('cutoff', now() - r.keep - interval '1 day', 'limit', max_count))::text::bigint;
    pass_in_progress := s.pass_started_at IS NOT NULL;
    last_pass_done_at := s.last_pass_done_at;
    total_rows := coalesce(s.total_rows, 0);
    RETURN NEXT;
  END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_retention_status(integer) IS
  'Each retention rule: rows due now and due for over a day (counted up to max_count), its pass, its last completed pass';

-- ---- jobs and backups (written by pg_gdpr_sidecar) ------------------------------------------

CREATE FUNCTION gdpr._job_finished(job text, started_at timestamptz, succeeded boolean, details jsonb)
  RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM gdpr._require(job, 'job name');
  PERFORM gdpr._require(started_at, 'start time');
  PERFORM gdpr._require(succeeded, 'outcome');
  INSERT INTO gdpr.job_run AS j VALUES (job, started_at, clock_timestamp(), succeeded, coalesce(details, '{}'))
  ON CONFLICT ON CONSTRAINT job_run_pkey DO UPDATE SET started_at = excluded.started_at, finished_at = excluded.finished_at,
                                  succeeded = excluded.succeeded, details = excluded.details;
  PERFORM gdpr._audit('job_run', NULL, NULL, NULL,
                      jsonb_build_object('job', job, 'started_at', started_at, 'succeeded', succeeded) || coalesce(details, '{}'));
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_job_finished(job text, started_at timestamptz, succeeded boolean, details jsonb DEFAULT '{}')
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_job_finished(text, timestamptz, boolean, jsonb) IS
  'Records the end of a scheduled job''s run (the sidecar calls it); audited';

-- Before a backup: the subject hash (keyed by the master key) must work,
-- or tombstones could not be matched with the subjects of a restored
-- database; fails with the master key's own error otherwise.
CREATE FUNCTION gdpr._backup_begin() RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM gdpr.subject_hash('backup', 'check');
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_backup_begin()
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_backup_begin() IS
  'Checks before a logical backup (the sidecar calls it before pg_dump) that subject hashes can be computed, so that tombstones match after a restore';

CREATE FUNCTION gdpr._record_backup(backup_id text, taken_at timestamptz, key_id text, size_bytes bigint,
                                    sha256 text, targets text[], key_backup boolean)
  RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM gdpr._require(backup_id, 'backup id');
  PERFORM gdpr._require(taken_at, 'time the backup was taken');
  PERFORM gdpr._require(sha256, 'checksum');
  INSERT INTO gdpr.backup VALUES (backup_id, taken_at, current_database(), key_id, size_bytes, sha256, targets,
                                  coalesce(key_backup, false), NULL);
  PERFORM gdpr._audit('backup', NULL, NULL, NULL,
                      jsonb_build_object('backup_id', backup_id, 'taken_at', taken_at, 'key_id', key_id,
                                         'size_bytes', size_bytes, 'sha256', sha256, 'targets', targets,
                                         'key_backup', key_backup));
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_record_backup(backup_id text, taken_at timestamptz, key_id text, size_bytes bigint,
                                                sha256 text, targets text[], key_backup boolean)
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_record_backup(text, timestamptz, text, bigint, text, text[], boolean) IS
  'Records an encrypted backup in the backup catalog (the sidecar calls it); audited';

CREATE FUNCTION gdpr._record_backup_expired(backup_id text, missing text[]) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM gdpr._require(backup_id, 'backup id');
  UPDATE gdpr.backup b SET expired_at = coalesce(b.expired_at, now()) WHERE b.backup_id = _record_backup_expired.backup_id;
  PERFORM gdpr._audit('backup_expired', NULL, NULL, NULL,
                      jsonb_build_object('backup_id', backup_id, 'missing_copies', coalesce(missing, '{}')));
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_record_backup_expired(backup_id text, missing text[] DEFAULT '{}')
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_record_backup_expired(text, text[]) IS
  'Records that a backup''s copies were deleted (the sidecar calls it), naming copies that were already missing; audited';

-- ---- restore: erasures since the backup -------------------------------------------------------

-- Replays tombstones (from the live database) into a restored one: every
-- subject whose keyed hash is listed and still has rows or keys here is
-- erased again, and the tombstone recorded. The ids are found by hashing
-- each root row's id and each key's subject id (a tombstone holds no id).
CREATE FUNCTION gdpr._replay_tombstones(tombstones jsonb) RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  k gdpr.subject_kind;
  wanted bytea[];
  id text;
  erased integer := 0;
  shredded integer := 0;
  recorded integer := 0;
BEGIN
  PERFORM gdpr._require(tombstones, 'tombstones');
  IF jsonb_typeof(tombstones) <> 'array' THEN
    RAISE EXCEPTION 'tombstones must be a JSON array'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass [{"subject_hash": "<hex>", "kind": "user", "erased_at": "..."}, ...] from gdpr.tombstone of the live database.';
  END IF;
  -- the tombstones this database does not have yet
  wanted := ARRAY(SELECT decode(t->>'subject_hash', 'hex') FROM jsonb_array_elements(tombstones) t
                  EXCEPT SELECT ts.subject_hash FROM gdpr.tombstone ts);
  IF cardinality(wanted) = 0 THEN
    RETURN jsonb_build_object('tombstones', 0, 'subjects_erased', 0, 'keys_shredded', 0);
  END IF;
  -- subjects with rows in the map, found by hashing each root row's id
  FOR k IN SELECT * FROM gdpr.subject_kind sk ORDER BY sk.kind LOOP
    FOR id IN SELECT jsonb_array_elements_text(
                gdpr._owner_query(k.root_table, format('SELECT coalesce(pg_catalog.jsonb_agg(t0.%I::pg_catalog.text), ''[]'') FROM %s t0',
                                                       k.id_column, k.root_table), NULL, NULL)) LOOP
      CONTINUE WHEN NOT gdpr.subject_hash(k.kind, id) = ANY (wanted);
      PERFORM gdpr._erase_subject(k.kind, id, 'erased before the restore', NULL);
      erased := erased + 1;
    END LOOP;
  END LOOP;
  -- the others (rows gone, or never mapped): their tombstone, carrying the
  -- key table's address, shreds their keys as it is inserted
  INSERT INTO gdpr.tombstone AS ts (subject_hash, kind, erased_at, request_id, key_address)
  SELECT DISTINCT ON (h) h, t->>'kind', coalesce((t->>'erased_at')::timestamptz, now()), (t->>'request_id')::bigint,
         decode(t->>'key_address', 'hex')
    FROM jsonb_array_elements(tombstones) t, LATERAL decode(t->>'subject_hash', 'hex') h
   WHERE h = ANY (wanted)
  ON CONFLICT (subject_hash) DO NOTHING;
  shredded := (SELECT count(*) FROM gdpr.subject_key sk
                WHERE sk.subject_address IN (SELECT decode(t->>'key_address', 'hex') FROM jsonb_array_elements(tombstones) t)
                  AND sk.shredded_at IS NOT NULL);
  recorded := cardinality(wanted);  -- new here: inserted above or by the erase itself
  PERFORM gdpr._audit('tombstones_replayed', NULL, NULL, NULL,
                      jsonb_build_object('tombstones', recorded, 'subjects_erased', erased, 'keys_shredded', shredded));
  RETURN jsonb_build_object('tombstones', recorded, 'subjects_erased', erased, 'keys_shredded', shredded);
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_replay_tombstones(tombstones jsonb)
  RETURNS jsonb LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_replay_tombstones(jsonb) IS
  'After a restore: erases again every listed subject (tombstones of the live database, as JSON) that came back, and records the tombstones';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA gdpr FROM PUBLIC;
SELECT gdpr._grant_only_to('gdpr_app', ARRAY[
  'gdpr_set_retention(regclass, interval, name, text, regclass, text[])', 'gdpr_drop_retention(regclass, text)']);
SELECT gdpr._grant_only_to('gdpr_admin', ARRAY[
  'gdpr_load_retention_defaults()', 'gdpr_purge_step(integer, integer)', 'gdpr_purge(integer)',
  'gdpr_retention_status(integer)', 'gdpr_backup_begin()', 'gdpr_job_finished(text, timestamptz, boolean, jsonb)',
  'gdpr_record_backup(text, timestamptz, text, bigint, text, text[], boolean)',
  'gdpr_record_backup_expired(text, text[])', 'gdpr_replay_tombstones(jsonb)']);
GRANT SELECT ON gdpr.retention_rule, gdpr.retention_state, gdpr.job_run, gdpr.backup TO gdpr_admin;

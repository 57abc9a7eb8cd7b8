-- ---------------------------------------------------------------------------
-- The data map: subject kinds and their root tables, tables linked without a
-- foreign key, legal holds. Column categories are security labels of the
-- pg_gdpr provider (PostgreSQL follows renames and drops, pg_dump keeps
-- them). The tables holding a subject's rows are found by following
-- foreign keys from the root at run time, so the map follows the schema.
-- ---------------------------------------------------------------------------
CREATE TABLE gdpr.subject_kind (
  kind          text PRIMARY KEY CHECK (kind OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]*$'),
  root_table    regclass NOT NULL,
  id_column     name NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  mapped_by     regrole NOT NULL  -- a member of the root table's owner, re-checked on every use
);
COMMENT ON TABLE gdpr.subject_kind IS 'Kinds of data subject and the table that holds one row per subject';

-- No foreign keys between the catalog tables: pg_dump restores extension
-- configuration data in no guaranteed order.
CREATE TABLE gdpr.subject_link (
  link_table  regclass NOT NULL,
  link_column name NOT NULL,
  kind        text NOT NULL,
  mapped_by   regrole NOT NULL,
  PRIMARY KEY (link_table, link_column, kind)
);
COMMENT ON TABLE gdpr.subject_link IS 'Tables whose column holds a subject id without a foreign key';

CREATE TABLE gdpr.legal_hold (
  hold_table  regclass PRIMARY KEY,
  keep        interval NOT NULL CHECK (keep OPERATOR(pg_catalog.>) interval '0'),
  from_column name NOT NULL,
  reason      text NOT NULL CHECK (reason OPERATOR(pg_catalog.<>) ''),
  mapped_by   regrole NOT NULL
);
COMMENT ON TABLE gdpr.legal_hold IS 'Rows kept after erasure for a period the law requires, counted from a column';

-- The compiled plan per kind (see gdpr._compile); rebuilt on demand after
-- any DDL or map change.
CREATE TABLE gdpr.map_cache (
  kind          text PRIMARY KEY,
  lock_sql      text NOT NULL,
  collect_steps jsonb NOT NULL,
  export_steps  jsonb NOT NULL,
  erase_steps   jsonb NOT NULL,
  check_steps   jsonb NOT NULL,  -- after an erase: what of the subject may not remain, per table
  refusals      text[] NOT NULL, -- why erase must refuse this kind's plan (rules, no placeholder)
  predicates    jsonb NOT NULL,  -- table -> the predicate selecting the subject's rows
  tables        regclass[] NOT NULL,
  categories    jsonb NOT NULL,  -- table -> data categories of its tagged columns
  built_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);

SELECT pg_catalog.pg_extension_config_dump('gdpr.subject_kind', '');

-- Sessions keep the id type of each kind (gdpr_encrypt's canonical ids):
-- a change tells them, through a relcache invalidation, to read it again.
CREATE FUNCTION gdpr._subject_kind_changed() RETURNS trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'gdpr_subject_kind_changed';
CREATE TRIGGER subject_kind_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gdpr.subject_kind
  FOR EACH STATEMENT EXECUTE FUNCTION gdpr._subject_kind_changed();
SELECT pg_catalog.pg_extension_config_dump('gdpr.subject_link', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.legal_hold', '');
REVOKE ALL ON gdpr.subject_kind, gdpr.subject_link, gdpr.legal_hold, gdpr.map_cache FROM PUBLIC;

-- ---- helpers ----------------------------------------------------------------
-- Helpers on the per-request path carry no SET search_path of their own:
-- they run inside the SECURITY DEFINER bodies, which pin it, and a SET
-- clause would cost a configuration save and restore on every call.

CREATE FUNCTION gdpr._require(value anyelement, what text) RETURNS void
  LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF value IS NULL THEN
    RAISE EXCEPTION '% must not be NULL', what
      USING ERRCODE = 'null_value_not_allowed', HINT = format('Pass a %s.', what);
  END IF;
END
$fn$;

CREATE FUNCTION gdpr._require_kind(kind text) RETURNS gdpr.subject_kind
  LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  registered gdpr.subject_kind;
BEGIN
  PERFORM gdpr._require(kind, 'subject kind');
  IF kind = '' THEN
    RAISE EXCEPTION 'subject kind must not be empty'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass a registered kind, e.g. ''user''.';
  END IF;
  SELECT * INTO registered FROM gdpr.subject_kind k WHERE k.kind = _require_kind.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown subject kind "%"', kind
      USING ERRCODE = 'undefined_object',
            DETAIL = coalesce('Registered kinds: ' || (SELECT string_agg(k.kind, ', ' ORDER BY k.kind) FROM gdpr.subject_kind k) || '.',
                              'No subject kind is registered.'),
            HINT = 'Register it with gdpr_register_subject(kind, root_table, id_column).';
  END IF;
  RETURN registered;
END
$fn$;

CREATE FUNCTION gdpr._require_column(rel regclass, col name, what text) RETURNS void
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', col, rel
      USING ERRCODE = 'undefined_column',
            HINT = format('Pass the name of the %s column.', what);
  END IF;
END
$fn$;

CREATE FUNCTION gdpr._require_table(rel regclass) RETURNS void
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF (SELECT c.relkind FROM pg_class c WHERE c.oid = rel) NOT IN ('r', 'p') THEN
    RAISE EXCEPTION '% is not a table', rel
      USING ERRCODE = 'wrong_object_type', HINT = 'Pass an ordinary or partitioned table.';
  END IF;
END
$fn$;

-- Only a table's owner may map it (register, link, hold, tag), as only the
-- owner may create a trigger on it or label it: mapping lets members of
-- gdpr_admin export, rectify and erase the subjects' rows. System catalogs,
-- pg_gdpr's own tables and other extensions' tables are never mapped.
CREATE FUNCTION gdpr._require_mappable(rel regclass) RETURNS void
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  c record;
  actor oid := gdpr._actor();
BEGIN
  SELECT r.relowner, r.relkind, r.relpersistence, n.nspname INTO c
    FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace WHERE r.oid = rel;
  IF c.nspname IN ('pg_catalog', 'information_schema', 'pg_toast', 'gdpr') OR rel::oid < 16384 THEN
    RAISE EXCEPTION '% is a system or pg_gdpr table and cannot be mapped', rel
      USING ERRCODE = 'wrong_object_type',
            HINT = 'Map the tables of your application: the ones holding data of your data subjects.';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = rel AND d.deptype = 'e') THEN
    RAISE EXCEPTION 'table % belongs to an extension and cannot be mapped', rel
      USING ERRCODE = 'wrong_object_type',
            HINT = 'Map the tables of your application: the ones holding data of your data subjects.';
  END IF;
  IF c.relpersistence = 't' THEN
    RAISE EXCEPTION 'table % is temporary and cannot be mapped', rel
      USING ERRCODE = 'wrong_object_type', HINT = 'Map permanent tables only.';
  END IF;
  IF NOT pg_has_role(actor, c.relowner, 'USAGE') THEN
    RAISE EXCEPTION 'must be owner of table % to map it', rel
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = format('Table %s is owned by role %s; mapping it lets members of gdpr_admin export, rectify and erase its rows.',
                            rel, c.relowner::regrole),
            HINT = 'Ask the table''s owner (or a member of the owning role) to map it.';
  END IF;
END
$fn$;

-- Every registration, link and hold of a plan must still be backed by the
-- table's owner: ownership may have changed, a role may have left the
-- owning role. Checked on every erase, export and rectification.
CREATE FUNCTION gdpr._require_map_rights(plan gdpr.map_cache) RETURNS void
  LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  lapsed record;
BEGIN
  SELECT x.rel, x.what INTO lapsed
    FROM (SELECT k.root_table AS rel, k.mapped_by, 'registered as the root of kind ' || k.kind AS what
            FROM gdpr.subject_kind k WHERE k.kind = plan.kind
          UNION ALL
          SELECT l.link_table, l.mapped_by, 'linked to kind ' || l.kind
            FROM gdpr.subject_link l WHERE l.kind = plan.kind
          UNION ALL
          SELECT k.root_table, l.mapped_by, format('linked to kind %s (whose root it is) from %s', l.kind, l.link_table)
            FROM gdpr.subject_link l JOIN gdpr.subject_kind k ON k.kind = l.kind WHERE l.kind = plan.kind
          UNION ALL
          SELECT h.hold_table, h.mapped_by, 'put under a legal hold'
            FROM gdpr.legal_hold h WHERE h.hold_table = ANY (plan.tables)) x
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) x.rel
   WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) x.mapped_by)
      OR NOT pg_catalog.pg_has_role(x.mapped_by, c.relowner, 'USAGE')
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'table % was % by a role that no longer owns it', lapsed.rel, lapsed.what
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'Only a table''s owner may let pg_gdpr export, rectify and erase its rows.',
            HINT = 'The table''s current owner must map it again (gdpr_register_subject, gdpr_link or gdpr_hold).';
  END IF;
END
$fn$;

-- Tables of a plan whose owner has not let pg_gdpr read and change them:
-- reached only through a foreign key, owned by a role the kind's
-- registrant does not act for, and neither linked, held nor tagged by
-- their owner. Erase still deletes or detaches their rows (their owner's
-- foreign key asks for that); export and rectify leave them alone.
CREATE FUNCTION gdpr._covered(kind text, rel regclass) RETURNS boolean
  LANGUAGE sql STABLE AS $fn$
  SELECT pg_catalog.pg_has_role(k.mapped_by, c.relowner, 'USAGE')
      OR EXISTS (SELECT 1 FROM gdpr.subject_link l WHERE l.link_table OPERATOR(pg_catalog.=) rel)
      OR EXISTS (SELECT 1 FROM gdpr.legal_hold h WHERE h.hold_table OPERATOR(pg_catalog.=) rel)
      OR EXISTS (SELECT 1 FROM pg_catalog.pg_seclabel s
                  WHERE s.objoid OPERATOR(pg_catalog.=) rel
                    AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND s.provider OPERATOR(pg_catalog.=) 'pg_gdpr')
    FROM pg_catalog.pg_class c, gdpr.subject_kind k
   WHERE c.oid OPERATOR(pg_catalog.=) rel AND k.kind OPERATOR(pg_catalog.=) _covered.kind
$fn$;

-- The same test as gdpr._covered, for all of a plan's tables in one query:
-- every export pays it, since ownership and role membership can change
-- without any DDL that would drop the compiled plan.
CREATE FUNCTION gdpr._uncovered_tables(plan gdpr.map_cache) RETURNS regclass[]
  LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(array_agg(c.oid::pg_catalog.regclass ORDER BY c.oid::pg_catalog.regclass::pg_catalog.text), '{}')
    FROM pg_catalog.pg_class c, gdpr.subject_kind k
   WHERE c.oid OPERATOR(pg_catalog.=) ANY (plan.tables::pg_catalog.oid[])
     AND k.kind OPERATOR(pg_catalog.=) plan.kind
     AND NOT pg_catalog.pg_has_role(k.mapped_by, c.relowner, 'USAGE')
     AND NOT EXISTS (SELECT 1 FROM gdpr.subject_link l WHERE l.link_table OPERATOR(pg_catalog.=) c.oid)
     AND NOT EXISTS (SELECT 1 FROM gdpr.legal_hold h WHERE h.hold_table OPERATOR(pg_catalog.=) c.oid)
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_seclabel s
                      WHERE s.objoid OPERATOR(pg_catalog.=) c.oid
                        AND s.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                        AND s.provider OPERATOR(pg_catalog.=) 'pg_gdpr')
$fn$;

-- Statements on users' tables: run as the table's owner, in a
-- security-restricted operation. Granted to nobody.
CREATE FUNCTION gdpr._owner_exec(rel regclass, sql text, subject_id text, keys jsonb) RETURNS bigint
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_owner_exec';
CREATE FUNCTION gdpr._owner_query(rel regclass, sql text, subject_id text, keys jsonb) RETURNS jsonb
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_owner_query';
-- The role that called the current gdpr_* entry point (see rights_entry.cpp).
CREATE FUNCTION gdpr._actor() RETURNS oid
  LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'gdpr_actor';

-- The pg_gdpr label of each column of a table: category and, for columns
-- holding gdpr_encrypt() output, the context.
CREATE FUNCTION gdpr._column_labels(rel regclass)
  RETURNS TABLE (column_name name, attnum smallint, type_name text, not_null boolean,
                 category text, encrypted boolean, context text)
  LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
         split_part(l.label, ' ', 1),
         l.label LIKE '% encrypted%',
         CASE WHEN l.label LIKE '% encrypted:%' THEN substr(l.label, strpos(l.label, ' encrypted:') + 11)
              WHEN l.label LIKE '% encrypted' THEN format('%s.%s.%s', n.nspname, c.relname, a.attname)
         END
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_seclabel l ON l.objoid = a.attrelid AND l.classoid = 'pg_class'::regclass
                            AND l.objsubid = a.attnum AND l.provider = 'pg_gdpr'
   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
   ORDER BY a.attnum
$fn$;

-- ---- registration -----------------------------------------------------------

CREATE FUNCTION gdpr._register_subject(kind text, root_table regclass, id_column name)
  RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  previous regclass;
BEGIN
  PERFORM gdpr._require(kind, 'subject kind');
  PERFORM gdpr._require(root_table, 'root table');
  PERFORM gdpr._require(id_column, 'id column');
  IF kind !~ '^[a-z][a-z0-9_]*$' THEN
    RAISE EXCEPTION 'invalid subject kind "%"', kind
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A kind is lower-case letters, digits and underscores, starting with a letter, e.g. ''user''.';
  END IF;
  PERFORM gdpr._require_table(root_table);
  PERFORM gdpr._require_mappable(root_table);
  -- Moving a kind to another table takes the rights over the old one too.
  SELECT k.root_table INTO previous FROM gdpr.subject_kind k WHERE k.kind = _register_subject.kind;
  IF previous IS NOT NULL AND previous <> root_table THEN
    PERFORM gdpr._require_mappable(previous);
  END IF;
  PERFORM gdpr._require_column(root_table, id_column, 'subject id');
  IF NOT EXISTS (
      SELECT 1 FROM pg_index i
       WHERE i.indrelid = root_table AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL
         AND i.indkey[0] = (SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = root_table AND a.attname = id_column)) THEN
    RAISE EXCEPTION 'column "%" of % is not unique', id_column, root_table
      USING ERRCODE = 'invalid_object_definition',
            DETAIL = 'Each subject must be exactly one row of its root table.',
            HINT = 'Register the primary key column, or add a unique index on it.';
  END IF;
  INSERT INTO gdpr.subject_kind AS k (kind, root_table, id_column, mapped_by)
  VALUES (kind, root_table, id_column, gdpr._actor())
  ON CONFLICT ON CONSTRAINT subject_kind_pkey
  DO UPDATE SET root_table = excluded.root_table, id_column = excluded.id_column, mapped_by = excluded.mapped_by;
  DELETE FROM gdpr.map_cache;
  PERFORM gdpr._audit('register_subject', kind, NULL, NULL,
                      jsonb_build_object('table', root_table::text, 'id_column', id_column));
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_register_subject(kind text, root_table regclass, id_column name)
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_register_subject(text, regclass, name) IS
  'Registers a kind of data subject (e.g. user) with the table holding one row per subject';

CREATE FUNCTION gdpr._tag(rel regclass, column_name name, category text, encrypted_context text)
  RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  problem text;
BEGIN
  PERFORM gdpr._require(rel, 'table');
  PERFORM gdpr._require(column_name, 'column name');
  PERFORM gdpr._require(category, 'category');
  PERFORM gdpr._require_table(rel);
  PERFORM gdpr._require_mappable(rel);
  PERFORM gdpr._require_column(rel, column_name, 'tagged');
  -- The label provider validates the category and lists the valid ones.
  EXECUTE format('SECURITY LABEL FOR pg_gdpr ON COLUMN %s.%I IS %L', rel, column_name,
                 category || CASE WHEN encrypted_context IS NULL THEN ''
                                  ELSE ' encrypted:' || encrypted_context END);
  FOR problem IN SELECT a.problem FROM gdpr._anonymization(rel) a
                  WHERE a.column_name = _tag.column_name AND a.problem IS NOT NULL LOOP
    RAISE WARNING '%', problem
      USING DETAIL = 'Erasure refuses subjects whose rows must stay (shared or referenced) while such a column holds their data.';
  END LOOP;
  PERFORM gdpr._audit('tag', NULL, NULL, NULL,
                      jsonb_build_object('table', rel::text, 'column', column_name, 'category', category,
                                         'encrypted', encrypted_context IS NOT NULL));
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_tag(rel regclass, column_name name, category text,
                                     encrypted_context text DEFAULT NULL)
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_tag(regclass, name, text, text) IS
  'Tags a column with its data category (personal, usage, customer, technical, sensitive); a context marks it as gdpr_encrypt() output';

CREATE FUNCTION gdpr._link(rel regclass, kind text, column_name name)
  RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  link_type text;
  root_type text;
  comparable boolean;
BEGIN
  PERFORM gdpr._require(rel, 'table');
  PERFORM gdpr._require(column_name, 'column name');
  PERFORM gdpr._require_table(rel);
  PERFORM gdpr._require_mappable(rel);
  -- A link puts the table into every export and erase of the kind, with
  -- the subject's id: it takes the rights over the kind's root table too.
  PERFORM gdpr._require_mappable((gdpr._require_kind(kind)).root_table);
  PERFORM gdpr._require_column(rel, column_name, 'subject id');
  -- The linked column is compared with the subject id as the root id
  -- column's type: it must hold that type (or a domain over it).
  -- An array of that type links every subject it names: a row is each
  -- one's, and erasing one removes its id from the array.
  SELECT format_type(lb.oid, NULL), format_type(rb.oid, NULL),
         (lb.typcategory = rb.typcategory AND lb.typcategory <> 'A')
         OR (lb.typcategory = 'A' AND le.typcategory = rb.typcategory AND le.typcategory <> 'A')
    INTO link_type, root_type, comparable
    FROM pg_attribute la JOIN pg_type lt ON lt.oid = la.atttypid
         JOIN pg_type lb ON lb.oid = coalesce(nullif(lt.typbasetype, 0), lt.oid)
         LEFT JOIN pg_type le ON le.oid = lb.typelem,
         gdpr.subject_kind k JOIN pg_attribute ra ON ra.attrelid = k.root_table AND ra.attname = k.id_column
         JOIN pg_type rt ON rt.oid = ra.atttypid
         JOIN pg_type rb ON rb.oid = coalesce(nullif(rt.typbasetype, 0), rt.oid)
   WHERE la.attrelid = rel AND la.attname = column_name AND k.kind = _link.kind;
  IF NOT comparable THEN
    RAISE EXCEPTION 'column % of % is of type %, but subjects of kind "%" are identified by %',
                    column_name, rel, link_type, kind, root_type
      USING ERRCODE = 'datatype_mismatch',
            DETAIL = CASE WHEN link_type IN ('json', 'jsonb')
                          THEN 'Ids inside documents cannot be linked: erasure could not remove one id from them.'
                          ELSE 'A link compares the column (or the elements of an array column) with the subject id.' END,
            HINT = format('Link a column of type %s, or add one (e.g. a join table with one id per row).', root_type);
  END IF;
  INSERT INTO gdpr.subject_link AS l (link_table, link_column, kind, mapped_by)
  VALUES (rel, column_name, kind, gdpr._actor())
  ON CONFLICT ON CONSTRAINT subject_link_pkey DO UPDATE SET mapped_by = excluded.mapped_by;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname = 'gdpr_refuse_erased_' || kind) THEN
    EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION gdpr._refuse_erased_subject(%L)',
                   'gdpr_refuse_erased_' || kind, rel, kind);
  END IF;
  DELETE FROM gdpr.map_cache;
  PERFORM gdpr._audit('link', kind, NULL, NULL, jsonb_build_object('table', rel::text, 'column', column_name));
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_link(rel regclass, kind text, column_name name)
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_link(regclass, text, name) IS
  'Declares that a column of a table without a foreign key holds ids of subjects of a kind; new rows for erased subjects are refused';

-- Removes a link: by the owner of the linked table or of the kind's root.
CREATE FUNCTION gdpr._unlink(rel regclass, kind text, column_name name)
  RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  k gdpr.subject_kind := gdpr._require_kind(kind);
  owner_of_table boolean;
BEGIN
  PERFORM gdpr._require(rel, 'table');
  PERFORM gdpr._require(column_name, 'column name');
  SELECT pg_has_role(gdpr._actor(), c.relowner, 'USAGE') INTO owner_of_table FROM pg_class c WHERE c.oid = rel;
  IF NOT owner_of_table THEN
    PERFORM gdpr._require_mappable(k.root_table);
  END IF;
  DELETE FROM gdpr.subject_link l WHERE l.link_table = rel AND l.kind = k.kind AND l.link_column = column_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column % of % is not linked to kind "%"', column_name, rel, kind
      USING ERRCODE = 'undefined_object', HINT = 'gdpr.subject_link lists the links.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM gdpr.subject_link l WHERE l.link_table = rel AND l.kind = k.kind) THEN
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'gdpr_refuse_erased_' || kind, rel);
  END IF;
  DELETE FROM gdpr.map_cache;
  PERFORM gdpr._audit('unlink', kind, NULL, NULL, jsonb_build_object('table', rel::text, 'column', column_name));
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_unlink(rel regclass, kind text, column_name name)
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_unlink(regclass, text, name) IS
  'Removes a link made by gdpr_link(); by the owner of the linked table or of the kind''s root table';
-- Guards a linked table (no foreign key, so the root row lock does not
-- protect it): a new row for an erased subject is refused. The shared
-- per-subject lock makes an insert racing an erase wait for it, then see
-- its tombstone; an insert that got there first is seen by the erase. In C
-- (erased_subject_guard.cpp): no casts, a fresh snapshot, no ids in errors.
CREATE FUNCTION gdpr._refuse_erased_subject() RETURNS trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'gdpr_refuse_erased_subject';

CREATE FUNCTION gdpr._lock_subject(hash bytea, shared boolean) RETURNS void
  LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  key1 integer := hashtext('pg_gdpr.subject');
  key2 integer := hashtext(encode(hash, 'hex'));
BEGIN
  IF shared THEN
    PERFORM pg_advisory_xact_lock_shared(key1, key2);
  ELSE
    PERFORM pg_advisory_xact_lock(key1, key2);
  END IF;
END
$fn$;


CREATE FUNCTION gdpr._hold(rel regclass, keep interval, from_column name, reason text)
  RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM gdpr._require(rel, 'table');
  PERFORM gdpr._require(keep, 'retention period');
  PERFORM gdpr._require(from_column, 'column the period counts from');
  PERFORM gdpr._require(reason, 'reason');
  PERFORM gdpr._require_table(rel);
  PERFORM gdpr._require_mappable(rel);
  PERFORM gdpr._require_column(rel, from_column, 'date');
  IF keep <= interval '0' THEN
    RAISE EXCEPTION 'retention period of a legal hold must be positive'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'For invoices kept for tax law: interval ''7 years''.';
  END IF;
  IF reason = '' THEN
    RAISE EXCEPTION 'a legal hold needs a reason'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Name the law or obligation, e.g. ''tax law: invoices 7 years''.';
  END IF;
  IF cardinality(gdpr._primary_key(rel)) = 0 THEN
    RAISE EXCEPTION 'table % has no primary key', rel
      USING ERRCODE = 'invalid_object_definition',
            DETAIL = 'Rows kept under a legal hold are recorded by primary key, so that they can be erased when the hold ends.',
            HINT = 'Add a primary key to the table.';
  END IF;
  INSERT INTO gdpr.legal_hold AS h (hold_table, keep, from_column, reason, mapped_by)
  VALUES (rel, keep, from_column, reason, gdpr._actor())
  ON CONFLICT (hold_table) DO UPDATE SET keep = excluded.keep, from_column = excluded.from_column,
                                         reason = excluded.reason, mapped_by = excluded.mapped_by;
  DELETE FROM gdpr.map_cache;
  PERFORM gdpr._audit('hold', NULL, NULL, NULL,
                      jsonb_build_object('table', rel::text, 'keep', keep::text, 'from_column', from_column, 'reason', reason));
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_hold(rel regclass, keep interval, from_column name, reason text)
  RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_hold(regclass, interval, name, text) IS
  'Keeps a table''s rows after erasure for a period counted from a column (e.g. invoices, 7 years, tax law)';

-- ---- resolution ----------------------------------------------------------------

-- PostgreSQL refuses to queue a deferred trigger inside a security-
-- restricted operation (as in REFRESH MATERIALIZED VIEW), and every write
-- pg_gdpr makes to a user's table runs inside one. So the deferrable
-- foreign keys on and into the tables a rights function writes are made
-- IMMEDIATE for its duration (their pending checks fire now), and those
-- declared INITIALLY DEFERRED are deferred again when it is done. Foreign
-- keys only: their checks are PostgreSQL's own code, never a user's.
CREATE FUNCTION gdpr._immediate_keys(rels regclass[]) RETURNS text[]
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  names text[];
  initially_deferred text[];
BEGIN
  WITH deferrable_key AS MATERIALIZED (
    SELECT c.conname, c.connamespace, c.condeferred, c.conrelid, c.confrelid
      FROM pg_constraint c WHERE c.contype = 'f' AND c.condeferrable)
  SELECT array_agg(DISTINCT format('%I.%I', n.nspname, c.conname)),
         array_agg(DISTINCT format('%I.%I', n.nspname, c.conname)) FILTER (WHERE c.condeferred)
    INTO names, initially_deferred
    FROM deferrable_key c JOIN pg_namespace n ON n.oid = c.connamespace
   WHERE coalesce(pg_partition_root(c.conrelid), c.conrelid) = ANY (rels)
      OR coalesce(pg_partition_root(c.confrelid), c.confrelid) = ANY (rels);
  IF names IS NOT NULL THEN
    EXECUTE 'SET CONSTRAINTS ' || array_to_string(names, ', ') || ' IMMEDIATE';
  END IF;
  RETURN coalesce(initially_deferred, '{}');
END
$fn$;

CREATE FUNCTION gdpr._defer_keys_again(names text[]) RETURNS void
  LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF cardinality(names) > 0 THEN
    EXECUTE 'SET CONSTRAINTS ' || array_to_string(names, ', ') || ' DEFERRED';
  END IF;
END
$fn$;

-- Every foreign key, as the map sees it: a key declared on a partition
-- only (not on its partitioned table) counts as the partitioned table's,
-- for all of its rows, so that partitions created later without the key
-- are covered too. The partition's own row stays in the list as well:
-- partitions are never tables of the map, so it changes nothing there.
-- Keys partitions inherit from their parent (conparentid <> 0) are left to
-- the callers, which skip them. Plain SQL without SET, so that the planner
-- inlines it and a caller's "conrelid = ..." uses the catalog's index.
CREATE TYPE gdpr.foreign_key AS (
  oid oid, conname name, contype "char", conrelid oid, confrelid oid, conparentid oid,
  conkey smallint[], confkey smallint[], confdeltype "char", confdelsetcols smallint[], condeferrable boolean);

-- The numbers, in table to_rel, of the columns of from_rel numbered
-- attnums (matched by name: a partition's columns may be numbered
-- differently from its parent's).
CREATE FUNCTION gdpr._same_columns(from_rel oid, attnums smallint[], to_rel oid) RETURNS smallint[]
  LANGUAGE sql STABLE AS $fn$
  SELECT ARRAY(SELECT ta.attnum FROM pg_catalog.unnest(attnums) WITH ORDINALITY u(n, i)
                 JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) from_rel
                                                AND pa.attnum OPERATOR(pg_catalog.=) u.n
                 JOIN pg_catalog.pg_attribute ta ON ta.attrelid OPERATOR(pg_catalog.=) to_rel
                                                AND ta.attname OPERATOR(pg_catalog.=) pa.attname
                ORDER BY u.i)
$fn$;

CREATE FUNCTION gdpr._foreign_keys() RETURNS SETOF gdpr.foreign_key
  LANGUAGE sql STABLE AS $fn$
  SELECT c.oid, c.conname, c.contype, c.conrelid, c.confrelid, c.conparentid, c.conkey, c.confkey,
         c.confdeltype, c.confdelsetcols, c.condeferrable
    FROM pg_catalog.pg_constraint c
   WHERE c.contype OPERATOR(pg_catalog.=) 'f'
  UNION ALL
  SELECT DISTINCT ON (t.top, c.confrelid, c.confkey, c.conkey)
         c.oid, c.conname, c.contype, t.top, c.confrelid, c.conparentid,
         gdpr._same_columns(c.conrelid, c.conkey, t.top),
         c.confkey, c.confdeltype,
         gdpr._same_columns(c.conrelid, c.confdelsetcols, t.top),
         c.condeferrable
    FROM pg_catalog.pg_constraint c
    JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.conrelid AND r.relispartition
    CROSS JOIN LATERAL (SELECT pg_catalog.pg_partition_root(c.conrelid)::pg_catalog.oid AS top) t
   WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.conparentid OPERATOR(pg_catalog.=) 0
$fn$;

-- Tables holding a kind's rows: the root (depth 0), and level by level the
-- tables whose foreign keys reference the previous level's owning tables,
-- plus the linked tables at level 1. A table reached only by foreign keys
-- that are ON DELETE SET NULL / SET DEFAULT outlives the subject (its rows
-- are detached), so it is not "owning" and the walk does not continue
-- through it; a table that is also reached through another kind of key is
-- owning. Partitions are reached through their parent.
CREATE FUNCTION gdpr._map_tables(kind text)
  RETURNS TABLE (rel regclass, depth integer, owning boolean)
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  k gdpr.subject_kind := gdpr._require_kind(kind);
  owners oid[] := ARRAY[k.root_table::oid];
  depths integer[] := ARRAY[0];
  frontier oid[] := ARRAY[k.root_table::oid];
  level integer := 0;
  found record;
  next_frontier oid[];
BEGIN
  -- the owning tables, breadth-first through keys that take rows along
  LOOP
    next_frontier := '{}';
    level := level + 1;
    FOR found IN
      SELECT DISTINCT c.conrelid AS child
        FROM gdpr._foreign_keys() c JOIN pg_class r ON r.oid = c.conrelid
       WHERE c.contype = 'f' AND c.conparentid = 0 AND NOT r.relispartition
         AND c.confrelid = ANY (frontier) AND c.conrelid <> ALL (owners) AND c.confdeltype NOT IN ('n', 'd')
      UNION
      SELECT l.link_table FROM gdpr.subject_link l
       WHERE level = 1 AND l.kind = k.kind AND l.link_table::oid <> ALL (owners)
      ORDER BY 1
    LOOP
      owners := owners || found.child;
      depths := depths || level;
      next_frontier := next_frontier || found.child;
    END LOOP;
    EXIT WHEN cardinality(next_frontier) = 0;
    frontier := next_frontier;
  END LOOP;
  FOR i IN 1 .. cardinality(owners) LOOP
    rel := owners[i]; depth := depths[i]; owning := true; RETURN NEXT;
  END LOOP;
  -- the detach-only tables: a key into an owning table, all of them SET NULL / SET DEFAULT
  FOR found IN
    SELECT c.conrelid AS child, min(depths[array_position(owners, c.confrelid)]) + 1 AS d
      FROM gdpr._foreign_keys() c JOIN pg_class r ON r.oid = c.conrelid
     WHERE c.contype = 'f' AND c.conparentid = 0 AND NOT r.relispartition
       AND c.confrelid = ANY (owners) AND c.conrelid <> ALL (owners)
     GROUP BY c.conrelid ORDER BY 1
  LOOP
    rel := found.child; depth := found.d; owning := false; RETURN NEXT;
  END LOOP;
END
$fn$;

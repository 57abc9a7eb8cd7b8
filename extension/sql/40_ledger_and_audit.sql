-- ---------------------------------------------------------------------------
-- Evidence: the keyed subject hash, tombstones of erased subjects, rows
-- kept under a legal hold, the request ledger and the append-only audit log.
-- ---------------------------------------------------------------------------

-- gdpr.subject_hash(kind, id), the keyed hash that identifies a subject in
-- the ledger, tombstones and audit log without holding the id itself, is
-- defined with the keys (10_data_keys.sql): its key is derived from the
-- master key and never stored.

CREATE TABLE gdpr.tombstone (
  subject_hash bytea PRIMARY KEY,
  kind         text NOT NULL,
  erased_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
  request_id   bigint
);
COMMENT ON TABLE gdpr.tombstone IS 'Erased subjects (keyed hashes): replayed after a restore, checked before new data';

CREATE TABLE gdpr.hold_release (
  subject_hash bytea NOT NULL,
  kind         text NOT NULL,
  hold_table   regclass NOT NULL,
  row_key      jsonb NOT NULL,
  release_at   timestamptz NOT NULL,
  released_at  timestamptz,
  hold_key_id  bigint,  -- the subject's hold key, shredded when its last held row is released
  -- per subject: a held row reached from two subjects is held for each
  PRIMARY KEY (subject_hash, hold_table, row_key)
);
COMMENT ON TABLE gdpr.hold_release IS 'Rows of erased subjects kept under a legal hold, and when their personal fields go';

CREATE TABLE gdpr.request (
  request_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind         text NOT NULL,
  subject_id   text,  -- cleared once the request is completed
  subject_hash bytea NOT NULL,
  request_type text NOT NULL CHECK (request_type IN ('access', 'portability', 'erasure', 'rectification',
                                                     'restriction', 'objection', 'consent_withdrawal')),
  channel      text NOT NULL,
  status       text NOT NULL DEFAULT 'received'
               CHECK (status IN ('received', 'verified', 'completed', 'rejected')),
  received_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  due_at       timestamptz NOT NULL,
  verified_at  timestamptz,
  completed_at timestamptz,
  outcome      jsonb
);
CREATE INDEX request_open ON gdpr.request (due_at) WHERE status IN ('received', 'verified');
CREATE INDEX request_subject ON gdpr.request (subject_hash);
COMMENT ON TABLE gdpr.request IS 'Requests of data subjects, from receipt through verification to completion';

CREATE TABLE gdpr.audit_log (
  audit_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  logged_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  session_role name NOT NULL DEFAULT session_user,
  acting_role  name NOT NULL,
  action       text NOT NULL,
  kind         text,
  subject_hash bytea,
  request_id   bigint,
  details      jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE gdpr.audit_log IS 'Append-only record of erasures, exports, rectifications, requests and key operations';

-- Append-only: UPDATE, DELETE and TRUNCATE are refused for everyone; the
-- one way to remove old entries is gdpr_purge_audit_log(), for superusers,
-- which writes its own entry first (audit_log_guard.cpp).
CREATE FUNCTION gdpr._audit_log_is_append_only() RETURNS trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'gdpr_audit_log_is_append_only';
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON gdpr.audit_log
  FOR EACH ROW EXECUTE FUNCTION gdpr._audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON gdpr.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION gdpr._audit_log_is_append_only();

CREATE FUNCTION gdpr._delete_audit_before(before timestamptz) RETURNS bigint
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_delete_audit_before';

-- The actor is the role that called the gdpr_* entry point, found by the
-- extension itself (gdpr._actor()), never an argument.
CREATE FUNCTION gdpr._audit(action text, kind text, subject_hash bytea,
                            request_id bigint, details jsonb) RETURNS void
  LANGUAGE sql VOLATILE AS $fn$
  INSERT INTO gdpr.audit_log (acting_role, action, kind, subject_hash, request_id, details)
  VALUES ((SELECT r.rolname FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) gdpr._actor()),
          action, kind, subject_hash, request_id, coalesce(details, '{}'))
$fn$;

CREATE FUNCTION gdpr._purge_audit_log(older_than timestamptz) RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  removed bigint;
BEGIN
  IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = gdpr._actor()) THEN
    RAISE EXCEPTION 'only a superuser may remove audit records'
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Audit records are evidence; ask the database''s superuser.';
  END IF;
  PERFORM gdpr._require(older_than, 'date before which audit records are removed');
  IF older_than > now() THEN
    RAISE EXCEPTION 'audit records from the future cannot be removed'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass a date in the past, e.g. now() - interval ''7 years''.';
  END IF;
  removed := gdpr._delete_audit_before(older_than);
  PERFORM gdpr._audit('audit_log_purged', NULL, NULL, NULL,
                      jsonb_build_object('older_than', older_than, 'removed', removed));
  RETURN removed;
END
$fn$;
CREATE FUNCTION @extschema@.gdpr_purge_audit_log(older_than timestamptz) RETURNS bigint
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_rights_entry';
COMMENT ON FUNCTION @extschema@.gdpr_purge_audit_log(timestamptz) IS
  'Superusers only: removes audit records logged before a date, and logs that it did';

SELECT pg_catalog.pg_extension_config_dump('gdpr.tombstone', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.hold_release', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.request', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.audit_log', '');
-- Their identity sequences too, or a restored database would hand out
-- request and audit ids that exist already.
SELECT pg_catalog.pg_extension_config_dump('gdpr.request_request_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.audit_log_audit_id_seq', '');
REVOKE ALL ON gdpr.tombstone, gdpr.hold_release, gdpr.request, gdpr.audit_log FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- What Art. 15 requires beside the data: purposes with their lawful basis,
-- recipients (processors), retention per category. Editable by the DPO and
-- kept by pg_dump; gdpr_load_policy_defaults() fills them from the privacy
-- policy this project enforces.
-- ---------------------------------------------------------------------------
CREATE TABLE gdpr.purpose (
  purpose      text PRIMARY KEY,
  lawful_basis text NOT NULL CHECK (lawful_basis IN ('consent', 'contract', 'legal_obligation',
                                                     'vital_interests', 'public_task', 'legitimate_interests')),
  description  text NOT NULL,
  categories   text[] NOT NULL,
  -- the policy: "We never sell your personal data ... or use it for behavioral advertising"
  -- (words: "wholesale_orders" and "sales_support" are not a sale of data)
  CHECK (pg_catalog.replace(purpose, '_', ' ') !~* '(\msell|\msale\M|\msold\M|\mdata.?sales?\M|behaviou?ral.?advertising)')
);

CREATE TABLE gdpr.processor (
  processor text PRIMARY KEY,
  service   text NOT NULL,
  location  text
);

CREATE TABLE gdpr.category_retention (
  category  text PRIMARY KEY CHECK (category IN ('personal', 'usage', 'customer', 'technical', 'sensitive')),
  retention text NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('gdpr.purpose', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.processor', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.category_retention', '');
REVOKE ALL ON gdpr.purpose, gdpr.processor, gdpr.category_retention FROM PUBLIC;

CREATE FUNCTION @extschema@.gdpr_load_policy_defaults() RETURNS integer
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  added integer;
  total integer := 0;
BEGIN
  total := total + gdpr._load_purpose_defaults();  -- 60_purposes_consent.sql
  INSERT INTO gdpr.processor VALUES
  ('AWS', 'Cloud infrastructure: data storage and compute', 'Ireland'),
  ('PostgreSQL (managed)', 'Encrypted data storage', NULL),
  ('SendGrid / AWS SES', 'Transactional email', NULL),
  ('Razorpay / Stripe', 'Subscription payments (PCI DSS Level 1)', NULL),
  ('Sentry', 'Error tracking', NULL),
  ('Mixpanel', 'Anonymized usage analytics', NULL),
  ('Zendesk', 'Support ticket management', NULL)
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS added = ROW_COUNT; total := total + added;
  INSERT INTO gdpr.category_retention VALUES
  ('personal', 'For the duration of the subscription plus 30 days; erased within 30 days of a verified deletion request'),
  ('customer', 'For the duration of the subscription plus 30 days'),
  ('usage', 'Anonymized and aggregated; kept for 24 months'),
  ('technical', '90 days'),
  ('sensitive', 'Only while needed for the purpose it was provided for')
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS added = ROW_COUNT; total := total + added;
  RETURN total;
END
$fn$;
COMMENT ON FUNCTION @extschema@.gdpr_load_policy_defaults() IS
  'Fills purposes, processors and retention periods from the privacy policy; keeps existing rows';

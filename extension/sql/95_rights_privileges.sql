-- ---------------------------------------------------------------------------
-- Privileges of the data map, the rights and the ledger. Nothing in schema
-- gdpr is executable by anyone but the extension's owner: the public
-- gdpr_* entry points reach the bodies themselves (rights_entry.cpp).
-- Table owners holding gdpr_app map their own tables (ownership is checked
-- on every call); gdpr_admin (the DPO, a member of gdpr_app) also erases,
-- exports, rectifies, manages requests and reads the ledger and the audit
-- log. Nothing is granted to PUBLIC.
-- ---------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA gdpr FROM PUBLIC;
GRANT USAGE ON SCHEMA gdpr TO gdpr_admin;
GRANT SELECT ON gdpr.subject_kind, gdpr.subject_link, gdpr.legal_hold, gdpr.tombstone, gdpr.hold_release,
                gdpr.request, gdpr.audit_log, gdpr.purpose, gdpr.processor, gdpr.category_retention
   TO gdpr_admin;
GRANT INSERT, UPDATE, DELETE ON gdpr.purpose, gdpr.processor, gdpr.category_retention TO gdpr_admin;

SELECT gdpr._grant_only_to('gdpr_app', ARRAY[
  'gdpr_register_subject(text, regclass, name)', 'gdpr_tag(regclass, name, text, text)',
  'gdpr_link(regclass, text, name)', 'gdpr_unlink(regclass, text, name)',
  'gdpr_hold(regclass, interval, name, text)']);
SELECT gdpr._grant_only_to('gdpr_admin', ARRAY[
  'gdpr_data_map(text)', 'gdpr_erase(text, text, text)', 'gdpr_export(text, text)',
  'gdpr_export_rows(text, text)', 'gdpr_rectify(text, text, regclass, name, text)',
  'gdpr_request(text, text, text, text)', 'gdpr_verify_request(bigint)',
  'gdpr_fulfil_request(bigint)', 'gdpr_requests_overdue()', 'gdpr_load_policy_defaults()',
  'gdpr_release_holds(integer)', 'gdpr_erase_plan(text)']);
-- Superusers only, and they need no grant.
REVOKE ALL ON FUNCTION @extschema@.gdpr_purge_audit_log(timestamptz) FROM PUBLIC;

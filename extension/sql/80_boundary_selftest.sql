-- ---------------------------------------------------------------------------
-- Self-test of the C++/PostgreSQL error boundary (superusers only).
-- ---------------------------------------------------------------------------
CREATE FUNCTION gdpr._boundary_selftest(mode text) RETURNS bigint
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'gdpr_boundary_selftest';
REVOKE ALL ON FUNCTION gdpr._boundary_selftest(text) FROM PUBLIC;


-- pg_gdpr install script, assembled at build time from extension/sql/*.sql
-- in name order into pg_gdpr--<version>.sql.
\echo Use "CREATE EXTENSION pg_gdpr" to load this file. \quit

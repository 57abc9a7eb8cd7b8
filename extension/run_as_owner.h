// Running SQL on a user's table with that table's owner's rights, the way
// PostgreSQL runs VACUUM, CREATE INDEX and REFRESH MATERIALIZED VIEW: the
// owner's triggers, casts, domains, policies and index expressions then
// never run with more rights than the owner has.
#pragma once

#ifndef POSTGRES_H
#error "include postgres.h (inside extern \"C\") before run_as_owner.h"
#endif

namespace gdpr {
namespace run_as {

// The owner of a relation; errors (42P01) if it does not exist.
Oid relation_owner(Oid relid);

// The owner of pg_gdpr's catalog (the role that created the extension).
Oid extension_owner();

// Identity saved by enter() and given back by leave().
struct Saved {
  Oid user;
  int security_context;
  int guc_nest_level;
};

// Becomes `role` inside a security-restricted operation with search_path
// pinned to pg_catalog, pg_temp. Plain PostgreSQL calls, no C++ objects:
// if an error escapes before leave(), the (sub)transaction abort restores
// the identity and the settings, as it does for core's own callers.
Saved enter(Oid role);
void leave(const Saved& saved);

// Whether one of pg_gdpr's own statements (run by gdpr._owner_exec /
// _owner_query) is running on relid or a table relid is a partition of.
// Unlike a security-restricted operation, which any user can start
// (REFRESH MATERIALIZED VIEW), only pg_gdpr sets this.
bool in_own_statement_on(Oid relid);

}  // namespace run_as
}  // namespace gdpr

// The security label provider "pg_gdpr": a column's data category, and
// whether it holds pg_gdpr ciphertext. PostgreSQL stores the labels, follows
// column renames and drops, and pg_dump keeps them.
//
//   SECURITY LABEL FOR pg_gdpr ON COLUMN t.c IS 'personal';
//   SECURITY LABEL FOR pg_gdpr ON COLUMN t.c IS 'personal encrypted:crm.t.c';
#pragma once

namespace gdpr {
namespace column_label {

void register_provider();

}  // namespace column_label
}  // namespace gdpr

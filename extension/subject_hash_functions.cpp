// The keyed hashes of subjects, from SQL: gdpr.subject_hash(kind, id) for
// tombstones, requests, holds and the audit log, and
// gdpr._subject_key_address(kind, id) for the key table. Their keys are
// derived from the master key (installation_keys.h) and exist only in
// memory, so a dump of the database cannot reverse them.
#include <cstdint>
#include <vector>

#include "gdpr_error.h"
#include "key_store.h"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
}

#include "pg_boundary.h"

namespace {

bytea* digest_result(const text* kind, const text* subject_id, bool address) {
  if (VARSIZE_ANY_EXHDR(kind) == 0 || VARSIZE_ANY_EXHDR(subject_id) == 0) {
    throw gdpr::GdprError(gdpr::sqlstate::kInvalidParameterValue,
                          "subject kind and subject id must not be empty", {},
                          "Pass the kind and id of a data subject.");
  }
  gdpr::KeyStore& store = gdpr::KeyStore::instance();
  const gdpr::Digest digest =
      address ? store.key_address(VARDATA_ANY(kind), VARSIZE_ANY_EXHDR(kind),
                                  VARDATA_ANY(subject_id), VARSIZE_ANY_EXHDR(subject_id))
              : store.subject_hash(VARDATA_ANY(kind), VARSIZE_ANY_EXHDR(kind),
                                   VARDATA_ANY(subject_id), VARSIZE_ANY_EXHDR(subject_id));
  const std::size_t size = digest.size();
  const std::uint8_t* bytes = digest.data();
  return gdpr::pg::guarded([size, bytes]() -> bytea* {
    bytea* result = static_cast<bytea*>(palloc(VARHDRSZ + size));
    SET_VARSIZE(result, VARHDRSZ + size);
    memcpy(VARDATA(result), bytes, size);
    return result;
  });
}

}  // namespace

GDPR_SQL_FUNCTION(gdpr_subject_hash) {
  PG_RETURN_BYTEA_P(digest_result(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), false));
}

GDPR_SQL_FUNCTION(gdpr_subject_key_address) {
  PG_RETURN_BYTEA_P(digest_result(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), true));
}

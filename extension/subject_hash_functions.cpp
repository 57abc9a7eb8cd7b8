// Keyed hashes of subjects for tombstones, requests and the audit log, so
// those records hold no personal data yet still match a returning subject:
// gdpr._hmac_sha256(key, message) and gdpr._random_bytes(n) for the key.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "gdpr_error.h"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
}

#include "pg_boundary.h"

GDPR_SQL_FUNCTION(gdpr_hmac_sha256) {
  gdpr::pg::require_arg(fcinfo, 0, "key");
  gdpr::pg::require_arg(fcinfo, 1, "message");
  bytea* key = PG_GETARG_BYTEA_PP(0);
  bytea* message = PG_GETARG_BYTEA_PP(1);
  bytea* result = static_cast<bytea*>(palloc(VARHDRSZ + 32));
  SET_VARSIZE(result, VARHDRSZ + 32);
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), VARDATA_ANY(key), static_cast<int>(VARSIZE_ANY_EXHDR(key)),
           reinterpret_cast<const unsigned char*>(VARDATA_ANY(message)),
           VARSIZE_ANY_EXHDR(message), reinterpret_cast<unsigned char*>(VARDATA(result)),
           &size) == nullptr ||
      size != 32) {
    throw gdpr::GdprError(gdpr::sqlstate::kInternalError, "OpenSSL HMAC-SHA256 failed");
  }
  PG_RETURN_BYTEA_P(result);
}

GDPR_SQL_FUNCTION(gdpr_random_bytes) {
  gdpr::pg::require_arg(fcinfo, 0, "count");
  const int32 count = PG_GETARG_INT32(0);
  if (count < 1 || count > 1024) {
    throw gdpr::GdprError(gdpr::sqlstate::kInvalidParameterValue,
                          "count must be between 1 and 1024");
  }
  bytea* result = static_cast<bytea*>(palloc(VARHDRSZ + count));
  SET_VARSIZE(result, VARHDRSZ + count);
  if (RAND_priv_bytes(reinterpret_cast<unsigned char*>(VARDATA(result)), count) != 1) {
    throw gdpr::GdprError(gdpr::sqlstate::kInternalError,
                          "OpenSSL could not generate random bytes");
  }
  PG_RETURN_BYTEA_P(result);
}

// gdpr_encrypt(), gdpr_decrypt(), gdpr_decrypt_bytea(): the per-row hot path.
// Each body fetches its arguments and pallocs its result before any C++
// object exists, then makes one call into C++ that only writes into that
// buffer; so no PostgreSQL error can skip a destructor.
#include <cstdint>
#include <cstring>
#include <string>

#include "ciphertext_format.h"
#include "gdpr_error.h"
#include "key_store.h"
#include "settings.h"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
}

#include "pg_boundary.h"

namespace {

using gdpr::GdprError;

void seal_into(const text* kind, const text* subject_id, const text* context,
               const std::uint8_t* plaintext, std::size_t size, gdpr::PayloadType type,
               std::uint8_t* out) {
  gdpr::KeyStore& store = gdpr::KeyStore::instance();
  gdpr::SubjectKey key = store.for_subject(VARDATA_ANY(kind), VARSIZE_ANY_EXHDR(kind),
                                           VARDATA_ANY(subject_id),
                                           VARSIZE_ANY_EXHDR(subject_id),
                                           gdpr::KeyStore::kMainKeyClass);
  store.cipher().seal(*key.key, key.key_id, type, VARDATA_ANY(context),
                      VARSIZE_ANY_EXHDR(context), plaintext, size, out);
}

void check_subject(const text* kind, const text* subject_id) {
  if (VARSIZE_ANY_EXHDR(kind) == 0) {
    throw GdprError(gdpr::sqlstate::kInvalidParameterValue, "subject kind must not be empty",
                    {}, "Pass the kind of data subject, for example 'user' or 'contact'.");
  }
  if (VARSIZE_ANY_EXHDR(subject_id) == 0) {
    throw GdprError(gdpr::sqlstate::kInvalidParameterValue, "subject id must not be empty",
                    {}, "Pass the id of the data subject the value belongs to.");
  }
}

// The context binds a ciphertext to where it belongs; an empty one binds
// it to nothing.
void check_context(const text* context) {
  if (VARSIZE_ANY_EXHDR(context) == 0) {
    throw GdprError(gdpr::sqlstate::kInvalidParameterValue, "context must not be empty", {},
                    "Pass where the value is stored, for example 'crm.contacts.email'.");
  }
}

std::size_t checked_sealed_size(std::size_t plaintext_size) {
  const std::size_t total = VARHDRSZ + gdpr::ValueCipher::sealed_size(plaintext_size);
  if (total > MaxAllocSize) {
    throw GdprError(gdpr::sqlstate::kInvalidParameterValue, "value is too large to encrypt",
                    "The ciphertext would exceed 1 GB, the largest bytea value.");
  }
  return total;
}

Datum encrypt_body(FunctionCallInfo fcinfo, gdpr::PayloadType type) {
  gdpr::pg::require_arg(fcinfo, 0, "subject kind");
  gdpr::pg::require_arg(fcinfo, 1, "subject id");
  gdpr::pg::require_arg(fcinfo, 3, "context");
  if (PG_ARGISNULL(2)) PG_RETURN_NULL();
  text* kind = PG_GETARG_TEXT_PP(0);
  text* subject_id = PG_GETARG_TEXT_PP(1);
  varlena* plaintext = PG_GETARG_VARLENA_PP(2);
  text* context = PG_GETARG_TEXT_PP(3);
  check_subject(kind, subject_id);
  check_context(context);
  const std::size_t size = VARSIZE_ANY_EXHDR(plaintext);
  const std::size_t total = checked_sealed_size(size);
  bytea* result = static_cast<bytea*>(palloc(total));
  SET_VARSIZE(result, total);
  seal_into(kind, subject_id, context, reinterpret_cast<const std::uint8_t*>(VARDATA_ANY(plaintext)),
            size, type, reinterpret_cast<std::uint8_t*>(VARDATA(result)));
  PG_RETURN_BYTEA_P(result);
}

// Opens view into out; false if the subject's key was shredded.
bool open_into(const gdpr::CiphertextView& view, const text* context, std::uint8_t* out) {
  gdpr::KeyStore& store = gdpr::KeyStore::instance();
  gdpr::AesGcmKey* key = store.by_id(view.key_id);
  if (key == nullptr) {
    if (gdpr::settings::strict_decrypt) {
      throw GdprError(gdpr::sqlstate::kObjectNotInPrerequisiteState,
                      "data key " + std::to_string(view.key_id) + " was shredded",
                      "The subject this value belongs to was erased.",
                      "Set pg_gdpr.strict_decrypt = off to read erased values as NULL.");
    }
    return false;
  }
  store.cipher().open(*key, view, VARDATA_ANY(context), VARSIZE_ANY_EXHDR(context), out);
  return true;
}

Datum decrypt_body(FunctionCallInfo fcinfo, bool as_text) {
  gdpr::pg::require_arg(fcinfo, 1, "context");
  if (PG_ARGISNULL(0)) PG_RETURN_NULL();
  bytea* ciphertext = PG_GETARG_BYTEA_PP(0);
  text* context = PG_GETARG_TEXT_PP(1);
  check_context(context);
  const gdpr::CiphertextView view = gdpr::parse_ciphertext(
      reinterpret_cast<const std::uint8_t*>(VARDATA_ANY(ciphertext)),
      VARSIZE_ANY_EXHDR(ciphertext));
  if (as_text && view.type != gdpr::PayloadType::kText) {
    throw GdprError(gdpr::sqlstate::kInvalidParameterValue,
                    "ciphertext holds a bytea value, not text", {},
                    "Use gdpr_decrypt_bytea() for values encrypted from bytea.");
  }
  const std::size_t total = VARHDRSZ + view.body_size;
  varlena* result = static_cast<varlena*>(palloc(total));
  SET_VARSIZE(result, total);
  if (!open_into(view, context, reinterpret_cast<std::uint8_t*>(VARDATA(result)))) {
    pfree(result);
    PG_RETURN_NULL();
  }
  // Text may have been encrypted in a database with another encoding.
  if (as_text) pg_verifymbstr(VARDATA(result), static_cast<int>(view.body_size), false);
  PG_RETURN_POINTER(result);
}

}  // namespace

GDPR_SQL_FUNCTION(gdpr_encrypt_text) { return encrypt_body(fcinfo, gdpr::PayloadType::kText); }

GDPR_SQL_FUNCTION(gdpr_encrypt_bytea) {
  return encrypt_body(fcinfo, gdpr::PayloadType::kBytes);
}

GDPR_SQL_FUNCTION(gdpr_decrypt_text) { return decrypt_body(fcinfo, true); }

GDPR_SQL_FUNCTION(gdpr_decrypt_bytea) { return decrypt_body(fcinfo, false); }

// gdpr._rekey(ciphertext, context, kind, subject_id, key_class): the same
// value sealed again under another key class of the subject, keeping its
// payload type. Erasure uses it for rows under a legal hold, whose fields
// must stay readable after the subject's main key is shredded.
GDPR_SQL_FUNCTION(gdpr_rekey) {
  gdpr::pg::require_arg(fcinfo, 1, "context");
  gdpr::pg::require_arg(fcinfo, 2, "subject kind");
  gdpr::pg::require_arg(fcinfo, 3, "subject id");
  gdpr::pg::require_arg(fcinfo, 4, "key class");
  if (PG_ARGISNULL(0)) PG_RETURN_NULL();
  bytea* ciphertext = PG_GETARG_BYTEA_PP(0);
  text* context = PG_GETARG_TEXT_PP(1);
  text* kind = PG_GETARG_TEXT_PP(2);
  text* subject_id = PG_GETARG_TEXT_PP(3);
  char* key_class = text_to_cstring(PG_GETARG_TEXT_PP(4));
  check_subject(kind, subject_id);
  const gdpr::CiphertextView view = gdpr::parse_ciphertext(
      reinterpret_cast<const std::uint8_t*>(VARDATA_ANY(ciphertext)),
      VARSIZE_ANY_EXHDR(ciphertext));
  std::uint8_t* plain = static_cast<std::uint8_t*>(palloc(view.body_size + 1));
  const std::size_t total = checked_sealed_size(view.body_size);
  bytea* result = static_cast<bytea*>(palloc(total));
  SET_VARSIZE(result, total);
  if (!open_into(view, context, plain)) PG_RETURN_NULL();
  gdpr::KeyStore& store = gdpr::KeyStore::instance();
  gdpr::SubjectKey key = store.for_subject(VARDATA_ANY(kind), VARSIZE_ANY_EXHDR(kind),
                                           VARDATA_ANY(subject_id),
                                           VARSIZE_ANY_EXHDR(subject_id), key_class);
  store.cipher().seal(*key.key, key.key_id, view.type, VARDATA_ANY(context),
                      VARSIZE_ANY_EXHDR(context), plain, view.body_size,
                      reinterpret_cast<std::uint8_t*>(VARDATA(result)));
  PG_RETURN_BYTEA_P(result);
}

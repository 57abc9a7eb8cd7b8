// Key management from SQL: master key rotation, the configured master key
// versions, and the trigger that tells every session about shredded keys.
#include <cstdint>
#include <vector>

#include "gdpr_error.h"
#include "key_store.h"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

#include "pg_boundary.h"

GDPR_SQL_FUNCTION(gdpr_rotate_master_key) {
  std::int64_t max_keys = PG_ARGISNULL(0) ? -1 : PG_GETARG_INT64(0);
  if (!PG_ARGISNULL(0) && max_keys < 0) {
    throw gdpr::GdprError(gdpr::sqlstate::kInvalidParameterValue,
                          "max_keys must not be negative", {},
                          "Pass NULL to re-wrap every data key, or a positive batch size.");
  }
  PG_RETURN_INT64(gdpr::KeyStore::instance().rotate_master_key(max_keys));
}

GDPR_SQL_FUNCTION(gdpr_master_key_versions) {
  const std::vector<std::uint32_t> versions = gdpr::KeyStore::instance().master_key_versions();
  ArrayType* array = gdpr::pg::guarded([&versions] {
    const int n = static_cast<int>(versions.size());
    Datum* items = static_cast<Datum*>(palloc(sizeof(Datum) * static_cast<std::size_t>(n)));
    for (int i = 0; i < n; ++i) items[i] = Int32GetDatum(static_cast<int32>(versions[static_cast<std::size_t>(i)]));
    return construct_array(items, n, INT4OID, sizeof(int32), true, TYPALIGN_INT);
  });
  PG_RETURN_ARRAYTYPE_P(array);
}

// AFTER UPDATE OR DELETE OR TRUNCATE ... FOR EACH STATEMENT on
// gdpr.subject_key: whatever path shreds a key (gdpr_shred_key, an erase, a
// DBA's DELETE), this session forgets its cached keys now and every other
// session when this transaction commits.
GDPR_SQL_FUNCTION(gdpr_subject_key_changed) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    throw gdpr::GdprError(gdpr::sqlstate::kObjectNotInPrerequisiteState,
                          "gdpr._subject_key_changed() must be called as a trigger");
  }
  gdpr::key_events::keys_changed();
  // Sent at commit and WAL-logged with it: every session, standbys
  // included, drops its cached keys (see key_events::relation_invalidated).
  const Oid key_table = RelationGetRelid(reinterpret_cast<TriggerData*>(fcinfo->context)->tg_relation);
  gdpr::pg::guarded([key_table] { CacheInvalidateRelcacheByRelid(key_table); });
  return PointerGetDatum(nullptr);
}

// AFTER ... FOR EACH STATEMENT on gdpr.subject_kind: sessions read the id
// types of the registered kinds again (the canonical ids of gdpr_encrypt).
GDPR_SQL_FUNCTION(gdpr_subject_kind_changed) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    throw gdpr::GdprError(gdpr::sqlstate::kObjectNotInPrerequisiteState,
                          "gdpr._subject_kind_changed() must be called as a trigger");
  }
  const Oid kind_table = RelationGetRelid(reinterpret_cast<TriggerData*>(fcinfo->context)->tg_relation);
  gdpr::pg::guarded([kind_table] { CacheInvalidateRelcacheByRelid(kind_table); });
  return PointerGetDatum(nullptr);
}

// gdpr._key_backup_bytes(): the sealed key backup (key_backup_format.h).
GDPR_SQL_FUNCTION(gdpr_key_backup_bytes) {
  const std::vector<std::uint8_t> backup = gdpr::KeyStore::instance().write_backup();
  const std::size_t size = backup.size();
  if (size + VARHDRSZ > MaxAllocSize) {
    throw gdpr::GdprError(gdpr::sqlstate::kInvalidParameterValue, "key backup exceeds 1 GB",
                          "A key backup is one bytea value.", {});
  }
  const std::uint8_t* bytes = backup.data();
  bytea* result = gdpr::pg::guarded([size, bytes]() -> bytea* {
    bytea* out = static_cast<bytea*>(palloc(VARHDRSZ + size));
    SET_VARSIZE(out, VARHDRSZ + size);
    memcpy(VARDATA(out), bytes, size);
    return out;
  });
  PG_RETURN_BYTEA_P(result);
}

// gdpr._restore_key_backup_bytes(backup): the number of keys restored.
GDPR_SQL_FUNCTION(gdpr_restore_key_backup_bytes) {
  gdpr::pg::require_arg(fcinfo, 0, "key backup");
  bytea* backup = PG_GETARG_BYTEA_PP(0);
  PG_RETURN_INT64(gdpr::KeyStore::instance().restore_backup(
      reinterpret_cast<const std::uint8_t*>(VARDATA_ANY(backup)), VARSIZE_ANY_EXHDR(backup)));
}


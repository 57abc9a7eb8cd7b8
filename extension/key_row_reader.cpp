#include <optional>

#include "gdpr_error.h"

extern "C" {
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
}

#include "key_row_reader.h"
#include "pg_boundary.h"

namespace gdpr {
namespace {

// The columns as palloc'd copies, filled inside one guarded call.
struct RawKeyRow {
  bool found;
  bytea* address;
  char* key_class;
  bool has_version;
  int32 kek_version;
  bytea* wrapped;  // null once shredded
};

Datum column(TupleTableSlot* slot, Relation rel, const char* name, bool* isnull) {
  const AttrNumber attnum = get_attnum(RelationGetRelid(rel), name);
  if (attnum == InvalidAttrNumber) elog(ERROR, "pg_gdpr: gdpr.subject_key has no column %s", name);
  return slot_getattr(slot, attnum, isnull);
}

RawKeyRow* lookup(Oid key_table, int64 key_id) {
  RawKeyRow* out = static_cast<RawKeyRow*>(palloc0(sizeof(RawKeyRow)));
  Relation rel = table_open(key_table, AccessShareLock);
  const Oid index_oid = RelationGetPrimaryKeyIndex(rel);
  if (!OidIsValid(index_oid)) elog(ERROR, "pg_gdpr: gdpr.subject_key has no primary key");
  Relation index = index_open(index_oid, AccessShareLock);
  const bool parallel = IsInParallelMode();
  Snapshot snapshot = parallel ? GetActiveSnapshot() : RegisterSnapshot(GetLatestSnapshot());
  ScanKeyData key;
  ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(key_id));
  IndexScanDesc scan = index_beginscan(rel, index, snapshot, 1, 0);
  index_rescan(scan, &key, 1, nullptr, 0);
  TupleTableSlot* slot = table_slot_create(rel, nullptr);
  if (index_getnext_slot(scan, ForwardScanDirection, slot)) {
    bool isnull = true;
    out->found = true;
    Datum value = column(slot, rel, "subject_address", &isnull);
    out->address = isnull ? nullptr : DatumGetByteaPCopy(value);
    value = column(slot, rel, "key_class", &isnull);
    out->key_class = isnull ? nullptr : TextDatumGetCString(value);
    value = column(slot, rel, "kek_version", &isnull);
    out->has_version = !isnull;
    out->kek_version = isnull ? 0 : DatumGetInt32(value);
    value = column(slot, rel, "wrapped_key", &isnull);
    out->wrapped = isnull ? nullptr : DatumGetByteaPCopy(value);
  }
  ExecDropSingleTupleTableSlot(slot);
  index_endscan(scan);
  if (!parallel) UnregisterSnapshot(snapshot);
  index_close(index, AccessShareLock);
  table_close(rel, AccessShareLock);
  return out;
}

std::vector<std::uint8_t> bytes_of(const bytea* value) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(VARDATA_ANY(value));
  return std::vector<std::uint8_t>(data, data + VARSIZE_ANY_EXHDR(value));
}

}  // namespace

std::optional<KeyRow> read_key_row(Oid key_table, std::uint64_t key_id) {
  const int64 id = static_cast<int64>(key_id);
  RawKeyRow* raw = pg::guarded([key_table, id] { return lookup(key_table, id); });
  if (!raw->found) return std::nullopt;
  if (raw->address == nullptr || raw->key_class == nullptr) {
    throw GdprError(sqlstate::kInternalError, "unexpected NULL in gdpr.subject_key");
  }
  KeyRow row;
  row.subject_address = bytes_of(raw->address);
  row.key_class = raw->key_class;
  if (raw->has_version) row.kek_version = static_cast<std::uint32_t>(raw->kek_version);
  if (raw->wrapped != nullptr) row.wrapped_key = bytes_of(raw->wrapped);
  return row;
}

}  // namespace gdpr

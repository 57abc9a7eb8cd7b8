// gdpr._refuse_erased_subject(kind [, column ...]): the row trigger that
// refuses new rows for an erased subject in a table of the map. With only
// the kind, it checks the table's linked columns (gdpr_link); with column
// numbers, those columns (a foreign key to a root row that erase had to
// keep).
// An UPDATE that leaves a column's value as it was is not a new reference:
// releasing a held row, for one, must not be refused.
//
// The subject id is read with its type's output function, never through a
// cast or any function a table owner could define. The tombstone is looked
// up with the latest snapshot, like a foreign-key check: a transaction
// whose snapshot predates the erase (REPEATABLE READ, SERIALIZABLE) gets a
// serialization failure instead of slipping past. Ids never appear in the
// messages: they would reach the client and the server log.
//
// Lock order, shared with gdpr_erase: the subject's root row first (here
// FOR KEY SHARE, as a foreign key check takes it; erase takes it FOR
// UPDATE), then the subject lock. An application transaction that writes a
// subject's rows through foreign keys and into linked tables, in any order,
// therefore waits for a concurrent erase or makes it wait, and never
// deadlocks with it.
//
// Written without C++ objects: PostgreSQL errors pass through untouched.
extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

#include "run_as_owner.h"

namespace {

SPIPlanPtr g_links_plan = nullptr;
SPIPlanPtr g_hash_plan = nullptr;
SPIPlanPtr g_lock_plan = nullptr;
SPIPlanPtr g_tombstone_plan = nullptr;
SPIPlanPtr g_root_plan = nullptr;

SPIPlanPtr keep(const char* sql, int nargs, Oid* types) {
  SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
  if (plan == nullptr) elog(ERROR, "pg_gdpr: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
  SPI_keepplan(plan);
  return plan;
}

void prepare_plans() {
  if (g_tombstone_plan != nullptr) return;
  Oid link_types[2] = {OIDOID, TEXTOID};
  g_links_plan = keep(
      "SELECT l.link_column::pg_catalog.text FROM gdpr.subject_link l"
      " WHERE l.link_table OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
      " AND l.kind OPERATOR(pg_catalog.=) $2",
      2, link_types);
  Oid hash_types[2] = {TEXTOID, TEXTOID};
  g_hash_plan = keep("SELECT gdpr.subject_hash($1, $2)", 2, hash_types);
  Oid hash_type[1] = {BYTEAOID};
  g_lock_plan = keep(
      "SELECT pg_catalog.pg_advisory_xact_lock_shared("
      "pg_catalog.hashtext('pg_gdpr.subject'), pg_catalog.hashtext(pg_catalog.encode($1, 'hex')))",
      1, hash_type);
  g_tombstone_plan = keep(
      "SELECT EXISTS (SELECT 1 FROM gdpr.tombstone t WHERE t.subject_hash OPERATOR(pg_catalog.=) $1)",
      1, hash_type);
  Oid kind_type[1] = {TEXTOID};
  g_root_plan = keep(
      "SELECT k.root_table::pg_catalog.oid, pg_catalog.format("
      "'SELECT 1 FROM %s t0 WHERE t0.%I = $1::%s FOR KEY SHARE', k.root_table, k.id_column,"
      " (gdpr._column_types(k.root_table, ARRAY[k.id_column]))[1])"
      " FROM gdpr.subject_kind k WHERE k.kind OPERATOR(pg_catalog.=) $1",
      1, kind_type);
}

// Locks the subject's root row FOR KEY SHARE, as the root table's owner
// (its casts and policies run with the owner's rights only), if the kind
// is registered and the row exists.
void lock_root_row(const char* kind, const char* subject) {
  Datum kind_arg[1] = {CStringGetTextDatum(kind)};
  if (SPI_execute_plan(g_root_plan, kind_arg, nullptr, true, 1) != SPI_OK_SELECT) {
    elog(ERROR, "pg_gdpr: reading the root table of kind %s failed", kind);
  }
  if (SPI_processed != 1) return;
  bool isnull = true;
  Oid root = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  char* sql = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
  if (isnull || sql == nullptr) return;
  gdpr::run_as::Saved saved = gdpr::run_as::enter(gdpr::run_as::relation_owner(root));
  Oid arg_type[1] = {TEXTOID};
  Datum id_arg[1] = {CStringGetTextDatum(subject)};
  if (SPI_execute_with_args(sql, 1, arg_type, id_arg, nullptr, false, 1) != SPI_OK_SELECT) {
    elog(ERROR, "pg_gdpr: locking the subject's root row failed");
  }
  gdpr::run_as::leave(saved);
}

bool tombstone_exists(Datum hash, Snapshot snapshot) {
  Datum values[1] = {hash};
  int status = SPI_execute_snapshot(g_tombstone_plan, values, nullptr, snapshot, InvalidSnapshot,
                                    false, false, 1);
  if (status != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "pg_gdpr: tombstone lookup failed");
  bool isnull = true;
  Datum found = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  return !isnull && DatumGetBool(found);
}

// Refuses the row if the subject whose id is given was erased.
void refuse_if_erased(const char* kind, Relation rel, const char* subject) {
  Datum hash_args[2] = {CStringGetTextDatum(kind), CStringGetTextDatum(subject)};
  if (SPI_execute_plan(g_hash_plan, hash_args, nullptr, false, 1) != SPI_OK_SELECT ||
      SPI_processed != 1) {
    elog(ERROR, "pg_gdpr: subject hash failed");
  }
  bool hash_null = true;
  Datum hash = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &hash_null);
  if (hash_null) return;
  hash = SPI_datumTransfer(hash, false, -1);

  // Waits for an erase of this subject in progress (root row, then the
  // subject lock), then looks with a snapshot taken after it, which sees
  // its commit.
  lock_root_row(kind, subject);
  Datum lock_args[1] = {hash};
  if (SPI_execute_plan(g_lock_plan, lock_args, nullptr, false, 1) != SPI_OK_SELECT) {
    elog(ERROR, "pg_gdpr: subject lock failed");
  }
  if (tombstone_exists(hash, GetLatestSnapshot())) {
    if (IsolationUsesXactSnapshot() && !tombstone_exists(hash, GetTransactionSnapshot())) {
      ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                      errmsg("could not serialize access due to an erasure of a subject of "
                             "kind \"%s\"",
                             kind),
                      errdetail("The subject was erased after this transaction took its "
                                "snapshot; %s refuses new rows for it.",
                                RelationGetRelationName(rel)),
                      errhint("Retry the transaction.")));
    }
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("new row in %s refers to an erased subject of kind \"%s\"",
                           RelationGetRelationName(rel), kind),
                    errhint("Data of an erased subject must not be stored again.")));
  }
}

}  // namespace

extern "C" {
PG_FUNCTION_INFO_V1(gdpr_refuse_erased_subject);
}

extern "C" Datum gdpr_refuse_erased_subject(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("gdpr._refuse_erased_subject() must be called as a trigger")));
  }
  auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!TRIGGER_FIRED_FOR_ROW(trigger->tg_event) || !TRIGGER_FIRED_BEFORE(trigger->tg_event) ||
      trigger->tg_trigger->tgnargs < 1) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("gdpr._refuse_erased_subject() must be a BEFORE ROW trigger with the "
                           "subject kind as its argument")));
  }
  const bool is_update = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event);
  HeapTuple row = is_update ? trigger->tg_newtuple : trigger->tg_trigtuple;
  Relation rel = trigger->tg_relation;
  TupleDesc desc = RelationGetDescr(rel);
  const char* kind = trigger->tg_trigger->tgargs[0];

  gdpr::run_as::Saved saved = gdpr::run_as::enter(gdpr::run_as::extension_owner());
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_gdpr: SPI_connect failed");
  prepare_plans();

  // the columns to check: named by the trigger, or the table's links
  SPITupleTable* links = nullptr;
  uint64 column_count = static_cast<uint64>(trigger->tg_trigger->tgnargs - 1);
  if (column_count == 0) {
    Datum link_args[2] = {ObjectIdGetDatum(RelationGetRelid(rel)), CStringGetTextDatum(kind)};
    if (SPI_execute_plan(g_links_plan, link_args, nullptr, true, 0) != SPI_OK_SELECT) {
      elog(ERROR, "pg_gdpr: reading the links of %s failed", RelationGetRelationName(rel));
    }
    links = SPI_tuptable;
    column_count = SPI_processed;
  }
  for (uint64 i = 0; i < column_count; i++) {
    // links by name (the event triggers follow renames), foreign key
    // columns by number (renames cannot lose them)
    int attnum = links != nullptr ? SPI_fnumber(desc, SPI_getvalue(links->vals[i], links->tupdesc, 1))
                                  : pg_strtoint32(trigger->tg_trigger->tgargs[i + 1]);
    if (attnum <= 0 || attnum > desc->natts || TupleDescAttr(desc, attnum - 1)->attisdropped) continue;
    bool isnull = true;
    Datum value = heap_getattr(row, attnum, desc, &isnull);
    if (isnull) continue;
    if (is_update) {
      bool old_null = true;
      Datum old_value = heap_getattr(trigger->tg_trigtuple, attnum, desc, &old_null);
      Form_pg_attribute attribute = TupleDescAttr(desc, attnum - 1);
      if (!old_null && datumIsEqual(old_value, value, attribute->attbyval, attribute->attlen)) continue;
    }
    // a linked array names every subject it holds
    Oid type = TupleDescAttr(desc, attnum - 1)->atttypid;
    Oid element_type = get_element_type(getBaseType(type));
    Oid output_function;
    bool is_varlena;
    if (element_type == InvalidOid) {
      getTypeOutputInfo(type, &output_function, &is_varlena);
      refuse_if_erased(kind, rel, OidOutputFunctionCall(output_function, value));
      continue;
    }
    getTypeOutputInfo(element_type, &output_function, &is_varlena);
    int16 element_length;
    bool element_by_value;
    char element_align;
    get_typlenbyvalalign(element_type, &element_length, &element_by_value, &element_align);
    Datum* elements = nullptr;
    bool* element_nulls = nullptr;
    int element_count = 0;
    deconstruct_array(DatumGetArrayTypeP(value), element_type, element_length, element_by_value,
                      element_align, &elements, &element_nulls, &element_count);
    for (int e = 0; e < element_count; e++) {
      if (element_nulls[e]) continue;
      refuse_if_erased(kind, rel, OidOutputFunctionCall(output_function, elements[e]));
    }
  }
  SPI_finish();
  gdpr::run_as::leave(saved);
  return PointerGetDatum(row);
}

// gdpr._owner_exec(rel, sql, subject_id, keys) and gdpr._owner_query(...):
// the only way pg_gdpr runs a statement on a user's table. The statement
// runs as the table's owner (see run_as_owner.h); $1 is the subject id as
// text and $2 a jsonb of keys and values the caller collected beforehand,
// so a statement never needs rights on another owner's table. Both are
// granted to nobody: only pg_gdpr's own SECURITY DEFINER bodies call them,
// with statements compiled from the catalog.
//
// Written without C++ objects: PostgreSQL errors pass through untouched.
extern "C" {
#include "postgres.h"

#include "catalog/partition.h"
#include "nodes/pg_list.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "common/hashfn.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

#include "run_as_owner.h"

namespace gdpr {
namespace run_as {

Oid relation_owner(Oid relid) {
  HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
  if (!HeapTupleIsValid(tuple)) {
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("relation with OID %u does not exist", relid),
                    errhint("The table was dropped; gdpr_data_map() shows the current map.")));
  }
  Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
  ReleaseSysCache(tuple);
  return owner;
}

Oid extension_owner() {
  Oid schema = get_namespace_oid("gdpr", true);
  Oid table = OidIsValid(schema) ? get_relname_relid("tombstone", schema) : InvalidOid;
  if (!OidIsValid(table)) {
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("extension pg_gdpr is not installed in this database"),
                    errhint("Run CREATE EXTENSION pg_gdpr.")));
  }
  return relation_owner(table);
}

Saved enter(Oid role) {
  Saved saved;
  GetUserIdAndSecContext(&saved.user, &saved.security_context);
  SetUserIdAndSecContext(role, saved.security_context | SECURITY_LOCAL_USERID_CHANGE |
                                   SECURITY_RESTRICTED_OPERATION);
  saved.guc_nest_level = NewGUCNestLevel();
  (void)set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
                          GUC_ACTION_SAVE, true, 0, false);
  // A policy must not hide the subject's rows from an erase or an export
  // (nor from the erase's own check): with row_security off, a statement
  // that a policy would filter fails instead of silently seeing less.
  (void)set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
  return saved;
}

void leave(const Saved& saved) {
  AtEOXact_GUC(false, saved.guc_nest_level);
  SetUserIdAndSecContext(saved.user, saved.security_context);
}

namespace {

// Prepared plans of the compiled statements, by their text: a rights call
// runs dozens of them, and parsing and planning each one every time cost
// more than running it. The plan cache revalidates them after DDL and
// replans per role where row-level security applies.
struct CachedPlan {
  uint64 hash;  // key
  char* sql;
  SPIPlanPtr plan;
};

HTAB* g_plans = nullptr;
long g_plan_count = 0;
constexpr long kMaxPlans = 2000;

SPIPlanPtr cached_plan(const char* sql) {
  if (g_plans == nullptr || g_plan_count >= kMaxPlans) {
    if (g_plans != nullptr) {
      // Compiled maps changed often enough to fill the cache: start over.
      HASH_SEQ_STATUS scan;
      hash_seq_init(&scan, g_plans);
      while (auto* entry = static_cast<CachedPlan*>(hash_seq_search(&scan))) {
        SPI_freeplan(entry->plan);
        pfree(entry->sql);
      }
      hash_destroy(g_plans);
    }
    HASHCTL ctl;
    ctl.keysize = sizeof(uint64);
    ctl.entrysize = sizeof(CachedPlan);
    ctl.hcxt = TopMemoryContext;
    g_plans = hash_create("pg_gdpr statement plans", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    g_plan_count = 0;
  }
  const size_t length = strlen(sql);
  uint64 hash = hash_bytes_extended(reinterpret_cast<const unsigned char*>(sql), static_cast<int>(length), 0);
  bool found = false;
  auto* entry = static_cast<CachedPlan*>(hash_search(g_plans, &hash, HASH_FIND, &found));
  if (found && strcmp(entry->sql, sql) == 0) return entry->plan;
  Oid types[2] = {TEXTOID, JSONBOID};
  SPIPlanPtr plan = SPI_prepare(sql, 2, types);
  if (plan == nullptr) elog(ERROR, "pg_gdpr: preparing a statement failed: %s", SPI_result_code_string(SPI_result));
  SPI_keepplan(plan);
  // Everything that can fail happens before the entry is touched: an error
  // must not leave an entry with a dangling text or plan.
  char* kept_sql = MemoryContextStrdup(TopMemoryContext, sql);
  if (found) {  // a hash collision: the newer statement takes the slot
    SPI_freeplan(entry->plan);
    pfree(entry->sql);
  } else {
    entry = static_cast<CachedPlan*>(hash_search(g_plans, &hash, HASH_ENTER, nullptr));
    g_plan_count++;
  }
  entry->sql = kept_sql;
  entry->plan = plan;
  return plan;
}

// The tables of pg_gdpr's own statements now running (an erase re-keying
// a held value, a release anonymizing one): the Art. 9 guard does not
// judge their rows again. Only the table each statement is on: code of
// the owner's that such a statement runs (a domain check, a trigger) and
// that writes elsewhere is judged as usual.
constexpr int kMaxOwnStatements = 32;
Oid g_own_statement_tables[kMaxOwnStatements];
int g_own_statements = 0;

// Runs the statement as the owner of rel; returns the row count, and in
// *result the first column of the only row when want_result.
uint64 run(FunctionCallInfo fcinfo, bool want_result, Datum* result, bool* result_null) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) {
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                    errmsg("table and statement must not be NULL")));
  }
  Oid rel = PG_GETARG_OID(0);
  char* sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
  Datum values[2] = {PG_ARGISNULL(2) ? (Datum)0 : PG_GETARG_DATUM(2),
                     PG_ARGISNULL(3) ? (Datum)0 : PG_GETARG_DATUM(3)};
  char nulls[2] = {PG_ARGISNULL(2) ? 'n' : ' ', PG_ARGISNULL(3) ? 'n' : ' '};

  Saved saved = enter(relation_owner(rel));
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_gdpr: SPI_connect failed");
  int status = 0;
  const bool tracked = g_own_statements < kMaxOwnStatements;
  if (tracked) g_own_statement_tables[g_own_statements++] = rel;
  PG_TRY();
  {
    status = SPI_execute_plan(cached_plan(sql), values, nulls, false, 0);
  }
  PG_FINALLY();
  {
    if (tracked) g_own_statements--;
  }
  PG_END_TRY();
  if (status < 0) elog(ERROR, "pg_gdpr: statement on %s failed: %s", get_rel_name(rel),
                       SPI_result_code_string(status));
  uint64 rows = SPI_processed;
  *result_null = true;
  if (want_result && SPI_processed == 1 && SPI_tuptable != nullptr) {
    bool isnull = true;
    Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (!isnull) {
      *result = SPI_datumTransfer(value, false, -1);
      *result_null = false;
    }
  }
  SPI_finish();
  leave(saved);
  return rows;
}

}  // namespace

bool in_own_statement_on(Oid relid) {
  if (g_own_statements == 0) return false;
  List* tables = list_make1_oid(relid);
  if (get_rel_relispartition(relid)) tables = list_concat(tables, get_partition_ancestors(relid));
  bool found = false;
  for (int i = 0; i < g_own_statements && !found; ++i) {
    found = list_member_oid(tables, g_own_statement_tables[i]);
  }
  list_free(tables);
  return found;
}

}  // namespace run_as
}  // namespace gdpr

extern "C" {
PG_FUNCTION_INFO_V1(gdpr_owner_exec);
PG_FUNCTION_INFO_V1(gdpr_owner_query);
}

extern "C" Datum gdpr_owner_exec(PG_FUNCTION_ARGS) {
  Datum ignored = 0;
  bool ignored_null = true;
  uint64 rows = gdpr::run_as::run(fcinfo, false, &ignored, &ignored_null);
  PG_RETURN_INT64(static_cast<int64>(rows));
}

extern "C" Datum gdpr_owner_query(PG_FUNCTION_ARGS) {
  Datum result = 0;
  bool result_null = true;
  gdpr::run_as::run(fcinfo, true, &result, &result_null);
  if (result_null) PG_RETURN_NULL();
  PG_RETURN_DATUM(result);
}

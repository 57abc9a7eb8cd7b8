// The audit log is evidence: gdpr._audit_log_is_append_only() refuses every
// UPDATE, DELETE and TRUNCATE, with one way around: gdpr._delete_audit_before()
// (behind gdpr_purge_audit_log(), superusers only, itself audited) raises a
// backend-local flag for the duration of its own DELETE. There is no setting
// a session could turn on instead.
//
// Written without C++ objects: PostgreSQL errors pass through untouched.
extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
}

namespace {
bool g_purging = false;
}

extern "C" {
PG_FUNCTION_INFO_V1(gdpr_audit_log_is_append_only);
PG_FUNCTION_INFO_V1(gdpr_delete_audit_before);
}

extern "C" Datum gdpr_audit_log_is_append_only(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("gdpr._audit_log_is_append_only() must be called as a trigger")));
  }
  auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (g_purging && TRIGGER_FIRED_BY_DELETE(trigger->tg_event) &&
      TRIGGER_FIRED_FOR_ROW(trigger->tg_event)) {
    return PointerGetDatum(trigger->tg_trigtuple);
  }
  const char* operation = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event)   ? "UPDATE"
                          : TRIGGER_FIRED_BY_DELETE(trigger->tg_event) ? "DELETE"
                                                                       : "TRUNCATE";
  ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                  errmsg("gdpr.audit_log is append-only"),
                  errdetail("%s is not allowed on the audit log.", operation),
                  errhint("Audit records are evidence; they are only ever added. A superuser "
                          "may remove old ones with gdpr_purge_audit_log().")));
  PG_RETURN_NULL();
}

// gdpr._delete_audit_before(before timestamptz) -> bigint
extern "C" Datum gdpr_delete_audit_before(PG_FUNCTION_ARGS) {
  if (!superuser()) {
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("only a superuser may remove audit records"),
                    errhint("Audit records are evidence; ask the database's superuser.")));
  }
  if (PG_ARGISNULL(0)) {
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                    errmsg("the date before which audit records go must not be NULL")));
  }
  Oid types[1] = {TIMESTAMPTZOID};
  Datum values[1] = {PG_GETARG_DATUM(0)};
  uint64 deleted = 0;
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_gdpr: SPI_connect failed");
  g_purging = true;
  PG_TRY();
  {
    if (SPI_execute_with_args("DELETE FROM gdpr.audit_log a"
                              " WHERE a.logged_at OPERATOR(pg_catalog.<) $1",
                              1, types, values, nullptr, false, 0) != SPI_OK_DELETE) {
      elog(ERROR, "pg_gdpr: deleting audit records failed");
    }
    deleted = SPI_processed;
  }
  PG_FINALLY();
  {
    g_purging = false;
  }
  PG_END_TRY();
  SPI_finish();
  PG_RETURN_INT64(static_cast<int64>(deleted));
}

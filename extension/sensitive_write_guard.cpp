// gdpr._require_explicit_consent(kind, column, kind, column, ...): the row
// trigger on tables with columns tagged `sensitive` (Art. 9). A new or
// changed sensitive value is accepted only if one of the row's subjects
// (the columns named in the arguments, one per kind's direct edge) has
// given explicit consent to a purpose based on consent that uses sensitive
// data. pg_gdpr installs it (see gdpr._sync_sensitive_guard); the WHEN
// clause lets rows without a new sensitive value through without a call.
//
// As in erased_subject_guard.cpp: the subject id is read with its type's
// output function, never a cast; the consent state is read as pg_gdpr's
// owner with the latest snapshot (a withdrawal committed a moment ago
// counts); ids never appear in messages. pg_gdpr's own statements on the
// table (erasure re-keying a held value, rectification) run in a
// security-restricted operation and are not checked again.
//
// Written without C++ objects: PostgreSQL errors pass through untouched.
extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

#include "run_as_owner.h"

namespace {

SPIPlanPtr g_consent_plan = nullptr;

void prepare_plan() {
  if (g_consent_plan != nullptr) return;
  Oid types[2] = {TEXTOID, TEXTOID};
  SPIPlanPtr plan = SPI_prepare(
      "SELECT EXISTS (SELECT 1 FROM gdpr.processing_state s JOIN gdpr.purpose p"
      " ON p.purpose OPERATOR(pg_catalog.=) s.purpose"
      " WHERE s.kind OPERATOR(pg_catalog.=) $1 AND s.subject_id OPERATOR(pg_catalog.=) $2"
      " AND s.allowed AND p.lawful_basis OPERATOR(pg_catalog.=) 'consent'"
      " AND 'sensitive' OPERATOR(pg_catalog.=) ANY (p.categories))",
      2, types);
  if (plan == nullptr) elog(ERROR, "pg_gdpr: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
  SPI_keepplan(plan);
  g_consent_plan = plan;
}

bool has_explicit_consent(const char* kind, const char* subject) {
  Datum args[2] = {CStringGetTextDatum(kind), CStringGetTextDatum(subject)};
  int status = SPI_execute_snapshot(g_consent_plan, args, nullptr, GetLatestSnapshot(),
                                    InvalidSnapshot, true, false, 1);
  if (status != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "pg_gdpr: consent lookup failed");
  bool isnull = true;
  Datum found = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
  return !isnull && DatumGetBool(found);
}

}  // namespace

extern "C" {
PG_FUNCTION_INFO_V1(gdpr_require_explicit_consent);
}

extern "C" Datum gdpr_require_explicit_consent(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("gdpr._require_explicit_consent() must be called as a trigger")));
  }
  auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
  const int nargs = trigger->tg_trigger->tgnargs;
  if (!TRIGGER_FIRED_FOR_ROW(trigger->tg_event) || !TRIGGER_FIRED_BEFORE(trigger->tg_event) ||
      nargs % 2 != 0) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("gdpr._require_explicit_consent() must be a BEFORE ROW trigger with "
                           "pairs of subject kind and column as arguments")));
  }
  HeapTuple row = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtuple
                                                              : trigger->tg_trigtuple;
  if (InSecurityRestrictedOperation()) return PointerGetDatum(row);

  Relation rel = trigger->tg_relation;
  TupleDesc desc = RelationGetDescr(rel);
  char** args = trigger->tg_trigger->tgargs;

  gdpr::run_as::Saved saved = gdpr::run_as::enter(gdpr::run_as::extension_owner());
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_gdpr: SPI_connect failed");
  prepare_plan();
  bool consented = false;
  for (int i = 0; i + 1 < nargs && !consented; i += 2) {
    int attnum = SPI_fnumber(desc, args[i + 1]);
    if (attnum <= 0) continue;  // renamed or dropped: the guard is re-installed on DDL
    bool isnull = true;
    Datum value = heap_getattr(row, attnum, desc, &isnull);
    if (isnull) continue;
    Oid output_function;
    bool is_varlena;
    getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &output_function, &is_varlena);
    consented = has_explicit_consent(args[i], OidOutputFunctionCall(output_function, value));
  }
  SPI_finish();
  gdpr::run_as::leave(saved);
  if (!consented) {
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("%s holds sensitive data (Art. 9): the row's subject has not given explicit "
                    "consent to a purpose that uses it",
                    RelationGetRelationName(rel)),
             errdetail(nargs == 0 ? "The table is in no subject kind's map with a column naming "
                                    "its subject, so no consent can cover its rows."
                                  : "Sensitive data is stored only when the person provides it "
                                    "explicitly."),
             errhint("Record the consent first: gdpr_set_consent(kind, id, purpose, true, source) "
                     "for a purpose based on consent whose categories include sensitive.")));
  }
  return PointerGetDatum(row);
}

// gdpr_sensitive_guard(kind, column, lookup, ...): the AFTER row trigger on
// tables with columns tagged `sensitive` (Art. 9). A new sensitive value,
// or one whose row changes subject, is accepted only if one of the row's
// subjects has given explicit consent to a purpose based on consent that
// uses sensitive data. pg_gdpr installs it (see gdpr._sync_sensitive_guard)
// with one triple per subject edge: the kind, and either the column that
// holds the subject's id or a query that finds the subject through the
// row's parents ($1 is the row). AFTER, so that it judges the row as
// stored, after every BEFORE trigger, generated columns included.
//
// As in erased_subject_guard.cpp: the subject id is read with its type's
// output function, never a cast; parents are read as the table's owner,
// the consent state as pg_gdpr's owner, with the latest snapshot (a
// withdrawal committed a moment ago counts); ids never appear in messages.
// pg_gdpr's own statements on the table (erasure re-keying a held value,
// rectification) are not judged again (run_as::in_own_statement_on).
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
#include "funcapi.h"
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

// The subject id found by a lookup through the row's parents, as text, or
// NULL. Runs as the table's owner, like every pg_gdpr statement on a user
// table.
char* subject_through_parents(Relation rel, HeapTuple row, const char* lookup) {
  gdpr::run_as::Saved saved = gdpr::run_as::enter(gdpr::run_as::relation_owner(RelationGetRelid(rel)));
  Oid types[1] = {rel->rd_rel->reltype};
  Datum values[1] = {heap_copy_tuple_as_datum(row, RelationGetDescr(rel))};
  int status = SPI_execute_with_args(lookup, 1, types, values, nullptr, true, 1);
  if (status != SPI_OK_SELECT) elog(ERROR, "pg_gdpr: subject lookup failed: %s", SPI_result_code_string(status));
  char* subject = nullptr;
  if (SPI_processed == 1) {
    bool isnull = true;
    Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (!isnull) {
      Oid output_function;
      bool is_varlena;
      getTypeOutputInfo(SPI_gettypeid(SPI_tuptable->tupdesc, 1), &output_function, &is_varlena);
      subject = OidOutputFunctionCall(output_function, value);
    }
  }
  gdpr::run_as::leave(saved);
  return subject;
}

}  // namespace

extern "C" {
PG_FUNCTION_INFO_V1(gdpr_sensitive_guard);
}

extern "C" Datum gdpr_sensitive_guard(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_TRIGGER(fcinfo)) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("gdpr_sensitive_guard() must be called as a trigger")));
  }
  auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
  const int nargs = trigger->tg_trigger->tgnargs;
  if (!TRIGGER_FIRED_FOR_ROW(trigger->tg_event) || !TRIGGER_FIRED_AFTER(trigger->tg_event) ||
      nargs % 3 != 0) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("gdpr_sensitive_guard() must be an AFTER ROW trigger with triples of "
                           "subject kind, column and lookup as arguments")));
  }
  HeapTuple row = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtuple
                                                              : trigger->tg_trigtuple;
  Relation rel = trigger->tg_relation;
  if (gdpr::run_as::in_own_statement_on(RelationGetRelid(rel))) return PointerGetDatum(nullptr);

  TupleDesc desc = RelationGetDescr(rel);
  char** args = trigger->tg_trigger->tgargs;

  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_gdpr: SPI_connect failed");
  bool consented = false;
  for (int i = 0; i + 2 < nargs && !consented; i += 3) {
    char* subject = nullptr;
    if (args[i + 1][0] != '\0') {
      int attnum = SPI_fnumber(desc, args[i + 1]);
      if (attnum <= 0) continue;  // renamed or dropped: the guard is re-installed on DDL
      bool isnull = true;
      Datum value = heap_getattr(row, attnum, desc, &isnull);
      if (isnull) continue;
      Oid output_function;
      bool is_varlena;
      getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &output_function, &is_varlena);
      subject = OidOutputFunctionCall(output_function, value);
    } else if (args[i + 2][0] != '\0') {
      subject = subject_through_parents(rel, row, args[i + 2]);
      if (subject == nullptr) continue;
    } else {
      continue;
    }
    gdpr::run_as::Saved saved = gdpr::run_as::enter(gdpr::run_as::extension_owner());
    prepare_plan();
    consented = has_explicit_consent(args[i], subject);
    gdpr::run_as::leave(saved);
  }
  SPI_finish();
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
  return PointerGetDatum(nullptr);
}

// The entry points of the rights and mapping functions, and the acting role.
//
// Each public function (gdpr_erase, gdpr_register_subject, ...) is this C
// function. It records who is calling — the current user at entry, the
// role PostgreSQL itself checked EXECUTE for — and calls the SECURITY
// DEFINER body of the same name in schema gdpr (gdpr_erase -> gdpr._erase)
// with the same arguments. The bodies are granted to nobody and ask
// gdpr._actor() who acts, so no caller can name another role as the actor
// in the audit log or in an ownership check.
//
// Written without C++ objects: PostgreSQL errors pass through untouched.
#include <cstring>

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace {

// The role that called the innermost active entry point, or InvalidOid
// outside of one. Bodies calling other bodies (a request fulfilled by an
// erase) keep it; a new entry point always records its own caller.
Oid g_actor = InvalidOid;

struct EntryTarget {
  FmgrInfo body;
  int nargs;
};

EntryTarget* resolve_body(FunctionCallInfo fcinfo) {
  Oid self = fcinfo->flinfo->fn_oid;
  HeapTuple tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(self));
  if (!HeapTupleIsValid(tuple)) elog(ERROR, "pg_gdpr: cache lookup failed for function %u", self);
  auto* proc = reinterpret_cast<Form_pg_proc>(GETSTRUCT(tuple));
  const char* name = pstrdup(NameStr(proc->proname));
  if (std::strncmp(name, "gdpr_", 5) != 0) {
    ReleaseSysCache(tuple);
    ereport(ERROR, (errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
                    errmsg("function %s is not a pg_gdpr entry point", name)));
  }
  char* body_name = psprintf("_%s", name + 5);
  int nargs = proc->pronargs;
  Oid* argtypes = static_cast<Oid*>(palloc(sizeof(Oid) * (nargs > 0 ? nargs : 1)));
  for (int i = 0; i < nargs; i++) argtypes[i] = proc->proargtypes.values[i];
  ReleaseSysCache(tuple);

  // Looked up directly, without the caller's USAGE on schema gdpr: the
  // caller reaches the body only through this entry point.
  HeapTuple body_tuple = SearchSysCache3(
      PROCNAMEARGSNSP, CStringGetDatum(body_name), PointerGetDatum(buildoidvector(argtypes, nargs)),
      ObjectIdGetDatum(get_namespace_oid("gdpr", false)));
  if (!HeapTupleIsValid(body_tuple)) {
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
                    errmsg("pg_gdpr entry point %s has no body gdpr.%s", name, body_name),
                    errhint("Reinstall the extension: ALTER EXTENSION pg_gdpr UPDATE, or DROP and "
                            "CREATE it.")));
  }
  Oid body = reinterpret_cast<Form_pg_proc>(GETSTRUCT(body_tuple))->oid;
  ReleaseSysCache(body_tuple);
  auto* target = static_cast<EntryTarget*>(
      MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(EntryTarget)));
  fmgr_info_cxt(body, &target->body, fcinfo->flinfo->fn_mcxt);
  target->nargs = nargs;
  return target;
}

}  // namespace

extern "C" {
PG_FUNCTION_INFO_V1(gdpr_rights_entry);
PG_FUNCTION_INFO_V1(gdpr_actor);
}

extern "C" Datum gdpr_rights_entry(PG_FUNCTION_ARGS) {
  // Statements pg_gdpr runs as a table's owner are security-restricted:
  // the owner's triggers must not reach the rights functions from there.
  if (InSecurityRestrictedOperation()) {
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("cannot call a pg_gdpr function within a security-restricted "
                           "operation"),
                    errdetail("pg_gdpr runs table owners' triggers, casts and policies in a "
                              "security-restricted operation."),
                    errhint("Do not call gdpr_* functions from triggers, index expressions or "
                            "policies of mapped tables.")));
  }
  auto* target = static_cast<EntryTarget*>(fcinfo->flinfo->fn_extra);
  if (target == nullptr) {
    target = resolve_body(fcinfo);
    fcinfo->flinfo->fn_extra = target;
  }
  LOCAL_FCINFO(inner, FUNC_MAX_ARGS);
  InitFunctionCallInfoData(*inner, &target->body, target->nargs, fcinfo->fncollation, nullptr,
                           nullptr);
  for (int i = 0; i < target->nargs; i++) inner->args[i] = fcinfo->args[i];

  const Oid outer_actor = g_actor;
  g_actor = GetUserId();
  Datum result;
  PG_TRY();
  {
    result = FunctionCallInvoke(inner);
  }
  PG_FINALLY();
  {
    g_actor = outer_actor;
  }
  PG_END_TRY();
  fcinfo->isnull = inner->isnull;
  return result;
}

// gdpr._actor(): the role that called the current entry point.
extern "C" Datum gdpr_actor(PG_FUNCTION_ARGS) {
  if (!OidIsValid(g_actor)) {
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("pg_gdpr internal functions can only be reached through its gdpr_* "
                           "functions"),
                    errhint("Call the public gdpr_* function instead.")));
  }
  PG_RETURN_OID(g_actor);
}

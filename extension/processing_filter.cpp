// gdpr_may_process(kind, purpose, needs_consent, subject): the row filter
// of consent-aware views. It answers from gdpr.processing_state as the
// query's snapshot sees it (the same answer the SQL anti-join gave, at a
// fraction of the cost per row: see processing_scope.h), so a withdrawal
// committed before a statement began hides the subject from that
// statement on, in cursors and prepared statements too.
//
// It reads the state table directly, so it checks once per query that the
// caller may learn the scope's state: a member of the purpose's reader
// role (whose views show it anyway), or a role that may read the state
// table (table owners with views, gdpr_admin).
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>
#include <cstring>

#include "gdpr_error.h"
#include "processing_scope.h"

extern "C" {
#include "postgres.h"

#include "access/genam.h"
#include "access/parallel.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

#include "pg_boundary.h"
#include "run_as_owner.h"

namespace {

using gdpr::GdprError;
using gdpr::ProcessingScope;

enum class IdForm { kInteger, kText };

// Where the state lives. Looked up once per backend and forgotten when
// the state table's relcache entry is invalidated (DROP/CREATE EXTENSION,
// ANALYZE), so the estimate of its size stays current too.
struct StateRelations {
  bool valid;
  Oid table;
  Oid by_int;   // (scope, subject_int)
  Oid by_text;  // (scope, subject_id)
  AttrNumber kind;
  AttrNumber purpose;
  AttrNumber subject_id;
  AttrNumber subject_int;
  AttrNumber allowed;
  double estimated_rows;
};
StateRelations g_relations{};
bool g_callback_registered = false;

void forget_relations(Datum, Oid relid) {
  if (relid == InvalidOid || relid == g_relations.table) g_relations.valid = false;
}

// Per call site and query execution (fn_extra); freed with the query.
struct FilterState {
  std::string kind;
  std::string purpose;
  int64 scope_key;  // gdpr.processing_state.scope of (kind, purpose)
  IdForm form;
  Oid arg_type;
  Oid output_function;  // ids that are neither integers nor text: canonical text
  double estimate;      // entries a load would read
  // The snapshot the loaded state was read with. A query keeps one; a
  // PL/pgSQL expression (a view's write trigger) keeps its state for the
  // whole transaction, across statements that each have their own.
  TransactionId snapshot_xmin = InvalidTransactionId;
  TransactionId snapshot_xmax = InvalidTransactionId;
  CommandId snapshot_command = InvalidCommandId;
  std::vector<TransactionId> snapshot_running;  // xip, then subxip
  bool snapshot_overflowed = false;
  ProcessingScope scope;
  FilterState(std::string k, std::string p, bool needs_consent)
      : kind(std::move(k)), purpose(std::move(p)), scope_key(0), form(IdForm::kText),
        arg_type(InvalidOid), output_function(InvalidOid), estimate(0), scope(needs_consent) {}
};

void free_filter_state(void* arg) { delete static_cast<FilterState*>(arg); }

// How many entries each scope had when this backend last loaded it: the
// next query's estimate of what a load costs. Before the first load, the
// state's rows are taken to spread over a handful of purposes.
std::unordered_map<std::string, double>& scope_sizes() {
  static std::unordered_map<std::string, double> sizes;
  return sizes;
}
std::string scope_name(const FilterState& state) { return state.kind + '\0' + state.purpose; }
double estimated_entries(const FilterState& state) {
  const auto& sizes = scope_sizes();
  auto known = sizes.find(scope_name(state));
  return known != sizes.end() ? known->second : g_relations.estimated_rows / 8.0;
}

// What a probe found, as one value guarded() can return.
enum ProbeResult : int { kNoEntry = 0, kBlocked = 1, kAllowed = 2 };

void find_relations() {
  if (g_relations.valid) return;
  if (!g_callback_registered) {
    CacheRegisterRelcacheCallback(forget_relations, 0);
    g_callback_registered = true;
  }
  StateRelations out{};
  const Oid schema = get_namespace_oid("gdpr", false);
  out.table = get_relname_relid("processing_state", schema);
  out.by_int = get_relname_relid("processing_state_scope_int", schema);
  out.by_text = get_relname_relid("processing_state_scope_text", schema);
  if (!OidIsValid(out.table) || !OidIsValid(out.by_int) || !OidIsValid(out.by_text)) {
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("pg_gdpr's table gdpr.processing_state or its indexes are missing"),
                    errhint("Reinstall the extension: DROP EXTENSION pg_gdpr; CREATE EXTENSION pg_gdpr;")));
  }
  out.kind = get_attnum(out.table, "kind");
  out.purpose = get_attnum(out.table, "purpose");
  out.subject_id = get_attnum(out.table, "subject_id");
  out.subject_int = get_attnum(out.table, "subject_int");
  out.allowed = get_attnum(out.table, "allowed");
  Relation rel = table_open(out.table, AccessShareLock);
  out.estimated_rows = rel->rd_rel->reltuples < 0 ? 1000.0 : rel->rd_rel->reltuples;
  table_close(rel, AccessShareLock);
  out.valid = true;
  g_relations = out;
}

int64 scope_key_of(const char* kind, const char* purpose) {
  text* value = cstring_to_text(psprintf("%s/%s", kind, purpose));
  return DatumGetInt64(DirectFunctionCall2Coll(hashtextextended, C_COLLATION_OID,
                                               PointerGetDatum(value), Int64GetDatum(0)));
}

// Whether the current user may learn the scope's state: a member of the
// purpose's reader role (its views show it anyway), gdpr_admin, or whoever
// has the rights of the kind's root table's owner (the application that
// records the kind's choices, as for gdpr_choices). For '*held' (purpose =
// a table's oid): that table's owner, gdpr_admin, or a role that may read a
// consent-aware view of the table. Plain data only.
bool may_read_scope(const char* kind, const char* purpose) {
  const Oid user = GetUserId();
  const Oid admin = get_role_oid("gdpr_admin", true);
  if (OidIsValid(admin) && has_privs_of_role(user, admin)) return true;
  const bool held = strcmp(kind, "*held") == 0;
  if (!held) {
    char reader[NAMEDATALEN];
    snprintf(reader, sizeof(reader), "gdpr_reader_%s", purpose);
    const Oid reader_role = get_role_oid(reader, true);
    if (OidIsValid(reader_role) && has_privs_of_role(user, reader_role)) return true;
  }
  gdpr::run_as::Saved saved = gdpr::run_as::enter(gdpr::run_as::extension_owner());
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_gdpr: SPI_connect failed");
  Oid types[2] = {TEXTOID, OIDOID};
  Datum values[2] = {CStringGetTextDatum(held ? purpose : kind), ObjectIdGetDatum(user)};
  const char* sql = held
      ? "SELECT pg_catalog.pg_has_role($2, c.relowner, 'USAGE')"
        " OR EXISTS (SELECT 1 FROM gdpr.consent_view v WHERE v.rel OPERATOR(pg_catalog.=) c.oid"
        " AND pg_catalog.has_table_privilege($2, v.view, 'SELECT'))"
        " FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
      : "SELECT pg_catalog.pg_has_role($2, c.relowner, 'USAGE') FROM gdpr.subject_kind k"
        " JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) k.root_table"
        " WHERE k.kind OPERATOR(pg_catalog.=) $1";
  int status = SPI_execute_with_args(sql, 2, types, values, nullptr, true, 1);
  bool allowed = false;
  if (status == SPI_OK_SELECT && SPI_processed == 1) {
    bool isnull = true;
    Datum answer = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    allowed = !isnull && DatumGetBool(answer);
  }
  SPI_finish();
  gdpr::run_as::leave(saved);
  return allowed;
}

// Whether a row found under the scope's hash is the scope's own.
bool same_scope(TupleTableSlot* slot, const FilterState* state) {
  bool null_kind = true;
  bool null_purpose = true;
  Datum kind = slot_getattr(slot, g_relations.kind, &null_kind);
  Datum purpose = slot_getattr(slot, g_relations.purpose, &null_purpose);
  if (null_kind || null_purpose) return false;
  const text* k = DatumGetTextPP(kind);
  const text* p = DatumGetTextPP(purpose);
  return VARSIZE_ANY_EXHDR(k) == state->kind.size() &&
         memcmp(VARDATA_ANY(k), state->kind.data(), state->kind.size()) == 0 &&
         VARSIZE_ANY_EXHDR(p) == state->purpose.size() &&
         memcmp(VARDATA_ANY(p), state->purpose.data(), state->purpose.size()) == 0;
}

// An index scan of the scope, of one subject or (subject 0) all of them.
IndexScanDesc begin_scan(Relation rel, Relation index, const FilterState* state, bool one_subject,
                         Datum subject, ScanKey keys) {
  ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(state->scope_key));
  if (one_subject) {
    ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber,
                state->form == IdForm::kInteger ? F_INT8EQ : F_TEXTEQ, subject);
    keys[1].sk_collation = index->rd_indcollation[1];
  }
  const int nkeys = one_subject ? 2 : 1;
  IndexScanDesc scan = index_beginscan(rel, index, GetActiveSnapshot(), nkeys, 0);
  index_rescan(scan, keys, nkeys, nullptr, 0);
  return scan;
}

// One subject's entry, by index probe, under the query's snapshot.
ProbeResult probe(const FilterState* state, Datum subject) {
  ProbeResult out = kNoEntry;
  Relation rel = table_open(g_relations.table, AccessShareLock);
  Relation index = index_open(state->form == IdForm::kInteger ? g_relations.by_int : g_relations.by_text,
                              AccessShareLock);
  ScanKeyData keys[2];
  IndexScanDesc scan = begin_scan(rel, index, state, true, subject, keys);
  TupleTableSlot* slot = table_slot_create(rel, nullptr);
  while (index_getnext_slot(scan, ForwardScanDirection, slot)) {
    if (!same_scope(slot, state)) continue;
    bool isnull = true;
    Datum allowed = slot_getattr(slot, g_relations.allowed, &isnull);
    out = !isnull && DatumGetBool(allowed) ? kAllowed : kBlocked;
    break;
  }
  ExecDropSingleTupleTableSlot(slot);
  index_endscan(scan);
  // the locks stay until the transaction ends, as the executor keeps
  // those of a query's relations: the next probe need not take them again
  index_close(index, NoLock);
  table_close(rel, NoLock);
  return out;
}

// Every entry of the scope, by one index range scan, as a palloc'd list.
struct LoadedEntries {
  int count;
  bool* allowed;
  int64* ints;
  char** texts;
};

LoadedEntries* load(const FilterState* state) {
  const bool integers = state->form == IdForm::kInteger;
  LoadedEntries* out = static_cast<LoadedEntries*>(palloc0(sizeof(LoadedEntries)));
  int capacity = 1024;
  out->allowed = static_cast<bool*>(palloc(capacity * sizeof(bool)));
  out->ints = integers ? static_cast<int64*>(palloc(capacity * sizeof(int64))) : nullptr;
  out->texts = integers ? nullptr : static_cast<char**>(palloc(capacity * sizeof(char*)));
  Relation rel = table_open(g_relations.table, AccessShareLock);
  Relation index = index_open(integers ? g_relations.by_int : g_relations.by_text, AccessShareLock);
  ScanKeyData keys[2];
  IndexScanDesc scan = begin_scan(rel, index, state, false, 0, keys);
  TupleTableSlot* slot = table_slot_create(rel, nullptr);
  while (index_getnext_slot(scan, ForwardScanDirection, slot)) {
    if (!same_scope(slot, state)) continue;
    bool null_subject = true;
    bool null_allowed = true;
    Datum subject = slot_getattr(slot, integers ? g_relations.subject_int : g_relations.subject_id, &null_subject);
    Datum allowed = slot_getattr(slot, g_relations.allowed, &null_allowed);
    if (null_subject) continue;  // a text id in a kind keyed by integers: no integer row matches it
    if (out->count == capacity) {
      capacity *= 2;
      out->allowed = static_cast<bool*>(repalloc(out->allowed, capacity * sizeof(bool)));
      if (integers) {
        out->ints = static_cast<int64*>(repalloc(out->ints, capacity * sizeof(int64)));
      } else {
        out->texts = static_cast<char**>(repalloc(out->texts, capacity * sizeof(char*)));
      }
    }
    out->allowed[out->count] = !null_allowed && DatumGetBool(allowed);
    if (integers) {
      out->ints[out->count] = DatumGetInt64(subject);
    } else {
      out->texts[out->count] = TextDatumGetCString(subject);
    }
    ++out->count;
  }
  ExecDropSingleTupleTableSlot(slot);
  index_endscan(scan);
  // the locks stay until the transaction ends, as the executor keeps
  // those of a query's relations: the next probe need not take them again
  index_close(index, NoLock);
  table_close(rel, NoLock);
  return out;
}

FilterState* filter_state(FunctionCallInfo fcinfo) {
  auto* state = static_cast<FilterState*>(fcinfo->flinfo->fn_extra);
  if (state != nullptr) return state;
  if (!get_fn_expr_arg_stable(fcinfo->flinfo, 0) || !get_fn_expr_arg_stable(fcinfo->flinfo, 1) ||
      !get_fn_expr_arg_stable(fcinfo->flinfo, 2)) {
    throw GdprError(gdpr::sqlstate::kInvalidParameterValue,
                    "gdpr_may_process() needs constant kind, purpose and basis",
                    "It is the row filter of consent-aware views, which pass constants.",
                    "Read through a view made by gdpr_create_view().");
  }
  for (int i = 0; i < 3; ++i) gdpr::pg::require_arg(fcinfo, i, i == 0 ? "subject kind" : i == 1 ? "purpose" : "basis");
  const char* kind = gdpr::pg::guarded([fcinfo] { return text_to_cstring(PG_GETARG_TEXT_PP(0)); });
  const char* purpose = gdpr::pg::guarded([fcinfo] { return text_to_cstring(PG_GETARG_TEXT_PP(1)); });
  auto owned = std::make_unique<FilterState>(kind, purpose, PG_GETARG_BOOL(2));
  gdpr::pg::guarded([] { find_relations(); });
  owned->scope_key = gdpr::pg::guarded([kind, purpose] { return scope_key_of(kind, purpose); });
  owned->estimate = estimated_entries(*owned);
  if (!gdpr::pg::guarded([kind, purpose] { return may_read_scope(kind, purpose); })) {
    throw GdprError(gdpr::sqlstate::kInsufficientPrivilege,
                    std::string("permission denied for the processing state of purpose ") + purpose,
                    "Consent-aware views of a purpose are read by members of its reader role; "
                    "the kind's root table's owner and gdpr_admin may read its state too.",
                    std::string("GRANT gdpr_reader_") + purpose + " TO the role that reads the view.");
  }
  const Oid type = gdpr::pg::guarded([fcinfo] { return get_fn_expr_argtype(fcinfo->flinfo, 3); });
  owned->arg_type = type;
  if (type == INT2OID || type == INT4OID || type == INT8OID) {
    owned->form = IdForm::kInteger;
  } else if (type != TEXTOID && type != VARCHAROID && type != BPCHAROID) {
    owned->output_function = gdpr::pg::guarded([type] {
      Oid output = InvalidOid;
      bool is_varlena = false;
      getTypeOutputInfo(type, &output, &is_varlena);
      return output;
    });
  }
  MemoryContext context = fcinfo->flinfo->fn_mcxt;
  auto* callback = static_cast<MemoryContextCallback*>(
      gdpr::pg::guarded([context] { return MemoryContextAllocZero(context, sizeof(MemoryContextCallback)); }));
  state = owned.release();
  callback->func = free_filter_state;
  callback->arg = state;
  MemoryContextRegisterResetCallback(context, callback);
  fcinfo->flinfo->fn_extra = state;
  return state;
}

void load_scope(FilterState* state) {
  MemoryContext scratch = gdpr::pg::guarded([] {
    return AllocSetContextCreate(CurrentMemoryContext, "pg_gdpr processing scope", ALLOCSET_DEFAULT_SIZES);
  });
  const FilterState* reading = state;
  LoadedEntries* entries = gdpr::pg::guarded([scratch, reading] {
    MemoryContext old = MemoryContextSwitchTo(scratch);
    LoadedEntries* loaded = load(reading);
    MemoryContextSwitchTo(old);
    return loaded;
  });
  try {
    for (int i = 0; i < entries->count; ++i) {
      if (state->form == IdForm::kInteger) {
        state->scope.add(static_cast<std::int64_t>(entries->ints[i]), entries->allowed[i]);
      } else {
        state->scope.add(std::string(entries->texts[i]), entries->allowed[i]);
      }
    }
  } catch (...) {
    MemoryContextDelete(scratch);
    throw;
  }
  MemoryContextDelete(scratch);
  state->scope.mark_loaded();
  scope_sizes()[scope_name(*state)] = static_cast<double>(state->scope.entries());
}

}  // namespace

// Two snapshots see the same committed state when they have the same
// bounds, command and running transactions (a commit while an older
// transaction stays open changes only the running list).
bool same_snapshot(const FilterState& state, Snapshot snapshot) {
  if (snapshot->xmin != state.snapshot_xmin || snapshot->xmax != state.snapshot_xmax ||
      snapshot->curcid != state.snapshot_command || snapshot->suboverflowed != state.snapshot_overflowed ||
      static_cast<std::size_t>(snapshot->xcnt) + static_cast<std::size_t>(snapshot->subxcnt) !=
          state.snapshot_running.size()) {
    return false;
  }
  const TransactionId* running = state.snapshot_running.data();
  return (snapshot->xcnt == 0 || memcmp(snapshot->xip, running, snapshot->xcnt * sizeof(TransactionId)) == 0) &&
         (snapshot->subxcnt == 0 ||
          memcmp(snapshot->subxip, running + snapshot->xcnt, snapshot->subxcnt * sizeof(TransactionId)) == 0);
}

void remember_snapshot(FilterState& state, Snapshot snapshot) {
  state.snapshot_xmin = snapshot->xmin;
  state.snapshot_xmax = snapshot->xmax;
  state.snapshot_command = snapshot->curcid;
  state.snapshot_overflowed = snapshot->suboverflowed;
  state.snapshot_running.assign(snapshot->xip, snapshot->xip + snapshot->xcnt);
  state.snapshot_running.insert(state.snapshot_running.end(), snapshot->subxip, snapshot->subxip + snapshot->subxcnt);
}

// A NULL subject is nobody's: the row is not filtered out by this subject.
GDPR_SQL_FUNCTION(gdpr_may_process) {
  FilterState* state = filter_state(fcinfo);
  if (PG_ARGISNULL(3)) PG_RETURN_BOOL(true);
  const Datum subject = PG_GETARG_DATUM(3);
  Datum key = subject;
  std::int64_t integer = 0;
  if (state->form == IdForm::kInteger) {
    integer = state->arg_type == INT2OID   ? DatumGetInt16(subject)
              : state->arg_type == INT4OID ? DatumGetInt32(subject)
                                           : DatumGetInt64(subject);
    key = Int64GetDatum(integer);
  } else if (OidIsValid(state->output_function)) {
    const Oid output = state->output_function;
    key = gdpr::pg::guarded(
        [output, subject] { return CStringGetTextDatum(OidOutputFunctionCall(output, subject)); });
  }
  if (state->scope.loaded() && !same_snapshot(*state, GetActiveSnapshot())) state->scope.reset();
  if (!state->scope.loaded()) {
    // A parallel plan is a scan of a large table: load at once (each worker
    // has its own copy, and probing first would cost each of them).
    if (!IsInParallelMode() && !state->scope.should_load(state->estimate)) {
      const FilterState* reading = state;
      const ProbeResult found = gdpr::pg::guarded([reading, key] { return probe(reading, key); });
      PG_RETURN_BOOL(state->scope.decide(found != kNoEntry, found == kAllowed));
    }
    load_scope(state);
    remember_snapshot(*state, GetActiveSnapshot());
  }
  if (state->form == IdForm::kInteger) PG_RETURN_BOOL(state->scope.may_process(integer));
  const text* value = gdpr::pg::guarded([key] { return DatumGetTextPP(key); });
  const bool allowed = state->scope.may_process(std::string(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value)));
  PG_RETURN_BOOL(allowed);
}

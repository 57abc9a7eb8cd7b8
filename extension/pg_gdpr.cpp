// Module entry point: registers settings, shared memory and the transaction
// callbacks that keep every session's key cache honest.
#include "column_label.h"
#include "gdpr_error.h"
#include "key_store.h"
#include "settings.h"
#include "shared_state.h"

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/snapmgr.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

#include "pg_boundary.h"

namespace {

void on_transaction_event(XactEvent event, void*) {
  switch (event) {
    case XACT_EVENT_PRE_PREPARE:
      // The shred would become visible at COMMIT PREPARED, possibly in
      // another session that cannot tell the others to drop their keys.
      if (gdpr::key_events::shred_pending()) {
        ereport(ERROR,
                (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                 errmsg("cannot PREPARE a transaction that shredded or re-wrapped pg_gdpr "
                        "data keys"),
                 errhint("Shred keys and rotate the master key in ordinary transactions.")));
      }
      break;
    case XACT_EVENT_PRE_COMMIT:
      // Keys this transaction created whose subject was shredded meanwhile.
      if (gdpr::key_events::commit_check_pending()) {
        PushActiveSnapshot(GetTransactionSnapshot());
        gdpr::pg::call_sql_function(nullptr, [](FunctionCallInfo) -> Datum {
          gdpr::key_events::before_commit();
          return Datum(0);
        });
        PopActiveSnapshot();
      }
      break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
      gdpr::key_events::at_commit();
      break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
      gdpr::key_events::at_abort();
      break;
    default:
      break;
  }
}

void on_relcache_invalidation(Datum, Oid relid) { gdpr::key_events::relation_invalidated(relid); }

void on_subtransaction_event(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
  if (event == SUBXACT_EVENT_ABORT_SUB) gdpr::key_events::at_subtransaction_abort();
}

}  // namespace

void _PG_init(void) {
  gdpr::settings::define();
  gdpr::column_label::register_provider();
  if (process_shared_preload_libraries_in_progress) gdpr::shared::request_at_preload();
  RegisterXactCallback(on_transaction_event, nullptr);
  RegisterSubXactCallback(on_subtransaction_event, nullptr);
  CacheRegisterRelcacheCallback(on_relcache_invalidation, (Datum)0);
}

#include <cstring>
#include <new>
#include <type_traits>

#include "gdpr_error.h"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include "pg_boundary.h"

namespace gdpr {
namespace pg {
namespace {

// Fixed buffers: filling them cannot fail or allocate, so nothing can go
// wrong between catching a C++ exception and raising the SQL error.
struct PendingError {
  char sqlstate[6];
  char message[2048];
  char detail[2048];
  char hint[1024];
  char log_detail[1024];

  // Bounded copy; truncates rather than fails.
  static void copy(char* to, std::size_t size, const char* from) noexcept {
    std::size_t n = from == nullptr ? 0 : std::strlen(from);
    if (n >= size) n = size - 1;
    if (n > 0) std::memcpy(to, from, n);
    to[n] = '\0';
  }

  void set(const char* state, const char* msg, const char* det, const char* hnt,
           const char* log_det = "") noexcept {
    copy(sqlstate, sizeof sqlstate, state);
    if (std::strlen(sqlstate) != 5) copy(sqlstate, sizeof sqlstate, sqlstate::kInternalError);
    copy(message, sizeof message, msg);
    copy(detail, sizeof detail, det);
    copy(hint, sizeof hint, hnt);
    copy(log_detail, sizeof log_detail, log_det);
  }
};

}  // namespace

ErrorData* capture_error(MemoryContext context) {
  // CopyErrorData must not run in ErrorContext, which FlushErrorState resets.
  MemoryContextSwitchTo(context);
  ErrorData* error = CopyErrorData();
  FlushErrorState();
  return error;
}

void throw_captured(ErrorData* error) {
  const std::string state = unpack_sql_state(error->sqlerrcode);
  // Copy everything into C++ strings before freeing the palloc'd error.
  std::string message = error->message ? error->message : "";
  std::string detail = error->detail ? error->detail : "";
  std::string hint = error->hint ? error->hint : "";
  FreeErrorData(error);
  throw PgError(state, std::move(message), std::move(detail), std::move(hint));
}

Datum call_sql_function(FunctionCallInfo fcinfo, Datum (*body)(FunctionCallInfo)) {
  // Static, not on the stack: 5 KB per nested call would add up, and only one
  // error can be in flight per backend.
  static PendingError pending;
  try {
    return body(fcinfo);
  } catch (const GdprError& e) {
    pending.set(e.sqlstate().c_str(), e.what(), e.detail().c_str(), e.hint().c_str(),
                e.log_detail().c_str());
  } catch (const std::bad_alloc&) {
    pending.set(sqlstate::kOutOfMemory, "out of memory", "", "");
  } catch (const std::exception& e) {
    pending.set(sqlstate::kInternalError, "unexpected C++ exception in pg_gdpr", e.what(),
                "This is a bug in pg_gdpr; please report it.");
  } catch (...) {
    pending.set(sqlstate::kInternalError, "unexpected C++ exception in pg_gdpr",
                "The exception is not derived from std::exception.",
                "This is a bug in pg_gdpr; please report it.");
  }
  // Every C++ object of the body is gone here; longjmp is safe.
  const char* s = pending.sqlstate;
  ereport(ERROR,
          (errcode(MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4])),
           errmsg_internal("%s", pending.message),
           pending.detail[0] ? errdetail_internal("%s", pending.detail) : 0,
           pending.hint[0] ? errhint("%s", pending.hint) : 0,
           pending.log_detail[0] ? errdetail_log("%s", pending.log_detail) : 0));
  pg_unreachable();
}

void require_arg(FunctionCallInfo fcinfo, int n, const char* what) {
  if (PG_ARGISNULL(n)) {
    throw GdprError(sqlstate::kNullValueNotAllowed, std::string(what) + " must not be NULL",
                    {}, std::string("Pass a non-NULL ") + what + ".");
  }
}

}  // namespace pg
}  // namespace gdpr

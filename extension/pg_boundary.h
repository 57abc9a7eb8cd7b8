// The one place where C++ and PostgreSQL error handling meet.
//
// PostgreSQL raises errors with longjmp, which skips C++ destructors; a C++
// exception must never unwind through PostgreSQL's C frames. So:
//
//  * Every SQL-callable function is declared with GDPR_SQL_FUNCTION. Its body
//    runs inside a try; any C++ exception is copied into plain buffers and
//    raised as ereport(ERROR) only after the body's frames are gone, keeping
//    SQLSTATE, message, detail and hint.
//  * C++ code that calls into PostgreSQL (SPI, syscache, palloc) wraps the
//    call in pg::guarded(). A PostgreSQL ERROR inside it is copied and thrown
//    as pg::PgError, so C++ frames unwind normally. The lambda given to
//    guarded() must hold only plain data: an object with a destructor inside
//    it would be skipped by the longjmp.
//  * A body may call PostgreSQL directly only while it owns no C++ object
//    with a destructor (typically: fetch arguments and palloc the result
//    first, then call into C++).
#pragma once

#ifndef POSTGRES_H
#error "include postgres.h (inside extern \"C\") before pg_boundary.h"
#endif

#include <type_traits>

#include "gdpr_error.h"

namespace gdpr {
namespace pg {

// A PostgreSQL ERROR caught by guarded(), carried through C++ frames.
class PgError : public GdprError {
 public:
  using GdprError::GdprError;
};

// Implementation details of guarded().
ErrorData* capture_error(MemoryContext context);
[[noreturn]] void throw_captured(ErrorData* error);

template <typename Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
  using Result = decltype(fn());
  MemoryContext context = CurrentMemoryContext;
  ErrorData* volatile error = nullptr;
  if constexpr (std::is_void_v<Result>) {
    PG_TRY();
    {
      fn();
    }
    PG_CATCH();
    {
      error = capture_error(context);
    }
    PG_END_TRY();
    if (error != nullptr) throw_captured(error);
  } else {
    static_assert(std::is_trivially_copyable_v<Result>,
                  "guarded() returns plain data only");
    volatile Result result{};
    PG_TRY();
    {
      result = fn();
    }
    PG_CATCH();
    {
      error = capture_error(context);
    }
    PG_END_TRY();
    if (error != nullptr) throw_captured(error);
    return result;
  }
}

// Runs a SQL function body and turns any C++ exception into a SQL error.
Datum call_sql_function(FunctionCallInfo fcinfo, Datum (*body)(FunctionCallInfo));

// Throws GdprError (22004) if argument n is NULL; what names it in the message.
void require_arg(FunctionCallInfo fcinfo, int n, const char* what);

}  // namespace pg
}  // namespace gdpr

#define GDPR_SQL_FUNCTION(name)                                             \
  static Datum name##_body(FunctionCallInfo fcinfo);                        \
  extern "C" {                                                              \
  PG_FUNCTION_INFO_V1(name);                                                \
  Datum name(PG_FUNCTION_ARGS) {                                            \
    return gdpr::pg::call_sql_function(fcinfo, name##_body);                \
  }                                                                         \
  }                                                                         \
  static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo)

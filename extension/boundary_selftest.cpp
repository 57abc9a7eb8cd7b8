// gdpr._boundary_selftest(mode): proves the C++/PostgreSQL boundary from SQL.
// It throws from deep C++ frames, and lets a PostgreSQL error pass through
// C++ frames that own objects, counting how many destructors ran so a test
// can check none was skipped.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "gdpr_error.h"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
}

#include "pg_boundary.h"

namespace {

std::int64_t g_destructors_run = 0;

struct CountsDestruction {
  std::string payload = std::string(64, 'x');  // owns heap memory, like real code
  ~CountsDestruction() { ++g_destructors_run; }
};

[[noreturn]] void throw_from_depth(int depth) {
  CountsDestruction alive;
  if (depth == 0) {
    throw gdpr::GdprError(gdpr::sqlstate::kInvalidParameterValue,
                          "boundary self-test error raised in C++",
                          "Thrown " + std::to_string(alive.payload.size()) +
                              " bytes deep below three frames.",
                          "Nothing to do: this is a test.");
  }
  throw_from_depth(depth - 1);
}

void postgres_error_through_cpp() {
  CountsDestruction alive;
  gdpr::pg::guarded([] { return DirectFunctionCall1(int4in, CStringGetDatum("not a number")); });
}

}  // namespace

GDPR_SQL_FUNCTION(gdpr_boundary_selftest) {
  gdpr::pg::require_arg(fcinfo, 0, "mode");
  char* mode = text_to_cstring(PG_GETARG_TEXT_PP(0));
  const std::string m = mode;
  if (m == "cpp") throw_from_depth(3);
  if (m == "std") throw std::runtime_error("plain std::runtime_error");
  if (m == "unknown") throw 42;
  if (m == "pg") postgres_error_through_cpp();
  if (m == "destructors") PG_RETURN_INT64(g_destructors_run);
  throw gdpr::GdprError(gdpr::sqlstate::kInvalidParameterValue,
                        "unknown self-test mode \"" + m + "\"", {},
                        "Use one of cpp, std, unknown, pg, destructors.");
}

// Running pg_gdpr's own catalog queries through SPI from C++. Every SPI call
// goes through pg::guarded(), so a PostgreSQL error becomes a C++ exception.
// Parameters and results travel as text (bytea as hex): these queries are
// on the slow path (a key cache miss, a rotation), clarity wins.
#pragma once

#ifndef POSTGRES_H
#error "include postgres.h (inside extern \"C\") before spi_query.h"
#endif

#include <optional>
#include <string>
#include <vector>

namespace gdpr {
namespace pg {

using SqlText = std::optional<std::string>;
using SqlRow = std::vector<SqlText>;

// A query prepared once per backend and kept; all parameters are text.
struct SpiStatement {
  const char* sql;
  int nargs;
  void* plan = nullptr;  // SPIPlanPtr
};

enum class SnapshotMode {
  kTransaction,  // the caller's snapshot, as any SQL statement
  kLatest,       // sees every committed change, like a foreign-key check
};

// Connects to SPI, runs the statement, copies the rows, disconnects.
std::vector<SqlRow> spi_run(SpiStatement& statement, const std::vector<SqlText>& args,
                            SnapshotMode mode);

}  // namespace pg
}  // namespace gdpr

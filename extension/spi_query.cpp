#include <optional>
#include <string>
#include <vector>

#include "gdpr_error.h"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}

#include "pg_boundary.h"
#include "spi_query.h"

namespace gdpr {
namespace pg {
namespace {

constexpr int kMaxArgs = 8;

[[noreturn]] void spi_failure(const char* what, int code, const char* sql) {
  throw GdprError(sqlstate::kInternalError,
                  std::string("SPI ") + what + " failed: " + SPI_result_code_string(code),
                  std::string("Query: ") + sql);
}

}  // namespace

std::vector<SqlRow> spi_run(SpiStatement& statement, const std::vector<SqlText>& args,
                            SnapshotMode mode) {
  if (statement.nargs > kMaxArgs || static_cast<int>(args.size()) != statement.nargs) {
    throw GdprError(sqlstate::kInternalError, "wrong number of SPI arguments",
                    std::string("Query: ") + statement.sql);
  }
  int rc = guarded([] { return SPI_connect(); });
  if (rc != SPI_OK_CONNECT) spi_failure("connect", rc, statement.sql);

  if (statement.plan == nullptr) {
    statement.plan = guarded([&statement]() -> void* {
      Oid types[kMaxArgs];
      for (int i = 0; i < statement.nargs; ++i) types[i] = TEXTOID;
      SPIPlanPtr plan = SPI_prepare(statement.sql, statement.nargs, types);
      if (plan == nullptr) return nullptr;
      SPI_keepplan(plan);
      return plan;
    });
    if (statement.plan == nullptr) spi_failure("prepare", SPI_result, statement.sql);
  }

  Datum values[kMaxArgs];
  char nulls[kMaxArgs];
  for (int i = 0; i < statement.nargs; ++i) {
    const SqlText& arg = args[static_cast<std::size_t>(i)];
    nulls[i] = arg ? ' ' : 'n';
    values[i] = arg ? guarded([&arg] {
      return PointerGetDatum(cstring_to_text_with_len(arg->data(), static_cast<int>(arg->size())));
    })
                    : Datum(0);
  }

  rc = guarded([&] {
    // A parallel query may not take new snapshots, in the leader or in a
    // worker: there the key is read with the query's own snapshot. A shred
    // committed after the query started is still seen by the next query.
    Snapshot snapshot = mode == SnapshotMode::kLatest && !IsInParallelMode() ? GetLatestSnapshot()
                                                                             : InvalidSnapshot;
    return SPI_execute_snapshot(static_cast<SPIPlanPtr>(statement.plan), values, nulls,
                                snapshot, InvalidSnapshot, false, true, 0);
  });
  if (rc < 0) spi_failure("execute", rc, statement.sql);

  std::vector<SqlRow> rows;
  SPITupleTable* table = SPI_tuptable;
  const std::uint64_t count = table != nullptr ? SPI_processed : 0;
  rows.reserve(count);
  for (std::uint64_t r = 0; r < count; ++r) {
    SqlRow row;
    const int natts = table->tupdesc->natts;
    for (int c = 1; c <= natts; ++c) {
      char* value = guarded([&] { return SPI_getvalue(table->vals[r], table->tupdesc, c); });
      row.push_back(value ? SqlText(value) : std::nullopt);
    }
    rows.push_back(std::move(row));
  }
  rc = guarded([] { return SPI_finish(); });
  if (rc != SPI_OK_FINISH) spi_failure("finish", rc, statement.sql);
  return rows;
}

}  // namespace pg
}  // namespace gdpr

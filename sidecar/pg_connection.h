// libpq for the sidecar: a connection and its results owned by RAII
// handles, parameterized queries only, the extension's schema, and the
// advisory lock that keeps two sidecars from doing the same job at once.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sidecar {

// A failed statement: SQLSTATE and message; connection_lost when the
// server went away (restart, crash, network).
class QueryError : public std::runtime_error {
 public:
  QueryError(const std::string& message, std::string sqlstate, bool connection_lost)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)), connection_lost_(connection_lost) {}
  const std::string& sqlstate() const { return sqlstate_; }
  bool connection_lost() const { return connection_lost_; }

 private:
  std::string sqlstate_;
  bool connection_lost_;
};

class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result, &PQclear) {}
  int rows() const { return PQntuples(result_.get()); }
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string text(int row, int column) const;
  std::string bytes(int row, int column) const;  // binary results
  long long integer(int row, int column) const { return std::stoll(text(row, column)); }
  bool boolean(int row, int column) const { return text(row, column) == "t"; }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

using Params = std::vector<std::optional<std::string>>;

class PgConnection {
 public:
  // conninfo: connection string, URI, "service=x" or empty (libpq's
  // environment); database: overrides the database named there. Throws
  // SidecarError(kConnect) with libpq's message.
  static PgConnection open(const std::string& conninfo, const std::string& database = "");
  PgConnection(PgConnection&&) = default;
  PgConnection& operator=(PgConnection&&) = default;

  PgResult exec(const std::string& sql, const Params& params = {}, bool binary_result = false);
  // Runs a statement with one binary (bytea) parameter.
  PgResult exec_bytes(const std::string& sql, const std::string& bytes);
  bool alive() const;
  std::string database() const { return PQdb(conn_.get()); }
  // Identifier of the schema pg_gdpr is installed in (quoted), or nullopt.
  std::optional<std::string> extension_schema();
  // Session advisory lock of one job (purge, backup, ...) in this
  // database; false when another session holds it.
  bool try_job_lock(const std::string& job);
  void set_timeouts(int lock_timeout_ms, int statement_timeout_ms);

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn, &PQfinish) {}
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
};

// The connection string with its database replaced (for pg_dump,
// pg_restore and the other databases of the cluster): keyword=value pairs,
// so that a URI or a service keeps its host, TLS and other settings.
std::string conninfo_for_database(const std::string& conninfo, const std::string& database);

// The extension's schema, or SidecarError(kJobFailed) naming the database.
std::string require_extension(PgConnection& connection);

}  // namespace sidecar

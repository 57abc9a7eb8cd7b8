#include "pg_connection.h"

#include <cstring>

#include "exit_code.h"

namespace sidecar {

namespace {
std::string trimmed(const char* message) {
  std::string text = message ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  // libpq messages may span lines (DETAIL, HINT): keep one line
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return text;
}

// A stable number per job name for pg_try_advisory_lock(int, int).
int job_key(const std::string& job) {
  unsigned h = 2166136261u;
  for (unsigned char c : job) h = (h ^ c) * 16777619u;
  return static_cast<int>(h & 0x7fffffff);
}
constexpr int kLockClass = 0x67647072;  // "gdpr"
}  // namespace

std::string PgResult::text(int row, int column) const {
  const char* value = PQgetvalue(result_.get(), row, column);
  return value ? value : "";
}

std::string PgResult::bytes(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

PgConnection PgConnection::open(const std::string& conninfo, const std::string& database) {
  std::vector<const char*> keys;
  std::vector<const char*> values;
  if (!conninfo.empty()) {
    keys.push_back("dbname");
    values.push_back(conninfo.c_str());
  }
  if (!database.empty()) {
    keys.push_back("dbname");
    values.push_back(database.c_str());
  }
  keys.push_back("fallback_application_name");
  values.push_back("pg_gdpr_sidecar");
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 1);
  if (conn == nullptr) throw SidecarError(ExitCode::kConnect, "cannot connect: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    throw SidecarError(ExitCode::kConnect, "cannot connect to the database: " + message);
  }
  return PgConnection(conn);
}

PgResult PgConnection::exec(const std::string& sql, const Params& params, bool binary_result) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* result = PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, binary_result ? 1 : 0);
  ExecStatusType status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return PgResult(result);
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = trimmed(result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr);
  if (message.empty()) message = trimmed(PQerrorMessage(conn_.get()));
  std::string sqlstate = state ? state : "";
  if (result) PQclear(result);
  bool lost = PQstatus(conn_.get()) != CONNECTION_OK || sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" ||
              sqlstate == "57P02" || sqlstate == "57P03";
  throw QueryError(message, sqlstate, lost);
}

PgResult PgConnection::exec_bytes(const std::string& sql, const std::string& bytes) {
  const char* values[1] = {bytes.data()};
  int lengths[1] = {static_cast<int>(bytes.size())};
  int formats[1] = {1};
  PGresult* result = PQexecParams(conn_.get(), sql.c_str(), 1, nullptr, values, lengths, formats, 0);
  ExecStatusType status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return PgResult(result);
  std::string message = trimmed(result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr);
  if (message.empty()) message = trimmed(PQerrorMessage(conn_.get()));
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  if (result) PQclear(result);
  throw QueryError(message, sqlstate, PQstatus(conn_.get()) != CONNECTION_OK);
}

bool PgConnection::alive() const { return PQstatus(conn_.get()) == CONNECTION_OK; }

std::optional<std::string> PgConnection::extension_schema() {
  PgResult r = exec("SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_gdpr'");
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

bool PgConnection::try_job_lock(const std::string& job) {
  PgResult r = exec("SELECT pg_catalog.pg_try_advisory_lock($1::int4, $2::int4)",
                    {std::to_string(kLockClass), std::to_string(job_key(job))});
  return r.boolean(0, 0);
}

void PgConnection::set_timeouts(int lock_timeout_ms, int statement_timeout_ms) {
  // client_connection_check_interval: a sidecar killed with -9 mid-batch
  // does not leave its session running (and holding the job's lock) for
  // longer than the check interval
  exec("SELECT pg_catalog.set_config('lock_timeout', $1, false), pg_catalog.set_config('statement_timeout', $2, false), "
       "pg_catalog.set_config('client_connection_check_interval', '1s', false)",
       {std::to_string(lock_timeout_ms) + "ms", std::to_string(statement_timeout_ms) + "ms"});
}

std::string conninfo_for_database(const std::string& conninfo, const std::string& database) {
  auto quote = [](const std::string& value) {
    std::string out = "'";
    for (char c : value) {
      if (c == '\\' || c == '\'') out += '\\';
      out += c;
    }
    return out + "'";
  };
  std::string out;
  if (!conninfo.empty()) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
    if (options == nullptr) {
      std::string message = error ? error : "malformed";
      if (error) PQfreemem(error);
      throw SidecarError(ExitCode::kUsage, "invalid connection string: " + trimmed(message.c_str()));
    }
    for (PQconninfoOption* o = options; o->keyword != nullptr; o++) {
      if (o->val == nullptr || std::strcmp(o->keyword, "dbname") == 0) continue;
      out += std::string(o->keyword) + "=" + quote(o->val) + " ";
    }
    PQconninfoFree(options);
  }
  return out + "dbname=" + quote(database);
}

std::string require_extension(PgConnection& connection) {
  auto schema = connection.extension_schema();
  if (!schema) {
    throw SidecarError(ExitCode::kJobFailed,
                       "extension pg_gdpr is not installed in database " + connection.database() +
                           " (run CREATE EXTENSION pg_gdpr there)");
  }
  return *schema;
}

}  // namespace sidecar

#include "job_session.h"

#include "clock.h"
#include "exit_code.h"
#include "log.h"
#include "signals.h"

namespace sidecar {

namespace {
PgConnection connect_and_lock(const Config& config, const std::string& job, const std::string& database) {
  PgConnection connection = PgConnection::open(config.dbname, database);
  if (!connection.try_job_lock(job)) {
    throw SidecarError(ExitCode::kLocked, "another pg_gdpr_sidecar is running " + job + " on database " +
                                              connection.database() + "; this one stops");
  }
  connection.set_timeouts(config.lock_timeout_ms, config.statement_timeout_ms);
  return connection;
}
}  // namespace

JobSession::JobSession(const Config& config, std::string job, const std::string& database)
    : config_(config), job_(std::move(job)), database_(database),
      connection_(connect_and_lock(config, job_, database)) {
  schema_ = require_extension(connection_);
}

void JobSession::connect() { connection_ = connect_and_lock(config_, job_, database_); }

PgResult JobSession::retry(const std::function<PgResult(PgConnection&)>& statement) {
  int attempts = 0;
  for (;;) {
    try {
      return statement(connection_);
    } catch (const QueryError& e) {
      attempts++;
      if (e.connection_lost()) {
        Log::warning(job_, "lost the connection (" + std::string(e.what()) + "); reconnecting");
        double deadline = monotonic_ms() + static_cast<double>(config_.reconnect_s) * 1000.0;
        for (;;) {
          if (stop_requested()) throw;
          sleep_interruptible(1.0);
          try {
            connect();
            Log::info(job_, "reconnected; resuming");
            break;
          } catch (const SidecarError& again) {
            if (again.code() == ExitCode::kLocked) throw;
            if (monotonic_ms() > deadline) {
              throw SidecarError(ExitCode::kConnect, std::string(again.what()) + " (gave up after " +
                                                         std::to_string(config_.reconnect_s) + " s)");
            }
          }
        }
        continue;
      }
      bool transient = e.sqlstate() == "55P03" || e.sqlstate() == "40001" || e.sqlstate() == "40P01";
      if (!transient || attempts >= 5) throw;
      Log::debug(job_, std::string(e.what()) + "; retrying");
      sleep_interruptible(0.2 * attempts);
    }
  }
}

void JobSession::finished(const std::string& started_at, bool succeeded, const std::string& details_json) {
  try {
    connection_.exec("SELECT " + schema_ + ".gdpr_job_finished($1, $2::timestamptz, $3::boolean, $4::jsonb)",
                     {job_, started_at, succeeded ? "true" : "false", details_json});
  } catch (const std::exception& e) {
    Log::warning(job_, std::string("could not record the run in gdpr.job_run: ") + e.what());
  }
}

}  // namespace sidecar

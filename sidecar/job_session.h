// One job's database session: connected, holding the job's advisory lock
// (another sidecar doing the same job makes this one exit 4), with
// lock_timeout and statement_timeout set. Statements run through retry():
// when the server goes away mid-job (restart, failover) the session
// reconnects for up to --reconnect-timeout, takes the lock again and runs
// the statement again; a lock timeout or serialization failure is retried
// a few times. Each statement is its own short transaction.
#pragma once

#include <functional>
#include <string>

#include "config.h"
#include "pg_connection.h"

namespace sidecar {

class JobSession {
 public:
  // database: overrides the database of config.dbname (empty: keep it)
  JobSession(const Config& config, std::string job, const std::string& database = "");

  PgConnection& db() { return connection_; }
  // The extension's schema, quoted, for calling its functions.
  const std::string& schema() const { return schema_; }
  const std::string& job() const { return job_; }

  PgResult retry(const std::function<PgResult(PgConnection&)>& statement);
  // Records the run in gdpr.job_run (gdpr_job_finished); never throws.
  void finished(const std::string& started_at, bool succeeded, const std::string& details_json);

 private:
  void connect();
  const Config& config_;
  std::string job_;
  std::string database_;
  PgConnection connection_;
  std::string schema_;
};

}  // namespace sidecar

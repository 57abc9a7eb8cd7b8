#include "daemon.h"

#include <algorithm>
#include <map>
#include <optional>

#include "backup_job.h"
#include "backup_maintenance.h"
#include "clock.h"
#include "exit_code.h"
#include "log.h"
#include "pg_connection.h"
#include "progress.h"
#include "purge_job.h"
#include "signals.h"

namespace sidecar {

namespace {

struct Job {
  const char* name;
  long Schedule::*interval;
  bool (*run)(const Config&);
};

const Job kJobs[] = {
    {"purge", &Schedule::purge_s, run_purge},
    {"backup", &Schedule::backup_s, run_backup},
    {"expire-backups", &Schedule::expire_backups_s, run_expire_backups},
    {"verify-backups", &Schedule::verify_backups_s, run_verify_backups},
};

std::optional<PgConnection> lock_connection(const Config& config) {
  PgConnection connection = PgConnection::open(config.dbname);
  if (!connection.try_job_lock("run")) {
    throw SidecarError(ExitCode::kLocked, "another pg_gdpr_sidecar run is active on database " + connection.database());
  }
  return connection;
}

}  // namespace

int run_daemon(int argc, char** argv, Config config) {
  std::optional<PgConnection> lock = lock_connection(config);
  Log::info("run", "started; schedules: purge " + std::to_string(config.schedule.purge_s) + " s, backup " +
                       std::to_string(config.schedule.backup_s) + " s, expire-backups " +
                       std::to_string(config.schedule.expire_backups_s) + " s, verify-backups " +
                       std::to_string(config.schedule.verify_backups_s) + " s");
  std::map<std::string, std::time_t> attempted;  // in memory: a job that cannot even start waits its interval too
  while (!stop_requested()) {
    if (reload_requested()) {
      try {
        auto fresh = load_config(argc, argv);
        if (fresh) {
          config = *fresh;
          Log::configure(config.log_format == "json", config.log_level);
          Progress::configure(config.progress);
          Log::info("run", "configuration reloaded");
        }
      } catch (const SidecarError& e) {
        Log::error("run", std::string("new configuration is invalid, keeping the old one: ") + e.what());
      }
    }
    // the lock session may have died with the server: take the lock again
    if (!lock || !lock->alive()) {
      try {
        lock.reset();
        lock = lock_connection(config);
        Log::info("run", "reconnected");
      } catch (const SidecarError& e) {
        if (e.code() == ExitCode::kLocked) throw;
        Log::warning("run", e.what());
        sleep_interruptible(5);
        continue;
      }
    }
    double next_in = 60;
    for (const Job& job : kJobs) {
      if (stop_requested()) break;
      long interval = config.schedule.*(job.interval);
      if (interval <= 0) continue;
      std::time_t last = attempted.count(job.name) ? attempted[job.name] : 0;
      try {
        PgResult r = lock->exec("SELECT extract(epoch FROM started_at)::int8 FROM gdpr.job_run WHERE job = $1", {job.name});
        if (r.rows() > 0) last = std::max(last, static_cast<std::time_t>(r.integer(0, 0)));
      } catch (const QueryError& e) {
        Log::warning("run", std::string("cannot read gdpr.job_run: ") + e.what());
        next_in = std::min(next_in, 5.0);
        continue;
      }
      std::time_t now = std::time(nullptr);
      if (now - last < interval) {
        next_in = std::min(next_in, static_cast<double>(last + interval - now));
        continue;
      }
      attempted[job.name] = now;
      Log::info(job.name, "starting (scheduled every " + std::to_string(interval) + " s)");
      try {
        bool ok = job.run(config);
        if (!ok) Log::warning(job.name, "finished with failures");
      } catch (const SidecarError& e) {
        Log::error(job.name, e.what());
      } catch (const std::exception& e) {
        Log::error(job.name, e.what());
      }
      next_in = std::min(next_in, static_cast<double>(interval));
    }
    sleep_interruptible(std::max(0.2, next_in));
  }
  Log::info("run", "stopped by a signal");
  return static_cast<int>(ExitCode::kOk);
}

}  // namespace sidecar

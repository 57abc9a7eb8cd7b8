// pg_gdpr_sidecar: makes time pass for the data. Runs retention purges,
// releases ended legal holds, carries out verified erasure requests, takes
// encrypted backups, verifies, expires and restores them, reports what is
// due, from cron or as a daemon. Exit codes: see exit_code.h and README.
#include <iostream>

#include "backup_job.h"
#include "backup_maintenance.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "exit_code.h"
#include "log.h"
#include "progress.h"
#include "purge_job.h"
#include "restore_job.h"
#include "signals.h"
#include "status_job.h"

namespace sidecar {

// Runs one command; true when everything it did succeeded.
bool run_command(const Config& config) {
  const std::string& c = config.command;
  if (c == "purge") return run_purge(config);
  if (c == "backup") return run_backup(config);
  if (c == "verify-backups") return run_verify_backups(config);
  if (c == "expire-backups") return run_expire_backups(config);
  if (c == "restore") return run_restore(config);
  return run_status(config);
}

}  // namespace sidecar

int main(int argc, char** argv) {
  using namespace sidecar;
  try {
    auto config = load_config(argc, argv);
    if (!config) return static_cast<int>(ExitCode::kOk);
    Log::configure(config->log_format == "json", config->log_level);
    Progress::configure(config->progress);
    Clock::set_override(config->now);
    install_signal_handlers();
    if (config->command == "run") return run_daemon(argc, argv, *config);
    return static_cast<int>(run_command(*config) ? ExitCode::kOk : ExitCode::kJobFailed);
  } catch (const SidecarError& e) {
    Log::error("", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    Log::error("", e.what());
    return static_cast<int>(ExitCode::kJobFailed);
  }
}

// The sidecar's configuration: every option declared once, read from the
// command line, then the environment (PG_GDPR_SIDECAR_<OPTION>), then an
// INI file (--config), the first one found winning. Secrets (the backup
// key) come only from a file or a command; on the command line they are
// refused, and so is a password inside the connection string.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace sidecar {

struct Schedule {
  long purge_s = 3600;              // 0 = never
  long backup_s = 86400;
  long expire_backups_s = 86400;
  long verify_backups_s = 0;
};

struct Config {
  std::string command;              // purge, backup, ...
  std::vector<std::string> args;    // the command's own arguments (restore: the backup id)
  std::string config_file;

  // connection: a libpq connection string, URI or "service=name"; empty
  // means libpq's environment (PGHOST, PGDATABASE, PGSERVICE, ...)
  std::string dbname;
  int lock_timeout_ms = 2000;
  int statement_timeout_ms = 60000;
  long reconnect_s = 60;

  std::string log_format = "text";  // text | json
  std::string log_level = "info";   // debug | info | warning | error
  std::string progress = "auto";    // auto (on a terminal) | always | never

  // purge
  int batch_rows = 10000;           // first batch; adapted to batch_target_ms
  int batch_target_ms = 50;

  // backups
  std::vector<std::string> backup_targets;
  std::string backup_key_file;
  std::string backup_key_command;
  long backup_max_age_s = 90L * 86400;
  long key_backup_max_age_s = 30L * 86400;
  std::string pg_bindir;            // where pg_dump and pg_restore are; empty = PATH

  // restore
  std::string restore_into;
  std::string source_dbname;        // tombstones to replay come from here; empty = dbname

  std::optional<std::time_t> now;   // clock override (tests)
  Schedule schedule;
};

// Parses argv (and the environment and config file it names). Throws
// SidecarError(kUsage) for any mistake; returns nullopt when it printed
// help or the version and the program should exit 0.
std::optional<Config> load_config(int argc, char** argv);

}  // namespace sidecar

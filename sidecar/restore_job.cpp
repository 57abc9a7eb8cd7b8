#include "restore_job.h"

#include <algorithm>

#include "backup_cipher.h"
#include "backup_maintenance.h"
#include "backup_store.h"
#include "child_process.h"
#include "clock.h"
#include "exit_code.h"
#include "job_session.h"
#include "log.h"
#include "progress.h"
#include "secret_source.h"

namespace sidecar {

namespace {

// The first copy of (kind, id) that checks out in full, or nullopt with
// the reasons of each copy in problems.
std::optional<Copy> good_copy(const BackupKey& key, const Inventory& inventory, const std::string& kind,
                              const std::string& id, std::string* problems) {
  auto found = inventory.backups.find({kind, id});
  if (found == inventory.backups.end()) {
    *problems = "no target holds a " + kind + " backup " + id;
    return std::nullopt;
  }
  for (const auto& copy : found->second) {
    std::string problem = check_copy(key, copy);
    if (problem.empty()) return copy;
    Log::warning("restore", "skipping a bad copy: " + problem);
    *problems += (problems->empty() ? "" : "; ") + problem;
  }
  return std::nullopt;
}

bool function_exists(PgConnection& db, const std::string& name) {
  PgResult r = db.exec(
      "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_extension e ON e.extname = 'pg_gdpr' "
      "WHERE p.proname = $1 AND p.pronamespace = e.extnamespace)",
      {name});
  return r.boolean(0, 0);
}

}  // namespace

bool run_restore(const Config& config) {
  const std::string& backup_id = config.args.at(0);
  const std::string& into = config.restore_into;
  BackupKey key = load_backup_key(config);
  Inventory inventory = scan_targets(config.backup_targets);

  // 1. refuse a damaged or tampered backup before anything is restored
  std::string problems;
  double t0 = monotonic_ms();
  auto copy = good_copy(key, inventory, "data", backup_id, &problems);
  if (!copy) {
    Log::error("restore", "refused: no good copy of backup " + backup_id + " (" + problems + "); nothing was restored");
    return false;
  }
  Log::info("restore", "verified " + copy->file_path, {"", {}, monotonic_ms() - t0});

  JobSession session(config, "restore");
  PgResult exists = session.db().exec("SELECT count(*) FROM pg_catalog.pg_database WHERE datname = $1", {into});
  if (exists.integer(0, 0) > 0) {
    throw usage_error("database " + into + " exists already: restore creates a new database, give another --into");
  }
  PgResult create = session.db().exec("SELECT pg_catalog.format('CREATE DATABASE %I', $1::text)", {into});
  session.db().exec(create.text(0, 0));
  auto drop_again = [&](const std::string& why) {
    Log::error("restore", why + "; database " + into + " dropped again");
    try {
      PgResult drop = session.db().exec("SELECT pg_catalog.format('DROP DATABASE %I WITH (FORCE)', $1::text)", {into});
      session.db().exec(drop.text(0, 0));
    } catch (const std::exception& e) {
      Log::error("restore", std::string("dropping ") + into + " failed: " + e.what());
    }
    return false;
  };

  // 2. the data
  std::string conninfo = conninfo_for_database(config.dbname, into);
  {
    std::string error;
    ChildProcess restore({pg_program(config.pg_bindir, "pg_restore"), "--exit-on-error", "--no-password",
                          "--dbname=" + conninfo},
                         ChildProcess::Pipe::kStdin);
    bool pipe_ok = true;
    long long bytes = 0;
    Progress progress("restore " + backup_id, "bytes");
    try {
      open_backup_file(key, copy->file_path, [&](const char* data, size_t size) {
        if (pipe_ok && !write_all(restore.fd(), data, size)) pipe_ok = false;
        bytes += static_cast<long long>(size);
        progress.update(static_cast<double>(bytes), 0);
      });
    } catch (const CipherError& e) {
      restore.close_pipe();
      restore.wait(nullptr);
      return drop_again(std::string("the backup changed while it was restored: ") + e.what());
    }
    if (!restore.wait(&error)) return drop_again("pg_restore failed: " + error);
  }
  Log::info("restore", "restored backup " + backup_id + " into database " + into, {"", {}, monotonic_ms() - t0});

  try {
    PgConnection restored = PgConnection::open(config.dbname, into);
    std::string schema = require_extension(restored);
    // 3. the newest key backup
    if (function_exists(restored, "gdpr_restore_key_backup")) {
      std::vector<Copy> key_backups;
      for (const auto& [id, copies] : inventory.backups) {
        if (id.first == "keys") key_backups.push_back(copies.front());
      }
      std::sort(key_backups.begin(), key_backups.end(),
                [](const Copy& a, const Copy& b) { return a.manifest.taken > b.manifest.taken; });
      bool restored_keys = false;
      for (const auto& candidate : key_backups) {
        std::string why;
        auto good = good_copy(key, inventory, "keys", candidate.manifest.backup_id, &why);
        if (!good) {
          Log::warning("restore", "skipping key backup " + candidate.manifest.backup_id + ": " + why);
          continue;
        }
        std::string bytes;
        open_backup_file(key, good->file_path, [&](const char* data, size_t size) { bytes.append(data, size); });
        PgResult r = restored.exec_bytes("SELECT " + schema + ".gdpr_restore_key_backup($1::bytea)", bytes);
        std::fill(bytes.begin(), bytes.end(), '\0');
        Log::info("restore", "restored " + r.text(0, 0) + " data keys from key backup " + good->manifest.backup_id);
        restored_keys = true;
        break;
      }
      if (!restored_keys) {
        Log::warning("restore", "no key backup could be restored: encrypted values of " + into + " stay unreadable");
      }
    } else {
      Log::warning("restore", "this pg_gdpr has no gdpr_restore_key_backup(): no data keys restored");
    }
    // 4. erasures recorded since the backup, from the live database
    PgConnection source = config.source_dbname.empty() ? PgConnection::open(config.dbname, session.db().database())
                                                       : PgConnection::open(config.source_dbname);
    PgResult tombstones = source.exec(
        "SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('subject_hash', "
        "pg_catalog.encode(t.subject_hash, 'hex'), 'kind', t.kind, 'erased_at', t.erased_at, 'request_id', "
        "t.request_id, 'key_address', pg_catalog.encode(t.key_address, 'hex'))), '[]')::text FROM gdpr.tombstone t");
    PgResult replay = restored.exec("SELECT " + schema + ".gdpr_replay_tombstones($1::jsonb)::text",
                                    {tombstones.text(0, 0)});
    Log::info("restore", "replayed erasures of " + source.database() + ": " + replay.text(0, 0));
  } catch (const std::exception& e) {
    return drop_again(std::string("replaying erasures into the restored database failed: ") + e.what());
  }
  return true;
}

}  // namespace sidecar

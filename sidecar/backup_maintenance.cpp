#include "backup_maintenance.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "clock.h"
#include "job_session.h"
#include "log.h"
#include "secret_source.h"

namespace sidecar {

std::string check_copy(const BackupKey& key, const Copy& copy) {
  struct stat st {};
  if (stat(copy.file_path.c_str(), &st) != 0) return copy.file_path + " is missing";
  std::string sha;
  long long size = 0;
  try {
    open_backup_file(key, copy.file_path, nullptr, &sha, &size);
  } catch (const CipherError& e) {
    return e.what();
  }
  if (size != copy.manifest.size) {
    return copy.file_path + " has " + std::to_string(size) + " bytes, its manifest says " +
           std::to_string(copy.manifest.size);
  }
  if (sha != copy.manifest.sha256) return copy.file_path + " does not match the sha256 of its manifest";
  return "";
}

bool run_verify_backups(const Config& config) {
  BackupKey key = load_backup_key(config);
  JobSession session(config, "verify-backups");
  std::string started_at = iso_utc(std::time(nullptr));
  Inventory inventory = scan_targets(config.backup_targets);
  bool ok = true;
  long long good = 0;
  long long bad = 0;
  for (const auto& problem : inventory.problems) {
    Log::error("verify-backups", problem);
    ok = false;
  }
  for (const auto& [id, copies] : inventory.backups) {
    std::set<std::string> present;
    for (const auto& copy : copies) {
      present.insert(copy.target);
      double t0 = monotonic_ms();
      std::string problem = check_copy(key, copy);
      if (problem.empty()) {
        good++;
        Log::info("verify-backups", "good: " + copy.file_path, {"", {}, monotonic_ms() - t0});
      } else {
        bad++;
        ok = false;
        Log::error("verify-backups", "BAD: " + problem);
      }
    }
    for (const auto& target : config.backup_targets) {
      if (!present.count(target)) {
        Log::warning("verify-backups", "target " + target + " has no copy of " + id.second + " (" + id.first + ")");
      }
    }
  }
  // backups the catalog knows that no target holds any more
  try {
    PgResult known = session.db().exec("SELECT backup_id FROM gdpr.backup WHERE expired_at IS NULL ORDER BY taken_at");
    for (int i = 0; i < known.rows(); i++) {
      if (!inventory.backups.count({"data", known.text(i, 0)})) {
        Log::error("verify-backups", "backup " + known.text(i, 0) + " is in gdpr.backup but no target holds a copy");
        ok = false;
      }
    }
  } catch (const QueryError& e) {
    Log::warning("verify-backups", std::string("could not read gdpr.backup: ") + e.what());
  }
  Log::info("verify-backups", std::to_string(good) + " copies good, " + std::to_string(bad) + " bad");
  session.finished(started_at, ok, "{\"good\":" + std::to_string(good) + ",\"bad\":" + std::to_string(bad) + "}");
  return ok;
}

bool run_expire_backups(const Config& config) {
  JobSession session(config, "expire-backups");
  std::string started_at = iso_utc(std::time(nullptr));
  std::time_t now = Clock::now();
  Inventory inventory = scan_targets(config.backup_targets);
  bool ok = true;
  long long deleted = 0;
  long long missing = 0;
  for (const auto& problem : inventory.problems) Log::warning("expire-backups", problem);
  for (const auto& [id, copies] : inventory.backups) {
    const std::string& kind = id.first;
    long max_age = kind == "keys" ? config.key_backup_max_age_s : config.backup_max_age_s;
    std::time_t taken = copies.front().manifest.taken;
    if (now - taken < max_age) continue;  // younger than the maximum: kept
    std::vector<std::string> missing_copies;
    std::set<std::string> present;
    for (const auto& copy : copies) {
      present.insert(copy.target);
      if (unlink(copy.file_path.c_str()) != 0) {
        if (errno == ENOENT) {
          missing_copies.push_back(copy.file_path);
        } else {
          Log::error("expire-backups", "cannot delete " + copy.file_path + ": " + std::strerror(errno));
          ok = false;
          continue;
        }
      } else {
        deleted++;
      }
      if (unlink(copy.manifest_path.c_str()) != 0 && errno != ENOENT) {
        Log::error("expire-backups", "cannot delete " + copy.manifest_path + ": " + std::strerror(errno));
        ok = false;
      }
    }
    for (const auto& target : config.backup_targets) {
      if (!present.count(target)) missing_copies.push_back(target + "/" + file_name(id.second, kind));
    }
    for (const auto& m : missing_copies) {
      Log::warning("expire-backups", "copy already missing: " + m);
      missing++;
    }
    Log::info("expire-backups", "expired " + kind + " backup " + id.second + " taken " + iso_utc(taken) + " (" +
                                    std::to_string((now - taken) / 86400) + " days old)");
    if (kind == "data") {
      std::string list = "{";
      for (size_t i = 0; i < missing_copies.size(); i++) list += (i ? ",\"" : "\"") + missing_copies[i] + "\"";
      list += "}";
      try {
        session.retry([&](PgConnection& db) {
          return db.exec("SELECT " + session.schema() + ".gdpr_record_backup_expired($1, $2::text[])", {id.second, list});
        });
      } catch (const QueryError& e) {
        Log::error("expire-backups", std::string("recording the expiry in gdpr.backup failed: ") + e.what());
        ok = false;
      }
    }
  }
  // backups the catalog holds that are past the maximum age and have no copy left anywhere
  try {
    PgResult known = session.db().exec(
        "SELECT backup_id FROM gdpr.backup WHERE expired_at IS NULL AND taken_at <= $1::timestamptz ORDER BY taken_at",
        {iso_utc(now - config.backup_max_age_s)});
    for (int i = 0; i < known.rows(); i++) {
      std::string id = known.text(i, 0);
      if (inventory.backups.count({"data", id})) continue;
      Log::warning("expire-backups", "backup " + id + " is past its maximum age and no target holds a copy any more");
      missing++;
      session.retry([&](PgConnection& db) {
        return db.exec("SELECT " + session.schema() + ".gdpr_record_backup_expired($1, '{all copies}')", {id});
      });
    }
  } catch (const QueryError& e) {
    Log::error("expire-backups", std::string("reading gdpr.backup failed: ") + e.what());
    ok = false;
  }
  session.finished(started_at, ok,
                   "{\"deleted\":" + std::to_string(deleted) + ",\"missing\":" + std::to_string(missing) + "}");
  return ok;
}

}  // namespace sidecar

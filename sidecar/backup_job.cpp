#include "backup_job.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "backup_cipher.h"
#include "backup_store.h"
#include "child_process.h"
#include "clock.h"
#include "digest.h"
#include "exit_code.h"
#include "job_session.h"
#include "log.h"
#include "progress.h"
#include "secret_source.h"

namespace sidecar {

namespace {

// One encrypted output, written to every target directory at once; a
// target that fails is dropped and reported, the others go on.
class MultiTargetFile {
 public:
  MultiTargetFile(const std::vector<std::string>& targets, const std::string& name) : name_(name) {
    for (const auto& target : targets) {
      Out out{target, target + "/" + name + ".partial", -1, ""};
      try {
        make_directories(target);
        out.fd = open(out.partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out.fd < 0) out.error = std::string("cannot write ") + out.partial + ": " + std::strerror(errno);
      } catch (const std::exception& e) {
        out.error = e.what();
      }
      outs_.push_back(out);
    }
  }
  ~MultiTargetFile() {
    for (auto& out : outs_) {
      if (out.fd >= 0) {
        close(out.fd);
        unlink(out.partial.c_str());
      }
    }
  }
  void write(const std::string& bytes) {
    sha_.update(bytes.data(), bytes.size());
    size_ += static_cast<long long>(bytes.size());
    for (auto& out : outs_) {
      if (out.fd >= 0 && !write_all(out.fd, bytes.data(), bytes.size())) fail(out, std::strerror(errno));
    }
  }
  // fsync and rename every copy; writes its manifest. Returns the targets that hold a copy.
  std::vector<std::string> commit(Manifest manifest) {
    manifest.size = size_;
    manifest.sha256 = sha_.hex();
    std::vector<std::string> done;
    for (auto& out : outs_) {
      if (out.fd < 0) continue;
      std::string final_path = out.target + "/" + name_;
      if (fsync(out.fd) != 0) {
        fail(out, std::strerror(errno));
        continue;
      }
      close(out.fd);
      out.fd = -1;
      if (rename(out.partial.c_str(), final_path.c_str()) != 0) {
        out.error = "cannot rename " + out.partial + ": " + std::strerror(errno);
        unlink(out.partial.c_str());
        continue;
      }
      try {
        write_file_atomically(out.target + "/" + manifest_name(name_), manifest.to_json());
        done.push_back(out.target);
      } catch (const std::exception& e) {
        out.error = e.what();
      }
    }
    manifest_ = manifest;
    return done;
  }
  std::vector<std::string> errors() const {
    std::vector<std::string> list;
    for (const auto& out : outs_) {
      if (!out.error.empty()) list.push_back(out.error);
    }
    return list;
  }
  long long size() const { return size_; }
  const Manifest& manifest() const { return manifest_; }

 private:
  struct Out {
    std::string target;
    std::string partial;
    int fd;
    std::string error;
  };
  void fail(Out& out, const std::string& why) {
    out.error = "writing " + out.partial + " failed: " + why;
    close(out.fd);
    unlink(out.partial.c_str());
    out.fd = -1;
  }
  std::string name_;
  std::vector<Out> outs_;
  Sha256 sha_;
  long long size_ = 0;
  Manifest manifest_;
};

std::string safe_name(const std::string& database) {
  std::string out;
  for (char c : database) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') ? c : '_';
  return out;
}

}  // namespace



bool run_backup(const Config& config) {
  BackupKey key = load_backup_key(config);
  JobSession session(config, "backup");
  std::string started_at = iso_utc(std::time(nullptr));
  std::time_t taken = Clock::now();
  std::string database = session.db().database();
  std::string backup_id = safe_name(database) + "-" + compact_utc(taken);
  double t0 = monotonic_ms();

  Manifest manifest;
  manifest.kind = "data";
  manifest.backup_id = backup_id;
  manifest.file = file_name(backup_id, "data");
  manifest.database = database;
  manifest.taken_at = iso_utc(taken);
  manifest.taken = taken;
  manifest.key_id = key.id;

  session.retry([&](PgConnection& db) { return db.exec("SELECT " + session.schema() + ".gdpr_backup_begin()"); });
  // Keys never travel with the data: the data keys' rows stay out of the dump.
  std::vector<std::string> argv = {pg_program(config.pg_bindir, "pg_dump"), "--format=custom", "--no-password",
                                   "--exclude-table-data=gdpr.subject_key",
                                   "--dbname=" + conninfo_for_database(config.dbname, database)};
  MultiTargetFile out(config.backup_targets, manifest.file);
  ChunkSealer sealer(key);
  out.write(sealer.header());
  std::string error;
  {
    ChildProcess dump(argv, ChildProcess::Pipe::kStdout);
    std::vector<char> buffer(kBackupChunk);
    Progress progress("backup " + database, "bytes");
    for (;;) {
      size_t n = read_full(dump.fd(), buffer.data(), buffer.size());
      bool last = n < buffer.size();
      out.write(sealer.seal(buffer.data(), n, last));
      progress.update(static_cast<double>(out.size()), 0);
      if (last) break;
    }
    if (!dump.wait(&error)) {
      Log::error("backup", "pg_dump failed, no backup written: " + error);
      session.finished(started_at, false, "{\"error\":" + json_quote(error) + "}");
      return false;
    }
  }
  std::vector<std::string> copies = out.commit(manifest);
  bool ok = true;
  for (const auto& e : out.errors()) {
    Log::error("backup", e);
    ok = false;
  }
  if (copies.empty()) {
    Log::error("backup", "no target holds a copy of backup " + backup_id);
    session.finished(started_at, false, "{\"backup_id\":" + json_quote(backup_id) + "}");
    return false;
  }
  Log::info("backup", "backup " + backup_id + " written to " + std::to_string(copies.size()) + " of " +
                          std::to_string(config.backup_targets.size()) + " targets, " +
                          std::to_string(out.size()) + " bytes, sha256 " + out.manifest().sha256,
            {"", {}, monotonic_ms() - t0});

  // The key backup, when the extension offers it.
  bool key_backup = false;
  try {
    PgResult has = session.db().exec(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_extension e ON e.extname = 'pg_gdpr' "
        "WHERE p.proname = 'gdpr_key_backup' AND p.pronamespace = e.extnamespace AND p.pronargs = 0)");
    if (has.boolean(0, 0)) {
      PgResult keys = session.retry([&](PgConnection& db) {
        return db.exec("SELECT " + session.schema() + ".gdpr_key_backup()", {}, true);
      });
      std::string bytes = keys.bytes(0, 0);
      Manifest km = manifest;
      km.kind = "keys";
      km.file = file_name(backup_id, "keys");
      MultiTargetFile key_out(copies, km.file);
      ChunkSealer key_sealer(key);
      key_out.write(key_sealer.header());
      size_t offset = 0;
      do {
        size_t n = std::min(kBackupChunk, bytes.size() - offset);
        bool last = offset + n == bytes.size();
        key_out.write(key_sealer.seal(bytes.data() + offset, n, last));
        offset += n;
        if (last) break;
      } while (true);
      std::fill(bytes.begin(), bytes.end(), '\0');
      std::vector<std::string> key_copies = key_out.commit(km);
      for (const auto& e : key_out.errors()) {
        Log::error("backup", e);
        ok = false;
      }
      key_backup = key_copies.size() == copies.size();
      Log::info("backup", "key backup " + km.file + " written to " + std::to_string(key_copies.size()) + " targets");
    } else {
      Log::info("backup", "this pg_gdpr has no gdpr_key_backup(): no key backup written");
    }
  } catch (const std::exception& e) {
    Log::error("backup", std::string("key backup failed: ") + e.what());
    ok = false;
  }

  std::string targets = "{";
  for (size_t i = 0; i < copies.size(); i++) {
    std::string quoted = "\"";
    for (char c : copies[i]) quoted += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    targets += (i ? "," : "") + quoted + "\"";
  }
  targets += "}";
  try {
    session.retry([&](PgConnection& db) {
      return db.exec("SELECT " + session.schema() +
                         ".gdpr_record_backup($1, $2::timestamptz, $3, $4::int8, $5, $6::text[], $7::boolean)",
                     {backup_id, manifest.taken_at, key.id, std::to_string(out.size()), out.manifest().sha256, targets,
                      key_backup ? "true" : "false"});
    });
  } catch (const QueryError& e) {
    Log::error("backup", std::string("recording the backup in gdpr.backup failed: ") + e.what());
    ok = false;
  }
  session.finished(started_at, ok,
                   "{\"backup_id\":" + json_quote(backup_id) + ",\"size\":" + std::to_string(out.size()) +
                       ",\"copies\":" + std::to_string(copies.size()) + "}");
  std::printf("%s\n", backup_id.c_str());
  return ok;
}

}  // namespace sidecar

// Backups on disk: in each target directory, per backup, the encrypted
// file and its manifest (JSON: format, kind, backup id, file, database,
// taken_at, key id, size, sha256). A data backup is <id>.dump.gcm, the key
// backup taken with it <id>.keys.gcm; each has <file>.manifest.json.
#pragma once

#include <ctime>
#include <map>
#include <string>
#include <vector>

namespace sidecar {

struct Manifest {
  std::string kind;       // "data" or "keys"
  std::string backup_id;
  std::string file;       // name inside the target directory
  std::string database;
  std::string taken_at;   // ISO 8601 UTC
  std::time_t taken = 0;
  std::string key_id;
  long long size = 0;
  std::string sha256;

  std::string to_json() const;
  // Throws std::runtime_error naming what is missing or malformed.
  static Manifest from_json(const std::string& text);
};

struct Copy {
  std::string target;     // directory
  std::string manifest_path;
  std::string file_path;
  Manifest manifest;
};

// Every backup (by kind and id) found in the targets, with its copies.
// Unreadable manifests are reported in problems, not thrown.
struct Inventory {
  std::map<std::pair<std::string, std::string>, std::vector<Copy>> backups;  // (kind, id) -> copies
  std::vector<std::string> problems;
};
Inventory scan_targets(const std::vector<std::string>& targets);

std::string file_name(const std::string& backup_id, const std::string& kind);  // <id>.dump.gcm / <id>.keys.gcm
std::string manifest_name(const std::string& file);

// Writes text to path atomically (temporary file, fsync, rename).
void write_file_atomically(const std::string& path, const std::string& text);
// Creates a directory and its parents (mode 0700); throws on failure.
void make_directories(const std::string& path);

}  // namespace sidecar

// The master keys (KEKs) that wrap the per-subject data keys. They come from
// outside SQL: a file readable only by the server's OS user, or the output of
// a command. Each line is "<version>:<64 hex digits>"; the highest version
// wraps new and rotated keys, every version present can unwrap.
#pragma once

#ifdef POSTGRES_H
#error "master_key_ring.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "secure_bytes.h"

namespace gdpr {

class MasterKeyRing {
 public:
  // Parses key lines. source names where they came from (a setting, never the
  // key) for error messages. Throws GdprError (F0000) on any malformed line.
  static MasterKeyRing parse(const std::string& text, const std::string& source);

  // Reads a key file, refusing one that group or others may read.
  static MasterKeyRing from_file(const std::string& path);

  // Runs a shell command and parses what it prints on stdout.
  static MasterKeyRing from_command(const std::string& command);

  bool empty() const noexcept { return keys_.empty(); }
  std::uint32_t newest_version() const;
  const SecureBytes* find(std::uint32_t version) const;
  std::vector<std::uint32_t> versions() const;

 private:
  std::map<std::uint32_t, SecureBytes> keys_;
};

}  // namespace gdpr

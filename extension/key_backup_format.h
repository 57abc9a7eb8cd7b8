// The byte format of a key backup (gdpr_key_backup): a header naming the
// installation whose derived key seals it, the
// key id sequence's last value, every key row of gdpr.subject_key (a
// shredded row without any key), and an HMAC-SHA256 seal over all of it.
// Plain C++: the unit tests check it without a server.
#pragma once

#ifdef POSTGRES_H
#error "key_backup_format.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "installation_keys.h"

namespace gdpr {

struct BackedUpKey {
  std::uint64_t key_id = 0;
  std::vector<std::uint8_t> subject_address;
  std::string key_class;
  std::uint32_t kek_version = 0;      // 0 for a shredded key
  std::vector<std::uint8_t> wrapped;  // empty for a shredded key
  std::string created_at;             // timestamptz as text
  std::string shredded_at;            // empty unless shredded
  bool shredded() const noexcept { return wrapped.empty(); }
};

struct KeyBackup {
  std::vector<std::uint8_t> installation_id;
  std::uint64_t last_key_id = 0;   // the key id sequence's last value
  std::vector<BackedUpKey> keys;
};

struct KeyBackupHeader {
  std::vector<std::uint8_t> installation_id;
};

// Serializes and seals with keys (whose installation it names).
std::vector<std::uint8_t> encode_key_backup(const KeyBackup& backup, const InstallationKeys& keys);

// The header only, unverified: which installation the backup claims. Throws GdprError (22P03) if it is not a key backup.
KeyBackupHeader peek_key_backup(const std::uint8_t* data, std::size_t size);

// Verifies the seal with keys, then parses. Throws GdprError: 22P03 for
// anything that is not an intact key backup of this installation.
KeyBackup decode_key_backup(const std::uint8_t* data, std::size_t size,
                            const InstallationKeys& keys);

}  // namespace gdpr

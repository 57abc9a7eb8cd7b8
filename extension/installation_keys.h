// The secrets of one installation of pg_gdpr (one database), never stored
// anywhere: HKDF-SHA256 of the installation's root secret, salted with its
// installation id, one label per use. The root secret itself is stored only
// wrapped by the master key (gdpr.installation), like a data key, and is
// re-wrapped by rotation, so every master key version can be retired. The
// key table's addresses, the subject hashes of tombstones, requests and the
// audit log, and the seal of a key backup each use their own key, so one
// cannot be matched against another, and nothing in a dump of the database
// reverses any of them without the master key.
#pragma once

#ifdef POSTGRES_H
#error "installation_keys.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "secure_bytes.h"

namespace gdpr {

using Digest = std::vector<std::uint8_t>;  // 32 bytes of HMAC-SHA256

class InstallationKeys {
 public:
  static constexpr std::size_t kIdSize = 16;
  static constexpr std::size_t kDigestSize = 32;
  static constexpr std::size_t kRootSize = 32;

  InstallationKeys(const SecureBytes& root_secret, std::vector<std::uint8_t> installation_id);

  // Where a subject's data keys live in gdpr.subject_key: a keyed hash of
  // the kind and the canonical id.
  Digest key_address(const char* kind, std::size_t kind_size, const char* id,
                     std::size_t id_size) const;
  // The subject hash of tombstones, requests, holds and the audit log.
  Digest subject_hash(const char* kind, std::size_t kind_size, const char* id,
                      std::size_t id_size) const;
  // Seals (authenticates) a key backup.
  Digest backup_seal(const std::uint8_t* data, std::size_t size) const;

  const std::vector<std::uint8_t>& installation_id() const noexcept { return id_; }

 private:
  std::vector<std::uint8_t> id_;
  SecureBytes address_key_;
  SecureBytes subject_hash_key_;
  SecureBytes backup_key_;
};

// HKDF-SHA256 (RFC 5869) of size bytes.
SecureBytes hkdf_sha256(const SecureBytes& input_key, const std::vector<std::uint8_t>& salt,
                        const std::string& label, std::size_t size);

Digest hmac_sha256(const SecureBytes& key, const std::uint8_t* data, std::size_t size);

// Compares two digests in constant time.
bool digests_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t size) noexcept;

}  // namespace gdpr

// The on-disk layout of a pg_gdpr ciphertext (format version 1):
//
//   byte 0       format version (1)
//   byte 1       payload type: 1 = text, 2 = bytea
//   bytes 2..9   data key id, big-endian
//   bytes 10..21 96-bit random nonce
//   ...          AES-256-GCM ciphertext, as long as the plaintext
//   last 16      GCM tag
//
// The first ten bytes and the caller's context form the associated data, so
// the version, type, key id and context are all authenticated.
#pragma once

#ifdef POSTGRES_H
#error "ciphertext_format.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>

namespace gdpr {

enum class PayloadType : std::uint8_t { kText = 1, kBytes = 2 };

struct CiphertextLayout {
  static constexpr std::uint8_t kVersion = 1;
  static constexpr std::size_t kHeaderSize = 10;
  static constexpr std::size_t kNonceSize = 12;
  static constexpr std::size_t kTagSize = 16;
  static constexpr std::size_t kOverhead = kHeaderSize + kNonceSize + kTagSize;
};

// A view into a ciphertext whose framing has been checked; nothing is
// authenticated yet.
struct CiphertextView {
  PayloadType type;
  std::uint64_t key_id;
  const std::uint8_t* header;
  const std::uint8_t* nonce;
  const std::uint8_t* body;
  std::size_t body_size;
  const std::uint8_t* tag;
};

// Throws GdprError (22P03) for anything that is not a version-1 ciphertext.
CiphertextView parse_ciphertext(const std::uint8_t* data, std::size_t size);

// Writes the ten header bytes; the caller fills in nonce, body and tag.
void write_ciphertext_header(std::uint8_t* out, PayloadType type, std::uint64_t key_id);


}  // namespace gdpr

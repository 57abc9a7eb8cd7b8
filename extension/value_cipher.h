// Sealing and opening one value: ties the ciphertext layout, the AAD (header
// plus caller context), the nonce pool and a data key together. Plain C++;
// the caller owns the output buffers, so PostgreSQL can allocate them.
#pragma once

#ifdef POSTGRES_H
#error "value_cipher.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <string>

#include "aes_gcm_key.h"
#include "ciphertext_format.h"
#include "nonce_pool.h"

namespace gdpr {

class ValueCipher {
 public:
  static std::size_t sealed_size(std::size_t plaintext_size) {
    return plaintext_size + CiphertextLayout::kOverhead;
  }

  // out must hold sealed_size(size) bytes.
  void seal(AesGcmKey& key, std::uint64_t key_id, PayloadType type, const char* context,
            std::size_t context_size, const std::uint8_t* plaintext, std::size_t size,
            std::uint8_t* out);

  // out must hold view.body_size bytes. Throws GdprError (22023) when the
  // value does not authenticate under this key and context.
  void open(AesGcmKey& key, const CiphertextView& view, const char* context,
            std::size_t context_size, std::uint8_t* out);

  NoncePool& nonces() noexcept { return nonces_; }

 private:
  // The header and the context, contiguous (the AAD); size is set to its length.
  const std::uint8_t* build_aad(const std::uint8_t* header, const char* context,
                                std::size_t context_size, std::size_t* size);

  static constexpr std::size_t kInlineAad = 256;
  NoncePool nonces_;
  std::uint8_t aad_inline_[kInlineAad];  // most contexts: no allocation, no string
  std::string aad_spill_;                // longer ones
};

}  // namespace gdpr

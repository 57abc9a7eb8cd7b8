// One AES-256-GCM key with ready OpenSSL contexts. The key schedule is set
// once; each value then costs only a new nonce, the AAD, the data and the tag
// (about a third of the cost of a fresh context per value).
#pragma once

#ifdef POSTGRES_H
#error "aes_gcm_key.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <memory>

#include "secure_bytes.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace gdpr {

class AesGcmKey {
 public:
  static constexpr std::size_t kKeySize = 32;
  static constexpr std::size_t kNonceSize = 12;
  static constexpr std::size_t kTagSize = 16;

  explicit AesGcmKey(const SecureBytes& key);
  ~AesGcmKey();
  AesGcmKey(const AesGcmKey&) = delete;
  AesGcmKey& operator=(const AesGcmKey&) = delete;

  // Encrypts len bytes of in into out (same length) and writes the tag.
  void seal(const std::uint8_t* nonce, const std::uint8_t* aad, std::size_t aad_len,
            const std::uint8_t* in, std::size_t len, std::uint8_t* out, std::uint8_t* tag);

  // Decrypts and authenticates; false when the tag does not match (wrong key,
  // wrong AAD or altered bytes). out holds garbage then and must be dropped.
  bool open(const std::uint8_t* nonce, const std::uint8_t* aad, std::size_t aad_len,
            const std::uint8_t* in, std::size_t len, std::uint8_t* out,
            const std::uint8_t* tag);

 private:
  struct CtxFree {
    void operator()(EVP_CIPHER_CTX* ctx) const noexcept;
  };
  using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

  EVP_CIPHER_CTX* encrypt_ctx();
  EVP_CIPHER_CTX* decrypt_ctx();

  SecureBytes key_;
  CtxPtr encrypt_;
  CtxPtr decrypt_;
};

}  // namespace gdpr

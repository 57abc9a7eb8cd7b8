// One AES-256-GCM key, ready to seal and open values. Two implementations
// produce the same bytes: Intel ipsec-mb (x86-64 with AES-NI; ~40 ns per
// short value), whose precomputed key state (~1 KB) lives inside this object
// so that using a key chases no pointer; and OpenSSL (everywhere; ~300 ns),
// with one ready context per direction. Which one new keys use is decided
// per process (preferred()); a key keeps the one it was made with.
#pragma once

#ifdef POSTGRES_H
#error "aes_gcm_key.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ipsec_mb_gcm.h"
#include "secure_bytes.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace gdpr {

enum class CipherImplementation : std::uint8_t { kNone = 0, kOpenSsl = 1, kIpsecMb = 2 };

class alignas(ipsec_mb::kKeyStateAlign) AesGcmKey {
 public:
  static constexpr std::size_t kKeySize = 32;
  static constexpr std::size_t kNonceSize = 12;
  static constexpr std::size_t kTagSize = 16;

  // ipsec-mb where it is built in and the processor supports it, unless
  // OpenSSL is forced; OpenSSL otherwise.
  static CipherImplementation preferred() noexcept;
  // pg_gdpr.cipher_implementation = openssl; applies to keys made afterwards.
  static void force_openssl(bool force) noexcept;
  // What preferred() uses and why, e.g. "ipsec-mb 1.3.0 (avx2)" or
  // "OpenSSL 3.0.11 (forced)".
  static std::string describe_preferred();

  // No key: the state of a cache entry whose key was shredded. Sealing or
  // opening with it is an internal error.
  AesGcmKey() noexcept = default;
  explicit AesGcmKey(const SecureBytes& key) : AesGcmKey(key, preferred()) {}
  AesGcmKey(const SecureBytes& key, CipherImplementation implementation);
  // Wipes the key material (OpenSSL frees its contexts with it wiped).
  ~AesGcmKey();
  AesGcmKey(const AesGcmKey&) = delete;
  AesGcmKey& operator=(const AesGcmKey&) = delete;
  // Moves the state and wipes the source, which is left without a key.
  AesGcmKey(AesGcmKey&& other) noexcept;
  AesGcmKey& operator=(AesGcmKey&& other) noexcept;

  CipherImplementation implementation() const noexcept { return implementation_; }

  // Encrypts len bytes of in into out (same length) and writes the tag.
  void seal(const std::uint8_t* nonce, const std::uint8_t* aad, std::size_t aad_len,
            const std::uint8_t* in, std::size_t len, std::uint8_t* out, std::uint8_t* tag);

  // Decrypts and authenticates; false when the tag does not match (wrong key,
  // wrong AAD or altered bytes). out must be dropped then.
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
  void seal_openssl(const std::uint8_t* nonce, const std::uint8_t* aad, std::size_t aad_len,
                    const std::uint8_t* in, std::size_t len, std::uint8_t* out,
                    std::uint8_t* tag);
  bool open_openssl(const std::uint8_t* nonce, const std::uint8_t* aad, std::size_t aad_len,
                    const std::uint8_t* in, std::size_t len, std::uint8_t* out,
                    const std::uint8_t* tag);
  void take(AesGcmKey& other) noexcept;
  void wipe() noexcept;

  // First cache line: what every call reads before the key state.
  CipherImplementation implementation_ = CipherImplementation::kNone;
  SecureBytes openssl_key_;  // OpenSSL only: contexts are made on first use
  CtxPtr encrypt_;
  CtxPtr decrypt_;
#ifdef PG_GDPR_WITH_IPSEC_MB
  // ipsec-mb only: round keys and GHASH powers, from the second line on.
  alignas(ipsec_mb::kKeyStateAlign) std::uint8_t ipsec_state_[ipsec_mb::kKeyStateSize];
#endif
};

}  // namespace gdpr

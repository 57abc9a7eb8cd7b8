#include "aes_gcm_key.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>
#include <cstring>
#include <string>

#include "gdpr_error.h"

namespace gdpr {
namespace {

// Fetched once per process: an explicitly fetched cipher skips the provider
// lookup that the EVP_aes_256_gcm() shortcut repeats on every init.
const EVP_CIPHER* gcm_cipher() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher == nullptr) {
    throw GdprError(sqlstate::kInternalError, "OpenSSL does not provide AES-256-GCM",
                    {}, "Check the OpenSSL installation and its provider configuration.");
  }
  return cipher;
}

[[noreturn]] void openssl_failure(const char* what) {
  unsigned long code = ERR_get_error();
  char reason[256] = "no OpenSSL error queued";
  if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
  ERR_clear_error();
  throw GdprError(sqlstate::kInternalError, std::string("OpenSSL ") + what + " failed",
                  reason);
}

[[noreturn]] void no_key() {
  throw GdprError(sqlstate::kInternalError, "AES-256-GCM key used after it was dropped");
}

int checked_int(std::size_t len) {
  if (len > static_cast<std::size_t>(INT_MAX)) {
    throw GdprError(sqlstate::kInvalidParameterValue, "value is too large to encrypt",
                    "At most 2 GB can be encrypted as one value.");
  }
  return static_cast<int>(len);
}

// pg_gdpr.cipher_implementation = openssl; plain data, set from a GUC hook.
bool g_force_openssl = false;

}  // namespace

void AesGcmKey::CtxFree::operator()(EVP_CIPHER_CTX* ctx) const noexcept {
  EVP_CIPHER_CTX_free(ctx);
}

CipherImplementation AesGcmKey::preferred() noexcept {
  return !g_force_openssl && ipsec_mb::available() ? CipherImplementation::kIpsecMb
                                                   : CipherImplementation::kOpenSsl;
}

void AesGcmKey::force_openssl(bool force) noexcept { g_force_openssl = force; }

std::string AesGcmKey::describe_preferred() {
  if (preferred() == CipherImplementation::kIpsecMb) return ipsec_mb::description();
  std::string text = std::string("OpenSSL ") + OpenSSL_version(OPENSSL_VERSION_STRING);
  if (g_force_openssl) return text + " (forced by pg_gdpr.cipher_implementation)";
  return text + " (" + ipsec_mb::description() + ")";
}

AesGcmKey::AesGcmKey(const SecureBytes& key, CipherImplementation implementation) {
  if (key.size() != kKeySize) {
    throw GdprError(sqlstate::kInternalError, "AES-256-GCM key must be 32 bytes");
  }
#ifdef PG_GDPR_WITH_IPSEC_MB
  if (implementation == CipherImplementation::kIpsecMb) {
    if (!ipsec_mb::available()) {
      throw GdprError(sqlstate::kInternalError, "ipsec-mb cannot be used on this machine",
                      ipsec_mb::description());
    }
    ipsec_mb::precompute(key.data(), ipsec_state_);
    implementation_ = implementation;
    return;
  }
#endif
  if (implementation != CipherImplementation::kOpenSsl) {
    throw GdprError(sqlstate::kInternalError, "this build of pg_gdpr has no ipsec-mb",
                    ipsec_mb::description());
  }
  openssl_key_ = key;
  implementation_ = implementation;
}

AesGcmKey::~AesGcmKey() { wipe(); }

AesGcmKey::AesGcmKey(AesGcmKey&& other) noexcept { take(other); }

AesGcmKey& AesGcmKey::operator=(AesGcmKey&& other) noexcept {
  if (this != &other) {
    wipe();
    take(other);
  }
  return *this;
}

void AesGcmKey::take(AesGcmKey& other) noexcept {
  implementation_ = other.implementation_;
  openssl_key_ = std::move(other.openssl_key_);
  encrypt_ = std::move(other.encrypt_);
  decrypt_ = std::move(other.decrypt_);
#ifdef PG_GDPR_WITH_IPSEC_MB
  if (implementation_ == CipherImplementation::kIpsecMb) {
    std::memcpy(ipsec_state_, other.ipsec_state_, sizeof ipsec_state_);
  }
#endif
  other.wipe();
}

void AesGcmKey::wipe() noexcept {
#ifdef PG_GDPR_WITH_IPSEC_MB
  if (implementation_ == CipherImplementation::kIpsecMb) {
    OPENSSL_cleanse(ipsec_state_, sizeof ipsec_state_);
  }
#endif
  encrypt_.reset();
  decrypt_.reset();
  openssl_key_ = SecureBytes();  // the old bytes are cleansed
  implementation_ = CipherImplementation::kNone;
}

EVP_CIPHER_CTX* AesGcmKey::encrypt_ctx() {
  if (!encrypt_) {
    CtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) openssl_failure("cipher context allocation");
    if (EVP_EncryptInit_ex2(ctx.get(), gcm_cipher(), openssl_key_.data(), nullptr, nullptr) != 1)
      openssl_failure("encryption key setup");
    encrypt_ = std::move(ctx);
  }
  return encrypt_.get();
}

EVP_CIPHER_CTX* AesGcmKey::decrypt_ctx() {
  if (!decrypt_) {
    CtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) openssl_failure("cipher context allocation");
    if (EVP_DecryptInit_ex2(ctx.get(), gcm_cipher(), openssl_key_.data(), nullptr, nullptr) != 1)
      openssl_failure("decryption key setup");
    decrypt_ = std::move(ctx);
  }
  return decrypt_.get();
}

void AesGcmKey::seal(const std::uint8_t* nonce, const std::uint8_t* aad, std::size_t aad_len,
                     const std::uint8_t* in, std::size_t len, std::uint8_t* out,
                     std::uint8_t* tag) {
#ifdef PG_GDPR_WITH_IPSEC_MB
  if (implementation_ == CipherImplementation::kIpsecMb) {
    ipsec_mb::seal(ipsec_state_, nonce, aad, aad_len, in, len, out, tag);
    return;
  }
#endif
  if (implementation_ != CipherImplementation::kOpenSsl) no_key();
  seal_openssl(nonce, aad, aad_len, in, len, out, tag);
}

bool AesGcmKey::open(const std::uint8_t* nonce, const std::uint8_t* aad, std::size_t aad_len,
                     const std::uint8_t* in, std::size_t len, std::uint8_t* out,
                     const std::uint8_t* tag) {
#ifdef PG_GDPR_WITH_IPSEC_MB
  if (implementation_ == CipherImplementation::kIpsecMb) {
    return ipsec_mb::open(ipsec_state_, nonce, aad, aad_len, in, len, out, tag);
  }
#endif
  if (implementation_ != CipherImplementation::kOpenSsl) no_key();
  return open_openssl(nonce, aad, aad_len, in, len, out, tag);
}

void AesGcmKey::seal_openssl(const std::uint8_t* nonce, const std::uint8_t* aad,
                             std::size_t aad_len, const std::uint8_t* in, std::size_t len,
                             std::uint8_t* out, std::uint8_t* tag) {
  EVP_CIPHER_CTX* ctx = encrypt_ctx();
  int n = 0;
  const int aad_n = checked_int(aad_len);
  const int in_n = checked_int(len);
  if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce, nullptr) != 1)
    openssl_failure("nonce setup");
  if (aad_n > 0 && EVP_EncryptUpdate(ctx, nullptr, &n, aad, aad_n) != 1)
    openssl_failure("associated data");
  int written = 0;
  if (in_n > 0) {
    if (EVP_EncryptUpdate(ctx, out, &n, in, in_n) != 1) openssl_failure("encryption");
    written = n;
  }
  if (EVP_EncryptFinal_ex(ctx, out + written, &n) != 1) openssl_failure("encryption final");
  // Parameters directly: EVP_CIPHER_CTX_ctrl would translate to them first.
  OSSL_PARAM params[2] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, kTagSize),
      OSSL_PARAM_construct_end()};
  if (EVP_CIPHER_CTX_get_params(ctx, params) != 1) openssl_failure("tag");
}

bool AesGcmKey::open_openssl(const std::uint8_t* nonce, const std::uint8_t* aad,
                             std::size_t aad_len, const std::uint8_t* in, std::size_t len,
                             std::uint8_t* out, const std::uint8_t* tag) {
  EVP_CIPHER_CTX* ctx = decrypt_ctx();
  int n = 0;
  const int aad_n = checked_int(aad_len);
  const int in_n = checked_int(len);
  if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce, nullptr) != 1)
    openssl_failure("nonce setup");
  if (aad_n > 0 && EVP_DecryptUpdate(ctx, nullptr, &n, aad, aad_n) != 1)
    openssl_failure("associated data");
  int written = 0;
  if (in_n > 0) {
    if (EVP_DecryptUpdate(ctx, out, &n, in, in_n) != 1) openssl_failure("decryption");
    written = n;
  }
  // OpenSSL takes the expected tag through a non-const pointer but only reads it.
  OSSL_PARAM params[2] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                        const_cast<std::uint8_t*>(tag), kTagSize),
      OSSL_PARAM_construct_end()};
  if (EVP_CIPHER_CTX_set_params(ctx, params) != 1) openssl_failure("tag");
  const bool authentic = EVP_DecryptFinal_ex(ctx, out + written, &n) == 1;
  if (!authentic) {
    ERR_clear_error();
    if (len > 0) OPENSSL_cleanse(out, len);  // as ipsec-mb's open does
  }
  return authentic;
}

}  // namespace gdpr

#include "aes_gcm_key.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>
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

int checked_int(std::size_t len) {
  if (len > static_cast<std::size_t>(INT_MAX)) {
    throw GdprError(sqlstate::kInvalidParameterValue, "value is too large to encrypt",
                    "At most 2 GB can be encrypted as one value.");
  }
  return static_cast<int>(len);
}

}  // namespace

void AesGcmKey::CtxFree::operator()(EVP_CIPHER_CTX* ctx) const noexcept {
  EVP_CIPHER_CTX_free(ctx);
}

AesGcmKey::AesGcmKey(const SecureBytes& key) : key_(key) {
  if (key_.size() != kKeySize) {
    throw GdprError(sqlstate::kInternalError, "AES-256-GCM key must be 32 bytes");
  }
}

AesGcmKey::~AesGcmKey() = default;

EVP_CIPHER_CTX* AesGcmKey::encrypt_ctx() {
  if (!encrypt_) {
    CtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) openssl_failure("cipher context allocation");
    if (EVP_EncryptInit_ex2(ctx.get(), gcm_cipher(), key_.data(), nullptr, nullptr) != 1)
      openssl_failure("encryption key setup");
    encrypt_ = std::move(ctx);
  }
  return encrypt_.get();
}

EVP_CIPHER_CTX* AesGcmKey::decrypt_ctx() {
  if (!decrypt_) {
    CtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) openssl_failure("cipher context allocation");
    if (EVP_DecryptInit_ex2(ctx.get(), gcm_cipher(), key_.data(), nullptr, nullptr) != 1)
      openssl_failure("decryption key setup");
    decrypt_ = std::move(ctx);
  }
  return decrypt_.get();
}

void AesGcmKey::seal(const std::uint8_t* nonce, const std::uint8_t* aad, std::size_t aad_len,
                     const std::uint8_t* in, std::size_t len, std::uint8_t* out,
                     std::uint8_t* tag) {
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

bool AesGcmKey::open(const std::uint8_t* nonce, const std::uint8_t* aad, std::size_t aad_len,
                     const std::uint8_t* in, std::size_t len, std::uint8_t* out,
                     const std::uint8_t* tag) {
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
  if (!authentic) ERR_clear_error();
  return authentic;
}

}  // namespace gdpr

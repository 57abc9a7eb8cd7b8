#include "installation_keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include <memory>

#include "gdpr_error.h"

namespace gdpr {
namespace {

constexpr char kAddressLabel[] = "pg_gdpr key table address v1";
constexpr char kSubjectHashLabel[] = "pg_gdpr subject hash v1";
constexpr char kBackupLabel[] = "pg_gdpr key backup seal v1";

struct KdfFree {
  void operator()(EVP_KDF* kdf) const noexcept { EVP_KDF_free(kdf); }
  void operator()(EVP_KDF_CTX* ctx) const noexcept { EVP_KDF_CTX_free(ctx); }
};

// kind, a NUL byte, the id: no two (kind, id) pairs give the same message.
Digest keyed_subject(const SecureBytes& key, const char* kind, std::size_t kind_size,
                     const char* id, std::size_t id_size) {
  std::vector<std::uint8_t> message;
  message.reserve(kind_size + 1 + id_size);
  message.insert(message.end(), kind, kind + kind_size);
  message.push_back(0);
  message.insert(message.end(), id, id + id_size);
  return hmac_sha256(key, message.data(), message.size());
}

}  // namespace

SecureBytes hkdf_sha256(const SecureBytes& input_key, const std::vector<std::uint8_t>& salt,
                        const std::string& label, std::size_t size) {
  std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  std::unique_ptr<EVP_KDF_CTX, KdfFree> ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!ctx) throw GdprError(sqlstate::kInternalError, "OpenSSL has no HKDF");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                        const_cast<std::uint8_t*>(input_key.data()),
                                        input_key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                        const_cast<std::uint8_t*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(label.data()),
                                        label.size()),
      OSSL_PARAM_construct_end()};
  SecureBytes out(size);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    throw GdprError(sqlstate::kInternalError, "OpenSSL HKDF failed");
  }
  return out;
}

Digest hmac_sha256(const SecureBytes& key, const std::uint8_t* data, std::size_t size) {
  Digest out(InstallationKeys::kDigestSize);
  unsigned int written = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data, size, out.data(),
           &written) == nullptr ||
      written != out.size()) {
    throw GdprError(sqlstate::kInternalError, "OpenSSL HMAC-SHA256 failed");
  }
  return out;
}

bool digests_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t size) noexcept {
  return CRYPTO_memcmp(a, b, size) == 0;
}

InstallationKeys::InstallationKeys(const SecureBytes& root_secret,
                                   std::vector<std::uint8_t> installation_id)
    : id_(std::move(installation_id)),
      address_key_(hkdf_sha256(root_secret, id_, kAddressLabel, kDigestSize)),
      subject_hash_key_(hkdf_sha256(root_secret, id_, kSubjectHashLabel, kDigestSize)),
      backup_key_(hkdf_sha256(root_secret, id_, kBackupLabel, kDigestSize)) {
  if (id_.size() != kIdSize || root_secret.size() != kRootSize) {
    throw GdprError(sqlstate::kInternalError, "malformed installation id in gdpr.installation");
  }
}

Digest InstallationKeys::key_address(const char* kind, std::size_t kind_size, const char* id,
                                     std::size_t id_size) const {
  return keyed_subject(address_key_, kind, kind_size, id, id_size);
}

Digest InstallationKeys::subject_hash(const char* kind, std::size_t kind_size, const char* id,
                                      std::size_t id_size) const {
  return keyed_subject(subject_hash_key_, kind, kind_size, id, id_size);
}

Digest InstallationKeys::backup_seal(const std::uint8_t* data, std::size_t size) const {
  return hmac_sha256(backup_key_, data, size);
}

}  // namespace gdpr

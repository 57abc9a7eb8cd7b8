#include "data_key_wrap.h"

#include <openssl/rand.h>

#include <string>

#include "aes_gcm_key.h"
#include "gdpr_error.h"

namespace gdpr {
namespace {

constexpr char kLabel[] = "pg_gdpr data key v1";

std::vector<std::uint8_t> binding(std::uint64_t key_id) {
  std::vector<std::uint8_t> aad(kLabel, kLabel + sizeof kLabel - 1);
  for (int shift = 56; shift >= 0; shift -= 8) {
    aad.push_back(static_cast<std::uint8_t>((key_id >> shift) & 0xff));
  }
  return aad;
}

}  // namespace

SecureBytes DataKeyWrap::generate_data_key() {
  SecureBytes key(AesGcmKey::kKeySize);
  if (RAND_priv_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    throw GdprError(sqlstate::kInternalError, "OpenSSL could not generate a data key", {},
                    "Check that the operating system's random source is available.");
  }
  return key;
}

std::vector<std::uint8_t> DataKeyWrap::wrap(const SecureBytes& master_key,
                                            std::uint64_t key_id,
                                            const SecureBytes& data_key) {
  std::vector<std::uint8_t> out(kWrappedSize);
  if (RAND_bytes(out.data(), AesGcmKey::kNonceSize) != 1) {
    throw GdprError(sqlstate::kInternalError, "OpenSSL could not generate a nonce");
  }
  AesGcmKey kek(master_key);
  auto aad = binding(key_id);
  kek.seal(out.data(), aad.data(), aad.size(), data_key.data(), data_key.size(),
           out.data() + AesGcmKey::kNonceSize,
           out.data() + AesGcmKey::kNonceSize + AesGcmKey::kKeySize);
  return out;
}

SecureBytes DataKeyWrap::unwrap(const SecureBytes& master_key, std::uint32_t master_version,
                                std::uint64_t key_id, const std::uint8_t* wrapped,
                                std::size_t size) {
  if (size != kWrappedSize) {
    throw GdprError(sqlstate::kInvalidBinaryRepresentation,
                    "wrapped data key " + std::to_string(key_id) + " has " +
                        std::to_string(size) + " bytes, expected " +
                        std::to_string(kWrappedSize),
                    {}, "The key table gdpr.subject_key must not be edited by hand.");
  }
  AesGcmKey kek(master_key);
  auto aad = binding(key_id);
  SecureBytes key(AesGcmKey::kKeySize);
  if (!kek.open(wrapped, aad.data(), aad.size(), wrapped + AesGcmKey::kNonceSize,
                AesGcmKey::kKeySize, key.data(),
                wrapped + AesGcmKey::kNonceSize + AesGcmKey::kKeySize)) {
    throw GdprError(sqlstate::kConfigFileError,
                    "master key version " + std::to_string(master_version) +
                        " does not unwrap data key " + std::to_string(key_id),
                    "The configured master key differs from the one that wrapped this data "
                    "key, or the wrapped key was altered.",
                    "Check that pg_gdpr.master_key_file or pg_gdpr.master_key_command "
                    "provides the original key of that version.");
  }
  return key;
}

}  // namespace gdpr

#include "data_key_wrap.h"

#include <openssl/rand.h>

#include <string>

#include "aes_gcm_key.h"
#include "gdpr_error.h"

namespace gdpr {
namespace {

constexpr char kLabel[] = "pg_gdpr data key v2";

void append_sized(std::vector<std::uint8_t>& out, const std::uint8_t* data, std::size_t size) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>((size >> shift) & 0xff));
  }
  out.insert(out.end(), data, data + size);
}

// Label, key id, then each variable part with its length: no two bindings
// give the same bytes.
std::vector<std::uint8_t> associated_data(const KeyBinding& binding) {
  std::vector<std::uint8_t> aad(kLabel, kLabel + sizeof kLabel - 1);
  for (int shift = 56; shift >= 0; shift -= 8) {
    aad.push_back(static_cast<std::uint8_t>((binding.key_id >> shift) & 0xff));
  }
  append_sized(aad, reinterpret_cast<const std::uint8_t*>(binding.key_class.data()),
               binding.key_class.size());
  append_sized(aad, binding.subject_address.data(), binding.subject_address.size());
  append_sized(aad, binding.installation_id.data(), binding.installation_id.size());
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
                                            const KeyBinding& binding,
                                            const SecureBytes& data_key) {
  std::vector<std::uint8_t> out(kWrappedSize);
  if (RAND_bytes(out.data(), AesGcmKey::kNonceSize) != 1) {
    throw GdprError(sqlstate::kInternalError, "OpenSSL could not generate a nonce");
  }
  AesGcmKey kek(master_key);
  auto aad = associated_data(binding);
  kek.seal(out.data(), aad.data(), aad.size(), data_key.data(), data_key.size(),
           out.data() + AesGcmKey::kNonceSize,
           out.data() + AesGcmKey::kNonceSize + AesGcmKey::kKeySize);
  return out;
}

SecureBytes DataKeyWrap::unwrap(const SecureBytes& master_key, std::uint32_t master_version,
                                const KeyBinding& binding, const std::uint8_t* wrapped,
                                std::size_t size) {
  const std::uint64_t key_id = binding.key_id;
  // key id 0 is the installation's root secret (key_store.cpp)
  const std::string what = key_id == 0 ? "the installation root secret" : "data key " + std::to_string(key_id);
  if (size != kWrappedSize) {
    throw GdprError(sqlstate::kInvalidBinaryRepresentation,
                    "wrapped " + what + " has " +
                        std::to_string(size) + " bytes, expected " +
                        std::to_string(kWrappedSize),
                    {}, "The key table gdpr.subject_key must not be edited by hand.");
  }
  AesGcmKey kek(master_key);
  auto aad = associated_data(binding);
  SecureBytes key(AesGcmKey::kKeySize);
  if (!kek.open(wrapped, aad.data(), aad.size(), wrapped + AesGcmKey::kNonceSize,
                AesGcmKey::kKeySize, key.data(),
                wrapped + AesGcmKey::kNonceSize + AesGcmKey::kKeySize)) {
    throw GdprError(sqlstate::kConfigFileError,
                    "master key version " + std::to_string(master_version) +
                        " does not unwrap " + what,
                    "The configured master key differs from the one that wrapped this data "
                    "key, or the key row was altered, swapped with another row or copied "
                    "from another row or database: a wrapped key is bound to its key id, key "
                    "class, subject and installation.",
                    "Check that pg_gdpr.master_key_file or pg_gdpr.master_key_command "
                    "provides the original key of that version; restore key rows only with "
                    "gdpr_restore_key_backup().");
  }
  return key;
}

}  // namespace gdpr

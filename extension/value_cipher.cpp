#include "value_cipher.h"

#include "gdpr_error.h"

namespace gdpr {

const std::uint8_t* ValueCipher::build_aad(const std::uint8_t* header, const char* context,
                                           std::size_t context_size) {
  aad_.assign(reinterpret_cast<const char*>(header), CiphertextLayout::kHeaderSize);
  aad_.append(context, context_size);
  return reinterpret_cast<const std::uint8_t*>(aad_.data());
}

void ValueCipher::seal(AesGcmKey& key, std::uint64_t key_id, PayloadType type,
                       const char* context, std::size_t context_size,
                       const std::uint8_t* plaintext, std::size_t size, std::uint8_t* out) {
  write_ciphertext_header(out, type, key_id);
  std::uint8_t* nonce = out + CiphertextLayout::kHeaderSize;
  nonces_.next(nonce);
  std::uint8_t* body = nonce + CiphertextLayout::kNonceSize;
  const std::uint8_t* aad = build_aad(out, context, context_size);
  key.seal(nonce, aad, aad_.size(), plaintext, size, body, body + size);
}

void ValueCipher::open(AesGcmKey& key, const CiphertextView& view, const char* context,
                       std::size_t context_size, std::uint8_t* out) {
  const std::uint8_t* aad = build_aad(view.header, context, context_size);
  if (!key.open(view.nonce, aad, aad_.size(), view.body, view.body_size, out, view.tag)) {
    throw GdprError(sqlstate::kInvalidParameterValue,
                    "ciphertext does not authenticate under context \"" +
                        std::string(context, context_size) + "\"",
                    "Either the context differs from the one given to gdpr_encrypt(), or "
                    "the ciphertext was altered.",
                    "Pass the same context that was used to encrypt the value.");
  }
}

}  // namespace gdpr

#include "value_cipher.h"

#include <cstring>

#include "gdpr_error.h"

namespace gdpr {

const std::uint8_t* ValueCipher::build_aad(const std::uint8_t* header, const char* context,
                                           std::size_t context_size, std::size_t* size) {
  *size = CiphertextLayout::kHeaderSize + context_size;
  std::uint8_t* aad = aad_inline_;
  if (*size > kInlineAad) {
    aad_spill_.resize(*size);
    aad = reinterpret_cast<std::uint8_t*>(&aad_spill_[0]);
  }
  std::memcpy(aad, header, CiphertextLayout::kHeaderSize);
  if (context_size > 0) std::memcpy(aad + CiphertextLayout::kHeaderSize, context, context_size);
  return aad;
}

void ValueCipher::seal(AesGcmKey& key, std::uint64_t key_id, PayloadType type,
                       const char* context, std::size_t context_size,
                       const std::uint8_t* plaintext, std::size_t size, std::uint8_t* out) {
  write_ciphertext_header(out, type, key_id);
  std::uint8_t* nonce = out + CiphertextLayout::kHeaderSize;
  nonces_.next(nonce);
  std::uint8_t* body = nonce + CiphertextLayout::kNonceSize;
  std::size_t aad_size;
  const std::uint8_t* aad = build_aad(out, context, context_size, &aad_size);
  key.seal(nonce, aad, aad_size, plaintext, size, body, body + size);
}

void ValueCipher::open(AesGcmKey& key, const CiphertextView& view, const char* context,
                       std::size_t context_size, std::uint8_t* out) {
  std::size_t aad_size;
  const std::uint8_t* aad = build_aad(view.header, context, context_size, &aad_size);
  if (!key.open(view.nonce, aad, aad_size, view.body, view.body_size, out, view.tag)) {
    throw GdprError(sqlstate::kInvalidParameterValue,
                    "ciphertext does not authenticate under context \"" +
                        std::string(context, context_size) + "\"",
                    "Either the context differs from the one given to gdpr_encrypt(), or "
                    "the ciphertext was altered.",
                    "Pass the same context that was used to encrypt the value.");
  }
}

}  // namespace gdpr

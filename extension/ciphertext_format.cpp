#include "ciphertext_format.h"

#include <string>

#include "gdpr_error.h"

namespace gdpr {

namespace {
constexpr const char* kFormatHint =
    "The value must be a ciphertext produced by gdpr_encrypt(), stored unchanged.";
}

CiphertextView parse_ciphertext(const std::uint8_t* data, std::size_t size) {
  if (size < CiphertextLayout::kOverhead) {
    throw GdprError(sqlstate::kInvalidBinaryRepresentation,
                    "ciphertext is truncated",
                    "A pg_gdpr ciphertext has at least " +
                        std::to_string(CiphertextLayout::kOverhead) + " bytes; this one has " +
                        std::to_string(size) + ".",
                    kFormatHint);
  }
  if (data[0] != CiphertextLayout::kVersion) {
    throw GdprError(sqlstate::kInvalidBinaryRepresentation,
                    "unsupported ciphertext format version " + std::to_string(data[0]),
                    "This version of pg_gdpr reads format version " +
                        std::to_string(CiphertextLayout::kVersion) + ".",
                    kFormatHint);
  }
  if (data[1] != static_cast<std::uint8_t>(PayloadType::kText) &&
      data[1] != static_cast<std::uint8_t>(PayloadType::kBytes)) {
    throw GdprError(sqlstate::kInvalidBinaryRepresentation,
                    "unknown ciphertext payload type " + std::to_string(data[1]), {},
                    kFormatHint);
  }
  std::uint64_t key_id = 0;
  for (std::size_t i = 2; i < 10; ++i) key_id = (key_id << 8) | data[i];

  CiphertextView view;
  view.type = static_cast<PayloadType>(data[1]);
  view.key_id = key_id;
  view.header = data;
  view.nonce = data + CiphertextLayout::kHeaderSize;
  view.body = view.nonce + CiphertextLayout::kNonceSize;
  view.body_size = size - CiphertextLayout::kOverhead;
  view.tag = data + size - CiphertextLayout::kTagSize;
  return view;
}

void write_ciphertext_header(std::uint8_t* out, PayloadType type, std::uint64_t key_id) {
  out[0] = CiphertextLayout::kVersion;
  out[1] = static_cast<std::uint8_t>(type);
  for (int i = 9; i >= 2; --i) {
    out[i] = static_cast<std::uint8_t>(key_id & 0xff);
    key_id >>= 8;
  }
}

}  // namespace gdpr

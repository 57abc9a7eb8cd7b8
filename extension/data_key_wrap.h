// Data keys (DEKs) are stored only wrapped by a master key: AES-256-GCM with
// a fresh nonce, bound to the key's id as associated data so a wrapped key
// copied onto another key row does not unwrap.
#pragma once

#ifdef POSTGRES_H
#error "data_key_wrap.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <vector>

#include "secure_bytes.h"

namespace gdpr {

struct DataKeyWrap {
  static constexpr std::size_t kWrappedSize = 12 + 32 + 16;

  static SecureBytes generate_data_key();

  static std::vector<std::uint8_t> wrap(const SecureBytes& master_key, std::uint64_t key_id,
                                        const SecureBytes& data_key);

  // Throws GdprError (F0000) when the master key is not the one that wrapped
  // this key, or the wrapped bytes were altered.
  static SecureBytes unwrap(const SecureBytes& master_key, std::uint32_t master_version,
                            std::uint64_t key_id, const std::uint8_t* wrapped,
                            std::size_t size);
};

}  // namespace gdpr

// Data keys (DEKs) are stored only wrapped by a master key: AES-256-GCM with
// a fresh nonce, bound as associated data to the key's id, its key class,
// the subject's address in the key table and the installation, so a wrapped
// key swapped or copied onto another key row, or into another database,
// does not unwrap.
#pragma once

#ifdef POSTGRES_H
#error "data_key_wrap.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "secure_bytes.h"

namespace gdpr {

// What a wrapped key is bound to: the columns of its row in
// gdpr.subject_key, and the installation the row belongs to.
struct KeyBinding {
  std::uint64_t key_id = 0;
  std::string key_class;
  std::vector<std::uint8_t> subject_address;
  std::vector<std::uint8_t> installation_id;
};

struct DataKeyWrap {
  static constexpr std::size_t kWrappedSize = 12 + 32 + 16;

  static SecureBytes generate_data_key();

  static std::vector<std::uint8_t> wrap(const SecureBytes& master_key,
                                        const KeyBinding& binding,
                                        const SecureBytes& data_key);

  // Throws GdprError (F0000) when the master key is not the one that wrapped
  // this key, or the wrapped bytes were altered, or the key was wrapped for
  // another row or installation.
  static SecureBytes unwrap(const SecureBytes& master_key, std::uint32_t master_version,
                            const KeyBinding& binding, const std::uint8_t* wrapped,
                            std::size_t size);
};

}  // namespace gdpr

// A bounded, least-recently-used cache of unwrapped data keys with their
// ready cipher contexts, per backend. Decrypting a million values of a
// thousand subjects then unwraps a thousand keys, not a million. Shredded
// keys are cached too (as "shredded"), so reading erased data stays cheap.
#pragma once

#ifdef POSTGRES_H
#error "key_cache.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "aes_gcm_key.h"

namespace gdpr {

struct CachedKey {
  std::uint64_t key_id = 0;
  std::string subject;              // KeyCache::subject_key() of the owner
  std::unique_ptr<AesGcmKey> key;   // null once the key is shredded
  bool shredded() const noexcept { return key == nullptr; }
};

class KeyCache {
 public:
  explicit KeyCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  static std::string subject_key(const std::string& kind, const std::string& subject_id,
                                 const std::string& key_class);

  // Both return null on a miss; a hit becomes the most recently used.
  CachedKey* find(std::uint64_t key_id);
  CachedKey* find_subject(const std::string& subject);

  CachedKey& insert(std::uint64_t key_id, std::string subject,
                    std::unique_ptr<AesGcmKey> key);
  void erase(std::uint64_t key_id);
  void clear();
  void set_capacity(std::size_t capacity);

  std::size_t size() const noexcept { return by_id_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  using Entries = std::list<CachedKey>;
  void evict_to(std::size_t limit);

  std::size_t capacity_;
  Entries entries_;  // most recently used first
  std::unordered_map<std::uint64_t, Entries::iterator> by_id_;
  std::unordered_map<std::string, Entries::iterator> by_subject_;
  CachedKey* last_ = nullptr;  // skips the hash lookup for runs of one subject
};

}  // namespace gdpr

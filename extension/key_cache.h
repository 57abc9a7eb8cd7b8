// A bounded cache of unwrapped data keys with their ready cipher contexts,
// per backend. Decrypting a million values of a thousand subjects then
// unwraps a thousand keys, not a million. Shredded keys are cached too (as
// "shredded"), so reading erased data stays cheap.
//
// This is on the per-row path, so it avoids pointer chasing: two flat
// open-addressing tables (by key id, by a 64-bit hash of the subject) whose
// slots point straight at an entry, an entry that holds its key's whole
// cipher state (no further pointer: see CachedKey), and a use stamp per
// entry instead of a linked LRU list. When full, the least recently used
// quarter is evicted at once, which keeps eviction amortised O(1) per
// insert. An evicted or cleared entry's key material is wiped.
#pragma once

#ifdef POSTGRES_H
#error "key_cache.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aes_gcm_key.h"

namespace gdpr {

// The key of a cache entry: its own cipher state, or null once the key is
// shredded. Owns nothing; the entry holds the state.
class KeyRef {
 public:
  AesGcmKey* get() const noexcept { return key_; }
  AesGcmKey* operator->() const noexcept { return key_; }
  explicit operator bool() const noexcept { return key_ != nullptr; }

 private:
  friend class KeyCache;
  AesGcmKey* key_ = nullptr;
};

// One cached key. A lookup reads the first cache line only (id, use stamp,
// subject, the key reference); the cipher state follows in the same block
// of memory, from the second line on (AesGcmKey is cache-line aligned).
struct alignas(64) CachedKey {
  std::uint64_t key_id = 0;
  std::uint64_t last_used = 0;
  std::uint64_t subject_hash = 0;
  KeyRef key;           // &cipher, or null once the key is shredded
  std::string subject;  // KeyCache::subject_key() of the owner
  AesGcmKey cipher;

  bool shredded() const noexcept { return !key; }
};

class KeyCache {
 public:
  explicit KeyCache(std::size_t capacity);
  ~KeyCache();
  KeyCache(const KeyCache&) = delete;
  KeyCache& operator=(const KeyCache&) = delete;

  static std::string subject_key(const std::string& kind, const std::string& subject_id,
                                 const std::string& key_class);

  // Both return null on a miss.
  CachedKey* find(std::uint64_t key_id);
  CachedKey* find_subject(const std::string& subject);

  // Takes the key's state into the entry (key null: a shredded key).
  CachedKey& insert(std::uint64_t key_id, std::string subject,
                    std::unique_ptr<AesGcmKey> key);
  void erase(std::uint64_t key_id);
  void clear() noexcept;
  void set_capacity(std::size_t capacity);

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  // Linear probing from home(); a slot without a value is empty, so every
  // 64-bit key is usable; removal shifts followers back so no tombstones
  // exist. Keys: the key id itself, or the subject's hash.
  class FlatMap {
   public:
    void reset(std::size_t min_slots);
    CachedKey* get(std::uint64_t key) const noexcept;
    void put(std::uint64_t key, CachedKey* value);
    void remove(std::uint64_t key) noexcept;
    void clear() noexcept;
    template <typename Fn>
    void for_each(Fn&& fn) const {
      for (const auto& slot : slots_)
        if (slot.value != nullptr) fn(slot.value);
    }

   private:
    struct Slot {
      std::uint64_t key = 0;
      CachedKey* value = nullptr;
    };
    std::size_t home(std::uint64_t key) const noexcept;
    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
  };

  void evict_oldest(std::size_t count);
  void destroy(CachedKey* entry) noexcept;

  std::size_t capacity_;
  std::size_t size_ = 0;
  std::uint64_t clock_ = 0;
  FlatMap by_id_;
  FlatMap by_subject_;
  CachedKey* last_ = nullptr;  // skips the table lookup for runs of one subject
};

std::uint64_t subject_hash(const char* data, std::size_t size) noexcept;

}  // namespace gdpr

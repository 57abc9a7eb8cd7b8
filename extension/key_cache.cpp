#include "key_cache.h"

#include <algorithm>
#include <cstring>

namespace gdpr {

namespace {

std::uint64_t mix(std::uint64_t x) noexcept {
  // splitmix64 finaliser: spreads sequential ids over the table.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

std::size_t slots_for(std::size_t capacity) {
  std::size_t slots = 16;
  while (slots < capacity * 2) slots <<= 1;  // load factor at most 1/2
  return slots;
}

}  // namespace

// Eight bytes at a time (a subject key is ~15 bytes: two or three steps,
// where FNV-1a took one dependent multiply per byte), then the splitmix64
// finaliser. Collisions only cost a comparison: entries hold the subject.
std::uint64_t subject_hash(const char* data, std::size_t size) noexcept {
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ size;
  for (; size >= 8; data += 8, size -= 8) {
    std::uint64_t word;
    std::memcpy(&word, data, 8);
    h = (h ^ word) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
  }
  if (size > 0) {
    std::uint64_t word = 0;
    for (std::size_t i = 0; i < size; ++i) {
      word |= static_cast<std::uint64_t>(static_cast<unsigned char>(data[i])) << (8 * i);
    }
    h = (h ^ word) * 0x94d049bb133111ebULL;
  }
  return mix(h);
}

// ---- FlatMap ---------------------------------------------------------------

void KeyCache::FlatMap::reset(std::size_t min_slots) {
  slots_.assign(min_slots, Slot{});
  mask_ = min_slots - 1;
}

// Keys four apart in value land far apart, but runs of four consecutive
// keys share one home cache line (four 16-byte slots): key ids come from a
// sequence, and rows stored in the order their subjects appeared use them
// in that order, so a scan touches a new line of the table every fourth
// key instead of on every row. Spreading the groups keeps probe runs short.
std::size_t KeyCache::FlatMap::home(std::uint64_t key) const noexcept {
  return static_cast<std::size_t>((mix(key >> 2) << 2) | (key & 3)) & mask_;
}

CachedKey* KeyCache::FlatMap::get(std::uint64_t key) const noexcept {
  for (std::size_t i = home(key);; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.value == nullptr) return nullptr;
    if (slot.key == key) return slot.value;
  }
}

void KeyCache::FlatMap::put(std::uint64_t key, CachedKey* value) {
  for (std::size_t i = home(key);; i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    if (slot.value == nullptr || slot.key == key) {
      slot.key = key;
      slot.value = value;
      return;
    }
  }
}

void KeyCache::FlatMap::remove(std::uint64_t key) noexcept {
  std::size_t i = home(key);
  while (slots_[i].value == nullptr || slots_[i].key != key) {
    if (slots_[i].value == nullptr) return;
    i = (i + 1) & mask_;
  }
  // Backward-shift deletion: move later members of the probe run into the
  // hole when their home position allows it.
  std::size_t hole = i;
  for (std::size_t j = (i + 1) & mask_; slots_[j].value != nullptr; j = (j + 1) & mask_) {
    const std::size_t h = home(slots_[j].key);
    const bool movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j);
    if (movable) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = Slot{};
}

void KeyCache::FlatMap::clear() noexcept {
  std::fill(slots_.begin(), slots_.end(), Slot{});
}

// ---- KeyCache --------------------------------------------------------------

KeyCache::KeyCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
  by_id_.reset(slots_for(capacity_));
  by_subject_.reset(slots_for(capacity_));
}

KeyCache::~KeyCache() { clear(); }

std::string KeyCache::subject_key(const std::string& kind, const std::string& subject_id,
                                  const std::string& key_class) {
  std::string key;
  key.reserve(kind.size() + subject_id.size() + key_class.size() + 2);
  key.append(kind).push_back('\0');
  key.append(subject_id).push_back('\0');
  key.append(key_class);
  return key;
}

CachedKey* KeyCache::find(std::uint64_t key_id) {
  CachedKey* entry = (last_ != nullptr && last_->key_id == key_id)
                         ? last_
                         : by_id_.get(key_id);
  if (entry == nullptr) return nullptr;
  entry->last_used = ++clock_;
  return last_ = entry;
}

CachedKey* KeyCache::find_subject(const std::string& subject) {
  if (last_ != nullptr && last_->subject == subject) {
    last_->last_used = ++clock_;
    return last_;
  }
  CachedKey* entry = by_subject_.get(subject_hash(subject.data(), subject.size()));
  if (entry == nullptr || entry->subject != subject) return nullptr;
  entry->last_used = ++clock_;
  return last_ = entry;
}

CachedKey& KeyCache::insert(std::uint64_t key_id, std::string subject,
                            std::unique_ptr<AesGcmKey> key) {
  erase(key_id);
  if (size_ >= capacity_) evict_oldest(std::max<std::size_t>(1, capacity_ / 4));
  auto* entry = new CachedKey;
  entry->key_id = key_id;
  entry->last_used = ++clock_;
  entry->subject = std::move(subject);
  entry->subject_hash = subject_hash(entry->subject.data(), entry->subject.size());
  if (key) {
    entry->cipher = std::move(*key);  // wipes the source
    entry->key.key_ = &entry->cipher;
  }
  by_id_.put(key_id, entry);
  // A (vanishingly rare) hash collision just replaces the older entry's
  // subject mapping: its next lookup by subject misses and reloads.
  by_subject_.put(entry->subject_hash, entry);
  ++size_;
  return *(last_ = entry);
}

void KeyCache::destroy(CachedKey* entry) noexcept {
  if (by_subject_.get(entry->subject_hash) == entry) by_subject_.remove(entry->subject_hash);
  by_id_.remove(entry->key_id);
  if (last_ == entry) last_ = nullptr;
  --size_;
  delete entry;
}

void KeyCache::erase(std::uint64_t key_id) {
  CachedKey* entry = by_id_.get(key_id);
  if (entry != nullptr && entry->key_id == key_id) destroy(entry);
}

void KeyCache::clear() noexcept {
  by_id_.for_each([](CachedKey* entry) { delete entry; });
  by_id_.clear();
  by_subject_.clear();
  size_ = 0;
  last_ = nullptr;
}

void KeyCache::set_capacity(std::size_t capacity) {
  capacity = capacity == 0 ? 1 : capacity;
  if (capacity == capacity_) return;
  clear();
  capacity_ = capacity;
  by_id_.reset(slots_for(capacity_));
  by_subject_.reset(slots_for(capacity_));
}

void KeyCache::evict_oldest(std::size_t count) {
  std::vector<CachedKey*> entries;
  entries.reserve(size_);
  by_id_.for_each([&entries](CachedKey* entry) { entries.push_back(entry); });
  count = std::min(count, entries.size());
  std::nth_element(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(count),
                   entries.end(), [](const CachedKey* a, const CachedKey* b) {
                     return a->last_used < b->last_used;
                   });
  for (std::size_t i = 0; i < count; ++i) destroy(entries[i]);
}

}  // namespace gdpr

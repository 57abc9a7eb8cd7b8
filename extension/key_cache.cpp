#include "key_cache.h"

namespace gdpr {

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
  if (last_ != nullptr && last_->key_id == key_id) return last_;
  auto it = by_id_.find(key_id);
  if (it == by_id_.end()) return nullptr;
  entries_.splice(entries_.begin(), entries_, it->second);
  last_ = &*it->second;
  return last_;
}

CachedKey* KeyCache::find_subject(const std::string& subject) {
  if (last_ != nullptr && last_->subject == subject) return last_;
  auto it = by_subject_.find(subject);
  if (it == by_subject_.end()) return nullptr;
  entries_.splice(entries_.begin(), entries_, it->second);
  last_ = &*it->second;
  return last_;
}

CachedKey& KeyCache::insert(std::uint64_t key_id, std::string subject,
                            std::unique_ptr<AesGcmKey> key) {
  erase(key_id);
  evict_to(capacity_ - 1);
  entries_.push_front(CachedKey{key_id, std::move(subject), std::move(key)});
  auto it = entries_.begin();
  by_id_[key_id] = it;
  if (!it->subject.empty()) by_subject_[it->subject] = it;
  last_ = &*it;
  return *it;
}

void KeyCache::erase(std::uint64_t key_id) {
  auto it = by_id_.find(key_id);
  if (it == by_id_.end()) return;
  auto entry = it->second;
  auto subject = by_subject_.find(entry->subject);
  if (subject != by_subject_.end() && subject->second == entry) by_subject_.erase(subject);
  if (last_ == &*entry) last_ = nullptr;
  by_id_.erase(it);
  entries_.erase(entry);
}

void KeyCache::clear() {
  last_ = nullptr;
  by_subject_.clear();
  by_id_.clear();
  entries_.clear();
}

void KeyCache::set_capacity(std::size_t capacity) {
  capacity_ = capacity == 0 ? 1 : capacity;
  evict_to(capacity_);
}

void KeyCache::evict_to(std::size_t limit) {
  while (by_id_.size() > limit) erase(entries_.back().key_id);
}

}  // namespace gdpr

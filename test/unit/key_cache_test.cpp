#include "key_cache.h"

#include "test_helpers.h"

using gdpr::CachedKey;
using gdpr::KeyCache;

namespace {
std::unique_ptr<gdpr::AesGcmKey> a_key() {
  return std::make_unique<gdpr::AesGcmKey>(gdpr_test::key_of(9));
}
}  // namespace

TEST(KeyCache, FindsByIdAndBySubject) {
  KeyCache cache(4);
  auto subject = KeyCache::subject_key("user", "42", "main");
  cache.insert(7, subject, a_key());
  ASSERT_NE(cache.find(7), nullptr);
  ASSERT_NE(cache.find_subject(subject), nullptr);
  EXPECT_EQ(cache.find_subject(subject)->key_id, 7u);
  EXPECT_EQ(cache.find(8), nullptr);
  EXPECT_EQ(cache.find_subject(KeyCache::subject_key("user", "4", "2main")), nullptr);
}

TEST(KeyCache, EvictsTheLeastRecentlyUsed) {
  KeyCache cache(4);
  for (std::uint64_t id = 1; id <= 4; ++id) {
    cache.insert(id, KeyCache::subject_key("u", std::to_string(id), "main"), a_key());
  }
  ASSERT_NE(cache.find(1), nullptr);  // 2 is now the oldest
  cache.insert(5, KeyCache::subject_key("u", "5", "main"), a_key());
  EXPECT_LE(cache.size(), 4u);
  EXPECT_NE(cache.find(1), nullptr);
  EXPECT_NE(cache.find(5), nullptr);
  EXPECT_EQ(cache.find(2), nullptr);
  EXPECT_EQ(cache.find_subject(KeyCache::subject_key("u", "2", "main")), nullptr);
  cache.set_capacity(1);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(KeyCache, StaysConsistentUnderChurn) {
  // Many inserts, lookups and erases against a small table: every entry the
  // cache still reports must be the one inserted under that id and subject.
  KeyCache cache(64);
  for (std::uint64_t round = 0; round < 20000; ++round) {
    const std::uint64_t id = (round * 7919) % 500 + 1;
    const std::string subject = KeyCache::subject_key("u", std::to_string(id), "main");
    if (round % 5 == 0) {
      cache.erase(id);
      EXPECT_EQ(cache.find(id), nullptr);
      continue;
    }
    CachedKey* hit = cache.find(id);
    if (hit == nullptr) hit = &cache.insert(id, subject, a_key());
    ASSERT_EQ(hit->key_id, id);
    ASSERT_EQ(hit->subject, subject);
    CachedKey* by_subject = cache.find_subject(subject);
    ASSERT_NE(by_subject, nullptr);
    ASSERT_EQ(by_subject->key_id, id);
    ASSERT_LE(cache.size(), 64u);
  }
}

TEST(KeyCache, ShreddedEntriesAndClear) {
  KeyCache cache(4);
  cache.insert(5, KeyCache::subject_key("u", "5", "main"), nullptr);
  ASSERT_NE(cache.find(5), nullptr);
  EXPECT_TRUE(cache.find(5)->shredded());
  cache.insert(6, KeyCache::subject_key("u", "6", "main"), a_key());
  cache.erase(6);
  EXPECT_EQ(cache.find(6), nullptr);
  cache.clear();
  EXPECT_EQ(cache.find(5), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

// What a lookup reads (id, use stamp, subject, key pointer) shares the
// entry's first cache line; the cipher state starts on the next one.
TEST(KeyCache, LookupFieldsShareTheFirstCacheLine) {
  KeyCache cache(4);
  CachedKey& entry = cache.insert(3, KeyCache::subject_key("user", "1234", "main"), a_key());
  const auto base = reinterpret_cast<std::uintptr_t>(&entry);
  EXPECT_EQ(base % 64, 0u);
  auto offset = [base](const void* field) { return reinterpret_cast<std::uintptr_t>(field) - base; };
  EXPECT_LT(offset(&entry.key_id), 64u);
  EXPECT_LT(offset(&entry.last_used), 64u);
  EXPECT_LT(offset(&entry.key), 64u);
  EXPECT_LE(offset(&entry.subject) + sizeof entry.subject, 64u);
  EXPECT_EQ(offset(&entry.cipher), 64u);
  EXPECT_EQ(entry.key.get(), &entry.cipher);
  EXPECT_LE(sizeof(CachedKey), 64u + 64u + gdpr::ipsec_mb::kKeyStateSize);
}

TEST(KeyCache, TakesTheKeyStateIntoTheEntry) {
  for (auto implementation : gdpr_test::implementations()) {
    SCOPED_TRACE(gdpr_test::name_of(implementation));
    KeyCache cache(4);
    auto key = std::make_unique<gdpr::AesGcmKey>(gdpr_test::key_of(9), implementation);
    gdpr::AesGcmKey* given = key.get();
    CachedKey& entry = cache.insert(1, KeyCache::subject_key("u", "1", "main"), std::move(key));
    ASSERT_NE(entry.key.get(), nullptr);
    EXPECT_NE(entry.key.get(), given);
    EXPECT_EQ(entry.key->implementation(), implementation);
    // Sealed by the cached key, opened by a fresh one of the same bytes.
    gdpr::AesGcmKey fresh(gdpr_test::key_of(9), implementation);
    std::uint8_t nonce[12] = {7}, plain[5] = {1, 2, 3, 4, 5}, out[5], tag[16], back[5];
    entry.key->seal(nonce, nullptr, 0, plain, sizeof plain, out, tag);
    ASSERT_TRUE(fresh.open(nonce, nullptr, 0, out, sizeof out, back, tag));
    EXPECT_EQ(0, std::memcmp(back, plain, sizeof plain));
  }
}

// Consecutive ids share home cache lines; ids far apart with the same low
// bits must still each find their own entry, before and after removals.
TEST(KeyCache, SequentialAndAliasedIds) {
  KeyCache cache(4096);
  std::vector<std::uint64_t> ids;
  for (std::uint64_t id = 1; id <= 1000; ++id) ids.push_back(id);
  for (std::uint64_t k = 1; k <= 1000; ++k) ids.push_back(k << 16 | 5);
  ids.push_back(0);
  ids.push_back(~std::uint64_t{0});
  for (auto id : ids) cache.insert(id, KeyCache::subject_key("u", std::to_string(id), "main"), nullptr);
  for (auto id : ids) {
    ASSERT_NE(cache.find(id), nullptr) << id;
    ASSERT_EQ(cache.find(id)->key_id, id);
  }
  for (std::size_t i = 0; i < ids.size(); i += 3) cache.erase(ids[i]);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CachedKey* hit = cache.find(ids[i]);
    if (i % 3 == 0) {
      EXPECT_EQ(hit, nullptr) << ids[i];
    } else {
      ASSERT_NE(hit, nullptr) << ids[i];
      EXPECT_EQ(hit->key_id, ids[i]);
      EXPECT_EQ(cache.find_subject(hit->subject), hit);
    }
  }
}

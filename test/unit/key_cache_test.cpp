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

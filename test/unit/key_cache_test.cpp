#include "key_cache.h"

#include "test_helpers.h"

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
  KeyCache cache(2);
  cache.insert(1, KeyCache::subject_key("u", "1", "main"), a_key());
  cache.insert(2, KeyCache::subject_key("u", "2", "main"), a_key());
  ASSERT_NE(cache.find(1), nullptr);  // 2 is now the oldest
  cache.insert(3, KeyCache::subject_key("u", "3", "main"), a_key());
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.find(1), nullptr);
  EXPECT_EQ(cache.find(2), nullptr);
  EXPECT_EQ(cache.find_subject(KeyCache::subject_key("u", "2", "main")), nullptr);
  cache.set_capacity(1);
  EXPECT_EQ(cache.size(), 1u);
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

#include "processing_scope.h"

#include "test_helpers.h"

using gdpr::ProcessingScope;

TEST(ProcessingScope, ConsentNeedsAnEntryThatAllows) {
  ProcessingScope consent(true);
  EXPECT_FALSE(consent.decide(false, false));
  EXPECT_TRUE(consent.decide(true, true));
  EXPECT_FALSE(consent.decide(true, false));
  consent.add(std::int64_t{7}, true);
  consent.add(std::int64_t{8}, false);
  EXPECT_TRUE(consent.may_process(std::int64_t{7}));
  EXPECT_FALSE(consent.may_process(std::int64_t{8}));
  EXPECT_FALSE(consent.may_process(std::int64_t{9}));
}

TEST(ProcessingScope, OtherBasesAllowUnlessAnEntryBlocks) {
  ProcessingScope interest(false);
  EXPECT_TRUE(interest.decide(false, false));
  EXPECT_FALSE(interest.decide(true, false));
  interest.add(std::string("ann"), false);
  EXPECT_FALSE(interest.may_process(std::string("ann")));
  EXPECT_TRUE(interest.may_process(std::string("bob")));
  EXPECT_TRUE(interest.may_process(std::string("an")));
  EXPECT_EQ(interest.entries(), 1u);
}

TEST(ProcessingScope, SwitchesToLoadingWhenProbesCostMore) {
  ProcessingScope small(false);
  int probes = 0;
  while (!small.should_load(10.0)) ++probes;
  // a tiny scope is still probed a few times before it is loaded
  EXPECT_EQ(probes, static_cast<int>(ProcessingScope::kMinEntries / ProcessingScope::kProbeCostInEntries));
  ProcessingScope large(false);
  probes = 0;
  while (!large.should_load(30000.0)) ++probes;
  EXPECT_EQ(probes, 1000);
}

TEST(ProcessingScope, FindsEveryIntegerAmongManyAndNoOther) {
  ProcessingScope scope(false);
  for (std::int64_t id = -5000; id < 100000; id += 7) scope.add(id * 1000003, id % 3 == 0);
  scope.add(std::int64_t{40} * 1000003, true);  // a second entry for a subject replaces the first
  // both representations: the flat table, then the bitmap of the range
  for (int pass = 0; pass < 2; ++pass) {
  if (pass == 1) scope.mark_loaded();
  std::size_t blocked = 0;
  for (std::int64_t id = -5000; id < 100000; ++id) {
    const bool listed = (id + 5000) % 7 == 0;
    const bool allowed = scope.may_process(id * 1000003);
    if (!listed) {
      EXPECT_TRUE(allowed) << id;
    } else if (id == 40) {
      EXPECT_TRUE(allowed);
    } else {
      EXPECT_EQ(allowed, id % 3 == 0) << id;
      if (!allowed) ++blocked;
    }
  }
  EXPECT_GT(blocked, 9000u);
  EXPECT_EQ(scope.entries(), 15000u);
  EXPECT_TRUE(scope.may_process(std::int64_t{-5001} * 1000003 - 1));
  EXPECT_TRUE(scope.may_process(std::int64_t{100000} * 1000003));
  }
}

TEST(ProcessingScope, DenseIdsAndExtremes) {
  ProcessingScope consent(true);
  for (std::int64_t id = 1; id <= 100000; id += 3) consent.add(id, true);
  consent.add(std::int64_t{50}, false);
  consent.mark_loaded();
  EXPECT_TRUE(consent.may_process(std::int64_t{1}));
  EXPECT_TRUE(consent.may_process(std::int64_t{99997}));
  EXPECT_FALSE(consent.may_process(std::int64_t{2}));
  EXPECT_FALSE(consent.may_process(std::int64_t{50}));
  EXPECT_FALSE(consent.may_process(std::int64_t{0}));
  EXPECT_FALSE(consent.may_process(std::int64_t{100001}));
  EXPECT_FALSE(consent.may_process(INT64_MIN));
  EXPECT_FALSE(consent.may_process(INT64_MAX));
  ProcessingScope wide(false);
  wide.add(INT64_MIN, false);
  wide.add(INT64_MAX, false);
  wide.mark_loaded();
  EXPECT_FALSE(wide.may_process(INT64_MIN));
  EXPECT_FALSE(wide.may_process(INT64_MAX));
  EXPECT_TRUE(wide.may_process(std::int64_t{0}));
}

TEST(ProcessingScope, ResetForgetsEverything) {
  ProcessingScope scope(true);
  scope.add(std::int64_t{5}, true);
  scope.add(std::string("x"), true);
  scope.mark_loaded();
  EXPECT_TRUE(scope.may_process(std::int64_t{5}));
  scope.reset();
  EXPECT_FALSE(scope.loaded());
  EXPECT_EQ(scope.entries(), 0u);
  EXPECT_FALSE(scope.may_process(std::int64_t{5}));
  EXPECT_FALSE(scope.may_process(std::string("x")));
  scope.add(std::int64_t{6}, true);
  EXPECT_TRUE(scope.may_process(std::int64_t{6}));
}

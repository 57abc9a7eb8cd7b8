#include "data_key_wrap.h"

#include "test_helpers.h"

using gdpr::DataKeyWrap;

TEST(DataKeyWrap, RoundTripsUnderTheSameMasterKeyAndId) {
  auto master = gdpr_test::key_of(3);
  auto dek = DataKeyWrap::generate_data_key();
  auto wrapped = DataKeyWrap::wrap(master, 17, dek);
  EXPECT_EQ(wrapped.size(), DataKeyWrap::kWrappedSize);
  auto back = DataKeyWrap::unwrap(master, 1, 17, wrapped.data(), wrapped.size());
  EXPECT_TRUE(back == dek);
}

TEST(DataKeyWrap, FreshKeysDiffer) {
  EXPECT_FALSE(DataKeyWrap::generate_data_key() == DataKeyWrap::generate_data_key());
}

TEST(DataKeyWrap, WrongMasterKeyOtherIdOrAlteredBytesFail) {
  auto master = gdpr_test::key_of(3);
  auto dek = DataKeyWrap::generate_data_key();
  auto wrapped = DataKeyWrap::wrap(master, 17, dek);
  auto e = gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError, [&] {
    DataKeyWrap::unwrap(gdpr_test::key_of(4), 1, 17, wrapped.data(), wrapped.size());
  });
  EXPECT_STREQ(e.what(), "master key version 1 does not unwrap data key 17");
  gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError, [&] {
    DataKeyWrap::unwrap(master, 1, 18, wrapped.data(), wrapped.size());
  });
  wrapped[20] ^= 0x10;
  gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError, [&] {
    DataKeyWrap::unwrap(master, 1, 17, wrapped.data(), wrapped.size());
  });
  gdpr_test::expect_error(gdpr::sqlstate::kInvalidBinaryRepresentation, [&] {
    DataKeyWrap::unwrap(master, 1, 17, wrapped.data(), wrapped.size() - 1);
  });
}

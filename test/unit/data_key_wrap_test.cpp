#include "data_key_wrap.h"

#include "test_helpers.h"

using gdpr::DataKeyWrap;
using gdpr::KeyBinding;

namespace {

KeyBinding binding_of(std::uint64_t key_id, const char* key_class = "main",
                      std::uint8_t subject = 1, std::uint8_t installation = 9) {
  return KeyBinding{key_id, key_class, std::vector<std::uint8_t>(32, subject),
                    std::vector<std::uint8_t>(16, installation)};
}

}  // namespace

TEST(DataKeyWrap, RoundTripsUnderTheSameMasterKeyAndBinding) {
  auto master = gdpr_test::key_of(3);
  auto dek = DataKeyWrap::generate_data_key();
  auto wrapped = DataKeyWrap::wrap(master, binding_of(17), dek);
  EXPECT_EQ(wrapped.size(), DataKeyWrap::kWrappedSize);
  auto back = DataKeyWrap::unwrap(master, 1, binding_of(17), wrapped.data(), wrapped.size());
  EXPECT_TRUE(back == dek);
}

TEST(DataKeyWrap, FreshKeysDiffer) {
  EXPECT_FALSE(DataKeyWrap::generate_data_key() == DataKeyWrap::generate_data_key());
}

TEST(DataKeyWrap, WrongMasterKeyOtherIdOrAlteredBytesFail) {
  auto master = gdpr_test::key_of(3);
  auto dek = DataKeyWrap::generate_data_key();
  auto wrapped = DataKeyWrap::wrap(master, binding_of(17), dek);
  auto e = gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError, [&] {
    DataKeyWrap::unwrap(gdpr_test::key_of(4), 1, binding_of(17), wrapped.data(), wrapped.size());
  });
  EXPECT_STREQ(e.what(), "master key version 1 does not unwrap data key 17");
  gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError, [&] {
    DataKeyWrap::unwrap(master, 1, binding_of(18), wrapped.data(), wrapped.size());
  });
  wrapped[20] ^= 0x10;
  gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError, [&] {
    DataKeyWrap::unwrap(master, 1, binding_of(17), wrapped.data(), wrapped.size());
  });
  gdpr_test::expect_error(gdpr::sqlstate::kInvalidBinaryRepresentation, [&] {
    DataKeyWrap::unwrap(master, 1, binding_of(17), wrapped.data(), wrapped.size() - 1);
  });
}

TEST(DataKeyWrap, AnotherClassSubjectOrInstallationFails) {
  auto master = gdpr_test::key_of(3);
  auto wrapped = DataKeyWrap::wrap(master, binding_of(17), DataKeyWrap::generate_data_key());
  for (const auto& other : {binding_of(17, "hold"), binding_of(17, "main", 2),
                            binding_of(17, "main", 1, 8)}) {
    gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError, [&] {
      DataKeyWrap::unwrap(master, 1, other, wrapped.data(), wrapped.size());
    });
  }
}

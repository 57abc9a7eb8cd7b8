#include "key_backup_format.h"

#include "test_helpers.h"

using gdpr::InstallationKeys;
using gdpr::KeyBackup;

namespace {

InstallationKeys keys_of(std::uint8_t master, std::uint8_t installation) {
  return InstallationKeys(gdpr_test::key_of(master), std::vector<std::uint8_t>(16, installation));
}

KeyBackup two_keys() {
  KeyBackup b;
  b.last_key_id = 7;
  gdpr::BackedUpKey live{5, std::vector<std::uint8_t>(32, 1), "main", 1,
                         std::vector<std::uint8_t>(60, 2), "2026-11-26 12:00:00+00", ""};
  gdpr::BackedUpKey gone{6, std::vector<std::uint8_t>(32, 3), "main", 0, {}, "2026-11-26 12:00:00+00",
                         "2026-11-26 13:00:00+00"};
  b.keys = {live, gone};
  return b;
}

}  // namespace

TEST(KeyBackupFormat, RoundTrips) {
  auto keys = keys_of(3, 9);
  auto bytes = gdpr::encode_key_backup(two_keys(), keys);
  auto back = gdpr::decode_key_backup(bytes.data(), bytes.size(), keys);
  EXPECT_EQ(back.last_key_id, 7u);
  ASSERT_EQ(back.keys.size(), 2u);
  EXPECT_EQ(back.keys[0].wrapped, std::vector<std::uint8_t>(60, 2));
  EXPECT_TRUE(back.keys[1].shredded());
  EXPECT_EQ(back.keys[1].shredded_at, "2026-11-26 13:00:00+00");
  EXPECT_EQ(gdpr::peek_key_backup(bytes.data(), bytes.size()).installation_id,
            std::vector<std::uint8_t>(16, 9));
}

TEST(KeyBackupFormat, EveryFlippedByteTruncationOrForeignKeyIsRefused) {
  auto keys = keys_of(3, 9);
  auto bytes = gdpr::encode_key_backup(two_keys(), keys);
  for (std::size_t i = 8; i < bytes.size(); ++i) {
    auto copy = bytes;
    copy[i] ^= 0x01;
    gdpr_test::expect_error(gdpr::sqlstate::kInvalidBinaryRepresentation,
                            [&] { gdpr::decode_key_backup(copy.data(), copy.size(), keys); });
  }
  gdpr_test::expect_error(gdpr::sqlstate::kInvalidBinaryRepresentation,
                          [&] { gdpr::decode_key_backup(bytes.data(), bytes.size() - 1, keys); });
  auto other_master = keys_of(4, 9);
  gdpr_test::expect_error(gdpr::sqlstate::kInvalidBinaryRepresentation,
                          [&] { gdpr::decode_key_backup(bytes.data(), bytes.size(), other_master); });
  auto other_installation = keys_of(3, 8);
  gdpr_test::expect_error(gdpr::sqlstate::kInvalidBinaryRepresentation, [&] {
    gdpr::decode_key_backup(bytes.data(), bytes.size(), other_installation);
  });
  std::vector<std::uint8_t> junk(100, 0);
  gdpr_test::expect_error(gdpr::sqlstate::kInvalidBinaryRepresentation,
                          [&] { gdpr::peek_key_backup(junk.data(), junk.size()); });
}

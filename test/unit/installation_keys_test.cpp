#include "installation_keys.h"

#include <cstring>

#include "test_helpers.h"

using gdpr::InstallationKeys;

namespace {

std::vector<std::uint8_t> id_of(std::uint8_t b) { return std::vector<std::uint8_t>(16, b); }

gdpr::Digest address(const InstallationKeys& keys, const char* kind, const char* id) {
  return keys.key_address(kind, std::strlen(kind), id, std::strlen(id));
}

}  // namespace

TEST(InstallationKeys, HkdfMatchesRfc5869TestCase1) {
  const std::vector<std::uint8_t> ikm(22, 0x0b);
  const std::vector<std::uint8_t> salt = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const std::string info = "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9";
  auto okm = gdpr::hkdf_sha256(gdpr::SecureBytes(ikm.data(), ikm.size()), salt, info, 42);
  const std::uint8_t expected[] = {0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f,
                                   0x64, 0xd0, 0x36, 0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a,
                                   0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56, 0xec, 0xc4, 0xc5, 0xbf, 0x34,
                                   0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65};
  ASSERT_EQ(okm.size(), sizeof expected);
  EXPECT_EQ(std::memcmp(okm.data(), expected, sizeof expected), 0);
}

TEST(InstallationKeys, StableForTheSameMasterKeyAndInstallation) {
  InstallationKeys a(gdpr_test::key_of(3), id_of(7));
  InstallationKeys b(gdpr_test::key_of(3), id_of(7));
  EXPECT_EQ(address(a, "user", "42"), address(b, "user", "42"));
  EXPECT_EQ(a.subject_hash("user", 4, "42", 2), b.subject_hash("user", 4, "42", 2));
}

TEST(InstallationKeys, EachUseMasterKeyAndInstallationGivesOtherHashes) {
  InstallationKeys a(gdpr_test::key_of(3), id_of(7));
  EXPECT_NE(address(a, "user", "42"), a.subject_hash("user", 4, "42", 2));
  EXPECT_NE(address(a, "user", "42"), address(a, "user", "43"));
  EXPECT_NE(address(a, "user4", "2"), address(a, "user", "42"));
  EXPECT_NE(address(a, "user", "42"), address(InstallationKeys(gdpr_test::key_of(4), id_of(7)), "user", "42"));
  EXPECT_NE(address(a, "user", "42"), address(InstallationKeys(gdpr_test::key_of(3), id_of(8)), "user", "42"));
}

TEST(InstallationKeys, RefusesAMalformedInstallationId) {
  gdpr_test::expect_error(gdpr::sqlstate::kInternalError, [] {
    InstallationKeys(gdpr_test::key_of(3), std::vector<std::uint8_t>(15, 1));
  });
}

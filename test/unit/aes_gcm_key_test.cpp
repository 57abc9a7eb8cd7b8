#include "aes_gcm_key.h"

#include "test_helpers.h"

using gdpr::AesGcmKey;
using gdpr_test::hex;

// NIST GCM specification (McGrew & Viega), test cases 13 and 14: AES-256,
// all-zero key and IV.
TEST(AesGcmKey, MatchesNistVectorWithEmptyPlaintext) {
  gdpr::SecureBytes zero(32);
  AesGcmKey key(zero);
  std::uint8_t nonce[12] = {};
  std::uint8_t tag[16];
  key.seal(nonce, nullptr, 0, nullptr, 0, nullptr, tag);
  EXPECT_EQ(std::vector<std::uint8_t>(tag, tag + 16), hex("530f8afbc74536b9a963b4f1c4cb738b"));
}

TEST(AesGcmKey, MatchesNistVectorWithOneBlock) {
  gdpr::SecureBytes zero(32);
  AesGcmKey key(zero);
  std::uint8_t nonce[12] = {};
  std::uint8_t plain[16] = {};
  std::uint8_t out[16];
  std::uint8_t tag[16];
  key.seal(nonce, nullptr, 0, plain, 16, out, tag);
  EXPECT_EQ(std::vector<std::uint8_t>(out, out + 16), hex("cea7403d4d606b6e074ec5d3baf39d18"));
  EXPECT_EQ(std::vector<std::uint8_t>(tag, tag + 16), hex("d0d1c8a799996bf0265b98b5d48ab919"));

  std::uint8_t back[16];
  ASSERT_TRUE(key.open(nonce, nullptr, 0, out, 16, back, tag));
  EXPECT_EQ(0, std::memcmp(back, plain, 16));
}

TEST(AesGcmKey, RejectsWrongAadAndAlteredTag) {
  AesGcmKey key(gdpr_test::key_of(7));
  std::uint8_t nonce[12] = {1, 2, 3};
  const std::uint8_t aad[] = "crm.contacts.email";
  const std::uint8_t plain[] = "alice@example.com";
  std::uint8_t out[sizeof plain], tag[16], back[sizeof plain];
  key.seal(nonce, aad, sizeof aad - 1, plain, sizeof plain, out, tag);
  EXPECT_TRUE(key.open(nonce, aad, sizeof aad - 1, out, sizeof plain, back, tag));
  const std::uint8_t other[] = "crm.contacts.phone";
  EXPECT_FALSE(key.open(nonce, other, sizeof other - 1, out, sizeof plain, back, tag));
  tag[15] ^= 1;
  EXPECT_FALSE(key.open(nonce, aad, sizeof aad - 1, out, sizeof plain, back, tag));
}

TEST(AesGcmKey, RefusesKeysOfWrongLength) {
  gdpr_test::expect_error(gdpr::sqlstate::kInternalError,
                          [] { AesGcmKey key(gdpr::SecureBytes(16)); });
}

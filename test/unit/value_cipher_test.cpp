#include "value_cipher.h"

#include <set>

#include "test_helpers.h"

namespace {

std::vector<std::uint8_t> seal(gdpr::ValueCipher& cipher, gdpr::AesGcmKey& key,
                               std::uint64_t key_id, const std::string& context,
                               const std::string& plain) {
  std::vector<std::uint8_t> out(gdpr::ValueCipher::sealed_size(plain.size()));
  cipher.seal(key, key_id, gdpr::PayloadType::kText, context.data(), context.size(),
              reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size(), out.data());
  return out;
}

std::string open(gdpr::ValueCipher& cipher, gdpr::AesGcmKey& key, const std::string& context,
                 const std::vector<std::uint8_t>& sealed) {
  auto view = gdpr::parse_ciphertext(sealed.data(), sealed.size());
  std::string out(view.body_size, '\0');
  cipher.open(key, view, context.data(), context.size(),
              reinterpret_cast<std::uint8_t*>(&out[0]));
  return out;
}

}  // namespace

TEST(ValueCipher, RoundTripsEveryLengthUpTo64) {
  gdpr::ValueCipher cipher;
  gdpr::AesGcmKey key(gdpr_test::key_of(1));
  for (std::size_t len = 0; len <= 64; ++len) {
    std::string plain(len, 'a');
    for (std::size_t i = 0; i < len; ++i) plain[i] = static_cast<char>('a' + i % 26);
    auto sealed = seal(cipher, key, 42, "ctx", plain);
    EXPECT_EQ(sealed.size(), len + gdpr::CiphertextLayout::kOverhead);
    EXPECT_EQ(open(cipher, key, "ctx", sealed), plain);
  }
}

TEST(ValueCipher, NoncesDifferBetweenValues) {
  gdpr::ValueCipher cipher;
  gdpr::AesGcmKey key(gdpr_test::key_of(1));
  std::set<std::vector<std::uint8_t>> seen;
  for (int i = 0; i < 2000; ++i) {
    auto sealed = seal(cipher, key, 1, "ctx", "same value");
    EXPECT_TRUE(seen.insert(sealed).second) << "repeated ciphertext at " << i;
  }
}

TEST(ValueCipher, WrongContextIsAnError) {
  gdpr::ValueCipher cipher;
  gdpr::AesGcmKey key(gdpr_test::key_of(1));
  auto sealed = seal(cipher, key, 1, "crm.contacts.email", "alice@example.com");
  auto e = gdpr_test::expect_error(gdpr::sqlstate::kInvalidParameterValue, [&] {
    open(cipher, key, "crm.contacts.phone", sealed);
  });
  EXPECT_NE(std::string(e.what()).find("crm.contacts.phone"), std::string::npos);
}

TEST(ValueCipher, EveryFlippedBitIsDetected) {
  gdpr::ValueCipher cipher;
  gdpr::AesGcmKey key(gdpr_test::key_of(1));
  auto sealed = seal(cipher, key, 1, "ctx", "alice@example.com");
  for (std::size_t byte = 0; byte < sealed.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto altered = sealed;
      altered[byte] ^= static_cast<std::uint8_t>(1 << bit);
      bool rejected = false;
      try {
        open(cipher, key, "ctx", altered);
      } catch (const gdpr::GdprError&) {
        rejected = true;
      }
      EXPECT_TRUE(rejected) << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(ValueCipher, KeyIdIsAuthenticated) {
  gdpr::ValueCipher cipher;
  gdpr::AesGcmKey key(gdpr_test::key_of(1));
  auto sealed = seal(cipher, key, 7, "ctx", "value");
  auto moved = sealed;
  gdpr::write_ciphertext_header(moved.data(), gdpr::PayloadType::kText, 8);
  gdpr_test::expect_error(gdpr::sqlstate::kInvalidParameterValue,
                          [&] { open(cipher, key, "ctx", moved); });
}

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
  for (auto implementation : gdpr_test::implementations()) {
    SCOPED_TRACE(gdpr_test::name_of(implementation));
    gdpr::AesGcmKey key(gdpr_test::key_of(1), implementation);
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
}

// A version-1 value written by another AES-GCM implementation (Python's
// cryptography package): key key_of(5), key id 42, nonce 00..0b, context
// "crm.users.email". Every implementation reads it, so values written
// before ipsec-mb, or by a server without it, stay readable.
TEST(ValueCipher, OpensAValueSealedElsewhere) {
  const auto sealed = gdpr_test::hex(
      "0101000000000000002a000102030405060708090a0b2b7a31e245c818a438c91d2420f90950cb88ca6f"
      "cf6774fdc2c1c5d6197c9ba17f");
  gdpr::ValueCipher cipher;
  for (auto implementation : gdpr_test::implementations()) {
    SCOPED_TRACE(gdpr_test::name_of(implementation));
    gdpr::AesGcmKey key(gdpr_test::key_of(5), implementation);
    EXPECT_EQ(open(cipher, key, "crm.users.email", sealed), "alice@example.com");
    gdpr_test::expect_error(gdpr::sqlstate::kInvalidParameterValue,
                            [&] { open(cipher, key, "crm.users.phone", sealed); });
  }
}

TEST(ValueCipher, ImplementationsOpenEachOthersValues) {
  gdpr::ValueCipher cipher;
  const auto all = gdpr_test::implementations();
  for (auto sealer : all) {
    for (auto opener : all) {
      SCOPED_TRACE(std::string(gdpr_test::name_of(sealer)) + " -> " + gdpr_test::name_of(opener));
      gdpr::AesGcmKey seal_key(gdpr_test::key_of(2), sealer);
      gdpr::AesGcmKey open_key(gdpr_test::key_of(2), opener);
      for (std::size_t len : {0, 1, 15, 16, 17, 44, 100, 4096}) {
        const std::string plain(len, static_cast<char>('a' + len % 26));
        EXPECT_EQ(open(cipher, open_key, "crm.x", seal(cipher, seal_key, 9, "crm.x", plain)), plain);
      }
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

TEST(ValueCipher, LongContextsAreBoundToo) {
  gdpr::ValueCipher cipher;
  gdpr::AesGcmKey key(gdpr_test::key_of(4));
  const std::string context(1000, 'c');
  std::string other = context;
  other[999] = 'd';
  auto sealed = seal(cipher, key, 3, context, "value");
  EXPECT_EQ(open(cipher, key, context, sealed), "value");
  gdpr_test::expect_error(gdpr::sqlstate::kInvalidParameterValue,
                          [&] { open(cipher, key, other, sealed); });
  EXPECT_EQ(open(cipher, key, "short", seal(cipher, key, 3, "short", "again")), "again");
}

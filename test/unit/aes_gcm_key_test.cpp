#include "aes_gcm_key.h"

#include <algorithm>
#include <new>

#include "test_helpers.h"

using gdpr::AesGcmKey;
using gdpr::CipherImplementation;
using gdpr_test::hex;
using Bytes = std::vector<std::uint8_t>;

namespace {

using gdpr_test::implementations;

std::string name_of(const testing::TestParamInfo<CipherImplementation>& info) {
  return gdpr_test::name_of(info.param);
}

struct Sealed {
  Bytes body;
  Bytes tag;
};

Sealed seal(AesGcmKey& key, const Bytes& nonce, const Bytes& aad, const Bytes& plain) {
  Sealed out{Bytes(plain.size()), Bytes(16)};
  key.seal(nonce.data(), aad.data(), aad.size(), plain.data(), plain.size(), out.body.data(),
           out.tag.data());
  return out;
}

bool open(AesGcmKey& key, const Bytes& nonce, const Bytes& aad, const Sealed& sealed,
          Bytes* plain) {
  plain->assign(sealed.body.size(), 0xAA);
  return key.open(nonce.data(), aad.data(), aad.size(), sealed.body.data(), sealed.body.size(),
                  plain->data(), sealed.tag.data());
}

Bytes pattern(std::size_t size, std::uint8_t seed) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(seed + 31 * i);
  return out;
}

// AES-256 vectors of the GCM specification (McGrew & Viega), test cases 13-16.
struct NistVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* plain;
  const char* aad;
  const char* cipher;
  const char* tag;
};

const char kKey15[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const char kPlain15[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const char kCipher15[] =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

const NistVector kNistVectors[] = {
    {"13: empty", "00000000000000000000000000000000" "00000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"14: one block", "00000000000000000000000000000000" "00000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"15: four blocks", kKey15, "cafebabefacedbaddecaf888", kPlain15, "", kCipher15,
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"16: partial block and AAD", kKey15, "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

gdpr::SecureBytes secure(const Bytes& bytes) { return gdpr::SecureBytes(bytes.data(), bytes.size()); }

class EachImplementation : public testing::TestWithParam<CipherImplementation> {};

}  // namespace

INSTANTIATE_TEST_SUITE_P(AesGcmKey, EachImplementation, testing::ValuesIn(implementations()),
                         name_of);

TEST_P(EachImplementation, MatchesNistVectors) {
  for (const NistVector& v : kNistVectors) {
    SCOPED_TRACE(v.name);
    AesGcmKey key(secure(hex(v.key)), GetParam());
    ASSERT_EQ(key.implementation(), GetParam());
    const Sealed sealed = seal(key, hex(v.iv), hex(v.aad), hex(v.plain));
    EXPECT_EQ(sealed.body, hex(v.cipher));
    EXPECT_EQ(sealed.tag, hex(v.tag));
    Bytes back;
    ASSERT_TRUE(open(key, hex(v.iv), hex(v.aad), sealed, &back));
    EXPECT_EQ(back, hex(v.plain));
  }
}

TEST_P(EachImplementation, AcceptsNullPointersForEmptyInput) {
  AesGcmKey key(gdpr::SecureBytes(32), GetParam());
  std::uint8_t nonce[12] = {};
  std::uint8_t tag[16];
  key.seal(nonce, nullptr, 0, nullptr, 0, nullptr, tag);
  EXPECT_EQ(Bytes(tag, tag + 16), hex("530f8afbc74536b9a963b4f1c4cb738b"));
  EXPECT_TRUE(key.open(nonce, nullptr, 0, nullptr, 0, nullptr, tag));
}

TEST_P(EachImplementation, RejectsEveryTamperedByteAndWipesTheOutput) {
  AesGcmKey key(gdpr_test::key_of(7), GetParam());
  const Bytes nonce = pattern(12, 1), aad = pattern(27, 2), plain = pattern(44, 3);
  const Sealed sealed = seal(key, nonce, aad, plain);
  Bytes back;
  ASSERT_TRUE(open(key, nonce, aad, sealed, &back));
  ASSERT_EQ(back, plain);
  const Bytes zeros(plain.size(), 0);
  for (std::size_t i = 0; i < 16 * 8; ++i) {  // every bit of the tag
    Sealed bad = sealed;
    bad.tag[i / 8] ^= static_cast<std::uint8_t>(1u << (i % 8));
    EXPECT_FALSE(open(key, nonce, aad, bad, &back)) << "tag bit " << i;
    EXPECT_EQ(back, zeros) << "unauthenticated plaintext left in the output";
  }
  for (std::size_t i = 0; i < plain.size(); ++i) {
    Sealed bad = sealed;
    bad.body[i] ^= 0x80;
    EXPECT_FALSE(open(key, nonce, aad, bad, &back)) << "body byte " << i;
  }
  for (std::size_t i = 0; i < aad.size(); ++i) {
    Bytes bad = aad;
    bad[i] ^= 1;
    EXPECT_FALSE(open(key, nonce, bad, sealed, &back)) << "aad byte " << i;
  }
  for (std::size_t i = 0; i < nonce.size(); ++i) {
    Bytes bad = nonce;
    bad[i] ^= 1;
    EXPECT_FALSE(open(key, bad, aad, sealed, &back)) << "nonce byte " << i;
  }
  Bytes shorter_aad(aad.begin(), aad.end() - 1);
  EXPECT_FALSE(open(key, nonce, shorter_aad, sealed, &back));
  AesGcmKey other(gdpr_test::key_of(8), GetParam());
  EXPECT_FALSE(open(other, nonce, aad, sealed, &back));
}

TEST_P(EachImplementation, MovingTakesTheKeyAndLeavesNone) {
  AesGcmKey first(gdpr_test::key_of(3), GetParam());
  const Bytes nonce = pattern(12, 4), plain = pattern(20, 5);
  const Sealed sealed = seal(first, nonce, {}, plain);
  AesGcmKey second(std::move(first));
  EXPECT_EQ(first.implementation(), CipherImplementation::kNone);
  Bytes back;
  ASSERT_TRUE(open(second, nonce, {}, sealed, &back));
  EXPECT_EQ(back, plain);
  AesGcmKey third;
  third = std::move(second);
  ASSERT_TRUE(open(third, nonce, {}, sealed, &back));
  gdpr_test::expect_error(gdpr::sqlstate::kInternalError, [&] { seal(second, nonce, {}, plain); });
  gdpr_test::expect_error(gdpr::sqlstate::kInternalError,
                          [&] { open(second, nonce, {}, sealed, &back); });
}

// Old ciphertexts (OpenSSL) and new ones (ipsec-mb) are interchangeable:
// each implementation opens what the other sealed, at every length that
// matters to GCM (empty, partial and whole blocks, AAD of any length).
TEST(AesGcmKey, ImplementationsOpenEachOthersValues) {
  const auto all = implementations();
  if (all.size() < 2) GTEST_SKIP() << "only OpenSSL here: " << gdpr::ipsec_mb::description();
  AesGcmKey openssl(gdpr_test::key_of(11), CipherImplementation::kOpenSsl);
  AesGcmKey ipsec(gdpr_test::key_of(11), CipherImplementation::kIpsecMb);
  for (std::size_t len = 0; len <= 300; len += (len < 70 ? 1 : 23)) {
    for (std::size_t aad_len : {0, 1, 10, 16, 25, 64, 200}) {
      SCOPED_TRACE("len " + std::to_string(len) + ", aad " + std::to_string(aad_len));
      const Bytes nonce = pattern(12, static_cast<std::uint8_t>(len));
      const Bytes aad = pattern(aad_len, 9), plain = pattern(len, 13);
      const Sealed by_openssl = seal(openssl, nonce, aad, plain);
      const Sealed by_ipsec = seal(ipsec, nonce, aad, plain);
      EXPECT_EQ(by_openssl.body, by_ipsec.body);
      EXPECT_EQ(by_openssl.tag, by_ipsec.tag);
      Bytes back;
      ASSERT_TRUE(open(ipsec, nonce, aad, by_openssl, &back));
      EXPECT_EQ(back, plain);
      ASSERT_TRUE(open(openssl, nonce, aad, by_ipsec, &back));
      EXPECT_EQ(back, plain);
    }
  }
}

TEST(AesGcmKey, IpsecMbIsUsedWhereBuiltIn) {
#ifdef PG_GDPR_WITH_IPSEC_MB
  __builtin_cpu_init();
  if (__builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul")) {
    EXPECT_TRUE(gdpr::ipsec_mb::available()) << gdpr::ipsec_mb::description();
    EXPECT_EQ(AesGcmKey::preferred(), CipherImplementation::kIpsecMb);
    EXPECT_EQ(AesGcmKey(gdpr_test::key_of(1)).implementation(), CipherImplementation::kIpsecMb);
  }
#else
  EXPECT_FALSE(gdpr::ipsec_mb::available());
  EXPECT_EQ(AesGcmKey::preferred(), CipherImplementation::kOpenSsl);
  gdpr_test::expect_error(gdpr::sqlstate::kInternalError, [] {
    AesGcmKey key(gdpr_test::key_of(1), CipherImplementation::kIpsecMb);
  });
#endif
}

TEST(AesGcmKey, OpenSslCanBeForced) {
  AesGcmKey::force_openssl(true);
  EXPECT_EQ(AesGcmKey::preferred(), CipherImplementation::kOpenSsl);
  EXPECT_EQ(AesGcmKey(gdpr_test::key_of(1)).implementation(), CipherImplementation::kOpenSsl);
  EXPECT_NE(AesGcmKey::describe_preferred().find("OpenSSL"), std::string::npos);
  EXPECT_NE(AesGcmKey::describe_preferred().find("forced"), std::string::npos);
  AesGcmKey::force_openssl(false);
  EXPECT_EQ(AesGcmKey::preferred() == CipherImplementation::kIpsecMb,
            gdpr::ipsec_mb::available());
}

// The precomputed ipsec-mb state starts with the AES-256 round keys, the
// first two of which are the key itself: it must be gone once the object is.
TEST(AesGcmKey, WipesKeyMaterialWhenDestroyed) {
  if (!gdpr::ipsec_mb::available()) GTEST_SKIP() << gdpr::ipsec_mb::description();
  const gdpr::SecureBytes raw = gdpr_test::key_of(0x40);
  alignas(AesGcmKey) unsigned char storage[sizeof(AesGcmKey)];
  auto contains_key = [&] {
    return std::search(storage, storage + sizeof storage, raw.data(), raw.data() + raw.size()) !=
           storage + sizeof storage;
  };
  std::fill(std::begin(storage), std::end(storage), 0);
  auto* key = new (storage) AesGcmKey(raw, CipherImplementation::kIpsecMb);
  ASSERT_TRUE(contains_key());
  key->~AesGcmKey();
  EXPECT_FALSE(contains_key());

  std::fill(std::begin(storage), std::end(storage), 0);
  key = new (storage) AesGcmKey(raw, CipherImplementation::kIpsecMb);
  AesGcmKey moved(std::move(*key));  // the source is wiped too
  EXPECT_FALSE(contains_key());
  key->~AesGcmKey();
}

TEST(AesGcmKey, RefusesKeysOfWrongLength) {
  for (auto implementation : implementations()) {
    gdpr_test::expect_error(gdpr::sqlstate::kInternalError, [implementation] {
      AesGcmKey key(gdpr::SecureBytes(16), implementation);
    });
  }
}

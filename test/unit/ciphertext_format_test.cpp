#include "ciphertext_format.h"

#include "test_helpers.h"

using gdpr::CiphertextLayout;

TEST(CiphertextFormat, HeaderRoundTripsKeyIdAndType) {
  std::vector<std::uint8_t> buf(CiphertextLayout::kOverhead + 5);
  gdpr::write_ciphertext_header(buf.data(), gdpr::PayloadType::kBytes, 0x0102030405060708ULL);
  auto view = gdpr::parse_ciphertext(buf.data(), buf.size());
  EXPECT_EQ(view.key_id, 0x0102030405060708ULL);
  EXPECT_EQ(view.type, gdpr::PayloadType::kBytes);
  EXPECT_EQ(view.body_size, 5u);
  EXPECT_EQ(view.nonce, buf.data() + 10);
  EXPECT_EQ(view.tag, buf.data() + buf.size() - 16);
}

TEST(CiphertextFormat, EveryTruncationIsRejected) {
  std::vector<std::uint8_t> buf(CiphertextLayout::kOverhead);
  gdpr::write_ciphertext_header(buf.data(), gdpr::PayloadType::kText, 1);
  for (std::size_t len = 0; len < CiphertextLayout::kOverhead; ++len) {
    auto e = gdpr_test::expect_error(gdpr::sqlstate::kInvalidBinaryRepresentation,
                                     [&] { gdpr::parse_ciphertext(buf.data(), len); });
    EXPECT_STREQ(e.what(), "ciphertext is truncated");
  }
  EXPECT_NO_THROW(gdpr::parse_ciphertext(buf.data(), buf.size()));
}

TEST(CiphertextFormat, UnknownVersionAndTypeAreRejected) {
  std::vector<std::uint8_t> buf(CiphertextLayout::kOverhead);
  gdpr::write_ciphertext_header(buf.data(), gdpr::PayloadType::kText, 1);
  buf[0] = 2;
  auto e = gdpr_test::expect_error(gdpr::sqlstate::kInvalidBinaryRepresentation,
                                   [&] { gdpr::parse_ciphertext(buf.data(), buf.size()); });
  EXPECT_STREQ(e.what(), "unsupported ciphertext format version 2");
  buf[0] = 1;
  buf[1] = 9;
  gdpr_test::expect_error(gdpr::sqlstate::kInvalidBinaryRepresentation,
                          [&] { gdpr::parse_ciphertext(buf.data(), buf.size()); });
}

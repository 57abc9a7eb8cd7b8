#include "master_key_ring.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "test_helpers.h"

using gdpr::MasterKeyRing;

namespace {
const std::string k1(64, 'a');
const std::string k2 = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

std::string temp_file(const std::string& content, mode_t mode) {
  char path[] = "/tmp/pg_gdpr_unit_keyXXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  ssize_t written = write(fd, content.data(), content.size());
  EXPECT_EQ(written, static_cast<ssize_t>(content.size()));
  close(fd);
  chmod(path, mode);
  return path;
}
}  // namespace

TEST(MasterKeyRing, ParsesVersionsCommentsAndBlankLines) {
  auto ring = MasterKeyRing::parse("# keys\n\n2:" + k2 + "\n 1:" + k1 + " \n", "test");
  EXPECT_EQ(ring.newest_version(), 2u);
  EXPECT_EQ(ring.versions(), (std::vector<std::uint32_t>{1, 2}));
  ASSERT_NE(ring.find(2), nullptr);
  EXPECT_EQ(ring.find(2)->data()[0], 0x00);
  EXPECT_EQ(ring.find(2)->data()[31], 0xff);
  EXPECT_EQ(ring.find(3), nullptr);
}

TEST(MasterKeyRing, MalformedLinesNameTheLineButNeverTheKey) {
  const std::string secret = "1:" + k1.substr(0, 60) + "zzzz";
  struct Case {
    std::string text;
    std::string detail_part;
  } cases[] = {
      {"1" + k1, "no \"<version>:\" prefix"},
      {"0:" + k1, "positive integer"},
      {"x:" + k1, "positive integer"},
      {"1:" + k1.substr(0, 10), "64 hex digits"},
      {secret, "not a hex digit"},
      {"1:" + k1 + "\n1:" + k2, "appears twice"},
  };
  for (const auto& c : cases) {
    auto e = gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError,
                                     [&] { MasterKeyRing::parse(c.text, "test source"); });
    EXPECT_NE(e.detail().find(c.detail_part), std::string::npos) << e.detail();
    const std::string all = std::string(e.what()) + e.detail() + e.hint();
    EXPECT_EQ(all.find(k1.substr(0, 16)), std::string::npos) << "key material leaked";
  }
  auto e = gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError,
                                   [] { MasterKeyRing::parse("1:" + k1 + "\n" + "junk", "f"); });
  EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos);
  gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError,
                          [] { MasterKeyRing::parse("# nothing\n", "f"); });
}

TEST(MasterKeyRing, KeyFileMustBePrivate) {
  auto open_path = temp_file("1:" + k1 + "\n", 0644);
  auto e = gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError,
                                   [&] { MasterKeyRing::from_file(open_path); });
  EXPECT_NE(std::string(e.what()).find("group or world access"), std::string::npos);
  chmod(open_path.c_str(), 0600);
  EXPECT_EQ(MasterKeyRing::from_file(open_path).newest_version(), 1u);
  unlink(open_path.c_str());
  gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError,
                          [&] { MasterKeyRing::from_file(open_path); });
}

TEST(MasterKeyRing, CommandOutputIsParsedAndFailuresReported) {
  auto ring = MasterKeyRing::from_command("printf '1:" + k1 + "\\n3:" + k2 + "\\n'");
  EXPECT_EQ(ring.newest_version(), 3u);
  auto e = gdpr_test::expect_error(gdpr::sqlstate::kConfigFileError,
                                   [] { MasterKeyRing::from_command("exit 3"); });
  EXPECT_NE(e.detail().find("status 3"), std::string::npos);
}

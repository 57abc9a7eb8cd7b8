#include "master_key_ring.h"

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "gdpr_error.h"

namespace gdpr {
namespace {

constexpr const char* kFormatHint =
    "Each line must be \"<version>:<64 hex digits>\", for example "
    "\"1:\" followed by the output of \"openssl rand -hex 32\".";
constexpr std::size_t kMaxKeySourceBytes = 64 * 1024;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  auto begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return {};
  auto end = s.find_last_not_of(ws);
  return s.substr(begin, end - begin + 1);
}

[[noreturn]] void bad_line(const std::string& source, int line, const std::string& why) {
  // Never quote the line itself: it may hold key material.
  throw GdprError(sqlstate::kConfigFileError,
                  "master key from " + source + " is malformed at line " +
                      std::to_string(line),
                  why, kFormatHint);
}

// Wipes the text it holds: it may have carried keys.
struct WipedString {
  std::string text;
  ~WipedString() {
    if (!text.empty()) OPENSSL_cleanse(&text[0], text.size());
  }
};

}  // namespace

MasterKeyRing MasterKeyRing::parse(const std::string& text, const std::string& source) {
  MasterKeyRing ring;
  std::istringstream lines(text);
  WipedString raw;
  int line_no = 0;
  while (std::getline(lines, raw.text)) {
    ++line_no;
    WipedString line{trim(raw.text)};
    if (line.text.empty() || line.text[0] == '#') continue;
    auto colon = line.text.find(':');
    if (colon == std::string::npos || colon == 0) {
      bad_line(source, line_no, "The line has no \"<version>:\" prefix.");
    }
    std::uint64_t version = 0;
    for (std::size_t i = 0; i < colon; ++i) {
      char c = line.text[i];
      if (c < '0' || c > '9' || version > 1000000) {
        bad_line(source, line_no, "The version must be a positive integer up to 1000000.");
      }
      version = version * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (version == 0 || version > 1000000) {
      bad_line(source, line_no, "The version must be a positive integer up to 1000000.");
    }
    WipedString hex{trim(line.text.substr(colon + 1))};
    if (hex.text.size() != 64) {
      bad_line(source, line_no,
               "The key must be 64 hex digits (256 bits); it has " +
                   std::to_string(hex.text.size()) + " characters.");
    }
    SecureBytes key(32);
    for (std::size_t i = 0; i < 32; ++i) {
      int hi = hex_value(hex.text[2 * i]);
      int lo = hex_value(hex.text[2 * i + 1]);
      if (hi < 0 || lo < 0) {
        bad_line(source, line_no, "The key contains a character that is not a hex digit.");
      }
      key.data()[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    auto v = static_cast<std::uint32_t>(version);
    if (ring.keys_.count(v) != 0) {
      bad_line(source, line_no, "Version " + std::to_string(v) + " appears twice.");
    }
    ring.keys_.emplace(v, std::move(key));
  }
  if (ring.keys_.empty()) {
    throw GdprError(sqlstate::kConfigFileError, "master key from " + source + " is empty",
                    "No key line was found.", kFormatHint);
  }
  return ring;
}

MasterKeyRing MasterKeyRing::from_file(const std::string& path) {
  // The path is for the operator's eyes only: callers see the setting's
  // name, the server log also gets the path.
  const std::string source = "pg_gdpr.master_key_file";
  const std::string where = "Master key file: \"" + path + "\".";
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    throw GdprError(sqlstate::kConfigFileError,
                    "could not read the master key file named by pg_gdpr.master_key_file",
                    std::strerror(errno),
                    "Set pg_gdpr.master_key_file to a file the server can read; the server "
                    "log names the file.",
                    where);
  }
  if (!S_ISREG(st.st_mode)) {
    throw GdprError(sqlstate::kConfigFileError,
                    "the master key file named by pg_gdpr.master_key_file is not a regular file",
                    {}, "Set pg_gdpr.master_key_file to a regular file.", where);
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    throw GdprError(sqlstate::kConfigFileError,
                    "the master key file named by pg_gdpr.master_key_file has group or world "
                    "access",
                    "The file's permissions must be u=rw (0600) or less.",
                    "Run chmod 600 on the file, as its owner; the server log names the file.",
                    where);
  }
  if (st.st_size > static_cast<off_t>(kMaxKeySourceBytes)) {
    throw GdprError(sqlstate::kConfigFileError,
                    "the master key file named by pg_gdpr.master_key_file is too large", {},
                    "A key file holds a few short lines, one per key version.", where);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw GdprError(sqlstate::kConfigFileError,
                    "could not open the master key file named by pg_gdpr.master_key_file",
                    std::strerror(errno),
                    "Make the file readable by the operating system user of the server.",
                    where);
  }
  WipedString content;
  content.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return parse(content.text, source);
}

MasterKeyRing MasterKeyRing::from_command(const std::string& command) {
  const std::string source = "pg_gdpr.master_key_command";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    throw GdprError(sqlstate::kConfigFileError, "could not run pg_gdpr.master_key_command",
                    std::strerror(errno), "Check that the command exists and is executable.");
  }
  WipedString output;
  char chunk[512];
  std::size_t got;
  bool too_large = false;
  while ((got = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) {
    if (output.text.size() + got > kMaxKeySourceBytes) {
      too_large = true;
      break;
    }
    output.text.append(chunk, got);
  }
  OPENSSL_cleanse(chunk, sizeof chunk);
  int status = pclose(pipe);
  if (too_large) {
    throw GdprError(sqlstate::kConfigFileError,
                    "pg_gdpr.master_key_command printed too much output", {},
                    "The command must print only key lines.");
  }
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string detail = status == -1                ? std::string("The command could not be waited for.")
                         : WIFEXITED(status)         ? "The command exited with status " +
                                                   std::to_string(WEXITSTATUS(status)) + "."
                                                     : std::string("The command was terminated by a signal.");
    throw GdprError(sqlstate::kConfigFileError, "pg_gdpr.master_key_command failed", detail,
                    "Run the command by hand as the server's operating system user.");
  }
  return parse(output.text, source);
}

std::uint32_t MasterKeyRing::newest_version() const {
  if (keys_.empty()) {
    throw GdprError(sqlstate::kConfigFileError, "no master key is configured");
  }
  return keys_.rbegin()->first;
}

const SecureBytes* MasterKeyRing::find(std::uint32_t version) const {
  auto it = keys_.find(version);
  return it == keys_.end() ? nullptr : &it->second;
}

std::vector<std::uint32_t> MasterKeyRing::versions() const {
  std::vector<std::uint32_t> out;
  for (const auto& entry : keys_) out.push_back(entry.first);
  return out;
}

}  // namespace gdpr

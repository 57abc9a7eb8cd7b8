#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "aes_gcm_key.h"
#include "gdpr_error.h"
#include "secure_bytes.h"

namespace gdpr_test {

inline std::vector<std::uint8_t> hex(const std::string& text) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoul(text.substr(i, 2), nullptr, 16)));
  }
  return out;
}

inline gdpr::SecureBytes key_of(std::uint8_t fill) {
  gdpr::SecureBytes key(32);
  for (std::size_t i = 0; i < 32; ++i) key.data()[i] = static_cast<std::uint8_t>(fill + i);
  return key;
}

// Every AES-GCM implementation this build and processor can run: OpenSSL
// always, ipsec-mb where it is built in and usable.
inline std::vector<gdpr::CipherImplementation> implementations() {
  std::vector<gdpr::CipherImplementation> all{gdpr::CipherImplementation::kOpenSsl};
  if (gdpr::ipsec_mb::available()) all.push_back(gdpr::CipherImplementation::kIpsecMb);
  return all;
}

inline const char* name_of(gdpr::CipherImplementation implementation) {
  return implementation == gdpr::CipherImplementation::kIpsecMb ? "IpsecMb" : "OpenSsl";
}

// Runs fn, expects a GdprError with this SQLSTATE, returns it for more checks.
template <typename Fn>
gdpr::GdprError expect_error(const char* sqlstate, Fn&& fn) {
  try {
    fn();
  } catch (const gdpr::GdprError& e) {
    EXPECT_EQ(e.sqlstate(), sqlstate) << e.what();
    return e;
  }
  ADD_FAILURE() << "expected a GdprError with SQLSTATE " << sqlstate;
  return gdpr::GdprError("00000", "none");
}

}  // namespace gdpr_test

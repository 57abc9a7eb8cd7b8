// SHA-256 of a stream (backup checksums in manifests), owned by RAII.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>

namespace sidecar {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex();  // finishes; call once
 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

std::string to_hex(const unsigned char* data, size_t size);
// SHA-256 of a file's bytes, hex; throws std::runtime_error if unreadable.
std::string sha256_file(const std::string& path, long long* size = nullptr);

}  // namespace sidecar

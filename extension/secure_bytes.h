// Byte buffers for key material: wiped with OPENSSL_cleanse when they are
// dropped or resized, so keys do not linger in freed heap memory.
#pragma once

#ifdef POSTGRES_H
#error "secure_bytes.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gdpr {

class SecureBytes {
 public:
  SecureBytes() = default;
  explicit SecureBytes(std::size_t size) : bytes_(size) {}
  SecureBytes(const std::uint8_t* data, std::size_t size) : bytes_(data, data + size) {}
  SecureBytes(const SecureBytes&) = default;
  SecureBytes& operator=(const SecureBytes& other) {
    if (this != &other) {
      wipe();
      bytes_ = other.bytes_;
    }
    return *this;
  }
  SecureBytes(SecureBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {}
  SecureBytes& operator=(SecureBytes&& other) noexcept {
    if (this != &other) {
      wipe();
      bytes_ = std::move(other.bytes_);
    }
    return *this;
  }
  ~SecureBytes() { wipe(); }

  std::uint8_t* data() noexcept { return bytes_.data(); }
  const std::uint8_t* data() const noexcept { return bytes_.data(); }
  std::size_t size() const noexcept { return bytes_.size(); }
  bool empty() const noexcept { return bytes_.empty(); }
  bool operator==(const SecureBytes& other) const { return bytes_ == other.bytes_; }

 private:
  void wipe() noexcept {
    if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  }
  std::vector<std::uint8_t> bytes_;
};

}  // namespace gdpr

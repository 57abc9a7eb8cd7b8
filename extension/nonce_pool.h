// Random GCM nonces drawn from a bulk buffer. One RAND_bytes call per value
// costs more than the whole encryption, so 4 KB are drawn at once and handed
// out 12 bytes at a time. A fork (the postmaster starting a backend) empties
// every pool, so two backends can never hand out the same inherited bytes.
#pragma once

#ifdef POSTGRES_H
#error "nonce_pool.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>

namespace gdpr {

class NoncePool {
 public:
  static constexpr std::size_t kNonceSize = 12;
  static constexpr std::size_t kBufferSize = 4092;  // a multiple of kNonceSize

  NoncePool();
  ~NoncePool();
  NoncePool(const NoncePool&) = delete;
  NoncePool& operator=(const NoncePool&) = delete;

  void next(std::uint8_t* nonce);

  // How often the pool drew from OpenSSL; lets tests see a fork empty it.
  std::uint64_t refills() const noexcept { return refills_; }

 private:
  void refill();

  std::uint8_t buffer_[kBufferSize];
  std::size_t used_ = kBufferSize;
  std::uint64_t fork_generation_ = 0;
  std::uint64_t refills_ = 0;
};

}  // namespace gdpr

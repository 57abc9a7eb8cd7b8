#include "nonce_pool.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "gdpr_error.h"

namespace gdpr {
namespace {

std::atomic<std::uint64_t> g_fork_generation{1};

void on_fork_child() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

void register_fork_handler() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, on_fork_child); });
}

}  // namespace

NoncePool::NoncePool() { register_fork_handler(); }

NoncePool::~NoncePool() { OPENSSL_cleanse(buffer_, sizeof buffer_); }

void NoncePool::refill() {
  if (RAND_bytes(buffer_, static_cast<int>(sizeof buffer_)) != 1) {
    throw GdprError(sqlstate::kInternalError, "OpenSSL could not generate random nonces",
                    {}, "Check that the operating system's random source is available.");
  }
  used_ = 0;
  fork_generation_ = g_fork_generation.load(std::memory_order_relaxed);
  ++refills_;
}

void NoncePool::next(std::uint8_t* nonce) {
  if (used_ + kNonceSize > kBufferSize ||
      fork_generation_ != g_fork_generation.load(std::memory_order_relaxed)) {
    refill();
  }
  std::memcpy(nonce, buffer_ + used_, kNonceSize);
  // Wipe what was handed out, so a later fork cannot see it either.
  std::memset(buffer_ + used_, 0, kNonceSize);
  used_ += kNonceSize;
}

}  // namespace gdpr

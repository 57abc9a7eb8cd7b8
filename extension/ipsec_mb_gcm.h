// AES-256-GCM through Intel's ipsec-mb library: about 40 ns per short value
// instead of OpenSSL EVP's ~300 ns, because a key's whole state (round keys
// and GHASH powers, ~1 KB) is precomputed once and each value is one direct
// call, with no parameter lookups. ipsec-mb picks its AVX-512, AVX2, AVX or
// SSE code at run time.
//
// Built in only where the header exists (x86-64; the build defines
// PG_GDPR_WITH_IPSEC_MB); elsewhere available() is false and the callers use
// OpenSSL. ipsec-mb computes the tag of a decryption but does not check it:
// open() compares it in constant time.
#pragma once

#ifdef POSTGRES_H
#error "ipsec_mb_gcm.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>

namespace gdpr {
namespace ipsec_mb {

// Size and alignment of a precomputed key (struct gcm_key_data).
inline constexpr std::size_t kKeyStateSize = 1024;
inline constexpr std::size_t kKeyStateAlign = 64;

// True when the library is built in and this processor has the AES and
// carry-less multiply instructions its fast paths need. Decided once.
bool available() noexcept;

// "ipsec-mb 1.3.0 (avx2)", or why it is not used.
const char* description() noexcept;

// The following require available(). state is kKeyStateSize bytes aligned
// to kKeyStateAlign; it holds key material and must be wiped after use.
void precompute(const std::uint8_t* key32, void* state) noexcept;

void seal(const void* state, const std::uint8_t* nonce12, const std::uint8_t* aad,
          std::size_t aad_len, const std::uint8_t* in, std::size_t len, std::uint8_t* out,
          std::uint8_t* tag16) noexcept;

// False when the tag does not match; out is wiped then.
bool open(const void* state, const std::uint8_t* nonce12, const std::uint8_t* aad,
          std::size_t aad_len, const std::uint8_t* in, std::size_t len, std::uint8_t* out,
          const std::uint8_t* tag16) noexcept;

}  // namespace ipsec_mb
}  // namespace gdpr

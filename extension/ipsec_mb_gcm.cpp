#include "ipsec_mb_gcm.h"

#include <openssl/crypto.h>

#include <cstdio>
#include <cstring>

#ifdef PG_GDPR_WITH_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

namespace gdpr {
namespace ipsec_mb {

#ifdef PG_GDPR_WITH_IPSEC_MB

// The header aligns gcm_key_data to 64 bytes only when LINUX is defined (the
// library's own build does); our storage is aligned either way.
static_assert(sizeof(gcm_key_data) <= kKeyStateSize, "gcm_key_data outgrew its storage");

namespace {

// The library's entry points for this processor, looked up once. The
// manager (~200 KB) is only needed to find them: the direct GCM functions
// take the key and context as arguments, so it is freed right away.
struct Entry {
  bool usable = false;
  aes_gcm_pre_t pre = nullptr;
  aes_gcm_enc_dec_t enc = nullptr;
  aes_gcm_enc_dec_t dec = nullptr;
  char description[96] = "";
};

const char* arch_name(IMB_ARCH arch) {
  switch (arch) {
    case IMB_ARCH_SSE: return "sse";
    case IMB_ARCH_AVX: return "avx";
    case IMB_ARCH_AVX2: return "avx2";
    case IMB_ARCH_AVX512: return "avx512";
    default: return "none";
  }
}

// Any non-null pointers for empty inputs and outputs: the library checks
// its arguments, and writes nothing for an empty value.
const std::uint8_t kNothing[16] = {};
std::uint8_t g_no_output[16];

// NIST GCM test case 14 (AES-256, zero key, zero IV, one zero block): run
// once so that a broken build or processor path falls back to OpenSSL
// instead of writing ciphertext nobody can read.
bool passes_known_answer(const Entry& entry) {
  alignas(kKeyStateAlign) gcm_key_data key;
  const std::uint8_t zero[32] = {};
  const std::uint8_t expect_ct[16] = {0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e,
                                      0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18};
  const std::uint8_t expect_tag[16] = {0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0,
                                       0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19};
  std::uint8_t ct[16], tag[16], back[16], back_tag[16];
  gcm_context_data ctx;
  entry.pre(zero, &key);
  entry.enc(&key, &ctx, ct, zero, sizeof ct, zero, kNothing, 0, tag, sizeof tag);
  entry.dec(&key, &ctx, back, ct, sizeof ct, zero, kNothing, 0, back_tag, sizeof back_tag);
  const bool ok = std::memcmp(ct, expect_ct, 16) == 0 && std::memcmp(tag, expect_tag, 16) == 0 &&
                  std::memcmp(back, zero, 16) == 0 && std::memcmp(back_tag, expect_tag, 16) == 0;
  OPENSSL_cleanse(&key, sizeof key);
  return ok;
}

Entry detect() noexcept {
  Entry entry;
  IMB_MGR* mgr = alloc_mb_mgr(0);
  if (mgr == nullptr) {
    std::snprintf(entry.description, sizeof entry.description,
                  "ipsec-mb %s: could not allocate its manager", imb_get_version_str());
    return entry;
  }
  IMB_ARCH arch = IMB_ARCH_NONE;
  init_mb_mgr_auto(mgr, &arch);
  const std::uint64_t needed = IMB_FEATURE_AESNI | IMB_FEATURE_PCLMULQDQ;
  if (imb_get_errno(mgr) != 0 || arch < IMB_ARCH_SSE || (mgr->features & needed) != needed) {
    std::snprintf(entry.description, sizeof entry.description,
                  "ipsec-mb %s: this processor lacks AES-NI or PCLMULQDQ",
                  imb_get_version_str());
    free_mb_mgr(mgr);
    return entry;
  }
  entry.pre = mgr->gcm256_pre;
  entry.enc = mgr->gcm256_enc;
  entry.dec = mgr->gcm256_dec;
  if (!passes_known_answer(entry)) {
    std::snprintf(entry.description, sizeof entry.description,
                  "ipsec-mb %s (%s): failed its known-answer test", imb_get_version_str(),
                  arch_name(arch));
    entry.pre = nullptr;
    entry.enc = entry.dec = nullptr;
    free_mb_mgr(mgr);
    return entry;
  }
  entry.usable = true;
  std::snprintf(entry.description, sizeof entry.description, "ipsec-mb %s (%s)",
                imb_get_version_str(), arch_name(arch));
  free_mb_mgr(mgr);
  return entry;
}

const Entry& entry() noexcept {
  static const Entry detected = detect();
  return detected;
}

// Filled by available(); the per-value calls read these without a guard.
aes_gcm_enc_dec_t g_enc = nullptr;
aes_gcm_enc_dec_t g_dec = nullptr;

}  // namespace

bool available() noexcept {
  const Entry& e = entry();
  if (e.usable) {
    g_enc = e.enc;
    g_dec = e.dec;
  }
  return e.usable;
}

const char* description() noexcept { return entry().description; }

void precompute(const std::uint8_t* key32, void* state) noexcept {
  entry().pre(key32, static_cast<gcm_key_data*>(state));
}

void seal(const void* state, const std::uint8_t* nonce12, const std::uint8_t* aad,
          std::size_t aad_len, const std::uint8_t* in, std::size_t len, std::uint8_t* out,
          std::uint8_t* tag16) noexcept {
  gcm_context_data ctx;
  g_enc(static_cast<const gcm_key_data*>(state), &ctx, len ? out : g_no_output,
        len ? in : kNothing, len, nonce12, aad_len ? aad : kNothing, aad_len, tag16, 16);
}

bool open(const void* state, const std::uint8_t* nonce12, const std::uint8_t* aad,
          std::size_t aad_len, const std::uint8_t* in, std::size_t len, std::uint8_t* out,
          const std::uint8_t* tag16) noexcept {
  gcm_context_data ctx;
  std::uint8_t computed[16];
  g_dec(static_cast<const gcm_key_data*>(state), &ctx, len ? out : g_no_output,
        len ? in : kNothing, len, nonce12, aad_len ? aad : kNothing, aad_len, computed, 16);
  // The library leaves the check to us; a constant-time compare does not
  // tell an attacker how many leading tag bytes were right.
  const bool authentic = CRYPTO_memcmp(computed, tag16, sizeof computed) == 0;
  if (!authentic && len > 0) OPENSSL_cleanse(out, len);
  return authentic;
}

#else  // built without ipsec-mb: OpenSSL does all the work

bool available() noexcept { return false; }

const char* description() noexcept { return "ipsec-mb: not built in"; }

void precompute(const std::uint8_t*, void*) noexcept {}

void seal(const void*, const std::uint8_t*, const std::uint8_t*, std::size_t,
          const std::uint8_t*, std::size_t, std::uint8_t*, std::uint8_t*) noexcept {}

bool open(const void*, const std::uint8_t*, const std::uint8_t*, std::size_t,
          const std::uint8_t*, std::size_t, std::uint8_t*, const std::uint8_t*) noexcept {
  return false;
}

#endif

}  // namespace ipsec_mb
}  // namespace gdpr

#include <string>

#include "aes_gcm_key.h"

extern "C" {
#include "postgres.h"

#include "utils/guc.h"
}

#include "settings.h"

namespace gdpr {
namespace settings {

char* master_key_file = nullptr;
char* master_key_command = nullptr;
bool strict_decrypt = false;
int key_cache_size = 16384;
int cipher_implementation = kCipherAuto;
bool key_source_changed = true;

namespace {
void on_key_source_change(const char*, void*) { key_source_changed = true; }

const config_enum_entry kCipherImplementations[] = {
    {"auto", kCipherAuto, false}, {"openssl", kCipherOpenSsl, false}, {nullptr, 0, false}};

void on_cipher_implementation_change(int value, void*) {
  gdpr::AesGcmKey::force_openssl(value == kCipherOpenSsl);
}

// SHOW pg_gdpr.cipher_in_use: what this session's new keys use, and why.
const char* show_cipher_in_use() {
  static char text[160];
  try {
    strlcpy(text, gdpr::AesGcmKey::describe_preferred().c_str(), sizeof text);
  } catch (...) {
    strlcpy(text, "unknown", sizeof text);
  }
  return text;
}

char* cipher_in_use_placeholder = nullptr;
}  // namespace

void define() {
  // Superuser-only: the command may carry a secret, and the file path tells
  // an attacker where to look.
  DefineCustomStringVariable(
      "pg_gdpr.master_key_file",
      "File holding the pg_gdpr master keys, one \"<version>:<64 hex digits>\" per line.",
      "Must be readable by the server's operating system user only (mode 0600).",
      &master_key_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, on_key_source_change,
      nullptr);
  DefineCustomStringVariable(
      "pg_gdpr.master_key_command",
      "Shell command printing the pg_gdpr master keys, one \"<version>:<64 hex digits>\" per "
      "line.",
      "Used instead of pg_gdpr.master_key_file, for example to fetch keys from a vault.",
      &master_key_command, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr,
      on_key_source_change, nullptr);
  DefineCustomBoolVariable(
      "pg_gdpr.strict_decrypt",
      "Raise an error instead of returning NULL when decrypting data of an erased subject.",
      nullptr, &strict_decrypt, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "pg_gdpr.key_cache_size",
      "Number of unwrapped data keys each session keeps ready.", nullptr, &key_cache_size,
      16384, 1, 1000000, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  // Per session: a key keeps the implementation it was made with, and a
  // session's cached keys must not mix. Both write the same ciphertext.
  DefineCustomEnumVariable(
      "pg_gdpr.cipher_implementation",
      "Library that seals and opens values: auto (Intel ipsec-mb where the processor "
      "supports it, else OpenSSL) or openssl.",
      "Read when a session starts. Both produce the same ciphertext format.",
      &cipher_implementation, kCipherAuto, kCipherImplementations, PGC_BACKEND, 0, nullptr,
      on_cipher_implementation_change, nullptr);
  DefineCustomStringVariable(
      "pg_gdpr.cipher_in_use", "Library this session seals and opens values with.", nullptr,
      &cipher_in_use_placeholder, "", PGC_INTERNAL,
      GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE | GUC_NO_RESET_ALL, nullptr, nullptr,
      show_cipher_in_use);
  MarkGUCPrefixReserved("pg_gdpr");
}

}  // namespace settings
}  // namespace gdpr

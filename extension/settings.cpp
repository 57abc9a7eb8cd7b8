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
bool key_source_changed = true;

namespace {
void on_key_source_change(const char*, void*) { key_source_changed = true; }
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
  MarkGUCPrefixReserved("pg_gdpr");
}

}  // namespace settings
}  // namespace gdpr

// pg_gdpr's configuration parameters (GUCs), all under the pg_gdpr. prefix.
#pragma once

namespace gdpr {
namespace settings {

extern char* master_key_file;     // pg_gdpr.master_key_file
extern char* master_key_command;  // pg_gdpr.master_key_command
extern bool strict_decrypt;       // pg_gdpr.strict_decrypt
extern int key_cache_size;        // pg_gdpr.key_cache_size
enum CipherImplementationSetting { kCipherAuto = 0, kCipherOpenSsl = 1 };
extern int cipher_implementation;  // pg_gdpr.cipher_implementation

// Set when either key source setting changes; the key store then reloads.
extern bool key_source_changed;

void define();

}  // namespace settings
}  // namespace gdpr

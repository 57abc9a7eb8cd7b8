// The encrypted backup format: AES-256-GCM in authenticated chunks, so a
// dump of any size is encrypted and checked in constant memory.
//
//   header:  "PGGDPRBK" | version (1) | 0 | chunk size (u32 BE) | key id (8) | salt (32)
//   chunk:   plaintext length (u32 BE) | final flag (1) | ciphertext | GCM tag (16)
//
// Each file has its own key, HKDF-SHA256(backup key, salt, "pg_gdpr backup
// v1"); chunk i uses nonce 0^4 || i (u64 BE) and authenticates the header,
// i and the final flag, so a changed, reordered, dropped or appended chunk,
// a truncated file or another key is an error, never garbage. The last
// chunk carries the final flag (it may be empty).
#pragma once

#include <array>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

namespace sidecar {

constexpr size_t kBackupChunk = 1 << 20;

struct BackupKey {
  std::array<unsigned char, 32> bytes{};
  std::string id;  // 16 hex digits, names the key in manifests (not secret)
};

// From 64 hex digits (surrounding whitespace ignored); throws std::runtime_error.
BackupKey backup_key_from_hex(const std::string& hex);

class CipherError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Encrypts a stream: header() first, then seal() for each chunk of at most
// kBackupChunk bytes, the last one with final = true.
class ChunkSealer {
 public:
  explicit ChunkSealer(const BackupKey& key);
  ~ChunkSealer();
  const std::string& header() const { return header_; }
  std::string seal(const char* data, size_t size, bool final);

 private:
  std::string header_;
  std::array<unsigned char, 32> file_key_{};
  unsigned long long index_ = 0;
};

// Reads an encrypted file and hands each authenticated plaintext chunk to
// sink (which may be empty, to only verify). Throws CipherError naming
// what is wrong: not a backup, another key, tampered or truncated.
// bytes_read: the file's size; sha256: its checksum (hex).
void open_backup_file(const BackupKey& key, const std::string& path,
                      const std::function<void(const char*, size_t)>& sink, std::string* sha256 = nullptr,
                      long long* bytes_read = nullptr);

// Reads only the key id of an encrypted file's header.
std::string backup_file_key_id(const std::string& path);

}  // namespace sidecar

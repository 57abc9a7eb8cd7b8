#include "backup_cipher.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <vector>

#include "digest.h"

namespace sidecar {

namespace {

constexpr char kMagic[8] = {'P', 'G', 'G', 'D', 'P', 'R', 'B', 'K'};
constexpr size_t kHeaderSize = 8 + 1 + 1 + 4 + 8 + 32;
constexpr size_t kTag = 16;
constexpr const char* kInfo = "pg_gdpr backup v1";

void put_u32(std::string& out, unsigned v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
unsigned get_u32(const unsigned char* p) {
  return (unsigned(p[0]) << 24) | (unsigned(p[1]) << 16) | (unsigned(p[2]) << 8) | unsigned(p[3]);
}
void put_u64(unsigned char* out, unsigned long long v) {
  for (int i = 7; i >= 0; i--) {
    out[i] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
}

std::array<unsigned char, 32> derive_file_key(const BackupKey& key, const unsigned char* salt) {
  std::array<unsigned char, 32> out{};
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr), &EVP_KDF_free);
  if (!kdf) throw CipherError("HKDF is not available in this OpenSSL");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()), &EVP_KDF_CTX_free);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(key.bytes.data()), 32),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<unsigned char*>(salt), 32),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(kInfo), std::strlen(kInfo)),
      OSSL_PARAM_construct_end()};
  if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) throw CipherError("HKDF failed");
  return out;
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

void chunk_nonce_and_aad(const std::string& header, unsigned long long index, bool final, unsigned char* nonce,
                         std::string& aad) {
  std::memset(nonce, 0, 12);
  put_u64(nonce + 4, index);
  aad = header;
  unsigned char tail[9];
  put_u64(tail, index);
  tail[8] = final ? 1 : 0;
  aad.append(reinterpret_cast<char*>(tail), 9);
}

}  // namespace

BackupKey backup_key_from_hex(const std::string& text) {
  std::string hex;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) hex += c;
  }
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    throw std::runtime_error("the backup key must be 64 hexadecimal digits (32 bytes), e.g. from openssl rand -hex 32");
  }
  BackupKey key;
  for (size_t i = 0; i < 32; i++) key.bytes[i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  Sha256 sha;
  const char label[] = "pg_gdpr backup key id";
  sha.update(label, sizeof label);
  sha.update(key.bytes.data(), key.bytes.size());
  key.id = sha.hex().substr(0, 16);
  return key;
}

ChunkSealer::ChunkSealer(const BackupKey& key) {
  unsigned char salt[32];
  if (RAND_bytes(salt, sizeof salt) != 1) throw CipherError("no random bytes for the backup's salt");
  header_.assign(kMagic, 8);
  header_ += static_cast<char>(1);
  header_ += static_cast<char>(0);
  put_u32(header_, static_cast<unsigned>(kBackupChunk));
  for (size_t i = 0; i < 8; i++) header_ += static_cast<char>(std::stoi(key.id.substr(2 * i, 2), nullptr, 16));
  header_.append(reinterpret_cast<char*>(salt), 32);
  file_key_ = derive_file_key(key, salt);
}

ChunkSealer::~ChunkSealer() { OPENSSL_cleanse(file_key_.data(), file_key_.size()); }

std::string ChunkSealer::seal(const char* data, size_t size, bool final) {
  if (size > kBackupChunk) throw CipherError("backup chunk too large");
  unsigned char nonce[12];
  std::string aad;
  chunk_nonce_and_aad(header_, index_++, final, nonce, aad);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string out;
  put_u32(out, static_cast<unsigned>(size));
  out += static_cast<char>(final ? 1 : 0);
  size_t offset = out.size();
  out.resize(offset + size + kTag);
  auto* dst = reinterpret_cast<unsigned char*>(&out[offset]);
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, file_key_.data(), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      (size > 0 && EVP_EncryptUpdate(ctx.get(), dst, &len, reinterpret_cast<const unsigned char*>(data),
                                     static_cast<int>(size)) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), dst + size, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, dst + size) != 1) {
    throw CipherError("AES-256-GCM encryption failed");
  }
  return out;
}

std::string backup_file_key_id(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw CipherError("cannot read " + path);
  unsigned char header[kHeaderSize];
  if (std::fread(header, 1, kHeaderSize, file.get()) != kHeaderSize || std::memcmp(header, kMagic, 8) != 0) {
    throw CipherError(path + " is not a pg_gdpr backup");
  }
  return to_hex(header + 14, 8);
}

void open_backup_file(const BackupKey& key, const std::string& path,
                      const std::function<void(const char*, size_t)>& sink, std::string* sha256,
                      long long* bytes_read) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw CipherError("cannot read " + path);
  Sha256 sha;
  long long total = 0;
  auto read_exact = [&](void* buffer, size_t size) {
    size_t n = std::fread(buffer, 1, size, file.get());
    sha.update(buffer, n);
    total += static_cast<long long>(n);
    return n == size;
  };
  unsigned char raw_header[kHeaderSize];
  if (!read_exact(raw_header, kHeaderSize) || std::memcmp(raw_header, kMagic, 8) != 0) {
    throw CipherError(path + " is not a pg_gdpr backup (bad header)");
  }
  if (raw_header[8] != 1) throw CipherError(path + ": unknown backup format version " + std::to_string(raw_header[8]));
  std::string file_key_id = to_hex(raw_header + 14, 8);
  if (file_key_id != key.id) {
    throw CipherError(path + " was encrypted with backup key " + file_key_id + ", not with the configured key " + key.id);
  }
  std::string header(reinterpret_cast<char*>(raw_header), kHeaderSize);
  std::array<unsigned char, 32> file_key = derive_file_key(key, raw_header + 22);
  std::vector<unsigned char> ciphertext(kBackupChunk + kTag);
  std::vector<unsigned char> plaintext(kBackupChunk + 16);
  unsigned long long index = 0;
  bool final = false;
  while (!final) {
    unsigned char prefix[5];
    if (!read_exact(prefix, 5)) {
      OPENSSL_cleanse(file_key.data(), file_key.size());
      throw CipherError(path + " is truncated: its last chunk is missing");
    }
    size_t size = get_u32(prefix);
    final = prefix[4] == 1;
    if (size > kBackupChunk || prefix[4] > 1) {
      OPENSSL_cleanse(file_key.data(), file_key.size());
      throw CipherError(path + " is damaged: chunk " + std::to_string(index) + " has an impossible length");
    }
    if (!read_exact(ciphertext.data(), size + kTag)) {
      OPENSSL_cleanse(file_key.data(), file_key.size());
      throw CipherError(path + " is truncated in chunk " + std::to_string(index));
    }
    unsigned char nonce[12];
    std::string aad;
    chunk_nonce_and_aad(header, index, final, nonce, aad);
    CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    int len = 0;
    bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, file_key.data(), nonce) == 1 &&
              EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                                static_cast<int>(aad.size())) == 1 &&
              (size == 0 || EVP_DecryptUpdate(ctx.get(), plaintext.data(), &len, ciphertext.data(),
                                              static_cast<int>(size)) == 1) &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, ciphertext.data() + size) == 1 &&
              EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + size, &len) == 1;
    if (!ok) {
      OPENSSL_cleanse(file_key.data(), file_key.size());
      throw CipherError(path + " failed authentication in chunk " + std::to_string(index) +
                        ": it was altered, or is not this key's");
    }
    if (sink && size > 0) sink(reinterpret_cast<const char*>(plaintext.data()), size);
    index++;
  }
  OPENSSL_cleanse(file_key.data(), file_key.size());
  unsigned char extra;
  if (std::fread(&extra, 1, 1, file.get()) == 1) throw CipherError(path + " has data after its last chunk");
  if (sha256) *sha256 = sha.hex();
  if (bytes_read) *bytes_read = total;
}

}  // namespace sidecar

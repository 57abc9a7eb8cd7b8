#include "key_backup_format.h"

#include <cstring>

#include "gdpr_error.h"

namespace gdpr {
namespace {

constexpr char kMagic[8] = {'P', 'G', 'G', 'D', 'P', 'R', 'K', '1'};
constexpr std::size_t kHeaderSize = sizeof kMagic + InstallationKeys::kIdSize;

GdprError not_a_backup(const std::string& why) {
  return GdprError(sqlstate::kInvalidBinaryRepresentation, "key backup is not intact: " + why,
                   "A key backup is sealed with a key derived from the master key; nothing "
                   "was restored.",
                   "Restore an unaltered backup written by gdpr_key_backup() in this "
                   "database or a restored copy of it.");
}

class Writer {
 public:
  void u8s(const std::uint8_t* data, std::size_t size) { out_.insert(out_.end(), data, data + size); }
  void u32(std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out_.push_back(static_cast<std::uint8_t>(v >> s));
  }
  void u64(std::uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) out_.push_back(static_cast<std::uint8_t>(v >> s));
  }
  void bytes(const std::uint8_t* data, std::size_t size) {
    u32(static_cast<std::uint32_t>(size));
    u8s(data, size);
  }
  void text(const std::string& s) { bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }
  std::vector<std::uint8_t>& out() { return out_; }

 private:
  std::vector<std::uint8_t> out_;
};

class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  const std::uint8_t* take(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) throw not_a_backup("it is truncated");
    const std::uint8_t* at = p_;
    p_ += n;
    return at;
  }
  std::uint32_t u32() {
    const std::uint8_t* b = take(4);
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  }
  std::uint64_t u64() { return (std::uint64_t{u32()} << 32) | u32(); }
  std::vector<std::uint8_t> bytes() {
    const std::uint32_t n = u32();
    const std::uint8_t* b = take(n);
    return std::vector<std::uint8_t>(b, b + n);
  }
  std::string text() {
    auto b = bytes();
    return std::string(b.begin(), b.end());
  }
  bool done() const noexcept { return p_ == end_; }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

}  // namespace

std::vector<std::uint8_t> encode_key_backup(const KeyBackup& backup, const InstallationKeys& keys) {
  Writer w;
  w.u8s(reinterpret_cast<const std::uint8_t*>(kMagic), sizeof kMagic);
  w.u8s(keys.installation_id().data(), keys.installation_id().size());
  w.u64(backup.last_key_id);
  w.u64(backup.keys.size());
  for (const auto& k : backup.keys) {
    w.u64(k.key_id);
    w.bytes(k.subject_address.data(), k.subject_address.size());
    w.text(k.key_class);
    w.u32(k.kek_version);
    w.bytes(k.wrapped.data(), k.wrapped.size());
    w.text(k.created_at);
    w.text(k.shredded_at);
  }
  const Digest seal = keys.backup_seal(w.out().data(), w.out().size());
  w.u8s(seal.data(), seal.size());
  return std::move(w.out());
}

KeyBackupHeader peek_key_backup(const std::uint8_t* data, std::size_t size) {
  if (size < kHeaderSize + InstallationKeys::kDigestSize ||
      std::memcmp(data, kMagic, sizeof kMagic) != 0) {
    throw GdprError(sqlstate::kInvalidBinaryRepresentation, "value is not a pg_gdpr key backup",
                    {}, "Pass the bytes returned by gdpr_key_backup().");
  }
  Reader r(data + sizeof kMagic, size - sizeof kMagic);
  const std::uint8_t* id = r.take(InstallationKeys::kIdSize);
  KeyBackupHeader header;
  header.installation_id.assign(id, id + InstallationKeys::kIdSize);
  return header;
}

KeyBackup decode_key_backup(const std::uint8_t* data, std::size_t size,
                            const InstallationKeys& keys) {
  const KeyBackupHeader header = peek_key_backup(data, size);
  const std::size_t body = size - InstallationKeys::kDigestSize;
  const Digest seal = keys.backup_seal(data, body);
  if (header.installation_id != keys.installation_id() ||
      !digests_equal(seal.data(), data + body, seal.size())) {
    throw not_a_backup("its seal does not match");
  }
  Reader r(data + kHeaderSize, body - kHeaderSize);
  KeyBackup backup;
  backup.installation_id = header.installation_id;
  backup.last_key_id = r.u64();
  const std::uint64_t count = r.u64();
  for (std::uint64_t i = 0; i < count; ++i) {
    BackedUpKey k;
    k.key_id = r.u64();
    k.subject_address = r.bytes();
    k.key_class = r.text();
    k.kek_version = r.u32();
    k.wrapped = r.bytes();
    k.created_at = r.text();
    k.shredded_at = r.text();
    backup.keys.push_back(std::move(k));
  }
  if (!r.done()) throw not_a_backup("it has trailing bytes");
  return backup;
}

}  // namespace gdpr

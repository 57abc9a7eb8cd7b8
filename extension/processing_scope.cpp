#include "processing_scope.h"

namespace gdpr {

void ProcessingScope::add(std::int64_t subject, bool allowed) {
  if ((int_count_ + 1) * 2 > int_slots_.size()) grow();
  const std::uint8_t state = allowed ? kAllowed : kBlocked;
  for (std::size_t slot = slot_of(subject);; slot = (slot + 1) & mask_) {
    IntEntry& entry = int_slots_[slot];
    if (entry.state == kEmpty) {
      entry = IntEntry{subject, state};
      ++int_count_;
      return;
    }
    if (entry.subject == subject) {
      entry.state = state;
      return;
    }
  }
}

// Doubles the table (at most half full keeps linear probes short).
void ProcessingScope::grow() {
  std::vector<IntEntry> old = std::move(int_slots_);
  const std::size_t size = old.empty() ? 64 : old.size() * 2;
  int_slots_.assign(size, IntEntry{0, kEmpty});
  mask_ = size - 1;
  shift_ = 64;
  for (std::size_t n = size; n > 1; n >>= 1) --shift_;
  int_count_ = 0;
  for (const IntEntry& entry : old) {
    if (entry.state != kEmpty) add(entry.subject, entry.state == kAllowed);
  }
}

void ProcessingScope::reset() {
  loaded_ = false;
  probes_ = 0;
  int_slots_.clear();
  int_count_ = 0;
  mask_ = 0;
  shift_ = 64;
  has_bits_.clear();
  allowed_bits_.clear();
  bit_range_ = 0;
  texts_.clear();
}

void ProcessingScope::mark_loaded() {
  loaded_ = true;
  if (int_count_ == 0) return;
  std::int64_t lowest = 0, highest = 0;
  bool first = true;
  for (const IntEntry& entry : int_slots_) {
    if (entry.state == kEmpty) continue;
    if (first || entry.subject < lowest) lowest = entry.subject;
    if (first || entry.subject > highest) highest = entry.subject;
    first = false;
  }
  // Two bits per id in the range: worth it up to 2 x 4 MiB, and while the
  // range is not much sparser than the table itself.
  const std::uint64_t range = static_cast<std::uint64_t>(highest) - static_cast<std::uint64_t>(lowest) + 1;
  constexpr std::uint64_t kMaxBits = std::uint64_t{32} << 20;
  if (range == 0 || range > kMaxBits || range > 256 * static_cast<std::uint64_t>(int_slots_.size())) return;
  lowest_ = lowest;
  bit_range_ = range;
  has_bits_.assign((range + 63) / 64, 0);
  allowed_bits_.assign((range + 63) / 64, 0);
  for (const IntEntry& entry : int_slots_) {
    if (entry.state == kEmpty) continue;
    const std::uint64_t offset = static_cast<std::uint64_t>(entry.subject) - static_cast<std::uint64_t>(lowest);
    has_bits_[offset >> 6] |= std::uint64_t{1} << (offset & 63);
    if (entry.state == kAllowed) allowed_bits_[offset >> 6] |= std::uint64_t{1} << (offset & 63);
  }
}

}  // namespace gdpr

// What a consent-aware view asks for every row: may this subject be
// processed for this purpose now? One ProcessingScope answers it for one
// (kind, purpose) during one execution of one query, from the entries of
// gdpr.processing_state that the query's snapshot sees.
//
// A lookup through a view reads a handful of rows and should cost one
// index probe each; a full scan reads millions and should cost one load of
// the scope's entries (tens of thousands at most) plus a hash probe per
// row. The scope starts by probing and switches to loading once it has
// probed more than the load would cost (see should_load), so neither kind
// of query pays for the other's strategy.
#pragma once

#ifdef POSTGRES_H
#error "processing_scope.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace gdpr {

class ProcessingScope {
 public:
  // needs_consent: the purpose's lawful basis is consent, so a subject
  // without an entry may not be processed; for any other basis a subject
  // without an entry may be.
  explicit ProcessingScope(bool needs_consent) : needs_consent_(needs_consent) {}

  // The rule, given what the state says of one subject: an entry decides
  // (allowed or blocked); no entry means the purpose's default.
  bool decide(bool has_entry, bool allowed) const noexcept {
    return has_entry ? allowed : !needs_consent_;
  }

  // Counts a probe; true when the probes so far cost more than loading
  // every entry of the scope would (one probe descends an index, about as
  // dear as reading kProbeCostInEntries entries in order).
  bool should_load(double estimated_entries) noexcept {
    ++probes_;
    return static_cast<double>(probes_) * kProbeCostInEntries >
           (estimated_entries < kMinEntries ? kMinEntries : estimated_entries);
  }

  bool loaded() const noexcept { return loaded_; }

  // Forgets what was loaded and probed: the next answers come from a new
  // snapshot.
  void reset();
  // Called once every entry is added: dense integer ids (the usual serial
  // keys) get a bitmap, which stays in the processor's cache where even a
  // flat hash table of a few thousand entries does not.
  void mark_loaded();

  void add(std::int64_t subject, bool allowed);
  void add(std::string subject, bool allowed) { texts_[std::move(subject)] = allowed; }

  // After loading: the answer for one subject.
  bool may_process(std::int64_t subject) const noexcept {
    if (int_count_ == 0) return decide(false, false);
    if (!has_bits_.empty()) {
      const std::uint64_t offset = static_cast<std::uint64_t>(subject) - static_cast<std::uint64_t>(lowest_);
      if (offset >= bit_range_) return decide(false, false);
      const std::uint64_t bit = std::uint64_t{1} << (offset & 63);
      if ((has_bits_[offset >> 6] & bit) == 0) return decide(false, false);
      return decide(true, (allowed_bits_[offset >> 6] & bit) != 0);
    }
    for (std::size_t slot = slot_of(subject);; slot = (slot + 1) & mask_) {
      const IntEntry& entry = int_slots_[slot];
      if (entry.state == kEmpty) return decide(false, false);
      if (entry.subject == subject) return decide(true, entry.state == kAllowed);
    }
  }
  bool may_process(const std::string& subject) const {
    auto found = texts_.find(subject);
    return found == texts_.end() ? decide(false, false) : decide(true, found->second);
  }

  std::size_t entries() const noexcept { return int_count_ + texts_.size(); }

  static constexpr double kProbeCostInEntries = 30.0;
  static constexpr double kMinEntries = 64.0;

 private:
  bool needs_consent_;
  bool loaded_ = false;
  std::uint64_t probes_ = 0;
  // Integer ids, probed once per row of a scan: a flat open-addressing
  // table (power-of-two size, multiplicative hash, linear probing) rather
  // than std::unordered_map, whose modulo and node chasing cost more than
  // the rest of the filter.
  enum : std::uint8_t { kEmpty = 0, kBlocked = 1, kAllowed = 2 };
  struct IntEntry {
    std::int64_t subject;
    std::uint8_t state;
  };
  std::size_t slot_of(std::int64_t subject) const noexcept {
    return static_cast<std::size_t>((static_cast<std::uint64_t>(subject) * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void grow();
  std::vector<IntEntry> int_slots_;
  std::size_t int_count_ = 0;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
  std::vector<std::uint64_t> has_bits_;
  std::vector<std::uint64_t> allowed_bits_;
  std::int64_t lowest_ = 0;
  std::uint64_t bit_range_ = 0;
  std::unordered_map<std::string, bool> texts_;
};

}  // namespace gdpr

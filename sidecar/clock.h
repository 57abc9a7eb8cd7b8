// Time for the sidecar: the wall clock, or a fixed instant given with
// --now for tests (backups "taken" 89, 90 and 91 days ago); durations such
// as "90d", "24h", "30m", "15s" as used in the configuration.
#pragma once

#include <ctime>
#include <optional>
#include <string>

namespace sidecar {

class Clock {
 public:
  static void set_override(std::optional<std::time_t> now) { override_ = now; }
  static std::time_t now();

 private:
  static std::optional<std::time_t> override_;
};

// "2026-11-26T12:00:00Z"
std::string iso_utc(std::time_t t);
// "20261126T120000Z", for file names
std::string compact_utc(std::time_t t);
// Parses iso_utc() output, "YYYY-MM-DD HH:MM:SS[+00]" or seconds since the epoch; nullopt if neither.
std::optional<std::time_t> parse_time(const std::string& text);
// "90d", "24h", "30m", "15s", "2w" or plain seconds; nullopt if malformed.
std::optional<long> parse_duration(const std::string& text);
// Monotonic milliseconds, for measuring work.
double monotonic_ms();

}  // namespace sidecar

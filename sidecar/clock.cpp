#include "clock.h"

#include <cctype>
#include <chrono>
#include <cstdio>

namespace sidecar {

std::optional<std::time_t> Clock::override_;

std::time_t Clock::now() { return override_ ? *override_ : std::time(nullptr); }

namespace {
std::string format_utc(std::time_t t, const char* format) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, format, &tm);
  return buffer;
}
}  // namespace

std::string iso_utc(std::time_t t) { return format_utc(t, "%Y-%m-%dT%H:%M:%SZ"); }

std::string compact_utc(std::time_t t) { return format_utc(t, "%Y%m%dT%H%M%SZ"); }

std::optional<std::time_t> parse_time(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    return static_cast<std::time_t>(std::stoll(text));
  }
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  std::string rest = text.substr(static_cast<size_t>(consumed));
  size_t dot = rest.find_first_not_of("0123456789.");
  if (!rest.empty() && rest[0] == '.') rest = dot == std::string::npos ? "" : rest.substr(dot);
  if (!(rest.empty() || rest == "Z" || rest == "+00" || rest == "+00:00")) return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm(&tm);
}

std::optional<long> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) digits++;
  if (digits == 0 || digits > 12) return std::nullopt;
  long value = std::stol(text.substr(0, digits));
  std::string unit = text.substr(digits);
  if (unit.empty() || unit == "s") return value;
  if (unit == "m" || unit == "min") return value * 60;
  if (unit == "h") return value * 3600;
  if (unit == "d") return value * 86400;
  if (unit == "w") return value * 7 * 86400;
  return std::nullopt;
}

double monotonic_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace sidecar

// Logging: one JSON object per line (time, level, job, table, rows,
// duration_ms, message) or one plain line, on stderr. A progress line, when
// shown, is cleared before a record is written and redrawn after.
#pragma once

#include <optional>
#include <string>

namespace sidecar {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

struct LogFields {
  std::string table;
  std::optional<long long> rows;
  std::optional<double> duration_ms;
};

class Log {
 public:
  static void configure(bool json, const std::string& min_level);
  static bool json() { return json_; }
  static void write(Level level, const std::string& job, const std::string& message, const LogFields& fields = {});
  static void debug(const std::string& job, const std::string& message, const LogFields& fields = {}) {
    write(Level::kDebug, job, message, fields);
  }
  static void info(const std::string& job, const std::string& message, const LogFields& fields = {}) {
    write(Level::kInfo, job, message, fields);
  }
  static void warning(const std::string& job, const std::string& message, const LogFields& fields = {}) {
    write(Level::kWarning, job, message, fields);
  }
  static void error(const std::string& job, const std::string& message, const LogFields& fields = {}) {
    write(Level::kError, job, message, fields);
  }

 private:
  static bool json_;
  static Level min_level_;
};

// JSON string literal of text (quotes included).
std::string json_quote(const std::string& text);

}  // namespace sidecar

#include "log.h"

#include <cstdio>
#include <sstream>

#include "clock.h"
#include "progress.h"

namespace sidecar {

bool Log::json_ = false;
Level Log::min_level_ = Level::kInfo;

namespace {
const char* level_name(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarning: return "warning";
    case Level::kError: return "error";
  }
  return "info";
}
}  // namespace

std::string json_quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void Log::configure(bool json, const std::string& min_level) {
  json_ = json;
  min_level_ = min_level == "debug" ? Level::kDebug
               : min_level == "warning" ? Level::kWarning
               : min_level == "error" ? Level::kError
                                      : Level::kInfo;
}

void Log::write(Level level, const std::string& job, const std::string& message, const LogFields& fields) {
  if (level < min_level_) return;
  std::ostringstream line;
  if (json_) {
    line << "{\"time\":" << json_quote(iso_utc(std::time(nullptr))) << ",\"level\":\"" << level_name(level) << "\"";
    if (!job.empty()) line << ",\"job\":" << json_quote(job);
    if (!fields.table.empty()) line << ",\"table\":" << json_quote(fields.table);
    if (fields.rows) line << ",\"rows\":" << *fields.rows;
    if (fields.duration_ms) line << ",\"duration_ms\":" << static_cast<long long>(*fields.duration_ms + 0.5);
    line << ",\"message\":" << json_quote(message) << "}";
  } else {
    line << "pg_gdpr_sidecar: " << (level == Level::kInfo ? "" : std::string(level_name(level)) + ": ");
    if (!job.empty()) line << job << ": ";
    if (!fields.table.empty()) line << fields.table << ": ";
    line << message;
    if (fields.rows || fields.duration_ms) {
      line << " (";
      if (fields.rows) line << *fields.rows << " rows";
      if (fields.rows && fields.duration_ms) line << ", ";
      if (fields.duration_ms) line << static_cast<long long>(*fields.duration_ms + 0.5) << " ms";
      line << ")";
    }
  }
  line << "\n";
  Progress::clear_line();
  std::fputs(line.str().c_str(), stderr);
  std::fflush(stderr);
  Progress::redraw();
}

}  // namespace sidecar

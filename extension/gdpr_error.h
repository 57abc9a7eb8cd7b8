// A failure raised by plain C++ code of pg_gdpr. It carries everything
// PostgreSQL's ereport needs (SQLSTATE, message, detail, hint) so that the
// boundary module can turn it into a proper SQL error without the C++ code
// ever including PostgreSQL headers.
#pragma once

#ifdef POSTGRES_H
#error "gdpr_error.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <stdexcept>
#include <string>

namespace gdpr {

// SQLSTATEs used by pg_gdpr, spelled as the five characters PostgreSQL uses.
namespace sqlstate {
inline constexpr const char* kNullValueNotAllowed = "22004";
inline constexpr const char* kInvalidParameterValue = "22023";
inline constexpr const char* kInvalidBinaryRepresentation = "22P03";
inline constexpr const char* kUndefinedObject = "42704";
inline constexpr const char* kInsufficientPrivilege = "42501";
inline constexpr const char* kObjectNotInPrerequisiteState = "55000";
inline constexpr const char* kConfigFileError = "F0000";
inline constexpr const char* kOutOfMemory = "53200";
inline constexpr const char* kInternalError = "XX000";
}  // namespace sqlstate

class GdprError : public std::runtime_error {
 public:
  // log_detail goes to the server log only, never to the client: for what
  // an operator needs but a caller must not see (a key file's path).
  GdprError(std::string sqlstate, std::string message, std::string detail = {},
            std::string hint = {}, std::string log_detail = {})
      : std::runtime_error(message),
        sqlstate_(std::move(sqlstate)),
        detail_(std::move(detail)),
        hint_(std::move(hint)),
        log_detail_(std::move(log_detail)) {}

  const std::string& sqlstate() const noexcept { return sqlstate_; }
  const std::string& detail() const noexcept { return detail_; }
  const std::string& hint() const noexcept { return hint_; }
  const std::string& log_detail() const noexcept { return log_detail_; }

 private:
  std::string sqlstate_;
  std::string detail_;
  std::string hint_;
  std::string log_detail_;
};

}  // namespace gdpr

// The sidecar's documented exit codes (README, "pg_gdpr_sidecar"), and the
// error that carries one up to main().
#pragma once

#include <stdexcept>
#include <string>

namespace sidecar {

enum class ExitCode : int {
  kOk = 0,          // every job done
  kJobFailed = 1,   // some job failed (the others still ran), or was stopped
  kUsage = 2,       // usage or configuration error
  kConnect = 3,     // cannot connect to the database
  kLocked = 4,      // another sidecar holds the job's lock
};

// An error that ends the command with the given exit code; what() is the
// one line printed on stderr.
class SidecarError : public std::runtime_error {
 public:
  SidecarError(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

inline SidecarError usage_error(const std::string& message) { return SidecarError(ExitCode::kUsage, message); }

}  // namespace sidecar

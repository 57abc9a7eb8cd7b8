// pg_dump and pg_restore as child processes: arguments without a shell,
// one pipe to their stdout or stdin, stderr kept in a temporary file so
// that its last line can name what went wrong.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sidecar {

class ChildProcess {
 public:
  enum class Pipe { kStdout, kStdin };
  // Throws std::runtime_error when the program cannot be started.
  ChildProcess(const std::vector<std::string>& argv, Pipe pipe);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int fd() const { return fd_; }
  void close_pipe();
  // Waits for the child; true if it exited 0. error: its last stderr line.
  bool wait(std::string* error);

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int stderr_fd_ = -1;
  std::string program_;
};

// Reads up to size bytes (fewer only at end of file); throws on error.
size_t read_full(int fd, char* buffer, size_t size);
// Writes all bytes; false on error (EPIPE: the reader exited).
bool write_all(int fd, const char* data, size_t size);

// A PostgreSQL client program: in --pg-bindir, or found on PATH.
std::string pg_program(const std::string& bindir, const std::string& name);

}  // namespace sidecar

#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace sidecar {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, Pipe pipe) : program_(argv.at(0)) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  char path[] = "/tmp/pg_gdpr_sidecar_stderr.XXXXXX";
  stderr_fd_ = mkstemp(path);
  if (stderr_fd_ < 0) throw std::runtime_error(std::string("temporary file: ") + std::strerror(errno));
  unlink(path);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    if (pipe == Pipe::kStdout) {
      dup2(fds[1], STDOUT_FILENO);
    } else {
      dup2(fds[0], STDIN_FILENO);
    }
    dup2(stderr_fd_, STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    close(stderr_fd_);
    signal(SIGPIPE, SIG_DFL);
    execvp(args[0], args.data());
    dprintf(STDERR_FILENO, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  if (pipe == Pipe::kStdout) {
    close(fds[1]);
    fd_ = fds[0];
  } else {
    close(fds[0]);
    fd_ = fds[1];
  }
  fcntl(fd_, F_SETFD, FD_CLOEXEC);
}

ChildProcess::~ChildProcess() {
  close_pipe();
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  if (stderr_fd_ >= 0) close(stderr_fd_);
}

void ChildProcess::close_pipe() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool ChildProcess::wait(std::string* error) {
  close_pipe();
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok && error) {
    std::string text;
    char buffer[4096];
    lseek(stderr_fd_, 0, SEEK_SET);
    ssize_t n;
    while ((n = read(stderr_fd_, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    size_t last = text.rfind('\n');
    std::string line = last == std::string::npos ? text : text.substr(last + 1);
    // the error line, not a trailing "Command was: ..."
    size_t err = text.rfind("error: ");
    if (err != std::string::npos) {
      size_t end = text.find('\n', err);
      line = text.substr(err, end == std::string::npos ? std::string::npos : end - err);
    }
    *error = program_ + (WIFEXITED(status) ? " exited with status " + std::to_string(WEXITSTATUS(status))
                                           : " was killed by signal " + std::to_string(WTERMSIG(status))) +
             (line.empty() ? "" : ": " + line);
  }
  return ok;
}

size_t read_full(int fd, char* buffer, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = read(fd, buffer + done, size - done);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("read: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  return done;
}

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string pg_program(const std::string& bindir, const std::string& name) {
  return bindir.empty() ? name : bindir + "/" + name;
}

}  // namespace sidecar

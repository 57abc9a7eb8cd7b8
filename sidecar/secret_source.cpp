#include "secret_source.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "exit_code.h"

namespace sidecar {

BackupKey load_backup_key(const Config& config) {
  std::string text;
  std::string source;
  if (!config.backup_key_file.empty()) {
    source = "backup key file " + config.backup_key_file;
    struct stat st {};
    if (stat(config.backup_key_file.c_str(), &st) != 0) {
      throw usage_error("cannot read " + source + ": " + std::strerror(errno));
    }
    if ((st.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      throw usage_error(source + " is readable by others (mode " + mode + "): chmod 600 it");
    }
    std::ifstream file(config.backup_key_file);
    if (!file) throw usage_error("cannot read " + source + ": " + std::strerror(errno));
    std::ostringstream content;
    content << file.rdbuf();
    if (!file && !file.eof()) throw usage_error("cannot read " + source);
    text = content.str();
  } else if (!config.backup_key_command.empty()) {
    source = "backup key command";
    std::unique_ptr<FILE, decltype(&pclose)> pipe(popen(config.backup_key_command.c_str(), "r"), &pclose);
    if (!pipe) throw usage_error("cannot run the " + source + ": " + std::strerror(errno));
    char buffer[256];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe.get())) > 0) text.append(buffer, n);
    int status = pclose(pipe.release());
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      throw usage_error("the " + source + " failed (exit status " +
                        std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
    }
  } else {
    throw usage_error("no backup key: set --backup-key-file or --backup-key-command");
  }
  try {
    return backup_key_from_hex(text);
  } catch (const std::exception& e) {
    throw usage_error(source + ": " + e.what());
  }
}

}  // namespace sidecar

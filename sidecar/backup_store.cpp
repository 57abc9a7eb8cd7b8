#include "backup_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "child_process.h"
#include "clock.h"
#include "log.h"

namespace sidecar {

namespace {

constexpr const char* kFormat = "pg_gdpr backup 1";

// A flat JSON object of strings and integers (what to_json writes).
std::map<std::string, std::string> parse_flat_json(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) i++;
  };
  auto string_at = [&]() {
    if (text[i] != '"') throw std::runtime_error("expected a string");
    std::string s;
    for (i++; i < text.size() && text[i] != '"'; i++) {
      if (text[i] == '\\' && i + 1 < text.size()) {
        char e = text[++i];
        s += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        s += text[i];
      }
    }
    if (i >= text.size()) throw std::runtime_error("unterminated string");
    i++;
    return s;
  };
  skip();
  if (i >= text.size() || text[i] != '{') throw std::runtime_error("not a JSON object");
  i++;
  for (;;) {
    skip();
    if (i < text.size() && text[i] == '}') break;
    std::string key = string_at();
    skip();
    if (i >= text.size() || text[i] != ':') throw std::runtime_error("expected ':'");
    i++;
    skip();
    if (i < text.size() && text[i] == '"') {
      out[key] = string_at();
    } else {
      size_t start = i;
      while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '-')) i++;
      if (start == i) throw std::runtime_error("unsupported value for " + key);
      out[key] = text.substr(start, i - start);
    }
    skip();
    if (i < text.size() && text[i] == ',') {
      i++;
      continue;
    }
    skip();
    if (i < text.size() && text[i] == '}') break;
    throw std::runtime_error("expected ',' or '}'");
  }
  return out;
}

}  // namespace

std::string Manifest::to_json() const {
  std::ostringstream out;
  out << "{\n  \"format\": " << json_quote(kFormat) << ",\n  \"kind\": " << json_quote(kind)
      << ",\n  \"backup_id\": " << json_quote(backup_id) << ",\n  \"file\": " << json_quote(file)
      << ",\n  \"database\": " << json_quote(database) << ",\n  \"taken_at\": " << json_quote(taken_at)
      << ",\n  \"key_id\": " << json_quote(key_id) << ",\n  \"size\": " << size << ",\n  \"sha256\": " << json_quote(sha256)
      << ",\n  \"cipher\": \"AES-256-GCM, 1 MiB authenticated chunks, HKDF-SHA256 file key\"\n}\n";
  return out.str();
}

Manifest Manifest::from_json(const std::string& text) {
  auto fields = parse_flat_json(text);
  auto need = [&](const char* name) {
    auto found = fields.find(name);
    if (found == fields.end() || found->second.empty()) throw std::runtime_error(std::string("no ") + name);
    return found->second;
  };
  if (need("format") != kFormat) throw std::runtime_error("unknown format " + fields["format"]);
  Manifest m;
  m.kind = need("kind");
  if (m.kind != "data" && m.kind != "keys") throw std::runtime_error("unknown kind " + m.kind);
  m.backup_id = need("backup_id");
  m.file = need("file");
  if (m.file.find('/') != std::string::npos) throw std::runtime_error("file name with a directory");
  m.database = need("database");
  m.taken_at = need("taken_at");
  auto taken = parse_time(m.taken_at);
  if (!taken) throw std::runtime_error("bad taken_at " + m.taken_at);
  m.taken = *taken;
  m.key_id = need("key_id");
  m.size = std::stoll(need("size"));
  m.sha256 = need("sha256");
  return m;
}

std::string file_name(const std::string& backup_id, const std::string& kind) {
  return backup_id + (kind == "keys" ? ".keys.gcm" : ".dump.gcm");
}

std::string manifest_name(const std::string& file) { return file + ".manifest.json"; }

Inventory scan_targets(const std::vector<std::string>& targets) {
  Inventory inventory;
  const std::string suffix = ".manifest.json";
  for (const auto& target : targets) {
    struct DirCloser {
      void operator()(DIR* d) const { closedir(d); }
    };
    std::unique_ptr<DIR, DirCloser> dir(opendir(target.c_str()));
    if (!dir) {
      inventory.problems.push_back("backup target " + target + " cannot be read: " + std::strerror(errno));
      continue;
    }
    while (struct dirent* entry = readdir(dir.get())) {
      std::string name = entry->d_name;
      if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
      std::string path = target + "/" + name;
      std::ifstream in(path);
      std::ostringstream text;
      text << in.rdbuf();
      try {
        Copy copy;
        copy.target = target;
        copy.manifest_path = path;
        copy.manifest = Manifest::from_json(text.str());
        copy.file_path = target + "/" + copy.manifest.file;
        inventory.backups[{copy.manifest.kind, copy.manifest.backup_id}].push_back(copy);
      } catch (const std::exception& e) {
        inventory.problems.push_back("manifest " + path + " is unreadable: " + e.what());
      }
    }
  }
  return inventory;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  std::string temporary = path + ".partial";
  int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + temporary + ": " + std::strerror(errno));
  bool ok = write_all(fd, text.data(), text.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(temporary.c_str(), path.c_str()) != 0) {
    unlink(temporary.c_str());
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  }
}

void make_directories(const std::string& path) {
  std::string partial;
  std::stringstream parts(path);
  std::string part;
  if (!path.empty() && path[0] == '/') partial = "/";
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    partial += part + "/";
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      throw std::runtime_error("cannot create " + partial + ": " + std::strerror(errno));
    }
  }
}

}  // namespace sidecar

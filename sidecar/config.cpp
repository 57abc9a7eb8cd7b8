#include "config.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>

#include "clock.h"
#include "exit_code.h"

namespace po = boost::program_options;

namespace sidecar {
namespace {

constexpr const char* kVersion = "0.2.0";
constexpr const char* kEnvPrefix = "PG_GDPR_SIDECAR_";

struct CommandInfo {
  const char* name;
  const char* summary;
  std::vector<const char*> groups;  // option groups shown in its --help
};

const std::vector<CommandInfo>& commands() {
  static const std::vector<CommandInfo> list = {
      {"purge", "apply every due retention rule, release ended legal holds, carry out verified erasure requests; then exit",
       {"connection", "purge", "logging"}},
      {"backup", "pg_dump -Fc encrypted with AES-256-GCM to every target directory, plus a key backup",
       {"connection", "backup", "logging"}},
      {"verify-backups", "check every copy's checksum and authenticity", {"connection", "backup", "logging"}},
      {"expire-backups", "delete every backup older than --backup-max-age in every target", {"connection", "backup", "logging"}},
      {"restore", "restore <backup-id> into a new database (--into), then replay erasures made since",
       {"connection", "backup", "restore", "logging"}},
      {"status", "what is due and overdue, last runs, backups, master key versions in every database",
       {"connection", "logging"}},
      {"run", "daemon: every job on its schedule; SIGHUP reloads the configuration, SIGTERM stops after the current batch",
       {"connection", "purge", "backup", "schedule", "logging"}},
  };
  return list;
}

struct Options {
  po::options_description general{"General"};
  po::options_description connection{"Connection"};
  po::options_description logging{"Logging"};
  po::options_description purge{"Purge"};
  po::options_description backup{"Backups"};
  po::options_description restore{"Restore"};
  po::options_description schedule{"Schedule (run)"};
  po::options_description hidden{"Hidden"};
  po::options_description all{"All"};
  po::options_description file_and_env{"Settable from the environment and the config file"};

  Options() {
    general.add_options()("help,h", "print help (with a command: that command's help) and exit")(
        "version", "print the version and exit")(
        "config,c", po::value<std::string>()->value_name("FILE"),
        "INI configuration file (keys are the long option names; [schedule] section for run)");
    connection.add_options()(
        "dbname,d", po::value<std::string>()->value_name("CONNINFO"),
        "libpq connection string, URI or service=NAME (TLS: sslmode=verify-full ssl_min_protocol_version=TLSv1.3); "
        "passwords only from a password file or service file")(
        "lock-timeout", po::value<int>()->value_name("MS")->default_value(2000), "lock_timeout of each batch")(
        "statement-timeout", po::value<int>()->value_name("MS")->default_value(60000),
        "statement_timeout of each batch")(
        "reconnect-timeout", po::value<std::string>()->value_name("DURATION")->default_value("60s"),
        "keep trying to reconnect this long when the server goes away mid-job")(
        "now", po::value<std::string>()->value_name("TIME"),
        "pretend the time is TIME (ISO 8601 UTC); for tests of backup expiry");
    logging.add_options()("log-format", po::value<std::string>()->value_name("text|json")->default_value("text"),
                          "one JSON object per line, or plain text")(
        "log-level", po::value<std::string>()->value_name("LEVEL")->default_value("info"),
        "debug | info | warning | error")(
        "progress", po::value<std::string>()->value_name("auto|always|never")->default_value("auto"),
        "progress line for long work (auto: when stderr is a terminal)");
    purge.add_options()("batch-rows", po::value<int>()->value_name("N")->default_value(10000),
                        "rows examined by the first batch; later batches adapt to --batch-target")(
        "batch-target", po::value<int>()->value_name("MS")->default_value(50), "aim for batches this long");
    backup.add_options()("backup-target", po::value<std::vector<std::string>>()->value_name("DIR")->composing(),
                         "backup directory (repeat for each redundant copy)")(
        "backup-key-file", po::value<std::string>()->value_name("FILE"),
        "file holding the backup key: 64 hex digits, mode 0600 or stricter")(
        "backup-key-command", po::value<std::string>()->value_name("COMMAND"),
        "command printing the backup key (64 hex digits)")(
        "backup-max-age", po::value<std::string>()->value_name("DURATION")->default_value("90d"),
        "backups are deleted once this old")(
        "key-backup-max-age", po::value<std::string>()->value_name("DURATION")->default_value("30d"),
        "key backups are deleted once this old")(
        "pg-bindir", po::value<std::string>()->value_name("DIR"), "where pg_dump and pg_restore are (default: PATH)");
    restore.add_options()("into", po::value<std::string>()->value_name("DATABASE"),
                          "restore: the new database to create and restore into")(
        "source-dbname", po::value<std::string>()->value_name("CONNINFO"),
        "restore: the database whose erasures are replayed (default: --dbname)");
    schedule.add_options()("schedule.purge", po::value<std::string>()->value_name("DURATION")->default_value("1h"),
                           "run purge this often (0: never)")(
        "schedule.backup", po::value<std::string>()->value_name("DURATION")->default_value("24h"), "run backup this often")(
        "schedule.expire-backups", po::value<std::string>()->value_name("DURATION")->default_value("24h"),
        "run expire-backups this often")(
        "schedule.verify-backups", po::value<std::string>()->value_name("DURATION")->default_value("0"),
        "run verify-backups this often");
    hidden.add_options()("command", po::value<std::string>(), "command")(
        "args", po::value<std::vector<std::string>>(), "command arguments")(
        "backup-key", po::value<std::string>(), "refused: a secret");
    file_and_env.add(connection).add(logging).add(purge).add(backup).add(restore).add(schedule).add(hidden);
    all.add(general).add(file_and_env);
  }

  const po::options_description& group(const std::string& name) const {
    if (name == "connection") return connection;
    if (name == "logging") return logging;
    if (name == "purge") return purge;
    if (name == "backup") return backup;
    if (name == "restore") return restore;
    return schedule;
  }
};

std::string env_name(const std::string& option) {
  std::string name = kEnvPrefix;
  for (char c : option) name += (c == '-' || c == '.') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

void print_help(const Options& o, const std::string& command) {
  for (const auto& c : commands()) {
    if (command == c.name) {
      std::cout << "Usage: pg_gdpr_sidecar " << c.name << (command == "restore" ? " <backup-id> --into DATABASE" : "")
                << " [options]\n\n"
                << c.summary << ".\n\n"
                << o.general;
      for (const char* g : c.groups) std::cout << "\n" << o.group(g);
      std::cout << "\nEvery option may also be set as " << kEnvPrefix
                << "<OPTION> (upper case, - and . as _) or in the --config file.\n"
                   "Exit codes: 0 done, 1 a job failed, 2 usage or configuration error, 3 cannot connect, "
                   "4 another sidecar holds the lock.\n";
      return;
    }
  }
  std::cout << "Usage: pg_gdpr_sidecar <command> [options]\n\nCommands:\n";
  for (const auto& c : commands()) {
    std::string name = c.name;
    std::cout << "  " << name << std::string(16 - name.size(), ' ') << c.summary << "\n";
  }
  std::cout << "\n" << o.general
            << "\n'pg_gdpr_sidecar <command> --help' lists the command's options.\n"
               "Exit codes: 0 done, 1 a job failed, 2 usage or configuration error, 3 cannot connect, "
               "4 another sidecar holds the lock.\n";
}

// A password typed into a connection string on the command line is seen
// by every user of the machine (ps) and lands in shell history.
bool holds_password(const std::string& conninfo) {
  static const std::regex keyword(R"((^|\s)password\s*=)", std::regex::icase);
  static const std::regex uri(R"(^postgres(ql)?://[^/@]*:[^/@]*@)", std::regex::icase);
  static const std::regex uri_param(R"([?&]password=)", std::regex::icase);
  return std::regex_search(conninfo, keyword) || std::regex_search(conninfo, uri) ||
         std::regex_search(conninfo, uri_param);
}

long duration_option(const po::variables_map& vm, const std::string& name) {
  auto value = parse_duration(vm[name].as<std::string>());
  if (!value) {
    throw usage_error("invalid --" + name + " \"" + vm[name].as<std::string>() +
                      "\": use a number with s, m, h, d or w (e.g. 90d)");
  }
  return *value;
}

void require_one_of(const std::string& option, const std::string& value, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (value == a) return;
  }
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  throw usage_error("invalid --" + option + " \"" + value + "\": use one of " + list);
}

}  // namespace

std::optional<Config> load_config(int argc, char** argv) {
  Options o;
  po::positional_options_description positional;
  positional.add("command", 1).add("args", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(o.all).positional(positional).run(), vm);
  } catch (const po::error& e) {
    throw usage_error(std::string(e.what()) + " (see pg_gdpr_sidecar --help)");
  }
  if (vm.count("backup-key")) {
    throw usage_error("the backup key is a secret and is refused on the command line: use --backup-key-file or "
                      "--backup-key-command");
  }
  if (vm.count("dbname") && holds_password(vm["dbname"].as<std::string>())) {
    throw usage_error("a password in --dbname is refused on the command line: use a password file (~/.pgpass, "
                      "passfile=) or a service file");
  }
  if (vm.count("source-dbname") && holds_password(vm["source-dbname"].as<std::string>())) {
    throw usage_error("a password in --source-dbname is refused on the command line: use a password file");
  }
  std::string command = vm.count("command") ? vm["command"].as<std::string>() : "";
  if (vm.count("help")) {
    print_help(o, command);
    return std::nullopt;
  }
  if (vm.count("version")) {
    std::cout << "pg_gdpr_sidecar " << kVersion << "\n";
    return std::nullopt;
  }

  // the environment, then the config file: each fills only what is still unset
  std::map<std::string, std::string> env_to_option;
  for (const auto& option : o.file_and_env.options()) {
    const std::string& name = option->long_name();
    if (name == "command" || name == "args") continue;
    env_to_option[env_name(name)] = name;
  }
  env_to_option[env_name("config")] = "config";
  try {
    po::store(po::parse_environment(o.all,
                                    [&](const std::string& variable) -> std::string {
                                      if (variable.rfind(kEnvPrefix, 0) != 0) return "";
                                      auto found = env_to_option.find(variable);
                                      if (found == env_to_option.end()) {
                                        throw usage_error("unknown environment variable " + variable +
                                                          " (see pg_gdpr_sidecar --help)");
                                      }
                                      return found->second;
                                    }),
              vm);
  } catch (const po::error& e) {
    throw usage_error(std::string("in the environment: ") + e.what());
  }
  if (vm.count("backup-key")) {
    throw usage_error("the backup key is a secret: give it with --backup-key-file or --backup-key-command");
  }
  Config config;
  if (vm.count("config")) {
    config.config_file = vm["config"].as<std::string>();
    std::ifstream file(config.config_file);
    if (!file) throw usage_error("cannot read config file " + config.config_file);
    try {
      po::store(po::parse_config_file(file, o.file_and_env, false), vm);
    } catch (const po::error& e) {
      throw usage_error("in config file " + config.config_file + ": " + e.what());
    }
    if (vm.count("backup-key")) {
      throw usage_error("in config file " + config.config_file +
                        ": the backup key is a secret: give it with backup-key-file or backup-key-command");
    }
  }
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }

  if (command.empty()) throw usage_error("no command given (see pg_gdpr_sidecar --help)");
  bool known = false;
  for (const auto& c : commands()) known = known || command == c.name;
  if (!known) throw usage_error("unknown command \"" + command + "\" (see pg_gdpr_sidecar --help)");
  config.command = command;
  if (vm.count("args")) config.args = vm["args"].as<std::vector<std::string>>();
  if (command != "restore" && !config.args.empty()) {
    throw usage_error("command " + command + " takes no argument \"" + config.args[0] + "\"");
  }
  if (vm.count("dbname")) config.dbname = vm["dbname"].as<std::string>();
  config.lock_timeout_ms = vm["lock-timeout"].as<int>();
  config.statement_timeout_ms = vm["statement-timeout"].as<int>();
  config.reconnect_s = duration_option(vm, "reconnect-timeout");
  config.log_format = vm["log-format"].as<std::string>();
  config.log_level = vm["log-level"].as<std::string>();
  config.progress = vm["progress"].as<std::string>();
  config.batch_rows = vm["batch-rows"].as<int>();
  config.batch_target_ms = vm["batch-target"].as<int>();
  if (vm.count("backup-target")) config.backup_targets = vm["backup-target"].as<std::vector<std::string>>();
  if (vm.count("backup-key-file")) config.backup_key_file = vm["backup-key-file"].as<std::string>();
  if (vm.count("backup-key-command")) config.backup_key_command = vm["backup-key-command"].as<std::string>();
  config.backup_max_age_s = duration_option(vm, "backup-max-age");
  config.key_backup_max_age_s = duration_option(vm, "key-backup-max-age");
  if (vm.count("pg-bindir")) config.pg_bindir = vm["pg-bindir"].as<std::string>();
  if (vm.count("into")) config.restore_into = vm["into"].as<std::string>();
  if (vm.count("source-dbname")) config.source_dbname = vm["source-dbname"].as<std::string>();
  config.schedule.purge_s = duration_option(vm, "schedule.purge");
  config.schedule.backup_s = duration_option(vm, "schedule.backup");
  config.schedule.expire_backups_s = duration_option(vm, "schedule.expire-backups");
  config.schedule.verify_backups_s = duration_option(vm, "schedule.verify-backups");
  if (vm.count("now")) {
    config.now = parse_time(vm["now"].as<std::string>());
    if (!config.now) throw usage_error("invalid --now \"" + vm["now"].as<std::string>() + "\": use 2026-01-31T12:00:00Z");
  }

  require_one_of("log-format", config.log_format, {"text", "json"});
  require_one_of("log-level", config.log_level, {"debug", "info", "warning", "error"});
  require_one_of("progress", config.progress, {"auto", "always", "never"});
  if (config.lock_timeout_ms <= 0 || config.statement_timeout_ms <= 0) {
    throw usage_error("--lock-timeout and --statement-timeout must be positive (milliseconds)");
  }
  if (config.batch_rows <= 0 || config.batch_target_ms <= 0) {
    throw usage_error("--batch-rows and --batch-target must be positive");
  }
  if (config.backup_max_age_s <= 0 || config.key_backup_max_age_s <= 0) {
    throw usage_error("--backup-max-age and --key-backup-max-age must be positive");
  }
  if (config.key_backup_max_age_s > 30L * 86400) {
    throw usage_error("--key-backup-max-age may not exceed 30d: keys are backed up for at most 30 days, so that a "
                      "shredded key leaves every key backup within a month");
  }
  if (!config.backup_key_file.empty() && !config.backup_key_command.empty()) {
    throw usage_error("give --backup-key-file or --backup-key-command, not both");
  }
  if (command == "restore") {
    if (config.args.size() != 1) throw usage_error("restore takes one backup id (see pg_gdpr_sidecar restore --help)");
    if (config.restore_into.empty()) throw usage_error("restore needs --into DATABASE, a database that does not exist yet");
  }
  bool needs_backups = command == "backup" || command == "verify-backups" || command == "expire-backups" ||
                       command == "restore" || (command == "run" && config.schedule.backup_s > 0);
  if (needs_backups && config.backup_targets.empty()) {
    throw usage_error("command " + command + " needs at least one --backup-target directory");
  }
  bool needs_key = command == "backup" || command == "verify-backups" || command == "restore" ||
                   (command == "run" && (config.schedule.backup_s > 0 || config.schedule.verify_backups_s > 0));
  if (needs_key && config.backup_key_file.empty() && config.backup_key_command.empty()) {
    throw usage_error("command " + command + " needs the backup key: --backup-key-file or --backup-key-command");
  }
  return config;
}

}  // namespace sidecar

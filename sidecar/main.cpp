// pg_gdpr_sidecar: runs retention purges, takes encrypted backups and expires
// them, from cron or as a daemon. This release ships its command line only;
// the commands arrive with the sidecar issue.
#include <boost/program_options.hpp>

#include <iostream>
#include <string>

namespace po = boost::program_options;

namespace {

// Documented exit codes (see README).
enum ExitCode : int { kOk = 0, kUsage = 64, kNotImplemented = 69 };

constexpr const char* kVersion = "0.1.0";

}  // namespace

int main(int argc, char** argv) {
  po::options_description options("pg_gdpr_sidecar [options] <command>");
  options.add_options()("help,h", "print this help and exit")(
      "version", "print the version and exit")(
      "command", po::value<std::string>(), "purge | backup | expire-backups | run");
  po::positional_options_description positional;
  positional.add("command", 1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "pg_gdpr_sidecar: " << e.what() << "\n";
    return kUsage;
  }
  if (vm.count("help")) {
    std::cout << options << "\nCommands:\n"
              << "  purge           apply retention rules (not available yet)\n"
              << "  backup          take an encrypted backup (not available yet)\n"
              << "  expire-backups  remove backups older than 90 days (not available yet)\n"
              << "  run             run as a daemon (not available yet)\n";
    return kOk;
  }
  if (vm.count("version")) {
    std::cout << "pg_gdpr_sidecar " << kVersion << "\n";
    return kOk;
  }
  if (!vm.count("command")) {
    std::cerr << "pg_gdpr_sidecar: no command given; see --help\n";
    return kUsage;
  }
  std::cerr << "pg_gdpr_sidecar: command \"" << vm["command"].as<std::string>()
            << "\" is not available in this release\n";
  return kNotImplemented;
}

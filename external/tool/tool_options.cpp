#include "tool_options.hpp"

#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace execkit::external {
namespace {

constexpr const char* command_variable = "EXECKIT_CONFORMANCE_BACKEND_CMD";
constexpr const char* name_variable = "EXECKIT_CONFORMANCE_BACKEND_NAME";
constexpr const char* directory_variable = "EXECKIT_CONFORMANCE_BACKEND_DIR";
constexpr const char* overrides_variable = "EXECKIT_CONFORMANCE_CAPABILITIES";

std::string value_of(const std::vector<std::string>& args, std::size_t& i, const std::string& option) {
  const auto& arg = args[i];
  if (arg.size() > option.size() && arg[option.size()] == '=') return arg.substr(option.size() + 1);
  if (i + 1 >= args.size()) throw std::invalid_argument(option + " needs a value");
  return args[++i];
}

void add_override(ToolOptions& options, const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw std::invalid_argument("--capability '" + text + "' is not NAME=VALUE");
  }
  options.capability_overrides[text.substr(0, equals)] = text.substr(equals + 1);
}

}  // namespace

const char* const tool_usage =
    "usage: execkit-conformance --backend-cmd COMMAND [options] [GoogleTest options]\n"
    "\n"
    "Runs the execkit conformance suite against a backend that speaks the execkit\n"
    "backend protocol (docs/protocol.md) and prints the clause report.\n"
    "\n"
    "  --backend-cmd COMMAND    run the backend as /bin/sh -c 'exec COMMAND', one\n"
    "                           process per backend instance the suite creates\n"
    "  --capabilities-from-handshake\n"
    "                           take the capabilities the backend declares in its\n"
    "                           hello (the default; stated for scripts)\n"
    "  --capability NAME=VALUE  override one declared capability (repeatable)\n"
    "  --name NAME              the backend's name in test names (default: its hello's)\n"
    "  --junit FILE             also write the GoogleTest JUnit XML to FILE\n"
    "  --no-report              print GoogleTest's output only\n"
    "  -h, --help               this text\n"
    "\n"
    "GoogleTest options pass through, e.g. --gtest_filter='*SPILL_4*'.\n"
    "EXECKIT_CONFORMANCE_TIME_SCALE=N widens every time bound N times.\n";

ToolOptions parse_tool_options(const std::vector<std::string>& args) {
  ToolOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    const auto is = [&](const std::string& option) { return arg == option || arg.starts_with(option + "="); };
    if (arg == "-h" || arg == "--help") {
      options.help = true;
    } else if (is("--backend-cmd")) {
      options.backend_cmd = value_of(args, i, "--backend-cmd");
      if (options.backend_cmd.find_first_not_of(" \t") == std::string::npos) {
        throw std::invalid_argument("--backend-cmd '" + options.backend_cmd + "' is empty");
      }
    } else if (arg == "--capabilities-from-handshake") {
    } else if (is("--capability")) {
      add_override(options, value_of(args, i, "--capability"));
    } else if (is("--name")) {
      options.name = value_of(args, i, "--name");
    } else if (is("--junit")) {
      options.junit = value_of(args, i, "--junit");
    } else if (arg == "--no-report") {
      options.report = false;
    } else if (arg.starts_with("--gtest_")) {
      options.gtest_args.push_back(arg);
    } else {
      throw std::invalid_argument("unknown argument '" + arg + "' (see --help)");
    }
  }
  if (!options.help && options.backend_cmd.empty()) throw std::invalid_argument("--backend-cmd is required (see --help)");
  return options;
}

void export_tool_options(const ToolOptions& options) {
  ::setenv(command_variable, options.backend_cmd.c_str(), 1);
  ::setenv(directory_variable, options.backend_dir.c_str(), 1);
  if (options.name) ::setenv(name_variable, options.name->c_str(), 1);
  std::string overrides;
  for (const auto& [name, value] : options.capability_overrides) overrides += name + "=" + value + "\n";
  ::setenv(overrides_variable, overrides.c_str(), 1);
}

ToolOptions imported_tool_options() {
  ToolOptions options;
  if (const char* command = std::getenv(command_variable)) options.backend_cmd = command;
  if (const char* directory = std::getenv(directory_variable)) options.backend_dir = directory;
  if (const char* name = std::getenv(name_variable)) options.name = name;
  if (const char* overrides = std::getenv(overrides_variable)) {
    std::istringstream lines(overrides);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) add_override(options, line);
    }
  }
  return options;
}

}  // namespace execkit::external

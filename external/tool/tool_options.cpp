#include "tool_options.hpp"

#include <charconv>
#include <cstdlib>
#include <initializer_list>
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

bool flag_value(const std::string& text, const std::string& value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  throw std::invalid_argument("--capability '" + text + "': the value must be true or false");
}

std::size_t count_value(const std::string& text, const std::string& value) {
  std::size_t out = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (value.empty() || error != std::errc() || end != value.data() + value.size()) {
    throw std::invalid_argument("--capability '" + text + "': the value must be a non-negative integer");
  }
  return out;
}

std::string one_of(const std::string& text, const std::string& value, std::initializer_list<const char*> allowed) {
  std::string listed;
  for (const char* candidate : allowed) {
    if (value == candidate) return value;
    listed += (listed.empty() ? "" : ", ") + std::string(candidate);
  }
  throw std::invalid_argument("--capability '" + text + "': the value must be one of " + listed);
}

// Applies NAME=VALUE to `declared`; throws std::invalid_argument naming `text`.
void apply_override(BackendDeclaration& declared, const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw std::invalid_argument("--capability '" + text + "' is not NAME=VALUE");
  }
  const auto name = text.substr(0, equals);
  const auto value = text.substr(equals + 1);
  if (name == "has_local_process_workers") declared.has_local_process_workers = flag_value(text, value);
  else if (name == "supports_pdeathsig") declared.supports_pdeathsig = flag_value(text, value);
  else if (name == "has_named_spill_files") declared.has_named_spill_files = flag_value(text, value);
  else if (name == "supports_worker_reuse") declared.supports_worker_reuse = flag_value(text, value);
  else if (name == "task_context_from_caller") declared.task_context_from_caller = flag_value(text, value);
  else if (name == "documented_task_fds") declared.documented_task_fds = count_value(text, value);
  else if (name == "task_sigpipe") declared.task_sigpipe = one_of(text, value, {"unspecified", "default", "ignored"});
  else if (name == "task_language") declared.task_language = one_of(text, value, {"native", "python"});
  else throw std::invalid_argument("--capability '" + text + "': no capability '" + name + "' (see docs/protocol.md)");
}

void add_override(ToolOptions& options, const std::string& text) {
  BackendDeclaration checked;
  apply_override(checked, text);  // refused here, before any backend starts
  options.capability_overrides.push_back(text);
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
  for (const auto& text : options.capability_overrides) overrides += text + "\n";
  ::setenv(overrides_variable, overrides.c_str(), 1);
}

void apply_capability_overrides(const ToolOptions& options, BackendDeclaration& declared) {
  for (const auto& text : options.capability_overrides) apply_override(declared, text);
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

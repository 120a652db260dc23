#include "arguments.hpp"

#include <stdexcept>
#include <string_view>

#include "cli_error.hpp"
#include "seconds.hpp"

namespace execkit::cli {
namespace {

std::string single_quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

CliError bad_value(std::string_view option, std::string_view value, std::string_view why) {
  return usage_error("bad " + std::string(option) + " " + single_quoted(value) + ": " + std::string(why));
}

// NAME=VALUE; the value may be empty or contain '='.
void add_env_assignment(RunOptions& options, const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos) throw bad_value("--env", text, "expected NAME=VALUE");
  if (eq == 0) throw bad_value("--env", text, "empty variable name");
  options.env_updates[text.substr(0, eq)] = text.substr(eq + 1);
}

void add_env_removal(RunOptions& options, const std::string& name) {
  if (name.empty()) throw bad_value("--unset", name, "empty variable name");
  if (name.find('=') != std::string::npos) throw bad_value("--unset", name, "a variable name cannot contain '='");
  options.env_updates[name] = std::nullopt;
}

std::filesystem::path non_empty_path(std::string_view option, const std::string& value) {
  if (value.empty()) throw bad_value(option, value, "empty path");
  return value;
}

void apply_deadline(RunOptions& options, const std::string& value) {
  try {
    options.deadline = parse_seconds(value);
  } catch (const std::invalid_argument& e) {
    throw bad_value("--deadline", value, e.what());
  }
}

// Applies an option that takes a value. `name` is the spelling the user
// wrote, so messages repeat it.
void apply_valued_option(RunOptions& options, std::string_view name, const std::string& value) {
  if (name == "--input") {
    if (value.empty()) throw bad_value(name, value, "empty path (use '-' for standard input)");
    options.input = value;
  } else if (name == "--env") {
    add_env_assignment(options, value);
  } else if (name == "--unset") {
    add_env_removal(options, value);
  } else if (name == "--cwd") {
    options.cwd = non_empty_path(name, value);
  } else if (name == "--search-path" || name == "-L") {
    options.search_path.push_back(non_empty_path(name, value));
  } else if (name == "--deadline") {
    apply_deadline(options, value);
  }
}

bool takes_value(std::string_view name) {
  return name == "--input" || name == "--env" || name == "--unset" || name == "--cwd" ||
         name == "--search-path" || name == "-L" || name == "--deadline";
}

bool is_flag(std::string_view name) { return name == "--metrics" || name == "--help" || name == "-h"; }

// Reads the options and operands of `run`; options may follow the operands,
// and everything after "--" is an operand.
Command parse_run(std::span<const std::string> args) {
  RunOptions options;
  std::vector<std::string> operands;
  bool options_ended = false;

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_ended || arg == "-" || !arg.starts_with('-')) {
      operands.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }

    std::string name = arg;
    std::optional<std::string> attached;
    if (arg.starts_with("--")) {
      if (const auto eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        attached = arg.substr(eq + 1);
      }
    } else if (arg.size() > 2 && arg.starts_with("-L")) {
      name = "-L";
      attached = arg.substr(2);
    }

    if (is_flag(name)) {
      if (attached) throw usage_error("option " + single_quoted(name) + " takes no value");
      if (name == "--metrics") {
        options.print_metrics = true;
        continue;
      }
      return ShowHelp{HelpTopic::run};
    }
    if (!takes_value(name)) throw usage_error("unknown option " + single_quoted(name));
    if (!attached) {
      // The next argument is the value even if it starts with '-' ("--input -").
      if (i + 1 == args.size()) throw usage_error("option " + single_quoted(name) + " needs a value");
      attached = args[++i];
    }
    apply_valued_option(options, name, *attached);
  }

  if (operands.empty()) throw usage_error("missing <module> and <function>");
  if (operands.size() == 1) throw usage_error("missing <function> after module " + single_quoted(operands[0]));
  if (operands.size() > 2) throw usage_error("unexpected argument " + single_quoted(operands[2]));
  if (operands[0].empty()) throw usage_error("empty module name");
  if (operands[1].empty()) throw usage_error("empty function name");
  options.module = operands[0];
  options.function = operands[1];
  return options;
}

}  // namespace

Command parse_arguments(std::span<const std::string> args) {
  if (args.empty()) throw usage_error("missing command (try 'execkit --help')");
  const std::string& command = args[0];
  if (command == "--help" || command == "-h") return ShowHelp{HelpTopic::general};
  if (command == "--version" || command == "-V") return ShowVersion{};
  if (command == "run") return parse_run(args.subspan(1));
  if (command.starts_with('-')) throw usage_error("unknown option " + single_quoted(command));
  throw usage_error("unknown command " + single_quoted(command) + " (try 'execkit --help')");
}

}  // namespace execkit::cli

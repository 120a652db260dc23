// The command line of `execkit`, parsed without touching the file system.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace execkit::cli {

// `execkit run [options] <module> <function>`.
struct RunOptions {
  std::string module;
  std::string function;
  // Unset: empty input. "-": standard input. Otherwise a file to read.
  std::optional<std::string> input;
  // --env / --unset in command-line order; the last one for a name wins.
  std::map<std::string, std::optional<std::string>> env_updates;
  std::optional<std::filesystem::path> cwd;
  std::vector<std::filesystem::path> search_path;
  std::optional<std::chrono::nanoseconds> deadline;
  bool print_metrics = false;

  friend bool operator==(const RunOptions&, const RunOptions&) = default;
};

enum class HelpTopic { general, run };

struct ShowHelp {
  HelpTopic topic = HelpTopic::general;
  friend bool operator==(const ShowHelp&, const ShowHelp&) = default;
};

struct ShowVersion {
  friend bool operator==(const ShowVersion&, const ShowVersion&) = default;
};

using Command = std::variant<ShowHelp, ShowVersion, RunOptions>;

// `args` excludes the program name. Throws CliError(ExitCode::usage) naming
// the offending option or value.
Command parse_arguments(std::span<const std::string> args);

}  // namespace execkit::cli

// How the command-line tool fails: an exit code plus one line for stderr.
#pragma once

#include <stdexcept>
#include <string>

namespace execkit::cli {

// The documented exit codes (see `execkit --help` and docs/cli.md).
enum class ExitCode : int {
  success = 0,
  other = 1,
  usage = 2,
  task = 3,
  timeout = 4,
  worker_crashed = 5,
  result = 6,
  config = 7,
};

// Interrupted by a signal: the shell convention 128 + signal number.
constexpr int interrupted_exit_code(int signal_number) { return 128 + signal_number; }

// A failure found by the tool itself; what() is the message without the
// "execkit: " prefix.
class CliError : public std::runtime_error {
 public:
  CliError(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

inline CliError usage_error(const std::string& message) { return {ExitCode::usage, message}; }

}  // namespace execkit::cli

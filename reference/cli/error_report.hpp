// What the tool prints and returns for a call that ended with an Error.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "cli_error.hpp"
#include "execkit/errors.hpp"

namespace execkit::cli {

struct FailureReport {
  ExitCode code = ExitCode::other;
  // One line naming what went wrong, then any stderr tail lines indented by
  // two spaces; every line ends with '\n' and the first starts with "execkit: ".
  std::string text;
};

// `deadline` is the --deadline value, named in the timeout message.
FailureReport describe_failure(const Error& error, std::optional<std::chrono::nanoseconds> deadline);

// "execkit: " + message + "\n".
std::string error_line(const std::string& message);

// "SIGSEGV" for 11; "signal 99" style text is the caller's job when unknown.
std::optional<std::string> signal_name(int signal_number);

}  // namespace execkit::cli

#include "error_report.hpp"

#include <string.h>

#include <string_view>

#include "seconds.hpp"

namespace execkit::cli {
namespace {

std::string_view trim_trailing_space(std::string_view text) {
  const auto last = text.find_last_not_of(" \t\r\n");
  return last == std::string_view::npos ? std::string_view{} : text.substr(0, last + 1);
}

// Each line of `text` indented under the error line; trailing blank lines dropped.
std::string indented(std::string_view text) {
  text = trim_trailing_space(text);
  std::string out;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    if (!line.empty()) out += "  ";
    out += line;
    out += '\n';
    if (newline == std::string_view::npos) break;
    text.remove_prefix(newline + 1);
  }
  return out;
}

// The error line is the first line of `message`; its other lines (a
// multi-line exception text) follow indented, before `tail`.
std::string error_block(std::string_view message, std::string_view tail = {}) {
  message = trim_trailing_space(message);
  const auto newline = message.find('\n');
  std::string out = error_line(std::string(message.substr(0, newline)));
  if (newline != std::string_view::npos) out += indented(message.substr(newline + 1));
  return out + indented(tail);
}

std::string describe_signal(int signal_number) {
  std::string text = "signal " + std::to_string(signal_number);
  if (const auto name = signal_name(signal_number)) text += " (" + *name + ")";
  return text;
}

FailureReport task_failure(const TaskError& error) {
  std::string line = "task failed: " + error.type();
  if (!error.message().empty()) line += ": " + error.message();
  return {ExitCode::task, error_block(line, error.stderr_tail())};
}

FailureReport crash_failure(const WorkerCrashed& error) {
  std::string line;
  if (error.term_signal()) {
    line = "worker killed by " + describe_signal(*error.term_signal());
  } else if (error.exit_status()) {
    line = "worker exited with status " + std::to_string(*error.exit_status());
  } else {
    line = std::string("worker crashed: ") + error.what();
  }
  return {ExitCode::worker_crashed, error_block(line, error.stderr_tail())};
}

std::string timeout_line(const Error& error, std::optional<std::chrono::nanoseconds> deadline) {
  if (deadline) return "timed out after " + format_seconds(*deadline) + " s";
  return std::string("timed out: ") + error.what();
}

}  // namespace

std::string error_line(const std::string& message) { return "execkit: " + message + "\n"; }

std::optional<std::string> signal_name(int signal_number) {
  // sigabbrev_np (glibc >= 2.32) is async-signal-safe and not localised.
  const char* abbrev = ::sigabbrev_np(signal_number);
  if (abbrev == nullptr) return std::nullopt;
  return std::string("SIG") + abbrev;
}

FailureReport describe_failure(const Error& error, std::optional<std::chrono::nanoseconds> deadline) {
  const std::string what = error.what();
  switch (error.kind()) {
    case ErrorKind::task:
      if (const auto* task = dynamic_cast<const TaskError*>(&error)) return task_failure(*task);
      return {ExitCode::task, error_block("task failed: " + what)};
    case ErrorKind::worker_crashed:
      if (const auto* crash = dynamic_cast<const WorkerCrashed*>(&error)) return crash_failure(*crash);
      return {ExitCode::worker_crashed, error_block("worker crashed: " + what)};
    case ErrorKind::timeout:
      return {ExitCode::timeout, error_block(timeout_line(error, deadline))};
    case ErrorKind::result:
      return {ExitCode::result, error_block("result could not be delivered: " + what)};
    case ErrorKind::spill:
      return {ExitCode::result, error_block("spill file refused: " + what)};
    case ErrorKind::config:
      return {ExitCode::config, error_block("configuration error: " + what)};
    case ErrorKind::cancelled:
      return {ExitCode::other, error_block("call cancelled: " + what)};
    case ErrorKind::backend_closed:
      return {ExitCode::other, error_block("backend closed: " + what)};
  }
  return {ExitCode::other, error_block(what)};
}

}  // namespace execkit::cli

#include "execkit/errors.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <utility>

namespace execkit {
namespace {

// Appends the tail on its own lines so a log line carries what the task printed.
std::string with_stderr_tail(std::string text, const std::string& stderr_tail) {
  if (stderr_tail.empty()) return text;
  text += "\n--- stderr tail ---\n";
  text += stderr_tail;
  if (stderr_tail.back() != '\n') text += '\n';
  text += "--- end of stderr tail ---";
  return text;
}

std::string task_error_text(const std::string& type, const std::string& message,
                            const std::string& stderr_tail) {
  std::string text = "task failed: ";
  text += type.empty() ? "unknown error type" : type;
  text += ": ";
  text += message.empty() ? "(no message)" : message;
  return with_stderr_tail(std::move(text), stderr_tail);
}

// "SIGSEGV: Segmentation fault", "SIGRTMIN+3", or "" for an unknown number.
std::string signal_name(int signo) {
  if (const char* abbrev = sigabbrev_np(signo)) {
    std::string name = std::string("SIG") + abbrev;
    if (const char* description = sigdescr_np(signo)) name += std::string(": ") + description;
    return name;
  }
  if (signo >= SIGRTMIN && signo <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(signo - SIGRTMIN);
  return {};
}

std::string worker_crashed_text(std::optional<int> term_signal, std::optional<int> exit_status,
                                const std::string& stderr_tail) {
  std::string text;
  if (term_signal) {
    text = "worker killed by signal " + std::to_string(*term_signal);
    if (const auto name = signal_name(*term_signal); !name.empty()) text += " (" + name + ")";
  } else if (exit_status) {
    text = "worker exited with status " + std::to_string(*exit_status);
  } else {
    text = "worker ended without a known signal or exit status";
  }
  return with_stderr_tail(std::move(text), stderr_tail);
}

// Double-quoted with control bytes escaped, so blank and odd values stay visible.
std::string quoted(const std::string& value) {
  std::string out = "\"";
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string config_error_text(const std::string& setting, const std::string& value, const std::string& why) {
  return "invalid " + setting + "=" + quoted(value) + ": " + why;
}

}  // namespace

const char* to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::task: return "task";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::cancelled: return "cancelled";
    case ErrorKind::worker_crashed: return "worker_crashed";
    case ErrorKind::result: return "result";
    case ErrorKind::spill: return "spill";
    case ErrorKind::backend_closed: return "backend_closed";
    case ErrorKind::config: return "config";
  }
  return "unknown";
}

TaskError::TaskError(std::string type, std::string message, std::string stderr_tail, ExecutionMetrics metrics)
    : Error(ErrorKind::task, task_error_text(type, message, stderr_tail)),
      type_(std::move(type)),
      message_(std::move(message)),
      stderr_tail_(std::move(stderr_tail)),
      metrics_(std::move(metrics)) {}

WorkerCrashed::WorkerCrashed(std::optional<int> term_signal, std::optional<int> exit_status,
                             std::string stderr_tail)
    : Error(ErrorKind::worker_crashed, worker_crashed_text(term_signal, exit_status, stderr_tail)),
      term_signal_(term_signal),
      exit_status_(exit_status),
      stderr_tail_(std::move(stderr_tail)) {}

ConfigError::ConfigError(std::string setting, std::string value, const std::string& why)
    : Error(ErrorKind::config, config_error_text(setting, value, why)),
      setting_(std::move(setting)),
      value_(std::move(value)) {}

}  // namespace execkit

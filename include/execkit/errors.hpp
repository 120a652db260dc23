// Typed errors: what happened is carried by the type, never inferred from
// message text (RUN-4).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "execkit/metrics.hpp"

namespace execkit {

enum class ErrorKind {
  task,            // the task failed (threw, or reported failure)
  timeout,         // the deadline passed
  cancelled,       // the caller cancelled the call
  worker_crashed,  // the worker died: a signal or an exit status
  result,          // the result could not be delivered (too large, write failed)
  spill,           // a spill file or directory was refused
  backend_closed,  // the backend was shut down
  config,          // a configuration value was invalid
};

const char* to_string(ErrorKind kind) noexcept;

class Error : public std::runtime_error {
 public:
  ErrorKind kind() const noexcept { return kind_; }
  // Throws *this as its most-derived type.
  [[noreturn]] virtual void raise() const = 0;
  // A copy of *this as its most-derived type.
  virtual std::shared_ptr<const Error> clone() const = 0;

 protected:
  Error(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}

 private:
  ErrorKind kind_;
};

class TaskError final : public Error {
 public:
  TaskError(std::string type, std::string message, std::string stderr_tail,
            ExecutionMetrics metrics = {});
  const std::string& type() const noexcept { return type_; }
  const std::string& message() const noexcept { return message_; }
  // The last bytes the task wrote to stderr (bounded by WorkerConfig::stderr_tail_bytes).
  const std::string& stderr_tail() const noexcept { return stderr_tail_; }
  const ExecutionMetrics& metrics() const noexcept { return metrics_; }
  [[noreturn]] void raise() const override { throw *this; }
  std::shared_ptr<const Error> clone() const override { return std::make_shared<TaskError>(*this); }

 private:
  std::string type_, message_, stderr_tail_;
  ExecutionMetrics metrics_;
};

class TimeoutError final : public Error {
 public:
  explicit TimeoutError(const std::string& what) : Error(ErrorKind::timeout, what) {}
  [[noreturn]] void raise() const override { throw *this; }
  std::shared_ptr<const Error> clone() const override { return std::make_shared<TimeoutError>(*this); }
};

class CancelledError final : public Error {
 public:
  explicit CancelledError(const std::string& what) : Error(ErrorKind::cancelled, what) {}
  [[noreturn]] void raise() const override { throw *this; }
  std::shared_ptr<const Error> clone() const override { return std::make_shared<CancelledError>(*this); }
};

class WorkerCrashed final : public Error {
 public:
  // At most one of term_signal / exit_status is set.
  WorkerCrashed(std::optional<int> term_signal, std::optional<int> exit_status,
                std::string stderr_tail);
  // Neither is set: the worker was lost without an observed end (a remote
  // node stopped renewing its lease, the broker connection broke); what()
  // is `cause`.
  explicit WorkerCrashed(const std::string& cause) : Error(ErrorKind::worker_crashed, cause) {}
  std::optional<int> term_signal() const noexcept { return term_signal_; }
  std::optional<int> exit_status() const noexcept { return exit_status_; }
  const std::string& stderr_tail() const noexcept { return stderr_tail_; }
  [[noreturn]] void raise() const override { throw *this; }
  std::shared_ptr<const Error> clone() const override { return std::make_shared<WorkerCrashed>(*this); }

 private:
  std::optional<int> term_signal_, exit_status_;
  std::string stderr_tail_;
};

class ResultError final : public Error {
 public:
  enum class Reason { too_large, write_failed, unreadable };
  ResultError(Reason reason, const std::string& what) : Error(ErrorKind::result, what), reason_(reason) {}
  Reason reason() const noexcept { return reason_; }
  [[noreturn]] void raise() const override { throw *this; }
  std::shared_ptr<const Error> clone() const override { return std::make_shared<ResultError>(*this); }

 private:
  Reason reason_;
};

class SpillError final : public Error {
 public:
  explicit SpillError(const std::string& what) : Error(ErrorKind::spill, what) {}
  [[noreturn]] void raise() const override { throw *this; }
  std::shared_ptr<const Error> clone() const override { return std::make_shared<SpillError>(*this); }
};

class BackendClosed final : public Error {
 public:
  explicit BackendClosed(const std::string& what) : Error(ErrorKind::backend_closed, what) {}
  [[noreturn]] void raise() const override { throw *this; }
  std::shared_ptr<const Error> clone() const override { return std::make_shared<BackendClosed>(*this); }
};

class ConfigError final : public Error {
 public:
  // `setting` names the variable or field; `value` is the offending value.
  ConfigError(std::string setting, std::string value, const std::string& why);
  const std::string& setting() const noexcept { return setting_; }
  const std::string& value() const noexcept { return value_; }
  [[noreturn]] void raise() const override { throw *this; }
  std::shared_ptr<const Error> clone() const override { return std::make_shared<ConfigError>(*this); }

 private:
  std::string setting_, value_;
};

}  // namespace execkit

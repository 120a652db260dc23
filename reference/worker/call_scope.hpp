// One call's changes to the worker process: applies the call's env updates
// and cwd, then puts the base state back and says whether the worker is
// still fit for another call (ISO-5, ISO-8).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base_state.hpp"
#include "envelope.hpp"
#include "posix_timers.hpp"

namespace execkit::worker {

struct SetupFailure {
  std::string type;  // execkit.CwdError, execkit.EnvError
  std::string message;
};

struct RestoreReport {
  // Why this worker must not run another call; empty if it may.
  std::vector<std::string> retire_reasons;
};

class CallScope {
 public:
  CallScope(const BaseState& base, ProcStatusReader& status, PosixTimerSweeper& timers, int control_fd) noexcept;
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;
  // Restores the base state if restore() was not called.
  ~CallScope();

  std::optional<SetupFailure> apply(const wire::Request& request);
  // False when the task closed or replaced the control socket: no response
  // can be sent on it.
  bool control_channel_intact() const noexcept;
  RestoreReport restore();

 private:
  const BaseState& base_;
  ProcStatusReader& status_;
  PosixTimerSweeper& timers_;
  int control_fd_;
  bool restored_ = false;
};

// Puts the base environment back exactly, in its original order.
void restore_environment(const std::vector<std::string>& environment);

}  // namespace execkit::worker

#include "call_scope.hpp"

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "leftovers.hpp"
#include "proc_status.hpp"

namespace execkit::worker {
namespace {

std::string errno_text() { return std::strerror(errno); }

bool is_signal_in(std::uint64_t mask, int sig) { return sig <= 64 && (mask >> (sig - 1)) & 1U; }

// Puts every signal back to its default disposition and empties the mask.
// Only signals the kernel reports as ignored, caught, blocked or pending are
// touched: one read of /proc/self/status instead of ~130 syscalls per call.
void reset_signals(const std::optional<ProcStatus>& status) {
  struct sigaction action {};
  sigemptyset(&action.sa_mask);
  for (int sig = 1; sig <= SIGRTMAX; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (status && !is_signal_in(status->ignored | status->caught | status->pending, sig)) continue;
    // Ignoring first discards a signal left pending while blocked, so it
    // cannot fire once the mask is emptied. glibc refuses its reserved
    // real-time signals; that is fine, tasks cannot change them either.
    action.sa_handler = SIG_IGN;
    ::sigaction(sig, &action, nullptr);
    action.sa_handler = SIG_DFL;
    ::sigaction(sig, &action, nullptr);
  }
  if (!status || status->blocked != 0) {
    sigset_t empty;
    sigemptyset(&empty);
    ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  }
}

// A timer left armed would signal the worker during a later call.
void disarm_interval_timers() {
  const itimerval off{};
  for (int timer : {ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF}) ::setitimer(timer, &off, nullptr);
}

void restore_limits(const BaseState& base, std::vector<std::string>& retire_reasons) {
  for (int resource = 0; resource < RLIM_NLIMITS; ++resource) {
    const rlimit& wanted = base.limits[resource];
    rlimit now{};
    if (::getrlimit(resource, &now) != 0) {
      retire_reasons.push_back(std::string("cannot read ") + rlimit_name(resource) + ": " + errno_text());
      continue;
    }
    if (now.rlim_max < wanted.rlim_max) {
      retire_reasons.push_back(std::string("hard limit ") + rlimit_name(resource) + " lowered");
      continue;
    }
    if ((now.rlim_cur != wanted.rlim_cur || now.rlim_max != wanted.rlim_max) &&
        ::setrlimit(resource, &wanted) != 0) {
      retire_reasons.push_back(std::string("cannot restore ") + rlimit_name(resource) + ": " + errno_text());
    }
  }
}

// True if environ holds exactly `environment`, in that order: most calls
// leave it alone, and rebuilding it costs an allocation per entry.
bool environment_is(const std::vector<std::string>& environment) {
  std::size_t i = 0;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry, ++i)
    if (i == environment.size() || environment[i] != *entry) return false;
  return i == environment.size();
}

}  // namespace

void restore_environment(const std::vector<std::string>& environment) {
  if (environment_is(environment)) return;
  ::clearenv();
  for (const auto& entry : environment) {
    const auto equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) continue;  // capture_base_state drops these
    ::setenv(entry.substr(0, equals).c_str(), entry.c_str() + equals + 1, 1);
  }
}

CallScope::CallScope(const BaseState& base, ProcStatusReader& status, PosixTimerSweeper& timers,
                     int control_fd) noexcept
    : base_(base), status_(status), timers_(timers), control_fd_(control_fd) {}

CallScope::~CallScope() {
  if (!restored_) restore();
}

std::optional<SetupFailure> CallScope::apply(const wire::Request& request) {
  for (const auto& update : request.env_updates) {
    const int rc = update.value ? ::setenv(update.name.c_str(), update.value->c_str(), 1)
                                : ::unsetenv(update.name.c_str());
    if (rc != 0) {
      return SetupFailure{"execkit.EnvError",
                          "cannot apply env update for '" + update.name + "': " + errno_text()};
    }
  }
  if (request.cwd && ::chdir(request.cwd->c_str()) != 0) {
    return SetupFailure{"execkit.CwdError",
                        "cannot change to working directory '" + *request.cwd + "': " + errno_text()};
  }
  return std::nullopt;
}

bool CallScope::control_channel_intact() const noexcept { return identify_fd(control_fd_) == base_.control_channel; }

RestoreReport CallScope::restore() {
  restored_ = true;
  RestoreReport report;
  auto& reasons = report.retire_reasons;
  restore_environment(base_.environment);
  if (::chdir(base_.cwd.c_str()) != 0) {
    reasons.push_back("cannot return to the base directory '" + base_.cwd + "': " + errno_text());
  }
  ::umask(base_.umask);
  disarm_interval_timers();
  if (!timers_.delete_all()) reasons.emplace_back("cannot list or delete the task's POSIX timers");
  const auto status = status_.read();
  reset_signals(status);
  restore_limits(base_, reasons);
  if (!status || status->credentials != base_.credentials) reasons.emplace_back("credentials changed");
  if (children_still_running()) reasons.emplace_back("task left child processes running");
  if (!status || status->threads > 1) reasons.emplace_back("task left threads running");
  for (int fd = 0; fd < 3; ++fd) {
    if (identify_fd(fd) != base_.standard_fds[fd]) {
      reasons.push_back("task closed or replaced fd " + std::to_string(fd));
    }
  }
  return report;
}

}  // namespace execkit::worker

#include "run_once.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <random>
#include <string>
#include <system_error>

#include "call_files.hpp"
#include "mapped_result.hpp"
#include "status.hpp"
#include "stderr_tail.hpp"
#include "worker_process.hpp"

namespace oneshot {
namespace {

using Clock = std::chrono::steady_clock;

std::string new_worker_id() {
  std::random_device random;
  const auto bits = (std::uint64_t{random()} << 32) ^ random();
  char text[13];
  std::snprintf(text, sizeof text, "%012llx", static_cast<unsigned long long>(bits & 0xffffffffffffULL));
  return text;
}

std::string describe(const execkit::Call& call) { return "call " + call.module + "." + call.function; }

std::int64_t nanoseconds(Clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
}

std::int64_t microseconds(const timeval& t) { return std::int64_t{t.tv_sec} * 1'000'000 + t.tv_usec; }

// Milliseconds to wait in poll() for `deadline`: rounded up, -1 for never.
int poll_timeout(execkit::Deadline deadline) {
  if (deadline.is_never()) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline.at - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
}

enum class Ending { exited, deadline, stopped };

// Collects the worker's stderr until it exits, the deadline passes or a stop is requested.
Ending wait_for(const WorkerProcess& worker, int stderr_fd, int wake_fd, execkit::Deadline deadline,
                StderrTail& tail, const std::function<Stop()>& stop_reason) {
  pollfd fds[3] = {{worker.pidfd(), POLLIN, 0}, {stderr_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  for (;;) {
    const int ready = ::poll(fds, 3, poll_timeout(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw std::system_error(errno, std::generic_category(), "poll");
    if (ready == 0) return Ending::deadline;
    if (fds[1].revents != 0 && !tail.read_from(fds[1].fd)) fds[1].fd = -1;  // end of file: stop watching it
    if (fds[2].revents != 0) {
      eventfd_t ignored;
      ::eventfd_read(wake_fd, &ignored);
      if (stop_reason() != Stop::none) return Ending::stopped;
    }
    if (fds[0].revents != 0) return Ending::exited;
  }
}

std::string read_status(int fd) {
  std::string record(1 << 20, '\0');
  const auto n = ::pread(fd, record.data(), record.size(), 0);
  record.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return record;
}

// What a worker that exited on its own left behind: a crash unless it wrote
// its status record and exited 0.
execkit::Outcome judge(const WorkerSettings& settings, const CallFiles& files, int wait_status, std::string tail,
                       execkit::ExecutionMetrics metrics) {
  if (WIFSIGNALED(wait_status)) return execkit::Outcome::failure(execkit::WorkerCrashed(WTERMSIG(wait_status), std::nullopt, tail));
  const int code = WEXITSTATUS(wait_status);
  const auto status = code == 0 ? decode(read_status(files.status.get())) : std::nullopt;
  if (!status) return execkit::Outcome::failure(execkit::WorkerCrashed(std::nullopt, code, tail));
  using Reason = execkit::ResultError::Reason;
  switch (status->kind) {
    case StatusKind::ok:
      return mapped_result(files.result.get(), settings.config.max_result_bytes, std::move(metrics));
    case StatusKind::task_error:
      return execkit::Outcome::failure(execkit::TaskError(status->type, status->message, tail, std::move(metrics)));
    case StatusKind::too_large:
      return execkit::Outcome::failure(execkit::ResultError(Reason::too_large, status->message));
    case StatusKind::write_failed:
      return execkit::Outcome::failure(execkit::ResultError(Reason::write_failed, status->message));
  }
  return execkit::Outcome::failure(execkit::WorkerCrashed(std::nullopt, code, tail));
}

execkit::Outcome ended_early(const execkit::Call& call, Ending ending, Stop reason) {
  if (ending == Ending::deadline) return execkit::Outcome::failure(execkit::TimeoutError(describe(call) + " passed its deadline"));
  if (reason == Stop::cancelled) return execkit::Outcome::failure(execkit::CancelledError(describe(call) + " was cancelled"));
  return execkit::Outcome::failure(execkit::BackendClosed("the backend was shut down while " + describe(call) + " ran"));
}

}  // namespace

execkit::Outcome run_once(const WorkerSettings& settings, const execkit::Call& call, execkit::Deadline deadline,
                          int wake_fd, const std::function<Stop()>& stop_reason) {
  if (Clock::now() >= deadline.at) {
    return execkit::Outcome::failure(execkit::TimeoutError(describe(call) + " passed its deadline before it started"));
  }
  auto files = open_call_files(settings, call);
  const auto worker_id = new_worker_id();
  const auto started = Clock::now();
  auto worker = WorkerProcess::start(settings, call, files, worker_id);
  files.stderr_write.reset();  // only the worker (and what it starts) holds it now: EOF when they end

  StderrTail tail(settings.config.stderr_tail_bytes);
  const auto ending = wait_for(worker, files.stderr_read.get(), wake_fd, deadline, tail, stop_reason);
  if (ending != Ending::exited) worker.kill();
  const auto finished = Clock::now();
  rusage usage{};
  const int wait_status = worker.reap(usage);
  if (ending != Ending::exited) return ended_early(call, ending, stop_reason());
  tail.read_from(files.stderr_read.get());  // what it wrote just before exiting

  execkit::ExecutionMetrics metrics;
  metrics.peak_rss_kib = usage.ru_maxrss;
  metrics.user_time_us = microseconds(usage.ru_utime);
  metrics.system_time_us = microseconds(usage.ru_stime);
  metrics.started_at_ns = nanoseconds(started);
  metrics.finished_at_ns = nanoseconds(finished);
  metrics.wall_time_ns = metrics.finished_at_ns - metrics.started_at_ns;
  metrics.worker_pid = worker.pid();
  metrics.worker_id = worker_id;
  metrics.node_id = settings.node_id;
  return judge(settings, files, wait_status, tail.take(), std::move(metrics));
}

}  // namespace oneshot

// A running oneshot-worker. Until it is reaped, destroying it kills it with
// everything it started and reaps it: no path leaves a worker behind.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <string>

#include "call_files.hpp"
#include "execkit/call.hpp"
#include "unique_fd.hpp"
#include "worker_settings.hpp"

namespace oneshot {

class WorkerProcess {
 public:
  // posix_spawn: no allocation or lock between fork and exec, and every fd
  // but 0..4 closed with close_range(), fast with any RLIMIT_NOFILE (LIFE-9).
  // Throws std::system_error if the worker cannot be started.
  static WorkerProcess start(const WorkerSettings& settings, const execkit::Call& call, const CallFiles& files,
                             const std::string& worker_id);

  WorkerProcess(WorkerProcess&& other) noexcept;
  WorkerProcess& operator=(WorkerProcess&&) = delete;
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;
  ~WorkerProcess();

  pid_t pid() const noexcept { return pid_; }
  // Readable once the worker has exited.
  int pidfd() const noexcept { return pidfd_.get(); }
  // Kills the worker and everything below it (process_tree.hpp).
  void kill() noexcept;
  // Waits for the worker to exit; returns its wait status and resource usage.
  int reap(rusage& usage) noexcept;

 private:
  WorkerProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}

  pid_t pid_;
  UniqueFd pidfd_;
  bool reaped_ = false;
};

}  // namespace oneshot

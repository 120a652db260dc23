// One execkit-worker child process and the caller's ends of its channels.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "unique_fd.hpp"

namespace execkit {

struct WorkerSpawnOptions {
  std::filesystem::path worker_path;
  std::vector<std::string> environment;  // complete "NAME=VALUE" block: nothing else is inherited
  std::filesystem::path cwd;
  bool pdeathsig = true;
};

// How a worker ended.
struct WorkerExit {
  std::optional<int> term_signal;
  std::optional<int> exit_status;
};

class WorkerProcess {
 public:
  // posix_spawn (vfork-style: no allocation in the child) with an explicit
  // environment, its own session, empty signal mask, default dispositions and
  // every fd but 0/1/2/3 closed (close_range: no per-fd loop, LIFE-9).
  // Throws std::system_error.
  static WorkerProcess spawn(const WorkerSpawnOptions& options);

  WorkerProcess(WorkerProcess&&) noexcept = default;
  WorkerProcess& operator=(WorkerProcess&&) noexcept = default;
  // Kills the process group and reaps the worker if that has not happened.
  ~WorkerProcess();

  pid_t pid() const noexcept { return pid_; }
  int pidfd() const noexcept { return pidfd_.get(); }
  int control_fd() const noexcept { return control_.get(); }
  int stdout_fd() const noexcept { return stdout_.get(); }
  int stderr_fd() const noexcept { return stderr_.get(); }

  // SIGKILL to the worker through its pidfd (no PID-reuse race, LIFE-8) and
  // to its process group, which cannot be reused while the worker is unreaped.
  void kill_all() noexcept;
  // Reaps the worker if it has exited; never blocks.
  std::optional<WorkerExit> try_reap() noexcept;
  bool reaped() const noexcept { return reaped_; }
  // Closes the caller's channel ends (e.g. after the worker died).
  void close_channels() noexcept;

 private:
  WorkerProcess() = default;
  pid_t pid_ = -1;
  bool reaped_ = true;
  UniqueFd pidfd_, control_, stdout_, stderr_;
};

}  // namespace execkit

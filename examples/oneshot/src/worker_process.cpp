#include "worker_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>
#include <vector>

#include "process_tree.hpp"
#include "status.hpp"
#include "worker_env.hpp"

namespace oneshot {

WorkerProcess WorkerProcess::start(const WorkerSettings& settings, const execkit::Call& call, const CallFiles& files,
                                   const std::string& worker_id) {
  const auto cwd = call.cwd.value_or(settings.base_dir);
  std::vector<std::string> args{settings.worker.string(),
                                std::to_string(settings.config.enable_pdeathsig ? ::getpid() : 0),
                                std::to_string(settings.config.max_result_bytes), cwd.string(), call.module,
                                call.function};
  for (const auto& dir : call.search_path) args.push_back(dir.string());
  const auto env = worker_environment(settings.config, call, worker_id, settings.node_id);
  std::vector<char*> argv, envp;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  for (const auto& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attributes);
  ::posix_spawn_file_actions_adddup2(&actions, files.input.get(), 0);
  ::posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, files.stderr_write.get(), 2);
  ::posix_spawn_file_actions_adddup2(&actions, files.result.get(), result_fd);
  ::posix_spawn_file_actions_adddup2(&actions, files.status.get(), status_fd);
  ::posix_spawn_file_actions_addclosefrom_np(&actions, status_fd + 1);
  // Every signal at its default action and none blocked, whatever the caller
  // ignores or blocks (ISO-4); a session of its own keeps terminal signals away.
  sigset_t all, none;
  ::sigfillset(&all);
  ::sigemptyset(&none);
  ::posix_spawnattr_setsigdefault(&attributes, &all);
  ::posix_spawnattr_setsigmask(&attributes, &none);
  ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);

  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, &attributes, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "cannot start " + settings.worker.string());
  // Until we reap it the worker's pid cannot be reused, so this names it.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    const int error = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw std::system_error(error, std::generic_category(), "pidfd_open");
  }
  return WorkerProcess(pid, std::move(pidfd));
}

WorkerProcess::WorkerProcess(WorkerProcess&& other) noexcept
    : pid_(other.pid_), pidfd_(std::move(other.pidfd_)), reaped_(std::exchange(other.reaped_, true)) {}

WorkerProcess::~WorkerProcess() {
  if (reaped_) return;
  kill();
  rusage ignored{};
  reap(ignored);
}

void WorkerProcess::kill() noexcept { kill_process_tree(pid_, pidfd_.get()); }

int WorkerProcess::reap(rusage& usage) noexcept {
  int status = 0;
  while (::wait4(pid_, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return status;
}

}  // namespace oneshot

#include "worker_process.hpp"

#include "process_tree.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace execkit {
namespace {

constexpr int first_caller_fd = 10;  // keeps dup2 sources clear of targets 0..3

[[noreturn]] void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

UniqueFd high_cloexec(int fd) {
  if (fd >= first_caller_fd) return UniqueFd(fd);
  UniqueFd low(fd);
  int high = ::fcntl(fd, F_DUPFD_CLOEXEC, first_caller_fd);
  if (high < 0) throw_errno(errno, "fcntl(F_DUPFD_CLOEXEC)");
  return UniqueFd(high);
}

struct Pipe {
  UniqueFd read, write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, "pipe2");
  UniqueFd r(fds[0]), w(fds[1]);
  return {high_cloexec(r.release()), high_cloexec(w.release())};
}

class SpawnActions {
 public:
  SpawnActions() { ::posix_spawn_file_actions_init(&actions_); }
  ~SpawnActions() { ::posix_spawn_file_actions_destroy(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

class SpawnAttributes {
 public:
  SpawnAttributes() { ::posix_spawnattr_init(&attr_); }
  ~SpawnAttributes() { ::posix_spawnattr_destroy(&attr_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  posix_spawnattr_t* get() { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

void check(int rc, const char* what) {
  if (rc != 0) throw_errno(rc, what);
}

}  // namespace

WorkerProcess WorkerProcess::spawn(const WorkerSpawnOptions& options) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) throw_errno(errno, "socketpair");
  UniqueFd control = high_cloexec(sv[0]);
  UniqueFd child_control = high_cloexec(sv[1]);
  Pipe out = make_pipe();
  Pipe err = make_pipe();

  SpawnActions actions;
  check(::posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0), "spawn: open /dev/null");
  check(::posix_spawn_file_actions_adddup2(actions.get(), out.write.get(), 1), "spawn: dup2 stdout");
  check(::posix_spawn_file_actions_adddup2(actions.get(), err.write.get(), 2), "spawn: dup2 stderr");
  check(::posix_spawn_file_actions_adddup2(actions.get(), child_control.get(), 3), "spawn: dup2 control");
  check(::posix_spawn_file_actions_addclosefrom_np(actions.get(), 4), "spawn: closefrom");
  if (!options.cwd.empty())
    check(::posix_spawn_file_actions_addchdir_np(actions.get(), options.cwd.c_str()), "spawn: chdir");

  SpawnAttributes attr;
  sigset_t empty, all;
  ::sigemptyset(&empty);
  ::sigfillset(&all);
  check(::posix_spawnattr_setsigmask(attr.get(), &empty), "spawn: sigmask");
  check(::posix_spawnattr_setsigdefault(attr.get(), &all), "spawn: sigdefault");
  check(::posix_spawnattr_setflags(attr.get(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID),
        "spawn: flags");

  std::string path = options.worker_path.string();
  std::string parent = "--parent-pid=" + std::to_string(::getpid());
  std::string control_arg = "--control-fd=3";
  std::string pdeathsig = "--pdeathsig";
  std::vector<char*> argv{path.data(), control_arg.data(), parent.data()};
  if (options.pdeathsig) argv.push_back(pdeathsig.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(options.environment.size() + 1);
  for (const auto& e : options.environment) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, path.c_str(), actions.get(), attr.get(), argv.data(), envp.data());
  if (rc != 0) throw_errno(rc, ("spawn " + path).c_str());

  WorkerProcess w;
  w.pid_ = pid;
  w.reaped_ = false;
  // The child stays a zombie until we reap it, so this pidfd names exactly it.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int e = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    w.reaped_ = true;
    throw_errno(e, "pidfd_open");
  }
  w.pidfd_.reset(pidfd);  // pidfd_open always sets close-on-exec
  w.control_ = std::move(control);
  w.stdout_ = std::move(out.read);
  w.stderr_ = std::move(err.read);
  for (int fd : {w.control_.get(), w.stdout_.get(), w.stderr_.get()})
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return w;
}

void WorkerProcess::kill_all() noexcept {
  if (reaped_) return;
  // Stopped, the worker can neither fork nor reap while its tree is walked;
  // as a child subreaper it still holds descendants that left its session.
  ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGSTOP, nullptr, 0);
  kill_descendants(pid_);
  ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  // The worker leads its own session and process group (setsid).
  ::kill(-pid_, SIGKILL);
}

std::optional<WorkerExit> WorkerProcess::try_reap() noexcept {
  if (reaped_) return std::nullopt;
  siginfo_t info{};
  if (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED | WNOHANG) != 0 || info.si_pid == 0)
    return std::nullopt;
  reaped_ = true;
  WorkerExit exit;
  if (info.si_code == CLD_EXITED)
    exit.exit_status = info.si_status;
  else
    exit.term_signal = info.si_status;
  return exit;
}

void WorkerProcess::close_channels() noexcept {
  control_.reset();
  stdout_.reset();
  stderr_.reset();
}

WorkerProcess::~WorkerProcess() {
  if (reaped_ || !pidfd_) return;
  kill_all();
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) != 0 && errno == EINTR) {
  }
}

}  // namespace execkit

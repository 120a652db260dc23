#include "backend_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>
#include <vector>

extern char** environ;

namespace execkit::external {
namespace {

// Well above 0..3, so that dup2 onto protocol_fd_number always copies (and so clears CLOEXEC).
UniqueFd moved_high(int fd) {
  UniqueFd out(::fcntl(fd, F_DUPFD_CLOEXEC, 10));
  const int saved = errno;
  ::close(fd);
  if (!out) throw std::system_error(saved, std::generic_category(), "F_DUPFD_CLOEXEC");
  return out;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "ended with status " + std::to_string(status);
}

}  // namespace

BackendProcess::BackendProcess(const std::string& command, const std::filesystem::path& directory, UniqueFd& socket) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    throw std::system_error(errno, std::generic_category(), "socketpair");
  }
  UniqueFd ours = moved_high(ends[0]);
  UniqueFd theirs = moved_high(ends[1]);

  std::vector<std::string> env_strings;
  const std::string fd_variable = "EXECKIT_PROTOCOL_FD=";
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!std::string_view(*entry).starts_with(fd_variable)) env_strings.emplace_back(*entry);
  }
  env_strings.push_back(fd_variable + std::to_string(protocol_fd_number));
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::string shell = "/bin/sh", dash_c = "-c", script = "exec " + command;
  std::vector<char*> argv{shell.data(), dash_c.data(), script.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), protocol_fd_number);
  // Nothing else of the caller's reaches the backend (ENV-7 starts here).
  posix_spawn_file_actions_addclosefrom_np(&actions, protocol_fd_number + 1);
  if (!directory.empty()) posix_spawn_file_actions_addchdir_np(&actions, directory.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const int rc = ::posix_spawn(&pid_, shell.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) {
    pid_ = 0;
    throw std::system_error(rc, std::generic_category(),
                            "starting the backend command '" + command + "'" +
                                (directory.empty() ? "" : " in '" + directory.string() + "'"));
  }
  pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  if (pidfd_) ::fcntl(pidfd_.get(), F_SETFD, FD_CLOEXEC);
  socket = std::move(ours);
}

BackendProcess::~BackendProcess() {
  if (pid_ != 0) kill_and_reap();
}

std::optional<std::string> BackendProcess::wait_for_exit(std::chrono::milliseconds timeout) {
  if (pid_ == 0) return end_;
  if (pidfd_) {
    pollfd exited{pidfd_.get(), POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&exited, 1, static_cast<int>(timeout.count()));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) return std::nullopt;
  }
  int status = 0;
  pid_t rc;
  do {
    rc = ::waitpid(pid_, &status, 0);
  } while (rc < 0 && errno == EINTR);
  end_ = rc == pid_ ? describe_status(status) : "could not be waited for: " + std::string(std::strerror(errno));
  pid_ = 0;
  pidfd_.reset();
  return end_;
}

std::string BackendProcess::kill_and_reap() noexcept {
  if (pid_ == 0) return end_;
  if (pidfd_) {
    ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  } else {
    ::kill(pid_, SIGKILL);
  }
  return *wait_for_exit(std::chrono::milliseconds(-1));
}

}  // namespace execkit::external

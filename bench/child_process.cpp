#include "child_process.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

extern char** environ;

namespace execkit::bench {

ChildProcess ChildProcess::spawn(const std::filesystem::path& program, const std::vector<std::string>& args,
                                 int stdin_fd, int stdout_fd) {
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  ::posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
  std::string path = program.string();
  std::vector<std::string> owned_args = args;
  std::vector<char*> argv{path.data()};
  for (auto& arg : owned_args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn " + path);
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

void wait_for_exit(pid_t pid, int expected_status, const char* what) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), std::string("waitpid ") + what);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != expected_status)
    throw std::runtime_error(std::string(what) + " did not exit with status " + std::to_string(expected_status) +
                             " (wait status " + std::to_string(status) + ")");
}

}  // namespace execkit::bench

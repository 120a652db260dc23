#include "child_caller.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>
#include <vector>

extern char** environ;

namespace execkit::conformance {
namespace {

constexpr int child_report_fd = 3;

std::string current_test_filter() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) throw std::runtime_error("ChildCaller: no test is running");
  return std::string("--gtest_filter=") + info->test_suite_name() + "." + info->name();
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

ChildCaller::ChildCaller(const std::string& role, const std::filesystem::path& dir)
    : stdout_path_(dir / ("child-" + role + ".out")) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  report_fd_ = pipe_fds[0];

  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    // GTEST_*: the child runs its one test whatever the parent's run settings
    // were. A sharded parent (GTEST_TOTAL_SHARDS/GTEST_SHARD_INDEX) would
    // otherwise put the child's single test in shard 0 only, and every other
    // shard's child would run nothing.
    if (text.starts_with(std::string(child_role_variable) + "=") || text.starts_with(std::string(child_dir_variable) + "=") ||
        text.starts_with(std::string(child_fd_variable) + "=") || text.starts_with("GTEST_")) {
      continue;
    }
    env_strings.emplace_back(text);
  }
  env_strings.push_back(std::string(child_role_variable) + "=" + role);
  env_strings.push_back(std::string(child_dir_variable) + "=" + dir.string());
  env_strings.push_back(std::string(child_fd_variable) + "=" + std::to_string(child_report_fd));
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const auto exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string filter = current_test_filter();
  std::string program = exe;
  std::vector<char*> argv{program.data(), filter.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], child_report_fd);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int rc = ::posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(report_fd_);
    throw std::system_error(rc, std::generic_category(), "posix_spawn " + exe);
  }
}

ChildCaller::~ChildCaller() {
  kill_and_reap();
  if (report_fd_ >= 0) ::close(report_fd_);
}

std::string ChildCaller::read_report(std::chrono::milliseconds timeout) {
  std::string line;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (line.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("the child caller sent no report within " + std::to_string(timeout.count()) + " ms; its output:\n" + read_text(stdout_path_));
    pollfd pfd{report_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    std::array<char, 512> buffer{};
    const auto n = ::read(report_fd_, buffer.data(), buffer.size());
    if (n <= 0) throw std::runtime_error("the child caller exited without a report; its output:\n" + read_text(stdout_path_));
    line.append(buffer.data(), static_cast<std::size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

void ChildCaller::kill_and_reap() noexcept {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void report_to_parent_and_wait(const std::string& line) {
  const char* fd_text = std::getenv(child_fd_variable);
  const int fd = fd_text ? std::atoi(fd_text) : -1;
  const std::string message = line + "\n";
  if (fd < 0 || ::write(fd, message.data(), message.size()) != static_cast<ssize_t>(message.size())) std::abort();
  for (;;) ::pause();
}

}  // namespace execkit::conformance

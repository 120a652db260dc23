#include "worker_process.hpp"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>

#include "process_tree.hpp"

namespace execkit {
namespace {

int open_fd_count() {
  int n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (const dirent* e = ::readdir(dir)) n += e->d_name[0] != '.';
  ::closedir(dir);
  return n - 1;  // the directory stream itself
}

bool readable_within(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

WorkerSpawnOptions options() {
  return {EXECKIT_WORKER_PATH, {"EXECKIT_WORKER_ID=000000000000", "PATH=/usr/bin:/bin"}, "/", true};
}

TEST(WorkerProcess, SpawnsWithChannelsAndExitsWhenTheChannelCloses) {
  auto w = WorkerProcess::spawn(options());
  EXPECT_GT(w.pid(), 0);
  EXPECT_GE(w.control_fd(), 10);
  EXPECT_FALSE(w.try_reap().has_value()) << "a fresh worker waits for requests";
  w.close_channels();  // EOF on the control socket: the worker exits 0
  ASSERT_TRUE(readable_within(w.pidfd(), std::chrono::seconds(30)));
  auto exit = w.try_reap();
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_status, std::optional<int>(0));
  EXPECT_FALSE(exit->term_signal.has_value());
  EXPECT_TRUE(w.reaped());
}

TEST(WorkerProcess, KillAllEndsTheWorkerWithSigkill) {
  auto w = WorkerProcess::spawn(options());
  w.kill_all();
  ASSERT_TRUE(readable_within(w.pidfd(), std::chrono::seconds(30)));
  auto exit = w.try_reap();
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->term_signal, std::optional<int>(SIGKILL));
}

TEST(WorkerProcess, DestructorLeavesNoZombieAndNoFd) {
  const int fds_before = open_fd_count();
  pid_t pid = 0;
  {
    auto w = WorkerProcess::spawn(options());
    pid = w.pid();
  }
  EXPECT_EQ(::kill(pid, 0), -1) << "the worker is still there (zombie or alive)";
  EXPECT_EQ(errno, ESRCH);
  EXPECT_EQ(open_fd_count(), fds_before);
}

TEST(WorkerProcess, MissingExecutableIsAnErrorNamingIt) {
  auto opts = options();
  opts.worker_path = "/nonexistent/execkit-worker";
  try {
    WorkerProcess::spawn(opts);
    FAIL() << "spawn of a missing executable succeeded";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/execkit-worker"), std::string::npos) << e.what();
  }
}

// fd number -> what it refers to, for process `pid`.
std::map<int, std::string> open_fds(pid_t pid) {
  std::map<int, std::string> fds;
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = ::opendir(fd_dir.c_str());
  if (dir == nullptr) return fds;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::array<char, 4096> target{};
    const auto n = ::readlinkat(::dirfd(dir), e->d_name, target.data(), target.size() - 1);
    fds[std::stoi(e->d_name)] = n > 0 ? std::string(target.data(), static_cast<std::size_t>(n)) : "?";
  }
  ::closedir(dir);
  return fds;
}

std::string fd_target(int fd) {
  std::array<char, 4096> target{};
  const auto n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target.data(), target.size() - 1);
  return n > 0 ? std::string(target.data(), static_cast<std::size_t>(n)) : "?";
}

TEST(WorkerProcess, ChildSeesOnlyItsOwnFds) {
  // A non-CLOEXEC fd of the caller must not reach the worker (ENV-7).
  int leaked[2];
  ASSERT_EQ(::pipe(leaked), 0);
  auto w = WorkerProcess::spawn(options());
  // Serving, the worker holds fds 0-3 and its own /proc/<pid>/status and
  // /proc/<pid>/timers (fds 4 and 5, opened last before it waits for a request).
  const std::string own_timers = "/proc/" + std::to_string(w.pid()) + "/timers";
  std::map<int, std::string> fds;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((fds = open_fds(w.pid())).count(5) == 0 || fds.at(5) != own_timers) {
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "the worker never opened its timers fd";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::string listing;
  for (const auto& [fd, target] : fds) listing += std::to_string(fd) + " " + target + "\n";
  EXPECT_EQ(fds.size(), 6u) << "expected exactly fds 0..5 in the worker:\n" << listing;
  EXPECT_EQ(fds.at(4), "/proc/" + std::to_string(w.pid()) + "/status") << listing;
  for (int fd : leaked) {
    for (const auto& [number, target] : fds) EXPECT_NE(target, fd_target(fd)) << "the caller's pipe reached fd " << number;
  }
  ::close(leaked[0]);
  ::close(leaked[1]);
}

char process_state(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text, '\0');  // a failed read (ESRCH) must not throw
  auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? 'X' : text[close + 2];
}

TEST(ProcessTree, KillsDescendantsThatLeftTheSession) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t root = ::fork();
  ASSERT_GE(root, 0);
  if (root == 0) {
    // Like the worker: a subreaper, so the daemon below stays in its tree.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (::fork() == 0) {
      ::setsid();
      if (::fork() == 0) {
        const pid_t me = ::getpid();
        [[maybe_unused]] auto n = ::write(ready[1], &me, sizeof me);
        for (;;) ::pause();
      }
      ::_exit(0);
    }
    for (;;) ::pause();
  }
  pid_t daemon = 0;
  ASSERT_EQ(::read(ready[0], &daemon, sizeof daemon), static_cast<ssize_t>(sizeof daemon));
  ::close(ready[0]);
  ::close(ready[1]);

  EXPECT_GE(kill_descendants(root), 1);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (process_state(daemon) != 'Z' && process_state(daemon) != 'X' && std::chrono::steady_clock::now() < give_up)
    std::this_thread::yield();
  const char state = process_state(daemon);
  EXPECT_TRUE(state == 'Z' || state == 'X') << "daemonized descendant still running, state " << state;
  ::kill(root, SIGKILL);
  ::waitpid(root, nullptr, 0);
}

}  // namespace
}  // namespace execkit

// A caller that forks (a child that does not exec at once, e.g. a prefork
// server, or any fork in the window before exec) duplicates every fd the
// backend holds, including those it watches with epoll. Closing an fd does
// not remove its epoll registration while another process still holds the
// open file: the engine must unregister a worker's fds itself before it
// forgets the worker, or epoll keeps reporting events that point into freed
// memory (found by ThreadSanitizer in LIFE-8, whose pid squatters are such
// children). Symptom without sanitizers: a dead worker's pidfd stays
// readable, so the idle I/O thread spins on it. Checked two ways: the
// registrations every epoll instance of this process lists in
// /proc/self/fdinfo (exact, independent of timing), and the CPU the idle
// backend burns.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

#include "execkit/process_pool.hpp"
#include "stress_support.hpp"

namespace execkit::stress {
namespace {

using namespace std::chrono_literals;

std::chrono::microseconds process_cpu_time() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto to_us = [](const timeval& t) { return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec); };
  return std::chrono::duration_cast<std::chrono::microseconds>(to_us(usage.ru_utime) + to_us(usage.ru_stime));
}

// Targets registered with the epoll instances this process holds: one
// "tfd:" line each in /proc/self/fdinfo/<epoll fd>. A registration whose fd
// the caller closed while another process still holds the open file stays
// listed.
std::size_t epoll_registrations() {
  std::size_t count = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(entry.path(), link_ec).string() != "anon_inode:[eventpoll]") continue;
    std::ifstream info("/proc/self/fdinfo/" + entry.path().filename().string());
    for (std::string line; std::getline(info, line);)
      if (line.rfind("tfd:", 0) == 0) ++count;
  }
  return count;
}

// A child of the caller holding copies of all its fds until destroyed.
class ForkedChild {
 public:
  ForkedChild() : pid_(::fork()) {
    if (pid_ == 0) {
      for (;;) ::pause();
    }
  }
  ForkedChild(const ForkedChild&) = delete;
  ForkedChild& operator=(const ForkedChild&) = delete;
  ~ForkedChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return pid_ > 0; }

 private:
  pid_t pid_;
};

TEST(CallerFork, WorkersThatDieWhileAForkedChildHoldsTheirFdsAreForgottenCleanly) {
  TempDir dir("execkit-stress-fork");
  ProcessPoolBackend backend(stress_config(dir.path() / "spill", 1));
  EXPECT_EQ(backend.execute(probe_call("echo", "first"), Deadline::after(60s)).text(), "first");
  const auto registered_with_one_idle_worker = epoll_registrations();
  ASSERT_GT(registered_with_one_idle_worker, 0U) << "no epoll registration found: the check below would be vacuous";
  ForkedChild child;  // now holds the worker's control socket, pipes and pidfd
  ASSERT_TRUE(child.ok());
  // The worker dies, is reaped and forgotten; the next call gets a new one.
  EXPECT_THROW(backend.execute(probe_call("call_abort"), Deadline::after(60s)), WorkerCrashed);
  EXPECT_EQ(backend.execute(probe_call("echo", "second"), Deadline::after(60s)).text(), "second");
  // One idle worker again (max_workers 1, idle timeout 60 s): the same registrations as before the crash.
  EXPECT_EQ(epoll_registrations(), registered_with_one_idle_worker)
      << "the forgotten worker's fds are still registered with epoll (the forked child keeps their files open)";

  // Idle now: the I/O thread must sleep, not keep waking for the dead worker.
  const auto cpu_before = process_cpu_time();
  const auto wall_before = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(300ms);  // the measurement window itself, not a synchronisation
  const auto cpu = process_cpu_time() - cpu_before;
  const auto wall = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - wall_before);
  EXPECT_LT(cpu * 4, wall) << "the idle backend used " << cpu.count() << " us of CPU in " << wall.count()
                           << " us: its I/O thread spins on a dead worker's fd still registered with epoll";
  EXPECT_EQ(backend.execute(probe_call("echo", "third"), Deadline::after(60s)).text(), "third");
}

}  // namespace
}  // namespace execkit::stress

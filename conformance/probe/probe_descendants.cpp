// Probe tasks that leave something running: child processes holding the
// task's stdout/stderr (RUN-7), leftover threads and children (ISO-8).
#include <fcntl.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "probe_common.hpp"
#include "probe_support.hpp"

using execkit::probe::input_text;

namespace {

// Only async-signal-safe calls: runs in a child forked from a possibly
// multi-threaded worker. Writes the caller's pid to `path` via `temporary`.
void publish_own_pid(const char* temporary, const char* path) noexcept {
  char digits[24];
  int length = 0;
  for (pid_t pid = ::getpid(); pid > 0; pid /= 10) digits[length++] = static_cast<char>('0' + pid % 10);
  char text[24];
  for (int i = 0; i < length; ++i) text[i] = digits[length - 1 - i];
  const int fd = ::open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) ::_exit(111);
  if (::write(fd, text, static_cast<std::size_t>(length)) != length) ::_exit(112);
  ::close(fd);
  if (::rename(temporary, path) != 0) ::_exit(113);
}

// Holds the inherited stdout/stderr open until killed.
[[noreturn]] void linger(const char* temporary, const char* path) noexcept {
  ::prctl(PR_SET_NAME, "ek-leftover", 0, 0, 0);
  publish_own_pid(temporary, path);
  for (;;) ::pause();
}

std::string read_small_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "probe: open " + path);
  char buffer[64];
  const auto n = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

// Forks a descendant that lingers with the task's stdout/stderr; returns its pid.
std::string spawn_lingering(const std::string& pid_file, bool daemonize) {
  const std::string temporary = pid_file + ".tmp";
  const pid_t child = ::fork();
  if (child < 0) throw std::system_error(errno, std::generic_category(), "probe: fork");
  if (child == 0) {
    if (!daemonize) linger(temporary.c_str(), pid_file.c_str());
    // Like a daemon: a new session, and a grandchild whose parent is gone.
    ::setsid();
    const pid_t grandchild = ::fork();
    if (grandchild == 0) linger(temporary.c_str(), pid_file.c_str());
    ::_exit(grandchild < 0 ? 114 : 0);
  }
  if (daemonize) ::waitpid(child, nullptr, 0);
  execkit::probe::wait_for_path(pid_file, std::chrono::seconds(30));
  return read_small_file(pid_file);
}

}  // namespace

// Input "pid_file,plain|daemon,return|hang": forks a descendant that keeps
// stdout and stderr open and writes its pid to pid_file (daemon: after
// setsid and a second fork). Then returns that pid, or hangs until killed.
EXECKIT_TASK(spawn_grandchild)(execkit::TaskContext& ctx) {
  const auto parts = execkit::probe::fields(input_text(ctx), ',', 3, "spawn_grandchild");
  const auto pid = spawn_lingering(std::string(parts[0]), parts[1] == "daemon");
  if (parts[2] == "hang") execkit::probe::hang_forever();
  ctx.write(pid);
}

// Leaves a thread named "ek-leftover" running after the task returns. Result "ok".
EXECKIT_TASK(leave_thread)(execkit::TaskContext& ctx) {
  std::thread leftover([] {
    for (;;) execkit::probe::sleep_for_ms(10);
  });
  // Named before the task returns, so that any later look finds it by name.
  ::pthread_setname_np(leftover.native_handle(), "ek-leftover");
  leftover.detach();
  ctx.write("ok");
}

// Input: a pid file. Leaves a child process named "ek-leftover" running
// after the task returns. Result: its pid.
EXECKIT_TASK(leave_child)(execkit::TaskContext& ctx) {
  ctx.write(spawn_lingering(std::string(input_text(ctx)), false));
}

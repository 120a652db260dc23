#include "run_once.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "process_tree.hpp"
#include "status.hpp"
#include "unique_fd.hpp"
#include "worker_env.hpp"

namespace oneshot {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

// Above 0..4, so that moving it into place in the worker never overwrites another of them.
UniqueFd above_stdio(int fd, const std::string& what) {
  if (fd < 0) throw_errno(what);
  UniqueFd owned(fd);
  if (fd > status_fd) return owned;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, status_fd + 1);
  if (moved < 0) throw_errno(what);
  return UniqueFd(moved);
}

void write_all(int fd, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write");
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

UniqueFd memory_file(const char* name, std::span<const std::byte> content) {
  auto fd = above_stdio(::memfd_create(name, MFD_CLOEXEC), std::string("memfd_create ") + name);
  write_all(fd.get(), content);
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) throw_errno("lseek");
  return fd;
}

std::string new_worker_id() {
  std::random_device random;
  const auto bits = (std::uint64_t{random()} << 32) ^ random();
  char text[13];
  std::snprintf(text, sizeof text, "%012llx", static_cast<unsigned long long>(bits & 0xffffffffffffULL));
  return text;
}

std::string describe(const execkit::Call& call) { return "call " + call.module + "." + call.function; }

std::int64_t nanoseconds(Clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
}

std::int64_t microseconds(const timeval& t) { return std::int64_t{t.tv_sec} * 1'000'000 + t.tv_usec; }

// Milliseconds to wait in poll() for `deadline`: rounded up, -1 for never.
int poll_timeout(execkit::Deadline deadline) {
  if (deadline.is_never()) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline.at - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
}

// The last `limit` bytes of a stream, in bounded memory.
class Tail {
 public:
  explicit Tail(std::size_t limit) : limit_(limit) {}
  void append(const char* data, std::size_t size) {
    bytes_.append(data, size);
    if (bytes_.size() > 2 * limit_ + 65536) bytes_.erase(0, bytes_.size() - limit_);
  }
  std::string take() { return bytes_.size() > limit_ ? bytes_.substr(bytes_.size() - limit_) : std::move(bytes_); }

 private:
  std::size_t limit_;
  std::string bytes_;
};

// Reads what `fd` (non-blocking) has now; false at end of file.
bool drain(int fd, Tail& tail) {
  char buffer[65536];
  for (;;) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      tail.append(buffer, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n < 0;  // 0: end of file; EAGAIN: nothing more for now
    }
  }
}

struct CallFiles {
  UniqueFd input;   // becomes the worker's stdin
  UniqueFd result;  // unnamed, in the spill dir: fd 3
  UniqueFd status;  // fd 4
  UniqueFd stderr_read, stderr_write;
};

CallFiles open_call_files(const WorkerSettings& settings, const execkit::Call& call) {
  CallFiles files;
  files.input = memory_file("oneshot-input", call.input);
  const int result = ::open(settings.spill_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (result < 0) {
    throw execkit::SpillError("cannot create a result file in spill dir '" + settings.spill_dir.string() +
                              "': " + std::strerror(errno));
  }
  files.result = above_stdio(result, "result file");
  files.status = memory_file("oneshot-status", {});
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  files.stderr_read = UniqueFd(pipe_fds[0]);
  files.stderr_write = above_stdio(pipe_fds[1], "stderr pipe");
  ::fcntl(files.stderr_read.get(), F_SETFL, O_NONBLOCK);
  return files;
}

struct Worker {
  pid_t pid = -1;
  UniqueFd pidfd;
};

// posix_spawn: no allocation or lock between fork and exec, and the fds
// beyond 0..4 closed with close_range(), fast with any RLIMIT_NOFILE.
Worker spawn_worker(const WorkerSettings& settings, const execkit::Call& call, const CallFiles& files,
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
  // ignores or blocks (ISO-4); its own session keeps terminal signals away.
  sigset_t all, none;
  ::sigfillset(&all);
  ::sigemptyset(&none);
  ::posix_spawnattr_setsigdefault(&attributes, &all);
  ::posix_spawnattr_setsigmask(&attributes, &none);
  ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);

  Worker worker;
  const int rc = ::posix_spawn(&worker.pid, argv[0], &actions, &attributes, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "cannot start " + settings.worker.string());
  // Until we reap it the worker's pid cannot be reused, so this names it.
  worker.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, worker.pid, 0)));
  if (!worker.pidfd) {
    const int error = errno;
    ::kill(worker.pid, SIGKILL);
    ::waitpid(worker.pid, nullptr, 0);
    throw std::system_error(error, std::generic_category(), "pidfd_open");
  }
  return worker;
}

enum class Ending { exited, deadline, stopped };

// Collects the worker's stderr until it exits, the deadline passes or a stop is requested.
Ending wait_for_worker(const Worker& worker, int stderr_fd, int wake_fd, execkit::Deadline deadline, Tail& tail,
                       const std::function<Stop()>& stop_reason) {
  pollfd fds[3] = {{worker.pidfd.get(), POLLIN, 0}, {stderr_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  for (;;) {
    const int ready = ::poll(fds, 3, poll_timeout(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw_errno("poll");
    if (ready == 0) return Ending::deadline;
    if (fds[1].revents != 0 && !drain(fds[1].fd, tail)) fds[1].fd = -1;  // end of file: stop watching it
    if (fds[2].revents != 0) {
      eventfd_t ignored;
      ::eventfd_read(wake_fd, &ignored);
      if (stop_reason() != Stop::none) return Ending::stopped;
    }
    if (fds[0].revents != 0) return Ending::exited;
  }
}

class Mapping {
 public:
  Mapping(void* address, std::size_t size) : address_(address), size_(size) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { ::munmap(address_, size_); }

 private:
  void* address_;
  std::size_t size_;
};

// The result file as a read-only mapping the Result owns: mapped, not copied (SPILL-2).
execkit::Outcome mapped_result(int fd, std::uint64_t cap, execkit::ExecutionMetrics metrics) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    return execkit::Outcome::failure(execkit::ResultError(execkit::ResultError::Reason::unreadable,
                                                          std::string("cannot examine the result file: ") + std::strerror(errno)));
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > cap) {
    return execkit::Outcome::failure(execkit::ResultError(execkit::ResultError::Reason::too_large,
                                                          "the result (" + std::to_string(size) + " bytes) exceeds max_result_bytes (" +
                                                              std::to_string(cap) + ")"));
  }
  if (size == 0) return execkit::Result({}, {}, std::move(metrics));
  void* address = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (address == MAP_FAILED) {
    return execkit::Outcome::failure(execkit::ResultError(execkit::ResultError::Reason::unreadable,
                                                          std::string("cannot map the result file: ") + std::strerror(errno)));
  }
  auto owner = std::make_shared<const Mapping>(address, size);
  return execkit::Result(owner, {static_cast<const std::byte*>(address), size}, std::move(metrics));
}

std::string read_status(int fd) {
  std::string record(1 << 20, '\0');
  const auto n = ::pread(fd, record.data(), record.size(), 0);
  record.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return record;
}

// What a worker that exited on its own left behind.
execkit::Outcome judge(const WorkerSettings& settings, const CallFiles& files, int wait_status, std::string tail,
                       const execkit::ExecutionMetrics& metrics) {
  if (WIFSIGNALED(wait_status)) return execkit::Outcome::failure(execkit::WorkerCrashed(WTERMSIG(wait_status), std::nullopt, tail));
  const int code = WEXITSTATUS(wait_status);
  const auto status = code == 0 ? decode(read_status(files.status.get())) : std::nullopt;
  if (!status) return execkit::Outcome::failure(execkit::WorkerCrashed(std::nullopt, code, tail));
  switch (status->kind) {
    case StatusKind::ok:
      return mapped_result(files.result.get(), settings.config.max_result_bytes, metrics);
    case StatusKind::task_error:
      return execkit::Outcome::failure(execkit::TaskError(status->type, status->message, tail, metrics));
    case StatusKind::too_large:
      return execkit::Outcome::failure(execkit::ResultError(execkit::ResultError::Reason::too_large, status->message));
    case StatusKind::write_failed:
      return execkit::Outcome::failure(execkit::ResultError(execkit::ResultError::Reason::write_failed, status->message));
  }
  return execkit::Outcome::failure(execkit::WorkerCrashed(std::nullopt, code, tail));
}

execkit::Outcome stopped(const execkit::Call& call, Ending ending, Stop reason) {
  if (ending == Ending::deadline) return execkit::Outcome::failure(execkit::TimeoutError(describe(call) + " passed its deadline"));
  if (reason == Stop::cancelled) return execkit::Outcome::failure(execkit::CancelledError(describe(call) + " was cancelled"));
  return execkit::Outcome::failure(execkit::BackendClosed("the backend was shut down while " + describe(call) + " ran"));
}

}  // namespace

execkit::Outcome run_once(const WorkerSettings& settings, const execkit::Call& call, execkit::Deadline deadline,
                          int wake_fd, const std::function<Stop()>& stop_reason) {
  if (Clock::now() >= deadline.at) {
    return execkit::Outcome::failure(execkit::TimeoutError(describe(call) + " passed its deadline before it started"));
  }
  auto files = open_call_files(settings, call);
  const auto worker_id = new_worker_id();
  const auto started = Clock::now();
  auto worker = spawn_worker(settings, call, files, worker_id);
  files.stderr_write.reset();  // only the worker (and what it starts) holds it now: EOF when they end

  Tail tail(settings.config.stderr_tail_bytes);
  const auto ending = wait_for_worker(worker, files.stderr_read.get(), wake_fd, deadline, tail, stop_reason);
  if (ending != Ending::exited) kill_process_tree(worker.pid, worker.pidfd.get());
  const auto finished = Clock::now();
  int wait_status = 0;
  rusage usage{};
  while (::wait4(worker.pid, &wait_status, 0, &usage) < 0 && errno == EINTR) {
  }
  if (ending != Ending::exited) return stopped(call, ending, stop_reason());
  drain(files.stderr_read.get(), tail);  // what it wrote just before exiting

  execkit::ExecutionMetrics metrics;
  metrics.peak_rss_kib = usage.ru_maxrss;
  metrics.user_time_us = microseconds(usage.ru_utime);
  metrics.system_time_us = microseconds(usage.ru_stime);
  metrics.started_at_ns = nanoseconds(started);
  metrics.finished_at_ns = nanoseconds(finished);
  metrics.wall_time_ns = metrics.finished_at_ns - metrics.started_at_ns;
  metrics.worker_pid = worker.pid;
  metrics.worker_id = worker_id;
  metrics.node_id = settings.node_id;
  return judge(settings, files, wait_status, tail.take(), metrics);
}

}  // namespace oneshot

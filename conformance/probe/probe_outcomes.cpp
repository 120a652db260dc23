// Probe tasks that end a call in a chosen way or leave a measurable trace:
// side-effect counters (RUN-1), misleading output (RUN-4), stderr/stdout
// floods (RUN-3, RUN-6), crashes (ISO-6), CPU and memory use (METRIC-2),
// result write failures (RUN-5).
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "probe_common.hpp"
#include "probe_support.hpp"

using execkit::probe::input_text;
using execkit::probe::parse_decimal;

namespace {

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::system_error(errno, std::generic_category(), "probe: write to fd " + std::to_string(fd));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Ends the task the way `action` says: ok, fail, hang, abort.
void finish(execkit::TaskContext& ctx, std::string_view action) {
  if (action == "ok") {
    ctx.write("ok");
  } else if (action == "fail") {
    throw std::runtime_error("probe: failing as asked");
  } else if (action == "hang") {
    execkit::probe::hang_forever();
  } else if (action == "abort") {
    std::abort();
  } else {
    throw std::invalid_argument("probe: unknown action '" + std::string(action) + "'");
  }
}

}  // namespace

// Input "path|action": appends one byte to `path` (the side-effect counter),
// then ends as `action` says (ok, fail, hang, abort).
EXECKIT_TASK(bump_counter)(execkit::TaskContext& ctx) {
  const auto parts = execkit::probe::fields(input_text(ctx), '|', 2, "bump_counter");
  const std::string path(parts[0]);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "probe: open " + path);
  write_all(fd, "x");
  ::close(fd);
  finish(ctx, parts[1]);
}

// Writes the input to stdout and stderr, then fails with type "ValueError"
// and the input as message (RUN-4: text is not evidence).
EXECKIT_TASK(print_and_fail)(execkit::TaskContext& ctx) {
  const std::string text(input_text(ctx));
  write_all(STDOUT_FILENO, text + "\n");
  write_all(STDERR_FILENO, text + "\n");
  ctx.fail("ValueError", text);
}

// Writes the input to stdout and stderr and succeeds with "ok".
EXECKIT_TASK(print_and_succeed)(execkit::TaskContext& ctx) {
  const std::string text(input_text(ctx));
  write_all(STDOUT_FILENO, text + "\n");
  write_all(STDERR_FILENO, text + "\n");
  ctx.write("ok");
}

// Input "N,marker": writes N bytes of filler lines and then `marker` to
// stderr, then fails with the marker as message.
EXECKIT_TASK(stderr_flood_then_fail)(execkit::TaskContext& ctx) {
  const auto parts = execkit::probe::fields(input_text(ctx), ',', 2, "stderr_flood_then_fail");
  auto left = parse_decimal(parts[0], "stderr bytes");
  const std::string line(63, 'f');
  std::string block;
  while (block.size() < 65536) block += line + "\n";
  while (left > 0) {
    const auto n = std::min<std::uint64_t>(left, block.size());
    write_all(STDERR_FILENO, std::string_view(block).substr(0, n));
    left -= n;
  }
  write_all(STDERR_FILENO, std::string(parts[1]));
  throw std::runtime_error(std::string(parts[1]));
}

// Input "stdout|stderr,MiB": writes that many MiB to the stream. Result "ok".
EXECKIT_TASK(flood)(execkit::TaskContext& ctx) {
  const auto parts = execkit::probe::fields(input_text(ctx), ',', 2, "flood");
  const int fd = parts[0] == "stdout" ? STDOUT_FILENO : parts[0] == "stderr" ? STDERR_FILENO : -1;
  if (fd < 0) throw std::invalid_argument("probe: flood: unknown stream '" + std::string(parts[0]) + "'");
  const auto mib = parse_decimal(parts[1], "flood MiB");
  const std::string block(std::size_t{1} << 20, 'z');
  for (std::uint64_t i = 0; i < mib; ++i) write_all(fd, block);
  ctx.write("ok");
}

// Input: an exit status; ends the process with std::exit (atexit handlers run).
EXECKIT_TASK(call_exit)(execkit::TaskContext& ctx) {
  std::exit(parse_decimal<int>(input_text(ctx), "exit status", 0, 255));
}

// Ends the process with std::abort().
EXECKIT_TASK(call_abort)(execkit::TaskContext&) { std::abort(); }

// Writes through a null pointer: a real SIGSEGV, not a raised one.
// Uninstrumented so that sanitizer builds crash for real instead of
// reporting the null store themselves.
__attribute__((no_sanitize("address", "undefined"), noinline)) static void write_through_null() {
  volatile int* volatile nowhere = nullptr;
  *nowhere = 1;
}

EXECKIT_TASK(segfault)(execkit::TaskContext&) {
  write_through_null();
  throw std::runtime_error("probe: writing through a null pointer did not crash");
}

// Input: milliseconds of CPU time to burn in user space. Result "ok".
EXECKIT_TASK(burn_cpu_ms)(execkit::TaskContext& ctx) {
  const auto ms = parse_decimal(input_text(ctx), "burn_cpu_ms");
  auto cpu_ns = [] {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(now.tv_nsec);
  };
  const auto until = cpu_ns() + ms * 1'000'000;
  volatile std::uint64_t sink = 0;
  while (cpu_ns() < until) {
    for (int i = 0; i < 10000; ++i) sink = sink * 31 + static_cast<std::uint64_t>(i);
  }
  ctx.write("ok");
}

// Input: MiB to allocate and touch page by page (raises the worker's peak RSS). Result "ok".
EXECKIT_TASK(touch_mib)(execkit::TaskContext& ctx) {
  const auto bytes = parse_decimal(input_text(ctx), "touch_mib") << 20;
  std::vector<char> block(bytes);
  for (std::size_t i = 0; i < block.size(); i += 4096) block[i] = static_cast<char>(i);
  volatile char keep = block[block.size() / 2];
  (void)keep;
  ctx.write("ok");
}

// Input "size,limit": with RLIMIT_FSIZE lowered to `limit` bytes and SIGXFSZ
// ignored, writes `size` result bytes; a spill file then cannot be written
// (like ENOSPC). Limit and disposition are restored before the task ends.
EXECKIT_TASK(write_limited)(execkit::TaskContext& ctx) {
  const auto parts = execkit::probe::fields(input_text(ctx), ',', 2, "write_limited");
  const auto size = parse_decimal(parts[0], "size");
  const auto limit = parse_decimal(parts[1], "limit");
  rlimit saved{};
  ::getrlimit(RLIMIT_FSIZE, &saved);
  struct sigaction ignored {};
  ignored.sa_handler = SIG_IGN;
  struct sigaction saved_action {};
  ::sigaction(SIGXFSZ, &ignored, &saved_action);
  struct Restore {
    rlimit limit;
    struct sigaction action;
    ~Restore() {
      ::setrlimit(RLIMIT_FSIZE, &limit);
      ::sigaction(SIGXFSZ, &action, nullptr);
    }
  } restore{saved, saved_action};
  rlimit lowered = saved;
  lowered.rlim_cur = static_cast<rlim_t>(limit);
  ::setrlimit(RLIMIT_FSIZE, &lowered);
  const std::vector<std::byte> chunk(std::size_t{1} << 16, std::byte{'w'});
  for (std::uint64_t left = size; left > 0;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    ctx.write(std::span(chunk.data(), n));
    left -= n;
  }
}

// Basic probe tasks: observe the task's environment and provoke outcomes.
// Inputs are plain text; results are plain bytes (so a later out-of-process
// adapter can describe every task as data).
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "probe_support.hpp"

extern char** environ;

using execkit::probe::input_text;
using execkit::probe::parse_decimal;

// Result: the input, unchanged.
EXECKIT_TASK(echo)(execkit::TaskContext& ctx) { ctx.write(ctx.input()); }

// Result: the environment as "NAME=VALUE\n" lines, sorted.
EXECKIT_TASK(env)(execkit::TaskContext& ctx) {
  std::vector<std::string> entries;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) entries.emplace_back(*entry);
  std::sort(entries.begin(), entries.end());
  for (const auto& entry : entries) ctx.write(entry + "\n");
}

// Result: the raw bytes of /proc/self/environ (the initial environment block).
EXECKIT_TASK(proc_environ)(execkit::TaskContext& ctx) {
  std::ifstream file("/proc/self/environ", std::ios::binary);
  if (!file) throw std::runtime_error("probe: cannot open /proc/self/environ");
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  ctx.write(bytes);
}

// Result: the current working directory.
EXECKIT_TASK(cwd)(execkit::TaskContext& ctx) {
  std::unique_ptr<char, decltype(&std::free)> dir(::getcwd(nullptr, 0), &std::free);
  if (!dir) throw std::system_error(errno, std::generic_category(), "probe: getcwd");
  ctx.write(std::string_view(dir.get()));
}

// Result: getpid() in decimal.
EXECKIT_TASK(pid)(execkit::TaskContext& ctx) { ctx.write(std::to_string(::getpid())); }

// Writes "probe stderr: <input>\n" to stderr, then fails with the input as message.
EXECKIT_TASK(fail)(execkit::TaskContext& ctx) {
  const std::string message(input_text(ctx));
  std::fprintf(stderr, "probe stderr: %s\n", message.c_str());
  throw std::runtime_error(message);
}

// Input "N", "N,seed" or "N,seed,chunk": result is exactly N bytes of
// probe::ByteStream(seed) (seed 0 by default), written in pieces of `chunk`
// bytes (default 1 MiB).
EXECKIT_TASK(write_bytes)(execkit::TaskContext& ctx) {
  const auto text = input_text(ctx);
  const auto comma = text.find(',');
  const auto second = comma == std::string_view::npos ? comma : text.find(',', comma + 1);
  const auto count = parse_decimal(text.substr(0, comma), "write_bytes size");
  const auto seed = comma == std::string_view::npos
                        ? 0
                        : parse_decimal(text.substr(comma + 1, second == std::string_view::npos ? second : second - comma - 1),
                                        "write_bytes seed");
  const auto piece = second == std::string_view::npos
                         ? std::uint64_t{1} << 20
                         : parse_decimal(text.substr(second + 1), "write_bytes chunk", std::uint64_t{1});
  execkit::probe::ByteStream stream(seed);
  std::vector<std::byte> chunk(static_cast<std::size_t>(std::min<std::uint64_t>(piece, std::uint64_t{1} << 20)));
  for (std::uint64_t left = count; left > 0;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    std::span<std::byte> part(chunk.data(), n);
    stream.fill(part);
    ctx.write(part);
    left -= n;
  }
}

// Input "NAME=VALUE": sets it in the task's own environment. Result "ok".
EXECKIT_TASK(setenv)(execkit::TaskContext& ctx) {
  const std::string text(input_text(ctx));
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw std::invalid_argument("probe: setenv: expected NAME=VALUE, got '" + text + "'");
  }
  if (::setenv(text.substr(0, equals).c_str(), text.c_str() + equals + 1, 1) != 0) {
    throw std::system_error(errno, std::generic_category(), "probe: setenv '" + text + "'");
  }
  ctx.write("ok");
}

// Input: a directory to change into. Result "ok".
EXECKIT_TASK(chdir)(execkit::TaskContext& ctx) {
  const std::string dir(input_text(ctx));
  if (::chdir(dir.c_str()) != 0)
    throw std::system_error(errno, std::generic_category(), "probe: chdir '" + dir + "'");
  ctx.write("ok");
}

// Input: milliseconds to sleep. Result "ok".
EXECKIT_TASK(sleep_ms)(execkit::TaskContext& ctx) {
  const auto ms = parse_decimal(input_text(ctx), "sleep_ms milliseconds");
  timespec left{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000};
  while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
  ctx.write("ok");
}

// Input: a signal number the task raises (e.g. 11 for SIGSEGV).
EXECKIT_TASK(crash_signal)(execkit::TaskContext& ctx) {
  const int sig = parse_decimal<int>(input_text(ctx), "crash_signal signal", 1, SIGRTMAX);
  ::raise(sig);
  throw std::runtime_error("probe: raising signal " + std::to_string(sig) + " did not end the process");
}

// Input: an exit status; the task ends its process with _exit(status).
EXECKIT_TASK(exit_code)(execkit::TaskContext& ctx) {
  ::_exit(parse_decimal<int>(input_text(ctx), "exit_code status", 0, 255));
}

// Floors: what the machine allows for each thing the backend does, measured
// in the same binary and run as the backend (docs/performance.md).
#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "bench_context.hpp"
#include "child_process.hpp"
#include "cpu_usage.hpp"
#include "fill_check.hpp"
#include "floor_command.hpp"
#include "latency_recorder.hpp"
#include "mapping.hpp"
#include "one_cpu.hpp"
#include "relay_thread.hpp"
#include "timed_case.hpp"
#include "unique_fd.hpp"

extern char** environ;

namespace execkit::bench {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

struct FdPair {
  UniqueFd first, second;
};

FdPair make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

FdPair make_socketpair(int type) {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) throw_errno("socketpair");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void write_byte(int fd) {
  const char byte = 'x';
  while (::write(fd, &byte, 1) != 1)
    if (errno != EINTR) throw_errno("write");
}

void read_byte(int fd) {
  char byte;
  ssize_t n;
  while ((n = ::read(fd, &byte, 1)) != 1) {
    if (n == 0) throw std::runtime_error("the floor's peer closed its end");
    if (errno != EINTR) throw_errno("read");
  }
}

// One byte there and back, `state.iterations()` times, each timed.
void ping_pong(benchmark::State& state, int to_peer, int from_peer) {
  for (int i = 0; i < 200; ++i) {  // both processes awake and the path warm
    write_byte(to_peer);
    read_byte(from_peer);
  }
  LatencyRecorder latencies;
  latencies.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    const auto start = Clock::now();
    write_byte(to_peer);
    read_byte(from_peer);
    const auto took = Clock::now() - start;
    latencies.add(took);
    state.SetIterationTime(seconds(took));
  }
  latencies.report(state);
}

void pipe_ping_pong(benchmark::State& state, const BenchContext& context, bool one_cpu) {
  std::optional<OneCpu> pinned;  // the peer inherits the affinity
  if (one_cpu) pinned.emplace();
  auto to_peer = make_pipe();
  auto from_peer = make_pipe();
  ChildProcess peer = ChildProcess::spawn(context.paths.peer_program, {"echo"}, to_peer.first.get(), from_peer.second.get());
  to_peer.first.reset();
  from_peer.second.reset();
  ping_pong(state, to_peer.second.get(), from_peer.first.get());
}

void socketpair_ping_pong(benchmark::State& state, const BenchContext& context, int type) {
  auto pair = make_socketpair(type);
  ChildProcess peer = ChildProcess::spawn(context.paths.peer_program, {"echo"}, pair.second.get(), pair.second.get());
  pair.second.reset();
  ping_pong(state, pair.first.get(), pair.first.get());
}

// The shape of a backend call without the backend: the caller wakes an I/O
// thread (eventfd + epoll), which sends to a child over a SEQPACKET socket,
// receives its answer and wakes the caller (mutex + condition variable).
void two_hop_relay(benchmark::State& state, const BenchContext& context, bool one_cpu) {
  std::optional<OneCpu> pinned;
  if (one_cpu) pinned.emplace();
  auto pair = make_socketpair(SOCK_SEQPACKET);
  ChildProcess peer = ChildProcess::spawn(context.paths.peer_program, {"echo"}, pair.second.get(), pair.second.get());
  pair.second.reset();
  RelayThread relay(pair.first.get());
  for (int i = 0; i < 200; ++i) relay.round_trip();
  LatencyRecorder latencies;
  latencies.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    const auto start = Clock::now();
    relay.round_trip();
    const auto took = Clock::now() - start;
    latencies.add(took);
    state.SetIterationTime(seconds(took));
  }
  latencies.report(state);
}

template <class Start>
void start_and_wait(benchmark::State& state, Start start_child, const char* what, int expected_status = 0) {
  LatencyRecorder latencies;
  latencies.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    const auto start = Clock::now();
    wait_for_exit(start_child(), expected_status, what);
    const auto took = Clock::now() - start;
    latencies.add(took);
    state.SetIterationTime(seconds(took));
  }
  latencies.report(state);
}

void fork_exec_wait(benchmark::State& state, const BenchContext& context) {
  const std::string path = context.paths.true_program.string();
  start_and_wait(state, [&path] {
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) {
      char* const argv[] = {const_cast<char*>(path.c_str()), nullptr};
      ::execve(path.c_str(), argv, environ);
      ::_exit(127);
    }
    return pid;
  }, "fork+exec of execkit_bench_true");
}

// stderr_to_null: the child's usage message is not what is measured.
pid_t spawn_without_arguments(const std::string& path, bool stderr_to_null = false) {
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  if (stderr_to_null) ::posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  char* const argv[] = {const_cast<char*>(path.c_str()), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv, environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn " + path);
  return pid;
}

void posix_spawn_wait(benchmark::State& state, const BenchContext& context) {
  const std::string path = context.paths.true_program.string();
  start_and_wait(state, [&path] { return spawn_without_arguments(path); }, "posix_spawn of execkit_bench_true");
}

// Part of a cold call: execkit-worker started without arguments loads its
// shared libraries, finds its command line bad and exits with status 2.
void posix_spawn_worker_binary(benchmark::State& state, const BenchContext& context) {
  const std::string path = context.paths.worker_program.string();
  start_and_wait(state, [&path] { return spawn_without_arguments(path, true); }, "posix_spawn of execkit-worker", 2);
}

// The other part: loading a task module into a process (and unloading it).
void dlopen_module(benchmark::State& state, const BenchContext& context) {
  const std::string path = context.paths.probe_module.string();
  LatencyRecorder latencies;
  for (auto _ : state) {
    const auto start = Clock::now();
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    const auto took = Clock::now() - start;
    if (handle == nullptr) throw std::runtime_error(std::string("dlopen: ") + ::dlerror());
    ::dlclose(handle);
    latencies.add(took);
    state.SetIterationTime(seconds(took));
  }
  latencies.report(state);
}

// A warm child writes `size` bytes to a file in the spill dir; the parent
// opens, maps, unlinks and reads every byte: the backend's large-result path
// with nothing else (no protocol, no checks, no threads).
void write_then_map(benchmark::State& state, const BenchContext& context, std::int64_t size) {
  auto commands = make_pipe();
  auto replies = make_pipe();
  ChildProcess peer =
      ChildProcess::spawn(context.paths.peer_program, {"writer"}, commands.first.get(), replies.second.get());
  commands.first.reset();
  replies.second.reset();
  const auto file = context.scratch.spill_dir() / "floor-data";
  WriteCommand command{};
  command.size = static_cast<std::uint64_t>(size);
  if (file.string().size() >= sizeof command.path) throw std::runtime_error("spill dir path too long: " + file.string());
  std::strcpy(command.path, file.c_str());

  // One round trip: the peer writes the file, this process maps, unlinks and
  // reads it. The mapping is released by the caller, after the timing.
  const auto round_trip = [&]() {
    if (::write(commands.second.get(), &command, sizeof command) != static_cast<ssize_t>(sizeof command))
      throw_errno("write command");
    char reply = 0;
    if (::read(replies.first.get(), &reply, 1) != 1 || reply != 'k')
      throw std::runtime_error("the writer peer failed to write " + file.string());
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw_errno("open " + file.string());
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || st.st_size != size) throw std::runtime_error("floor file has the wrong size");
    Mapping mapping = Mapping::map_readonly(fd.get(), static_cast<std::size_t>(size));
    ::unlink(file.c_str());
    if (!all_fill_bytes(mapping.bytes())) throw std::runtime_error("the floor read back other bytes than were written");
    return mapping;
  };
  round_trip();  // warm-up of the same size, as the backend case has

  LatencyRecorder latencies;
  latencies.reserve(static_cast<std::size_t>(state.max_iterations));
  CpuMeter cpu;
  for (auto _ : state) {
    cpu.start(peer.pid());
    const auto start = Clock::now();
    const Mapping mapping = round_trip();
    const auto took = Clock::now() - start;
    cpu.stop();
    latencies.add(took);
    state.SetIterationTime(seconds(took));
  }
  state.SetBytesProcessed(state.iterations() * size);
  latencies.report(state);
  state.counters["cpu_us"] = cpu.mean_us();
}

}  // namespace

void register_floor_cases(const BenchContext& context) {
  const auto& p = context.profile;
  const auto* c = &context;
  const auto ping = p.iterations(20000, 2000);
  timed_case("floor/pipe_pingpong", ping, [c](benchmark::State& s) { pipe_ping_pong(s, *c, false); });
  timed_case("floor/pipe_pingpong/one_cpu", ping, [c](benchmark::State& s) { pipe_ping_pong(s, *c, true); });
  timed_case("floor/socketpair_pingpong/stream", ping,
             [c](benchmark::State& s) { socketpair_ping_pong(s, *c, SOCK_STREAM); });
  timed_case("floor/socketpair_pingpong/seqpacket", ping,
             [c](benchmark::State& s) { socketpair_ping_pong(s, *c, SOCK_SEQPACKET); });
  timed_case("floor/two_hop_relay", ping, [c](benchmark::State& s) { two_hop_relay(s, *c, false); });
  timed_case("floor/two_hop_relay/one_cpu", ping, [c](benchmark::State& s) { two_hop_relay(s, *c, true); });
  const auto spawns = p.iterations(300, 30);
  timed_case("floor/fork_exec_wait", spawns, [c](benchmark::State& s) { fork_exec_wait(s, *c); });
  timed_case("floor/posix_spawn_wait", spawns, [c](benchmark::State& s) { posix_spawn_wait(s, *c); });
  timed_case("anatomy/posix_spawn_wait_worker_binary", spawns,
             [c](benchmark::State& s) { posix_spawn_worker_binary(s, *c); });
  timed_case("anatomy/dlopen_probe_module", spawns, [c](benchmark::State& s) { dlopen_module(s, *c); });
  for (const auto size : result_sizes()) {
    if (const auto iterations = result_iterations(p, size); iterations > 0)
      timed_case("floor/write_map/" + std::to_string(size), iterations,
                 [c, size](benchmark::State& s) { write_then_map(s, *c, size); });
  }
}

}  // namespace execkit::bench

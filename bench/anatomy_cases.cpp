// The anatomy of a warm call: what each system call the backend makes per
// call costs on this machine, measured alone (docs/performance.md splits a
// call with these). Run in the benchmark process; the kernel work is the same
// as in a worker.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <array>
#include <climits>
#include <csignal>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "bench_context.hpp"
#include "timed_case.hpp"
#include "unique_fd.hpp"

namespace execkit::bench {
namespace {

void all_rlimits(benchmark::State& state) {
  for (auto _ : state) {
    for (int resource = 0; resource < RLIM_NLIMITS; ++resource) {
      rlimit limit{};
      ::getrlimit(resource, &limit);
      benchmark::DoNotOptimize(limit);
    }
  }
  state.counters["syscalls"] = RLIM_NLIMITS;
}

// Open, read to the end, close: how a /proc file is read without a kept fd.
void read_whole_file(benchmark::State& state, const char* path) {
  std::array<char, 8192> buffer;
  for (auto _ : state) {
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    while (::read(fd.get(), buffer.data(), buffer.size()) > 0) {
    }
    benchmark::DoNotOptimize(buffer.data());
  }
}

// What the worker does now: one pread of an fd kept open (ProcStatusReader).
void proc_self_status_kept_fd(benchmark::State& state) {
  std::array<char, 8192> buffer;
  UniqueFd fd(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
  for (auto _ : state) benchmark::DoNotOptimize(::pread(fd.get(), buffer.data(), buffer.size(), 0));
}

// A borrowed worker's control socket leaves the engine's epoll set and comes back.
void epoll_ctl_del_add(benchmark::State& state) {
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  UniqueFd watched(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, watched.get(), &ev);
  for (auto _ : state) {
    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, watched.get(), nullptr);
    ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, watched.get(), &ev);
  }
  state.counters["syscalls"] = 2;
}

// Alternatives the engine could use instead (docs/performance.md).
void signal_mask_and_pending(benchmark::State& state) {
  for (auto _ : state) {
    sigset_t blocked, pending;
    ::sigprocmask(SIG_SETMASK, nullptr, &blocked);
    ::sigpending(&pending);
    benchmark::DoNotOptimize(blocked);
    benchmark::DoNotOptimize(pending);
  }
}

void realpath_of(benchmark::State& state, const std::string& path) {
  for (auto _ : state) {
    char* real = ::realpath(path.c_str(), nullptr);
    if (real == nullptr) throw std::system_error(errno, std::generic_category(), "realpath " + path);
    std::free(real);
  }
}

void stat_of(benchmark::State& state, const std::string& path) {
  for (auto _ : state) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    benchmark::DoNotOptimize(st);
  }
}

void fstat_of_stdin(benchmark::State& state) {
  for (auto _ : state) {
    struct stat st {};
    ::fstat(0, &st);
    benchmark::DoNotOptimize(st);
  }
}

void rusage_self(benchmark::State& state) {
  for (auto _ : state) {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    benchmark::DoNotOptimize(usage);
  }
}

void disarm_timers(benchmark::State& state) {
  const itimerval off{};
  for (auto _ : state)
    for (int timer : {ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF}) ::setitimer(timer, &off, nullptr);
}

void reap_no_child(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(::waitpid(-1, nullptr, WNOHANG | __WALL));
}

void eventfd_write(benchmark::State& state) {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::uint64_t value = 1;
  for (auto _ : state) {
    if (::write(fd.get(), &value, sizeof value) != sizeof value) {
      ::read(fd.get(), &value, sizeof value);  // counter full: drain
      value = 1;
    }
  }
}

// One wake-up each way between two threads of one process (mutex +
// condition variable, as the backend's promise and dispatcher use).
void thread_ping_pong(benchmark::State& state) {
  std::mutex mutex;
  std::condition_variable changed;
  long turn = 0;  // odd: the partner's move
  bool stop = false;
  std::thread partner([&] {
    std::unique_lock lock(mutex);
    for (long seen = 0;;) {
      changed.wait(lock, [&] { return stop || turn != seen; });
      if (stop) return;
      seen = ++turn;
      changed.notify_all();
    }
  });
  {
    std::unique_lock lock(mutex);
    for (auto _ : state) {
      const long mine = ++turn;
      changed.notify_all();
      changed.wait(lock, [&] { return turn != mine; });
    }
    stop = true;
    changed.notify_all();
  }
  partner.join();
}

// Google Benchmark's own timing, briefly: these are single system calls.
template <class Body>
void quick_case(const std::string& name, const Profile& profile, Body body) {
  register_case(name, std::move(body))->MinTime(profile.smoke ? 0.01 : 0.05)->Unit(benchmark::kMicrosecond);
}

}  // namespace

void register_anatomy_cases(const BenchContext& context) {
  const std::string module = context.paths.probe_module.string();
  const auto& p = context.profile;
  quick_case("anatomy/getrlimit_all_16", p, all_rlimits);
  quick_case("anatomy/pread_kept_proc_self_status", p, proc_self_status_kept_fd);
  quick_case("anatomy/epoll_ctl_del_add", p, epoll_ctl_del_add);
  quick_case("anatomy/before/read_proc_self_status", p,
             [](benchmark::State& s) { read_whole_file(s, "/proc/self/status"); });
  quick_case("anatomy/before/realpath_module", p, [module](benchmark::State& s) { realpath_of(s, module); });
  quick_case("anatomy/stat_module", p, [module](benchmark::State& s) { stat_of(s, module); });
  quick_case("anatomy/fstat", p, fstat_of_stdin);
  quick_case("anatomy/getrusage", p, rusage_self);
  quick_case("anatomy/setitimer_x3", p, disarm_timers);
  quick_case("anatomy/waitpid_no_child", p, reap_no_child);
  quick_case("anatomy/eventfd_write", p, eventfd_write);
  quick_case("anatomy/alternative/read_proc_self_stat", p,
             [](benchmark::State& s) { read_whole_file(s, "/proc/self/stat"); });
  quick_case("anatomy/alternative/sigprocmask_sigpending", p, signal_mask_and_pending);
  quick_case("anatomy/thread_pingpong", p, thread_ping_pong);
}

}  // namespace execkit::bench

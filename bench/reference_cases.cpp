// The reference backend (ProcessPoolBackend) on the cases of
// docs/performance.md; each has a floor in floor_cases.cpp.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "bench_context.hpp"
#include "completion_counter.hpp"
#include "cpu_usage.hpp"
#include "execkit/process_pool.hpp"
#include "fill_check.hpp"
#include "latency_recorder.hpp"
#include "one_cpu.hpp"
#include "rss_sampler.hpp"
#include "timed_case.hpp"
#include "unique_fd.hpp"

namespace execkit::bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

WorkerConfig config_for(const BenchContext& context, std::size_t max_workers) {
  WorkerConfig config;
  config.max_workers = max_workers;
  config.spill_dir = context.scratch.spill_dir();
  return config;
}

Call trivial_call(const BenchContext& context) { return task_call(context.paths.probe_module, "echo", ""); }

Call fill_call(const BenchContext& context, std::int64_t size) {
  return task_call(context.paths.tasks_module, "fill", std::to_string(size));
}

// The worker stamps CLOCK_MONOTONIC, the clock of steady_clock: the call
// splits into caller -> task start, task, task end -> caller.
Clock::time_point monotonic(std::int64_t ns) { return Clock::time_point(nanoseconds(ns)); }

void warm_trivial(benchmark::State& state, const BenchContext& context, bool one_cpu) {
  // Declared before the backend: its threads and worker inherit the affinity.
  std::optional<OneCpu> pinned;
  if (one_cpu) pinned.emplace();
  ProcessPoolBackend backend(config_for(context, 1));
  const Call call = trivial_call(context);
  pid_t worker = 0;
  for (int i = 0; i < 200; ++i) worker = backend.execute(call, Deadline::never()).metrics().worker_pid;
  LatencyRecorder latencies, outbound("to_task_"), in_task("in_task_"), inbound("from_task_");
  CpuMeter cpu;
  for (auto* r : {&latencies, &outbound, &in_task, &inbound}) r->reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    cpu.start(worker);
    const auto start = Clock::now();
    const Result result = backend.execute(call, Deadline::never());
    const auto end = Clock::now();
    cpu.stop();
    const auto& m = result.metrics();
    latencies.add(end - start);
    outbound.add(monotonic(m.started_at_ns) - start);
    in_task.add(nanoseconds(m.wall_time_ns));
    inbound.add(end - monotonic(m.finished_at_ns));
    state.SetIterationTime(seconds(end - start));
  }
  for (auto* r : {&latencies, &outbound, &in_task, &inbound}) r->report(state);
  state.counters["cpu_us"] = cpu.mean_us();
}

std::string run_batch(ProcessPoolBackend& backend, const Call& call, std::size_t count) {
  auto counter = std::make_shared<CompletionCounter>(count);
  for (std::size_t i = 0; i < count; ++i)
    backend.submit(call, Deadline::never(), [counter](Outcome outcome) { counter->record(outcome); });
  return counter->wait();
}

void throughput(benchmark::State& state, const BenchContext& context, std::size_t workers) {
  constexpr std::size_t batch = 256;
  ProcessPoolBackend backend(config_for(context, workers));
  const Call call = trivial_call(context);
  if (auto error = run_batch(backend, call, 32); !error.empty()) throw std::runtime_error(error);
  for (auto _ : state) {
    const auto start = Clock::now();
    const auto error = run_batch(backend, call, batch);
    const auto took = Clock::now() - start;
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(seconds(took));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
  state.counters["calls_in_flight"] = static_cast<double>(batch);
}

void cold_first_call(benchmark::State& state, const BenchContext& context) {
  const Call call = trivial_call(context);
  LatencyRecorder latencies, construct("construct_");
  for (auto _ : state) {
    const auto start = Clock::now();
    std::optional<ProcessPoolBackend> backend(std::in_place, config_for(context, 1));
    const auto constructed = Clock::now();
    backend->execute(call, Deadline::never());
    const auto end = Clock::now();
    backend.reset();  // shutdown(true): not part of the first call
    latencies.add(end - start);
    construct.add(constructed - start);
    state.SetIterationTime(seconds(end - start));
  }
  latencies.report(state);
  construct.report(state);
}

void result_of_size(benchmark::State& state, const BenchContext& context, std::int64_t size) {
  ProcessPoolBackend backend(config_for(context, 1));
  const Call call = fill_call(context, size);
  // Warm-up of the same size, as the floor case has: starts the worker and
  // lets the kernel find the memory once.
  const auto worker = backend.execute(call, Deadline::never()).metrics().worker_pid;
  RssSampler sampler(std::chrono::milliseconds(5));
  const auto baseline_kib = rss_anon_kib();
  LatencyRecorder latencies;
  CpuMeter cpu;
  for (auto _ : state) {
    cpu.start(worker);
    const auto start = Clock::now();
    const Result result = backend.execute(call, Deadline::never());
    const bool intact = static_cast<std::int64_t>(result.bytes().size()) == size && all_fill_bytes(result.bytes());
    const auto took = Clock::now() - start;
    cpu.stop();
    if (result.metrics().worker_pid != worker) {
      state.SkipWithError("the warm worker was replaced during the benchmark");
      break;
    }
    sampler.note(rss_anon_kib());  // while the result is still held
    if (!intact) {
      state.SkipWithError("the result is not the bytes the task wrote");
      break;
    }
    latencies.add(took);
    state.SetIterationTime(seconds(took));
  }
  state.SetBytesProcessed(state.iterations() * size);
  latencies.report(state);
  state.counters["cpu_us"] = cpu.mean_us();
  state.counters["rss_anon_growth_kib"] = static_cast<double>(std::max<std::int64_t>(0, sampler.peak_kib() - baseline_kib));
}

void timeout_turnaround(benchmark::State& state, const BenchContext& context) {
  constexpr auto deadline_after = std::chrono::milliseconds(50);
  ProcessPoolBackend backend(config_for(context, 1));
  backend.execute(trivial_call(context), Deadline::never());
  const Call call = task_call(context.paths.probe_module, "sleep_ms", "10000");
  LatencyRecorder lateness;
  for (auto _ : state) {
    const auto deadline = Deadline::after(deadline_after);
    try {
      backend.execute(call, deadline);
      state.SkipWithError("a 10 s task returned before its 50 ms deadline");
      break;
    } catch (const TimeoutError&) {
    }
    const auto late = Clock::now() - deadline.at;
    lateness.add(late);
    state.SetIterationTime(seconds(late));
  }
  lateness.report(state);
  state.counters["deadline_ms"] = static_cast<double>(deadline_after.count());
}

// A FIFO the announce_then_sleep task writes to once it runs. The benchmark
// holds a write end too, so the read end never reports a hang-up.
class RunningSignal {
 public:
  explicit RunningSignal(const std::filesystem::path& path) : path_(path) {
    std::filesystem::remove(path_);
    if (::mkfifo(path_.c_str(), 0600) != 0) throw std::system_error(errno, std::generic_category(), "mkfifo");
    reader_.reset(::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    keeper_.reset(::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!reader_ || !keeper_) throw std::system_error(errno, std::generic_category(), "open " + path_.string());
  }
  ~RunningSignal() { std::filesystem::remove(path_); }
  RunningSignal(const RunningSignal&) = delete;
  RunningSignal& operator=(const RunningSignal&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

  void wait() const {
    pollfd p{reader_.get(), POLLIN, 0};
    if (::poll(&p, 1, 60'000) != 1) throw std::runtime_error("the task never signalled that it runs");
    char byte;
    if (::read(reader_.get(), &byte, 1) != 1) throw std::system_error(errno, std::generic_category(), "read FIFO");
  }

 private:
  std::filesystem::path path_;
  UniqueFd reader_, keeper_;
};

void cancel_turnaround(benchmark::State& state, const BenchContext& context) {
  const RunningSignal running(context.scratch.path() / "running.fifo");
  ProcessPoolBackend backend(config_for(context, 1));
  backend.execute(trivial_call(context), Deadline::never());
  const Call call = task_call(context.paths.tasks_module, "announce_then_sleep", running.path().string() + ",10000");
  LatencyRecorder turnaround;
  for (auto _ : state) {
    auto ended = std::make_shared<std::promise<Outcome>>();
    auto outcome = ended->get_future();
    const Submission submission = backend.submit(call, Deadline::never(), [ended](Outcome o) { ended->set_value(std::move(o)); });
    running.wait();
    const auto start = Clock::now();
    const bool accepted = submission.cancel();
    const auto error = outcome.get();
    const auto took = Clock::now() - start;
    if (!accepted || !error.error_as<CancelledError>()) {
      state.SkipWithError("cancelling a running call did not end it with CancelledError");
      break;
    }
    turnaround.add(took);
    state.SetIterationTime(seconds(took));
  }
  turnaround.report(state);
}

void crash_replacement(benchmark::State& state, const BenchContext& context) {
  ProcessPoolBackend backend(config_for(context, 1));
  const Call trivial = trivial_call(context);
  backend.execute(trivial, Deadline::never());
  const Call crash = task_call(context.paths.probe_module, "crash_signal", "9");
  LatencyRecorder total, crashed("crash_"), replaced("replace_");
  for (auto _ : state) {
    const auto start = Clock::now();
    try {
      backend.execute(crash, Deadline::never());
      state.SkipWithError("a task raising SIGKILL returned a result");
      break;
    } catch (const WorkerCrashed&) {
    }
    const auto reported = Clock::now();
    backend.execute(trivial, Deadline::never());
    const auto end = Clock::now();
    total.add(end - start);
    crashed.add(reported - start);
    replaced.add(end - reported);
    state.SetIterationTime(seconds(end - start));
  }
  for (auto* r : {&total, &crashed, &replaced}) r->report(state);
}

}  // namespace

void register_reference_cases(const BenchContext& context) {
  const auto& p = context.profile;
  const auto* c = &context;
  timed_case("execkit/warm_trivial", p.iterations(3000, 300), [c](benchmark::State& s) { warm_trivial(s, *c, false); });
  timed_case("execkit/warm_trivial/one_cpu", p.iterations(3000, 300),
             [c](benchmark::State& s) { warm_trivial(s, *c, true); });
  for (std::size_t workers : {1, 2})
    timed_case("execkit/throughput/workers:" + std::to_string(workers), p.iterations(20, 3),
               [c, workers](benchmark::State& s) { throughput(s, *c, workers); });
  timed_case("execkit/cold_first_call", p.iterations(60, 5), [c](benchmark::State& s) { cold_first_call(s, *c); });
  for (const auto size : result_sizes()) {
    if (const auto iterations = result_iterations(p, size); iterations > 0)
      timed_case("execkit/result/" + std::to_string(size), iterations,
                 [c, size](benchmark::State& s) { result_of_size(s, *c, size); });
  }
  timed_case("execkit/timeout_turnaround", p.iterations(20, 3), [c](benchmark::State& s) { timeout_turnaround(s, *c); });
  timed_case("execkit/cancel_turnaround", p.iterations(30, 3), [c](benchmark::State& s) { cancel_turnaround(s, *c); });
  timed_case("execkit/crash_replacement", p.iterations(50, 5), [c](benchmark::State& s) { crash_replacement(s, *c); });
}

}  // namespace execkit::bench

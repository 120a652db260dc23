// RedisStreamBackend on the distributed cases of docs/performance.md, each
// next to its floor in redis_floor_cases.cpp: a private redis-server and two
// execkit-node agents (execkit-redis-testbed) per case.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "bench_context.hpp"
#include "completion_counter.hpp"
#include "execkit/redis_stream.hpp"
#include "fill_check.hpp"
#include "latency_recorder.hpp"
#include "testbed_client.hpp"
#include "timed_case.hpp"

namespace execkit::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Two nodes of one worker each: the two relay threads of the floor.
redis::testing::TestbedOptions two_nodes() {
  redis::testing::TestbedOptions options;
  options.nodes = 2;
  options.max_workers_per_node = 1;
  options.lease = std::chrono::milliseconds(3000);
  return options;
}

RedisStreamConfig config_for(const redis::testing::Testbed& bed, const BenchContext& context, std::size_t max_workers) {
  RedisStreamConfig config;
  config.address = bed.address();
  config.pool = bed.pool();
  config.lease = std::chrono::milliseconds(3000);
  config.worker.max_workers = max_workers;
  config.worker.spill_dir = context.scratch.spill_dir();
  return config;
}

void warm_call(benchmark::State& state, const BenchContext& context) {
  redis::testing::Testbed bed(two_nodes());
  RedisStreamBackend backend(config_for(bed, context, 1));
  const Call call = task_call(context.paths.probe_module, "echo", "");
  for (int i = 0; i < 200; ++i) backend.execute(call, Deadline::never());
  LatencyRecorder latencies;
  latencies.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    const auto start = Clock::now();
    backend.execute(call, Deadline::never());
    const auto end = Clock::now();
    latencies.add(end - start);
    state.SetIterationTime(seconds(end - start));
  }
  latencies.report(state);
}

void throughput(benchmark::State& state, const BenchContext& context) {
  constexpr std::size_t batch = 256;
  redis::testing::Testbed bed(two_nodes());
  // max_workers 2: at most two tasks run at once, one per node (LIFE-2).
  RedisStreamBackend backend(config_for(bed, context, 2));
  const Call call = task_call(context.paths.probe_module, "echo", "");
  auto run_batch = [&](std::size_t count) {
    auto counter = std::make_shared<CompletionCounter>(count);
    for (std::size_t i = 0; i < count; ++i)
      backend.submit(call, Deadline::never(), [counter](Outcome outcome) { counter->record(outcome); });
    return counter->wait();
  };
  if (auto error = run_batch(32); !error.empty()) throw std::runtime_error(error);
  for (auto _ : state) {
    const auto start = Clock::now();
    const auto error = run_batch(batch);
    const auto took = Clock::now() - start;
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    state.SetIterationTime(seconds(took));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}

void result_64mib(benchmark::State& state, const BenchContext& context) {
  constexpr std::int64_t size = std::int64_t{64} << 20;
  redis::testing::Testbed bed(two_nodes());
  RedisStreamBackend backend(config_for(bed, context, 1));
  const Call call = task_call(context.paths.tasks_module, "fill", std::to_string(size));
  backend.execute(call, Deadline::never());
  LatencyRecorder latencies;
  for (auto _ : state) {
    const auto start = Clock::now();
    const Result result = backend.execute(call, Deadline::never());
    const auto end = Clock::now();
    if (result.bytes().size() != static_cast<std::size_t>(size) || !all_fill_bytes(result.bytes())) {
      state.SkipWithError("the 64 MiB result came back wrong");
      break;
    }
    latencies.add(end - start);
    state.SetIterationTime(seconds(end - start));
  }
  state.SetBytesProcessed(state.iterations() * size);
  latencies.report(state);
}

}  // namespace

void register_redis_cases(const BenchContext& context) {
  const auto& p = context.profile;
  const auto* c = &context;
  timed_case("redis/warm_call", p.iterations(2000, 200), [c](benchmark::State& s) { warm_call(s, *c); });
  timed_case("redis/throughput/2", p.iterations(20, 3), [c](benchmark::State& s) { throughput(s, *c); });
  timed_case("redis/result/64MiB", p.iterations(10, 2), [c](benchmark::State& s) { result_64mib(s, *c); });
}

}  // namespace execkit::bench

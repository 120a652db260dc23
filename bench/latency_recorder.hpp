// Per-iteration timings of one benchmark, reported as order statistics:
// process start-ups and wake-ups have long tails, so means mislead.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

namespace execkit::bench {

class LatencyRecorder {
 public:
  using Duration = std::chrono::steady_clock::duration;

  explicit LatencyRecorder(std::string counter_prefix = "") : prefix_(std::move(counter_prefix)) {}

  void reserve(std::size_t count) { samples_.reserve(count); }
  void add(Duration sample) { samples_.push_back(sample); }
  std::size_t size() const noexcept { return samples_.size(); }

  // Sets <prefix>p50_us, <prefix>p99_us and <prefix>max_us (nothing without samples).
  void report(benchmark::State& state);

 private:
  std::string prefix_;
  std::vector<Duration> samples_;
};

// Seconds, as benchmark::State::SetIterationTime wants them.
double seconds(LatencyRecorder::Duration d);

}  // namespace execkit::bench

#include "latency_recorder.hpp"

#include <algorithm>

namespace execkit::bench {
namespace {

double microseconds(LatencyRecorder::Duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Nearest-rank percentile of sorted samples.
LatencyRecorder::Duration percentile(const std::vector<LatencyRecorder::Duration>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

double seconds(LatencyRecorder::Duration d) { return std::chrono::duration<double>(d).count(); }

void LatencyRecorder::report(benchmark::State& state) {
  if (samples_.empty()) return;
  auto sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  state.counters[prefix_ + "p50_us"] = microseconds(percentile(sorted, 50));
  state.counters[prefix_ + "p99_us"] = microseconds(percentile(sorted, 99));
  state.counters[prefix_ + "max_us"] = microseconds(sorted.back());
}

}  // namespace execkit::bench

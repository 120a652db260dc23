#include "call_metrics.hpp"

#include <ctime>

namespace execkit::worker {
namespace {

std::int64_t monotonic_ns() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

std::int64_t microseconds(const timeval& t) noexcept {
  return std::int64_t{t.tv_sec} * 1'000'000 + t.tv_usec;
}

}  // namespace

CallMetrics::CallMetrics() noexcept {
  metrics_.started_at_ns = monotonic_ns();
  ::getrusage(RUSAGE_SELF, &start_usage_);
}

void CallMetrics::finish() noexcept {
  metrics_.finished_at_ns = monotonic_ns();
  rusage end{};
  ::getrusage(RUSAGE_SELF, &end);
  // ru_maxrss is the process lifetime high-water mark, in KiB on Linux.
  metrics_.peak_rss_kib = end.ru_maxrss;
  metrics_.user_time_us = microseconds(end.ru_utime) - microseconds(start_usage_.ru_utime);
  metrics_.system_time_us = microseconds(end.ru_stime) - microseconds(start_usage_.ru_stime);
}

}  // namespace execkit::worker

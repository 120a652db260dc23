// What each finished call reports about its execution (METRIC-1).
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>

namespace execkit {

struct ExecutionMetrics {
  // Worker lifetime high-water mark (ru_maxrss): non-decreasing across calls
  // on one worker, not a per-call peak.
  std::int64_t peak_rss_kib = 0;
  // rusage delta over the call.
  std::int64_t user_time_us = 0;
  std::int64_t system_time_us = 0;
  // CLOCK_MONOTONIC nanoseconds; wall_time_ns == finished_at_ns - started_at_ns.
  std::int64_t started_at_ns = 0;
  std::int64_t finished_at_ns = 0;
  std::int64_t wall_time_ns = 0;
  pid_t worker_pid = 0;
  std::string worker_id;  // 12 lowercase hex chars, as EXECKIT_WORKER_ID
  std::string node_id;
};

}  // namespace execkit

// CPU time spent by the processes of a call, so a comparison holds on a
// shared machine: wall time depends on who else runs, CPU time much less.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace execkit::bench {

// Nanoseconds on CPU of the single-threaded process `pid` (from
// /proc/<pid>/schedstat); -1 if unreadable.
std::int64_t process_cpu_ns(pid_t pid);

// Nanoseconds on CPU of every thread of this process.
std::int64_t own_cpu_ns();

// Sums the CPU time this process and one single-threaded child spend
// between start() and stop().
class CpuMeter {
 public:
  void start(pid_t child);
  void stop();
  // Mean per start/stop pair, in microseconds; 0 without pairs, -1 if the
  // child's time was unreadable.
  double mean_us() const;

 private:
  pid_t child_ = -1;
  std::int64_t child_at_start_ = 0, own_at_start_ = 0;
  std::int64_t total_ns_ = 0;
  std::int64_t pairs_ = 0;
  bool unreadable_ = false;
};

}  // namespace execkit::bench

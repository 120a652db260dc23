// The fields of /proc/self/status the worker checks after every call, read
// with one open+read instead of one syscall per signal.
#pragma once

#include <cstdint>
#include <optional>

namespace execkit::worker {

struct ProcStatus {
  long threads = 0;
  // Bit (n - 1) stands for signal n, as in the kernel's masks.
  std::uint64_t blocked = 0;
  std::uint64_t ignored = 0;
  std::uint64_t caught = 0;
  std::uint64_t pending = 0;  // thread-directed and process-wide
};

// nullopt if /proc/self/status cannot be read or parsed.
std::optional<ProcStatus> read_proc_status();

}  // namespace execkit::worker

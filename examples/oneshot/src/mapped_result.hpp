// A finished call's result file as a read-only mapping owned by the Result:
// mapped, not copied (SPILL-2), valid after the backend is gone (SPILL-7).
#pragma once

#include <cstdint>

#include "execkit/metrics.hpp"
#include "execkit/outcome.hpp"

namespace oneshot {

// The Result, or a ResultError if the file cannot be mapped or exceeds `cap`.
execkit::Outcome mapped_result(int fd, std::uint64_t cap, execkit::ExecutionMetrics metrics);

}  // namespace oneshot

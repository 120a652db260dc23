// Measures one call (METRIC-1): monotonic start/finish and the rusage delta.
#pragma once

#include <sys/resource.h>

#include "envelope.hpp"

namespace execkit::worker {

class CallMetrics {
 public:
  // Starts measuring.
  CallMetrics() noexcept;
  // Stops measuring; call once, right after the task returns.
  void finish() noexcept;
  const wire::WireMetrics& metrics() const noexcept { return metrics_; }

 private:
  rusage start_usage_{};
  wire::WireMetrics metrics_;
};

}  // namespace execkit::worker

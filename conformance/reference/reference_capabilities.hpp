// What the reference backend (ProcessPoolBackend) declares to the suite:
// shared by its own suite (reference_suite.cpp) and the mutants', which are
// the reference with one defect each.
#pragma once

#include "execkit/conformance/backend_under_test.hpp"

namespace execkit::conformance {

inline Capabilities reference_capabilities() {
  Capabilities can;
  can.has_local_process_workers = true;
  can.supports_pdeathsig = true;
  can.has_named_spill_files = true;
  can.supports_lifecycle_hooks = true;
  can.supports_worker_reuse = true;
  can.task_context_from_caller = true;
  // fd 3, the worker's control channel; fds 4 and 5, its own /proc/self/status and
  // /proc/self/timers (read-only)
  can.documented_task_fds = 3;
  return can;
}

}  // namespace execkit::conformance

// The conformance suite instantiated for the reference backend.
#include <memory>

#include "execkit/conformance/suite.hpp"
#include "execkit/process_pool.hpp"

namespace {

execkit::conformance::BackendUnderTest process_pool() {
  execkit::conformance::BackendUnderTest backend;
  backend.name = "ProcessPool";
  backend.make = [](const execkit::WorkerConfig& config) -> std::unique_ptr<execkit::ExecutorBackend> {
    return std::make_unique<execkit::ProcessPoolBackend>(config);
  };
  auto& can = backend.capabilities;
  can.has_local_process_workers = true;
  can.supports_pdeathsig = true;
  can.has_named_spill_files = true;
  can.supports_lifecycle_hooks = true;
  can.supports_worker_reuse = true;
  can.documented_task_fds = 2;  // fd 3, the worker's control channel; fd 4, its own /proc/self/status (read-only)
  return backend;
}

}  // namespace

EXECKIT_CONFORMANCE_TESTS(Reference, process_pool());

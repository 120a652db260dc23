#include <stdexcept>

#include "decorators.hpp"
#include "mutant_under_test.hpp"

namespace execkit::mutants {

conformance::BackendUnderTest backend_under_test(const std::string& name, const std::string& decorator,
                                                 const std::filesystem::path& worker) {
  conformance::BackendUnderTest backend;
  backend.name = name;
  backend.make = [factory = decorator_factory(decorator), worker](const WorkerConfig& config) {
    auto adjusted = config;
    if (!worker.empty()) adjusted.worker_path = worker;
    return factory(std::move(adjusted));
  };
  // The reference backend's declaration (conformance/reference/reference_suite.cpp).
  auto& can = backend.capabilities;
  can.has_local_process_workers = true;
  can.supports_pdeathsig = true;
  can.has_named_spill_files = true;
  can.supports_lifecycle_hooks = true;
  can.supports_worker_reuse = true;
  can.documented_task_fds = 2;
  return backend;
}

}  // namespace execkit::mutants

#include <stdexcept>

#include "decorators.hpp"
#include "mutant_under_test.hpp"
#include "reference_capabilities.hpp"

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
  backend.capabilities = conformance::reference_capabilities();
  return backend;
}

}  // namespace execkit::mutants

// The conformance suite instantiated for the reference backend.
#include <memory>

#include "execkit/conformance/suite.hpp"
#include "execkit/process_pool.hpp"
#include "reference_capabilities.hpp"

namespace {

execkit::conformance::BackendUnderTest process_pool() {
  execkit::conformance::BackendUnderTest backend;
  backend.name = "ProcessPool";
  backend.make = [](const execkit::WorkerConfig& config) -> std::unique_ptr<execkit::ExecutorBackend> {
    return std::make_unique<execkit::ProcessPoolBackend>(config);
  };
  backend.capabilities = execkit::conformance::reference_capabilities();
  return backend;
}

}  // namespace

EXECKIT_CONFORMANCE_TESTS(Reference, process_pool());

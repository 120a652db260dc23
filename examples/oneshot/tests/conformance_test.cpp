// The execkit conformance suite, run against the one-process-per-call backend.
#include <memory>

#include "execkit/conformance/suite.hpp"
#include "oneshot/oneshot_backend.hpp"

namespace {

execkit::conformance::BackendUnderTest one_shot() {
  execkit::conformance::BackendUnderTest backend;
  backend.name = "OneShot";
  backend.make = [](const execkit::WorkerConfig& config) -> std::unique_ptr<execkit::ExecutorBackend> {
    return std::make_unique<oneshot::OneShotBackend>(config);
  };
  auto& can = backend.capabilities;
  can.has_local_process_workers = true;  // children of the caller, visible in /proc
  can.supports_pdeathsig = true;
  can.has_named_spill_files = false;     // results are unnamed O_TMPFILE files
  can.supports_lifecycle_hooks = false;
  can.supports_worker_reuse = false;     // one process per call
  can.task_context_from_caller = true;   // env, node id and base dir from the caller's config
  can.documented_task_fds = 2;           // 3: the result file, 4: the status record
  can.task_sigpipe = execkit::conformance::Capabilities::Sigpipe::default_action;
  return backend;
}

}  // namespace

EXECKIT_CONFORMANCE_TESTS(OneShot, one_shot());

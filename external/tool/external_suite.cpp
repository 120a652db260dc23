#include "external_suite.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>

#include "execkit/conformance/suite.hpp"

namespace execkit::external {
namespace {

using conformance::Capabilities;

std::optional<conformance::BackendUnderTest>& chosen() {
  static std::optional<conformance::BackendUnderTest> backend;
  return backend;
}

Capabilities capabilities_of(const BackendDeclaration& declared) {
  Capabilities can;
  can.has_local_process_workers = declared.has_local_process_workers;
  can.supports_pdeathsig = declared.supports_pdeathsig;
  can.has_named_spill_files = declared.has_named_spill_files;
  // The harness runs the observers from the protocol's events (docs/protocol.md "Hooks").
  can.supports_lifecycle_hooks = true;
  can.supports_worker_reuse = declared.supports_worker_reuse;
  can.task_context_from_caller = declared.task_context_from_caller;
  can.documented_task_fds = declared.documented_task_fds;
  can.task_sigpipe = declared.task_sigpipe == "default"   ? Capabilities::Sigpipe::default_action
                     : declared.task_sigpipe == "ignored" ? Capabilities::Sigpipe::ignored
                                                          : Capabilities::Sigpipe::unspecified;
  if (declared.task_language == "python") {
    can.task_language = Capabilities::TaskLanguage::python;
  } else if (declared.task_language == "native") {
    can.task_language = Capabilities::TaskLanguage::native;
  } else {
    throw std::invalid_argument("task_language '" + declared.task_language + "' is not native or python");
  }
  return can;
}

// Test names take letters, digits and '_' only.
std::string test_name_of(std::string name) {
  for (auto& c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) c = '_';
  }
  return name.empty() ? "External" : name;
}

}  // namespace

conformance::BackendUnderTest external_backend_under_test(const ToolOptions& options) {
  ExternalBackendOptions backend_options;
  backend_options.command = options.backend_cmd;
  backend_options.directory = options.backend_dir;
  backend_options.reply_timeout = conformance::TimeBounds{}.scaled(conformance::TimeBounds::scale_from_env()).condition_wait;
  auto declared = ExternalBackend::probe_declaration(backend_options);
  apply_capability_overrides(options, declared);

  conformance::BackendUnderTest backend;
  backend.name = test_name_of(options.name.value_or(declared.backend));
  backend.capabilities = capabilities_of(declared);
  backend.make = [backend_options](const WorkerConfig& config) -> std::unique_ptr<ExecutorBackend> {
    auto with_checks = config;
    // A protocol fault is the backend's, whichever test it happens in.
    with_checks.log = [inner = config.log](std::string_view line) {
      if (line.starts_with("protocol error") || line.find("did not exit within") != std::string_view::npos ||
          line.starts_with("no answer to") || line.starts_with("no shutdown_done")) {
        ADD_FAILURE() << "the backend broke the protocol (docs/protocol.md): " << line;
      }
      if (inner) inner(line);
    };
    return std::make_unique<ExternalBackend>(backend_options, with_checks);
  };
  backend.service_processes = [](ExecutorBackend& instance) {
    const auto* external = dynamic_cast<ExternalBackend*>(&instance);
    return external ? std::vector<pid_t>{external->process_id()} : std::vector<pid_t>{};
  };
  return backend;
}

void set_backend_under_test(conformance::BackendUnderTest backend) { chosen() = std::move(backend); }

}  // namespace execkit::external

namespace {
execkit::conformance::BackendUnderTest registered_backend() {
  auto& backend = execkit::external::chosen();
  if (!backend) throw std::logic_error("execkit-conformance: the backend was not set before the tests registered");
  return *backend;
}
}  // namespace

EXECKIT_CONFORMANCE_TESTS(External, registered_backend());

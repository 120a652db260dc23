// A backend in another process, in any language, driven over the execkit
// backend protocol (docs/protocol.md). It is how the conformance suite judges
// backends that are not C++ classes: execkit-conformance --backend-cmd ...
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "execkit/backend.hpp"
#include "execkit/config.hpp"
#include "execkit/lifecycle.hpp"

namespace execkit {

struct ExternalBackendOptions {
  // Run as /bin/sh -c 'exec <command>'; it gets the protocol socket as
  // $EXECKIT_PROTOCOL_FD.
  std::string command;
  // Where the command runs, so a relative path in it (./backend, python3 -m
  // pkg) means the same in every backend; empty: the cwd at construction.
  // The caller's base dir does not depend on it: an empty
  // WorkerConfig::base_dir is sent as the cwd at construction.
  std::filesystem::path directory;
  // Bound on each answer the contract does not bound (hello, configured, a
  // cancel's reply, shutdown_done) and on the process's exit after the
  // connection closes. Past it the process is killed and the fault logged.
  std::chrono::milliseconds reply_timeout{10000};
};

// What the backend declared in its hello (docs/protocol.md "Handshake").
struct BackendDeclaration {
  std::string backend;  // its name
  bool has_local_process_workers = false;
  bool supports_pdeathsig = false;
  bool has_named_spill_files = false;
  bool supports_worker_reuse = false;
  bool task_context_from_caller = false;
  std::size_t documented_task_fds = 0;
  std::string task_sigpipe = "unspecified";  // "unspecified", "default" or "ignored"
  std::string task_language;                 // "native" or "python"
};

class ExternalBackend final : public ExecutorBackend, public LifecycleObservable {
 public:
  // Starts the process, shakes hands and configures it. Throws the backend's
  // refusal (ConfigError, SpillError, ...) or std::runtime_error naming the
  // command and the protocol fault.
  ExternalBackend(ExternalBackendOptions options, WorkerConfig config);
  // As shutdown(true).
  ~ExternalBackend() override;
  ExternalBackend(const ExternalBackend&) = delete;
  ExternalBackend& operator=(const ExternalBackend&) = delete;

  Result execute(const Call& call, Deadline deadline) override;
  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override;
  void shutdown(bool wait) override;

  Subscription on_submit(SubmitHandler handler) override;
  Subscription on_complete(CompleteHandler handler) override;
  Subscription on_shutdown(ShutdownHandler handler) override;

  const BackendDeclaration& declaration() const noexcept;
  // The backend process (not one of its workers); 0 once it is reaped.
  pid_t process_id() const noexcept;

  // Starts the command, reads its hello and stops it: what it declares.
  static BackendDeclaration probe_declaration(const ExternalBackendOptions& options);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace execkit

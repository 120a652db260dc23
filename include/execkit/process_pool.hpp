// The reference backend: a pool of reused `execkit-worker` processes.
#pragma once

#include <memory>
#include <string>

#include "execkit/backend.hpp"
#include "execkit/config.hpp"
#include "execkit/lifecycle.hpp"

namespace execkit {

class ProcessPoolBackend final : public ExecutorBackend, public LifecycleObservable {
 public:
  // Validates the config and prepares the spill directory (sweeping files left
  // by dead callers); starts no worker (LIFE-1). Throws ConfigError or SpillError.
  explicit ProcessPoolBackend(WorkerConfig config);
  ~ProcessPoolBackend() override;  // shutdown(true)
  ProcessPoolBackend(const ProcessPoolBackend&) = delete;
  ProcessPoolBackend& operator=(const ProcessPoolBackend&) = delete;

  Result execute(const Call& call, Deadline deadline) override;
  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override;
  void shutdown(bool wait) override;

  Subscription on_submit(SubmitHandler handler) override;
  Subscription on_complete(CompleteHandler handler) override;
  Subscription on_shutdown(ShutdownHandler handler) override;

  const std::string& pool_id() const noexcept;
  const WorkerConfig& config() const noexcept;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace execkit

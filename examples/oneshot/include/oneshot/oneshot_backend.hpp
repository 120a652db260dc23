// A deliberately simple execkit backend: every call runs in a fresh process
// (`oneshot-worker`) that exits when the call ends. Nothing is reused, so
// nothing can leak from one call into the next; the price is a process start
// per call.
//
// What it does and does not do, as declared to the conformance suite
// (tests/conformance_test.cpp):
//   - workers are local child processes, started with posix_spawn from an
//     explicit, scrubbed environment and die with the caller (pdeathsig);
//   - results go to an unnamed file (O_TMPFILE) in the spill dir that the
//     caller maps read-only: nothing has a name to swap or to sweep;
//   - no worker reuse and no lifecycle hooks;
//   - the task sees fds 0, 1, 2 plus 3 (its result file) and 4 (its status
//     record); its stdout is /dev/null, its stderr feeds the error's tail;
//     it starts with every signal at its default action, SIGPIPE included.
//   - WorkerConfig::idle_timeout has no effect (no worker is ever idle);
//     worker_path names the oneshot-worker executable (empty: the one this
//     library was built with).
#pragma once

#include <memory>

#include "execkit/backend.hpp"
#include "execkit/config.hpp"

namespace oneshot {

class OneShotBackend final : public execkit::ExecutorBackend {
 public:
  // Throws execkit::ConfigError (max_workers 0, no worker executable) or
  // execkit::SpillError (a spill dir it cannot create or must refuse).
  explicit OneShotBackend(execkit::WorkerConfig config);
  ~OneShotBackend() override;  // shutdown(true)
  OneShotBackend(const OneShotBackend&) = delete;
  OneShotBackend& operator=(const OneShotBackend&) = delete;

  execkit::Result execute(const execkit::Call& call, execkit::Deadline deadline) override;
  execkit::Submission submit(execkit::Call call, execkit::Deadline deadline,
                             execkit::CompletionHandler on_done) override;
  void shutdown(bool wait) override;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace oneshot

// The required core every executor backend implements.
#pragma once

#include <functional>
#include <memory>

#include "execkit/call.hpp"
#include "execkit/outcome.hpp"

namespace execkit {

// Runs exactly once per submitted call, on a backend thread, with no backend
// lock held: it may call back into the backend.
using CompletionHandler = std::function<void(Outcome)>;

// Implemented by backends; lets a Submission cancel its call.
class CancelTarget {
 public:
  virtual ~CancelTarget() = default;
  // True if the call was still queued or running and is now being cancelled;
  // false if it had already finished (a no-op, CANCEL-3).
  virtual bool cancel() = 0;
};

// Handle to a submitted call. Dropping it does not cancel the call.
class Submission {
 public:
  Submission() = default;
  explicit Submission(std::shared_ptr<CancelTarget> target) : target_(std::move(target)) {}
  bool cancel() const { return target_ && target_->cancel(); }

 private:
  std::shared_ptr<CancelTarget> target_;
};

class ExecutorBackend {
 public:
  virtual ~ExecutorBackend() = default;

  // Blocks until the call ends. Returns the result or throws the typed Error.
  virtual Result execute(const Call& call, Deadline deadline) = 0;

  // Never blocks on the task; `on_done` runs exactly once with the outcome.
  virtual Submission submit(Call call, Deadline deadline, CompletionHandler on_done) = 0;

  // Idempotent. wait=true returns once every worker is reaped and every spill
  // file removed; wait=false returns promptly and the cleanup still completes.
  // Queued and running calls end with BackendClosed; later calls fail with it.
  virtual void shutdown(bool wait) = 0;
};

}  // namespace execkit

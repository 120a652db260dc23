// A call made with submit(): records how often and on which thread its
// completion handler ran, and the outcome, for tests to wait on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "execkit/backend.hpp"

namespace execkit::conformance {

class PendingCall {
 public:
  // submit() exceptions propagate (a backend must not throw from submit).
  PendingCall(ExecutorBackend& backend, Call call, Deadline deadline);

  // The outcome once the handler ran, waiting up to `timeout`.
  std::optional<Outcome> wait(std::chrono::milliseconds timeout) const;
  bool done() const;
  // How many times the handler ran (must end up exactly 1).
  int completions() const;
  std::thread::id handler_thread() const;
  bool cancel() const { return submission_.cancel(); }

 private:
  struct Shared {
    mutable std::mutex mutex;
    std::condition_variable cv;
    std::optional<Outcome> outcome;
    int completions = 0;
    std::thread::id thread;
  };
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  Submission submission_;
};

}  // namespace execkit::conformance

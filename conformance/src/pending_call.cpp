#include "pending_call.hpp"

namespace execkit::conformance {

PendingCall::PendingCall(ExecutorBackend& backend, Call call, Deadline deadline) {
  submission_ = backend.submit(std::move(call), deadline, [shared = shared_](Outcome outcome) {
    {
      std::lock_guard lock(shared->mutex);
      if (++shared->completions == 1) {
        shared->outcome.emplace(std::move(outcome));
        shared->thread = std::this_thread::get_id();
      }
    }
    shared->cv.notify_all();
  });
}

std::optional<Outcome> PendingCall::wait(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(shared_->mutex);
  shared_->cv.wait_for(lock, timeout, [&] { return shared_->outcome.has_value(); });
  return shared_->outcome;
}

bool PendingCall::done() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->outcome.has_value();
}

int PendingCall::completions() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->completions;
}

std::thread::id PendingCall::handler_thread() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->thread;
}

}  // namespace execkit::conformance

#include "call_state.hpp"

#include "pool_engine.hpp"

namespace execkit {

bool CallState::cancel() {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return false;
    if (cancel_requested_) return true;
    cancel_requested_ = true;
  }
  if (auto engine = engine_.lock()) engine->request_cancel(shared_from_this());
  return true;
}

void CallState::finish(Outcome outcome) {
  Sink sink;
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    if (cancel_requested_ && !outcome.error_as<CancelledError>())
      outcome = Outcome::failure(CancelledError("call " + std::to_string(id_) + " was cancelled"));
    sink = std::move(sink_);
  }
  sink(shared_from_this(), std::move(outcome));
}

bool CallState::finished() const {
  std::lock_guard lock(mutex_);
  return finished_;
}

}  // namespace execkit

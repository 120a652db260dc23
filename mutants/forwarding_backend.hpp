// The base of every decorator mutant: a backend that forwards everything to a
// reference ProcessPoolBackend, so that a mutant overrides only the one
// behaviour it breaks.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "decorators.hpp"
#include "execkit/backend.hpp"
#include "execkit/lifecycle.hpp"
#include "execkit/process_pool.hpp"

namespace execkit::mutants {

class ForwardingBackend : public ExecutorBackend, public LifecycleObservable {
 public:
  explicit ForwardingBackend(std::shared_ptr<ProcessPoolBackend> inner) : inner_(std::move(inner)) {}

  Result execute(const Call& call, Deadline deadline) override { return inner_->execute(call, deadline); }
  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override {
    return inner_->submit(std::move(call), deadline, std::move(on_done));
  }
  void shutdown(bool wait) override { inner_->shutdown(wait); }

  Subscription on_submit(SubmitHandler handler) override { return inner_->on_submit(std::move(handler)); }
  Subscription on_complete(CompleteHandler handler) override { return inner_->on_complete(std::move(handler)); }
  Subscription on_shutdown(ShutdownHandler handler) override { return inner_->on_shutdown(std::move(handler)); }

 protected:
  ProcessPoolBackend& inner() const { return *inner_; }

 private:
  std::shared_ptr<ProcessPoolBackend> inner_;
};

// A decorator that changes outcomes only: `adjust` sees every outcome of
// execute() and submit() before the caller does. It is shared with pending
// completions, which may run after the decorator is gone.
class OutcomeAdjustingBackend : public ForwardingBackend {
 public:
  using Adjust = std::function<Outcome(Outcome)>;
  OutcomeAdjustingBackend(std::shared_ptr<ProcessPoolBackend> inner, Adjust adjust)
      : ForwardingBackend(std::move(inner)), adjust_(std::make_shared<const Adjust>(std::move(adjust))) {}

  Result execute(const Call& call, Deadline deadline) override;
  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override;

 private:
  std::shared_ptr<const Adjust> adjust_;
};

// A Result that shows `bytes` with other metrics, keeping `original` (and so
// the memory behind its bytes) alive.
Result with_metrics(const Result& original, ExecutionMetrics metrics);

// A factory for `Decorator` (a ForwardingBackend) around a fresh reference backend.
template <class Decorator>
BackendFactory decorated() {
  return [](WorkerConfig config) -> std::unique_ptr<ExecutorBackend> {
    return std::make_unique<Decorator>(std::make_shared<ProcessPoolBackend>(std::move(config)));
  };
}

// A factory for an OutcomeAdjustingBackend with `adjust`.
BackendFactory adjusted(Outcome (*adjust)(Outcome));

}  // namespace execkit::mutants

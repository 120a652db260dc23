// Mutants of cancellation: a cancel that only pretends, and one that always
// claims to have cancelled.
#include <mutex>

#include "forwarding_backend.hpp"

namespace execkit::mutants {
namespace {

// Hands a call's completion handler exactly one outcome, whichever comes first.
class OneDelivery {
 public:
  explicit OneDelivery(CompletionHandler on_done) : on_done_(std::move(on_done)) {}
  bool deliver(Outcome outcome) {
    CompletionHandler handler;
    {
      std::lock_guard lock(mutex_);
      if (!on_done_) return false;
      handler = std::exchange(on_done_, nullptr);
    }
    handler(std::move(outcome));
    return true;
  }

 private:
  std::mutex mutex_;
  CompletionHandler on_done_;
};

// CANCEL-2: cancel() completes the call with a CancelledError at once, like
// cancelling a future, but never tells the backend: the task keeps running.
class CancelReportsOnly final : public CancelTarget {
 public:
  explicit CancelReportsOnly(std::shared_ptr<OneDelivery> delivery) : delivery_(std::move(delivery)) {}
  bool cancel() override { return delivery_->deliver(Outcome::failure(CancelledError("the call was cancelled"))); }

 private:
  std::shared_ptr<OneDelivery> delivery_;
};

class CancelWithoutStopping final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override {
    auto delivery = std::make_shared<OneDelivery>(std::move(on_done));
    ForwardingBackend::submit(std::move(call), deadline, [delivery](Outcome outcome) { delivery->deliver(std::move(outcome)); });
    return Submission(std::make_shared<CancelReportsOnly>(delivery));
  }
};

// CANCEL-3: cancel() always answers "cancelled", also for a finished call.
class AlwaysCancelled final : public CancelTarget {
 public:
  explicit AlwaysCancelled(Submission inner) : inner_(std::move(inner)) {}
  bool cancel() override {
    inner_.cancel();
    return true;
  }

 private:
  Submission inner_;
};

class CancelAlwaysTrue final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override {
    return Submission(std::make_shared<AlwaysCancelled>(ForwardingBackend::submit(std::move(call), deadline, std::move(on_done))));
  }
};

}  // namespace

FactoryTable cancel_mutants() {
  return {
      {"cancel_without_stopping", decorated<CancelWithoutStopping>()},
      {"cancel_always_true", decorated<CancelAlwaysTrue>()},
  };
}

}  // namespace execkit::mutants

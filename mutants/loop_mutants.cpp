// Mutants of many-caller use: a backend bound to the first event loop that
// used it, and one whose blocking form refuses to run next to async calls.
#include <atomic>
#include <mutex>
#include <thread>

#include "forwarding_backend.hpp"

namespace execkit::mutants {
namespace {

// Lives exactly as long as its thread: a thread id may be reused, this may not.
thread_local const auto this_thread_alive = std::make_shared<const int>(0);

struct LoopBinding {
  std::mutex mutex;
  bool bound = false;
  std::thread::id thread;
  std::weak_ptr<const int> alive;

  // Binds to the calling thread the first time; true if the caller is that thread, still running.
  bool attached() {
    std::lock_guard lock(mutex);
    if (!bound) {
      bound = true;
      thread = std::this_thread::get_id();
      alive = this_thread_alive;
    }
    return thread == std::this_thread::get_id() && !alive.expired();
  }
};

// LOOP-1, LOOP-2: the async form is bound to the event loop (thread) that
// first used it, as an asyncio object is: calls from any other loop, and all
// calls once that loop is gone, fail with "attached to a different loop".
class BoundToFirstLoop final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override {
    if (!binding_->attached()) {
      on_done(Outcome::failure(BackendClosed("the backend is attached to a different event loop (the first one that used it)")));
      return {};
    }
    return ForwardingBackend::submit(std::move(call), deadline, std::move(on_done));
  }

 private:
  std::shared_ptr<LoopBinding> binding_ = std::make_shared<LoopBinding>();
};

// LOOP-3: the blocking form drives the same internal loop as the async form
// and refuses to run while asynchronous calls are in flight.
class BlockingRefusedDuringAsync final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Result execute(const Call& call, Deadline deadline) override {
    if (*in_flight_ > 0) throw BackendClosed("blocking execute refused: the backend's loop is running asynchronous calls");
    return ForwardingBackend::execute(call, deadline);
  }
  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override {
    ++*in_flight_;
    return ForwardingBackend::submit(std::move(call), deadline, [in_flight = in_flight_, on_done = std::move(on_done)](Outcome outcome) {
      --*in_flight;
      on_done(std::move(outcome));
    });
  }

 private:
  std::shared_ptr<std::atomic<int>> in_flight_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace

FactoryTable loop_mutants() {
  return {
      {"bound_to_first_loop", decorated<BoundToFirstLoop>()},
      {"blocking_refused_during_async", decorated<BlockingRefusedDuringAsync>()},
  };
}

}  // namespace execkit::mutants

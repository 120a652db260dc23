// Optional capability: observers of the call lifecycle (HOOK-1..5).
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "execkit/call.hpp"
#include "execkit/errors.hpp"
#include "execkit/metrics.hpp"

namespace execkit {

using SubmitHandler = std::function<void(const Call&)>;
// metrics is non-null exactly when the task ran to an end (success or TaskError);
// error is null exactly on success.
using CompleteHandler = std::function<void(const Call&, const ExecutionMetrics*, const Error*)>;
using ShutdownHandler = std::function<void()>;

// Unsubscribes on destruction (or on unsubscribe()). Movable, not copyable.
class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::function<void()> unsubscribe) : unsubscribe_(std::move(unsubscribe)) {}
  Subscription(Subscription&& other) noexcept : unsubscribe_(std::exchange(other.unsubscribe_, {})) {}
  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      unsubscribe();
      unsubscribe_ = std::exchange(other.unsubscribe_, {});
    }
    return *this;
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { unsubscribe(); }

  void unsubscribe() {
    if (auto f = std::exchange(unsubscribe_, {})) f();
  }

 private:
  std::function<void()> unsubscribe_;
};

class LifecycleObservable {
 public:
  virtual ~LifecycleObservable() = default;
  // Fires before the call reaches a worker.
  virtual Subscription on_submit(SubmitHandler handler) = 0;
  // Fires exactly once for every on_submit, on every path.
  virtual Subscription on_complete(CompleteHandler handler) = 0;
  // Fires exactly once, on the first shutdown.
  virtual Subscription on_shutdown(ShutdownHandler handler) = 0;
};

}  // namespace execkit

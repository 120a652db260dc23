// Mutants of the lifecycle hooks: completions missing on some paths,
// on_shutdown firing on every shutdown, handlers forbidden to call back.
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "forwarding_backend.hpp"

namespace execkit::mutants {
namespace {

// HOOK-1: on_complete fires only for calls that came back from a worker;
// timeouts, cancels and calls refused at shutdown never complete.
class CompleteOnlyWhenTaskRan final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Subscription on_complete(CompleteHandler handler) override {
    return ForwardingBackend::on_complete(
        [handler = std::move(handler)](const Call& call, const ExecutionMetrics* metrics, const Error* error) {
          if (error != nullptr && (error->kind() == ErrorKind::timeout || error->kind() == ErrorKind::cancelled ||
                                   error->kind() == ErrorKind::backend_closed))
            return;
          handler(call, metrics, error);
        });
  }
};

struct ShutdownHandlers {
  std::mutex mutex;
  std::uint64_t next_id = 0;
  std::map<std::uint64_t, ShutdownHandler> handlers;
};

// HOOK-4: the backend keeps its own on_shutdown list and fires it on every
// shutdown() call, without a once-guard.
class ShutdownEveryTime final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Subscription on_shutdown(ShutdownHandler handler) override {
    std::lock_guard lock(state_->mutex);
    const auto id = state_->next_id++;
    state_->handlers.emplace(id, std::move(handler));
    return Subscription([weak = std::weak_ptr<ShutdownHandlers>(state_), id] {
      if (auto state = weak.lock()) {
        std::lock_guard inner_lock(state->mutex);
        state->handlers.erase(id);
      }
    });
  }
  void shutdown(bool wait) override {
    ForwardingBackend::shutdown(wait);
    std::map<std::uint64_t, ShutdownHandler> snapshot;
    {
      std::lock_guard lock(state_->mutex);
      snapshot = state_->handlers;
    }
    for (const auto& [id, handler] : snapshot) {
      try {
        handler();
      } catch (const std::exception& e) {
        inner().config().log(std::string("on_shutdown handler threw: ") + e.what());
      } catch (...) {
        inner().config().log("on_shutdown handler threw a non-standard exception");
      }
    }
  }

 private:
  std::shared_ptr<ShutdownHandlers> state_ = std::make_shared<ShutdownHandlers>();
};

// How deep the current thread is in this backend's hook handlers.
thread_local int handler_depth = 0;

class InHandler {
 public:
  InHandler() { ++handler_depth; }
  ~InHandler() { --handler_depth; }
  InHandler(const InHandler&) = delete;
  InHandler& operator=(const InHandler&) = delete;
};

// HOOK-5: calls from inside a handler are refused ("to avoid deadlocks").
class RefusesReentry final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Result execute(const Call& call, Deadline deadline) override {
    refuse_reentry();
    return ForwardingBackend::execute(call, deadline);
  }
  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override {
    refuse_reentry();
    return ForwardingBackend::submit(std::move(call), deadline, std::move(on_done));
  }
  Subscription on_submit(SubmitHandler handler) override {
    return ForwardingBackend::on_submit([handler = std::move(handler)](const Call& call) {
      InHandler scope;
      handler(call);
    });
  }
  Subscription on_complete(CompleteHandler handler) override {
    return ForwardingBackend::on_complete(
        [handler = std::move(handler)](const Call& call, const ExecutionMetrics* metrics, const Error* error) {
          InHandler scope;
          handler(call, metrics, error);
        });
  }
  Subscription on_shutdown(ShutdownHandler handler) override {
    return ForwardingBackend::on_shutdown([handler = std::move(handler)] {
      InHandler scope;
      handler();
    });
  }

 private:
  static void refuse_reentry() {
    if (handler_depth > 0) throw std::logic_error("a lifecycle handler must not call back into the backend");
  }
};

}  // namespace

FactoryTable hook_mutants() {
  return {
      {"on_complete_only_when_task_ran", decorated<CompleteOnlyWhenTaskRan>()},
      {"on_shutdown_every_time", decorated<ShutdownEveryTime>()},
      {"reentry_refused", decorated<RefusesReentry>()},
  };
}

}  // namespace execkit::mutants

// Lifecycle observers: registration, ordered firing, isolation of throwing
// handlers (HOOK-2, HOOK-3) and a once-only shutdown event (HOOK-4).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string_view>

#include "execkit/lifecycle.hpp"

namespace execkit {

class HookRegistry {
 public:
  explicit HookRegistry(std::function<void(std::string_view)> log);

  Subscription add_submit(SubmitHandler handler);
  Subscription add_complete(CompleteHandler handler);
  Subscription add_shutdown(ShutdownHandler handler);

  // Handlers run in registration order on the calling thread, with no lock
  // held, so they may call back into the backend (HOOK-5).
  void fire_submit(const Call& call) const;
  void fire_complete(const Call& call, const ExecutionMetrics* metrics, const Error* error) const;
  // Only the first call fires.
  void fire_shutdown_once();

  struct Handlers;

 private:
  std::shared_ptr<Handlers> handlers_;
  std::function<void(std::string_view)> log_;
  std::atomic<bool> shutdown_fired_{false};
};

}  // namespace execkit

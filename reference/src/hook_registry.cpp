#include "hook_registry.hpp"

#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace execkit {

template <class Handler>
struct Slot {
  std::uint64_t id;
  std::shared_ptr<const Handler> handler;
};

struct HookRegistry::Handlers {
  std::mutex mutex;
  std::uint64_t next_id = 1;
  std::vector<Slot<SubmitHandler>> submit;
  std::vector<Slot<CompleteHandler>> complete;
  std::vector<Slot<ShutdownHandler>> shutdown;
};

namespace {

template <class Handler>
Subscription add(const std::shared_ptr<HookRegistry::Handlers>& handlers,
                 std::vector<Slot<Handler>> HookRegistry::Handlers::*list, Handler handler) {
  std::uint64_t id = 0;
  {
    std::lock_guard lock(handlers->mutex);
    id = handlers->next_id++;
    ((*handlers).*list).push_back({id, std::make_shared<const Handler>(std::move(handler))});
  }
  std::weak_ptr<HookRegistry::Handlers> weak = handlers;
  return Subscription([weak, list, id] {
    if (auto h = weak.lock()) {
      std::lock_guard lock(h->mutex);
      auto& slots = (*h).*list;
      std::erase_if(slots, [id](const auto& s) { return s.id == id; });
    }
  });
}

template <class Handler, class... Args>
void fire(HookRegistry::Handlers& handlers, std::vector<Slot<Handler>> HookRegistry::Handlers::*list,
          const std::function<void(std::string_view)>& log, std::string_view event, const Args&... args) {
  std::vector<Slot<Handler>> snapshot;
  {
    std::lock_guard lock(handlers.mutex);
    snapshot = handlers.*list;
  }
  for (const auto& slot : snapshot) {
    try {
      (*slot.handler)(args...);
    } catch (const std::exception& e) {
      log(std::string(event) + " handler #" + std::to_string(slot.id) + " threw: " + e.what());
    } catch (...) {
      log(std::string(event) + " handler #" + std::to_string(slot.id) + " threw a non-standard exception");
    }
  }
}

}  // namespace

HookRegistry::HookRegistry(std::function<void(std::string_view)> log)
    : handlers_(std::make_shared<Handlers>()), log_(std::move(log)) {}

Subscription HookRegistry::add_submit(SubmitHandler handler) {
  return add(handlers_, &Handlers::submit, std::move(handler));
}
Subscription HookRegistry::add_complete(CompleteHandler handler) {
  return add(handlers_, &Handlers::complete, std::move(handler));
}
Subscription HookRegistry::add_shutdown(ShutdownHandler handler) {
  return add(handlers_, &Handlers::shutdown, std::move(handler));
}

void HookRegistry::fire_submit(const Call& call) const { fire(*handlers_, &Handlers::submit, log_, "on_submit", call); }

void HookRegistry::fire_complete(const Call& call, const ExecutionMetrics* metrics, const Error* error) const {
  fire(*handlers_, &Handlers::complete, log_, "on_complete", call, metrics, error);
}

void HookRegistry::fire_shutdown_once() {
  if (shutdown_fired_.exchange(true)) return;
  fire(*handlers_, &Handlers::shutdown, log_, "on_shutdown");
}

}  // namespace execkit

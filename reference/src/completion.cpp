#include "completion.hpp"

#include <exception>

namespace execkit {

const ExecutionMetrics* metrics_of(const Outcome& outcome) {
  if (outcome.ok()) return &outcome.value().metrics();
  if (const auto* task = outcome.error_as<TaskError>()) return &task->metrics();
  return nullptr;
}

void complete_call(const HookRegistry& hooks, const std::function<void(std::string_view)>& log, const Call& call,
                   const std::string& call_name, const CompletionHandler& on_done, Outcome outcome) {
  hooks.fire_complete(call, metrics_of(outcome), outcome.error());
  try {
    on_done(std::move(outcome));
  } catch (const std::exception& e) {
    log("a completion handler of call " + call_name + " threw: " + e.what());
  } catch (...) {
    log("a completion handler of call " + call_name + " threw a non-exception");
  }
}

}  // namespace execkit

// How a backend hands a finished call to its caller: the on_complete hooks
// first, then the completion handler; what the handler throws is logged and
// stops there (a backend thread must never end the caller's process).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "execkit/backend.hpp"
#include "hook_registry.hpp"

namespace execkit {

// The metrics on_complete gets: a result's, or a TaskError's; none otherwise.
const ExecutionMetrics* metrics_of(const Outcome& outcome);

// `call_name` names the call in the log line when the handler throws.
void complete_call(const HookRegistry& hooks, const std::function<void(std::string_view)>& log, const Call& call,
                   const std::string& call_name, const CompletionHandler& on_done, Outcome outcome);

}  // namespace execkit

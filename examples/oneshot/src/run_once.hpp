// One call, start to end, in a fresh oneshot-worker process.
#pragma once

#include <functional>

#include "execkit/call.hpp"
#include "execkit/outcome.hpp"
#include "worker_settings.hpp"

namespace oneshot {

// Why a running call must end before its task does.
enum class Stop { none, cancelled, closed };

// Starts a worker for `call`, waits until it exits, the deadline passes or
// `wake_fd` (an eventfd) is signalled and `stop_reason()` says why, and turns
// what happened into the call's Outcome. A call whose deadline already passed
// never starts. A stopped or timed-out worker is killed with everything it
// started, and reaped, before this returns.
execkit::Outcome run_once(const WorkerSettings& settings, const execkit::Call& call, execkit::Deadline deadline,
                          int wake_fd, const std::function<Stop()>& stop_reason);

}  // namespace oneshot

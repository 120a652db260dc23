// Runs one call on this worker and builds its response (RUN, ISO, SPILL).
#pragma once

#include "call_scope.hpp"
#include "control_channel.hpp"
#include "envelope.hpp"
#include "module_cache.hpp"

namespace execkit::worker {

// Applies the call's env updates and cwd within `scope`, runs the task and
// builds the response. The caller replies first and restores `scope` after,
// so the restore is off the call's latency (retirement then follows as a
// notice: see serve() in main.cpp).
// Consumes the message: its input mapping and the spill fd are released
// before this returns, so before the response is sent.
wire::Response run_call(RequestMessage message, CallScope& scope, ModuleCache& modules);

// What the worker sends after the response to call `last_call_id` when
// restoring its base state failed: it runs no further call and waits to be
// killed; a request that crossed the notice was never started.
wire::Response retirement_notice(std::uint64_t last_call_id, const std::vector<std::string>& reasons);

}  // namespace execkit::worker

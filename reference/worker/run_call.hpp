// Runs one call on this worker and builds its response (RUN, ISO, SPILL).
#pragma once

#include <optional>

#include "base_state.hpp"
#include "call_scope.hpp"
#include "control_channel.hpp"
#include "envelope.hpp"
#include "module_cache.hpp"

namespace execkit::worker {

struct CallReply {
  wire::Response response;
  // The spill file handed to the caller, if the result went through one.
  std::optional<FileIdentity> spill_file;
};

// Applies the call's env updates and cwd within `scope`, runs the task and
// builds the response. The caller usually replies first and restores `scope`
// after, so the restore is off the call's latency (retirement then follows
// as a notice: see serve() in main.cpp).
// Consumes the message: its input mapping and the spill fd are released
// before this returns, so before the response is sent.
CallReply run_call(RequestMessage message, CallScope& scope, ModuleCache& modules);

// What the worker sends after the response to call `last_call_id` when
// restoring its base state failed: it runs no further call and waits to be
// killed; a request that crossed the notice was never started.
wire::Response retirement_notice(std::uint64_t last_call_id, const std::vector<std::string>& reasons);

// Marks a response as the worker's last: it runs nothing after it.
void mark_retiring(wire::Response& response, const std::vector<std::string>& reasons);

}  // namespace execkit::worker

// Runs one call on this worker and builds its response (RUN, ISO, SPILL).
#pragma once

#include "base_state.hpp"
#include "control_channel.hpp"
#include "envelope.hpp"
#include "module_cache.hpp"

namespace execkit::worker {

struct CallResponse {
  wire::Response response;
  // The task took the control socket away: the worker must exit.
  bool control_channel_lost = false;
};

// Consumes the message: its input mapping and the spill fd are released
// before this returns, so before the response is sent.
CallResponse run_call(RequestMessage message, const BaseState& base, ModuleCache& modules, int control_fd);

}  // namespace execkit::worker

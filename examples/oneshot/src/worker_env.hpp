// The environment a worker starts with, built explicitly: nothing of the
// caller's reaches it unless allowed (ENV-1..ENV-4, ENV-6).
#pragma once

#include <string>
#include <vector>

#include "execkit/call.hpp"
#include "execkit/config.hpp"

namespace oneshot {

// The caller's whitelisted and prefixed variables as they are now, then the
// call's env_updates (nullopt removes), then EXECKIT_WORKER_ID and
// EXECKIT_NODE_ID. Entries are "NAME=VALUE".
std::vector<std::string> worker_environment(const execkit::WorkerConfig& config, const execkit::Call& call,
                                            const std::string& worker_id, const std::string& node_id);

}  // namespace oneshot

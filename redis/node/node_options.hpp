// Command line of execkit-node.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "node_agent.hpp"

namespace execkit::redis {

// Throws ConfigError naming the option and its value. The password comes
// from --password-file or EXECKIT_REDIS_PASSWORD, never from argv (visible
// to every user in /proc).
NodeOptions parse_node_options(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

std::string node_usage();

}  // namespace execkit::redis

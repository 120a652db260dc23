// Builds a worker's environment block by construction: only whitelisted names
// and allowed prefixes of the caller's environment go in (ENV-1..3).
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace execkit {

using EnvMap = std::map<std::string, std::string>;

// A copy of the process environment (`environ`) taken now.
EnvMap snapshot_environment();

bool env_name_allowed(std::string_view name, const std::set<std::string>& whitelist,
                      const std::vector<std::string>& prefixes);

// "NAME=VALUE" strings: the allowed entries of `parent`, then every entry of
// `extra` (which wins over `parent`). Sorted by name, no duplicates.
std::vector<std::string> build_worker_env(const EnvMap& parent, const std::set<std::string>& whitelist,
                                          const std::vector<std::string>& prefixes, const EnvMap& extra);

}  // namespace execkit

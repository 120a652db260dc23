#include "worker_env.hpp"

#include <algorithm>
#include <map>
#include <string_view>

extern char** environ;

namespace oneshot {
namespace {

bool allowed(const execkit::WorkerConfig& config, const std::string& name) {
  return config.env_whitelist.count(name) != 0 ||
         std::any_of(config.env_prefixes.begin(), config.env_prefixes.end(),
                     [&](const std::string& prefix) { return !prefix.empty() && name.starts_with(prefix); });
}

}  // namespace

std::vector<std::string> worker_environment(const execkit::WorkerConfig& config, const execkit::Call& call,
                                            const std::string& worker_id, const std::string& node_id) {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    std::string name(text.substr(0, equals));
    if (allowed(config, name)) env[std::move(name)] = std::string(text.substr(equals + 1));
  }
  for (const auto& [name, value] : call.env_updates) {
    if (value) {
      env[name] = *value;
    } else {
      env.erase(name);
    }
  }
  env["EXECKIT_WORKER_ID"] = worker_id;
  env["EXECKIT_NODE_ID"] = node_id;

  std::vector<std::string> entries;
  entries.reserve(env.size());
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  return entries;
}

}  // namespace oneshot

#include "execkit/config.hpp"

#include <cstdlib>

#include "env_parse.hpp"
#include "host_info.hpp"

namespace execkit {
namespace {

constexpr std::string_view max_workers_var = "EXECKIT_MAX_WORKERS";
constexpr std::string_view idle_timeout_var = "EXECKIT_IDLE_TIMEOUT_S";
constexpr std::string_view spill_dir_var = "EXECKIT_SPILL_DIR";
constexpr std::string_view node_id_var = "EXECKIT_NODE_ID";
constexpr std::string_view disable_pdeathsig_var = "EXECKIT_DISABLE_PDEATHSIG";
constexpr std::string_view parallel_level_var = "CTEST_PARALLEL_LEVEL";

constexpr std::string_view read_vars[] = {max_workers_var,   idle_timeout_var,        spill_dir_var,
                                          node_id_var,       disable_pdeathsig_var,   parallel_level_var};

const std::string* find(const std::map<std::string, std::string>& env, std::string_view name) {
  const auto it = env.find(std::string(name));
  return it == env.end() ? nullptr : &it->second;
}

// CONFIG-3: an explicit EXECKIT_MAX_WORKERS is handled by the caller; this is
// the default, shared out among the processes of a parallel test run.
std::size_t default_max_workers(const std::map<std::string, std::string>& env) {
  const auto cpus = host_info::available_cpus();
  const auto* level = find(env, parallel_level_var);
  if (level == nullptr) return cpus;
  return env_parse::workers_per_parallel_test(cpus, env_parse::parse_parallel_level(parallel_level_var, *level));
}

}  // namespace

std::set<std::string> default_env_whitelist() {
  return {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM"};
}

WorkerConfig WorkerConfig::from_env() {
  std::map<std::string, std::string> env;
  for (const auto name : read_vars) {
    if (const char* value = std::getenv(std::string(name).c_str())) env.emplace(name, value);
  }
  return from_env(env);
}

WorkerConfig WorkerConfig::from_env(const std::map<std::string, std::string>& env) {
  WorkerConfig config;

  if (const auto* value = find(env, max_workers_var)) {
    config.max_workers = env_parse::parse_positive_count(max_workers_var, *value);
  } else {
    config.max_workers = default_max_workers(env);
  }

  if (const auto* value = find(env, idle_timeout_var)) {
    config.idle_timeout = env_parse::parse_positive_seconds(idle_timeout_var, *value);
  }

  // An empty value means unset, as shells make "VAR=" easy to leave behind.
  if (const auto* value = find(env, spill_dir_var); value != nullptr && !value->empty()) {
    config.spill_dir = env_parse::parse_directory(spill_dir_var, *value);
  }

  const auto* node_id = find(env, node_id_var);
  const auto trimmed_node_id = node_id ? env_parse::trim_ascii(*node_id) : std::string_view{};
  config.node_id = trimmed_node_id.empty() ? host_info::host_name() : std::string(trimmed_node_id);

  if (const auto* value = find(env, disable_pdeathsig_var)) {
    config.enable_pdeathsig = !env_parse::parse_flag(disable_pdeathsig_var, *value);
  }

  return config;
}

}  // namespace execkit

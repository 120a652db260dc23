// Configuration of a backend (CONFIG-1) and its environment overrides (CONFIG-2, CONFIG-3).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace execkit {

// Names passed from the caller's environment to tasks by default (ENV-3).
std::set<std::string> default_env_whitelist();

struct WorkerConfig {
  // At most this many tasks run at once; more calls queue (LIFE-2). Must be >= 1.
  std::size_t max_workers = 1;
  // An idle worker exits after this long (LIFE-3).
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(300)};
  // Empty: $TMPDIR/execkit-<uid> (TMPDIR defaults to /tmp). `..` is resolved.
  std::filesystem::path spill_dir;
  std::set<std::string> env_whitelist = default_env_whitelist();
  std::vector<std::string> env_prefixes = {"EXECKIT_"};
  // Workers get PR_SET_PDEATHSIG(SIGKILL) so they die with the caller (LIFE-4).
  bool enable_pdeathsig = true;
  // Empty: a fresh random id per backend instance.
  std::string pool_id;
  // Empty: the host name.
  std::string node_id;

  // Beyond CONFIG-1:
  // Empty: found next to the execkit library or executable (see docs).
  std::filesystem::path worker_path;
  // Where calls without a cwd run. Empty: the caller's cwd when the backend is created.
  std::filesystem::path base_dir;
  // Results larger than this are a ResultError(too_large) (RUN-5).
  std::uint64_t max_result_bytes = std::uint64_t{16} << 30;
  // Bytes of a task's stderr kept for its error (RUN-3).
  std::size_t stderr_tail_bytes = 8192;
  // Receives diagnostics such as a throwing hook handler (HOOK-3). Empty: stderr.
  std::function<void(std::string_view)> log;

  // Defaults overridden by EXECKIT_* variables of the process environment.
  // Throws ConfigError naming the variable and its value on a bad value.
  static WorkerConfig from_env();
  // Same, from an explicit environment (for tests and embedding).
  static WorkerConfig from_env(const std::map<std::string, std::string>& env);
};

}  // namespace execkit

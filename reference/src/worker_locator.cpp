#include "worker_locator.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "execkit/errors.hpp"

namespace execkit {
namespace {

bool is_executable_file(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

std::filesystem::path directory_of_this_code() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&locate_worker), &info) == 0 || info.dli_fname == nullptr) return {};
  // dladdr reports the main executable by the (possibly relative) path it was
  // started with, which breaks once the caller changes directory.
  std::filesystem::path where(info.dli_fname);
  if (!where.is_absolute()) where = "/proc/self/exe";
  std::error_code ec;
  auto self = std::filesystem::canonical(where, ec);
  return ec ? std::filesystem::path{} : self.parent_path();
}

}  // namespace

std::filesystem::path locate_worker(const std::filesystem::path& configured, const char* env_value) {
  std::vector<std::filesystem::path> candidates;
  if (!configured.empty()) {
    candidates.push_back(configured);
  } else if (env_value != nullptr && *env_value != '\0') {
    candidates.emplace_back(env_value);
  } else if (auto dir = directory_of_this_code(); !dir.empty()) {
    candidates.push_back(dir / "execkit-worker");
    candidates.push_back(dir.parent_path() / "libexec" / "execkit-worker");
  }
  std::string looked;
  for (const auto& c : candidates) {
    if (is_executable_file(c)) return std::filesystem::absolute(c);
    looked += (looked.empty() ? "" : ", ") + c.string();
  }
  throw ConfigError("worker_path", looked,
                    "no executable execkit-worker found (looked at: " + (looked.empty() ? "nothing" : looked) +
                        "); set WorkerConfig::worker_path or EXECKIT_WORKER_PATH");
}

}  // namespace execkit

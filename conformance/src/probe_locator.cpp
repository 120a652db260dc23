#include "probe_locator.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace execkit::conformance {
namespace {

const char anchor = 0;  // an address inside whatever binary holds the suite

std::filesystem::path suite_binary_dir() {
  Dl_info info{};
  if (::dladdr(&anchor, &info) != 0 && info.dli_fname != nullptr && info.dli_fname[0] == '/') {
    return std::filesystem::path(info.dli_fname).parent_path();
  }
  return std::filesystem::read_symlink("/proc/self/exe").parent_path();
}

}  // namespace

std::filesystem::path locate_probe_dir() {
  const std::string file = "libexeckit_probe.so";
  if (const char* configured = std::getenv("EXECKIT_PROBE_MODULE"); configured != nullptr && *configured != '\0') {
    const std::filesystem::path path(configured);
    if (!std::filesystem::is_regular_file(path)) {
      throw std::runtime_error("EXECKIT_PROBE_MODULE='" + path.string() + "' is not a file");
    }
    return std::filesystem::absolute(path).parent_path();
  }
  const auto dir = suite_binary_dir();
  const std::vector<std::filesystem::path> candidates{dir, dir / ".." / "lib" / "execkit"};
  std::string looked;
  for (const auto& candidate : candidates) {
    if (std::filesystem::is_regular_file(candidate / file)) return std::filesystem::weakly_canonical(candidate);
    looked += " " + (candidate / file).string();
  }
  throw std::runtime_error("cannot find the probe module " + file + "; looked at" + looked +
                           " (set EXECKIT_PROBE_MODULE to its path)");
}

}  // namespace execkit::conformance

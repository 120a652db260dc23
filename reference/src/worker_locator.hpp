// Finds the execkit-worker executable.
#pragma once

#include <filesystem>

namespace execkit {

// `configured` if set; else $EXECKIT_WORKER_PATH from `env_value` if set; else
// next to the binary or library holding this code (build tree), or
// ../libexec/execkit-worker from it (install tree). Throws ConfigError naming
// "worker_path" and every place looked at when none is an executable file.
std::filesystem::path locate_worker(const std::filesystem::path& configured, const char* env_value);

}  // namespace execkit

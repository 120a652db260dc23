// A backend's configuration, resolved once when it is created.
#pragma once

#include <filesystem>
#include <string>

#include "execkit/config.hpp"

namespace oneshot {

struct WorkerSettings {
  execkit::WorkerConfig config;
  std::filesystem::path worker;     // the oneshot-worker executable
  std::filesystem::path spill_dir;  // created and checked (spill_dir.hpp)
  std::filesystem::path base_dir;   // where calls without a cwd run
  std::string node_id;
};

}  // namespace oneshot

// The worker's process state between calls, captured once at start-up and
// put back after every call (ENV-4, ENV-5, ISO-1, ISO-4, ISO-5).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <array>
#include <string>
#include <vector>

#include "proc_status.hpp"

namespace execkit::worker {

struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  bool open = false;
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

struct BaseState {
  // "NAME=VALUE" strings in environ order.
  std::vector<std::string> environment;
  std::string cwd;
  mode_t umask = 0;
  std::array<rlimit, RLIM_NLIMITS> limits{};
  // User and group ids and supplementary groups, as /proc/self/status shows them.
  std::string credentials;
  // What fds 0, 1 and 2 refer to.
  std::array<FileIdentity, 3> standard_fds{};
  FileIdentity control_channel;
};

// Throws std::system_error when a part of the state cannot be read.
BaseState capture_base_state(int control_fd, ProcStatusReader& status);

FileIdentity identify_fd(int fd) noexcept;
const char* rlimit_name(int resource) noexcept;

}  // namespace execkit::worker

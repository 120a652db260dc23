// The worker's process state between calls, captured once at start-up and
// put back after every call (ENV-4, ENV-5, ISO-1, ISO-4, ISO-5).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <array>
#include <string>
#include <vector>

namespace execkit::worker {

struct Credentials {
  uid_t real_uid = 0, effective_uid = 0, saved_uid = 0;
  gid_t real_gid = 0, effective_gid = 0, saved_gid = 0;
  std::vector<gid_t> groups;
  friend bool operator==(const Credentials&, const Credentials&) = default;
};

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
  Credentials credentials;
  // What fds 0, 1 and 2 refer to.
  std::array<FileIdentity, 3> standard_fds{};
};

// Throws std::system_error when a part of the state cannot be read.
BaseState capture_base_state();

Credentials current_credentials();
FileIdentity identify_fd(int fd) noexcept;
const char* rlimit_name(int resource) noexcept;

}  // namespace execkit::worker

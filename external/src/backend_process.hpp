// The backend's process: started with the protocol socket as its only extra
// descriptor, waited for with a bound, killed through a pidfd.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "unique_fd.hpp"

namespace execkit::external {

inline constexpr int protocol_fd_number = 3;

class BackendProcess {
 public:
  // Runs /bin/sh -c 'exec <command>' in `directory` (empty: ours) with our
  // end-to-be of a socketpair as fd protocol_fd_number; returns with `socket`
  // set to the other end.
  BackendProcess(const std::string& command, const std::filesystem::path& directory, UniqueFd& socket);
  BackendProcess(const BackendProcess&) = delete;
  BackendProcess& operator=(const BackendProcess&) = delete;
  // Kills and reaps a process still running.
  ~BackendProcess();

  pid_t pid() const noexcept { return pid_; }
  // Waits up to `timeout` for the exit and reaps it; its description
  // ("exited with status 0", "killed by signal 9") or nullopt if still running.
  std::optional<std::string> wait_for_exit(std::chrono::milliseconds timeout);
  // SIGKILL through the pidfd, then reap.
  std::string kill_and_reap() noexcept;
  bool reaped() const noexcept { return pid_ == 0; }
  const std::string& end() const noexcept { return end_; }

 private:
  pid_t pid_ = 0;
  UniqueFd pidfd_;
  std::string end_;
};

}  // namespace execkit::external

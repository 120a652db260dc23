// For clauses about a caller that dies (LIFE-4, SPILL-6): the test re-runs its
// own binary, filtered to itself, in a "role"; that process plays the caller,
// reports one line back and waits to be SIGKILLed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "proc.hpp"

namespace execkit::conformance {

inline constexpr const char* child_role_variable = "EXECKIT_CONFORMANCE_CHILD_ROLE";
inline constexpr const char* child_dir_variable = "EXECKIT_CONFORMANCE_CHILD_DIR";
inline constexpr const char* child_fd_variable = "EXECKIT_CONFORMANCE_CHILD_FD";

class ChildCaller {
 public:
  // Starts the current test again in `role`, sharing `dir` as its temp dir.
  // Its stdout goes to dir/child-<role>.out. Throws std::runtime_error.
  ChildCaller(const std::string& role, const std::filesystem::path& dir);
  ChildCaller(const ChildCaller&) = delete;
  ChildCaller& operator=(const ChildCaller&) = delete;
  ~ChildCaller();

  // The child's one-line report; throws if it exits or stays silent for `timeout`.
  std::string read_report(std::chrono::milliseconds timeout);
  // SIGKILL, then reap. Idempotent.
  void kill_and_reap() noexcept;
  pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  int report_fd_ = -1;
  std::filesystem::path stdout_path_;
};

// In the child role: sends `line` to the parent, then blocks until killed.
[[noreturn]] void report_to_parent_and_wait(const std::string& line);

}  // namespace execkit::conformance

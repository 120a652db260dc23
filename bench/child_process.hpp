// A helper process of the floors, killed and reaped when the object dies.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace execkit::bench {

class ChildProcess {
 public:
  // Starts `program args...` with `stdin_fd` as fd 0 and `stdout_fd` as fd 1
  // (stderr inherited). Throws std::system_error.
  static ChildProcess spawn(const std::filesystem::path& program, const std::vector<std::string>& args,
                            int stdin_fd, int stdout_fd);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const noexcept { return pid_; }

 private:
  explicit ChildProcess(pid_t pid) noexcept : pid_(pid) {}
  pid_t pid_ = -1;
};

// Waits for `pid`; throws std::runtime_error unless it exited with `expected_status`.
void wait_for_exit(pid_t pid, int expected_status, const char* what);

}  // namespace execkit::bench

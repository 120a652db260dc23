// The command line the caller starts execkit-worker with:
//   execkit-worker --control-fd=3 --parent-pid=<pid> [--pdeathsig]
#pragma once

#include <sys/types.h>

#include <span>
#include <string>
#include <variant>

namespace execkit::worker {

struct WorkerArguments {
  int control_fd = -1;
  pid_t parent_pid = 0;
  bool pdeathsig = false;
};

// The parsed arguments, or a message naming the first bad argument.
std::variant<WorkerArguments, std::string> parse_arguments(std::span<const char* const> args);

}  // namespace execkit::worker

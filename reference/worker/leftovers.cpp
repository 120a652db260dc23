#include "leftovers.hpp"

#include <sys/wait.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

namespace execkit::worker {
namespace {

// True if waitpid saw a live child.
bool reap_exited_children() {
  for (;;) {
    int status = 0;
    // __WALL: also children that report with a signal other than SIGCHLD.
    const pid_t pid = ::waitpid(-1, &status, WNOHANG | __WALL);
    if (pid > 0) continue;
    if (pid == 0) return true;
    if (errno == EINTR) continue;
    return false;  // ECHILD: no children at all
  }
}

// /proc/<pid>/task/<tid>/children lists children waitpid may miss (e.g. a
// child whose exit signal is ignored); absent without CONFIG_PROC_CHILDREN.
bool proc_lists_children() {
  std::error_code ec;
  std::filesystem::directory_iterator task("/proc/self/task", ec);
  for (; !ec && task != std::filesystem::directory_iterator(); task.increment(ec)) {
    std::ifstream children(task->path() / "children");
    std::string first;
    if (children >> first) return true;
  }
  return false;
}

}  // namespace

bool children_still_running() { return reap_exited_children() || proc_lists_children(); }

long thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("Threads:")) {
      try {
        return std::stol(line.substr(8));
      } catch (const std::exception&) {
        return 0;
      }
    }
  }
  return 0;
}

}  // namespace execkit::worker

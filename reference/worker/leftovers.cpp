#include "leftovers.hpp"

#include <sys/wait.h>

#include <cerrno>

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

}  // namespace

bool children_still_running() {
  // ECHILD from waitpid(__WALL) is authoritative: as a subreaper the worker
  // also adopts orphaned descendants, so "no child" means none anywhere below.
  return reap_exited_children();
}

}  // namespace execkit::worker

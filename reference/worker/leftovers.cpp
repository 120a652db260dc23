#include "leftovers.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>

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

bool holds_handle_to(const FileIdentity& file) {
  DIR* fds = ::opendir("/proc/self/fd");
  if (fds == nullptr) return true;
  const int own = ::dirfd(fds);
  bool found = false;
  while (const dirent* entry = ::readdir(fds)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = std::atoi(entry->d_name);
    struct stat st {};
    if (fd != own && ::fstat(fd, &st) == 0 && st.st_dev == file.device && st.st_ino == file.inode) found = true;
  }
  ::closedir(fds);
  return found;
}

}  // namespace execkit::worker

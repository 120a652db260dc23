#include "process_tree.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

namespace oneshot {
namespace {

void send_signal(int pidfd, int signal) noexcept { ::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0); }

// Through a pidfd, so a pid that was reused since the listing is never hit.
void kill_descendant(pid_t pid) noexcept {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return;  // already gone
  send_signal(pidfd, SIGKILL);
  ::close(pidfd);
}

}  // namespace

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) return children;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream list(tasks + "/" + entry->d_name + "/children");
    for (pid_t child; list >> child;) children.push_back(child);
  }
  ::closedir(dir);
  return children;
}

void kill_process_tree(pid_t pid, int pidfd) noexcept {
  send_signal(pidfd, SIGSTOP);
  try {
    std::set<pid_t> killed;
    for (bool found_new = true; found_new;) {
      found_new = false;
      std::vector<pid_t> frontier{pid};
      while (!frontier.empty()) {
        const pid_t parent = frontier.back();
        frontier.pop_back();
        for (pid_t child : children_of(parent)) {
          if (killed.insert(child).second) {
            kill_descendant(child);
            found_new = true;
          }
          frontier.push_back(child);
        }
      }
    }
  } catch (...) {
    // Out of memory while listing: the worker itself still dies below.
  }
  send_signal(pidfd, SIGKILL);
}

}  // namespace oneshot

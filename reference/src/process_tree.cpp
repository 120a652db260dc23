#include "process_tree.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace execkit {
namespace {

constexpr int max_passes = 16;

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(task_dir.c_str());
  if (dir == nullptr) return out;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream children(task_dir + "/" + entry->d_name + "/children");
    for (pid_t child; children >> child;) out.push_back(child);
  }
  ::closedir(dir);
  return out;
}

void kill_one(pid_t pid) {
  // A pidfd pins the process we saw in the listing for the send.
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return;  // already gone
  ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
  ::close(fd);
}

}  // namespace

int kill_descendants(pid_t root) noexcept {
  try {
    std::set<pid_t> killed;
    for (int pass = 0; pass < max_passes; ++pass) {
      bool found_new = false;
      std::vector<pid_t> frontier{root};
      while (!frontier.empty()) {
        pid_t pid = frontier.back();
        frontier.pop_back();
        for (pid_t child : children_of(pid)) {
          if (killed.insert(child).second) {
            kill_one(child);
            found_new = true;
          }
          frontier.push_back(child);
        }
      }
      if (!found_new) break;
    }
    return static_cast<int>(killed.size());
  } catch (...) {
    return -1;  // out of memory: the process-group kill still applies
  }
}

}  // namespace execkit

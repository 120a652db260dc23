#include "process_tree.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
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

// The parent pid /proc shows for `pid`, or -1.
pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  // getline, not istreambuf_iterator: libstdc++'s filebuf throws when a read
  // fails, and /proc/<pid>/stat fails with ESRCH once the process is reaped.
  std::string text;
  std::getline(stat, text, '\0');
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 1));
  char state = 0;
  pid_t parent = -1;
  rest >> state >> parent;
  return rest ? parent : -1;
}

// SIGKILLs `pid` if it is a child of `parent`, never a stranger that took
// the pid after the listed child was reaped. The pidfd fixes which process
// the signal goes to; the parent is read after it was opened. While that
// process is unreaped, /proc/<pid> is that process, so the check is about
// it; once it is reaped, the signal through its pidfd does nothing.
void kill_if_child_of(pid_t pid, pid_t parent) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return;  // already gone
  if (parent_of(pid) == parent) ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
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
            kill_if_child_of(child, pid);
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

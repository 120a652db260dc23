#include "proc.hpp"

#include "test_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

namespace execkit::conformance {
namespace {

std::optional<long long> to_number(std::string_view text) {
  long long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  const auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  // "pid (comm) state ppid ..." where comm may hold spaces and parentheses.
  const auto open = text.find('(');
  const auto close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcStat stat;
  stat.pid = pid;
  stat.comm = text.substr(open + 1, close - open - 1);
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> fields{std::istream_iterator<std::string>(rest), std::istream_iterator<std::string>()};
  // fields[0] is field 3 (state); starttime is field 22.
  if (fields.size() < 20 || fields[0].empty()) return std::nullopt;
  stat.state = fields[0][0];
  stat.ppid = static_cast<pid_t>(to_number(fields[1]).value_or(0));
  stat.start_time = static_cast<std::uint64_t>(to_number(fields[19]).value_or(0));
  return stat;
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> pids;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return pids;
  while (const dirent* entry = ::readdir(dir)) {
    if (auto pid = to_number(entry->d_name)) pids.push_back(static_cast<pid_t>(*pid));
  }
  ::closedir(dir);
  return pids;
}

std::optional<ProcessIdentity> identify(pid_t pid) {
  auto stat = read_proc_stat(pid);
  if (!stat) return std::nullopt;
  return ProcessIdentity{pid, stat->start_time};
}

bool is_running(const ProcessIdentity& process) {
  auto stat = read_proc_stat(process.pid);
  return stat && stat->start_time == process.start_time && stat->state != 'Z' && stat->state != 'X';
}

bool has_exited(const ProcessIdentity& process) { return !is_running(process); }

bool is_reaped(const ProcessIdentity& process) {
  auto stat = read_proc_stat(process.pid);
  return !stat || stat->start_time != process.start_time;
}

void kill_process(const ProcessIdentity& process) noexcept {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, process.pid, 0));
  if (pidfd < 0) return;
  // The pidfd may already name a newer process with the same pid: check after opening.
  if (auto stat = read_proc_stat(process.pid); stat && stat->start_time == process.start_time) {
    ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  }
  ::close(pidfd);
}

std::vector<ProcStat> descendants_of(pid_t root) {
  std::multimap<pid_t, ProcStat> by_parent;
  for (pid_t pid : all_pids()) {
    if (auto stat = read_proc_stat(pid)) by_parent.emplace(stat->ppid, *stat);
  }
  std::vector<ProcStat> found;
  std::vector<pid_t> frontier{root};
  while (!frontier.empty()) {
    const pid_t parent = frontier.back();
    frontier.pop_back();
    auto [first, last] = by_parent.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      found.push_back(it->second);
      frontier.push_back(it->second.pid);
    }
  }
  return found;
}

std::vector<ProcStat> new_descendants_of(pid_t root, const std::set<ProcessIdentity>& before,
                                         const std::vector<pid_t>& excluded) {
  std::vector<ProcStat> found;
  for (const auto& process : descendants_of(root)) {
    if (before.count({process.pid, process.start_time}) != 0) continue;
    if (std::find(excluded.begin(), excluded.end(), process.pid) != excluded.end()) continue;
    found.push_back(process);
  }
  return found;
}

std::vector<ProcStat> processes_with_env(const std::string& name, const std::string& value) {
  const std::string needle = name + "=" + value;
  std::vector<ProcStat> found;
  for (pid_t pid : all_pids()) {
    if (pid == ::getpid()) continue;
    const auto environ_block = read_file("/proc/" + std::to_string(pid) + "/environ");
    std::size_t start = 0;
    while (start < environ_block.size()) {
      auto end = environ_block.find('\0', start);
      if (end == std::string::npos) end = environ_block.size();
      if (std::string_view(environ_block).substr(start, end - start) == needle) {
        if (auto stat = read_proc_stat(pid)) found.push_back(*stat);
        break;
      }
      start = end + 1;
    }
  }
  return found;
}

std::string describe_process(const ProcStat& process) {
  auto cmdline = read_file("/proc/" + std::to_string(process.pid) + "/cmdline");
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return "pid " + std::to_string(process.pid) + " (" + process.comm + ") state " + process.state + " parent " +
         std::to_string(process.ppid) + ": " + cmdline;
}

std::vector<std::string> list_own_fds() {
  std::vector<std::string> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  const int own = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    auto fd = to_number(entry->d_name);
    if (!fd || *fd == own) continue;
    std::array<char, 4096> target{};
    const auto n = ::readlinkat(own, entry->d_name, target.data(), target.size() - 1);
    fds.push_back(std::string(entry->d_name) + " -> " + (n > 0 ? std::string(target.data(), static_cast<std::size_t>(n)) : "?"));
  }
  ::closedir(dir);
  std::sort(fds.begin(), fds.end());
  return fds;
}

}  // namespace execkit::conformance

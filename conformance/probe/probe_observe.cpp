// Probe tasks that report the task's process state: fds, signal state,
// umask, resource limits, credentials, identity, threads. Results are text.
#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "probe_support.hpp"

using execkit::probe::input_text;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string limit_text(rlim_t value) { return value == RLIM_INFINITY ? "inf" : std::to_string(value); }

int module_calls = 0;

}  // namespace

// Result: one line "<fd> <target>" per open fd (the listing's own fd excluded).
EXECKIT_TASK(fds)(execkit::TaskContext& ctx) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) throw std::system_error(errno, std::generic_category(), "probe: opendir /proc/self/fd");
  const int own = ::dirfd(dir);
  std::string out;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.' || std::atoi(entry->d_name) == own) continue;
    std::array<char, 4096> target{};
    const auto n = ::readlinkat(own, entry->d_name, target.data(), target.size() - 1);
    out += std::string(entry->d_name) + " " + (n > 0 ? std::string(target.data(), static_cast<std::size_t>(n)) : "?") + "\n";
  }
  ::closedir(dir);
  ctx.write(out);
}

// Result: "<SIG> <default|ignore|handler> <blocked 0|1>" for the ISO-4
// signals and SIGPIPE, then "blocked_count <n>" over all signals.
EXECKIT_TASK(signals)(execkit::TaskContext& ctx) {
  const std::vector<std::pair<const char*, int>> watched{
      {"SIGINT", SIGINT},   {"SIGTERM", SIGTERM}, {"SIGHUP", SIGHUP}, {"SIGQUIT", SIGQUIT},
      {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGCHLD", SIGCHLD}, {"SIGPIPE", SIGPIPE}};
  sigset_t mask;
  ::sigprocmask(SIG_BLOCK, nullptr, &mask);
  std::string out;
  for (const auto& [name, number] : watched) {
    struct sigaction action {};
    ::sigaction(number, nullptr, &action);
    const char* disposition = action.sa_handler == SIG_DFL ? "default" : action.sa_handler == SIG_IGN ? "ignore" : "handler";
    out += std::string(name) + " " + disposition + " " + (::sigismember(&mask, number) == 1 ? "1" : "0") + "\n";
  }
  int blocked = 0;
  for (int number = 1; number <= SIGRTMAX; ++number) blocked += ::sigismember(&mask, number) == 1 ? 1 : 0;
  out += "blocked_count " + std::to_string(blocked) + "\n";
  ctx.write(out);
}

// Result: the umask in octal, e.g. "22".
EXECKIT_TASK(umask)(execkit::TaskContext& ctx) {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  char text[16];
  std::snprintf(text, sizeof text, "%o", static_cast<unsigned>(mask));
  ctx.write(std::string_view(text));
}

// Result: "<NAME> <soft> <hard>" lines ("inf" for unlimited).
EXECKIT_TASK(rlimits)(execkit::TaskContext& ctx) {
  const std::vector<std::pair<const char*, int>> limits{{"NOFILE", RLIMIT_NOFILE}, {"CORE", RLIMIT_CORE},
                                                        {"STACK", RLIMIT_STACK},   {"FSIZE", RLIMIT_FSIZE},
                                                        {"NPROC", RLIMIT_NPROC},   {"AS", RLIMIT_AS},
                                                        {"DATA", RLIMIT_DATA},     {"CPU", RLIMIT_CPU}};
  std::string out;
  for (const auto& [name, resource] : limits) {
    rlimit value{};
    ::getrlimit(resource, &value);
    out += std::string(name) + " " + limit_text(value.rlim_cur) + " " + limit_text(value.rlim_max) + "\n";
  }
  ctx.write(out);
}

// Result: "uid <real> <effective> <saved> gid <real> <effective> <saved>
// groups <g>,<g>,...".
EXECKIT_TASK(credentials)(execkit::TaskContext& ctx) {
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  ::getresuid(&ruid, &euid, &suid);
  ::getresgid(&rgid, &egid, &sgid);
  std::vector<gid_t> groups(static_cast<std::size_t>(std::max(::getgroups(0, nullptr), 0)));
  groups.resize(static_cast<std::size_t>(std::max(::getgroups(static_cast<int>(groups.size()), groups.data()), 0)));
  std::string out = "uid " + std::to_string(ruid) + " " + std::to_string(euid) + " " + std::to_string(suid) + " gid " +
                    std::to_string(rgid) + " " + std::to_string(egid) + " " + std::to_string(sgid) + " groups ";
  for (std::size_t i = 0; i < groups.size(); ++i) out += (i ? "," : "") + std::to_string(groups[i]);
  ctx.write(out);
}

// Result: "pid=<getpid>\nworker_id=<EXECKIT_WORKER_ID>\nnode_id=<EXECKIT_NODE_ID>\n".
EXECKIT_TASK(identity)(execkit::TaskContext& ctx) {
  const char* worker = std::getenv("EXECKIT_WORKER_ID");
  const char* node = std::getenv("EXECKIT_NODE_ID");
  ctx.write("pid=" + std::to_string(::getpid()) + "\nworker_id=" + (worker ? worker : "") +
            "\nnode_id=" + (node ? node : "") + "\n");
}

// Result: the raw bytes of /proc/self/cmdline.
EXECKIT_TASK(cmdline)(execkit::TaskContext& ctx) { ctx.write(read_file("/proc/self/cmdline")); }

// Result: the name (comm) of every thread of the process, one per line.
EXECKIT_TASK(threads)(execkit::TaskContext& ctx) {
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) throw std::system_error(errno, std::generic_category(), "probe: opendir /proc/self/task");
  std::string out;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    out += read_file(std::string("/proc/self/task/") + entry->d_name + "/comm");
  }
  ::closedir(dir);
  ctx.write(out);
}

// Input: a path. Result "1" if it exists, else "0".
EXECKIT_TASK(exists)(execkit::TaskContext& ctx) {
  struct stat info {};
  ctx.write(::lstat(std::string(input_text(ctx)).c_str(), &info) == 0 ? "1" : "0");
}

// Result: how many times this task ran since this copy of the module was loaded.
EXECKIT_TASK(module_state)(execkit::TaskContext& ctx) { ctx.write(std::to_string(++module_calls)); }

// Result: the parent-death signal of the task's process (prctl
// PR_GET_PDEATHSIG), 0 when none is set.
EXECKIT_TASK(pdeathsig)(execkit::TaskContext& ctx) {
  int signal_number = 0;
  ::prctl(PR_GET_PDEATHSIG, &signal_number, 0, 0, 0);
  ctx.write(std::to_string(signal_number));
}

// Reading other processes through /proc: identities that survive PID reuse,
// process trees, and processes marked by an environment token.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace execkit::conformance {

struct ProcStat {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';  // 'R', 'S', 'Z', ...
  std::uint64_t start_time = 0;  // clock ticks after boot: with pid, names one process
  std::string comm;
};

std::optional<ProcStat> read_proc_stat(pid_t pid);
std::vector<pid_t> all_pids();

// One process, even after its pid is reused.
struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
  friend auto operator<=>(const ProcessIdentity&, const ProcessIdentity&) = default;
};

std::optional<ProcessIdentity> identify(pid_t pid);
// Exists and has not exited (a zombie has exited).
bool is_running(const ProcessIdentity& process);
// Exited (zombie or reaped).
bool has_exited(const ProcessIdentity& process);
// Reaped: no /proc entry of that process any more.
bool is_reaped(const ProcessIdentity& process);
// SIGKILL through a pidfd (only that process, never a reused pid).
void kill_process(const ProcessIdentity& process) noexcept;

// Every process whose parent chain leads to `root` (root excluded).
std::vector<ProcStat> descendants_of(pid_t root);
// Descendants of `root` that are not in `before` and whose pid is not one of
// `excluded` (a backend's service processes, say).
std::vector<ProcStat> new_descendants_of(pid_t root, const std::set<ProcessIdentity>& before,
                                         const std::vector<pid_t>& excluded = {});
// Every process whose initial environment holds NAME=VALUE (readable ones only).
std::vector<ProcStat> processes_with_env(const std::string& name, const std::string& value);

// "pid 123 (execkit-worker) state S parent 45: <cmdline>"
std::string describe_process(const ProcStat& process);

// Open fds of this process with their readlink targets, "3 -> /tmp/x".
std::vector<std::string> list_own_fds();

}  // namespace execkit::conformance

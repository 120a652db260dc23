// Checks after every test that the backend left nothing behind: no worker
// processes, no spill files, no extra fds in the caller (csi-sanity's
// resource tracker). What it finds it reports and then cleans up, so one
// failing test does not poison the next.
#pragma once

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "proc.hpp"

namespace execkit::conformance {

class ResourceTracker {
 public:
  // Snapshots the processes below this one and the open fds. Processes whose
  // environment holds token_name=token_value count as the test's even when
  // they escaped the process tree (a daemonized grandchild, an orphan).
  ResourceTracker(std::string token_name, std::string token_value);

  void track_dir(const std::filesystem::path& dir);

  // Waits up to `settle` for leftovers to go away, then returns one line per
  // leftover (empty: clean) and removes them.
  std::vector<std::string> check_and_clean(std::chrono::milliseconds settle);

 private:
  std::vector<ProcStat> leftover_processes() const;
  std::vector<std::string> leftover_files() const;
  std::vector<std::string> new_fds() const;

  std::string token_name_, token_value_;
  std::set<ProcessIdentity> preexisting_;
  std::set<std::string> fds_at_start_;
  std::vector<std::filesystem::path> dirs_;
};

}  // namespace execkit::conformance

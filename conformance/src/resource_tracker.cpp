#include "resource_tracker.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

#include "execkit/conformance/fixture.hpp"

namespace execkit::conformance {
namespace {

std::string fd_number(const std::string& line) { return line.substr(0, line.find(' ')); }

}  // namespace

ResourceTracker::ResourceTracker(std::string token_name, std::string token_value)
    : token_name_(std::move(token_name)), token_value_(std::move(token_value)) {
  for (const auto& process : descendants_of(::getpid())) preexisting_.insert({process.pid, process.start_time});
  for (const auto& fd : list_own_fds()) fds_at_start_.insert(fd_number(fd));
}

void ResourceTracker::track_dir(const std::filesystem::path& dir) {
  if (std::find(dirs_.begin(), dirs_.end(), dir) == dirs_.end()) dirs_.push_back(dir);
}

std::vector<ProcStat> ResourceTracker::leftover_processes() const {
  const pid_t self = ::getpid();
  std::vector<ProcStat> found;
  std::set<pid_t> in_tree;
  for (const auto& process : descendants_of(self)) {
    in_tree.insert(process.pid);
    if (preexisting_.count({process.pid, process.start_time}) == 0) found.push_back(process);
  }
  for (const auto& process : processes_with_env(token_name_, token_value_)) {
    if (in_tree.count(process.pid) != 0) continue;
    // A zombie outside our tree has exited; reaping it is its new parent's job.
    if (process.state == 'Z') continue;
    found.push_back(process);
  }
  return found;
}

std::vector<std::string> ResourceTracker::leftover_files() const {
  std::vector<std::string> files;
  for (const auto& dir : dirs_) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) files.push_back(entry.path().string());
  }
  return files;
}

std::vector<std::string> ResourceTracker::new_fds() const {
  std::vector<std::string> added;
  for (const auto& fd : list_own_fds()) {
    if (fds_at_start_.count(fd_number(fd)) == 0) added.push_back(fd);
  }
  return added;
}

std::vector<std::string> ResourceTracker::check_and_clean(std::chrono::milliseconds settle) {
  std::vector<std::string> problems;
  wait_until([&] { return leftover_processes().empty() && leftover_files().empty(); }, settle);

  for (const auto& process : leftover_processes()) {
    problems.push_back("process left running (or unreaped) after the test: " + describe_process(process));
    kill_process({process.pid, process.start_time});
  }
  // Unreaped children of this process are the backend's; reap them now.
  for (const auto& process : descendants_of(::getpid())) {
    if (process.ppid == ::getpid() && preexisting_.count({process.pid, process.start_time}) == 0) {
      kill_process({process.pid, process.start_time});
      ::waitpid(process.pid, nullptr, 0);
    }
  }
  for (const auto& file : leftover_files()) {
    problems.push_back("file left in the spill dir after the test: " + file);
    std::error_code ec;
    std::filesystem::remove_all(file, ec);
  }
  for (const auto& fd : new_fds()) problems.push_back("fd opened during the test and still open in the caller: " + fd);
  return problems;
}

}  // namespace execkit::conformance

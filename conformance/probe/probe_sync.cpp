// Probe tasks that synchronise with the test through files, so tests order
// events by conditions instead of sleeps: gates (a task that runs until the
// test releases it) and rendezvous (tasks that must run at the same time).
#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>

#include "probe_common.hpp"
#include "probe_support.hpp"

using execkit::probe::input_text;

namespace {

constexpr std::chrono::seconds longest_wait{120};

std::size_t entries_starting_with(const std::string& dir, std::string_view prefix) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) throw std::system_error(errno, std::generic_category(), "probe: opendir " + dir);
  std::size_t count = 0;
  while (const dirent* entry = ::readdir(handle)) {
    const std::string_view name(entry->d_name);
    if (name.starts_with(prefix) && name.find(".tmp.") == std::string_view::npos) ++count;
  }
  ::closedir(handle);
  return count;
}

std::string identity_text() {
  const char* worker = std::getenv("EXECKIT_WORKER_ID");
  return "pid=" + std::to_string(::getpid()) + "\nworker_id=" + (worker ? worker : "") + "\n";
}

}  // namespace

// Input "dir,id": creates dir/started.<id> (holding the pid), waits until
// dir/release.<id> or dir/release.all exists, creates dir/finished.<id>.
// Result: "pid=<pid>\nworker_id=<id>\n".
EXECKIT_TASK(gate)(execkit::TaskContext& ctx) {
  const auto parts = execkit::probe::fields(input_text(ctx), ',', 2, "gate");
  const std::string dir(parts[0]);
  const std::string id(parts[1]);
  execkit::probe::write_file_atomically(dir + "/started." + id, std::to_string(::getpid()));
  const auto until = std::chrono::steady_clock::now() + longest_wait;
  while (!execkit::probe::path_exists(dir + "/release." + id) && !execkit::probe::path_exists(dir + "/release.all")) {
    if (std::chrono::steady_clock::now() > until) throw std::runtime_error("probe: gate " + id + " was never released");
    execkit::probe::sleep_for_ms(1);
  }
  execkit::probe::write_file_atomically(dir + "/finished." + id, std::to_string(::getpid()));
  ctx.write(identity_text());
}

// Input "dir,n": announces itself in dir and waits until n tasks have, i.e.
// until n tasks run at the same time. Result: "pid=<pid>\nworker_id=<id>\n".
EXECKIT_TASK(rendezvous)(execkit::TaskContext& ctx) {
  static std::atomic<int> arrivals{0};
  const auto parts = execkit::probe::fields(input_text(ctx), ',', 2, "rendezvous");
  const std::string dir(parts[0]);
  const auto wanted = execkit::probe::parse_decimal(parts[1], "rendezvous count");
  execkit::probe::write_file_atomically(dir + "/arrived." + std::to_string(::getpid()) + "." + std::to_string(++arrivals), "");
  const auto until = std::chrono::steady_clock::now() + longest_wait;
  while (entries_starting_with(dir, "arrived.") < wanted) {
    if (std::chrono::steady_clock::now() > until) throw std::runtime_error("probe: rendezvous of " + std::string(parts[1]) + " never completed");
    execkit::probe::sleep_for_ms(1);
  }
  ctx.write(identity_text());
}

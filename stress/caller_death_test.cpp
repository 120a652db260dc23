// Caller death (LIFE-4, SPILL-6 under load): a helper process — this binary
// again, in the role "caller" — creates a backend, runs calls and leaves
// several large results half-written in the spill dir; it is SIGKILLed. All
// its workers must be gone within the LIFE-4 bound (1 s, times
// EXECKIT_CONFORMANCE_TIME_SCALE), and the next backend on that spill dir
// must sweep the stale files. Repeated EXECKIT_STRESS_CALLER_DEATHS times
// (default 3).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "execkit/conformance/backend_under_test.hpp"
#include "execkit/process_pool.hpp"
#include "pending_call.hpp"
#include "stress_support.hpp"
#include "test_support.hpp"

extern char** environ;

namespace execkit::stress {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* role_variable = "EXECKIT_STRESS_ROLE";
constexpr const char* dir_variable = "EXECKIT_STRESS_DIR";
constexpr std::size_t helper_workers = 3;

// In the helper: a backend with every worker busy writing a large result
// into the spill dir; reports the workers' pids, then waits to be killed.
[[noreturn]] void play_caller(const fs::path& dir) {
  ProcessPoolBackend backend(stress_config(dir / "spill", helper_workers));
  for (int i = 0; i < 5; ++i) backend.execute(probe_call("echo", "before"), Deadline::after(60s));
  std::vector<std::unique_ptr<conformance::PendingCall>> calls;
  for (std::size_t i = 0; i < helper_workers; ++i) {
    const auto marker = dir / ("written." + std::to_string(i));
    calls.push_back(std::make_unique<conformance::PendingCall>(
        backend, probe_call("write_then", "4194304,hang," + marker.string()), Deadline::after(600s)));
  }
  for (std::size_t i = 0; i < helper_workers; ++i)
    while (!fs::exists(dir / ("written." + std::to_string(i)))) std::this_thread::sleep_for(1ms);
  std::ostringstream pids;
  for (const auto& process : own_descendants()) pids << process.pid << " " << process.start_time << "\n";
  std::ofstream(dir / "report.tmp") << pids.str();
  fs::rename(dir / "report.tmp", dir / "report");
  for (;;) ::pause();
}

pid_t start_helper(const fs::path& dir) {
  std::vector<std::string> env_strings{std::string(role_variable) + "=caller", std::string(dir_variable) + "=" + dir.string()};
  for (char** e = environ; *e != nullptr; ++e)
    if (!std::string_view(*e).starts_with(role_variable) && !std::string_view(*e).starts_with(dir_variable)) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=CallerDeath.*";
  char* argv[] = {self.data(), filter.data(), nullptr};
  // The helper's own test output would only clutter this test's.
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (dir / "helper.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn " + self);
  return pid;
}

std::vector<conformance::ProcessIdentity> read_report(const fs::path& file) {
  std::vector<conformance::ProcessIdentity> processes;
  std::ifstream in(file);
  conformance::ProcessIdentity process;
  while (in >> process.pid >> process.start_time) processes.push_back(process);
  return processes;
}

TEST(CallerDeath, WorkersDieWithTheKilledCallerAndTheNextBackendSweeps) {
  if (const char* role = std::getenv(role_variable); role != nullptr && std::string(role) == "caller")
    play_caller(std::getenv(dir_variable));

  const auto rounds = seconds_from_env("EXECKIT_STRESS_CALLER_DEATHS", 3s).count();
  const auto bound = std::chrono::milliseconds(
      static_cast<long long>(1000 * conformance::TimeBounds::scale_from_env()));
  TempDir dir("execkit-stress-death");
  const auto spill = dir.path() / "spill";
  long long slowest_ms = 0;
  std::size_t swept_total = 0;
  for (long long round = 0; round < rounds; ++round) {
    for (const auto& name : {"report", "written.0", "written.1", "written.2"}) fs::remove(dir.path() / name);
    const pid_t helper = start_helper(dir.path());
    const bool reported = conformance::wait_until([&] { return fs::exists(dir.path() / "report"); }, 60'000ms);
    if (!reported) {
      ::kill(helper, SIGKILL);
      ::waitpid(helper, nullptr, 0);
      FAIL() << "round " << round << ": the helper caller never reported its workers";
    }
    const auto workers = read_report(dir.path() / "report");
    ASSERT_GE(workers.size(), helper_workers) << "round " << round;
    const auto stale = conformance::list_dir(spill);
    ASSERT_GT(stale.size(), 1u) << "round " << round << ": expected the helper's lock and spill files in the spill dir";

    const auto killed_at = std::chrono::steady_clock::now();
    ASSERT_EQ(::kill(helper, SIGKILL), 0);
    ::waitpid(helper, nullptr, 0);
    const bool gone = conformance::wait_until(
        [&] { return std::all_of(workers.begin(), workers.end(), [](const auto& w) { return conformance::has_exited(w); }); },
        bound);
    const auto took = conformance::elapsed_ms(killed_at);
    slowest_ms = std::max(slowest_ms, took);
    for (const auto& worker : workers) conformance::kill_process(worker);  // never leave one behind
    ASSERT_TRUE(gone) << "round " << round << ": a worker outlived its SIGKILLed caller by more than " << bound.count() << " ms";

    ASSERT_EQ(conformance::list_dir(spill), stale) << "nothing may remove a dead caller's files but the next backend";
    {
      ProcessPoolBackend next(stress_config(spill, 1));
      const auto after_open = conformance::list_dir(spill);
      EXPECT_EQ(after_open.size(), 1u) << "round " << round << ": the next backend did not sweep the stale files";
      swept_total += stale.size();
      EXPECT_EQ(next.execute(probe_call("echo", "after"), Deadline::after(60s)).text(), "after");
    }
    EXPECT_TRUE(conformance::list_dir(spill).empty());
  }
  std::cout << "[stress] caller death: " << rounds << " callers SIGKILLed with " << helper_workers
            << " busy workers each; slowest worker exit " << slowest_ms << " ms (bound " << bound.count() << " ms); "
            << swept_total << " stale files swept by the next backend\n";
}

}  // namespace
}  // namespace execkit::stress

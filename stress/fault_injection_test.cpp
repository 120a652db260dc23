// Randomized fault injection against the reference backend for a bounded
// time (EXECKIT_STRESS_SECONDS, default 60): mixed calls that succeed, fail,
// crash, exit, time out, are cancelled while queued or running, return large
// results — while another thread SIGKILLs random workers from outside. At the
// end every submission has completed exactly once with an outcome its kind
// allows, and nothing is left: no fd, spill file, zombie or worker process.
// Prints one summary line with the counts. EXECKIT_STRESS_SEED replays a run.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "execkit/process_pool.hpp"
#include "stress_support.hpp"
#include "test_support.hpp"

namespace execkit::stress {
namespace {

using namespace std::chrono_literals;
using conformance::first_stream_mismatch;

enum class Kind { echo, large, fail, crash, exit, timeout, cancel_running, cancel_queued };
constexpr Kind all_kinds[] = {Kind::echo,    Kind::large,          Kind::fail,         Kind::crash,
                              Kind::exit,    Kind::timeout,        Kind::cancel_running, Kind::cancel_queued};
const char* name_of(Kind kind) {
  switch (kind) {
    case Kind::echo: return "echo";
    case Kind::large: return "large";
    case Kind::fail: return "fail";
    case Kind::crash: return "crash";
    case Kind::exit: return "exit";
    case Kind::timeout: return "timeout";
    case Kind::cancel_running: return "cancel_running";
    case Kind::cancel_queued: return "cancel_queued";
  }
  return "?";
}

std::string kind_of(const Outcome& outcome) { return outcome.ok() ? "ok" : to_string(outcome.error()->kind()); }

// What a call of `kind` may end with. An external SIGKILL may hit any call
// that reached a worker, so WorkerCrashed is always allowed.
bool allowed(Kind kind, const std::string& outcome) {
  if (outcome == "worker_crashed") return true;
  switch (kind) {
    case Kind::echo:
    case Kind::large: return outcome == "ok";
    case Kind::fail: return outcome == "task";
    case Kind::crash:
    case Kind::exit: return false;
    case Kind::timeout: return outcome == "timeout";
    case Kind::cancel_running: return outcome == "cancelled" || outcome == "ok";  // the cancel may come after the end
    case Kind::cancel_queued: return outcome == "cancelled" || outcome == "ok";
  }
  return false;
}

struct Record {
  Kind kind;
  std::uint64_t seed = 0;
  std::uint64_t size = 0;
  std::atomic<int> completions{0};
  std::string outcome;
  std::string problem;  // set by the handler when the outcome is wrong
};

class Counts {
 public:
  void add(const std::string& key) {
    std::lock_guard lock(mutex_);
    ++counts_[key];
  }
  std::string line() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [key, count] : counts_) out += " " + key + "=" + std::to_string(count);
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, long> counts_;
};

// The call a record of `kind` makes; picks its size and sets its deadline.
Call call_for(Record& record, std::mt19937_64& random, Deadline& deadline) {
  switch (record.kind) {
    case Kind::echo: return probe_call("echo", std::to_string(record.seed));
    case Kind::large:
      record.size = std::uniform_int_distribution<std::uint64_t>(32 * 1024 + 1, 4 << 20)(random);
      return probe_call("write_bytes", std::to_string(record.size) + "," + std::to_string(record.seed % 1000));
    case Kind::fail: return probe_call("fail", "stress");
    case Kind::crash: return probe_call("crash_signal", std::to_string(record.seed % 2 ? SIGABRT : SIGKILL));
    case Kind::exit: return probe_call("exit_code", std::to_string(record.seed % 256));
    case Kind::timeout:
      deadline = Deadline::after(std::chrono::milliseconds(5 + record.seed % 100));
      return probe_call("sleep_ms", "60000");
    case Kind::cancel_running: return probe_call("sleep_ms", std::to_string(record.seed % 50));
    case Kind::cancel_queued: return probe_call("echo", "queued");
  }
  return {};
}

// Records how a call ended, and what was wrong with that.
void note_outcome(Record& record, const Outcome& outcome) {
  record.outcome = kind_of(outcome);
  if (++record.completions != 1) record.problem = "completed more than once";
  if (!allowed(record.kind, record.outcome)) record.problem = "ended with " + conformance::describe(outcome);
  if (record.kind == Kind::large && outcome.ok()) {
    const auto bytes = outcome.value().bytes();
    if (bytes.size() != record.size || first_stream_mismatch(bytes, record.seed % 1000))
      record.problem = "a large result came back corrupted";
  }
}

TEST(FaultInjection, MixedCallsAndExternalKillsCompleteExactlyOnceAndLeaveNothing) {
  const auto duration = seconds_from_env("EXECKIT_STRESS_SECONDS", 60s);
  const char* seed_text = std::getenv("EXECKIT_STRESS_SEED");
  const std::uint64_t seed = seed_text ? std::stoull(seed_text) : std::random_device{}();
  RecordProperty("seed", std::to_string(seed));
  std::cout << "[stress] fault injection for " << duration.count() << " s, EXECKIT_STRESS_SEED=" << seed << "\n";

  TempDir dir("execkit-stress-faults");
  const auto spill = dir.path() / "spill";
  const auto fds_before = conformance::list_own_fds();
  std::set<conformance::ProcessIdentity> processes_before;
  for (const auto& process : own_descendants()) processes_before.insert({process.pid, process.start_time});
  constexpr std::size_t max_workers = 4;
  constexpr std::size_t max_in_flight = 12;

  std::mutex records_mutex;
  std::vector<std::shared_ptr<Record>> records;
  std::atomic<long> external_kills{0};
  std::atomic<int> submits{0}, completes{0};
  Counts by_kind, by_outcome;
  {
    auto backend = std::make_unique<ProcessPoolBackend>(stress_config(spill, max_workers));
    auto on_submit = backend->on_submit([&](const Call&) { ++submits; });
    auto on_complete = backend->on_complete([&](const Call&, const ExecutionMetrics*, const Error*) { ++completes; });

    std::atomic<bool> stop{false};
    std::atomic<int> in_flight{0};
    std::thread killer([&, random = std::mt19937_64(seed ^ 0x5eed)]() mutable {
      while (!stop) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 200)(random)));
        auto workers = own_descendants();
        std::erase_if(workers, [](const conformance::ProcStat& p) { return p.comm != "execkit-worker" || p.state == 'Z'; });
        if (workers.empty()) continue;
        const auto& victim = workers[std::uniform_int_distribution<std::size_t>(0, workers.size() - 1)(random)];
        conformance::kill_process({victim.pid, victim.start_time});
        ++external_kills;
      }
    });

    const auto until = std::chrono::steady_clock::now() + duration;
    // Threads blocked in execute(), which run their calls on a borrowed
    // worker whenever one is idle: the killer hits those too.
    std::vector<std::thread> blocking_callers;
    for (std::uint64_t caller = 1; caller <= 2; ++caller) {
      blocking_callers.emplace_back([&, random = std::mt19937_64(seed ^ caller)]() mutable {
        constexpr Kind blocking_kinds[] = {Kind::echo, Kind::echo, Kind::large, Kind::fail, Kind::crash, Kind::exit, Kind::timeout};
        while (std::chrono::steady_clock::now() < until) {
          auto record = std::make_shared<Record>();
          record->kind = blocking_kinds[std::uniform_int_distribution<std::size_t>(0, std::size(blocking_kinds) - 1)(random)];
          record->seed = random();
          auto deadline = Deadline::after(60s);
          const Call call = call_for(*record, random, deadline);
          by_kind.add(std::string("blocking ") + name_of(record->kind));
          {
            std::lock_guard lock(records_mutex);
            records.push_back(record);
          }
          note_outcome(*record, outcome_of([&] { return backend->execute(call, deadline); }));
          by_outcome.add(record->outcome);
        }
      });
    }

    std::mt19937_64 random(seed);
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < until) {
      // Every third second the blocking callers have the pool to themselves,
      // so their calls run on borrowed workers rather than through the queue.
      const bool quiet = (std::chrono::steady_clock::now() - start) / 1s % 3 == 2;
      if (quiet || in_flight >= static_cast<int>(max_in_flight)) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      auto record = std::make_shared<Record>();
      record->kind = all_kinds[std::uniform_int_distribution<std::size_t>(0, std::size(all_kinds) - 1)(random)];
      record->seed = random();
      auto deadline = Deadline::after(60s);
      Call call = call_for(*record, random, deadline);
      by_kind.add(name_of(record->kind));
      ++in_flight;
      const auto submission = backend->submit(std::move(call), deadline, [&, record](Outcome outcome) {
        note_outcome(*record, outcome);
        by_outcome.add(record->outcome);
        --in_flight;
      });
      {
        std::lock_guard lock(records_mutex);
        records.push_back(record);
      }
      if (record->kind == Kind::cancel_queued) submission.cancel();
      if (record->kind == Kind::cancel_running) {
        std::this_thread::sleep_for(std::chrono::milliseconds(record->seed % 20));
        submission.cancel();
      }
    }
    for (auto& caller : blocking_callers) caller.join();
    stop = true;
    killer.join();
    ASSERT_TRUE(conformance::wait_until([&] { return in_flight == 0; }, std::chrono::milliseconds(120'000)))
        << in_flight << " calls never completed";
    backend->shutdown(true);
    on_submit.unsubscribe();
    on_complete.unsubscribe();
  }

  std::size_t problems = 0;
  for (const auto& record : records) {
    EXPECT_EQ(record->completions, 1) << name_of(record->kind) << " call";
    if (!record->problem.empty()) {
      ++problems;
      ADD_FAILURE() << name_of(record->kind) << " call: " << record->problem;
    }
  }
  EXPECT_EQ(submits.load(), static_cast<int>(records.size()));
  EXPECT_EQ(completes.load(), static_cast<int>(records.size())) << "on_complete must fire once per on_submit";

  const auto fds_after = conformance::list_own_fds();
  const auto leaked_fds = fds_after.size() > fds_before.size() ? fds_after.size() - fds_before.size() : 0;
  const auto spill_files = conformance::list_dir(spill).size();
  auto leftovers = own_descendants();
  std::erase_if(leftovers, [&](const auto& p) { return processes_before.count({p.pid, p.start_time}) != 0; });
  const auto zombies = std::count_if(leftovers.begin(), leftovers.end(), [](const auto& p) { return p.state == 'Z'; });
  const auto workers = leftovers.size() - static_cast<std::size_t>(zombies);
  std::cout << "[stress] fault injection: " << records.size() << " calls in " << duration.count() << " s (" << by_kind.line()
            << " ); outcomes:" << by_outcome.line() << "; external kills=" << external_kills << "; exactly-once violations="
            << problems << ", leaked fds=" << leaked_fds << ", spill files=" << spill_files << ", zombies=" << zombies
            << ", worker processes=" << workers << "\n";
  RecordProperty("calls", std::to_string(records.size()));
  RecordProperty("external_kills", std::to_string(external_kills.load()));
  EXPECT_EQ(leaked_fds, 0u);
  EXPECT_EQ(spill_files, 0u);
  EXPECT_EQ(zombies, 0);
  EXPECT_EQ(workers, 0u);
}

}  // namespace
}  // namespace execkit::stress

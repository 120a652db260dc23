// METRIC: what each result reports (CONTRACT.md, METRIC-1, METRIC-2).
#include <unistd.h>

#include <map>
#include <mutex>
#include <regex>

#include "execkit/conformance/suite.hpp"
#include "pending_call.hpp"
#include "test_support.hpp"

namespace execkit::conformance {
namespace {

std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void expect_consistent(const ExecutionMetrics& m, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_GT(m.peak_rss_kib, 0) << "peak RSS missing";
  EXPECT_GE(m.user_time_us, 0);
  EXPECT_GE(m.system_time_us, 0);
  EXPECT_GT(m.started_at_ns, 0) << "started_at missing";
  EXPECT_LE(m.started_at_ns, m.finished_at_ns) << "finished before it started";
  EXPECT_EQ(m.wall_time_ns, m.finished_at_ns - m.started_at_ns) << "wall != finished - started";
  EXPECT_GT(m.worker_pid, 0) << "worker pid missing";
  EXPECT_TRUE(std::regex_match(m.worker_id, std::regex("[0-9a-f]{12}"))) << "worker id '" << m.worker_id << "'";
  EXPECT_FALSE(m.node_id.empty()) << "node id missing";
}

}  // namespace

TEST_P(Metric, METRIC_1_ResultCarriesConsistentMetrics) {
  auto cfg = config();
  cfg.node_id = "metric-node";
  auto backend = make_backend(cfg);
  run_text(*backend, probe_call("echo"));
  const auto before = monotonic_ns();
  const auto outcome = run(*backend, probe_call("identity"));
  const auto after = monotonic_ns();
  ASSERT_TRUE(succeeded(outcome));
  const auto& m = outcome.value().metrics();
  expect_consistent(m, "a successful call");
  const auto task = parse_identity(text_of(outcome));
  EXPECT_EQ(m.worker_id, task.worker_id) << "metrics name another worker than EXECKIT_WORKER_ID";
  if (capabilities().task_context_from_caller) {
    EXPECT_EQ(m.node_id, "metric-node");
  } else {
    EXPECT_EQ(m.node_id, task.node_id) << "metrics name another node than EXECKIT_NODE_ID";
  }
  if (capabilities().has_local_process_workers) {
    EXPECT_GE(m.started_at_ns, before) << "started_at is not on the caller's CLOCK_MONOTONIC or precedes the call";
    EXPECT_LE(m.finished_at_ns, after) << "finished_at is not on the caller's CLOCK_MONOTONIC or follows the return";
  }
}

TEST_P(Metric, METRIC_1_PeakRssIsAWorkerLifetimeWatermark) {
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  std::vector<ExecutionMetrics> seen;
  for (const auto& [function, input] : std::vector<std::pair<std::string, std::string>>{
           {"echo", ""}, {"touch_mib", "64"}, {"echo", ""}, {"touch_mib", "8"}, {"echo", ""}}) {
    const auto outcome = run(*backend, probe_call(function, input));
    ASSERT_TRUE(succeeded(outcome)) << function;
    seen.push_back(outcome.value().metrics());
  }
  // Calls may land on different workers (no reuse declared, several nodes):
  // the watermark is compared only between calls on one worker.
  const auto same_worker = [&](std::size_t i, std::size_t j) {
    return seen[i].worker_id == seen[j].worker_id && seen[i].worker_pid == seen[j].worker_pid;
  };
  for (std::size_t i = 0; i < seen.size(); ++i) {
    for (std::size_t j = i + 1; j < seen.size(); ++j) {
      if (!same_worker(i, j)) continue;
      EXPECT_GE(seen[j].peak_rss_kib, seen[i].peak_rss_kib) << "peak RSS decreased on one worker from call " << i << " to " << j;
      if (i == 1) {
        EXPECT_GE(seen[j].peak_rss_kib, 64 * 1024) << "the watermark forgot an earlier call's 64 MiB";
      }
    }
  }
}

TEST_P(Metric, METRIC_1_TaskErrorCarriesMetrics) {
  auto backend = make_backend();
  const auto before = monotonic_ns();
  const auto outcome = run(*backend, probe_call("fail", "with metrics"));
  ASSERT_TRUE(ended_with<TaskError>(outcome));
  const auto& m = outcome.error_as<TaskError>()->metrics();
  expect_consistent(m, "a task error");
  if (capabilities().has_local_process_workers) {
    EXPECT_GE(m.started_at_ns, before) << "started_at is not on the caller's CLOCK_MONOTONIC";
  }
}

TEST_P(Metric, METRIC_1_TimeoutCancelAndPreSubmitFailuresCarryNoMetrics) {
  auto backend = make_backend();
  auto* hooks = hooks_of(*backend);
  if (hooks == nullptr) {
    GTEST_SKIP() << "without lifecycle hooks only TaskError can carry metrics, which the error types already ensure";
  }
  std::mutex mutex;
  std::map<std::string, bool> had_metrics;
  auto subscription = hooks->on_complete([&](const Call& call, const ExecutionMetrics* metrics, const Error*) {
    std::lock_guard lock(mutex);
    had_metrics[std::string(reinterpret_cast<const char*>(call.input.data()), call.input.size())] = metrics != nullptr;
  });
  EXPECT_TRUE(ended_with<TimeoutError>(run(*backend, probe_call("sleep_ms", "600000"), Deadline::after(bounds().deadline_grace))));
  PendingCall cancelled(*backend, probe_call("sleep_ms", "600001"), call_deadline());
  cancelled.cancel();
  ASSERT_TRUE(cancelled.wait(bounds().condition_wait).has_value());
  EXPECT_TRUE(ended_with<TimeoutError>(
      run(*backend, probe_call("sleep_ms", "600002"), Deadline{std::chrono::steady_clock::now() - std::chrono::seconds(1)})));
  EXPECT_TRUE(ended_with<WorkerCrashed>(run(*backend, probe_call("crash_signal", "6"))));
  wait_until([&] {
    std::lock_guard lock(mutex);
    return had_metrics.size() == 4;
  }, bounds().condition_wait);
  subscription.unsubscribe();
  std::lock_guard lock(mutex);
  for (const auto& [input, what] : std::vector<std::pair<std::string, std::string>>{
           {"600000", "a timeout"}, {"600001", "a cancel"}, {"600002", "a pre-submit timeout"}, {"6", "a crash"}}) {
    ASSERT_EQ(had_metrics.count(input), 1u) << "no on_complete for " << what;
    EXPECT_FALSE(had_metrics[input]) << what << " reported metrics";
  }
}

TEST_P(Metric, METRIC_2_ValuesAreReal) {
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  const auto identity = run(*backend, probe_call("identity"));
  ASSERT_TRUE(succeeded(identity));
  EXPECT_EQ(identity.value().metrics().worker_pid, parse_identity(text_of(identity)).pid)
      << "metrics.worker_pid is not the task's getpid()";

  const auto burn = run(*backend, probe_call("burn_cpu_ms", "200"));
  ASSERT_TRUE(succeeded(burn));
  EXPECT_GE(burn.value().metrics().user_time_us, 100'000) << "a task burning 200 ms of CPU reported "
                                                          << burn.value().metrics().user_time_us << " us of user time";
  EXPECT_GE(burn.value().metrics().wall_time_ns, 200'000'000) << "wall time below the CPU time burnt";

  const auto idle = run(*backend, probe_call("echo"));
  ASSERT_TRUE(succeeded(idle));
  EXPECT_LT(idle.value().metrics().user_time_us, 100'000)
      << "a trivial call after a CPU-heavy one reported " << idle.value().metrics().user_time_us
      << " us of user time: rusage must be a delta over the call";

  const auto touch = run(*backend, probe_call("touch_mib", "100"));
  ASSERT_TRUE(succeeded(touch));
  EXPECT_GE(touch.value().metrics().peak_rss_kib, 100 * 1024) << "a task touching 100 MiB reported a peak RSS of "
                                                               << touch.value().metrics().peak_rss_kib << " KiB";
}

}  // namespace execkit::conformance

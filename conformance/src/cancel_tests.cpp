// CANCEL (CONTRACT.md, CANCEL-1..CANCEL-3).
#include "execkit/conformance/suite.hpp"
#include "pending_call.hpp"
#include "proc.hpp"
#include "test_support.hpp"

namespace execkit::conformance {

TEST_P(Cancel, CANCEL_1_CancelledQueuedCallNeverStarts) {
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  Gates gates(temp_dir() / "gates");
  PendingCall occupying(*backend, probe_call("gate", gates.input("occupying")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return gates.started("occupying"); }, bounds().condition_wait));
  const auto counter = temp_dir() / "attempts";
  PendingCall queued(*backend, probe_call("bump_counter", counter.string() + "|ok"), call_deadline());
  EXPECT_TRUE(queued.cancel()) << "cancelling a queued call must report that it is being cancelled";
  const auto outcome = queued.wait(bounds().deadline_grace + bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value()) << "the cancelled queued call never completed";
  EXPECT_TRUE(ended_with<CancelledError>(*outcome));
  EXPECT_FALSE(occupying.done()) << "cancelling a queued call ended the running one";
  gates.release("occupying");
  const auto running = occupying.wait(bounds().call_timeout);
  ASSERT_TRUE(running.has_value());
  EXPECT_TRUE(succeeded(*running));
  backend->shutdown(true);
  EXPECT_EQ(file_size_or_zero(counter), 0u) << "a cancelled queued call was started";
  EXPECT_EQ(queued.completions(), 1);
}

TEST_P(Cancel, CANCEL_2_CancelledRunningCallEndsWithCancelledErrorAndIsStopped) {
  auto backend = make_backend();
  Gates gates(temp_dir() / "gates");
  PendingCall call(*backend, probe_call("gate", gates.input("running")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return gates.started("running"); }, bounds().condition_wait));
  const auto worker = identify(gates.pid_of("running"));
  const auto cancelled_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(call.cancel()) << "cancelling a running call must report that it is being cancelled";
  const auto outcome = call.wait(bounds().deadline_grace + bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value()) << "the cancelled running call never completed";
  EXPECT_TRUE(ended_with<CancelledError>(*outcome));
  EXPECT_LE(elapsed_ms(cancelled_at), bounds().deadline_grace.count()) << "the CancelledError took too long";
  if (capabilities().has_local_process_workers) {
    ASSERT_TRUE(worker.has_value());
    EXPECT_TRUE(wait_until([&] { return has_exited(*worker); }, bounds().deadline_grace))
        << "the cancelled task's worker (pid " << worker->pid << ") is still running";
  }
  EXPECT_FALSE(gates.finished("running"));
  EXPECT_EQ(run_text(*backend, probe_call("echo", "after")), "after") << "the backend stopped serving after a cancel";
  EXPECT_EQ(call.completions(), 1);
}

TEST_P(Cancel, CANCEL_2_CancelledRunningCallLeavesNoSpillFile) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  const auto baseline = list_dir(spill_dir());
  const auto marker = temp_dir() / "written";
  PendingCall call(*backend, probe_call("write_then", "4194304,hang," + marker.string()), call_deadline());
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(marker); }, bounds().condition_wait));
  EXPECT_TRUE(call.cancel());
  const auto outcome = call.wait(bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(ended_with<CancelledError>(*outcome));
  EXPECT_TRUE(wait_until([&] { return list_dir(spill_dir()) == baseline; }, bounds().deadline_grace))
      << "the cancelled call left a spill file";
}

TEST_P(Cancel, CANCEL_3_CancellingAFinishedCallIsANoOp) {
  auto backend = make_backend();
  PendingCall finished(*backend, probe_call("write_bytes", "1048576,41"), call_deadline());
  const auto outcome = finished.wait(bounds().call_timeout);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_TRUE(succeeded(*outcome));
  EXPECT_FALSE(finished.cancel()) << "cancelling a finished call must report a no-op";
  PendingCall failed(*backend, probe_call("fail", "failed before the cancel"), call_deadline());
  ASSERT_TRUE(failed.wait(bounds().call_timeout).has_value());
  EXPECT_FALSE(failed.cancel()) << "cancelling a failed call must report a no-op";
  EXPECT_EQ(run_text(*backend, probe_call("echo", "after")), "after");
  backend->shutdown(true);
  EXPECT_EQ(finished.completions(), 1) << "the completion handler ran again after a cancel";
  EXPECT_EQ(failed.completions(), 1);
  EXPECT_TRUE(ended_with<TaskError>(*failed.wait(std::chrono::milliseconds(0))));
  EXPECT_FALSE(first_stream_mismatch(outcome->value().bytes(), 41).has_value()) << "cancelling changed the result";
}

}  // namespace execkit::conformance

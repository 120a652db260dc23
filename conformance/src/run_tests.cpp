// RUN: outcomes, errors, no silent retry (CONTRACT.md, RUN-1..RUN-7).
#include <signal.h>
#include <unistd.h>

#include "execkit/conformance/suite.hpp"
#include "pending_call.hpp"
#include "proc.hpp"
#include "test_support.hpp"

namespace execkit::conformance {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A deadline short enough to keep the suite fast and long enough for a
// warmed-up worker to start the task first.
milliseconds short_deadline(const TimeBounds& bounds) { return bounds.deadline_grace * 2; }

// Shuts the backend down (a retry would have to happen before shutdown
// returns) and returns how often bump_counter ran.
std::uint64_t attempts_after(ExecutorBackend& backend, const std::filesystem::path& counter) {
  backend.shutdown(true);
  return file_size_or_zero(counter);
}

void expect_timeout_within_grace(const Outcome& outcome, Deadline deadline, steady_clock::time_point returned,
                                 const TimeBounds& bounds) {
  ASSERT_TRUE(ended_with<TimeoutError>(outcome));
  const auto late = std::chrono::duration_cast<milliseconds>(returned - deadline.at);
  EXPECT_LE(late.count(), bounds.deadline_grace.count()) << "the TimeoutError came " << late.count()
                                                         << " ms after the deadline; the grace is "
                                                         << bounds.deadline_grace.count() << " ms";
  EXPECT_GE(returned, deadline.at) << "the TimeoutError came before the deadline";
}

// pid from the pid file the probe writes, once it exists.
std::optional<ProcessIdentity> wait_for_pid_file(const std::filesystem::path& file, milliseconds timeout) {
  if (!wait_until([&] { return std::filesystem::exists(file); }, timeout)) return std::nullopt;
  return identify(static_cast<pid_t>(std::stol(read_file(file))));
}

}  // namespace

TEST_P(Run, RUN_1_FailedTaskIsNotRetried) {
  auto backend = make_backend();
  const auto counter = temp_dir() / "attempts";
  EXPECT_TRUE(ended_with<TaskError>(run(*backend, probe_call("bump_counter", counter.string() + "|fail"))));
  EXPECT_EQ(attempts_after(*backend, counter), 1u) << "a failed task was attempted more than once";
}

TEST_P(Run, RUN_1_TimedOutTaskIsNotRetried) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));  // a warm worker starts the task well before the deadline
  const auto counter = temp_dir() / "attempts";
  EXPECT_TRUE(ended_with<TimeoutError>(
      run(*backend, probe_call("bump_counter", counter.string() + "|hang"), Deadline::after(short_deadline(bounds())))));
  EXPECT_EQ(attempts_after(*backend, counter), 1u) << "a timed-out task was attempted "
                                                           << file_size_or_zero(counter) << " times";
}

TEST_P(Run, RUN_1_CrashedTaskIsNotRetried) {
  auto backend = make_backend();
  const auto counter = temp_dir() / "attempts";
  EXPECT_TRUE(ended_with<WorkerCrashed>(run(*backend, probe_call("bump_counter", counter.string() + "|abort"))));
  EXPECT_EQ(attempts_after(*backend, counter), 1u) << "a crashed task was attempted "
                                                           << file_size_or_zero(counter) << " times";
}

TEST_P(Run, RUN_2_RunningCallTimesOutWithinGraceAndIsStopped) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  Gates gates(temp_dir() / "gates");
  const auto deadline = Deadline::after(short_deadline(bounds()));
  const auto outcome = run(*backend, probe_call("gate", gates.input("never-released")), deadline);
  const auto returned = steady_clock::now();
  expect_timeout_within_grace(outcome, deadline, returned, bounds());
  ASSERT_TRUE(gates.started("never-released")) << "the task never started";
  if (capabilities().has_local_process_workers) {
    const auto worker = identify(gates.pid_of("never-released"));
    EXPECT_TRUE(!worker || wait_until([&] { return has_exited(*worker); }, bounds().deadline_grace))
        << "the timed-out task's worker (pid " << gates.pid_of("never-released") << ") is still running";
  }
}

TEST_P(Run, RUN_2_DeadlinePassingWhileQueuedNeverStartsTheCall) {
  auto backend = make_backend(single_worker(config()));
  Gates gates(temp_dir() / "gates");
  PendingCall occupying(*backend, probe_call("gate", gates.input("occupying")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return gates.started("occupying"); }, bounds().condition_wait));
  const auto counter = temp_dir() / "attempts";
  const auto deadline = Deadline::after(short_deadline(bounds()));
  const auto queued = run(*backend, probe_call("bump_counter", counter.string() + "|ok"), deadline);
  expect_timeout_within_grace(queued, deadline, steady_clock::now(), bounds());
  EXPECT_FALSE(occupying.done()) << "the queued call's timeout ended the running call";
  gates.release("occupying");
  const auto running = occupying.wait(bounds().call_timeout);
  ASSERT_TRUE(running.has_value());
  EXPECT_TRUE(succeeded(*running)) << "the queued call's timeout touched the running call";
  EXPECT_EQ(attempts_after(*backend, counter), 0u) << "a call whose deadline passed in the queue was started";
}

TEST_P(Run, RUN_2_CallWithExpiredDeadlineNeverStarts) {
  auto backend = make_backend();
  const auto counter = temp_dir() / "attempts";
  const Deadline expired{steady_clock::now() - milliseconds(1)};
  const auto outcome = run(*backend, probe_call("bump_counter", counter.string() + "|ok"), expired);
  expect_timeout_within_grace(outcome, expired, steady_clock::now(), bounds());
  EXPECT_EQ(attempts_after(*backend, counter), 0u) << "a call submitted past its deadline was started";
}

TEST_P(Run, RUN_2_TimeoutDoesNotDisturbOtherInFlightCalls) {
  auto backend = make_backend();  // two workers
  Gates gates(temp_dir() / "gates");
  PendingCall bystander(*backend, probe_call("gate", gates.input("bystander")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return gates.started("bystander"); }, bounds().condition_wait));
  const auto deadline = Deadline::after(short_deadline(bounds()));
  const auto timed_out = run(*backend, probe_call("sleep_ms", "600000"), deadline);
  expect_timeout_within_grace(timed_out, deadline, steady_clock::now(), bounds());
  EXPECT_FALSE(bystander.done()) << "another call's timeout ended an in-flight call: " << describe(*bystander.wait(milliseconds(0)));
  gates.release("bystander");
  const auto outcome = bystander.wait(bounds().call_timeout);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(succeeded(*outcome)) << "another call's timeout disturbed an in-flight call";
}

TEST_P(Run, RUN_3_TaskErrorCarriesMessageTypeAndStderrTail) {
  auto backend = make_backend();
  const auto outcome = run(*backend, probe_call("fail", "the task's own message"));
  ASSERT_TRUE(ended_with<TaskError>(outcome));
  const auto* error = outcome.error_as<TaskError>();
  EXPECT_EQ(error->message(), "the task's own message");
  EXPECT_EQ(error->type(), runtime_error_type());
  EXPECT_NE(error->stderr_tail().find("probe stderr: the task's own message"), std::string::npos)
      << "stderr tail: '" << error->stderr_tail() << "'";
  const std::string text = error->what();
  EXPECT_NE(text.find("the task's own message"), std::string::npos) << "what() lacks the message: " << text;
  EXPECT_NE(text.find("probe stderr: the task's own message"), std::string::npos) << "what() lacks the stderr tail: " << text;
}

TEST_P(Run, RUN_3_StderrTailIsBoundedAndKeepsTheEnd) {
  auto cfg = config();
  cfg.stderr_tail_bytes = 4096;
  auto backend = make_backend(cfg);
  const auto outcome = run(*backend, probe_call("stderr_flood_then_fail", "1048576,THE-LAST-WORDS"));
  ASSERT_TRUE(ended_with<TaskError>(outcome));
  const auto& tail = outcome.error_as<TaskError>()->stderr_tail();
  EXPECT_LE(tail.size(), cfg.stderr_tail_bytes) << "the stderr tail exceeds WorkerConfig::stderr_tail_bytes";
  EXPECT_TRUE(tail.ends_with("THE-LAST-WORDS")) << "the stderr tail does not end with the last bytes written";
  EXPECT_GE(tail.size(), cfg.stderr_tail_bytes / 2) << "the stderr tail keeps far less than its bound";
}

TEST_P(Run, RUN_3_StderrTailHoldsOnlyThisCallsOutput) {
  auto backend = make_backend(single_worker(config()));
  run_text(*backend, probe_call("print_and_succeed", "AN-EARLIER-CALL-WROTE-THIS"));
  const auto outcome = run(*backend, probe_call("fail", "this call"));
  ASSERT_TRUE(ended_with<TaskError>(outcome));
  EXPECT_EQ(outcome.error_as<TaskError>()->stderr_tail().find("AN-EARLIER-CALL-WROTE-THIS"), std::string::npos)
      << "the error carries an earlier call's stderr";
}

TEST_P(Run, RUN_4_ErrorTypeComesFromWhatHappenedNotFromText) {
  auto backend = make_backend();
  for (const std::string text : {"MemoryError", "std::bad_alloc", "Out of memory: Killed process 1234",
                                 "Segmentation fault (core dumped)", "TimeoutError: the call timed out", "Killed"}) {
    const auto outcome = run(*backend, probe_call("print_and_fail", text));
    ASSERT_TRUE(ended_with<TaskError>(outcome)) << "a task printing '" << text << "' and failing";
    EXPECT_EQ(outcome.error_as<TaskError>()->type(), "ValueError") << "for text '" << text << "'";
    EXPECT_EQ(outcome.error_as<TaskError>()->message(), text);
    EXPECT_TRUE(succeeded(run(*backend, probe_call("print_and_succeed", text))))
        << "a task printing '" << text << "' and succeeding";
  }
}

TEST_P(Run, RUN_5_ResultOverTheCapIsResultErrorAndWorkerSurvives) {
  auto cfg = single_worker(config());
  cfg.max_result_bytes = std::uint64_t{1} << 20;
  auto backend = make_backend(cfg);
  const auto before = parse_identity(run_text(*backend, probe_call("identity")));
  for (const std::uint64_t size : {cfg.max_result_bytes + 1, cfg.max_result_bytes * 4}) {
    const auto outcome = run(*backend, probe_call("write_bytes", std::to_string(size) + ",5"));
    ASSERT_TRUE(ended_with<ResultError>(outcome)) << "a result of " << size << " bytes over a cap of " << cfg.max_result_bytes;
    EXPECT_EQ(outcome.error_as<ResultError>()->reason(), ResultError::Reason::too_large);
  }
  const auto exactly = run(*backend, probe_call("write_bytes", std::to_string(cfg.max_result_bytes) + ",5"));
  ASSERT_TRUE(succeeded(exactly)) << "a result exactly at the cap must be delivered";
  EXPECT_EQ(exactly.value().bytes().size(), cfg.max_result_bytes);
  const auto after = parse_identity(run_text(*backend, probe_call("identity")));
  if (capabilities().supports_worker_reuse) {
    EXPECT_EQ(after.pid, before.pid) << "the worker did not survive an over-cap result";
  }
}

TEST_P(Run, RUN_5_SmallCapAppliesToSmallResults) {
  auto cfg = config();
  cfg.max_result_bytes = 100;
  auto backend = make_backend(cfg);
  const auto outcome = run(*backend, probe_call("write_bytes", "101"));
  ASSERT_TRUE(ended_with<ResultError>(outcome));
  EXPECT_EQ(outcome.error_as<ResultError>()->reason(), ResultError::Reason::too_large);
  EXPECT_TRUE(succeeded(run(*backend, probe_call("write_bytes", "100"))));
}

TEST_P(Run, RUN_5_ResultWriteFailureIsResultErrorAndWorkerSurvives) {
  EXECKIT_REQUIRE_CAPABILITY(has_named_spill_files);
  auto backend = make_backend(single_worker(config()));
  const auto before = parse_identity(run_text(*backend, probe_call("identity")));
  const auto outcome = run(*backend, probe_call("write_limited", "4194304,65536"));
  ASSERT_TRUE(ended_with<ResultError>(outcome)) << "a spill file that cannot be written (EFBIG)";
  EXPECT_EQ(outcome.error_as<ResultError>()->reason(), ResultError::Reason::write_failed);
  const auto after = parse_identity(run_text(*backend, probe_call("identity")));
  if (capabilities().supports_worker_reuse) {
    EXPECT_EQ(after.pid, before.pid) << "the worker did not survive a failed result write";
  }
  const auto large = run(*backend, probe_call("write_bytes", "4194304,9"));
  ASSERT_TRUE(succeeded(large)) << "large results fail after a write failure";
  EXPECT_FALSE(first_stream_mismatch(large.value().bytes(), 9).has_value());
}

TEST_P(Run, RUN_6_OutputFloodsAreDrainedWithBoundedCallerMemory) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  AnonRssSampler rss;
  for (const std::string stream : {"stderr", "stdout"}) {
    const auto outcome = run(*backend, probe_call("flood", stream + ",256"));
    EXPECT_TRUE(succeeded(outcome)) << "a task writing 256 MiB to " << stream << " (a deadlock ends in a TimeoutError)";
  }
  EXPECT_LT(rss.peak_growth_kib(), 32 * 1024) << "the caller's anonymous memory grew by " << rss.peak_growth_kib() / 1024
                                              << " MiB while tasks wrote 256 MiB to stderr and stdout";
}

TEST_P(Run, RUN_7_DescendantHoldingPipesDoesNotHangAReturningCall) {
  auto backend = make_backend();
  const auto pid_file = temp_dir() / "grandchild.pid";
  const auto outcome = run(*backend, probe_call("spawn_grandchild", pid_file.string() + ",plain,return"),
                           Deadline::after(bounds().condition_wait));
  ASSERT_TRUE(succeeded(outcome)) << "a task whose child holds stdout/stderr did not return";
  if (capabilities().has_local_process_workers) {
    const auto grandchild = identify(static_cast<pid_t>(std::stol(text_of(outcome))));
    EXPECT_TRUE(!grandchild || wait_until([&] { return has_exited(*grandchild); }, bounds().deadline_grace))
        << "the task's child outlived its call";
  }
}

TEST_P(Run, RUN_7_DescendantHoldingPipesDoesNotHangATimeout) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  const auto pid_file = temp_dir() / "grandchild.pid";
  const auto deadline = Deadline::after(short_deadline(bounds()));
  PendingCall call(*backend, probe_call("spawn_grandchild", pid_file.string() + ",plain,hang"), deadline);
  const auto grandchild = wait_for_pid_file(pid_file, bounds().condition_wait);
  const auto outcome = call.wait(short_deadline(bounds()) + bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value()) << "the call hung";
  expect_timeout_within_grace(*outcome, deadline, steady_clock::now(), bounds());
  if (capabilities().has_local_process_workers) {
    ASSERT_TRUE(grandchild.has_value()) << "the task's child never published its pid";
    EXPECT_TRUE(wait_until([&] { return has_exited(*grandchild); }, bounds().deadline_grace))
        << "the task's child (pid " << grandchild->pid << ") outlived the timeout";
  }
}

TEST_P(Run, RUN_7_DaemonizedDescendantIsGoneAfterATimeout) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  const auto pid_file = temp_dir() / "daemon.pid";
  const auto deadline = Deadline::after(short_deadline(bounds()));
  PendingCall call(*backend, probe_call("spawn_grandchild", pid_file.string() + ",daemon,hang"), deadline);
  const auto daemon = wait_for_pid_file(pid_file, bounds().condition_wait);
  const auto outcome = call.wait(short_deadline(bounds()) + bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value()) << "the call hung";
  expect_timeout_within_grace(*outcome, deadline, steady_clock::now(), bounds());
  if (capabilities().has_local_process_workers) {
    ASSERT_TRUE(daemon.has_value()) << "the task's daemonized grandchild never published its pid";
    EXPECT_TRUE(wait_until([&] { return has_exited(*daemon); }, bounds().deadline_grace))
        << "the task's daemonized grandchild (setsid, double fork; pid " << daemon->pid << ") outlived the timeout";
  }
}

TEST_P(Run, RUN_7_DescendantIsGoneAfterCancel) {
  auto backend = make_backend();
  const auto pid_file = temp_dir() / "grandchild.pid";
  PendingCall call(*backend, probe_call("spawn_grandchild", pid_file.string() + ",plain,hang"), call_deadline());
  const auto grandchild = wait_for_pid_file(pid_file, bounds().condition_wait);
  ASSERT_TRUE(grandchild.has_value() || !capabilities().has_local_process_workers);
  EXPECT_TRUE(call.cancel());
  const auto outcome = call.wait(bounds().deadline_grace + bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value()) << "the cancelled call hung";
  EXPECT_TRUE(ended_with<CancelledError>(*outcome));
  if (capabilities().has_local_process_workers) {
    EXPECT_TRUE(wait_until([&] { return has_exited(*grandchild); }, bounds().deadline_grace))
        << "the task's child (pid " << grandchild->pid << ") outlived the cancellation";
  }
}

}  // namespace execkit::conformance

#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "error_report.hpp"
#include "execkit/errors.hpp"
#include "metrics_json.hpp"
#include "usage.hpp"

namespace execkit::cli {
namespace {

using namespace std::chrono_literals;

TEST(CliMetricsJson, AllFieldsInOneObject) {
  ExecutionMetrics metrics;
  metrics.peak_rss_kib = 1024;
  metrics.user_time_us = 11;
  metrics.system_time_us = 22;
  metrics.started_at_ns = 100;
  metrics.finished_at_ns = 350;
  metrics.wall_time_ns = 250;
  metrics.worker_pid = 4242;
  metrics.worker_id = "0123456789ab";
  metrics.node_id = "node-1";
  EXPECT_EQ(metrics_to_json(metrics),
            R"({"peak_rss_kib":1024,"user_time_us":11,"system_time_us":22,"started_at_ns":100,)"
            R"("finished_at_ns":350,"wall_time_ns":250,"worker_pid":4242,"worker_id":"0123456789ab",)"
            R"("node_id":"node-1"})");
}

TEST(CliMetricsJson, StringsAreEscaped) {
  ExecutionMetrics metrics;
  metrics.node_id = std::string("a\"b\\c\nd\x01\x7f");
  const std::string json = metrics_to_json(metrics);
  EXPECT_NE(json.find(R"("node_id":"a\"b\\c\u000ad\u0001\u007f")"), std::string::npos) << json;
  EXPECT_EQ(json.find('\n'), std::string::npos);
}

TEST(CliErrorReport, TaskErrorNamesTypeAndMessageThenIndentedTail) {
  const TaskError error("std::runtime_error", "boom", "line one\nline two\n");
  const FailureReport report = describe_failure(error, std::nullopt);
  EXPECT_EQ(report.code, ExitCode::task);
  EXPECT_EQ(report.text, "execkit: task failed: std::runtime_error: boom\n  line one\n  line two\n");
}

TEST(CliErrorReport, TaskErrorWithoutMessageOrTail) {
  const TaskError error("Oops", "", "");
  EXPECT_EQ(describe_failure(error, std::nullopt).text, "execkit: task failed: Oops\n");
}

TEST(CliErrorReport, TailWithoutFinalNewlineKeepsItsLastLine) {
  const TaskError error("E", "m", "partial");
  EXPECT_EQ(describe_failure(error, std::nullopt).text, "execkit: task failed: E: m\n  partial\n");
}

TEST(CliErrorReport, MultiLineMessageKeepsOneErrorLineAndIndentsTheRest) {
  const TaskError error("E", "first\nsecond\n", "tail\n\n");
  EXPECT_EQ(describe_failure(error, std::nullopt).text, "execkit: task failed: E: first\n  second\n  tail\n");
}

TEST(CliErrorReport, BlankTailLinesInsideStayWithoutTrailingSpaces) {
  const TaskError error("E", "m", "a\n\nb\n");
  EXPECT_EQ(describe_failure(error, std::nullopt).text, "execkit: task failed: E: m\n  a\n\n  b\n");
}

TEST(CliErrorReport, MultiLineWhatOfOtherKindsIsIndentedToo) {
  EXPECT_EQ(describe_failure(BackendClosed("closed\nby shutdown"), std::nullopt).text,
            "execkit: backend closed: closed\n  by shutdown\n");
}

TEST(CliErrorReport, TimeoutNamesTheDeadline) {
  const TimeoutError error("deadline passed");
  const FailureReport report = describe_failure(error, 1500ms);
  EXPECT_EQ(report.code, ExitCode::timeout);
  EXPECT_EQ(report.text, "execkit: timed out after 1.5 s\n");
  EXPECT_EQ(describe_failure(error, std::nullopt).text, "execkit: timed out: deadline passed\n");
}

TEST(CliErrorReport, CrashBySignalNamesTheSignal) {
  const WorkerCrashed error(SIGSEGV, std::nullopt, "dying\n");
  const FailureReport report = describe_failure(error, std::nullopt);
  EXPECT_EQ(report.code, ExitCode::worker_crashed);
  EXPECT_EQ(report.text, "execkit: worker killed by signal 11 (SIGSEGV)\n  dying\n");
}

TEST(CliErrorReport, CrashByExitNamesTheStatus) {
  const WorkerCrashed error(std::nullopt, 3, "");
  const FailureReport report = describe_failure(error, std::nullopt);
  EXPECT_EQ(report.code, ExitCode::worker_crashed);
  EXPECT_EQ(report.text, "execkit: worker exited with status 3\n");
}

TEST(CliErrorReport, UnknownSignalNumberHasNoName) {
  EXPECT_EQ(describe_failure(WorkerCrashed(1000, std::nullopt, ""), std::nullopt).text,
            "execkit: worker killed by signal 1000\n");
}

TEST(CliErrorReport, EveryOtherKindHasItsCode) {
  EXPECT_EQ(describe_failure(ResultError(ResultError::Reason::too_large, "too big"), std::nullopt).code,
            ExitCode::result);
  EXPECT_EQ(describe_failure(SpillError("symlink"), std::nullopt).code, ExitCode::result);
  EXPECT_EQ(describe_failure(CancelledError("cancelled"), std::nullopt).code, ExitCode::other);
  EXPECT_EQ(describe_failure(BackendClosed("closed"), std::nullopt).code, ExitCode::other);
  const ConfigError config("EXECKIT_MAX_WORKERS", "abc", "not a positive integer");
  const FailureReport report = describe_failure(config, std::nullopt);
  EXPECT_EQ(report.code, ExitCode::config);
  EXPECT_EQ(report.text, std::string("execkit: configuration error: ") + config.what() + "\n");
}

TEST(CliErrorReport, SignalNames) {
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(SIGABRT), "SIGABRT");
  EXPECT_EQ(signal_name(0), std::nullopt);
}

TEST(CliUsage, HelpTextsDocumentEveryOptionAndExitCode) {
  const std::string run = usage_text(HelpTopic::run);
  for (const char* needle : {"--input", "--env", "--unset", "--cwd", "--search-path", "-L DIR", "--deadline",
                             "--metrics", "--help", "  2 ", "  3 ", "  4 ", "  5 ", "  6 ", "  7 ", "128+N"}) {
    EXPECT_NE(run.find(needle), std::string::npos) << needle;
  }
  const std::string general = usage_text(HelpTopic::general);
  for (const char* needle : {"execkit run", "--version", "Exit codes"}) {
    EXPECT_NE(general.find(needle), std::string::npos) << needle;
  }
}

}  // namespace
}  // namespace execkit::cli

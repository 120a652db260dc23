#include "execkit/errors.hpp"

#include <stdexcept>

#include <csignal>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "execkit/outcome.hpp"

namespace execkit {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ErrorKind, EveryKindHasItsOwnName) {
  const std::pair<ErrorKind, std::string> expected[] = {
      {ErrorKind::task, "task"},
      {ErrorKind::timeout, "timeout"},
      {ErrorKind::cancelled, "cancelled"},
      {ErrorKind::worker_crashed, "worker_crashed"},
      {ErrorKind::result, "result"},
      {ErrorKind::spill, "spill"},
      {ErrorKind::backend_closed, "backend_closed"},
      {ErrorKind::config, "config"},
  };
  std::set<std::string> names;
  for (const auto& [kind, name] : expected) {
    EXPECT_EQ(to_string(kind), name);
    names.insert(to_string(kind));
  }
  EXPECT_EQ(names.size(), std::size(expected));
}

TEST(TaskError, RUN_3_KeepsTypeMessageStderrAndMetrics) {
  ExecutionMetrics metrics;
  metrics.worker_pid = 4242;
  metrics.worker_id = "0123456789ab";
  const TaskError error("std::runtime_error", "disk on fire", "line 1\nline 2\n", metrics);
  EXPECT_EQ(error.kind(), ErrorKind::task);
  EXPECT_EQ(error.type(), "std::runtime_error");
  EXPECT_EQ(error.message(), "disk on fire");
  EXPECT_EQ(error.stderr_tail(), "line 1\nline 2\n");
  EXPECT_EQ(error.metrics().worker_pid, 4242);
  EXPECT_EQ(error.metrics().worker_id, "0123456789ab");
}

TEST(TaskError, RUN_3_TextIncludesTypeMessageAndStderrTail) {
  const TaskError error("std::runtime_error", "disk on fire", "Traceback: frame 7\nlast words\n");
  const std::string text = error.what();
  EXPECT_THAT(text, HasSubstr("std::runtime_error"));
  EXPECT_THAT(text, HasSubstr("disk on fire"));
  EXPECT_THAT(text, HasSubstr("Traceback: frame 7\nlast words\n"));
}

TEST(TaskError, TextWithoutStderrHasNoStderrSection) {
  const TaskError error("ValueError", "bad input", "");
  EXPECT_THAT(std::string(error.what()), HasSubstr("ValueError: bad input"));
  EXPECT_THAT(std::string(error.what()), Not(HasSubstr("stderr")));
}

TEST(TaskError, RUN_4_StderrMentioningOtherErrorsDoesNotChangeTheKind) {
  const TaskError error("custom", "failed", "std::bad_alloc\nMemoryError\nSegmentation fault\n");
  EXPECT_EQ(error.kind(), ErrorKind::task);
  EXPECT_EQ(error.type(), "custom");
}

TEST(TaskError, RaiseThrowsTheMostDerivedType) {
  const TaskError error("T", "m", "s");
  const Error& as_base = error;
  try {
    as_base.raise();
    FAIL() << "raise() returned";
  } catch (const TaskError& caught) {
    EXPECT_EQ(caught.type(), "T");
    EXPECT_EQ(caught.stderr_tail(), "s");
  }
}

TEST(WorkerCrashed, ISO_6_TextNamesTheSignal) {
  const WorkerCrashed segv(SIGSEGV, std::nullopt, "");
  EXPECT_EQ(segv.kind(), ErrorKind::worker_crashed);
  EXPECT_EQ(segv.term_signal(), SIGSEGV);
  EXPECT_FALSE(segv.exit_status().has_value());
  EXPECT_THAT(std::string(segv.what()), HasSubstr("signal " + std::to_string(SIGSEGV) + " (SIGSEGV"));

  EXPECT_THAT(std::string(WorkerCrashed(SIGKILL, std::nullopt, "").what()), HasSubstr("SIGKILL"));
  EXPECT_THAT(std::string(WorkerCrashed(SIGABRT, std::nullopt, "").what()), HasSubstr("SIGABRT"));
}

TEST(WorkerCrashed, NamesRealtimeAndUnknownSignalsByNumber) {
  EXPECT_THAT(std::string(WorkerCrashed(SIGRTMIN + 2, std::nullopt, "").what()), HasSubstr("SIGRTMIN+2"));
  EXPECT_THAT(std::string(WorkerCrashed(200, std::nullopt, "").what()), HasSubstr("signal 200"));
}

TEST(WorkerCrashed, ISO_6_TextNamesTheExitStatus) {
  const WorkerCrashed exited(std::nullopt, 3, "");
  EXPECT_EQ(exited.exit_status(), 3);
  EXPECT_FALSE(exited.term_signal().has_value());
  EXPECT_THAT(std::string(exited.what()), HasSubstr("exited with status 3"));
}

TEST(WorkerCrashed, TextIncludesTheStderrTail) {
  const WorkerCrashed crashed(SIGABRT, std::nullopt, "assertion `x > 0' failed");
  EXPECT_EQ(crashed.stderr_tail(), "assertion `x > 0' failed");
  EXPECT_THAT(std::string(crashed.what()), HasSubstr("assertion `x > 0' failed"));
}

TEST(WorkerCrashed, RaiseThrowsTheMostDerivedType) {
  const WorkerCrashed crashed(std::nullopt, 9, "");
  const Error& as_base = crashed;
  EXPECT_THROW(as_base.raise(), WorkerCrashed);
}

TEST(ConfigError, KeepsSettingAndValueAndExplains) {
  const ConfigError error("EXECKIT_MAX_WORKERS", "12abc", "not a positive integer");
  EXPECT_EQ(error.kind(), ErrorKind::config);
  EXPECT_EQ(error.setting(), "EXECKIT_MAX_WORKERS");
  EXPECT_EQ(error.value(), "12abc");
  const std::string text = error.what();
  EXPECT_THAT(text, HasSubstr("EXECKIT_MAX_WORKERS"));
  EXPECT_THAT(text, HasSubstr("\"12abc\""));
  EXPECT_THAT(text, HasSubstr("not a positive integer"));
}

TEST(ConfigError, BlankAndControlCharactersStayVisible) {
  EXPECT_THAT(std::string(ConfigError("X", " ", "blank").what()), HasSubstr("X=\" \""));
  EXPECT_THAT(std::string(ConfigError("X", "", "empty").what()), HasSubstr("X=\"\""));
  EXPECT_THAT(std::string(ConfigError("X", "a\x01" "b\n\"q\"", "odd").what()),
              HasSubstr(R"(X="a\x01b\n\"q\"")"));
}

TEST(ConfigError, RaiseThrowsTheMostDerivedType) {
  const ConfigError error("S", "v", "why");
  const Error& as_base = error;
  EXPECT_THROW(as_base.raise(), ConfigError);
}

// outcome_of keeps each error's most-derived type and its fields (through
// Error::clone), and lets anything that is not an execkit::Error through.
template <class E>
void expect_captured_as_itself(const E& error) {
  const Outcome outcome = outcome_of([&]() -> Result { throw error; });
  ASSERT_FALSE(outcome.ok());
  const E* captured = outcome.error_as<E>();
  ASSERT_NE(captured, nullptr) << to_string(error.kind());
  EXPECT_EQ(captured->kind(), error.kind());
  EXPECT_STREQ(captured->what(), error.what());
}

TEST(OutcomeOf, EveryErrorKeepsItsTypeAndText) {
  expect_captured_as_itself(TaskError("ValueError", "bad value", "tail", {}));
  expect_captured_as_itself(TimeoutError("late"));
  expect_captured_as_itself(CancelledError("cancelled"));
  expect_captured_as_itself(WorkerCrashed(SIGKILL, std::nullopt, "tail"));
  expect_captured_as_itself(ResultError(ResultError::Reason::too_large, "too big"));
  expect_captured_as_itself(SpillError("symlink"));
  expect_captured_as_itself(BackendClosed("closed"));
  expect_captured_as_itself(ConfigError("EXECKIT_MAX_WORKERS", "x", "not a number"));
  const Outcome crashed = outcome_of([]() -> Result { throw WorkerCrashed(std::nullopt, 3, "gone"); });
  EXPECT_EQ(crashed.error_as<WorkerCrashed>()->exit_status(), 3);
  EXPECT_EQ(crashed.error_as<WorkerCrashed>()->stderr_tail(), "gone");
}

TEST(OutcomeOf, OtherExceptionsPropagate) {
  EXPECT_THROW(outcome_of([]() -> Result { throw std::logic_error("not an execkit error"); }), std::logic_error);
}

}  // namespace
}  // namespace execkit

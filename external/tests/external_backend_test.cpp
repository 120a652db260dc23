// The harness side of the protocol against backends that break it: every
// fault is a clear error naming the message, never a hang or a crash.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "execkit/external_backend.hpp"

namespace execkit {
namespace {

using namespace std::chrono_literals;

class FakeBackend : public ::testing::Test {
 protected:
  ExternalBackendOptions options(const std::string& scenario) const {
    ExternalBackendOptions out;
    out.command = "python3 " EXECKIT_FAKE_BACKEND " " + scenario;
    out.reply_timeout = 2s;
    return out;
  }
  WorkerConfig config() {
    WorkerConfig out;
    out.log = [this](std::string_view line) {
      std::lock_guard lock(mutex_);
      log_.emplace_back(line);
    };
    return out;
  }
  std::string log_text() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& line : log_) out += line + "\n";
    return out;
  }
  Outcome call(ExternalBackend& backend, const std::string& input) {
    Call c;
    c.module = "m";
    c.function = "f";
    c.input = to_bytes(input);
    return outcome_of([&] { return backend.execute(c, Deadline::after(10s)); });
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> log_;
};

std::string thrown_by(const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

TEST_F(FakeBackend, InlineAndDescriptorResultsRoundTrip) {
  ExternalBackend inline_backend(options("echo"), config());
  EXPECT_EQ(inline_backend.declaration().task_language, "python");
  EXPECT_EQ(inline_backend.declaration().documented_task_fds, 2u);
  EXPECT_TRUE(inline_backend.declaration().supports_worker_reuse);
  EXPECT_EQ(call(inline_backend, "hello").value().text(), "hello");
  ExternalBackend fd_backend(options("echo_fd"), config());
  EXPECT_EQ(call(fd_backend, "through a memfd").value().text(), "through a memfd");
}

TEST_F(FakeBackend, CommandRunsInItsDirectoryAndTheBaseDirIsTheCallersCwd) {
  const std::filesystem::path fake(EXECKIT_FAKE_BACKEND);
  auto where = options("where");
  where.command = "python3 ./" + fake.filename().string() + " where";
  where.directory = fake.parent_path();
  const auto saved = std::filesystem::current_path();
  const auto callers = std::filesystem::temp_directory_path();
  std::filesystem::current_path(callers);
  std::optional<ExternalBackend> backend;
  std::string error;
  try {
    backend.emplace(where, config());
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::filesystem::current_path(saved);
  ASSERT_EQ(error, "") << "a relative command must be found in options.directory, not in the cwd at construction";
  EXPECT_EQ(call(*backend, "").value().text(),
            std::filesystem::canonical(fake.parent_path()).string() + "\n" + callers.string())
      << "the command runs in options.directory; an empty base_dir is sent as the cwd at construction";

  // Workers that do not run from the caller's context choose their own base dir.
  where.command = "python3 ./" + fake.filename().string() + " where_remote";
  ExternalBackend remote(where, config());
  EXPECT_EQ(call(remote, "").value().text(), std::filesystem::canonical(fake.parent_path()).string() + "\n")
      << "without task_context_from_caller an empty base_dir must reach the backend empty";
}

TEST_F(FakeBackend, ProcessEndingBeforeItsHelloIsAnErrorWithItsStatus) {
  const auto what = thrown_by([&] { ExternalBackend(options("no_hello"), config()); });
  EXPECT_HAS(what, "ended before its hello");
  EXPECT_HAS(what, "exited with status 3");
  EXPECT_HAS(what, "fake_backend.py no_hello");
}

TEST_F(FakeBackend, SilentBackendTimesOutInsteadOfHanging) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_HAS(thrown_by([&] { ExternalBackend(options("silent"), config()); }), "no complete message within");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
}

TEST_F(FakeBackend, BadHelloIsNamed) {
  EXPECT_HAS(thrown_by([&] { ExternalBackend(options("garbage_hello"), config()); }), "is not valid JSON");
  EXPECT_HAS(thrown_by([&] { ExternalBackend(options("wrong_version"), config()); }), "protocol version 2");
}

TEST_F(FakeBackend, RefusedConfigurationIsTheBackendsTypedError) {
  try {
    ExternalBackend backend(options("refuse_config"), config());
    FAIL() << "the refusal was not thrown";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.setting(), "max_workers");
    EXPECT_EQ(e.value(), "0");
    EXPECT_HAS(e.what(), "must be at least 1");
  }
}

struct FaultCase {
  const char* scenario;
  const char* named;  // what the error and the log must name
};

class ProtocolFault : public FakeBackend, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(ProtocolFault, EndsTheCallWithBackendClosedNamingTheFaultAndRefusesLaterCalls) {
  ExternalBackend backend(options(GetParam().scenario), config());
  const auto first = call(backend, "x");
  ASSERT_NE(first.error_as<BackendClosed>(), nullptr) << (first.ok() ? "ok" : first.error()->what());
  EXPECT_HAS(first.error()->what(), GetParam().named);
  EXPECT_HAS(log_text(), GetParam().named);
  const auto later = call(backend, "y");
  ASSERT_NE(later.error_as<BackendClosed>(), nullptr);
  EXPECT_HAS(later.error()->what(), GetParam().named);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, ProtocolFault,
    ::testing::Values(FaultCase{"result_for_unknown_id", "result for id 1001: no call with this id was submitted"},
                      FaultCase{"overlong_line", "longer than 4194304 bytes"},
                      FaultCase{"fd_missing", "it says it carries a descriptor but none arrived"},
                      FaultCase{"dies_mid_call", "exited with status 3"},
                      FaultCase{"unknown_type", "unexpected message type 'bogus'"},
                      FaultCase{"early_shutdown_done", "shutdown_done: it answers no shutdown"},
                      FaultCase{"bad_error", "unknown error kind 'meltdown'"}),
    [](const auto& test) { return std::string(test.param.scenario); });

TEST_F(FakeBackend, SecondOutcomeForACallIsAProtocolError) {
  ExternalBackend backend(options("duplicate_result"), config());
  EXPECT_EQ(call(backend, "once").value().text(), "once");
  ASSERT_TRUE([&] {
    for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
      if (log_text().find("the call already ended") != std::string::npos) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }()) << log_text();
  const auto later = call(backend, "y");
  ASSERT_NE(later.error_as<BackendClosed>(), nullptr);
  EXPECT_HAS(later.error()->what(), "result for id 1: the call already ended");
}

TEST_F(FakeBackend, DescriptorOfTheWrongSizeIsAResultError) {
  ExternalBackend backend(options("wrong_size_fd"), config());
  const auto outcome = call(backend, "short");
  ASSERT_NE(outcome.error_as<ResultError>(), nullptr) << (outcome.ok() ? "ok" : outcome.error()->what());
  EXPECT_EQ(outcome.error_as<ResultError>()->reason(), ResultError::Reason::unreadable);
  EXPECT_HAS(outcome.error()->what(), "the backend declared 10485760");
  EXPECT_EQ(call(backend, "again").error_as<ResultError>()->reason(), ResultError::Reason::unreadable) << "the backend stays usable";
}

TEST_F(FakeBackend, ProcessIgnoringTheClosedConnectionIsKilledAndLogged) {
  const auto start = std::chrono::steady_clock::now();
  {
    ExternalBackend backend(options("ignores_eof"), config());
    EXPECT_EQ(call(backend, "z").value().text(), "z");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_HAS(log_text(), "did not exit within 2000 ms of its connection closing; killed it");
}

TEST_F(FakeBackend, CallsAfterShutdownAreRefusedWithBackendClosed) {
  ExternalBackend backend(options("echo"), config());
  backend.shutdown(true);
  backend.shutdown(true);
  const auto outcome = call(backend, "late");
  ASSERT_NE(outcome.error_as<BackendClosed>(), nullptr);
  EXPECT_EQ(backend.process_id(), 0) << "shutdown(true) returned before the backend process was reaped";
}

}  // namespace
}  // namespace execkit

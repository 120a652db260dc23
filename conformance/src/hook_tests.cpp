// HOOK: lifecycle observers, an optional capability (CONTRACT.md, HOOK-1..HOOK-5).
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>

#include "execkit/conformance/suite.hpp"
#include "pending_call.hpp"
#include "test_support.hpp"

namespace execkit::conformance {
namespace {

std::string key_of(const Call& call) {
  return call.function + ":" + std::string(reinterpret_cast<const char*>(call.input.data()), call.input.size());
}

// Every lifecycle event, in order, keyed by the call's function and input.
class HookRecorder {
 public:
  struct Completion {
    bool has_metrics = false;
    std::optional<ErrorKind> error;
    std::size_t sequence = 0;
  };

  void subscribe(LifecycleObservable& hooks) {
    subscriptions_.push_back(hooks.on_submit([this](const Call& call) {
      std::lock_guard lock(mutex_);
      submits_[key_of(call)].push_back(++sequence_);
    }));
    subscriptions_.push_back(hooks.on_complete([this](const Call& call, const ExecutionMetrics* metrics, const Error* error) {
      std::lock_guard lock(mutex_);
      completions_[key_of(call)].push_back(
          {metrics != nullptr, error ? std::optional<ErrorKind>(error->kind()) : std::nullopt, ++sequence_});
    }));
  }
  void unsubscribe() { subscriptions_.clear(); }

  std::size_t submits(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto it = submits_.find(key);
    return it == submits_.end() ? 0 : it->second.size();
  }
  std::vector<Completion> completions(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto it = completions_.find(key);
    return it == completions_.end() ? std::vector<Completion>{} : it->second;
  }
  std::size_t first_submit(const std::string& key) const {
    std::lock_guard lock(mutex_);
    return submits_.at(key).front();
  }

 private:
  mutable std::mutex mutex_;
  std::size_t sequence_ = 0;
  std::map<std::string, std::vector<std::size_t>> submits_;
  std::map<std::string, std::vector<Completion>> completions_;
  std::vector<Subscription> subscriptions_;
};

// Appends event names in the order handlers run.
class OrderLog {
 public:
  void add(std::string entry) {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::move(entry));
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  std::vector<std::string> starting_with(const std::string& prefix) const {
    std::vector<std::string> out;
    for (auto& entry : entries()) {
      if (entry.starts_with(prefix)) out.push_back(entry);
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> entries_;
};

}  // namespace

#define EXECKIT_REQUIRE_HOOKS(hooks)                                                                     \
  if (hooks != nullptr) {                                                                                \
  } else                                                                                                 \
    GTEST_SKIP() << "backend '" << backend_under_test().name << "' is not an execkit::LifecycleObservable" \
                 << " (Capabilities::supports_lifecycle_hooks is off)"

TEST_P(Hook, HOOK_1_OnSubmitFiresBeforeTheCallReachesAWorker) {
  auto backend = make_backend();
  auto* hooks = hooks_of(*backend);
  EXECKIT_REQUIRE_HOOKS(hooks);
  const auto marker = temp_dir() / "submitted";
  auto subscription = hooks->on_submit([](const Call& call) {
    if (call.function == "exists") write_file(std::string(reinterpret_cast<const char*>(call.input.data()), call.input.size()), "");
  });
  EXPECT_EQ(run_text(*backend, probe_call("exists", marker.string())), "1")
      << "the task ran before on_submit fired for its call";
}

TEST_P(Hook, HOOK_1_OnCompleteFiresExactlyOncePerSubmitOnEveryPath) {
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  auto* hooks = hooks_of(*backend);
  EXECKIT_REQUIRE_HOOKS(hooks);
  HookRecorder recorder;
  recorder.subscribe(*hooks);
  Gates gates(temp_dir() / "gates");
  const auto short_deadline = [&] { return Deadline::after(bounds().deadline_grace * 2); };

  EXPECT_TRUE(succeeded(run(*backend, probe_call("echo", "success"))));
  EXPECT_TRUE(ended_with<TaskError>(run(*backend, probe_call("fail", "task error"))));
  EXPECT_TRUE(ended_with<TimeoutError>(run(*backend, probe_call("gate", gates.input("timeout")), short_deadline())));
  EXPECT_TRUE(ended_with<TimeoutError>(
      run(*backend, probe_call("echo", "expired"), Deadline{std::chrono::steady_clock::now() - std::chrono::milliseconds(1)})));
  {
    PendingCall running(*backend, probe_call("gate", gates.input("cancel-running")), call_deadline());
    ASSERT_TRUE(wait_until([&] { return gates.started("cancel-running"); }, bounds().condition_wait));
    running.cancel();
    ASSERT_TRUE(running.wait(bounds().condition_wait).has_value());
  }
  {
    PendingCall occupying(*backend, probe_call("gate", gates.input("occupying")), call_deadline());
    ASSERT_TRUE(wait_until([&] { return gates.started("occupying"); }, bounds().condition_wait));
    PendingCall queued(*backend, probe_call("echo", "cancel-queued"), call_deadline());
    queued.cancel();
    ASSERT_TRUE(queued.wait(bounds().condition_wait).has_value());
    gates.release("occupying");
    ASSERT_TRUE(occupying.wait(bounds().call_timeout).has_value());
  }
  EXPECT_TRUE(ended_with<WorkerCrashed>(run(*backend, probe_call("crash_signal", "6"))));
  PendingCall closed(*backend, probe_call("gate", gates.input("shutdown")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return gates.started("shutdown"); }, bounds().condition_wait));
  backend->shutdown(true);
  ASSERT_TRUE(closed.wait(bounds().condition_wait).has_value());
  EXPECT_TRUE(ended_with<BackendClosed>(run(*backend, probe_call("echo", "after-shutdown"))));

  struct Path {
    std::string key;
    std::optional<ErrorKind> error;
    bool has_metrics;
    bool must_submit;
  };
  const std::vector<Path> paths{
      {"echo:success", std::nullopt, true, true},
      {"fail:task error", ErrorKind::task, true, true},
      {"gate:" + gates.input("timeout"), ErrorKind::timeout, false, true},
      {"echo:expired", ErrorKind::timeout, false, false},
      {"gate:" + gates.input("cancel-running"), ErrorKind::cancelled, false, true},
      {"echo:cancel-queued", ErrorKind::cancelled, false, true},
      {"crash_signal:6", ErrorKind::worker_crashed, false, true},
      {"gate:" + gates.input("shutdown"), ErrorKind::backend_closed, false, true},
      {"echo:after-shutdown", ErrorKind::backend_closed, false, false},
  };
  for (const auto& path : paths) {
    SCOPED_TRACE("call " + path.key);
    const auto submits = recorder.submits(path.key);
    wait_until([&] { return recorder.completions(path.key).size() >= submits; }, bounds().condition_wait);
    const auto completions = recorder.completions(path.key);
    if (path.must_submit) {
      EXPECT_EQ(submits, 1u) << "on_submit must fire once";
    }
    EXPECT_LE(submits, 1u);
    ASSERT_EQ(completions.size(), submits) << "on_complete must fire exactly once for every on_submit";
    if (completions.empty()) continue;
    EXPECT_GT(completions.front().sequence, recorder.first_submit(path.key)) << "on_complete fired before on_submit";
    EXPECT_EQ(completions.front().error, path.error) << "on_complete reported another outcome";
    EXPECT_EQ(completions.front().has_metrics, path.has_metrics)
        << (path.has_metrics ? "a call that ran to its end needs metrics" : "a call that did not run to its end has no metrics");
  }
  recorder.unsubscribe();
}

TEST_P(Hook, HOOK_2_HandlersOfOneEventFireInRegistrationOrder) {
  auto backend = make_backend();
  auto* hooks = hooks_of(*backend);
  EXECKIT_REQUIRE_HOOKS(hooks);
  OrderLog log;
  std::vector<Subscription> subscriptions;
  for (const std::string id : {"1", "2", "3"}) {
    subscriptions.push_back(hooks->on_submit([&log, id](const Call&) { log.add("submit" + id); }));
    subscriptions.push_back(hooks->on_complete([&log, id](const Call&, const ExecutionMetrics*, const Error*) { log.add("complete" + id); }));
    subscriptions.push_back(hooks->on_shutdown([&log, id] { log.add("shutdown" + id); }));
  }
  run_text(*backend, probe_call("echo"));
  wait_until([&] { return log.starting_with("complete").size() == 3; }, bounds().condition_wait);
  EXPECT_EQ(log.starting_with("submit"), (std::vector<std::string>{"submit1", "submit2", "submit3"}));
  EXPECT_EQ(log.starting_with("complete"), (std::vector<std::string>{"complete1", "complete2", "complete3"}));
  subscriptions[3].unsubscribe();  // the second on_submit
  run_text(*backend, probe_call("echo"));
  wait_until([&] { return log.starting_with("complete").size() == 6; }, bounds().condition_wait);
  EXPECT_EQ(log.starting_with("submit"), (std::vector<std::string>{"submit1", "submit2", "submit3", "submit1", "submit3"}))
      << "an unsubscribed handler fired, or the order changed";
  backend->shutdown(true);
  EXPECT_EQ(log.starting_with("shutdown"), (std::vector<std::string>{"shutdown1", "shutdown2", "shutdown3"}));
  subscriptions.clear();
}

TEST_P(Hook, HOOK_3_ThrowingHandlerIsLoggedAndIsolated) {
  auto backend = make_backend();
  auto* hooks = hooks_of(*backend);
  EXECKIT_REQUIRE_HOOKS(hooks);
  OrderLog log;
  std::vector<Subscription> subscriptions;
  subscriptions.push_back(hooks->on_submit([&](const Call&) { log.add("submit-before"); }));
  subscriptions.push_back(hooks->on_submit([](const Call&) -> void { throw std::runtime_error("submit handler boom"); }));
  subscriptions.push_back(hooks->on_submit([](const Call&) -> void { throw 42; }));
  subscriptions.push_back(hooks->on_submit([&](const Call&) { log.add("submit-after"); }));
  subscriptions.push_back(hooks->on_complete([](const Call&, const ExecutionMetrics*, const Error*) -> void {
    throw std::runtime_error("complete handler boom");
  }));
  subscriptions.push_back(hooks->on_complete([&](const Call&, const ExecutionMetrics*, const Error*) { log.add("complete-after"); }));
  subscriptions.push_back(hooks->on_shutdown([]() -> void { throw std::runtime_error("shutdown handler boom"); }));
  subscriptions.push_back(hooks->on_shutdown([&] { log.add("shutdown-after"); }));

  EXPECT_EQ(run_text(*backend, probe_call("echo", "own result")), "own result")
      << "a throwing handler changed execute's outcome";
  const auto failed = run(*backend, probe_call("fail", "own error"));
  ASSERT_TRUE(ended_with<TaskError>(failed)) << "a throwing handler changed execute's error";
  EXPECT_EQ(failed.error_as<TaskError>()->message(), "own error");
  PendingCall async(*backend, probe_call("echo", "async"), call_deadline());
  const auto outcome = async.wait(bounds().call_timeout);
  ASSERT_TRUE(outcome.has_value()) << "a throwing handler swallowed an async completion";
  EXPECT_EQ(text_of(*outcome), "async");
  wait_until([&] { return log.starting_with("complete-after").size() == 3; }, bounds().condition_wait);
  backend->shutdown(true);
  EXPECT_EQ(log.starting_with("submit-before").size(), 3u);
  EXPECT_EQ(log.starting_with("submit-after").size(), 3u) << "a throwing on_submit handler stopped the later ones";
  EXPECT_EQ(log.starting_with("complete-after").size(), 3u) << "a throwing on_complete handler stopped the later ones";
  EXPECT_EQ(log.starting_with("shutdown-after").size(), 1u) << "a throwing on_shutdown handler stopped the later ones";
  const auto lines = log_lines();
  for (const std::string boom : {"submit handler boom", "complete handler boom", "shutdown handler boom"}) {
    EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [&](const std::string& line) { return line.find(boom) != std::string::npos; }))
        << "the exception '" << boom << "' was not logged through WorkerConfig::log";
  }
  subscriptions.clear();
}

TEST_P(Hook, HOOK_4_OnShutdownFiresExactlyOnce) {
  auto backend = make_backend();
  auto* hooks = hooks_of(*backend);
  EXECKIT_REQUIRE_HOOKS(hooks);
  std::atomic<int> fired{0};
  auto subscription = hooks->on_shutdown([&] { ++fired; });
  run_text(*backend, probe_call("echo"));
  backend->shutdown(false);
  backend->shutdown(true);
  backend->shutdown(true);
  backend->shutdown(false);
  EXPECT_TRUE(wait_until([&] { return fired.load() > 0; }, bounds().condition_wait)) << "on_shutdown never fired";
  EXPECT_EQ(fired.load(), 1) << "on_shutdown fired " << fired.load() << " times for repeated shutdowns";
  subscription.unsubscribe();
}

TEST_P(Hook, HOOK_5_HandlerMayCallBackIntoTheBackend) {
  auto backend = make_backend();
  auto* hooks = hooks_of(*backend);
  EXECKIT_REQUIRE_HOOKS(hooks);
  std::mutex mutex;
  std::vector<std::shared_ptr<PendingCall>> from_handlers;
  auto submit_from_handler = [&](const std::string& input) {
    auto call = std::make_shared<PendingCall>(*backend, probe_call("echo", input), call_deadline());
    std::lock_guard lock(mutex);
    from_handlers.push_back(std::move(call));
  };
  std::vector<Subscription> subscriptions;
  subscriptions.push_back(hooks->on_submit([&](const Call& call) {
    if (key_of(call) == "echo:first") submit_from_handler("from on_submit");
  }));
  subscriptions.push_back(hooks->on_complete([&](const Call& call, const ExecutionMetrics*, const Error*) {
    if (key_of(call) == "echo:first") submit_from_handler("from on_complete");
  }));
  subscriptions.push_back(hooks->on_shutdown([&] { submit_from_handler("from on_shutdown"); }));
  EXPECT_EQ(run_text(*backend, probe_call("echo", "first")), "first");
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    return from_handlers.size() == 2;
  }, bounds().condition_wait)) << "a handler's call back into the backend did not return";
  std::vector<std::shared_ptr<PendingCall>> calls;
  {
    std::lock_guard lock(mutex);
    calls = from_handlers;
  }
  for (const auto& call : calls) {
    const auto outcome = call->wait(bounds().call_timeout);
    ASSERT_TRUE(outcome.has_value()) << "a call submitted from a handler never completed";
    EXPECT_TRUE(succeeded(*outcome));
  }
  backend->shutdown(true);  // the on_shutdown handler submits while the backend shuts down
  std::shared_ptr<PendingCall> during_shutdown;
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(from_handlers.size(), 3u) << "the on_shutdown handler did not run or did not return";
    during_shutdown = from_handlers.back();
  }
  const auto outcome = during_shutdown->wait(bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value()) << "a call submitted from on_shutdown never completed";
  EXPECT_TRUE(ended_with<BackendClosed>(*outcome));
  subscriptions.clear();
}

}  // namespace execkit::conformance

#include "model_steps.hpp"

#include <csignal>
#include <latch>
#include <optional>
#include <thread>

namespace execkit::conformance::model {
namespace {

using namespace std::chrono_literals;

// Runs the step, then the invariants on the model as the step left it.
class CheckedStep : public Step {
 public:
  void run(const ModelState& before, Harness& h) const final {
    act(before, h);
    h.after_step(nextState(before));
  }

 protected:
  virtual void act(const ModelState& before, Harness& h) const = 0;
};

void expect_ok(const Outcome& outcome, const std::string& step) {
  if (!outcome.ok()) RC_FAIL(step + " should succeed but ended with " + describe(outcome));
}

template <class E>
const E& expect_error(const Outcome& outcome, const std::string& step, const char* type) {
  const auto* error = outcome.error_as<E>();
  if (error == nullptr) RC_FAIL(step + " should end with " + type + " but ended with " + describe(outcome));
  return *error;
}

void expect_stream(const Outcome& outcome, std::uint64_t size, std::uint64_t seed, const std::string& step) {
  expect_ok(outcome, step);
  const auto bytes = outcome.value().bytes();
  if (bytes.size() != size)
    RC_FAIL(step + ": the result has " + std::to_string(bytes.size()) + " bytes, not " + std::to_string(size));
  if (const auto at = first_stream_mismatch(bytes, seed)) RC_FAIL(step + ": the result differs at byte " + std::to_string(*at));
}

void expect_crash(const Outcome& outcome, std::optional<int> signal, std::optional<int> status, const std::string& step) {
  const auto& crash = expect_error<WorkerCrashed>(outcome, step, "WorkerCrashed");
  RC_ASSERT(crash.term_signal() == signal);
  RC_ASSERT(crash.exit_status() == status);
}

// ---- single calls -------------------------------------------------------

class Succeed : public CheckedStep {
 public:
  Succeed()
      : size_(*rc::gen::oneOf(rc::gen::element<std::uint64_t>(0, 1, 32767, 32768, 32769),
                              rc::gen::inRange<std::uint64_t>(0, 70000))),
        submit_(*rc::gen::arbitrary<bool>()) {}
  void act(const ModelState&, Harness& h) const override {
    auto call = h.probe("echo");
    call.input = stream_bytes(size_, size_);
    const auto outcome = submit_ ? h.await(*h.submit(call, h.deadline())) : h.run(call);
    expect_stream(outcome, size_, size_, "echo");
  }
  void show(std::ostream& os) const override { os << "Succeed(echo " << size_ << " bytes" << (submit_ ? ", submit" : "") << ")"; }

 private:
  std::uint64_t size_;
  bool submit_;
};

class FailTask : public CheckedStep {
 public:
  FailTask() : message_(*rc::gen::resize(12, rc::gen::container<std::string>(rc::gen::inRange('a', '{')))) {}
  void act(const ModelState&, Harness& h) const override {
    const auto outcome = h.run(h.probe("fail", message_));
    const auto& error = expect_error<TaskError>(outcome, "fail", "TaskError");
    RC_ASSERT(error.message() == message_);
    RC_ASSERT(error.stderr_tail().find("probe stderr: " + message_) != std::string::npos);
    RC_ASSERT(std::string(error.what()).find(message_) != std::string::npos);
  }
  void show(std::ostream& os) const override { os << "FailTask(\"" << message_ << "\")"; }

 private:
  std::string message_;
};

class CrashBySignal : public CheckedStep {
 public:
  // No SIGSEGV: a sanitizer's handler would turn it into an exit.
  CrashBySignal() : signal_(*rc::gen::element(SIGABRT, SIGKILL, SIGTERM, SIGUSR1)) {}
  void act(const ModelState&, Harness& h) const override {
    expect_crash(h.run(h.probe("crash_signal", std::to_string(signal_))), signal_, std::nullopt, "crash_signal");
  }
  void show(std::ostream& os) const override { os << "CrashBySignal(" << signal_ << ")"; }

 private:
  int signal_;
};

class ExitWorker : public CheckedStep {
 public:
  ExitWorker() : status_(*rc::gen::oneOf(rc::gen::element(0, 1, 255), rc::gen::inRange(0, 256))) {}
  void act(const ModelState&, Harness& h) const override {
    expect_crash(h.run(h.probe("exit_code", std::to_string(status_))), std::nullopt, status_, "exit_code");
  }
  void show(std::ostream& os) const override { os << "ExitWorker(" << status_ << ")"; }

 private:
  int status_;
};

class DeadlinePasses : public CheckedStep {
 public:
  DeadlinePasses() : after_ms_(*rc::gen::inRange(10, 200)) {}
  void act(const ModelState&, Harness& h) const override {
    const auto start = std::chrono::steady_clock::now();
    const auto outcome = h.run(h.probe("sleep_ms", "60000"), Deadline::after(std::chrono::milliseconds(after_ms_)));
    expect_error<TimeoutError>(outcome, "sleep_ms past its deadline", "TimeoutError");
    const auto took = elapsed_ms(start);
    if (took > after_ms_ + h.context().bounds.deadline_grace.count())
      RC_FAIL("the TimeoutError came " + std::to_string(took) + " ms after the call started, deadline " +
              std::to_string(after_ms_) + " ms plus grace " + std::to_string(h.context().bounds.deadline_grace.count()));
  }
  void show(std::ostream& os) const override { os << "DeadlinePasses(after " << after_ms_ << " ms)"; }

 private:
  int after_ms_;
};

class CancelRunning : public CheckedStep {
 public:
  void act(const ModelState&, Harness& h) const override {
    const auto id = h.fresh_id();
    const auto call = h.submit(h.probe("gate", h.gates().input(id)), h.deadline());
    if (!wait_until([&] { return h.gates().started(id); }, h.context().bounds.condition_wait))
      RC_FAIL("the gate task never started");
    RC_ASSERT(call->cancel());
    expect_error<CancelledError>(h.await_prompt(*call), "a cancelled running call", "CancelledError");
    RC_ASSERT(!h.gates().finished(id));
    RC_ASSERT(!call->cancel());  // CANCEL-3: now a no-op
  }
  void show(std::ostream& os) const override { os << "CancelRunning"; }
};

// Fills every worker with a gate task, then ends a queued call by cancel or
// by its deadline: it never starts, and the running calls are unaffected.
class QueuedCallEnds : public CheckedStep {
 public:
  QueuedCallEnds() : by_cancel_(*rc::gen::arbitrary<bool>()), after_ms_(*rc::gen::inRange(10, 150)) {}
  void act(const ModelState&, Harness& h) const override {
    std::vector<std::pair<std::string, std::shared_ptr<PendingCall>>> running;
    for (std::size_t i = 0; i < h.context().config.max_workers; ++i) {
      const auto id = h.fresh_id();
      running.emplace_back(id, h.submit(h.probe("gate", h.gates().input(id)), h.deadline()));
    }
    const auto all_started = [&] {
      return std::all_of(running.begin(), running.end(), [&](const auto& gate) { return h.gates().started(gate.first); });
    };
    if (!wait_until(all_started, h.context().bounds.condition_wait)) RC_FAIL("not every worker started its gate task");
    const auto counter = h.context().work_dir / ("counter-" + h.fresh_id());
    const auto deadline = by_cancel_ ? h.deadline() : Deadline::after(std::chrono::milliseconds(after_ms_));
    const auto queued = h.submit(h.probe("bump_counter", counter.string() + "|ok"), deadline);
    if (by_cancel_) {
      RC_ASSERT(queued->cancel());
      expect_error<CancelledError>(h.await_prompt(*queued), "a cancelled queued call", "CancelledError");
    } else {
      expect_error<TimeoutError>(h.await_prompt(*queued), "a queued call past its deadline", "TimeoutError");
    }
    for (const auto& [id, call] : running) RC_ASSERT(!call->done());
    for (const auto& [id, call] : running) {
      h.gates().release(id);
      expect_ok(h.await(*call), "a gate task running beside the queued call");
    }
    RC_ASSERT(file_size_or_zero(counter) == 0u);  // never started (CANCEL-1, RUN-2)
  }
  void show(std::ostream& os) const override {
    os << "QueuedCallEnds(" << (by_cancel_ ? "cancel" : "deadline after " + std::to_string(after_ms_) + " ms") << ")";
  }

 private:
  bool by_cancel_;
  int after_ms_;
};

// ---- large results ------------------------------------------------------

class LargeResult : public CheckedStep {
 public:
  LargeResult()
      : size_(*rc::gen::oneOf(rc::gen::element<std::uint64_t>(32768, 32769, std::uint64_t{1} << 20),
                              rc::gen::inRange<std::uint64_t>(32769, std::uint64_t{8} << 20))),
        seed_(*rc::gen::inRange<std::uint64_t>(0, 1000)),
        keep_(*rc::gen::arbitrary<bool>()) {}
  void apply(ModelState& model) const override {
    if (keep_) model.held.push_back({size_, seed_});
  }
  void act(const ModelState&, Harness& h) const override {
    auto outcome = h.run(h.probe("write_bytes", std::to_string(size_) + "," + std::to_string(seed_)));
    expect_stream(outcome, size_, seed_, "write_bytes");
    if (keep_) h.hold(std::move(outcome).value(), {size_, seed_});
  }
  void show(std::ostream& os) const override {
    os << "LargeResult(" << size_ << " bytes, seed " << seed_ << (keep_ ? ", kept" : "") << ")";
  }

 private:
  std::uint64_t size_, seed_;
  bool keep_;
};

// A task that has written (part of) a large result is cancelled or passes
// its deadline: no spill file may remain once the error is delivered (SPILL-5).
class LargeResultCut : public CheckedStep {
 public:
  LargeResultCut()
      : size_(*rc::gen::inRange<std::uint64_t>(32769, std::uint64_t{4} << 20)), by_cancel_(*rc::gen::arbitrary<bool>()) {}
  void act(const ModelState&, Harness& h) const override {
    const auto marker = h.context().work_dir / ("written-" + h.fresh_id());
    const auto input = std::to_string(size_) + ",hang," + marker.string();
    if (by_cancel_) {
      const auto call = h.submit(h.probe("write_then", input), h.deadline());
      if (!wait_until([&] { return std::filesystem::exists(marker); }, h.context().bounds.condition_wait))
        RC_FAIL("write_then never wrote its result");
      RC_ASSERT(call->cancel());
      expect_error<CancelledError>(h.await_prompt(*call), "a cancelled call with a large result", "CancelledError");
    } else {
      const auto outcome = h.run(h.probe("write_then", input), Deadline::after(std::chrono::milliseconds(300)));
      expect_error<TimeoutError>(outcome, "a call with a large result past its deadline", "TimeoutError");
    }
  }
  void show(std::ostream& os) const override {
    os << "LargeResultCut(" << size_ << " bytes, " << (by_cancel_ ? "cancelled" : "deadline") << ")";
  }

 private:
  std::uint64_t size_;
  bool by_cancel_;
};

class ReleaseHeld : public CheckedStep {
 public:
  explicit ReleaseHeld(const ModelState& model) {
    RC_PRE(!model.held.empty());
    pick_ = *rc::gen::inRange<std::size_t>(0, model.held.size());
  }
  void checkPreconditions(const ModelState& model) const override { RC_PRE(pick_ < model.held.size()); }
  void apply(ModelState& model) const override { model.held.erase(model.held.begin() + static_cast<std::ptrdiff_t>(pick_)); }
  void act(const ModelState&, Harness& h) const override { h.release(pick_); }
  void show(std::ostream& os) const override { os << "ReleaseHeld(#" << pick_ << ")"; }

 private:
  std::size_t pick_ = 0;
};

// ---- per-call context ---------------------------------------------------

rc::Gen<std::string> env_value() {
  return rc::gen::resize(10, rc::gen::container<std::string>(rc::gen::element('a', 'Z', '0', ' ', '=', '/', ':', '_')));
}

const std::vector<std::string> env_names{"TZ", "LANG", "HOME", "PATH", "EXECKIT_MODEL_A", "EXECKIT_MODEL_B",
                                         "MODEL_PLAIN", "MODEL_OTHER"};

class EnvUpdates : public CheckedStep {
 public:
  EnvUpdates() {
    const auto count = *rc::gen::inRange(1, 5);
    for (int i = 0; i < count; ++i) {
      const auto name = *rc::gen::elementOf(env_names);
      if (*rc::gen::arbitrary<bool>()) updates_[name] = *env_value();
      else updates_[name] = std::nullopt;
    }
  }
  void act(const ModelState&, Harness& h) const override {
    auto call = h.probe("env");
    call.env_updates = updates_;
    const auto outcome = h.run(call);
    expect_ok(outcome, "env with updates");
    const auto seen = without_identity(parse_env_lines(outcome.value().text()));
    auto expected = h.base_env();
    for (const auto& [name, value] : updates_) {
      if (value) expected[name] = *value;
      else expected.erase(name);
    }
    RC_ASSERT(seen == expected);  // ENV-4: set and unset for this call only
  }
  void show(std::ostream& os) const override {
    os << "EnvUpdates(";
    for (const auto& [name, value] : updates_) os << " " << name << (value ? "=\"" + *value + "\"" : " unset");
    os << " )";
  }

 private:
  std::map<std::string, std::optional<std::string>> updates_;
};

class TaskSetsEnv : public CheckedStep {
 public:
  TaskSetsEnv() : name_(*rc::gen::elementOf(env_names)), value_(*env_value()) {}
  void act(const ModelState&, Harness& h) const override {
    const auto outcome = h.run(h.probe("setenv", name_ + "=" + value_));
    expect_ok(outcome, "setenv");
  }
  void show(std::ostream& os) const override { os << "TaskSetsEnv(" << name_ << "=\"" << value_ << "\")"; }

 private:
  std::string name_, value_;
};

class TaskChdir : public CheckedStep {
 public:
  TaskChdir() : dir_(*rc::gen::inRange<std::size_t>(0, 4)) {}
  void act(const ModelState&, Harness& h) const override {
    expect_ok(h.run(h.probe("chdir", h.directories().at(dir_).string())), "chdir");
  }
  void show(std::ostream& os) const override { os << "TaskChdir(dir #" << dir_ << ")"; }

 private:
  std::size_t dir_;
};

class CallWithCwd : public CheckedStep {
 public:
  CallWithCwd() : dir_(*rc::gen::inRange<std::size_t>(0, 4)) {}
  void act(const ModelState&, Harness& h) const override {
    auto call = h.probe("cwd");
    call.cwd = h.directories().at(dir_);
    const auto outcome = h.run(call);
    expect_ok(outcome, "cwd with Call::cwd");
    RC_ASSERT(std::string(outcome.value().text()) == std::filesystem::canonical(*call.cwd).string());
  }
  void show(std::ostream& os) const override { os << "CallWithCwd(dir #" << dir_ << ")"; }

 private:
  std::size_t dir_;
};

// Module "shadow" along a search path of shadow_a/, shadow_b/, an empty dir
// and the probe dir, in any order: the first dir holding it wins (ISO-2).
class SearchPathCall : public CheckedStep {
 public:
  SearchPathCall() : dirs_(*rc::gen::resize(4, rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 4)))) {}
  void act(const ModelState&, Harness& h) const override {
    Call call;
    call.module = "shadow";
    call.function = "variant";
    std::optional<std::string> expected;
    for (const int dir : dirs_) {
      const auto& probe_dir = h.context().probe_dir;
      const std::filesystem::path paths[] = {probe_dir / "shadow_a", probe_dir / "shadow_b", h.directories().at(0), probe_dir};
      call.search_path.push_back(paths[dir]);
      if (!expected && dir < 2) expected = dir == 0 ? "a" : "b";
    }
    const auto outcome = h.run(call);
    if (expected) {
      expect_ok(outcome, "shadow.variant");
      RC_ASSERT(std::string(outcome.value().text()) == *expected);
    } else {
      if (outcome.ok()) RC_FAIL("module 'shadow' was found along a search path without it: " + describe(outcome));
      RC_ASSERT(std::string(outcome.error()->what()).find("shadow") != std::string::npos);
    }
  }
  void show(std::ostream& os) const override {
    const char* names[] = {"shadow_a", "shadow_b", "empty", "probe"};
    os << "SearchPathCall(";
    for (const int dir : dirs_) os << " " << names[dir];
    os << " )";
  }

 private:
  std::vector<int> dirs_;
};

// ---- concurrency --------------------------------------------------------

class ConcurrentSubmissions : public CheckedStep {
 public:
  enum class Kind { echo, fail, exit, abort, large };
  ConcurrentSubmissions() {
    const auto kind = rc::gen::element(Kind::echo, Kind::fail, Kind::exit, Kind::abort, Kind::large);
    kinds_ = {*kind, *kind};
    for (const auto more : *rc::gen::resize(4, rc::gen::container<std::vector<Kind>>(kind))) kinds_.push_back(more);
  }
  void act(const ModelState&, Harness& h) const override {
    std::vector<Call> calls;
    for (std::size_t i = 0; i < kinds_.size(); ++i) calls.push_back(call_for(h, kinds_[i], i));
    std::vector<std::shared_ptr<PendingCall>> pending(calls.size());
    {
      std::latch go(static_cast<std::ptrdiff_t>(calls.size()));
      std::vector<std::jthread> threads;
      for (std::size_t i = 0; i < calls.size(); ++i) {
        threads.emplace_back([&, i] {
          go.arrive_and_wait();
          pending[i] = std::make_shared<PendingCall>(h.backend(), calls[i], h.deadline());
        });
      }
    }
    for (auto& call : pending) h.adopt(call);
    for (std::size_t i = 0; i < kinds_.size(); ++i) {
      const auto outcome = h.await(*pending[i]);
      const std::string step = "concurrent call #" + std::to_string(i);
      switch (kinds_[i]) {
        case Kind::echo: expect_stream(outcome, 64, i, step); break;
        case Kind::fail: expect_error<TaskError>(outcome, step, "TaskError"); break;
        case Kind::exit: expect_crash(outcome, std::nullopt, 3, step); break;
        case Kind::abort: expect_crash(outcome, SIGABRT, std::nullopt, step); break;
        case Kind::large: expect_stream(outcome, 200000, i, step); break;
      }
    }
  }
  void show(std::ostream& os) const override {
    const char* names[] = {"echo", "fail", "exit", "abort", "large"};
    os << "ConcurrentSubmissions(";
    for (const auto kind : kinds_) os << " " << names[static_cast<int>(kind)];
    os << " )";
  }

 private:
  static Call call_for(Harness& h, Kind kind, std::size_t i) {
    switch (kind) {
      case Kind::echo: {
        auto call = h.probe("echo");
        call.input = stream_bytes(64, i);
        return call;
      }
      case Kind::fail: return h.probe("fail", "concurrent");
      case Kind::exit: return h.probe("exit_code", "3");
      case Kind::abort: return h.probe("call_abort");
      case Kind::large: return h.probe("write_bytes", "200000," + std::to_string(i));
    }
    return h.probe("echo");
  }

  std::vector<Kind> kinds_;
};

}  // namespace

rc::Gen<std::shared_ptr<const Step>> any_step(const ModelState& model) {
  return rc::state::gen::execOneOfWithArgs<Succeed, FailTask, CrashBySignal, ExitWorker, DeadlinePasses, CancelRunning,
                                           QueuedCallEnds, LargeResult, LargeResultCut, ReleaseHeld, EnvUpdates, TaskSetsEnv, TaskChdir,
                                           CallWithCwd, SearchPathCall, ConcurrentSubmissions>()(model);
}

}  // namespace execkit::conformance::model

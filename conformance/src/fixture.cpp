#include "execkit/conformance/fixture.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "child_caller.hpp"
#include "execkit/errors.hpp"
#include "probe_locator.hpp"
#include "resource_tracker.hpp"
#include "scoped_env.hpp"
#include "watchdog.hpp"

namespace execkit::conformance {
namespace {

struct LogSink {
  std::mutex mutex;
  std::vector<std::string> lines;
};

std::string random_hex(std::size_t length) {
  std::random_device device;
  std::mt19937_64 generator((static_cast<std::uint64_t>(device()) << 32) ^ device());
  const char* digits = "0123456789abcdef";
  std::string out(length, '0');
  for (auto& c : out) c = digits[generator() % 16];
  return out;
}

std::filesystem::path make_temp_dir() {
  const char* tmpdir = std::getenv("TMPDIR");
  const std::filesystem::path base = (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
  auto pattern = (base / "execkit-conformance-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(),
                            "the conformance suite cannot create its per-test directory in '" + base.string() +
                                "' (TMPDIR); point TMPDIR at a writable directory");
  }
  return std::filesystem::canonical(pattern);
}

std::string current_test_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info ? std::string(info->test_suite_name()) + "." + info->name() : "unknown test";
}

}  // namespace

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return done();
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(10));
  }
  return true;
}

std::string describe(const Outcome& outcome) {
  if (outcome.ok()) return "ok (" + std::to_string(outcome.value().bytes().size()) + " bytes)";
  return std::string(to_string(outcome.error()->kind())) + " error: " + outcome.error()->what();
}

struct ConformanceFixture::State {
  TimeBounds bounds;
  std::string child_role;
  std::filesystem::path temp_dir, spill_dir, probe_dir;
  bool owns_temp_dir = false;
  ScopedEnv env;
  std::unique_ptr<ResourceTracker> tracker;
  std::unique_ptr<Watchdog> watchdog;
  std::shared_ptr<LogSink> log = std::make_shared<LogSink>();
};

ConformanceFixture::ConformanceFixture() : state_(std::make_unique<State>()) {}
ConformanceFixture::~ConformanceFixture() = default;

void ConformanceFixture::SetUp() {
  auto& s = *state_;
  double scale = 1.0;
  try {
    scale = TimeBounds::scale_from_env();
  } catch (const std::exception& e) {
    GTEST_FAIL() << e.what();
  }
  s.bounds = backend_under_test().bounds.scaled(scale);
  s.watchdog = std::make_unique<Watchdog>(current_test_name(), s.bounds.test_timeout);

  if (const char* role = std::getenv(child_role_variable); role != nullptr && *role != '\0') {
    s.child_role = role;
    const char* dir = std::getenv(child_dir_variable);
    ASSERT_NE(dir, nullptr) << child_dir_variable << " is not set in a child caller";
    s.temp_dir = dir;
  } else {
    s.temp_dir = make_temp_dir();
    s.owns_temp_dir = true;
  }
  s.spill_dir = s.temp_dir / "spill";
  try {
    s.probe_dir = locate_probe_dir();
  } catch (const std::exception& e) {
    GTEST_FAIL() << e.what();
  }
  if (!s.child_role.empty()) return;

  // Marks every process this test's backends start (the variable passes the
  // default EXECKIT_ prefix), so the tracker finds escaped ones too.
  const std::string token_name = "EXECKIT_CONFORMANCE_TOKEN";
  const std::string token = random_hex(16);
  s.env.set(token_name, token);
  s.tracker = std::make_unique<ResourceTracker>(token_name, token);
  s.tracker->track_dir(s.spill_dir);

  RecordProperty("backend", backend_under_test().name);
  RecordProperty("time_scale", std::to_string(scale));
  RecordProperty("deadline_grace_ms", std::to_string(s.bounds.deadline_grace.count()));
  RecordProperty("pdeathsig_ms", std::to_string(s.bounds.pdeathsig.count()));
  RecordProperty("shutdown_nowait_ms", std::to_string(s.bounds.shutdown_nowait.count()));
}

void ConformanceFixture::TearDown() {
  auto& s = *state_;
  if (s.tracker) {
    for (const auto& problem : s.tracker->check_and_clean(s.bounds.condition_wait / 2)) {
      ADD_FAILURE() << "[resource tracker] " << problem;
    }
  }
  if (HasFailure()) {
    std::lock_guard lock(s.log->mutex);
    for (const auto& line : s.log->lines) std::cerr << "[backend log] " << line << "\n";
  }
  s.env.restore();
  if (s.owns_temp_dir) {
    std::error_code ec;
    std::filesystem::remove_all(s.temp_dir, ec);
  }
  s.watchdog.reset();
}

const TimeBounds& ConformanceFixture::bounds() const { return state_->bounds; }
const std::filesystem::path& ConformanceFixture::temp_dir() const { return state_->temp_dir; }
const std::filesystem::path& ConformanceFixture::spill_dir() const { return state_->spill_dir; }
const std::filesystem::path& ConformanceFixture::probe_dir() const { return state_->probe_dir; }

std::string ConformanceFixture::module_file(const std::string& name) const {
  return capabilities().task_language == Capabilities::TaskLanguage::python ? name + ".py" : "lib" + name + ".so";
}

std::string ConformanceFixture::runtime_error_type() const {
  return capabilities().task_language == Capabilities::TaskLanguage::python ? "RuntimeError" : "std::runtime_error";
}
const std::string& ConformanceFixture::child_role() const { return state_->child_role; }

WorkerConfig ConformanceFixture::config() const {
  WorkerConfig config;
  config.max_workers = 2;
  config.idle_timeout = std::chrono::seconds(60);
  config.spill_dir = state_->spill_dir;
  config.base_dir = state_->temp_dir;
  config.log = [sink = state_->log](std::string_view line) {
    std::lock_guard lock(sink->mutex);
    sink->lines.emplace_back(line);
  };
  return config;
}

std::unique_ptr<ExecutorBackend> ConformanceFixture::make_backend(const WorkerConfig& config) {
  const auto& name = backend_under_test().name;
  std::unique_ptr<ExecutorBackend> backend;
  try {
    backend = backend_under_test().make(config);
  } catch (const std::exception& e) {
    throw std::runtime_error("the factory of backend '" + name + "' threw: " + e.what());
  }
  if (!backend) throw std::runtime_error("the factory of backend '" + name + "' returned null");
  return backend;
}

LifecycleObservable* ConformanceFixture::hooks_of(ExecutorBackend& backend) {
  auto* hooks = dynamic_cast<LifecycleObservable*>(&backend);
  if ((hooks != nullptr) != capabilities().supports_lifecycle_hooks) {
    ADD_FAILURE() << "backend '" << backend_under_test().name << "' declares supports_lifecycle_hooks="
                  << capabilities().supports_lifecycle_hooks << " but "
                  << (hooks ? "is" : "is not") << " an execkit::LifecycleObservable";
  }
  return hooks;
}

std::vector<std::string> ConformanceFixture::log_lines() const {
  std::lock_guard lock(state_->log->mutex);
  return state_->log->lines;
}

Call ConformanceFixture::probe_call(std::string function, std::string_view input) const {
  Call call;
  call.module = probe_module_name;
  call.function = std::move(function);
  call.input = to_bytes(input);
  call.search_path = {state_->probe_dir};
  return call;
}

Deadline ConformanceFixture::call_deadline() const { return Deadline::after(state_->bounds.call_timeout); }

Outcome ConformanceFixture::run(ExecutorBackend& backend, const Call& call) { return run(backend, call, call_deadline()); }

Outcome ConformanceFixture::run(ExecutorBackend& backend, const Call& call, Deadline deadline) {
  return outcome_of([&] { return backend.execute(call, deadline); });
}

std::string ConformanceFixture::run_text(ExecutorBackend& backend, const Call& call) {
  auto outcome = run(backend, call);
  if (!outcome.ok()) {
    throw std::runtime_error("call " + call.module + "." + call.function + " was expected to succeed but ended with " +
                             describe(outcome));
  }
  return std::string(outcome.value().text());
}

void ConformanceFixture::track_spill_dir(const std::filesystem::path& dir) {
  if (state_->tracker) state_->tracker->track_dir(dir);
}

}  // namespace execkit::conformance

// The fixture every conformance test derives from: a fresh temp and spill
// directory per test, a factory wrapper, probe-call builders, condition waits,
// a watchdog, and a resource tracker that checks after EVERY test that nothing
// was left behind (worker processes, spill files, caller fds).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "execkit/backend.hpp"
#include "execkit/call.hpp"
#include "execkit/config.hpp"
#include "execkit/conformance/backend_under_test.hpp"
#include "execkit/lifecycle.hpp"
#include "execkit/outcome.hpp"

namespace execkit::conformance {

// Polls `done` (backing off from 1 ms to 10 ms) until it holds or `timeout`
// passes; returns its last value. A wait on a condition, never a fixed sleep.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

// Text for an Outcome in failure messages: "ok (N bytes)" or "<kind>: what()".
std::string describe(const Outcome& outcome);

class ConformanceFixture : public ::testing::Test {
 public:
  ConformanceFixture();
  ~ConformanceFixture() override;

 protected:
  void SetUp() override;
  void TearDown() override;

  virtual const BackendUnderTest& backend_under_test() const = 0;
  const Capabilities& capabilities() const { return backend_under_test().capabilities; }
  // The backend's bounds times EXECKIT_CONFORMANCE_TIME_SCALE.
  const TimeBounds& bounds() const;

  // Removed after the test.
  const std::filesystem::path& temp_dir() const;
  // The spill dir config() names (not created: the backend creates it).
  const std::filesystem::path& spill_dir() const;
  // Holds libexeckit_probe.so and the shadow_a/, shadow_b/, broken/ modules.
  const std::filesystem::path& probe_dir() const;
  // The file name of task module `name` in the backend's task language
  // ("libshadow.so", "shadow.py"; docs/probe.md).
  std::string module_file(const std::string& name) const;
  // The error type of a probe task that throws its language's runtime error
  // ("std::runtime_error", "RuntimeError").
  std::string runtime_error_type() const;

  // Small pool (2 workers), spill_dir(), base_dir temp_dir(), an idle timeout
  // no test outlives by accident, diagnostics captured (see log_lines()).
  WorkerConfig config() const;
  // The backend under test's factory; a factory that throws or returns null
  // throws a std::runtime_error naming the backend (the test fails with it).
  std::unique_ptr<ExecutorBackend> make_backend(const WorkerConfig& config);
  std::unique_ptr<ExecutorBackend> make_backend() { return make_backend(config()); }
  // The backend's LifecycleObservable face, or null. Records a failure when
  // that disagrees with Capabilities::supports_lifecycle_hooks.
  LifecycleObservable* hooks_of(ExecutorBackend& backend);
  // What config().log received so far.
  std::vector<std::string> log_lines() const;

  // A call of probe task `function` with the probe dir as search path.
  Call probe_call(std::string function, std::string_view input = {}) const;
  // Deadline for calls that must finish: now + bounds().call_timeout.
  Deadline call_deadline() const;
  // execute() with call_deadline(), the error captured.
  Outcome run(ExecutorBackend& backend, const Call& call);
  Outcome run(ExecutorBackend& backend, const Call& call, Deadline deadline);
  // execute() that must succeed: the result text; otherwise throws naming the error.
  std::string run_text(ExecutorBackend& backend, const Call& call);

  // Also checked to be empty after the test (e.g. a default spill dir).
  void track_spill_dir(const std::filesystem::path& dir);

  // A test that needs a caller it can SIGKILL re-runs its own binary,
  // filtered to itself, in a role. In that process this is the role ("" in
  // the normal run), temp_dir() is the parent's and no tracking happens.
  const std::string& child_role() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The fixture of the area suites: parameterised by the backend under test.
class ConformanceTest : public ConformanceFixture, public ::testing::WithParamInterface<BackendUnderTest> {
 protected:
  const BackendUnderTest& backend_under_test() const override { return GetParam(); }
};

// Skips the test, with the reason, when the backend lacks a capability.
#define EXECKIT_REQUIRE_CAPABILITY(capability)                                          \
  if (this->capabilities().capability) {                                                \
  } else                                                                                \
    GTEST_SKIP() << "backend '" << this->backend_under_test().name                     \
                 << "' does not declare Capabilities::" #capability                     \
                 << "; this clause cannot be observed without it"

}  // namespace execkit::conformance

// The system under test of the model-based test (MODEL): one backend, the
// calls made on it, and the invariants checked after every step. Every check
// fails through RapidCheck (RC_ASSERT/RC_FAIL), so a failing sequence shrinks.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "execkit/backend.hpp"
#include "execkit/conformance/backend_under_test.hpp"
#include "execkit/lifecycle.hpp"
#include "pending_call.hpp"
#include "proc.hpp"
#include "test_support.hpp"

namespace execkit::conformance::model {

// An env dump without EXECKIT_WORKER_ID and EXECKIT_NODE_ID, which differ
// per worker and node by design (ENV-6 checks them).
std::map<std::string, std::string> without_identity(std::map<std::string, std::string> env);

// A large result the test keeps alive: enough to recompute its bytes.
struct HeldResult {
  std::uint64_t size = 0;
  std::uint64_t seed = 0;
  friend bool operator==(const HeldResult&, const HeldResult&) = default;
};

// The model: what the test expects to hold beyond the outcome of each step
// (which each step predicts from its own parameters).
struct ModelState {
  std::vector<HeldResult> held;
};

// What one sequence needs from the fixture.
struct Context {
  std::string backend_name;
  Capabilities capabilities;
  TimeBounds bounds;
  WorkerConfig config;
  std::filesystem::path work_dir;  // the sequence's own directory, removed afterwards
  std::filesystem::path spill_dir;
  std::filesystem::path base_dir;
  std::filesystem::path probe_dir;
  std::function<std::unique_ptr<ExecutorBackend>(const WorkerConfig&)> make_backend;
  std::function<LifecycleObservable*(ExecutorBackend&)> hooks_of;
  std::function<std::vector<pid_t>(ExecutorBackend&)> service_processes;  // may be unset
};

// "ok" or the ErrorKind's name.
std::string kind_of(const Outcome& outcome);

class Harness {
 public:
  explicit Harness(Context context);
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;
  // Releases every gate and shuts the backend down, also after a failed check.
  ~Harness();

  const Context& context() const { return context_; }
  const Gates& gates() const { return gates_; }
  // Directories a step may chdir to or run in (they exist).
  const std::vector<std::filesystem::path>& directories() const { return directories_; }

  ExecutorBackend& backend() { return *backend_; }
  // What the first call saw, without EXECKIT_WORKER_ID: every call must see it again.
  const std::map<std::string, std::string>& base_env() const { return base_env_; }
  // Unique within the sequence (gate ids, counter files).
  std::string fresh_id() { return "s" + std::to_string(++ids_); }

  Call probe(std::string function, std::string_view input = {}) const;
  Deadline deadline() const;
  // How long a cancelled call or a queued call past its deadline may take to end.
  std::chrono::milliseconds prompt_end() const;
  // execute(), counted and tallied.
  Outcome run(const Call& call, Deadline deadline);
  Outcome run(const Call& call) { return run(call, deadline()); }
  // submit(); the call is kept so that exactly-once completion is checked to the end.
  std::shared_ptr<PendingCall> submit(const Call& call, Deadline deadline);
  // A call another thread submitted, counted and kept like submit()'s.
  void adopt(std::shared_ptr<PendingCall> call);
  // Waits for a submitted call's one completion and tallies it.
  Outcome await(const PendingCall& call);
  // The same, for a call that must end promptly (a cancel, a queued deadline).
  Outcome await_prompt(const PendingCall& call);

  void hold(Result result, HeldResult spec);
  // Checks the held result's bytes, then drops it.
  void release(std::size_t index);

  // The invariants every step must leave behind.
  void after_step(const ModelState& model);
  // Shuts down and checks that nothing is left: processes, fds, spill files.
  void finish();

 private:
  struct HookLog {
    std::mutex mutex;
    int submits = 0;
    std::map<std::string, int> completions;  // by kind
    int completions_with_metrics_on_abort = 0;  // timeout, cancel, crash must carry none
    int successes_without_metrics = 0;
  };

  void check_search_path_clean();
  void check_clean_environment_and_cwd();
  void check_hooks();
  void check_fds(std::size_t allowance);
  void check_workers();
  void check_spill_dir(const ModelState& model);
  void check_held_results(const char* when);
  Outcome await_within(const PendingCall& call, std::chrono::milliseconds timeout);
  std::vector<ProcStat> new_processes() const;

  Context context_;
  Gates gates_;
  std::vector<std::filesystem::path> directories_;
  std::set<ProcessIdentity> preexisting_;
  std::size_t fds_before_ = 0;
  std::unique_ptr<ExecutorBackend> backend_;
  std::shared_ptr<HookLog> hook_log_ = std::make_shared<HookLog>();
  std::vector<Subscription> subscriptions_;
  std::map<std::string, std::string> base_env_;
  std::string base_cwd_;
  std::vector<std::string> spill_baseline_;
  int calls_ = 0;
  int ids_ = 0;
  std::map<std::string, int> outcomes_;  // by kind, as the caller saw them
  std::vector<std::shared_ptr<PendingCall>> submitted_;
  std::vector<std::pair<Result, HeldResult>> held_;
  bool finished_ = false;
};

}  // namespace execkit::conformance::model

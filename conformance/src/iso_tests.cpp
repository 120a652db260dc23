// ISO: per-call isolation on a reused worker (CONTRACT.md, ISO-1..ISO-8).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <sstream>

#include "execkit/conformance/suite.hpp"
#include "pending_call.hpp"
#include "probe_locator.hpp"
#include "proc.hpp"
#include "test_support.hpp"

namespace execkit::conformance {
namespace {

Call module_call(std::string module, std::string function, std::vector<std::filesystem::path> search_path) {
  Call call;
  call.module = std::move(module);
  call.function = std::move(function);
  call.search_path = std::move(search_path);
  return call;
}

// Changes the test process's cwd for a while (backends capture it at creation).
class ScopedCwd {
 public:
  explicit ScopedCwd(const std::filesystem::path& dir) : saved_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~ScopedCwd() { std::filesystem::current_path(saved_); }

 private:
  std::filesystem::path saved_;
};

// The caller's own signal state, disturbed for a while and then restored:
// a worker must not inherit ignored dispositions or a blocked mask from it.
class DisturbedCallerSignals {
 public:
  DisturbedCallerSignals() {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    for (int number : ignored_) ::sigaction(number, &ignore, &saved_actions_[number]);
    sigset_t block;
    ::sigemptyset(&block);
    for (int number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE}) ::sigaddset(&block, number);
    ::pthread_sigmask(SIG_BLOCK, &block, &saved_mask_);
  }
  ~DisturbedCallerSignals() {
    for (int number : ignored_) ::sigaction(number, &saved_actions_[number], nullptr);
    ::pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
  }

 private:
  static constexpr int ignored_[] = {SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  struct sigaction saved_actions_[NSIG] {};
  sigset_t saved_mask_{};
};

// "SIGINT default 0" lines -> name -> "default 0"
std::map<std::string, std::string> parse_signals(std::string_view text) {
  std::map<std::string, std::string> out;
  std::istringstream lines{std::string(text)};
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.find(' ');
    if (space != std::string::npos) out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

void expect_default_signal_state(const std::map<std::string, std::string>& state, const std::string& when) {
  for (const auto* name : {"SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCHLD"}) {
    auto it = state.find(name);
    ASSERT_NE(it, state.end()) << "the signals probe did not report " << name;
    EXPECT_EQ(it->second, "default 0") << name << " is not at its default disposition and unblocked " << when;
  }
  EXPECT_EQ(state.count("blocked_count") ? state.at("blocked_count") : "?", "0")
      << "the task's signal mask is not empty " << when;
}

void expect_documented_sigpipe(const Capabilities& capabilities, const std::map<std::string, std::string>& state) {
  const auto disposition = state.count("SIGPIPE") ? state.at("SIGPIPE").substr(0, state.at("SIGPIPE").find(' ')) : "?";
  if (capabilities.task_sigpipe == Capabilities::Sigpipe::default_action) {
    EXPECT_EQ(disposition, "default") << "the backend documents SIGPIPE at its default action";
  } else if (capabilities.task_sigpipe == Capabilities::Sigpipe::ignored) {
    EXPECT_EQ(disposition, "ignore") << "the backend documents SIGPIPE ignored";
  }
}

std::map<std::string, std::string> parse_limits(std::string_view text) {
  std::map<std::string, std::string> out;
  std::istringstream lines{std::string(text)};
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.find(' ');
    if (space != std::string::npos) out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

// "<soft> <hard>" -> soft / hard as numbers (inf -> max)
std::pair<unsigned long long, unsigned long long> limit_pair(const std::string& text) {
  auto to_value = [](const std::string& word) { return word == "inf" ? ~0ULL : std::stoull(word); };
  const auto space = text.find(' ');
  return {to_value(text.substr(0, space)), to_value(text.substr(space + 1))};
}

void expect_error_naming(const Outcome& outcome, const std::string& name, const std::string& what) {
  ASSERT_FALSE(outcome.ok()) << what << " succeeded";
  EXPECT_EQ(outcome.error_as<WorkerCrashed>(), nullptr) << what << " must not crash the worker: " << describe(outcome);
  EXPECT_NE(std::string(outcome.error()->what()).find(name), std::string::npos)
      << "the error for " << what << " does not name '" << name << "': " << outcome.error()->what();
}

// With worker reuse, the call after a failure still meets the same worker.
void expect_worker_survived(const Capabilities& capabilities, const TaskIdentity& before, const TaskIdentity& after,
                            const std::string& message) {
  if (capabilities.supports_worker_reuse) {
    EXPECT_EQ(after.pid, before.pid) << message;
  }
}

}  // namespace

TEST_P(Iso, ISO_1_TaskChdirDoesNotChangeNextCallsCwd) {
  auto backend = make_backend(single_worker(config()));
  const auto elsewhere = make_dir(temp_dir(), "elsewhere");
  const auto base = run_text(*backend, probe_call("cwd"));
  if (capabilities().task_context_from_caller) {
    EXPECT_EQ(std::filesystem::path(base), temp_dir()) << "calls without cwd must run in WorkerConfig::base_dir";
  }
  run_text(*backend, probe_call("chdir", elsewhere.string()));
  EXPECT_EQ(run_text(*backend, probe_call("cwd")), base) << "a task's chdir leaked into the next call";
}

TEST_P(Iso, ISO_1_CallCwdAppliesToThatCallOnly) {
  auto backend = make_backend(single_worker(config()));
  const auto there = make_dir(temp_dir(), "call-cwd");
  // The base dir: WorkerConfig::base_dir, or what a first call shows when the node sets it.
  const auto base = capabilities().task_context_from_caller ? temp_dir().string() : run_text(*backend, probe_call("cwd"));
  auto call = probe_call("cwd");
  call.cwd = there;
  EXPECT_EQ(run_text(*backend, call), there.string()) << "the call did not run in its cwd";
  EXPECT_EQ(run_text(*backend, probe_call("cwd")), base) << "a call's cwd leaked into the next call";
}

TEST_P(Iso, ISO_1_DefaultBaseDirIsCallersCwdAtCreation) {
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  const auto callers = make_dir(temp_dir(), "callers-cwd");
  auto cfg = config();
  cfg.base_dir.clear();
  std::unique_ptr<ExecutorBackend> backend;
  {
    ScopedCwd cwd(callers);
    backend = make_backend(cfg);
    EXPECT_EQ(run_text(*backend, probe_call("cwd")), callers.string());
  }
  EXPECT_EQ(run_text(*backend, probe_call("cwd")), callers.string())
      << "the base dir must be the caller's cwd when the backend was created, not its cwd now";
}

TEST_P(Iso, ISO_2_ModuleIsFoundAlongTheCallsSearchPath) {
  auto backend = make_backend(single_worker(config()));
  const auto a = probe_dir() / "shadow_a";
  const auto b = probe_dir() / "shadow_b";
  const auto empty = make_dir(temp_dir(), "no-modules-here");
  EXPECT_EQ(run_text(*backend, module_call("shadow", "variant", {a})), "a");
  EXPECT_EQ(run_text(*backend, module_call("shadow", "variant", {empty, b})), "b") << "later search-path entries must be searched";
  EXPECT_EQ(run_text(*backend, module_call("shadow", "variant", {b, a})), "b") << "the search path must be searched in order";
}

TEST_P(Iso, ISO_2_SearchPathDoesNotLeakIntoNextCall) {
  auto backend = make_backend(single_worker(config()));
  EXPECT_EQ(run_text(*backend, module_call("shadow", "variant", {probe_dir() / "shadow_a"})), "a");
  auto without = run(*backend, module_call("shadow", "variant", {probe_dir()}));
  EXPECT_FALSE(without.ok()) << "module 'shadow' was found through an earlier call's search path: " << describe(without);
  auto empty = run(*backend, module_call("shadow", "variant", {}));
  EXPECT_FALSE(empty.ok()) << "module 'shadow' was found with an empty search path: " << describe(empty);
}

TEST_P(Iso, ISO_3_SameModuleNameThroughDifferentPathsRunsItsOwnCopy) {
  auto backend = make_backend(single_worker(config()));
  const auto a = probe_dir() / "shadow_a";
  const auto b = probe_dir() / "shadow_b";
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(run_text(*backend, module_call("shadow", "variant", {a})), "a") << "round " << round;
    EXPECT_EQ(run_text(*backend, module_call("shadow", "variant", {b})), "b") << "round " << round;
  }
  EXPECT_EQ(run_text(*backend, module_call((a / module_file("shadow")).string(), "variant", {})), "a") << "module given as a path";
  EXPECT_EQ(run_text(*backend, module_call((b / module_file("shadow")).string(), "variant", {})), "b") << "module given as a path";
}

TEST_P(Iso, ISO_4_FirstTaskHasDefaultSignalStateWhateverTheCallerHas) {
  DisturbedCallerSignals disturbed;
  auto backend = make_backend(single_worker(config()));
  expect_default_signal_state(parse_signals(run_text(*backend, probe_call("signals"))),
                              "although only the caller ignores or blocks signals");
}

TEST_P(Iso, ISO_4_SignalChangesDoNotLeakIntoNextCall) {
  auto backend = make_backend(single_worker(config()));
  const auto before = parse_signals(run_text(*backend, probe_call("signals")));
  expect_default_signal_state(before, "in the first call");
  expect_documented_sigpipe(capabilities(), before);
  run_text(*backend, probe_call("disturb_signals"));
  const auto after = parse_signals(run_text(*backend, probe_call("signals")));
  expect_default_signal_state(after, "after a task changed dispositions and the mask");
  EXPECT_EQ(after.count("SIGPIPE") ? after.at("SIGPIPE") : "?", before.count("SIGPIPE") ? before.at("SIGPIPE") : "?")
      << "a task's SIGPIPE change leaked into the next call";
}

// ISO-4 (timers, pending signals): what a task armed or left pending must
// not reach the next call. A leaked CPU timer would kill the worker while the
// next call burns CPU: a crash blamed on the wrong call.
constexpr auto cpu_burn_after_timer = "200";

TEST_P(Iso, ISO_4_IntervalTimersDoNotLeakIntoNextCall) {
  for (const std::string kind : {"virtual", "prof", "real"}) {
    auto backend = make_backend(single_worker(config()));
    run_text(*backend, probe_call("echo"));
    ASSERT_EQ(run_text(*backend, probe_call("arm_timer", kind)), "-");
    const auto burn = run(*backend, probe_call("burn_cpu_ms", cpu_burn_after_timer));
    EXPECT_TRUE(succeeded(burn)) << "the call after a task armed ITIMER_" << kind
                                 << " did not complete normally: " << describe(burn);
    const auto state = run_text(*backend, probe_call("timer_state", "-"));
    EXPECT_NE(state.find(kind + " off"), std::string::npos)
        << "the interval timer ITIMER_" << kind << " a task armed reached a later call:\n" << state;
  }
}

TEST_P(Iso, ISO_4_PosixTimersDoNotLeakIntoNextCall) {
  for (const std::string kind : {"posix_cpu", "posix_wall"}) {
    auto backend = make_backend(single_worker(config()));
    run_text(*backend, probe_call("echo"));
    const auto id = run_text(*backend, probe_call("arm_timer", kind));
    const auto burn = run(*backend, probe_call("burn_cpu_ms", cpu_burn_after_timer));
    EXPECT_TRUE(succeeded(burn)) << "the call after a task armed a " << kind
                                 << " timer (timer_create) did not complete normally: " << describe(burn);
    const auto state = run_text(*backend, probe_call("timer_state", id));
    EXPECT_EQ(state.find("posix armed"), std::string::npos)
        << "the " << kind << " timer " << id << " a task created reached a later call:\n" << state;
  }
}

TEST_P(Iso, ISO_4_SignalsLeftPendingDoNotReachNextCall) {
  auto backend = make_backend(single_worker(config()));
  // Repeated: a signal delivered while the worker restores would kill it
  // just as the next request arrives, sometimes.
  for (int round = 0; round < 5; ++round) {
    run_text(*backend, probe_call("leave_pending"));
    const auto pending = run(*backend, probe_call("pending_signals"));
    ASSERT_TRUE(succeeded(pending)) << "the call after a task left SIGUSR1 and SIGUSR2 pending and blocked";
    EXPECT_EQ(text_of(pending), "") << "signals a task left pending reached a later call (round " << round << ")";
    const auto after = parse_signals(run_text(*backend, probe_call("signals")));
    expect_default_signal_state(after, "after a task left signals pending");
  }
}

TEST_P(Iso, ISO_5_UmaskDoesNotLeakIntoNextCall) {
  auto backend = make_backend(single_worker(config()));
  const auto base = run_text(*backend, probe_call("umask"));
  run_text(*backend, probe_call("set_umask", base == "77" ? "27" : "77"));
  EXPECT_EQ(run_text(*backend, probe_call("umask")), base) << "a task's umask leaked into the next call";
}

TEST_P(Iso, ISO_5_SoftLimitsDoNotLeakIntoNextCall) {
  auto backend = make_backend(single_worker(config()));
  const auto base = parse_limits(run_text(*backend, probe_call("rlimits")));
  ASSERT_GT(limit_pair(base.at("NOFILE")).first, 80u);
  run_text(*backend, probe_call("set_soft_rlimit", "NOFILE,77"));
  if (limit_pair(base.at("FSIZE")).second > (1u << 20)) run_text(*backend, probe_call("set_soft_rlimit", "FSIZE,1048576"));
  const auto [core_soft, core_hard] = limit_pair(base.at("CORE"));
  run_text(*backend, probe_call("set_soft_rlimit", core_soft == 0 ? "CORE," + std::to_string(std::min(core_hard, 4096ULL))
                                                                   : std::string("CORE,0")));
  EXPECT_EQ(parse_limits(run_text(*backend, probe_call("rlimits"))), base) << "a task's soft limits leaked into the next call";
}

TEST_P(Iso, ISO_5_LoweredHardLimitDoesNotReachNextCall) {
  auto backend = make_backend(single_worker(config()));
  const auto base = parse_limits(run_text(*backend, probe_call("rlimits")));
  const auto [soft, hard] = limit_pair(base.at("NOFILE"));
  ASSERT_GT(hard, 64u);
  run_text(*backend, probe_call("lower_hard_rlimit", "NOFILE," + std::to_string(std::min(soft, hard) / 2)));
  EXPECT_EQ(parse_limits(run_text(*backend, probe_call("rlimits"))), base)
      << "a lowered hard limit reached the next call: the worker must be retired";
}

TEST_P(Iso, ISO_5_ChangedCredentialsRetireTheWorker) {
  if (::geteuid() != 0) GTEST_SKIP() << "changing credentials needs root (CAP_SETUID, CAP_SETGID); the suite runs unprivileged";
  // Each kind alone: a backend that compares only the real uid misses the others.
  for (const std::string kind : {"groups", "gid", "euid", "all"}) {
    auto backend = make_backend(single_worker(config()));
    const auto before = parse_identity(run_text(*backend, probe_call("identity")));
    const auto base = run_text(*backend, probe_call("credentials"));
    const auto changed = run(*backend, probe_call("change_credentials", kind));
    EXPECT_TRUE(succeeded(changed)) << "the call that changed its " << kind << " must still get its own outcome";
    EXPECT_EQ(run_text(*backend, probe_call("credentials")), base)
        << "a task's changed credentials (" << kind << ") reached the next call";
    const auto after = parse_identity(run_text(*backend, probe_call("identity")));
    EXPECT_NE(after.worker_id, before.worker_id)
        << "a worker whose task changed its " << kind << " must be retired, not reused";
  }
}

TEST_P(Iso, ISO_6_CrashIsAStructuredErrorNamingTheSignal) {
  auto backend = make_backend();
  const std::vector<std::tuple<std::string, std::string, int>> crashes{
      {"call_abort", "", SIGABRT}, {"segfault", "", SIGSEGV}, {"crash_signal", std::to_string(SIGKILL), SIGKILL}};
  for (const auto& [function, input, signal] : crashes) {
    const auto outcome = run(*backend, probe_call(function, input));
    ASSERT_TRUE(ended_with<WorkerCrashed>(outcome)) << function;
    const auto* crash = outcome.error_as<WorkerCrashed>();
    EXPECT_EQ(crash->term_signal(), std::optional<int>(signal)) << function << ": " << crash->what();
    EXPECT_FALSE(crash->exit_status().has_value()) << function;
    const std::string text = crash->what();
    EXPECT_TRUE(text.find(std::to_string(signal)) != std::string::npos || text.find(::sigabbrev_np(signal)) != std::string::npos)
        << "the error text names neither the signal number nor its name: " << text;
    EXPECT_EQ(run_text(*backend, probe_call("echo", "still serving")), "still serving") << "after " << function;
  }
}

TEST_P(Iso, ISO_6_ExitIsAStructuredErrorNamingTheStatus) {
  auto backend = make_backend();
  const std::vector<std::tuple<std::string, std::string, int>> exits{
      {"call_exit", "3", 3}, {"exit_code", "7", 7}, {"exit_code", "0", 0}};
  for (const auto& [function, input, status] : exits) {
    const auto outcome = run(*backend, probe_call(function, input));
    ASSERT_TRUE(ended_with<WorkerCrashed>(outcome)) << function << "(" << input << ") must fail its call";
    const auto* crash = outcome.error_as<WorkerCrashed>();
    EXPECT_EQ(crash->exit_status(), std::optional<int>(status)) << function << ": " << crash->what();
    EXPECT_FALSE(crash->term_signal().has_value()) << function;
    EXPECT_NE(std::string(crash->what()).find(std::to_string(status)), std::string::npos)
        << "the error text does not name exit status " << status << ": " << crash->what();
    EXPECT_EQ(run_text(*backend, probe_call("echo", "still serving")), "still serving") << "after " << function;
  }
}

TEST_P(Iso, ISO_6_CrashFailsOnlyItsOwnCall) {
  auto backend = make_backend();  // two workers
  Gates gates(temp_dir() / "gates");
  PendingCall bystander(*backend, probe_call("gate", gates.input("bystander")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return gates.started("bystander"); }, bounds().condition_wait));
  EXPECT_TRUE(ended_with<WorkerCrashed>(run(*backend, probe_call("call_abort"))));
  EXPECT_TRUE(ended_with<WorkerCrashed>(run(*backend, probe_call("segfault"))));
  gates.release("bystander");
  auto outcome = bystander.wait(bounds().call_timeout);
  ASSERT_TRUE(outcome.has_value()) << "the in-flight call never finished";
  EXPECT_TRUE(succeeded(*outcome)) << "another call's crash affected an in-flight call";
  EXPECT_EQ(run_text(*backend, probe_call("echo", "later")), "later");
}

TEST_P(Iso, ISO_7_ModuleStateStaysWithItsModuleFile) {
  auto backend = make_backend(single_worker(config()));
  EXPECT_EQ(run_text(*backend, module_call("shadow", "state", {probe_dir() / "shadow_a"})), "a:1");
  EXPECT_EQ(run_text(*backend, module_call("shadow", "state", {probe_dir() / "shadow_b"})), "b:1")
      << "a call loading another module file saw the previous module's state";
  // The same bytes under the same name, in another file: a module of its own.
  const auto copy_dir = make_dir(temp_dir(), "probe-copy");
  std::filesystem::copy_file(probe_dir() / module_file(probe_module_name), copy_dir / module_file(probe_module_name));
  run_text(*backend, probe_call("module_state"));
  auto from_copy = probe_call("module_state");
  from_copy.search_path = {copy_dir};
  EXPECT_EQ(run_text(*backend, from_copy), "1") << "a copy of the probe module at another path shared the original's state";
}

TEST_P(Iso, ISO_7_MissingModuleIsAStructuredErrorAndWorkerSurvives) {
  auto backend = make_backend(single_worker(config()));
  const auto before = parse_identity(run_text(*backend, probe_call("identity")));
  expect_error_naming(run(*backend, module_call("execkit_no_such_module", "echo", {probe_dir()})), "execkit_no_such_module",
                      "a missing module");
  const auto after = parse_identity(run_text(*backend, probe_call("identity")));
  expect_worker_survived(capabilities(), before, after, "the worker did not survive a missing module");
}

TEST_P(Iso, ISO_7_MissingFunctionIsAStructuredErrorAndWorkerSurvives) {
  auto backend = make_backend(single_worker(config()));
  const auto before = parse_identity(run_text(*backend, probe_call("identity")));
  expect_error_naming(run(*backend, probe_call("no_such_task")), "no_such_task", "a missing function");
  const auto after = parse_identity(run_text(*backend, probe_call("identity")));
  expect_worker_survived(capabilities(), before, after, "the worker did not survive a missing function");
}

TEST_P(Iso, ISO_7_ModuleThatFailsToLoadIsAStructuredErrorAndWorkerSurvives) {
  auto backend = make_backend(single_worker(config()));
  const auto before = parse_identity(run_text(*backend, probe_call("identity")));
  const auto garbage_dir = make_dir(temp_dir(), "garbage");
  write_file(garbage_dir / module_file("garbage"), "this is not an ELF file\n");
  expect_error_naming(run(*backend, module_call("garbage", "echo", {garbage_dir})), "garbage", "a module that is not ELF");
  expect_error_naming(run(*backend, module_call("unresolved", "use_missing", {probe_dir() / "broken"})), "unresolved",
                      "a module with an undefined symbol");
  const auto after = parse_identity(run_text(*backend, probe_call("identity")));
  expect_worker_survived(capabilities(), before, after, "the worker did not survive a module load failure");
}

TEST_P(Iso, ISO_8_LeftoverThreadCannotReachNextCall) {
  auto backend = make_backend(single_worker(config()));
  const auto before = parse_identity(run_text(*backend, probe_call("identity")));
  run_text(*backend, probe_call("leave_thread"));
  const auto threads = run_text(*backend, probe_call("threads"));
  EXPECT_EQ(threads.find("ek-leftover"), std::string::npos) << "the previous task's thread is still running in this call's process";
  const auto after = parse_identity(run_text(*backend, probe_call("identity")));
  if (capabilities().has_local_process_workers && after.pid != before.pid) {
    auto old = identify(before.pid);
    EXPECT_TRUE(!old || wait_until([&] { return has_exited(*old); }, bounds().condition_wait))
        << "the retired worker (pid " << before.pid << ") with the leftover thread is still running";
  }
}

TEST_P(Iso, ISO_8_LeftoverChildCannotReachNextCall) {
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  auto backend = make_backend(single_worker(config()));
  const auto child_pid = static_cast<pid_t>(std::stol(run_text(*backend, probe_call("leave_child", (temp_dir() / "child.pid").string()))));
  const auto child = identify(child_pid);
  const auto next = run(*backend, probe_call("echo", "next"), Deadline::after(bounds().condition_wait));
  EXPECT_TRUE(succeeded(next)) << "a leftover child holding stdout/stderr disturbed the next call";
  EXPECT_TRUE(!child || wait_until([&] { return has_exited(*child); }, bounds().deadline_grace))
      << "the previous task's child (pid " << child_pid << ") is still running after the next call";
}

}  // namespace execkit::conformance

// LIFE: workers and the pool (CONTRACT.md, LIFE-1..LIFE-9).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "child_caller.hpp"
#include "execkit/conformance/suite.hpp"
#include "pending_call.hpp"
#include "proc.hpp"
#include "test_support.hpp"

namespace execkit::conformance {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Processes below this one that were not there before, but for `service` ones.
std::vector<ProcStat> new_descendants(const std::set<ProcessIdentity>& before, const std::vector<pid_t>& service = {}) {
  return new_descendants_of(::getpid(), before, service);
}

std::set<ProcessIdentity> current_descendants() {
  std::set<ProcessIdentity> out;
  for (const auto& process : descendants_of(::getpid())) out.insert({process.pid, process.start_time});
  return out;
}

// Runs two calls at once so that two workers exist; returns their identities.
std::pair<TaskIdentity, TaskIdentity> start_two_workers(ExecutorBackend& backend, const Call& first, const Call& second,
                                                        milliseconds timeout) {
  PendingCall a(backend, first, Deadline::after(timeout));
  PendingCall b(backend, second, Deadline::after(timeout));
  const auto outcome_a = a.wait(timeout);
  const auto outcome_b = b.wait(timeout);
  if (!outcome_a || !outcome_b || !outcome_a->ok() || !outcome_b->ok()) {
    throw std::runtime_error("two concurrent rendezvous calls did not both succeed");
  }
  return {parse_identity(text_of(*outcome_a)), parse_identity(text_of(*outcome_b))};
}

// clone3's arguments (CLONE_ARGS_SIZE_VER2), spelled out to avoid the
// <linux/sched.h> / <sched.h> clash.
struct CloneArgs {
  std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

// A child of ours that takes over `pid` (clone3 with set_tid; needs
// CAP_SYS_ADMIN) and echoes every byte it is sent until killed.
class PidSquatter {
 public:
  explicit PidSquatter(pid_t pid) {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
      error_ = errno;
      return;
    }
    pid_t wanted = pid;
    CloneArgs args{};
    args.exit_signal = SIGCHLD;
    args.set_tid = reinterpret_cast<std::uintptr_t>(&wanted);
    args.set_tid_size = 1;
    const long rc = ::syscall(SYS_clone3, &args, sizeof args);
    if (rc == 0) {
      ::close(ends[0]);
      char byte = 0;
      while (::read(ends[1], &byte, 1) == 1) {
        if (::write(ends[1], &byte, 1) != 1) break;
      }
      ::_exit(0);
    }
    error_ = rc < 0 ? errno : 0;
    ::close(ends[1]);
    if (rc > 0) {
      pid_ = static_cast<pid_t>(rc);
      channel_ = ends[0];
    } else {
      ::close(ends[0]);
    }
  }
  PidSquatter(const PidSquatter&) = delete;
  PidSquatter& operator=(const PidSquatter&) = delete;
  ~PidSquatter() {
    if (pid_ <= 0) return;
    ::close(channel_);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  bool ok() const { return pid_ > 0; }
  int error() const { return error_; }
  // Whether it still answers. Looking at its state instead would race a
  // SIGKILL sent just before: the process dies only once it is scheduled.
  // A process already sent SIGKILL never runs user code again, so it cannot
  // answer; its end of the channel closes when it dies.
  bool alive(std::chrono::milliseconds timeout) const {
    char byte = 'p';
    if (::send(channel_, &byte, 1, MSG_NOSIGNAL) != 1) return false;
    pollfd answer{channel_, POLLIN, 0};
    if (::poll(&answer, 1, static_cast<int>(timeout.count())) != 1) return false;
    return ::recv(channel_, &byte, 1, 0) == 1;
  }

 private:
  pid_t pid_ = -1;
  int channel_ = -1;
  int error_ = 0;
};

// Whether an fds probe listing ("<fd> <target>" lines) has `fd`.
bool lists_fd(const std::string& listing, int fd) {
  const auto prefix = std::to_string(fd) + " ";
  std::istringstream lines(listing);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(prefix)) return true;
  }
  return false;
}

// Average time of `rounds` crash-and-respawn cycles.
milliseconds respawn_time(ExecutorBackend& backend, const Call& crash, const Call& probe, int rounds,
                          milliseconds deadline) {
  const auto start = steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    outcome_of([&] { return backend.execute(crash, Deadline::after(deadline)); });
    backend.execute(probe, Deadline::after(deadline));
  }
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start) / rounds;
}

}  // namespace

TEST_P(Life, LIFE_1_WorkersStartLazily) {
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  const auto before = current_descendants();
  auto backend = make_backend();
  const auto service = backend_under_test().service_processes ? backend_under_test().service_processes(*backend)
                                                              : std::vector<pid_t>{};
  EXPECT_FALSE(wait_until([&] { return !new_descendants(before, service).empty(); }, bounds().deadline_grace))
      << "a worker started before the first call: " << describe_process(new_descendants(before, service).front());
  const auto identity = parse_identity(run_text(*backend, probe_call("identity")));
  const auto started = new_descendants(before);
  // Without reuse the worker ended with its call; only a kept one can be looked up.
  if (capabilities().supports_worker_reuse) {
    EXPECT_TRUE(std::any_of(started.begin(), started.end(), [&](const ProcStat& p) { return p.pid == identity.pid; }))
        << "the worker that ran the first call (pid " << identity.pid << ") is not a child of the caller";
  }
}

TEST_P(Life, LIFE_1_SequentialCallsReuseTheWorker) {
  EXECKIT_REQUIRE_CAPABILITY(supports_worker_reuse);
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  const auto first = parse_identity(run_text(*backend, probe_call("identity")));
  for (int i = 0; i < 4; ++i) {
    const auto outcome = run(*backend, probe_call("identity"));
    ASSERT_TRUE(succeeded(outcome));
    const auto next = parse_identity(text_of(outcome));
    EXPECT_EQ(next.pid, first.pid) << "call " << i + 2 << " ran in another worker process";
    EXPECT_EQ(next.worker_id, first.worker_id) << "call " << i + 2 << " ran on another worker";
    EXPECT_EQ(outcome.value().metrics().worker_pid, first.pid);
  }
}

TEST_P(Life, LIFE_2_AtMostMaxWorkersTasksRunAtOnce) {
  auto cfg = config();
  cfg.max_workers = 2;
  auto backend = make_backend(cfg);
  Gates gates(temp_dir() / "gates");
  std::vector<std::unique_ptr<PendingCall>> calls;
  const std::vector<std::string> ids{"0", "1", "2", "3", "4"};
  for (const auto& id : ids) calls.push_back(std::make_unique<PendingCall>(*backend, probe_call("gate", gates.input(id)), call_deadline()));
  ASSERT_TRUE(wait_until([&] { return gates.started_count() == 2; }, bounds().condition_wait)) << "two calls never ran at once";
  EXPECT_FALSE(wait_until([&] { return gates.started_count() > 2; }, bounds().deadline_grace))
      << "more than max_workers=2 tasks started at once";
  std::set<std::string> released;
  while (released.size() < ids.size()) {
    const auto running = gates.started_count() - gates.finished_count();
    EXPECT_LE(running, 2u) << "more than max_workers=2 tasks run at once";
    std::string next;
    for (const auto& id : ids) {
      if (gates.started(id) && released.count(id) == 0) {
        next = id;
        break;
      }
    }
    ASSERT_FALSE(next.empty()) << "no started call left to release; started " << gates.started_count();
    gates.release(next);
    released.insert(next);
    ASSERT_TRUE(wait_until([&] { return gates.finished(next); }, bounds().condition_wait));
    const auto expected_started = std::min(ids.size(), released.size() + 2);
    ASSERT_TRUE(wait_until([&] { return gates.started_count() >= expected_started; }, bounds().condition_wait))
        << "a queued call did not start when a worker became free";
  }
  for (auto& call : calls) {
    const auto outcome = call->wait(bounds().call_timeout);
    ASSERT_TRUE(outcome.has_value());
    EXPECT_TRUE(succeeded(*outcome));
  }
}

TEST_P(Life, LIFE_3_IdleWorkersExitAfterIdleTimeout) {
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  EXECKIT_REQUIRE_CAPABILITY(supports_worker_reuse);  // no reuse: no worker ever idles
  auto cfg = config();
  cfg.idle_timeout = bounds().deadline_grace * 2;
  auto backend = make_backend(cfg);
  const auto identity = parse_identity(run_text(*backend, probe_call("identity")));
  const auto worker = identify(identity.pid);
  ASSERT_TRUE(worker && is_running(*worker)) << "the worker exited at once instead of idling";
  const auto idle_since = steady_clock::now();
  EXPECT_TRUE(wait_until([&] { return is_reaped(*worker); }, cfg.idle_timeout + bounds().condition_wait))
      << "the idle worker (pid " << identity.pid << ") did not exit and get reaped after idle_timeout="
      << cfg.idle_timeout.count() << " ms";
  EXPECT_GE(elapsed_ms(idle_since), cfg.idle_timeout.count() / 2) << "the worker exited long before idle_timeout";
  const auto next = parse_identity(run_text(*backend, probe_call("identity")));
  EXPECT_NE(next.pid, identity.pid);
}

TEST_P(Life, LIFE_4_WorkersDieWithTheCaller) {
  if (child_role() == "pdeathsig_caller") {
    auto cfg = config();
    cfg.spill_dir = temp_dir() / "dead-caller-spill";  // its lock file stays behind: no backend starts there again
    auto backend = make_backend(cfg);
    const auto dir = make_dir(temp_dir(), "caller-rendezvous");
    const auto [a, b] = start_two_workers(*backend, probe_call("rendezvous", dir.string() + ",2"),
                                          probe_call("rendezvous", dir.string() + ",2"), bounds().call_timeout);
    Gates gates(temp_dir() / "caller-gates");
    PendingCall busy(*backend, probe_call("gate", gates.input("busy")), call_deadline());
    if (!wait_until([&] { return gates.started("busy"); }, bounds().condition_wait)) std::abort();
    report_to_parent_and_wait(std::to_string(a.pid) + " " + std::to_string(b.pid));
  }
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  EXECKIT_REQUIRE_CAPABILITY(supports_pdeathsig);
  EXECKIT_REQUIRE_CAPABILITY(supports_worker_reuse);  // observes the caller's idle workers
  ChildCaller caller("pdeathsig_caller", temp_dir());
  std::istringstream report(caller.read_report(bounds().condition_wait));
  pid_t first = 0, second = 0;
  report >> first >> second;
  const auto a = identify(first);
  const auto b = identify(second);
  ASSERT_TRUE(a && b) << "the caller's workers " << first << ", " << second << " are not running";
  caller.kill_and_reap();
  const auto killed_at = steady_clock::now();
  EXPECT_TRUE(wait_until([&] { return has_exited(*a) && has_exited(*b); }, bounds().pdeathsig))
      << "the workers of a SIGKILLed caller still run " << elapsed_ms(killed_at) << " ms later (bound "
      << bounds().pdeathsig.count() << " ms)";
}

TEST_P(Life, LIFE_4_PdeathsigCanBeDisabled) {
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  EXECKIT_REQUIRE_CAPABILITY(supports_pdeathsig);
  auto cfg = config();
  cfg.enable_pdeathsig = false;
  auto backend = make_backend(cfg);
  EXPECT_EQ(run_text(*backend, probe_call("pdeathsig")), "0")
      << "with enable_pdeathsig=false the task's process still has a parent-death signal";
}

TEST_P(Life, LIFE_4_WorkersSurviveTheExitOfTheThreadThatStartedThem) {
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  EXECKIT_REQUIRE_CAPABILITY(supports_worker_reuse);  // observes the worker after its call
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  std::optional<Outcome> first;
  std::thread starter([&] { first = run(*backend, probe_call("identity")); });
  starter.join();
  ASSERT_TRUE(first.has_value() && succeeded(*first));
  const auto started = parse_identity(text_of(*first));
  const auto worker = identify(started.pid);
  ASSERT_TRUE(worker.has_value()) << "the worker died right after the thread that started it exited";
  EXPECT_FALSE(wait_until([&] { return has_exited(*worker); }, bounds().deadline_grace))
      << "the worker died when the caller thread that started it exited (PDEATHSIG is per thread)";
  const auto next = parse_identity(run_text(*backend, probe_call("identity")));
  if (capabilities().supports_worker_reuse) {
    EXPECT_EQ(next.pid, started.pid) << "the worker started by an exited thread was not reused";
  }
}

TEST_P(Life, LIFE_5_ShutdownWaitReapsWorkersAndCleansSpill) {
  auto backend = make_backend();
  const auto dir = make_dir(temp_dir(), "rendezvous");
  const auto [a, b] = start_two_workers(*backend, probe_call("rendezvous", dir.string() + ",2"),
                                        probe_call("rendezvous", dir.string() + ",2"), bounds().call_timeout);
  const auto baseline = list_dir(spill_dir());
  const auto marker = temp_dir() / "written";
  PendingCall in_flight(*backend, probe_call("write_then", "4194304,hang," + marker.string()), call_deadline());
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(marker); }, bounds().condition_wait));
  const auto wa = identify(a.pid);
  const auto wb = identify(b.pid);
  backend->shutdown(true);
  if (capabilities().has_local_process_workers) {
    EXPECT_TRUE(!wa || is_reaped(*wa)) << "worker " << a.pid << " is not reaped when shutdown(wait=true) returns";
    EXPECT_TRUE(!wb || is_reaped(*wb)) << "worker " << b.pid << " is not reaped when shutdown(wait=true) returns";
  }
  const auto spill_now = list_dir(spill_dir());
  for (const auto& name : spill_now) {
    EXPECT_TRUE(std::find(baseline.begin(), baseline.end(), name) != baseline.end())
        << "spill file " << name << " remains when shutdown(wait=true) returns";
  }
  const auto outcome = in_flight.wait(bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value()) << "the in-flight call never completed after shutdown";
  EXPECT_TRUE(ended_with<BackendClosed>(*outcome));
}

TEST_P(Life, LIFE_5_ShutdownWithoutWaitReturnsPromptlyAndCleanupCompletes) {
  auto backend = make_backend();
  Gates gates(temp_dir() / "gates");
  PendingCall in_flight(*backend, probe_call("gate", gates.input("in-flight")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return gates.started("in-flight"); }, bounds().condition_wait));
  const auto worker = identify(gates.pid_of("in-flight"));
  const auto start = steady_clock::now();
  backend->shutdown(false);
  EXPECT_LE(elapsed_ms(start), bounds().shutdown_nowait.count()) << "shutdown(wait=false) did not return promptly";
  const auto outcome = in_flight.wait(bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value()) << "the in-flight call never completed after shutdown(wait=false)";
  EXPECT_TRUE(ended_with<BackendClosed>(*outcome));
  if (capabilities().has_local_process_workers) {
    ASSERT_TRUE(worker.has_value());
    EXPECT_TRUE(wait_until([&] { return is_reaped(*worker); }, bounds().condition_wait))
        << "after shutdown(wait=false) the worker was never reaped";
  }
}

// Idempotent means no second teardown, not "a later call may skip the
// wait": a signal handler stops the backend early with shutdown(wait=false),
// the normal exit path then waits (or just destroys the backend).
TEST_P(Life, LIFE_5_LaterShutdownWaitAndDestructorStillWait) {
  for (const bool by_destructor : {false, true}) {
    const std::string how = by_destructor ? "the destructor" : "shutdown(wait=true)";
    auto backend = make_backend();
    int shutdowns = 0;
    std::optional<Subscription> on_shutdown;
    if (auto* hooks = hooks_of(*backend)) on_shutdown = hooks->on_shutdown([&] { ++shutdowns; });
    const auto dir = make_dir(temp_dir(), std::string("rendezvous-") + (by_destructor ? "d" : "w"));
    const auto [a, b] = start_two_workers(*backend, probe_call("rendezvous", dir.string() + ",2"),
                                          probe_call("rendezvous", dir.string() + ",2"), bounds().call_timeout);
    const auto baseline = list_dir(spill_dir());
    const auto marker = temp_dir() / (std::string("written-") + (by_destructor ? "d" : "w"));
    std::optional<PendingCall> in_flight;
    in_flight.emplace(*backend, probe_call("write_then", "4194304,hang," + marker.string()), call_deadline());
    ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(marker); }, bounds().condition_wait));
    const auto wa = identify(a.pid);
    const auto wb = identify(b.pid);
    backend->shutdown(false);
    if (by_destructor) {
      on_shutdown.reset();
      backend.reset();
    } else {
      backend->shutdown(true);
    }
    if (capabilities().has_local_process_workers) {
      EXPECT_TRUE(!wa || is_reaped(*wa)) << "worker " << a.pid << " is not reaped when " << how
                                         << " returns after an earlier shutdown(wait=false)";
      EXPECT_TRUE(!wb || is_reaped(*wb)) << "worker " << b.pid << " is not reaped when " << how
                                         << " returns after an earlier shutdown(wait=false)";
    }
    for (const auto& name : list_dir(spill_dir())) {
      EXPECT_TRUE(std::find(baseline.begin(), baseline.end(), name) != baseline.end())
          << "spill file " << name << " remains when " << how << " returns after an earlier shutdown(wait=false)";
    }
    const auto outcome = in_flight->wait(bounds().condition_wait);
    ASSERT_TRUE(outcome.has_value()) << "the in-flight call never completed after shutdown";
    EXPECT_TRUE(ended_with<BackendClosed>(*outcome));
    EXPECT_LE(shutdowns, 1) << "on_shutdown fired again: a second teardown";
  }
}

TEST_P(Life, LIFE_5_ShutdownIsIdempotentAndLaterCallsFailClearly) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  backend->shutdown(true);
  backend->shutdown(true);
  backend->shutdown(false);
  const auto blocking = run(*backend, probe_call("echo", "after shutdown"));
  EXPECT_TRUE(ended_with<BackendClosed>(blocking)) << "execute after shutdown";
  PendingCall async(*backend, probe_call("echo", "after shutdown"), call_deadline());
  const auto outcome = async.wait(bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value()) << "submit after shutdown never ran its completion handler";
  EXPECT_TRUE(ended_with<BackendClosed>(*outcome)) << "submit after shutdown";
  EXPECT_FALSE(std::string(blocking.error() ? blocking.error()->what() : "").empty()) << "the error has no text";
  EXPECT_EQ(async.completions(), 1);
}

TEST_P(Life, LIFE_5_QueuedRunningAndBlockedCallsEndWithBackendClosed) {
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  std::mutex mutex;
  int submitted = 0, completed = 0;
  std::vector<Subscription> subscriptions;
  if (auto* hooks = hooks_of(*backend)) {
    subscriptions.push_back(hooks->on_submit([&](const Call&) {
      std::lock_guard lock(mutex);
      ++submitted;
    }));
    subscriptions.push_back(hooks->on_complete([&](const Call&, const ExecutionMetrics*, const Error*) {
      std::lock_guard lock(mutex);
      ++completed;
    }));
  }
  Gates gates(temp_dir() / "gates");
  PendingCall running(*backend, probe_call("gate", gates.input("running")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return gates.started("running"); }, bounds().condition_wait));
  PendingCall queued(*backend, probe_call("echo", "queued"), call_deadline());
  std::optional<Outcome> blocked;
  std::thread blocked_caller([&] { blocked = run(*backend, probe_call("echo", "blocked")); });
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    return submitted >= 3 || subscriptions.empty();
  }, bounds().condition_wait));
  backend->shutdown(true);
  blocked_caller.join();
  for (const auto* call : {&running, &queued}) {
    const auto outcome = call->wait(bounds().condition_wait);
    ASSERT_TRUE(outcome.has_value());
    EXPECT_TRUE(ended_with<BackendClosed>(*outcome));
  }
  ASSERT_TRUE(blocked.has_value());
  EXPECT_TRUE(ended_with<BackendClosed>(*blocked)) << "a blocked execute() during shutdown";
  if (!subscriptions.empty()) {
    EXPECT_TRUE(wait_until([&] {
      std::lock_guard lock(mutex);
      return completed == submitted;
    }, bounds().condition_wait));
    std::lock_guard lock(mutex);
    EXPECT_EQ(completed, submitted) << "HOOK-1 during shutdown: every on_submit needs its on_complete";
  }
  subscriptions.clear();
}

TEST_P(Life, LIFE_6_IndependentBackendsCoexist) {
  auto cfg_a = config();
  cfg_a.max_workers = 1;
  cfg_a.node_id = "node-a";
  auto cfg_b = config();
  cfg_b.max_workers = 2;
  cfg_b.node_id = "node-b";
  cfg_b.spill_dir = temp_dir() / "spill-b";
  track_spill_dir(cfg_b.spill_dir);
  auto a = make_backend(cfg_a);
  auto b = make_backend(cfg_b);
  const auto id_a = parse_identity(run_text(*a, probe_call("identity")));
  const auto id_b = parse_identity(run_text(*b, probe_call("identity")));
  if (capabilities().task_context_from_caller) {
    EXPECT_EQ(id_a.node_id, "node-a");
    EXPECT_EQ(id_b.node_id, "node-b");
  }
  EXPECT_NE(id_a.worker_id, id_b.worker_id);
  Gates gates(temp_dir() / "gates");
  PendingCall b_in_flight(*b, probe_call("gate", gates.input("b")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return gates.started("b"); }, bounds().condition_wait));
  a->shutdown(true);
  EXPECT_FALSE(b_in_flight.done()) << "shutting down one backend ended another's call";
  EXPECT_EQ(run_text(*b, probe_call("echo", "b still serves")), "b still serves");
  gates.release("b");
  const auto outcome = b_in_flight.wait(bounds().call_timeout);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(succeeded(*outcome));
}

TEST_P(Life, LIFE_6_BackendsSharingASpillDirDoNotInterfere) {
  auto a = make_backend();
  const auto marker = temp_dir() / "a-written";
  const auto release = temp_dir() / "a-release";
  PendingCall a_call(*a, probe_call("write_then", "4194304,wait=" + release.string() + "," + marker.string()), call_deadline());
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(marker); }, bounds().condition_wait));
  {
    auto b = make_backend();  // starts on the same spill dir while a's result is being written
    const auto outcome = run(*b, probe_call("write_bytes", "4194304,51"));
    ASSERT_TRUE(succeeded(outcome));
    EXPECT_FALSE(first_stream_mismatch(outcome.value().bytes(), 51).has_value());
    b->shutdown(true);
  }
  write_file(release, "");
  const auto outcome = a_call.wait(bounds().call_timeout);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_TRUE(succeeded(*outcome)) << "another backend on the same spill dir disturbed this one's result";
  EXPECT_EQ(outcome->value().bytes().size(), 4194304u);
  EXPECT_FALSE(first_stream_mismatch(outcome->value().bytes(), 7).has_value());
}

TEST_P(Life, LIFE_7_IdleWorkerKilledFromOutsideIsReplacedTransparently) {
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  EXECKIT_REQUIRE_CAPABILITY(supports_worker_reuse);  // no reuse: no worker ever idles
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  const auto before = parse_identity(run_text(*backend, probe_call("identity")));
  const auto worker = identify(before.pid);
  ASSERT_TRUE(worker.has_value());
  kill_process(*worker);
  ASSERT_TRUE(wait_until([&] { return has_exited(*worker); }, bounds().condition_wait));
  const auto outcome = run(*backend, probe_call("identity"));
  ASSERT_TRUE(succeeded(outcome)) << "a call after an idle worker was killed failed instead of getting a new worker";
  EXPECT_NE(parse_identity(text_of(outcome)).pid, before.pid);
}

TEST_P(Life, LIFE_7_BusyWorkerKilledFromOutsideFailsOnlyItsCall) {
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  auto backend = make_backend();  // two workers
  Gates gates(temp_dir() / "gates");
  PendingCall bystander(*backend, probe_call("gate", gates.input("bystander")), call_deadline());
  PendingCall victim(*backend, probe_call("gate", gates.input("victim")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return gates.started("bystander") && gates.started("victim"); }, bounds().condition_wait));
  const auto worker = identify(gates.pid_of("victim"));
  ASSERT_TRUE(worker.has_value());
  kill_process(*worker);
  const auto outcome = victim.wait(bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_TRUE(ended_with<WorkerCrashed>(*outcome));
  EXPECT_EQ(outcome->error_as<WorkerCrashed>()->term_signal(), std::optional<int>(SIGKILL));
  EXPECT_FALSE(bystander.done()) << "killing one busy worker ended another call";
  gates.release("bystander");
  const auto other = bystander.wait(bounds().call_timeout);
  ASSERT_TRUE(other.has_value());
  EXPECT_TRUE(succeeded(*other));
  EXPECT_EQ(run_text(*backend, probe_call("echo", "later")), "later");
}

TEST_P(Life, LIFE_8_AReusedPidOfAnExitedWorkerIsNeverSignalled) {
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  auto cfg = config();
  cfg.max_workers = 1;
  cfg.idle_timeout = bounds().deadline_grace;
  auto backend = make_backend(cfg);
  // One worker exits on its own (idle), one crashes; each pid is then taken over.
  const auto idle = parse_identity(run_text(*backend, probe_call("identity")));
  const auto idle_worker = identify(idle.pid);
  ASSERT_TRUE(!idle_worker || wait_until([&] { return is_reaped(*idle_worker); }, bounds().condition_wait));
  PidSquatter first(idle.pid);
  if (!first.ok()) {
    GTEST_SKIP() << "cannot create a process with a chosen pid (clone3 set_tid: " << std::strerror(first.error())
                 << "); needs CAP_SYS_ADMIN";
  }
  const auto crashed = parse_identity(run_text(*backend, probe_call("identity")));
  EXPECT_TRUE(ended_with<WorkerCrashed>(run(*backend, probe_call("call_abort"))));
  const auto crashed_worker = identify(crashed.pid);
  ASSERT_TRUE(!crashed_worker || wait_until([&] { return is_reaped(*crashed_worker); }, bounds().condition_wait));
  PidSquatter second(crashed.pid);
  EXPECT_TRUE(second.ok()) << "could not take over pid " << crashed.pid << ": " << std::strerror(second.error());
  // Every path that kills workers: a timeout, a cancel, shutdown.
  EXPECT_TRUE(ended_with<TimeoutError>(run(*backend, probe_call("sleep_ms", "600000"), Deadline::after(bounds().deadline_grace))));
  PendingCall cancelled(*backend, probe_call("sleep_ms", "600000"), call_deadline());
  cancelled.cancel();
  cancelled.wait(bounds().condition_wait);
  backend->shutdown(true);
  backend.reset();
  EXPECT_TRUE(first.alive(bounds().condition_wait)) << "a process that reused an exited worker's pid " << idle.pid << " was killed";
  if (second.ok()) {
    EXPECT_TRUE(second.alive(bounds().condition_wait)) << "a process that reused a crashed worker's pid " << crashed.pid << " was killed";
  }
}

TEST_P(Life, LIFE_9_StartingWorkersStaysFastWithAHugeFdLimit) {
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  auto backend = make_backend();
  const auto crash = probe_call("call_abort");
  const auto probe = probe_call("fds");
  const int rounds = 4;
  respawn_time(*backend, crash, probe, 1, bounds().condition_wait);  // warm up
  const auto normal = respawn_time(*backend, crash, probe, rounds, bounds().condition_wait);
  // Where the hard limit is below 10^6 the timing says little, but the
  // highest fd still catches a close loop that stops short of the limit.
  ScopedFdLimit huge(1'000'000);
  if (huge.limit() < 4096) GTEST_SKIP() << "RLIMIT_NOFILE cannot be raised above " << huge.limit() << " here";
  RecordProperty("fd_limit", std::to_string(huge.limit()));
  const int top_fd = static_cast<int>(huge.limit() - 1);
  const int high_fd = ::open("/proc/self/exe", O_RDONLY);  // without O_CLOEXEC, far above the usual range
  ASSERT_GE(::dup2(high_fd, top_fd), 0);
  ::close(high_fd);
  const auto with_huge_limit = respawn_time(*backend, crash, probe, rounds, bounds().condition_wait);
  const auto listing = run_text(*backend, probe);
  ::close(top_fd);
  EXPECT_FALSE(lists_fd(listing, top_fd)) << "fd " << top_fd << " of the caller (RLIMIT_NOFILE " << huge.limit()
                                          << ") reached the task";
  EXPECT_LE(with_huge_limit.count(), normal.count() * 3 + bounds().deadline_grace.count() / 5)
      << "starting a worker took " << with_huge_limit.count() << " ms with RLIMIT_NOFILE=" << huge.limit()
      << " against " << normal.count() << " ms normally: a per-fd close loop?";
}

TEST_P(Life, LIFE_9_StartingWorkersStaysCorrectWhileCallerThreadsAllocateAndLock) {
  auto backend = make_backend();
  std::atomic<bool> stop{false};
  std::mutex lock;
  std::vector<std::thread> busy;
  for (int t = 0; t < 3; ++t) {
    busy.emplace_back([&, t] {
      std::vector<std::unique_ptr<char[]>> blocks(64);
      std::FILE* sink = std::fopen("/dev/null", "w");  // stdio takes its own lock too
      for (std::size_t i = 0; !stop; ++i) {
        blocks[i % blocks.size()].reset(new char[(i * 7919 + static_cast<std::size_t>(t)) % 65536 + 1]);
        std::lock_guard guard(lock);
        if (sink) std::fprintf(sink, "%zu", i);
      }
      if (sink) std::fclose(sink);
    });
  }
  for (int round = 0; round < 10; ++round) {
    EXPECT_TRUE(ended_with<WorkerCrashed>(run(*backend, probe_call("call_abort"), Deadline::after(bounds().condition_wait))));
    const auto outcome = run(*backend, probe_call("echo", "spawned"), Deadline::after(bounds().condition_wait));
    EXPECT_TRUE(succeeded(outcome)) << "round " << round << ": starting a worker while caller threads allocate";
  }
  stop = true;
  for (auto& thread : busy) thread.join();
}

}  // namespace execkit::conformance

// The backend's own threads never take the caller down (issue 14): with
// epoll_ctl(EPOLL_CTL_ADD) failing for the whole process — a seccomp filter
// in a child process, so no root and no machine-wide setting (a lowered
// fs.epoll.max_user_watches would hit every process on the host) — every
// call ends with a structured error, later calls are refused clearly, and
// shutdown returns. The child's exit status is the verdict.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <future>
#include <string>
#include <thread>

#include "execkit/outcome.hpp"
#include "execkit/process_pool.hpp"
#include "temp_dir.hpp"

namespace execkit {
namespace {

using test_support::TempDir;
using namespace std::chrono_literals;

// Every thread of this process (TSYNC) gets ENOMEM from epoll_ctl ADD, and
// with `also_modify` from MOD too (the re-arming of a worker's exit watch,
// which the engine cannot do without: it then shuts itself down).
bool deny_epoll_ctl(bool also_modify) {
#if defined(__x86_64__)
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_epoll_ctl, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[1])),  // the op (low half)
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, EPOLL_CTL_ADD, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<__u32>(also_modify ? EPOLL_CTL_MOD : EPOLL_CTL_ADD), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOMEM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program) == 0;
#else
  return false;
#endif
}

Call probe_call(std::string function, std::string input) {
  Call call;
  call.module = "execkit_probe";
  call.function = std::move(function);
  call.search_path = {std::filesystem::path(EXECKIT_PROBE_PATH).parent_path()};
  call.input = to_bytes(input);
  return call;
}

// Exit statuses of the child, so the parent can name what went wrong.
enum Verdict : int {
  passed = 0,
  cannot_inject = 77,
  first_call_failed = 10,
  not_structured = 11,
  later_call_not_refused = 12,
  async_never_completed = 13,
  threw = 14,
  cause_not_named = 15,
};

int fail(Verdict verdict, const std::string& what) {
  std::fprintf(stderr, "engine_failure_test child: %s\n", what.c_str());
  return verdict;
}

bool structured(const Outcome& outcome) { return !outcome.ok() && outcome.error() != nullptr; }

bool names_epoll_ctl(const Outcome& outcome) {
  return !outcome.ok() && std::string(outcome.error()->what()).find("epoll_ctl") != std::string::npos;
}

int run_child(const std::filesystem::path& spill, bool also_modify) {
  WorkerConfig config;
  config.worker_path = EXECKIT_WORKER_PATH;
  config.spill_dir = spill;
  config.max_workers = 2;
  config.log = [](std::string_view) {};
  ProcessPoolBackend backend(config);
  if (!backend.execute(probe_call("echo", "warm"), Deadline::after(30s)).bytes().size())
    return fail(first_call_failed, "the warm-up call returned nothing");
  if (!deny_epoll_ctl(also_modify)) return cannot_inject;
  bool cause_named = false;

  // A parked worker runs this one on the caller's thread, then cannot be
  // watched again; every later call needs a watch somewhere. Whatever each
  // outcome is, it must be one, and the process must still be here.
  for (int i = 0; i < 4; ++i) {
    const auto blocking = outcome_of([&] { return backend.execute(probe_call("echo", "x"), Deadline::after(30s)); });
    if (!blocking.ok() && !structured(blocking)) return fail(not_structured, "execute() ended without an error");
    cause_named = cause_named || names_epoll_ctl(blocking);
    std::promise<Outcome> done;
    backend.submit(probe_call("echo", "y"), Deadline::after(30s), [&](Outcome o) { done.set_value(std::move(o)); });
    auto future = done.get_future();
    if (future.wait_for(60s) != std::future_status::ready)
      return fail(async_never_completed, "a submitted call never completed");
    const auto async = future.get();
    if (!async.ok() && !structured(async)) return fail(not_structured, "submit() completed without an error");
    cause_named = cause_named || names_epoll_ctl(async);
  }
  // Two calls at once need a new worker: its watches cannot be added.
  std::promise<Outcome> first, second;
  backend.submit(probe_call("sleep_ms", "200"), Deadline::after(30s), [&](Outcome o) { first.set_value(std::move(o)); });
  backend.submit(probe_call("sleep_ms", "200"), Deadline::after(30s), [&](Outcome o) { second.set_value(std::move(o)); });
  for (auto* p : {&first, &second}) {
    auto f = p->get_future();
    if (f.wait_for(60s) != std::future_status::ready) return fail(async_never_completed, "a concurrent call never completed");
    const auto o = f.get();
    if (!o.ok() && !structured(o)) return fail(not_structured, "a concurrent call ended without an error");
    cause_named = cause_named || names_epoll_ctl(o);
  }
  // The injection must have reached the engine, and its errors say what failed.
  if (!cause_named) return fail(cause_not_named, "no call failed with an error naming epoll_ctl");
  backend.shutdown(true);
  const auto after = outcome_of([&] { return backend.execute(probe_call("echo", "late"), Deadline::after(30s)); });
  if (!after.error_as<BackendClosed>()) return fail(later_call_not_refused, "a call after shutdown was not refused");
  return passed;
}

// Runs the scenario in a child process; its exit status is the verdict.
void expect_caller_survives(bool also_modify) {
  TempDir dir("engine_failure_test");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int status = threw;
    try {
      status = run_child(dir.path() / "spill", also_modify);
    } catch (const std::exception& e) {
      status = fail(threw, std::string("threw: ") + e.what());
    }
    std::fflush(stderr);
    ::_exit(status);
  }
  int status = 0;
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  pid_t done = 0;
  while ((done = ::waitpid(child, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(10ms);
  if (done == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "the caller hung with epoll_ctl failing";
  }
  ASSERT_FALSE(WIFSIGNALED(status)) << "the caller died of signal " << WTERMSIG(status)
                                    << " with epoll_ctl failing (std::terminate raises SIGABRT)";
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == cannot_inject) GTEST_SKIP() << "cannot install a seccomp filter here (not x86-64, or refused)";
  EXPECT_EQ(WEXITSTATUS(status), passed) << "see the child's message above";
}

// Watches of new or returning workers fail: those workers are lost, their
// calls end with errors naming the cause, the engine goes on.
TEST(EngineFailure, FailingEpollCtlAddEndsCallsWithErrorsNeverTheCaller) { expect_caller_survives(false); }

// Exit watches cannot be re-armed either: such workers are killed and
// reaped on the spot, and their calls end as well.
TEST(EngineFailure, FailingEpollCtlAddAndModEndCallsWithErrorsNeverTheCaller) { expect_caller_survives(true); }

}  // namespace
}  // namespace execkit

// execkit-worker: runs calls sent by the reference backend over its control
// socket, one at a time, restoring its base state after each (see
// reference/src/worker_process.cpp for how it is started).
//
// Exit status: 0 when the caller closes the channel or sends `exit`, 2 for a
// bad command line, 3 for a protocol violation or a failure of the worker
// itself. Fatal diagnostics go to stderr, which the caller collects.
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <span>
#include <variant>

#include "base_state.hpp"
#include "call_scope.hpp"
#include "control_channel.hpp"
#include "leftovers.hpp"
#include "module_cache.hpp"
#include "posix_timers.hpp"
#include "run_call.hpp"
#include "worker_arguments.hpp"

// Sanitizer builds only (weak hooks the runtimes call at start-up): a task's
// crash signal must kill the worker as it would without the sanitizer, so
// the caller sees the signal (ISO-6) instead of a sanitizer's exit status.
extern "C" __attribute__((used, visibility("default"))) const char* __asan_default_options() {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0";
}
extern "C" __attribute__((used, visibility("default"))) const char* __tsan_default_options() {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0";
}

namespace {

constexpr int exit_bad_usage = 2;
constexpr int exit_failure = 3;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "execkit-worker: %s\n", what);
  std::fflush(stderr);
  // _exit: module destructors must not run on the way out.
  ::_exit(exit_failure);
}

void prepare_process(const execkit::worker::WorkerArguments& args) {
  if (args.pdeathsig) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The caller may have died before the prctl took effect.
    if (::getppid() != args.parent_pid) ::_exit(0);
  }
  // Documented choice (ISO-4): a task writing to a closed pipe dies of
  // SIGPIPE like a normal C program; the worker itself sends with MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_DFL);
  // Orphaned descendants of a task become our children, so the leftover
  // check after each call sees them too (ISO-8).
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
}

// A retiring worker runs nothing more: it waits until the caller kills it
// (with whatever the task left behind) or closes the channel.
[[noreturn]] void await_end_of_service(execkit::worker::ControlChannel& channel) {
  for (;;) {
    if (std::holds_alternative<execkit::worker::ChannelClosed>(channel.receive())) ::_exit(0);
  }
}

[[noreturn]] void serve(execkit::worker::ControlChannel& channel) {
  using namespace execkit::worker;
  ProcStatusReader status;
  PosixTimerSweeper timers;
  const BaseState base = capture_base_state(channel.fd(), status);
  // Every call, the first included, sees exactly what later restores produce.
  restore_environment(base.environment);
  ModuleCache modules;
  for (;;) {
    auto received = channel.receive();
    if (std::holds_alternative<ChannelClosed>(received)) ::_exit(0);
    if (auto* violation = std::get_if<ProtocolViolation>(&received)) die(violation->message.c_str());
    auto& message = std::get<RequestMessage>(received);
    if (message.request.kind == execkit::wire::RequestKind::exit) ::_exit(0);
    CallScope scope(base, status, timers, channel.fd());
    auto [response, spill_file] = run_call(std::move(message), scope, modules);
    if (!scope.control_channel_intact()) die("the task closed or replaced the control socket");
    if (spill_file) {
      // SPILL-8: a spilled result is answered only after the restore, so the
      // caller learns whether anything of the task (a thread, a process, a
      // handle) could still change the file; it then refuses the result.
      auto reasons = scope.restore().retire_reasons;
      if (holds_handle_to(*spill_file)) reasons.emplace_back("the task kept a handle to its spill file");
      if (!reasons.empty()) mark_retiring(response, reasons);
      if (!channel.send(response)) ::_exit(0);
      if (response.retire) await_end_of_service(channel);
      continue;
    }
    // Reply first, restore after: the restore is off the call's latency.
    if (!channel.send(response)) ::_exit(0);
    const auto restored = scope.restore();
    if (response.retire) await_end_of_service(channel);
    if (!restored.retire_reasons.empty()) {
      // State that could not be restored must not reach a later call
      // (ISO-5, ISO-8). The caller may already have sent the next request;
      // the notice tells it that request never started.
      if (!channel.send(retirement_notice(response.call_id, restored.retire_reasons))) ::_exit(0);
      await_end_of_service(channel);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = execkit::worker::parse_arguments(std::span<const char* const>(argv + 1, argv + argc));
  if (auto* error = std::get_if<std::string>(&parsed)) {
    std::fprintf(
        stderr,
        "execkit-worker: %s\nusage: execkit-worker --control-fd=<fd> --parent-pid=<pid> [--pdeathsig]\n",
        error->c_str());
    return exit_bad_usage;
  }
  const auto& args = std::get<execkit::worker::WorkerArguments>(parsed);
  prepare_process(args);
  try {
    execkit::worker::ControlChannel channel(args.control_fd);
    serve(channel);
  } catch (const std::exception& e) {
    die(e.what());
  }
}

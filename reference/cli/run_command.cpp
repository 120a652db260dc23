#include "run_command.hpp"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>

#include "call_builder.hpp"
#include "cli_error.hpp"
#include "completion_latch.hpp"
#include "error_report.hpp"
#include "execkit/process_pool.hpp"
#include "fd_io.hpp"
#include "metrics_json.hpp"
#include "signal_watch.hpp"

namespace execkit::cli {
namespace {

void print_to_stderr(const std::string& text) {
  try {
    write_all(STDERR_FILENO, std::as_bytes(std::span(text)));
  } catch (const std::system_error&) {
    // Nowhere left to report to; the exit code still tells.
  }
}

std::string describe_interrupt(int signal_number) {
  const auto name = signal_name(signal_number);
  return "interrupted by " + (name ? *name : "signal " + std::to_string(signal_number)) + "; call cancelled";
}

WorkerConfig single_worker_config() {
  WorkerConfig config = WorkerConfig::from_env();
  config.max_workers = 1;
  return config;
}

// Waits for the outcome; the first termination signal cancels the call, a
// second one exits at once (the worker dies with us through PDEATHSIG).
std::optional<int> wait_for_outcome(CompletionLatch& latch, SignalWatch& signals, const Submission& submission) {
  std::optional<int> interrupted;
  pollfd fds[2] = {{signals.fd(), POLLIN, 0}, {latch.fd(), POLLIN, 0}};
  while (!latch.done()) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "poll");
    }
    while (const auto signal_number = signals.take()) {
      if (interrupted) {
        print_to_stderr(error_line("interrupted again by " + signal_name(*signal_number).value_or("a signal") +
                                   "; exiting without waiting for the cancellation"));
        std::_Exit(interrupted_exit_code(*interrupted));
      }
      interrupted = signal_number;
      submission.cancel();
    }
  }
  return interrupted;
}

int report_success(const Result& result, const RunOptions& options) {
  int code = static_cast<int>(ExitCode::success);
  try {
    write_all(STDOUT_FILENO, result.bytes());
  } catch (const std::system_error& e) {
    print_to_stderr(error_line("cannot write the result to standard output: " + e.code().message()));
    code = static_cast<int>(ExitCode::other);
  }
  if (options.print_metrics) print_to_stderr(metrics_to_json(result.metrics()) + "\n");
  return code;
}

int report_failure(const Error& error, const RunOptions& options) {
  if (options.print_metrics) {
    // A task error is the only failure that ran to an end (METRIC-1).
    if (const auto* task = dynamic_cast<const TaskError*>(&error)) {
      print_to_stderr(metrics_to_json(task->metrics()) + "\n");
    }
  }
  const FailureReport report = describe_failure(error, options.deadline);
  print_to_stderr(report.text);
  return static_cast<int>(report.code);
}

}  // namespace

int run_command(const RunOptions& options) {
  WorkerConfig config = single_worker_config();
  // Reading stdin may wait on a terminal, where Ctrl-C must still just work.
  Call call = build_call(options, STDIN_FILENO);
  // Before the backend exists, so that its threads inherit the blocked mask.
  SignalWatch signals({SIGINT, SIGTERM, SIGHUP});

  // The latch outlives the backend: shutting down may still complete the call.
  CompletionLatch latch;
  ProcessPoolBackend backend(std::move(config));
  const Deadline deadline = options.deadline ? Deadline::after(*options.deadline) : Deadline::never();
  const Submission submission = backend.submit(std::move(call), deadline, latch.handler());
  const std::optional<int> interrupted = wait_for_outcome(latch, signals, submission);
  const Outcome outcome = latch.take();
  backend.shutdown(true);

  if (interrupted) {
    print_to_stderr(error_line(describe_interrupt(*interrupted)));
    return interrupted_exit_code(*interrupted);
  }
  // Every worker is reaped by now, so no child inherits this disposition; a
  // reader that went away becomes an EPIPE error instead of killing us.
  ::signal(SIGPIPE, SIG_IGN);
  if (const Error* error = outcome.error()) return report_failure(*error, options);
  return report_success(outcome.value(), options);
}

}  // namespace execkit::cli

// Mutants that change what a call's outcome is or says: a retry, a timeout
// that abandons the task, an error that loses its stderr or is classified by
// its text, a result copied to the heap, metrics measured in the caller.
#include <sys/resource.h>

#include <csignal>
#include <future>
#include <vector>

#include "forwarding_backend.hpp"

namespace execkit::mutants {
namespace {

// RUN-1: a "transient" failure (timeout or crash) is retried once, with a
// fresh budget as long as the original one.
class RetryOnce final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Result execute(const Call& call, Deadline deadline) override {
    const auto budget = deadline.at - std::chrono::steady_clock::now();
    try {
      return ForwardingBackend::execute(call, deadline);
    } catch (const TimeoutError&) {
    } catch (const WorkerCrashed&) {
    }
    return ForwardingBackend::execute(call, deadline.is_never() ? deadline : Deadline::after(budget));
  }
};

// RUN-2: the deadline bounds only the caller's wait, as with
// future.result(timeout): the task keeps running after the TimeoutError.
class TimeoutAbandonsTask final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Result execute(const Call& call, Deadline deadline) override {
    auto promise = std::make_shared<std::promise<Outcome>>();
    auto future = promise->get_future();
    ForwardingBackend::submit(call, Deadline::never(), [promise](Outcome outcome) { promise->set_value(std::move(outcome)); });
    if (!deadline.is_never() && future.wait_until(deadline.at) == std::future_status::timeout)
      throw TimeoutError("the call passed its deadline");
    return future.get().value();
  }
};

std::int64_t microseconds(const timeval& t) { return std::int64_t{t.tv_sec} * 1'000'000 + t.tv_usec; }

rusage caller_usage() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage;
}

// METRIC-2: CPU time and peak RSS measured in the caller's process instead of the worker's.
ExecutionMetrics measured_in_caller(ExecutionMetrics metrics, const rusage& start) {
  const rusage end = caller_usage();
  metrics.user_time_us = microseconds(end.ru_utime) - microseconds(start.ru_utime);
  metrics.system_time_us = microseconds(end.ru_stime) - microseconds(start.ru_stime);
  metrics.peak_rss_kib = end.ru_maxrss;
  return metrics;
}

Outcome with_caller_metrics(Outcome outcome, const rusage& start) {
  if (outcome.ok()) return with_metrics(outcome.value(), measured_in_caller(outcome.value().metrics(), start));
  if (const auto* task = outcome.error_as<TaskError>()) {
    return Outcome::failure(TaskError(task->type(), task->message(), task->stderr_tail(),
                                      measured_in_caller(task->metrics(), start)));
  }
  return outcome;
}

class CallerSideRusage final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  Result execute(const Call& call, Deadline deadline) override {
    const rusage start = caller_usage();
    return with_caller_metrics(outcome_of([&] { return ForwardingBackend::execute(call, deadline); }), start).value();
  }
  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override {
    const rusage start = caller_usage();
    return ForwardingBackend::submit(std::move(call), deadline, [start, on_done = std::move(on_done)](Outcome outcome) {
      on_done(with_caller_metrics(std::move(outcome), start));
    });
  }
};

// RUN-3: the stderr tail is not carried into the error.
Outcome without_stderr(Outcome outcome) {
  if (const auto* task = outcome.error_as<TaskError>())
    return Outcome::failure(TaskError(task->type(), task->message(), "", task->metrics()));
  return outcome;
}

bool mentions_memory_exhaustion(const std::string& text) {
  return text.find("MemoryError") != std::string::npos || text.find("bad_alloc") != std::string::npos;
}

// RUN-4: a task error whose text looks like memory exhaustion is reported as
// the worker being OOM-killed.
Outcome oom_by_text(Outcome outcome) {
  const auto* task = outcome.error_as<TaskError>();
  if (task && (mentions_memory_exhaustion(task->message()) || mentions_memory_exhaustion(task->stderr_tail())))
    return Outcome::failure(WorkerCrashed(SIGKILL, std::nullopt, task->stderr_tail()));
  return outcome;
}

// SPILL-2: the result is copied into the caller's heap instead of staying mapped.
Outcome copied_to_heap(Outcome outcome) {
  if (!outcome.ok()) return outcome;
  const auto bytes = outcome.value().bytes();
  auto copy = std::make_shared<const std::vector<std::byte>>(bytes.begin(), bytes.end());
  const std::span<const std::byte> view(*copy);
  return Result(std::move(copy), view, outcome.value().metrics());
}

}  // namespace

FactoryTable outcome_mutants() {
  return {
      {"retry_once", decorated<RetryOnce>()},
      {"timeout_leaves_task_running", decorated<TimeoutAbandonsTask>()},
      {"caller_side_rusage", decorated<CallerSideRusage>()},
      {"stderr_dropped", adjusted(without_stderr)},
      {"oom_by_text", adjusted(oom_by_text)},
      {"result_copied", adjusted(copied_to_heap)},
  };
}

}  // namespace execkit::mutants

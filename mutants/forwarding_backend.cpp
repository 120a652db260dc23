#include "forwarding_backend.hpp"

namespace execkit::mutants {

Result with_metrics(const Result& original, ExecutionMetrics metrics) {
  auto kept = std::make_shared<const Result>(original);
  const auto bytes = kept->bytes();
  return Result(std::move(kept), bytes, std::move(metrics));
}

BackendFactory adjusted(Outcome (*adjust)(Outcome)) {
  return [adjust](WorkerConfig config) -> std::unique_ptr<ExecutorBackend> {
    return std::make_unique<OutcomeAdjustingBackend>(std::make_shared<ProcessPoolBackend>(std::move(config)), adjust);
  };
}

Result OutcomeAdjustingBackend::execute(const Call& call, Deadline deadline) {
  return (*adjust_)(outcome_of([&] { return ForwardingBackend::execute(call, deadline); })).value();
}

Submission OutcomeAdjustingBackend::submit(Call call, Deadline deadline, CompletionHandler on_done) {
  return ForwardingBackend::submit(std::move(call), deadline, [adjust = adjust_, on_done = std::move(on_done)](Outcome outcome) {
    on_done((*adjust)(std::move(outcome)));
  });
}

}  // namespace execkit::mutants

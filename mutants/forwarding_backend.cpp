#include "forwarding_backend.hpp"

namespace execkit::mutants {

Outcome outcome_of(const std::function<Result()>& body) {
  try {
    return Outcome(body());
  } catch (const TaskError& e) {
    return Outcome::failure(e);
  } catch (const TimeoutError& e) {
    return Outcome::failure(e);
  } catch (const CancelledError& e) {
    return Outcome::failure(e);
  } catch (const WorkerCrashed& e) {
    return Outcome::failure(e);
  } catch (const ResultError& e) {
    return Outcome::failure(e);
  } catch (const SpillError& e) {
    return Outcome::failure(e);
  } catch (const BackendClosed& e) {
    return Outcome::failure(e);
  } catch (const ConfigError& e) {
    return Outcome::failure(e);
  }
}

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

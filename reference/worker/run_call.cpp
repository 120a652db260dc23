#include "run_call.hpp"

#include <cstdio>
#include <optional>
#include <string>
#include <variant>

#include "call_metrics.hpp"
#include "call_scope.hpp"
#include "result_sink.hpp"
#include "task_context_impl.hpp"

namespace execkit::worker {
namespace {

// Bounds for the strings a response carries, so it always fits one datagram
// next to the largest inline result.
constexpr std::size_t max_error_type_bytes = 4 * 1024;
constexpr std::size_t max_error_message_bytes = 64 * 1024;
constexpr std::size_t max_retire_reason_bytes = 16 * 1024;

std::string bounded(std::string text, std::size_t limit) {
  constexpr std::string_view marker = "...[truncated]";
  if (text.size() > limit) text.replace(limit - marker.size(), std::string::npos, marker);
  return text;
}

struct NotStarted {
  std::string reason;
};

using Verdict = std::variant<std::monostate, TaskFailure, NotStarted>;

Verdict run_task(TaskEntryPoint entry, std::span<const std::byte> input, ResultSink& sink) {
  TaskContextImpl context(input, sink);
  int status = 0;
  try {
    status = entry(&context);
  } catch (...) {
    // EXECKIT_TASK catches everything; a hand-written entry point may not.
    context.fail("unknown", "an exception escaped the task entry point");
  }
  // Output a task left in stdio buffers belongs to this call's stdout/stderr.
  std::fflush(nullptr);
  if (context.failure()) return *context.failure();
  if (status != 0) return TaskFailure{"execkit.TaskFailed", "task returned status " + std::to_string(status)};
  return std::monostate{};
}

Verdict load_and_run(const wire::Request& request, std::span<const std::byte> input, ModuleCache& modules,
                     ResultSink& sink) {
  auto found = modules.find_task(request.module, request.search_path, request.function);
  if (auto* failure = std::get_if<LoadFailure>(&found)) return TaskFailure{failure->type, failure->message};
  if (auto* fresh = std::get_if<NeedsFreshWorker>(&found)) return NotStarted{fresh->reason};
  return run_task(std::get<TaskEntryPoint>(found), input, sink);
}

// Returns the spill file handed over, if any.
std::optional<FileIdentity> fill_outcome(wire::Response& response, const Verdict& verdict, ResultSink& sink,
                                         const wire::WireMetrics& metrics) {
  if (const auto* not_started = std::get_if<NotStarted>(&verdict)) {
    response.kind = wire::ResponseKind::not_started;
    response.retire = true;
    response.retire_reason = not_started->reason;
    sink.discard();
  } else if (const auto& failure = sink.failure()) {
    response.kind = wire::ResponseKind::result_error;
    response.result_error_reason = failure->reason;
    response.error_message = bounded(failure->message, max_error_message_bytes);
    sink.discard();
  } else if (const auto* task_failure = std::get_if<TaskFailure>(&verdict)) {
    response.kind = wire::ResponseKind::task_error;
    response.error_type = bounded(task_failure->type, max_error_type_bytes);
    response.error_message = bounded(task_failure->message, max_error_message_bytes);
    response.metrics = metrics;
    sink.discard();
  } else {
    response.kind = wire::ResponseKind::ok;
    response.metrics = metrics;
    response.result_size = sink.size();
    if (sink.spilled()) {
      response.location = wire::ResultLocation::spill_file;
      return sink.hand_over_spill_file();
    }
    response.location = wire::ResultLocation::inline_bytes;
    response.inline_result = sink.take_inline();
  }
  return std::nullopt;
}

}  // namespace

void mark_retiring(wire::Response& response, const std::vector<std::string>& reasons) {
  response.retire = true;
  for (const auto& reason : reasons) {
    if (!response.retire_reason.empty()) response.retire_reason += "; ";
    response.retire_reason += reason;
  }
  response.retire_reason = bounded(std::move(response.retire_reason), max_retire_reason_bytes);
}

wire::Response retirement_notice(std::uint64_t last_call_id, const std::vector<std::string>& reasons) {
  wire::Response notice;
  notice.call_id = last_call_id;
  notice.kind = wire::ResponseKind::not_started;
  mark_retiring(notice, reasons);
  return notice;
}

CallReply run_call(RequestMessage message, CallScope& scope, ModuleCache& modules) {
  const wire::Request& request = message.request;
  CallMetrics measure;
  const std::span<const std::byte> input =
      request.input_in_fd ? message.input.bytes() : std::span<const std::byte>(request.inline_input);
  ResultSink sink(request.spill_path, request.max_result_bytes);

  Verdict verdict;
  if (auto setup_failure = scope.apply(request)) {
    verdict = TaskFailure{setup_failure->type, setup_failure->message};
  } else {
    verdict = load_and_run(request, input, modules, sink);
  }
  measure.finish();

  CallReply reply;
  reply.response.call_id = request.call_id;
  reply.spill_file = fill_outcome(reply.response, verdict, sink, measure.metrics());
  message.input = Mapping();
  return reply;
}

}  // namespace execkit::worker

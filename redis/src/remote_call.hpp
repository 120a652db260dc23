// One call of a RedisStreamBackend as the caller tracks it, from submit
// until its outcome is delivered and its slot (a place among the caller's
// max_workers calls in flight) is released.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "execkit/backend.hpp"
#include "execkit/call.hpp"
#include "execkit/outcome.hpp"
#include "result_file.hpp"

namespace execkit::redis {

class CallerEngine;

struct RemoteCall final : CancelTarget, std::enable_shared_from_this<RemoteCall> {
  using Sink = std::function<void(const std::shared_ptr<RemoteCall>&, Outcome)>;

  RemoteCall(std::string id_, Call call_, Deadline deadline_, Sink sink_, std::weak_ptr<CallerEngine> engine_)
      : id(std::move(id_)), call(std::move(call_)), deadline(deadline_), sink(std::move(sink_)), engine(std::move(engine_)) {}
  bool cancel() override;

  const std::string id;
  const Call call;
  const Deadline deadline;
  const Sink sink;
  const std::weak_ptr<CallerEngine> engine;

  // Guarded by the engine's mutex.
  enum class Stage { queued, sent, claimed };
  Stage stage = Stage::queued;
  bool finished = false;    // the outcome was handed to the sink
  bool holds_slot = false;  // counted among the calls in flight
  std::string entry_id;     // in the calls stream, once sent
  std::string node_id, node_token;
  std::unique_ptr<ResultFile> result_file;
  // When a cancel was sent for a call a node had already read.
  std::optional<std::chrono::steady_clock::time_point> withdrawn_at;
};

}  // namespace execkit::redis

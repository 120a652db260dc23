// One submitted call as the backend tracks it, from submit to completion.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "execkit/backend.hpp"

namespace execkit {

class PoolEngine;

class CallState final : public CancelTarget, public std::enable_shared_from_this<CallState> {
 public:
  // Receives the outcome exactly once, on the engine's I/O thread; must not block.
  using Sink = std::function<void(const std::shared_ptr<CallState>&, Outcome)>;

  CallState(std::uint64_t id, Call call, Deadline deadline, Sink sink, std::weak_ptr<PoolEngine> engine)
      : id_(id), call_(std::move(call)), deadline_(deadline), sink_(std::move(sink)), engine_(std::move(engine)) {}

  std::uint64_t id() const noexcept { return id_; }
  const Call& call() const noexcept { return call_; }
  Deadline deadline() const noexcept { return deadline_; }

  bool cancel() override;

  // Engine side: ends the call. A cancel accepted before this point wins
  // over `outcome` (cancel() returning true guarantees a CancelledError).
  void finish(Outcome outcome);
  bool finished() const;

 private:
  const std::uint64_t id_;
  const Call call_;
  const Deadline deadline_;
  Sink sink_;
  std::weak_ptr<PoolEngine> engine_;
  mutable std::mutex mutex_;
  bool finished_ = false;
  bool cancel_requested_ = false;
};

}  // namespace execkit

// A backend whose workers are on other machines: calls travel through Redis
// Streams to `execkit-node` agents, each running them on its own
// ProcessPoolBackend (docs/distributed.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "execkit/backend.hpp"
#include "execkit/config.hpp"
#include "execkit/lifecycle.hpp"

namespace execkit {

struct RedisStreamConfig {
  // "unix:/path/to/redis.sock" or "host:port". hiredis 0.14 has no TLS: use a
  // unix socket, loopback, or a network you trust.
  std::string address;
  // ACL user and password; empty password: no AUTH. The password is never
  // logged and never part of an error message.
  std::string user;
  std::string password;
  // The pool the nodes serve (execkit-node --pool): letters, digits, '_', '-', '.'.
  std::string pool = "default";
  // A node or caller that has not renewed its heartbeat for this long is
  // gone: its calls end (WorkerCrashed naming the node) or are stopped.
  std::chrono::milliseconds lease{3000};
  // max_workers bounds this caller's calls in flight; spill_dir is where
  // large results are written and mapped; max_result_bytes and
  // stderr_tail_bytes travel with each call and are enforced on the node;
  // log receives diagnostics. The environment a task sees is the node's
  // (its own whitelist); the caller's never crosses the wire.
  WorkerConfig worker;
};

class RedisStreamBackend final : public ExecutorBackend, public LifecycleObservable {
 public:
  // Validates the config, connects and authenticates (ConfigError naming the
  // setting on a bad value, a refused password or an unreachable server),
  // and prepares the spill directory (SpillError). Starts no task.
  explicit RedisStreamBackend(RedisStreamConfig config);
  ~RedisStreamBackend() override;  // shutdown(true)
  RedisStreamBackend(const RedisStreamBackend&) = delete;
  RedisStreamBackend& operator=(const RedisStreamBackend&) = delete;

  Result execute(const Call& call, Deadline deadline) override;
  Submission submit(Call call, Deadline deadline, CompletionHandler on_done) override;
  void shutdown(bool wait) override;

  Subscription on_submit(SubmitHandler handler) override;
  Subscription on_complete(CompleteHandler handler) override;
  Subscription on_shutdown(ShutdownHandler handler) override;

  // This caller's id: its reply stream and heartbeat key carry it.
  const std::string& caller_id() const noexcept;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace execkit

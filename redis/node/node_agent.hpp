// execkit-node: serves one pool's call stream on this machine. Claims calls
// only while it has a free worker, runs each on its own ProcessPoolBackend,
// and streams the outcome back to the caller (docs/distributed.md).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "execkit/config.hpp"
#include "execkit/process_pool.hpp"
#include "redis_connection.hpp"
#include "wire.hpp"

namespace execkit::redis {

struct NodeOptions {
  RedisAddress address;
  RedisCredentials credentials;
  std::string pool = "default";
  std::string node_id;
  std::chrono::milliseconds lease{3000};
  // On SIGTERM: how long in-flight calls may still finish before they are failed.
  std::chrono::milliseconds drain{10000};
  // Results up to this size travel in one entry; larger ones in chunks of
  // `chunk_bytes`, at most `chunk_window` of them unread in Redis per call.
  std::size_t inline_result_bytes = 256 * 1024;
  std::size_t chunk_bytes = 1024 * 1024;
  std::size_t chunk_window = 8;
  WorkerConfig worker;  // node_id is set to `node_id`
  // Written "ready\n" and closed once the node serves (-1: none).
  int ready_fd = -1;
};

class NodeAgent {
 public:
  // Connects, authenticates and joins the pool's consumer group; throws
  // RedisError or ConfigError.
  explicit NodeAgent(NodeOptions options);
  ~NodeAgent();
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  // Serves until `stop` is set, then drains: in-flight calls get up to
  // options.drain to finish, the rest end with BackendClosed; every caller
  // gets a terminal reply for every call this node claimed.
  void serve(const std::atomic<bool>& stop);

 private:
  struct Running;
  struct Finished;
  using Clock = std::chrono::steady_clock;

  RedisConnection connect() const;
  void ensure_group(RedisConnection& connection);
  void claim(RedisConnection& connection, std::size_t count);
  void start_call(RedisConnection& connection, const std::string& entry_id, const wire::Fields& fields);
  void reply(RedisConnection& connection, const std::string& caller, const wire::Reply& message);
  void send_loop();
  void send_outcome(RedisConnection& connection, Finished& done);
  void send_chunked(RedisConnection& connection, Finished& done);
  void watch_loop();
  void watch_once(RedisConnection& connection, std::string& last_cancel);
  void cancel_running(const std::string& call_id, const std::string& why);
  void renew_heartbeat(RedisConnection& connection);
  void stop_callerless_calls(RedisConnection& connection);
  void log(const std::string& line) const;

  NodeOptions options_;
  const wire::Keys keys_;
  const std::string token_;
  const std::string consumer_;
  std::unique_ptr<ProcessPoolBackend> backend_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::shared_ptr<Running>> running_;
  std::map<std::string, Clock::time_point> early_cancels_;  // cancels seen before their call
  std::vector<std::unique_ptr<Finished>> outbox_;
  std::size_t busy_ = 0;  // claimed calls not yet fully answered
  bool stop_senders_ = false;
  std::atomic<bool> stop_watcher_{false};
  std::optional<ServerClock> clock_;

  std::vector<std::thread> senders_;
  std::thread watcher_;
};

}  // namespace execkit::redis

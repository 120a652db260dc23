// The caller side of RedisStreamBackend: sends calls to the pool's call
// stream, reads its own reply stream on one thread, enforces deadlines,
// renews its heartbeat and watches the leases of the nodes running its calls.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "execkit/config.hpp"
#include "redis_connection.hpp"
#include "remote_call.hpp"
#include "spill_dir.hpp"
#include "wire.hpp"

namespace execkit::redis {

struct CallerSettings {
  RedisAddress address;
  RedisCredentials credentials;
  std::string pool;
  std::string caller_id;
  std::chrono::milliseconds lease{3000};
  WorkerConfig worker;  // completed: max_workers >= 1, log set
};

class CallerEngine : public std::enable_shared_from_this<CallerEngine> {
 public:
  // Connects and authenticates (throws RedisError), then starts the reader.
  static std::shared_ptr<CallerEngine> start(CallerSettings settings, SpillDir spill_dir);
  ~CallerEngine();

  std::string next_call_id();
  // Queues or sends the call; a closed engine finishes it with BackendClosed.
  void submit(const std::shared_ptr<RemoteCall>& call);
  bool cancel(const std::shared_ptr<RemoteCall>& call);
  // Ends queued and running calls with BackendClosed and withdraws them.
  void close();
  // Returns once no call holds a slot (every node confirmed, or its lease or
  // the connection was lost), the reader stopped and this caller's keys are gone.
  void wait_closed();

 private:
  using Clock = std::chrono::steady_clock;
  CallerEngine(CallerSettings settings, SpillDir spill_dir);

  void finish(const std::shared_ptr<RemoteCall>& call, Outcome outcome);
  void send(const std::shared_ptr<RemoteCall>& call, RedisConnection& connection);
  void withdraw(const std::shared_ptr<RemoteCall>& call, RedisConnection& connection);
  void release_slot_locked(const std::shared_ptr<RemoteCall>& call);
  void dispatch_queue(RedisConnection& connection);
  // Runs `use` on the shared command connection, reconnecting once if it broke.
  template <class Use>
  void with_command_connection(Use&& use);
  void wake_reader_for(Deadline deadline);
  // An entry in this caller's own reply stream that ends the reader's XREAD.
  void send_wake();

  void read_loop();
  void read_once(RedisConnection& connection);
  void handle(const std::string& entry_id, const wire::Fields& fields, RedisConnection& connection);
  void append_chunk(const std::string& call_id, std::string_view data, RedisConnection& connection);
  void expire_deadlines(RedisConnection& connection);
  void renew_heartbeat(RedisConnection& connection);
  void check_node_leases(RedisConnection& connection);
  void release_stale_withdrawals();
  void lose_calls_in_flight(const std::string& cause);
  std::chrono::milliseconds block_time() const;
  void delete_own_keys(RedisConnection& connection);

  const CallerSettings settings_;
  const wire::Keys keys_;
  const std::string reply_key_;
  SpillDir spill_dir_;

  std::mutex command_mutex_;
  std::optional<RedisConnection> command_connection_;

  mutable std::mutex mutex_;
  std::condition_variable slots_released_;
  std::map<std::string, std::shared_ptr<RemoteCall>> calls_;  // unfinished, or holding a slot
  std::deque<std::shared_ptr<RemoteCall>> queue_;
  std::size_t in_flight_ = 0;
  bool closed_ = false;
  bool stopping_ = false;
  std::optional<ServerClock> clock_;
  Clock::time_point reader_wakes_at_ = Clock::time_point::max();
  std::uint64_t next_call_ = 1;

  // Reader-thread state.
  std::string last_reply_id_ = "0-0";
  std::vector<std::string> to_delete_;   // reply entries processed
  std::vector<std::string> credits_;     // credit lists to push one token to
  std::vector<std::string> done_calls_;  // credit lists to delete
  Clock::time_point next_heartbeat_{};
  Clock::time_point next_lease_check_{};

  std::thread reader_;
};

}  // namespace execkit::redis

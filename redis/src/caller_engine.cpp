#include "caller_engine.hpp"

#include <algorithm>
#include <set>

#include "execkit/errors.hpp"
#include "stream_entries.hpp"

namespace execkit::redis {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds connect_timeout = 2s;
constexpr std::string_view max_cancels = "1000";

template <class E>
Outcome fail(const std::string& what) {
  return Outcome::failure(E(what));
}

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()); }

}  // namespace

bool RemoteCall::cancel() {
  if (auto owner = engine.lock()) return owner->cancel(shared_from_this());
  return false;
}

std::shared_ptr<CallerEngine> CallerEngine::start(CallerSettings settings, SpillDir spill_dir) {
  std::shared_ptr<CallerEngine> engine(new CallerEngine(std::move(settings), std::move(spill_dir)));
  {
    // Connect once on the constructing thread so a bad address or password fails here.
    auto connection = RedisConnection::open(engine->settings_.address, engine->settings_.credentials, connect_timeout,
                                            engine->settings_.lease + connect_timeout);
    engine->clock_ = ServerClock::sample(connection);
    engine->renew_heartbeat(connection);
    engine->command_connection_ = std::move(connection);
  }
  engine->reader_ = std::thread([raw = engine.get()] { raw->read_loop(); });
  return engine;
}

CallerEngine::CallerEngine(CallerSettings settings, SpillDir spill_dir)
    : settings_(std::move(settings)),
      keys_(settings_.pool),
      reply_key_(keys_.reply(settings_.caller_id)),
      spill_dir_(std::move(spill_dir)) {}

CallerEngine::~CallerEngine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  if (reader_.joinable()) reader_.join();
}

std::string CallerEngine::next_call_id() {
  std::lock_guard lock(mutex_);
  return settings_.caller_id + "-" + std::to_string(next_call_++);
}

void CallerEngine::finish(const std::shared_ptr<RemoteCall>& call, Outcome outcome) {
  {
    std::lock_guard lock(mutex_);
    if (call->finished) return;
    call->finished = true;
    call->result_file.reset();
    if (!call->holds_slot) calls_.erase(call->id);
  }
  call->sink(call, std::move(outcome));
}

template <class Use>
void CallerEngine::with_command_connection(Use&& use) {
  std::lock_guard lock(command_mutex_);
  for (int attempt = 0;; ++attempt) {
    try {
      if (!command_connection_) {
        command_connection_ = RedisConnection::open(settings_.address, settings_.credentials, connect_timeout,
                                                    settings_.lease + connect_timeout);
        // A server that restarted empty must see this caller alive before a node
        // takes its next call (nodes drop calls of callers without a heartbeat).
        command_connection_->command({"SET", keys_.caller(settings_.caller_id), "1", "PX", ms_text(settings_.lease)});
      }
      use(*command_connection_);
      return;
    } catch (const RedisError& e) {
      if (e.kind() != RedisError::Kind::io) throw;
      command_connection_.reset();
      if (attempt == 1) throw;
    }
  }
}

void CallerEngine::submit(const std::shared_ptr<RemoteCall>& call) {
  bool send_now = false;
  bool rejected = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_) {
      call->finished = rejected = true;
    } else {
      calls_.emplace(call->id, call);
      send_now = in_flight_ < settings_.worker.max_workers && queue_.empty();
      if (send_now) {
        call->holds_slot = true;
        call->stage = RemoteCall::Stage::sent;
        ++in_flight_;
      } else {
        queue_.push_back(call);
      }
    }
  }
  if (rejected) {
    call->sink(call, fail<BackendClosed>("backend is shut down; call rejected"));
    return;
  }
  wake_reader_for(call->deadline);
  if (send_now) {
    try {
      with_command_connection([&](RedisConnection& connection) { send(call, connection); });
    } catch (const RedisError& e) {
      {
        std::lock_guard lock(mutex_);
        release_slot_locked(call);
      }
      finish(call, fail<WorkerCrashed>(std::string("could not send the call to redis: ") + e.what() +
                                       "; it never reached a node"));
    }
  }
}

void CallerEngine::wake_reader_for(Deadline deadline) {
  {
    std::lock_guard lock(mutex_);
    if (deadline.at >= reader_wakes_at_) return;
    reader_wakes_at_ = deadline.at;
  }
  send_wake();
}

void CallerEngine::send_wake() {
  try {
    with_command_connection([&](RedisConnection& connection) {
      connection.command({"XADD", reply_key_, "*", "v", wire::version, "kind", "wake", "call", ""});
    });
  } catch (const RedisError&) {
    // The reader notices the broken connection itself.
  }
}

void CallerEngine::send(const std::shared_ptr<RemoteCall>& call, RedisConnection& connection) {
  wire::CallRequest request;
  request.call_id = call->id;
  request.caller_id = settings_.caller_id;
  request.call = call->call;
  {
    std::lock_guard lock(mutex_);
    request.deadline_us = call->deadline.is_never() ? 0 : clock_->to_server_us(call->deadline.at);
  }
  request.max_result_bytes = settings_.worker.max_result_bytes;
  request.stderr_tail_bytes = settings_.worker.stderr_tail_bytes;
  const auto fields = wire::encode(request);
  std::vector<std::string_view> args{"XADD", keys_.calls, "*"};
  for (const auto& [key, value] : fields) {
    args.push_back(key);
    args.push_back(value);
  }
  auto reply = connection.command(args);
  bool withdraw_now = false;
  {
    std::lock_guard lock(mutex_);
    call->entry_id = std::string(text_of(*reply));
    withdraw_now = call->finished;
  }
  if (withdraw_now) withdraw(call, connection);
}

void CallerEngine::withdraw(const std::shared_ptr<RemoteCall>& call, RedisConnection& connection) {
  std::string entry_id;
  {
    std::lock_guard lock(mutex_);
    if (!call->holds_slot || call->withdrawn_at) return;
    entry_id = call->entry_id;
    if (entry_id.empty()) return;  // the sending thread withdraws it once the XADD returns
    call->withdrawn_at = Clock::now();
  }
  const bool never_read = integer_of(*connection.command({"XDEL", keys_.calls, entry_id})) == 1;
  if (never_read) {
    std::lock_guard lock(mutex_);
    release_slot_locked(call);
  } else {
    const auto fields = wire::encode(wire::CancelRequest{call->id, settings_.caller_id});
    std::vector<std::string_view> args{"XADD", keys_.cancels, "MAXLEN", "~", max_cancels, "*"};
    for (const auto& [key, value] : fields) {
      args.push_back(key);
      args.push_back(value);
    }
    connection.command(args);
  }
  dispatch_queue(connection);
}

void CallerEngine::release_slot_locked(const std::shared_ptr<RemoteCall>& call) {
  if (!call->holds_slot) return;
  call->holds_slot = false;
  --in_flight_;
  if (call->finished) calls_.erase(call->id);
  done_calls_.push_back(keys_.credit(call->id));
  slots_released_.notify_all();
}

void CallerEngine::dispatch_queue(RedisConnection& connection) {
  while (true) {
    std::shared_ptr<RemoteCall> next;
    {
      std::lock_guard lock(mutex_);
      while (!queue_.empty() && queue_.front()->finished) queue_.pop_front();
      if (closed_ || queue_.empty() || in_flight_ >= settings_.worker.max_workers) return;
      next = queue_.front();
      queue_.pop_front();
      next->holds_slot = true;
      next->stage = RemoteCall::Stage::sent;
      ++in_flight_;
    }
    send(next, connection);
  }
}

bool CallerEngine::cancel(const std::shared_ptr<RemoteCall>& call) {
  bool queued = false;
  {
    std::lock_guard lock(mutex_);
    if (call->finished) return false;
    queued = call->stage == RemoteCall::Stage::queued;
    if (queued) std::erase(queue_, call);
  }
  finish(call, fail<CancelledError>(queued ? "call cancelled while queued; it never started" : "call cancelled"));
  if (!queued) {
    try {
      with_command_connection([&](RedisConnection& connection) { withdraw(call, connection); });
    } catch (const RedisError& e) {
      settings_.worker.log(std::string("could not withdraw cancelled call ") + call->id + ": " + e.what());
    }
  }
  return true;
}

void CallerEngine::close() {
  std::vector<std::shared_ptr<RemoteCall>> unfinished;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    queue_.clear();
    for (const auto& [id, call] : calls_)
      if (!call->finished) unfinished.push_back(call);
  }
  for (const auto& call : unfinished) {
    finish(call, fail<BackendClosed>("backend shut down before the call ended"));
    try {
      with_command_connection([&](RedisConnection& connection) { withdraw(call, connection); });
    } catch (const RedisError& e) {
      settings_.worker.log(std::string("could not withdraw call ") + call->id + " at shutdown: " + e.what());
    }
  }
  {
    std::lock_guard lock(mutex_);
    reader_wakes_at_ = Clock::time_point::min();
  }
  send_wake();
}

void CallerEngine::wait_closed() {
  {
    std::unique_lock lock(mutex_);
    slots_released_.wait(lock, [&] { return in_flight_ == 0 || !reader_.joinable(); });
    stopping_ = true;
  }
  if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) reader_.join();
}

std::chrono::milliseconds CallerEngine::block_time() const {
  // Wakes for the next heartbeat, lease check or deadline, whichever is first.
  auto until = std::min(next_heartbeat_, next_lease_check_);
  for (const auto& [id, call] : calls_)
    if (!call->finished && !call->deadline.is_never()) until = std::min(until, call->deadline.at);
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
  return std::clamp(left, std::chrono::milliseconds(1), settings_.lease);
}

void CallerEngine::read_loop() {
  std::optional<RedisConnection> connection;
  auto backoff = 10ms;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || (closed_ && in_flight_ == 0)) break;
    }
    try {
      if (!connection) {
        connection = RedisConnection::open(settings_.address, settings_.credentials, connect_timeout,
                                           settings_.lease + connect_timeout);
        auto clock = ServerClock::sample(*connection);
        {
          std::lock_guard lock(mutex_);
          clock_ = clock;
        }
        renew_heartbeat(*connection);
        backoff = 10ms;
      }
      read_once(*connection);
    } catch (const RedisError& e) {
      if (connection) {
        settings_.worker.log(std::string("reader: ") + e.what());
        lose_calls_in_flight(std::string("lost the connection to redis (") + e.what() +
                             "); the call's fate on its node is unknown and it is not retried");
      }
      connection.reset();
      std::unique_lock lock(mutex_);
      slots_released_.wait_for(lock, backoff, [&] { return stopping_; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    }
  }
  if (connection) {
    try {
      delete_own_keys(*connection);
    } catch (const RedisError& e) {
      settings_.worker.log(std::string("could not delete this caller's keys: ") + e.what());
    }
  }
  std::lock_guard lock(mutex_);
  slots_released_.notify_all();
}

void CallerEngine::read_once(RedisConnection& connection) {
  const auto now = Clock::now();
  if (now >= next_heartbeat_) renew_heartbeat(connection);
  if (now >= next_lease_check_) {
    check_node_leases(connection);
    release_stale_withdrawals();
    next_lease_check_ = Clock::now() + settings_.lease / 4;
  }
  expire_deadlines(connection);
  dispatch_queue(connection);

  std::vector<std::string> deletes, credits, done;
  std::string block;
  {
    std::lock_guard lock(mutex_);
    deletes.swap(to_delete_);
    credits.swap(credits_);
    done.swap(done_calls_);
    const auto wait = block_time();
    block = ms_text(wait);
    reader_wakes_at_ = Clock::now() + wait;
  }
  std::size_t pipelined = 0;
  if (!deletes.empty()) {
    std::vector<std::string_view> args{"XDEL", reply_key_};
    args.insert(args.end(), deletes.begin(), deletes.end());
    connection.append(args);
    ++pipelined;
  }
  for (const auto& key : credits) {
    connection.append({"RPUSH", key, "1"});
    connection.append({"PEXPIRE", key, ms_text(settings_.lease * 2)});
    pipelined += 2;
  }
  if (!done.empty()) {
    std::vector<std::string_view> args{"DEL"};
    args.insert(args.end(), done.begin(), done.end());
    connection.append(args);
    ++pipelined;
  }
  // A few entries per read: a batch of 1 MiB chunks is written to the result
  // file before the next heartbeat check, and big batches make the heap
  // churn (docs/performance.md).
  connection.append({"XREAD", "COUNT", "8", "BLOCK", block, "STREAMS", reply_key_, last_reply_id_});
  for (std::size_t i = 0; i < pipelined; ++i) connection.read_reply();
  auto reply = connection.read_reply();
  for (const auto& entry : entry_views_of_read(*reply)) {
    // Writing chunks must not let this caller's lease lapse: nodes would take it for dead.
    if (Clock::now() >= next_heartbeat_) renew_heartbeat(connection);
    last_reply_id_ = std::string(entry.id);
    {
      std::lock_guard lock(mutex_);
      to_delete_.push_back(last_reply_id_);
    }
    if (entry.field("kind") == "chunk" && entry.field("v") == wire::version) {
      append_chunk(std::string(entry.field("call")), entry.field("data"), connection);
    } else {
      handle(last_reply_id_, entry.copy_fields(), connection);
    }
  }
}

void CallerEngine::handle(const std::string& entry_id, const wire::Fields& fields, RedisConnection& connection) {
  for (const auto& [key, value] : fields)
    if (key == "kind" && value == "wake") return;
  wire::Reply reply;
  try {
    reply = wire::decode_reply(fields);
  } catch (const wire::WireError& e) {
    settings_.worker.log("reply entry " + entry_id + " rejected: " + e.what());
    return;
  }
  std::shared_ptr<RemoteCall> call;
  {
    std::lock_guard lock(mutex_);
    auto it = calls_.find(reply.call_id);
    if (it == calls_.end()) return;
    call = it->second;
  }
  using Kind = wire::Reply::Kind;
  {
    std::lock_guard lock(mutex_);
    reply.metrics = wire::shifted(std::move(reply.metrics), -clock_->offset_ns());
    if (reply.error) reply.error = wire::shifted(reply.error, -clock_->offset_ns());
  }
  std::optional<Outcome> outcome;
  bool terminal = reply.kind == Kind::ok || reply.kind == Kind::error;
  try {
    std::lock_guard lock(mutex_);
    switch (reply.kind) {
      case Kind::claimed:
        call->stage = RemoteCall::Stage::claimed;
        call->node_id = reply.node_id;
        call->node_token = reply.node_token;
        break;
      case Kind::begin:
        if (!call->finished) call->result_file = std::make_unique<ResultFile>(spill_dir_.dir_fd(), reply.size);
        break;
      case Kind::chunk:  // read_once hands chunks to append_chunk, unparsed
        break;
      case Kind::ok:
        if (call->finished) break;
        if (!reply.chunked) {
          auto owner = std::make_shared<std::string>(std::move(reply.data));
          const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(owner->data()), owner->size());
          outcome.emplace(Result(std::move(owner), bytes, std::move(reply.metrics)));
        } else if (call->result_file) {
          outcome.emplace(call->result_file->finish(std::move(reply.metrics)));
        } else {
          outcome.emplace(Outcome::failure(ResultError(ResultError::Reason::unreadable, "the node ended a chunked result it never began")));
        }
        break;
      case Kind::error:
        outcome.emplace(std::move(reply.error));
        break;
    }
  } catch (const ResultError& e) {
    outcome.emplace(e.clone());
  } catch (const std::system_error& e) {
    outcome.emplace(Outcome::failure(ResultError(ResultError::Reason::unreadable, std::string("cannot map the result: ") + e.what())));
  }
  if (outcome) {
    const bool mid_transfer = !terminal;
    finish(call, std::move(*outcome));
    if (mid_transfer) withdraw(call, connection);
  }
  if (terminal) {
    std::lock_guard lock(mutex_);
    release_slot_locked(call);
  }
}

void CallerEngine::append_chunk(const std::string& call_id, std::string_view data, RedisConnection& connection) {
  std::shared_ptr<RemoteCall> call;
  std::optional<Outcome> failure;
  {
    std::lock_guard lock(mutex_);
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return;
    call = it->second;
    // Credit even a call that ended here, so its node is never left waiting.
    credits_.push_back(keys_.credit(call_id));
    try {
      if (call->result_file) call->result_file->append(data);
    } catch (const ResultError& e) {
      failure.emplace(e.clone());
    }
  }
  if (failure) {
    finish(call, std::move(*failure));
    withdraw(call, connection);
  }
}

void CallerEngine::expire_deadlines(RedisConnection& connection) {
  std::vector<std::pair<std::shared_ptr<RemoteCall>, bool>> expired;  // call, still queued
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    for (const auto& [id, call] : calls_)
      if (!call->finished && call->deadline.at <= now) expired.emplace_back(call, call->stage == RemoteCall::Stage::queued);
    for (const auto& [call, queued] : expired)
      if (queued) std::erase(queue_, call);
  }
  for (const auto& [call, queued] : expired) {
    finish(call, fail<TimeoutError>(queued ? "deadline passed while the call was queued; it never started"
                                           : "deadline passed; the task was stopped on its node"));
    if (!queued) withdraw(call, connection);
  }
}

void CallerEngine::renew_heartbeat(RedisConnection& connection) {
  connection.append({"SET", keys_.caller(settings_.caller_id), "1", "PX", ms_text(settings_.lease)});
  connection.append({"PEXPIRE", reply_key_, ms_text(settings_.lease * 2)});
  connection.read_reply();
  connection.read_reply();
  next_heartbeat_ = Clock::now() + settings_.lease / 3;
}

void CallerEngine::check_node_leases(RedisConnection& connection) {
  std::map<std::string, std::string> tokens;  // node -> token its claims carried
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, call] : calls_)
      if (call->holds_slot && call->stage == RemoteCall::Stage::claimed) tokens[call->node_id] = call->node_token;
  }
  std::set<std::string> lost;
  for (const auto& [node, token] : tokens) {
    auto reply = connection.command({"GET", keys_.node(node)});
    if (text_of(*reply) != token) lost.insert(node);
  }
  if (lost.empty()) return;
  std::vector<std::shared_ptr<RemoteCall>> orphans;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, call] : calls_)
      if (call->holds_slot && call->stage == RemoteCall::Stage::claimed && lost.count(call->node_id) != 0)
        orphans.push_back(call);
  }
  for (const auto& call : orphans) {
    finish(call, Outcome::failure(WorkerCrashed("node '" + call->node_id + "' stopped renewing its lease (" +
                                                ms_text(settings_.lease) +
                                                " ms) while running the call; it was not retried")));
    std::lock_guard lock(mutex_);
    release_slot_locked(call);
  }
}

void CallerEngine::release_stale_withdrawals() {
  std::lock_guard lock(mutex_);
  const auto limit = Clock::now() - 2 * settings_.lease;
  std::vector<std::shared_ptr<RemoteCall>> stale;
  for (const auto& [id, call] : calls_)
    if (call->holds_slot && call->withdrawn_at && *call->withdrawn_at < limit) stale.push_back(call);
  for (const auto& call : stale) {
    settings_.worker.log("no node confirmed the end of withdrawn call " + call->id + " within two leases; releasing it");
    release_slot_locked(call);
  }
}

void CallerEngine::lose_calls_in_flight(const std::string& cause) {
  std::vector<std::shared_ptr<RemoteCall>> lost;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, call] : calls_)
      if (call->holds_slot) lost.push_back(call);
  }
  for (const auto& call : lost) {
    finish(call, Outcome::failure(WorkerCrashed(cause)));
    std::lock_guard lock(mutex_);
    release_slot_locked(call);
  }
}

void CallerEngine::delete_own_keys(RedisConnection& connection) {
  std::vector<std::string> done;
  {
    std::lock_guard lock(mutex_);
    done.swap(done_calls_);
  }
  const std::string caller_key = keys_.caller(settings_.caller_id);
  std::vector<std::string_view> args{"DEL", caller_key, reply_key_};
  args.insert(args.end(), done.begin(), done.end());
  connection.command(args);
}

}  // namespace execkit::redis

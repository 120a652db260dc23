#include "node_agent.hpp"

#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "execkit/errors.hpp"
#include "random_id.hpp"
#include "stream_entries.hpp"

namespace execkit::redis {
namespace {

using namespace std::chrono_literals;
constexpr std::chrono::milliseconds connect_timeout = 2s;
// How long one XREADGROUP / XREAD blocks: bounds how late a stop is noticed.
constexpr std::chrono::milliseconds claim_block = 100ms;
constexpr std::chrono::milliseconds watch_tick = 100ms;

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()); }

std::vector<std::string_view> xadd_args(std::string_view key, const wire::Fields& fields) {
  std::vector<std::string_view> args{"XADD", key, "*"};
  for (const auto& [name, value] : fields) {
    args.push_back(name);
    args.push_back(value);
  }
  return args;
}

std::string tail_of(const std::string& text, std::uint64_t limit) {
  return text.size() <= limit ? text : text.substr(text.size() - static_cast<std::size_t>(limit));
}

// The caller's stderr_tail_bytes applies to what the node's backend kept.
std::shared_ptr<const Error> bounded(const std::shared_ptr<const Error>& error, std::uint64_t tail_limit) {
  if (const auto* task = dynamic_cast<const TaskError*>(error.get()))
    return std::make_shared<TaskError>(task->type(), task->message(), tail_of(task->stderr_tail(), tail_limit),
                                       task->metrics());
  if (const auto* crashed = dynamic_cast<const WorkerCrashed*>(error.get()))
    if (crashed->term_signal() || crashed->exit_status())
      return std::make_shared<WorkerCrashed>(crashed->term_signal(), crashed->exit_status(),
                                             tail_of(crashed->stderr_tail(), tail_limit));
  return error;
}

}  // namespace

struct NodeAgent::Running {
  std::string caller_id;
  Submission submission;
  bool cancelled = false;  // guarded by the agent's mutex
};

struct NodeAgent::Finished {
  wire::CallRequest request;
  std::optional<Outcome> outcome;
};

NodeAgent::NodeAgent(NodeOptions options)
    : options_(std::move(options)),
      keys_(options_.pool),
      token_(random_hex_id()),
      consumer_(options_.node_id + ":" + token_) {
  if (!wire::valid_pool_name(options_.pool))
    throw ConfigError("--pool", options_.pool, "a pool name has 1 to 64 letters, digits, '_', '-' or '.'");
  if (!wire::valid_pool_name(options_.node_id))
    throw ConfigError("--node-id", options_.node_id, "a node id has 1 to 64 letters, digits, '_', '-' or '.'");
  options_.worker.node_id = options_.node_id;
  auto connection = connect();
  clock_ = ServerClock::sample(connection);
  ensure_group(connection);
  renew_heartbeat(connection);
  backend_ = std::make_unique<ProcessPoolBackend>(options_.worker);
  for (std::size_t i = 0; i < options_.worker.max_workers; ++i) senders_.emplace_back([this] { send_loop(); });
  watcher_ = std::thread([this] { watch_loop(); });
}

NodeAgent::~NodeAgent() {
  {
    std::lock_guard lock(mutex_);
    stop_senders_ = true;
  }
  changed_.notify_all();
  for (auto& sender : senders_) sender.join();
  stop_watcher_ = true;
  if (watcher_.joinable()) watcher_.join();
}

void NodeAgent::log(const std::string& line) const {
  if (options_.worker.log) options_.worker.log(line);
  else std::cerr << "execkit-node " << options_.node_id << ": " << line << '\n';
}

RedisConnection NodeAgent::connect() const {
  return RedisConnection::open(options_.address, options_.credentials, connect_timeout, options_.lease + connect_timeout);
}

void NodeAgent::ensure_group(RedisConnection& connection) {
  try {
    // From id 0: calls added before the group existed are served too.
    connection.command({"XGROUP", "CREATE", keys_.calls, wire::Keys::group, "0", "MKSTREAM"});
  } catch (const RedisError& e) {
    if (!e.has_code("BUSYGROUP")) throw;
  }
}

void NodeAgent::renew_heartbeat(RedisConnection& connection) {
  connection.command({"SET", keys_.node(options_.node_id), token_, "PX", ms_text(options_.lease)});
}

void NodeAgent::serve(const std::atomic<bool>& stop) {
  if (options_.ready_fd >= 0) {
    [[maybe_unused]] const auto written = ::write(options_.ready_fd, "ready\n", 6);
    ::close(options_.ready_fd);
    options_.ready_fd = -1;
  }
  std::optional<RedisConnection> connection;
  auto backoff = 10ms;
  while (!stop) {
    std::size_t free_slots = 0;
    {
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, claim_block, [&] { return busy_ < options_.worker.max_workers || stop; });
      free_slots = options_.worker.max_workers - std::min(busy_, options_.worker.max_workers);
    }
    if (free_slots == 0 || stop) continue;
    try {
      if (!connection) {
        connection = connect();
        ensure_group(*connection);
        backoff = 10ms;
      }
      claim(*connection, free_slots);
    } catch (const RedisError& e) {
      if (e.has_code("NOGROUP")) {
        continue;  // the server restarted empty: the group is created again on reconnect
      }
      log(std::string("claiming: ") + e.what());
      connection.reset();
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, backoff, [&] { return stop.load(); });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    }
  }
  // Drain: no more claims; running calls may finish, then the rest are failed.
  {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, options_.drain, [&] { return busy_ == 0; });
  }
  backend_->shutdown(true);
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return busy_ == 0; });
  }
  try {
    auto last = connect();
    last.command({"DEL", keys_.node(options_.node_id)});
  } catch (const RedisError& e) {
    log(std::string("could not delete the heartbeat key: ") + e.what());
  }
}

void NodeAgent::claim(RedisConnection& connection, std::size_t count) {
  auto reply = connection.command({"XREADGROUP", "GROUP", wire::Keys::group, consumer_, "COUNT", std::to_string(count),
                                   "BLOCK", ms_text(claim_block), "STREAMS", keys_.calls, ">"});
  for (const auto& entry : entries_of_read(*reply)) start_call(connection, entry.id, entry.fields);
}

void NodeAgent::reply(RedisConnection& connection, const std::string& caller, const wire::Reply& message) {
  const auto key = keys_.reply(caller);
  connection.append(xadd_args(key, wire::encode(message)));
  connection.append({"PEXPIRE", key, ms_text(options_.lease * 2)});
  connection.read_reply();
  connection.read_reply();
}

void NodeAgent::start_call(RedisConnection& connection, const std::string& entry_id, const wire::Fields& fields) {
  // One round trip before the task starts: the entry leaves the stream
  // (XACK + XDEL, so nobody can claim it again: RUN-1), the caller's
  // heartbeat is read, and the first answer goes out.
  connection.append({"XACK", keys_.calls, wire::Keys::group, entry_id});
  connection.append({"XDEL", keys_.calls, entry_id});
  wire::CallRequest request;
  std::optional<wire::Reply> answer;
  std::string caller;
  bool decoded = false;
  try {
    request = wire::decode_call(fields);
    decoded = true;
  } catch (const wire::WireError& e) {
    log("rejected call entry " + entry_id + ": " + e.what());
    if (auto address = wire::reply_address(fields)) {
      caller = address->first;
      answer.emplace();
      answer->kind = wire::Reply::Kind::error;
      answer->call_id = address->second;
      answer->error = std::make_shared<ConfigError>("wire entry", entry_id,
                                                    "node '" + options_.node_id + "' rejected the call: " + e.what());
    }
  }
  if (decoded) {
    connection.append({"EXISTS", keys_.caller(request.caller_id)});
    caller = request.caller_id;
    answer.emplace();
    answer->call_id = request.call_id;
    bool cancelled_early = false;
    {
      std::lock_guard lock(mutex_);
      cancelled_early = early_cancels_.erase(request.call_id) != 0;
    }
    if (request.deadline_us != 0 && request.deadline_us <= clock_->now_us()) {
      answer->kind = wire::Reply::Kind::error;
      answer->error = std::make_shared<TimeoutError>("deadline passed while the call was queued in redis; it never started");
    } else if (cancelled_early) {
      answer->kind = wire::Reply::Kind::error;
      answer->error = std::make_shared<CancelledError>("call cancelled before it started");
    } else {
      answer->kind = wire::Reply::Kind::claimed;
      answer->node_id = options_.node_id;
      answer->node_token = token_;
    }
  }
  const std::string reply_key = keys_.reply(caller);
  if (answer) {
    connection.append(xadd_args(reply_key, wire::encode(*answer)));
    connection.append({"PEXPIRE", reply_key, ms_text(options_.lease * 2)});
  }
  connection.read_reply();  // XACK
  connection.read_reply();  // XDEL
  const bool caller_alive = decoded && integer_of(*connection.read_reply()) != 0;
  if (answer) {
    connection.read_reply();
    connection.read_reply();
  }
  if (!decoded || answer->kind != wire::Reply::Kind::claimed) return;
  if (!caller_alive) {
    // The claim went to a stream nobody reads; it expires with it.
    log("dropped call " + request.call_id + ": its caller's heartbeat expired");
    return;
  }
  auto running = std::make_shared<Running>();
  running->caller_id = request.caller_id;
  {
    std::lock_guard lock(mutex_);
    ++busy_;
  }
  const Deadline deadline = request.deadline_us == 0 ? Deadline::never() : Deadline{clock_->to_steady(request.deadline_us)};
  auto done = std::make_shared<Finished>();
  done->request = std::move(request);
  const std::string call_id = done->request.call_id;
  Call call = done->request.call;
  {
    std::lock_guard lock(mutex_);
    running_[call_id] = running;
  }
  running->submission = backend_->submit(std::move(call), deadline, [this, done](Outcome outcome) {
    done->outcome.emplace(std::move(outcome));
    {
      std::lock_guard lock(mutex_);
      outbox_.push_back(std::make_unique<Finished>(std::move(*done)));
    }
    changed_.notify_all();
  });
  bool cancel_now = false;
  {
    std::lock_guard lock(mutex_);
    cancel_now = running->cancelled;
  }
  if (cancel_now) running->submission.cancel();
}

void NodeAgent::send_loop() {
  std::optional<RedisConnection> connection;
  while (true) {
    std::unique_ptr<Finished> done;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return !outbox_.empty() || (stop_senders_ && busy_ == 0); });
      if (outbox_.empty()) return;
      done = std::move(outbox_.front());
      outbox_.erase(outbox_.begin());
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!connection) connection = connect();
        send_outcome(*connection, *done);
        break;
      } catch (const RedisError& e) {
        log("answering call " + done->request.call_id + ": " + e.what());
        connection.reset();
      }
    }
    {
      std::lock_guard lock(mutex_);
      running_.erase(done->request.call_id);
      --busy_;
    }
    changed_.notify_all();
  }
}

void NodeAgent::send_outcome(RedisConnection& connection, Finished& done) {
  const auto& request = done.request;
  wire::Reply message;
  message.call_id = request.call_id;
  const Outcome& outcome = *done.outcome;
  if (outcome.ok() && outcome.value().bytes().size() > request.max_result_bytes) {
    message.kind = wire::Reply::Kind::error;
    message.error = std::make_shared<ResultError>(
        ResultError::Reason::too_large, "result of " + std::to_string(outcome.value().bytes().size()) +
                                            " bytes exceeds max_result_bytes=" + std::to_string(request.max_result_bytes));
  } else if (!outcome.ok()) {
    message.kind = wire::Reply::Kind::error;
    message.error = wire::shifted(bounded(outcome.shared_error(), request.stderr_tail_bytes), clock_->offset_ns());
  } else if (outcome.value().bytes().size() > options_.inline_result_bytes) {
    send_chunked(connection, done);
    return;
  } else {
    const auto bytes = outcome.value().bytes();
    message.kind = wire::Reply::Kind::ok;
    message.size = bytes.size();
    message.data.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    message.metrics = wire::shifted(outcome.value().metrics(), clock_->offset_ns());
  }
  reply(connection, request.caller_id, message);
}

void NodeAgent::send_chunked(RedisConnection& connection, Finished& done) {
  const auto& request = done.request;
  const Result& result = done.outcome->value();
  const auto bytes = result.bytes();
  const auto reply_key = keys_.reply(request.caller_id);
  const auto credit_key = keys_.credit(request.call_id);
  wire::Reply message;
  message.call_id = request.call_id;
  message.kind = wire::Reply::Kind::begin;
  message.size = bytes.size();
  reply(connection, request.caller_id, message);

  std::size_t sent = 0, credited = 0, offset = 0;
  const std::string credit_wait = std::to_string(static_cast<double>(options_.lease.count()) / 2000.0);
  while (offset < bytes.size()) {
    while (sent - credited >= options_.chunk_window) {
      auto token = connection.command({"BLPOP", credit_key, credit_wait});
      if (token->type == REDIS_REPLY_ARRAY) {
        ++credited;
        continue;
      }
      bool abandon = false;
      {
        std::lock_guard lock(mutex_);
        auto it = running_.find(request.call_id);
        abandon = it == running_.end() || it->second->cancelled;
      }
      if (abandon || integer_of(*connection.command({"EXISTS", keys_.caller(request.caller_id)})) == 0) {
        wire::Reply stopped;
        stopped.call_id = request.call_id;
        stopped.kind = wire::Reply::Kind::error;
        stopped.error = std::make_shared<CancelledError>("result transfer stopped: the call was cancelled or its caller is gone");
        reply(connection, request.caller_id, stopped);
        return;
      }
    }
    const std::size_t n = std::min(options_.chunk_bytes, bytes.size() - offset);
    // Straight from the result's mapping to the socket: no copy on the node.
    const std::string_view data(reinterpret_cast<const char*>(bytes.data()) + offset, n);
    connection.command_direct(wire::chunk_xadd_args(reply_key, request.call_id, data));
    offset += n;
    ++sent;
  }
  message.kind = wire::Reply::Kind::ok;
  message.chunked = true;
  message.metrics = wire::shifted(result.metrics(), clock_->offset_ns());
  reply(connection, request.caller_id, message);
}

void NodeAgent::cancel_running(const std::string& call_id, const std::string& why) {
  std::shared_ptr<Running> running;
  {
    std::lock_guard lock(mutex_);
    auto it = running_.find(call_id);
    if (it == running_.end()) {
      early_cancels_[call_id] = Clock::now();
      return;
    }
    running = it->second;
    running->cancelled = true;
  }
  log("cancelling call " + call_id + ": " + why);
  running->submission.cancel();
}

void NodeAgent::watch_loop() {
  std::optional<RedisConnection> connection;
  std::string last_cancel;
  auto backoff = 10ms;
  while (!stop_watcher_) {
    try {
      if (!connection) {
        connection = connect();
        auto newest = entries_of_range(*connection->command({"XREVRANGE", keys_.cancels, "+", "-", "COUNT", "1"}));
        if (last_cancel.empty()) last_cancel = newest.empty() ? "0-0" : newest.front().id;
        renew_heartbeat(*connection);
        backoff = 10ms;
      }
      watch_once(*connection, last_cancel);
    } catch (const RedisError& e) {
      log(std::string("watching: ") + e.what());
      connection.reset();
      std::this_thread::sleep_for(backoff);  // reconnect backoff, not synchronisation
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    }
  }
}

void NodeAgent::watch_once(RedisConnection& connection, std::string& last_cancel) {
  const auto tick = std::clamp(options_.lease / 3, std::chrono::milliseconds(1), watch_tick);
  auto reply = connection.command({"XREAD", "COUNT", "100", "BLOCK", ms_text(tick), "STREAMS", keys_.cancels, last_cancel});
  for (const auto& entry : entries_of_read(*reply)) {
    last_cancel = entry.id;
    try {
      const auto cancel = wire::decode_cancel(entry.fields);
      bool ours = false;
      {
        std::lock_guard lock(mutex_);
        auto it = running_.find(cancel.call_id);
        ours = it != running_.end() && it->second->caller_id == cancel.caller_id;
        if (!ours) early_cancels_[cancel.call_id] = Clock::now();
      }
      if (ours) cancel_running(cancel.call_id, "its caller cancelled it");
    } catch (const wire::WireError& e) {
      log("rejected cancel entry " + entry.id + ": " + e.what());
    }
  }
  renew_heartbeat(connection);
  stop_callerless_calls(connection);
  std::lock_guard lock(mutex_);
  const auto old = Clock::now() - std::chrono::minutes(1);
  std::erase_if(early_cancels_, [&](const auto& item) { return item.second < old; });
}

void NodeAgent::stop_callerless_calls(RedisConnection& connection) {
  std::map<std::string, std::vector<std::string>> by_caller;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [call_id, running] : running_)
      if (!running->cancelled) by_caller[running->caller_id].push_back(call_id);
  }
  for (const auto& [caller, calls] : by_caller) {
    if (integer_of(*connection.command({"EXISTS", keys_.caller(caller)})) != 0) continue;
    for (const auto& call_id : calls) cancel_running(call_id, "its caller's heartbeat expired");
  }
}

}  // namespace execkit::redis

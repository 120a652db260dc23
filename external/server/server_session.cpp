#include "server_session.hpp"

#include <cstdio>

#include "sealed_result.hpp"

namespace execkit::external {

ServerSession::ServerSession(UniqueFd socket, ServedBackend served)
    : channel_(std::move(socket)), served_(std::move(served)) {}

int ServerSession::run() {
  try {
    if (!handshake() || !configure()) return 1;
    serve();
  } catch (const std::exception& e) {
    log(std::string("protocol error: ") + e.what());
    if (backend_) backend_->shutdown(true);
    backend_.reset();
    return 2;
  }
  backend_.reset();
  return 0;
}

bool ServerSession::handshake() {
  const auto line = channel_.receive();
  if (!line) return false;
  const auto hello = parse_message(*line, "the harness's hello");
  if (type_of(hello) != "hello") throw ProtocolError("expected a hello first, got '" + type_of(hello) + "'");
  const auto& versions = member(hello, "protocol", "hello");
  bool speaks = false;
  if (versions.is_array()) {
    for (const auto& version : versions) speaks = speaks || (version.is_number_integer() && version.get<int>() == protocol_version);
  }
  if (!speaks) throw ProtocolError("the harness speaks protocol versions " + versions.dump() + ", this server speaks 1");
  channel_.send(Json{{"type", "hello"}, {"protocol", protocol_version}, {"backend", served_.name},
                     {"capabilities", served_.capabilities}}.dump());
  return true;
}

bool ServerSession::configure() {
  const auto line = channel_.receive();
  if (!line) return false;
  const auto message = parse_message(*line, "the harness's configure");
  if (type_of(message) != "configure") throw ProtocolError("expected configure, got '" + type_of(message) + "'");
  WorkerConfig defaults;
  defaults.log = [this](std::string_view text) { log(std::string(text)); };
  const auto config = decode_config(member(message, "config", "configure"), std::move(defaults));
  try {
    backend_ = served_.make(config);
  } catch (const Error& e) {
    channel_.send(Json{{"type", "error"}, {"error", encode_error(e)}}.dump());
    return false;
  }
  channel_.send(Json{{"type", "configured"}}.dump());
  return true;
}

void ServerSession::serve() {
  while (const auto line = channel_.receive()) {
    const auto message = parse_message(*line, "a message from the harness");
    const auto type = type_of(message);
    if (type == "submit") {
      submit(message);
    } else if (type == "cancel") {
      cancel(message);
    } else if (type == "shutdown") {
      shutdown(message);
    } else {
      throw ProtocolError("unexpected message type '" + type + "'");
    }
  }
  // End of the connection: end every call, reap every worker, remove every spill file.
  backend_->shutdown(true);
  wait_for_outcomes();
}

void ServerSession::submit(const Json& message) {
  auto wire = decode_submit(message);
  {
    std::lock_guard lock(mutex_);
    if (!in_flight_.emplace(wire.id, Submission()).second) throw ProtocolError("submit " + std::to_string(wire.id) + ": the id is in use");
  }
  const auto id = wire.id;
  auto submission = backend_->submit(std::move(wire.call), deadline_from(wire.timeout_ns),
                                     [this, id](Outcome outcome) { send_outcome(id, outcome); });
  std::lock_guard lock(mutex_);
  if (const auto it = in_flight_.find(id); it != in_flight_.end()) it->second = std::move(submission);
}

void ServerSession::cancel(const Json& message) {
  const auto id = unsigned_member(message, "id", "cancel");
  Submission submission;
  {
    std::lock_guard lock(mutex_);
    if (const auto it = in_flight_.find(id); it != in_flight_.end()) submission = it->second;
  }
  const bool cancelled = submission.cancel();
  channel_.send(Json{{"type", "cancelled"}, {"id", id}, {"cancelled", cancelled}}.dump());
}

void ServerSession::shutdown(const Json& message) {
  backend_->shutdown(bool_member(message, "wait", "shutdown"));
  wait_for_outcomes();
  channel_.send(Json{{"type", "shutdown_done"}}.dump());
}

void ServerSession::send_outcome(std::uint64_t id, const Outcome& outcome) {
  try {
    if (!outcome.ok()) {
      channel_.send(Json{{"type", "failure"}, {"id", id}, {"error", encode_error(*outcome.error())}}.dump());
    } else {
      const auto& result = outcome.value();
      const auto bytes = result.bytes();
      Json message{{"type", "result"}, {"id", id}, {"size", bytes.size()}, {"metrics", encode_metrics(result.metrics())}};
      if (bytes.size() <= max_inline_result_bytes) {
        message["data"] = base64_encode(bytes.data(), bytes.size());
        channel_.send(message.dump());
      } else {
        UniqueFd copy;
        try {
          copy = sealed_copy(bytes);
        } catch (const std::exception& e) {
          const ResultError error(ResultError::Reason::write_failed, std::string("the result could not be handed over: ") + e.what());
          channel_.send(Json{{"type", "failure"}, {"id", id}, {"error", encode_error(error)}}.dump());
        }
        if (copy) {
          message["fd"] = true;
          channel_.send(message.dump(), copy.get());
        }
      }
    }
  } catch (const std::exception& e) {
    log(std::string("could not send the outcome of call ") + std::to_string(id) + ": " + e.what());
  }
  // Notified under the lock: once the waiter sees the map empty it may end the session.
  std::lock_guard lock(mutex_);
  in_flight_.erase(id);
  outcomes_sent_.notify_all();
}

void ServerSession::wait_for_outcomes() {
  std::unique_lock lock(mutex_);
  outcomes_sent_.wait(lock, [&] { return in_flight_.empty(); });
}

void ServerSession::log(const std::string& line) const {
  std::fprintf(stderr, "execkit-backend-server[%s]: %s\n", served_.name.c_str(), line.c_str());
}

}  // namespace execkit::external

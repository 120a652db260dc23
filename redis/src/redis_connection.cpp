#include "redis_connection.hpp"

#include <limits.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <charconv>

#include "execkit/errors.hpp"

namespace execkit::redis {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

std::int64_t steady_us(std::chrono::steady_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count();
}

// Only the command's name goes into messages: arguments may be a password or payload.
std::string_view name_of(const std::vector<std::string_view>& args) { return args.empty() ? "" : args.front(); }

}  // namespace

RedisAddress RedisAddress::parse(std::string_view text, std::string_view setting) {
  RedisAddress address;
  if (text.starts_with("unix:")) {
    address.unix_path = std::string(text.substr(5));
    if (address.unix_path.starts_with("//")) address.unix_path.erase(0, 2);
    if (!address.unix_path.empty() && address.unix_path.front() == '/') return address;
    throw ConfigError(std::string(setting), std::string(text), "a unix socket address needs an absolute path: unix:/path/redis.sock");
  }
  if (text.starts_with("redis://")) text.remove_prefix(8);
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    throw ConfigError(std::string(setting), std::string(text), "expected unix:/path/redis.sock or host:port");
  address.host = std::string(text.substr(0, colon));
  const auto port_text = text.substr(colon + 1);
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), address.port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || address.port <= 0 || address.port > 65535)
    throw ConfigError(std::string(setting), std::string(text), "the port must be a number from 1 to 65535");
  return address;
}

std::string RedisAddress::describe() const {
  return unix_path.empty() ? host + ":" + std::to_string(port) : "unix:" + unix_path;
}

bool RedisError::has_code(std::string_view code) const {
  const std::string_view text = what();
  const auto colon = text.find(": ");
  return colon != std::string_view::npos && text.substr(colon + 2).starts_with(code);
}

RedisConnection RedisConnection::open(const RedisAddress& address, const RedisCredentials& credentials,
                                      std::chrono::milliseconds timeout, std::chrono::milliseconds io_timeout) {
  const timeval connect_timeout = to_timeval(timeout);
  redisContext* raw = address.unix_path.empty()
                          ? redisConnectWithTimeout(address.host.c_str(), address.port, connect_timeout)
                          : redisConnectUnixWithTimeout(address.unix_path.c_str(), connect_timeout);
  if (raw == nullptr) throw RedisError(RedisError::Kind::io, "redis at " + address.describe() + ": out of memory");
  RedisConnection connection(std::unique_ptr<redisContext, ContextDeleter>(raw), address);
  if (raw->err != 0) connection.fail_io("connect");
  if (redisSetTimeout(raw, to_timeval(io_timeout)) != REDIS_OK) connection.fail_io("set timeout");
  if (!credentials.password.empty()) {
    std::vector<std::string_view> auth{"AUTH"};
    if (!credentials.user.empty()) auth.push_back(credentials.user);
    auth.push_back(credentials.password);
    try {
      connection.command(auth);
    } catch (const RedisError& e) {
      const std::string who = credentials.user.empty() ? "the default user" : "user '" + credentials.user + "'";
      throw RedisError(e.kind(), "redis at " + address.describe() + " refused the password of " + who + " (" + e.what() + ")");
    }
  }
  return connection;
}

void RedisConnection::fail_io(std::string_view doing) const {
  std::string what = "redis at " + address_.describe() + ": " + std::string(doing) + " failed: ";
  what += context_->errstr[0] != '\0' ? context_->errstr : "connection error";
  throw RedisError(RedisError::Kind::io, what);
}

Reply RedisConnection::checked(redisReply* raw, std::string_view command) {
  if (raw == nullptr) fail_io(command);
  Reply reply(raw);
  if (reply->type == REDIS_REPLY_ERROR)
    throw RedisError(RedisError::Kind::reply, "redis " + std::string(command) + ": " + std::string(reply->str, reply->len));
  return reply;
}

Reply RedisConnection::command(const std::vector<std::string_view>& args) {
  append(args);
  auto reply = read_reply();
  return reply;
}

Reply RedisConnection::command_direct(const std::vector<std::string_view>& args) {
  // RESP: *<argc>\r\n then $<len>\r\n<bytes>\r\n per argument.
  std::vector<std::string> headers;
  headers.reserve(args.size() + 1);
  headers.push_back("*" + std::to_string(args.size()) + "\r\n");
  for (const auto arg : args) headers.push_back("$" + std::to_string(arg.size()) + "\r\n");
  static constexpr std::string_view crlf = "\r\n";
  std::vector<iovec> pieces;
  pieces.reserve(args.size() * 3 + 1);
  auto add = [&pieces](std::string_view bytes) {
    if (!bytes.empty()) pieces.push_back({const_cast<char*>(bytes.data()), bytes.size()});
  };
  add(headers[0]);
  for (std::size_t i = 0; i < args.size(); ++i) {
    add(headers[i + 1]);
    add(args[i]);
    add(crlf);
  }
  if (!unsent_.empty()) throw std::logic_error("command_direct while appended commands await their replies");
  send_all(std::move(pieces), name_of(args));
  return read_reply();
}

void RedisConnection::append(const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  char* formatted = nullptr;
  const long long length = redisFormatCommandArgv(&formatted, static_cast<int>(args.size()), argv.data(), lengths.data());
  if (length < 0) throw RedisError(RedisError::Kind::io, "redis " + std::string(name_of(args)) + ": out of memory");
  unsent_.append(formatted, static_cast<std::size_t>(length));
  redisFreeCommand(formatted);
}

void RedisConnection::send_all(std::vector<iovec> pieces, std::string_view command) {
  // sendmsg with MSG_NOSIGNAL, not hiredis' write(): a server that went away
  // must be an error here, not a SIGPIPE that ends the caller's process.
  std::size_t next = 0;
  while (next < pieces.size()) {
    msghdr message{};
    message.msg_iov = pieces.data() + next;
    message.msg_iovlen = std::min<std::size_t>(pieces.size() - next, IOV_MAX);
    const ssize_t n = ::sendmsg(context_->fd, &message, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw RedisError(RedisError::Kind::io, "redis at " + address_.describe() + ": " + std::string(command) +
                                                 " failed: " + std::strerror(n < 0 ? errno : EPIPE));
    auto written = static_cast<std::size_t>(n);
    while (next < pieces.size() && written >= pieces[next].iov_len) written -= pieces[next++].iov_len;
    if (written > 0) {
      pieces[next].iov_base = static_cast<char*>(pieces[next].iov_base) + written;
      pieces[next].iov_len -= written;
    }
  }
}

Reply RedisConnection::read_reply() {
  if (!unsent_.empty()) {
    std::string bytes = std::move(unsent_);
    unsent_.clear();
    send_all({iovec{bytes.data(), bytes.size()}}, "write");
  }
  void* raw = nullptr;
  if (redisGetReply(context_.get(), &raw) != REDIS_OK) fail_io("read");
  return checked(static_cast<redisReply*>(raw), "reply");
}

std::string_view text_of(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_STRING || reply.type == REDIS_REPLY_STATUS) return {reply.str, reply.len};
  return {};
}

std::int64_t integer_of(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_INTEGER) return reply.integer;
  std::int64_t value = 0;
  const auto text = text_of(reply);
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

ServerClock ServerClock::sample(RedisConnection& connection) {
  const auto before = std::chrono::steady_clock::now();
  auto reply = connection.command({"TIME"});
  const auto after = std::chrono::steady_clock::now();
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
    throw RedisError(RedisError::Kind::reply, "redis TIME: unexpected reply");
  const std::int64_t server_us = integer_of(*reply->element[0]) * 1'000'000 + integer_of(*reply->element[1]);
  const auto midpoint = before + (after - before) / 2;
  return ServerClock(server_us - steady_us(midpoint));
}

std::int64_t ServerClock::now_us() const { return to_server_us(std::chrono::steady_clock::now()); }

std::int64_t ServerClock::to_server_us(std::chrono::steady_clock::time_point at) const {
  return steady_us(at) + offset_us_;
}

std::chrono::steady_clock::time_point ServerClock::to_steady(std::int64_t server_us) const {
  return std::chrono::steady_clock::time_point(std::chrono::microseconds(server_us - offset_us_));
}

}  // namespace execkit::redis

// One synchronous connection to a Redis server (hiredis), owned RAII.
#pragma once

#include <hiredis/hiredis.h>
#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace execkit::redis {

// Where the server listens: "unix:/path/to/redis.sock" or "host:port".
struct RedisAddress {
  std::string unix_path;  // set for a unix socket
  std::string host;
  int port = 0;

  // Throws ConfigError naming `setting` and the text when it is neither form.
  static RedisAddress parse(std::string_view text, std::string_view setting);
  std::string describe() const;
};

// ACL credentials. The password is never logged and never in an error.
struct RedisCredentials {
  std::string user;
  std::string password;
};

// A connection failed or a command got an error reply.
class RedisError : public std::runtime_error {
 public:
  enum class Kind { io, reply };
  RedisError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }
  // For reply errors: true if the server's message starts with `code` ("NOGROUP").
  bool has_code(std::string_view code) const;

 private:
  Kind kind_;
};

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

class RedisConnection {
 public:
  // Connects (bounded by `timeout`) and authenticates. Every later read is
  // bounded by `io_timeout` so a server that stops answering is an error,
  // not a hang; blocking commands must block for less than that.
  static RedisConnection open(const RedisAddress& address, const RedisCredentials& credentials,
                              std::chrono::milliseconds timeout, std::chrono::milliseconds io_timeout);

  RedisConnection(RedisConnection&&) noexcept = default;
  RedisConnection& operator=(RedisConnection&&) noexcept = default;

  // Sends one command and returns its reply; an error reply or a broken
  // connection throws RedisError (the connection is then unusable).
  Reply command(const std::vector<std::string_view>& args);
  // The same, writing the arguments straight from where they are (writev)
  // instead of through hiredis' output buffer: for multi-megabyte arguments,
  // which that buffer would copy and shift on every partial write.
  Reply command_direct(const std::vector<std::string_view>& args);
  // Pipelining: append any number, then read the replies in order.
  void append(const std::vector<std::string_view>& args);
  Reply read_reply();

  const RedisAddress& address() const noexcept { return address_; }

 private:
  struct ContextDeleter {
    void operator()(redisContext* context) const noexcept { redisFree(context); }
  };
  RedisConnection(std::unique_ptr<redisContext, ContextDeleter> context, RedisAddress address)
      : context_(std::move(context)), address_(std::move(address)) {}
  [[noreturn]] void fail_io(std::string_view doing) const;
  Reply checked(redisReply* reply, std::string_view command);
  void send_all(std::vector<iovec> pieces, std::string_view command);

  std::unique_ptr<redisContext, ContextDeleter> context_;
  RedisAddress address_;
  std::string unsent_;  // appended commands, sent by the next read_reply()
};

// Reply helpers: the text of a string/status reply, an integer reply.
std::string_view text_of(const redisReply& reply);
std::int64_t integer_of(const redisReply& reply);

// The Redis server's clock (TIME), as an offset to this host's steady clock,
// so hosts whose clocks differ agree on deadlines.
class ServerClock {
 public:
  static ServerClock sample(RedisConnection& connection);
  std::int64_t now_us() const;
  // Converts a steady-clock point on this host to server microseconds.
  std::int64_t to_server_us(std::chrono::steady_clock::time_point at) const;
  // Converts server microseconds back to this host's steady clock.
  std::chrono::steady_clock::time_point to_steady(std::int64_t server_us) const;
  // Nanoseconds to add to this host's CLOCK_MONOTONIC to get the server's clock.
  std::int64_t offset_ns() const { return offset_us_ * 1000; }

 private:
  explicit ServerClock(std::int64_t offset_us) : offset_us_(offset_us) {}
  std::int64_t offset_us_ = 0;
};

}  // namespace execkit::redis

// The few hiredis calls the Redis floors make, with ownership and errors
// handled: a blocking connection over a unix socket, commands as argument
// lists (binary-safe), pipelining (append, flush, reply), and the entries of
// an XREAD / XREADGROUP reply.
#pragma once

#include <hiredis/hiredis.h>

#include <cstddef>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace execkit::bench {

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using RedisReply = std::unique_ptr<redisReply, ReplyDeleter>;

std::string_view reply_text(const redisReply& reply);

class RedisConnection {
 public:
  // Throws std::runtime_error if the server cannot be reached.
  explicit RedisConnection(const std::filesystem::path& socket_path);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends one command and returns its reply. Throws std::runtime_error on a
  // connection error or an error reply. Only when nothing is pipelined.
  RedisReply command(std::initializer_list<std::string_view> args) { return command(std::span(args.begin(), args.size())); }
  RedisReply command(std::span<const std::string_view> args);

  // Pipelining: append() buffers a command, flush() writes everything
  // buffered, reply() flushes and returns the oldest unread reply (throws as
  // command() does).
  void append(std::initializer_list<std::string_view> args) { append(std::span(args.begin(), args.size())); }
  void append(std::span<const std::string_view> args);
  void flush();
  RedisReply reply();

  // From another thread: makes a call blocked on this connection fail, so
  // its thread can be joined. The connection is unusable afterwards.
  void shut_down() noexcept;

 private:
  [[noreturn]] void fail(const char* what) const;
  redisContext* context_;
};

// One entry of a stream as XREAD / XREADGROUP return it; views into the reply.
struct StreamEntry {
  std::string_view id;
  const redisReply* fields;  // field, value, field, value, ...
  // The value of `name`; throws std::runtime_error if absent.
  std::string_view field(std::string_view name) const;
};

// The entries of a reply to XREAD / XREADGROUP on one stream: empty on a nil
// reply (BLOCK timed out). Throws std::runtime_error on another shape.
std::vector<StreamEntry> stream_entries(const redisReply& reply);

}  // namespace execkit::bench

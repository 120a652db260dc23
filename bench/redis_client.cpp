#include "redis_client.hpp"

#include <sys/socket.h>

#include <array>
#include <stdexcept>

namespace execkit::bench {
namespace {

// Commands of the floors have a handful of arguments; XDEL / RPUSH of a
// window of 8 chunks are the longest.
constexpr std::size_t max_args = 32;

[[noreturn]] void bad_shape(const char* what) {
  throw std::runtime_error(std::string("unexpected reply shape: ") + what);
}

}  // namespace

std::string_view reply_text(const redisReply& reply) {
  return reply.str == nullptr ? std::string_view() : std::string_view(reply.str, reply.len);
}

RedisConnection::RedisConnection(const std::filesystem::path& socket_path)
    : context_(redisConnectUnix(socket_path.c_str())) {
  if (context_ == nullptr) throw std::runtime_error("redisConnectUnix: out of memory");
  if (context_->err != 0) {
    const std::string error = context_->errstr;
    redisFree(context_);
    throw std::runtime_error("redisConnectUnix " + socket_path.string() + ": " + error);
  }
}

RedisConnection::~RedisConnection() { redisFree(context_); }

void RedisConnection::fail(const char* what) const {
  throw std::runtime_error(std::string(what) + ": " +
                           (context_->err != 0 ? context_->errstr : "the connection failed"));
}

RedisReply RedisConnection::command(std::span<const std::string_view> args) {
  append(args);
  return reply();
}

void RedisConnection::append(std::span<const std::string_view> args) {
  if (args.size() > max_args) throw std::invalid_argument("too many arguments for one Redis command");
  std::array<const char*, max_args> argv;
  std::array<std::size_t, max_args> lengths;
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lengths[i] = args[i].size();
  }
  if (redisAppendCommandArgv(context_, static_cast<int>(args.size()), argv.data(), lengths.data()) != REDIS_OK)
    fail("redisAppendCommandArgv");
}

void RedisConnection::flush() {
  int done = 0;
  while (done == 0)
    if (redisBufferWrite(context_, &done) != REDIS_OK) fail("redisBufferWrite");
}

RedisReply RedisConnection::reply() {
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) fail("redisGetReply");
  RedisReply result(static_cast<redisReply*>(raw));
  if (result->type == REDIS_REPLY_ERROR) throw std::runtime_error("Redis error: " + std::string(reply_text(*result)));
  return result;
}

void RedisConnection::shut_down() noexcept { ::shutdown(context_->fd, SHUT_RDWR); }

std::string_view StreamEntry::field(std::string_view name) const {
  for (std::size_t i = 0; i + 1 < fields->elements; i += 2)
    if (reply_text(*fields->element[i]) == name) return reply_text(*fields->element[i + 1]);
  throw std::runtime_error("stream entry " + std::string(id) + " has no field '" + std::string(name) + "'");
}

std::vector<StreamEntry> stream_entries(const redisReply& reply) {
  std::vector<StreamEntry> entries;
  if (reply.type == REDIS_REPLY_NIL) return entries;
  // [[stream, [[id, [field, value, ...]], ...]]]
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 1) bad_shape("not one stream");
  const redisReply& stream = *reply.element[0];
  if (stream.type != REDIS_REPLY_ARRAY || stream.elements != 2 || stream.element[1]->type != REDIS_REPLY_ARRAY)
    bad_shape("not [stream, entries]");
  const redisReply& list = *stream.element[1];
  entries.reserve(list.elements);
  for (std::size_t i = 0; i < list.elements; ++i) {
    const redisReply& entry = *list.element[i];
    if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2 || entry.element[0]->type != REDIS_REPLY_STRING ||
        entry.element[1]->type != REDIS_REPLY_ARRAY)
      bad_shape("not [id, fields]");
    entries.push_back({reply_text(*entry.element[0]), entry.element[1]});
  }
  return entries;
}

}  // namespace execkit::bench

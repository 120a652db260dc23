// Floors of the Redis Streams backend: the raw relay through a private
// redis-server with hiredis and nothing else (no serialisation, no
// bookkeeping, no acknowledgements), measured like the other floors
// (docs/performance.md).
//
// A call is an entry XADDed to the stream `calls`; a relay thread (a "node")
// with its own connection takes it with XREADGROUP GROUP g <node> COUNT 1
// BLOCK 0 STREAMS calls > and answers by XADDing an entry with the same
// payload to the stream `replies`, which the caller reads with XREAD BLOCK.
// Both sides pipeline: the caller sends its XADD and its XREAD in one write,
// a node its answer and its next XREADGROUP.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "bench_context.hpp"
#include "bench_layout.hpp"
#include "cpu_usage.hpp"
#include "fill_check.hpp"
#include "latency_recorder.hpp"
#include "redis_client.hpp"
#include "redis_server.hpp"
#include "timed_case.hpp"
#include "unique_fd.hpp"

namespace execkit::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view calls_stream = "calls";
constexpr std::string_view replies_stream = "replies";
constexpr std::string_view group = "g";
// How long the caller waits for an answer before it gives up (the nodes
// died, or the server did): XREAD's BLOCK, in milliseconds.
constexpr std::string_view reply_timeout_ms = "10000";

std::uint64_t parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size())
    throw std::runtime_error("not a number: '" + std::string(text) + "'");
  return value;
}

// A relay thread with its own connection. For each call it takes it runs
// `handle`, which may leave commands appended and unread on the connection:
// it returns how many, and the node reads their replies after sending its
// next XREADGROUP in the same write.
class RelayNode {
 public:
  using Handler = std::function<std::size_t(RedisConnection&, const StreamEntry&)>;

  RelayNode(const std::filesystem::path& socket_path, std::string name, Handler handle)
      : connection_(socket_path), name_(std::move(name)), handle_(std::move(handle)) {
    thread_ = std::thread([this] { run(); });
  }

  ~RelayNode() {
    stopping_ = true;
    connection_.shut_down();
    thread_.join();
  }

  RelayNode(const RelayNode&) = delete;
  RelayNode& operator=(const RelayNode&) = delete;

  std::string error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  void run() {
    try {
      const auto take = [this] {
        connection_.append({"XREADGROUP", "GROUP", group, name_, "COUNT", "1", "BLOCK", "0", "STREAMS", calls_stream, ">"});
      };
      take();
      std::size_t unread = 0;
      while (!stopping_) {
        for (; unread > 0; --unread) connection_.reply();
        const RedisReply calls = connection_.reply();
        for (const StreamEntry& call : stream_entries(*calls)) unread += handle_(connection_, call);
        take();
      }
    } catch (const std::exception& e) {
      if (stopping_) return;
      std::lock_guard lock(mutex_);
      error_ = name_ + ": " + e.what();
    }
  }

  RedisConnection connection_;
  const std::string name_;
  const Handler handle_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::string error_;
  std::thread thread_;  // last: starts once everything else exists
};

// The answer of a relay: the call's payload, unchanged, to `replies`.
std::size_t echo(RedisConnection& connection, const StreamEntry& call) {
  connection.append({"XADD", replies_stream, "*", "p", call.field("p")});
  return 1;
}

using Nodes = std::vector<std::unique_ptr<RelayNode>>;

Nodes start_nodes(const RedisServer& server, std::size_t count, const RelayNode::Handler& handle) {
  Nodes nodes;
  for (std::size_t i = 0; i < count; ++i)
    nodes.push_back(std::make_unique<RelayNode>(server.socket_path(), "n" + std::to_string(i), handle));
  return nodes;
}

void create_group(RedisConnection& connection) {
  connection.command({"XGROUP", "CREATE", calls_stream, group, "0", "MKSTREAM"});
}

[[noreturn]] void no_answer(const Nodes& nodes, const std::string& what) {
  std::string message = "no " + what + " within " + std::string(reply_timeout_ms) + " ms";
  for (const auto& node : nodes)
    if (auto error = node->error(); !error.empty()) message += "; node " + error;
  throw std::runtime_error(message);
}

// The caller's side of one call: XADD and XREAD in one write. `last_reply`
// is the id of the last reply read; entries after it are new.
void round_trip(RedisConnection& caller, const Nodes& nodes, std::string& last_reply) {
  caller.append({"XADD", calls_stream, "*", "p", ""});
  caller.append({"XREAD", "COUNT", "1", "BLOCK", reply_timeout_ms, "STREAMS", replies_stream, last_reply});
  caller.reply();
  const RedisReply reply = caller.reply();
  const auto entries = stream_entries(*reply);
  if (entries.empty()) no_answer(nodes, "reply");
  if (!entries.front().field("p").empty()) throw std::runtime_error("the reply's payload is not the call's");
  last_reply = entries.front().id;
}

void relay_rtt(benchmark::State& state) {
  const RedisServer server;
  RedisConnection caller(server.socket_path());
  create_group(caller);
  const Nodes nodes = start_nodes(server, 1, echo);
  std::string last_reply = "0-0";
  for (int i = 0; i < 200; ++i) round_trip(caller, nodes, last_reply);  // connections, threads and server warm
  LatencyRecorder latencies;
  latencies.reserve(static_cast<std::size_t>(state.max_iterations));
  CpuMeter cpu;
  for (auto _ : state) {
    cpu.start(server.pid());
    const auto start = Clock::now();
    round_trip(caller, nodes, last_reply);
    const auto took = Clock::now() - start;
    cpu.stop();
    latencies.add(took);
    state.SetIterationTime(seconds(took));
  }
  latencies.report(state);
  state.counters["cpu_us"] = cpu.mean_us();  // caller + node + redis-server's main thread
}

// `count` calls in flight: all XADDs in one write, then XREAD until every
// reply has come.
void relay_batch(RedisConnection& caller, const Nodes& nodes, std::size_t count, std::string& last_reply) {
  for (std::size_t i = 0; i < count; ++i) caller.append({"XADD", calls_stream, "*", "p", ""});
  for (std::size_t i = 0; i < count; ++i) caller.reply();
  for (std::size_t received = 0; received < count;) {
    const std::string wanted = std::to_string(count - received);
    const RedisReply reply =
        caller.command({"XREAD", "COUNT", wanted, "BLOCK", reply_timeout_ms, "STREAMS", replies_stream, last_reply});
    const auto entries = stream_entries(*reply);
    if (entries.empty()) no_answer(nodes, "reply");
    received += entries.size();
    last_reply = entries.back().id;
  }
}

void relay_throughput(benchmark::State& state, std::size_t node_count) {
  constexpr std::size_t batch = 256;  // as execkit/throughput
  const RedisServer server;
  RedisConnection caller(server.socket_path());
  create_group(caller);
  const Nodes nodes = start_nodes(server, node_count, echo);
  std::string last_reply = "0-0";
  relay_batch(caller, nodes, 32, last_reply);
  for (auto _ : state) {
    const auto start = Clock::now();
    relay_batch(caller, nodes, batch, last_reply);
    state.SetIterationTime(seconds(Clock::now() - start));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
  state.counters["calls_in_flight"] = static_cast<double>(batch);
  state.counters["nodes"] = static_cast<double>(node_count);
}

// Chunked results: the node XADDs the result to the stream chunks:<call id>
// in pieces of `write_piece_bytes` (fields o = offset, d = bytes), at most
// `window` of them unread: past that it BLPOPs credits:<call id>, where the
// caller RPUSHes one credit per chunk it consumed (pwrite to a file, XDEL).
//
// The caller XREADs one chunk at a time (COUNT 1), in the same write as the
// XDEL and RPUSH of the one before. Reading up to `window` chunks per XREAD
// made the case bimodal (60 ms or 350 ms for 64 MiB, run to run): hiredis
// holds every 1 MiB string of a reply until the reply is complete, freeing
// several MiB at once makes glibc trim the heap, and the next chunks fault
// their pages in again, which is slow on this VM and made the caller slower
// still, so its XREADs got fuller.
constexpr std::size_t window = 8;

std::size_t produce_chunks(RedisConnection& connection, const StreamEntry& call) {
  static const std::string chunk(write_piece_bytes, static_cast<char>(fill_byte));
  const std::uint64_t size = parse_number(call.field("size"));
  const std::string chunks = "chunks:" + std::string(call.id);
  const std::string credits = "credits:" + std::string(call.id);
  std::size_t unread = 0, outstanding = 0;
  for (std::uint64_t offset = 0; offset < size; offset += chunk.size()) {
    if (outstanding == window) {
      connection.append({"BLPOP", credits, "10"});
      for (; unread > 0; --unread) connection.reply();
      if (connection.reply()->type == REDIS_REPLY_NIL) throw std::runtime_error("no credit from the caller within 10 s");
      --outstanding;
    }
    const auto length = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), size - offset));
    const std::string at = std::to_string(offset);
    connection.append({"XADD", chunks, "*", "o", at, "d", std::string_view(chunk).substr(0, length)});
    connection.flush();  // the caller may start on it now
    ++unread;
    ++outstanding;
  }
  return unread;  // the XADDs' ids, read with the next XREADGROUP's write
}

void pwrite_all(int fd, std::string_view bytes, std::uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "pwrite");
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
}

// One chunked result of `size` bytes into `file`, which is created (and
// left for the caller to remove).
void chunked_call(RedisConnection& caller, const Nodes& nodes, std::uint64_t size, const std::filesystem::path& file) {
  const UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw std::system_error(errno, std::generic_category(), "open " + file.string());
  const std::string size_text = std::to_string(size);
  const RedisReply id = caller.command({"XADD", calls_stream, "*", "size", size_text});
  const std::string chunks = "chunks:" + std::string(reply_text(*id));
  const std::string credits = "credits:" + std::string(reply_text(*id));
  std::string last = "0-0";
  const auto read_more = [&] {
    caller.append({"XREAD", "COUNT", "1", "BLOCK", reply_timeout_ms, "STREAMS", chunks, last});
  };
  read_more();
  std::uint64_t received = 0;
  std::vector<std::string_view> xdel{"XDEL", chunks}, rpush{"RPUSH", credits};
  while (received < size) {
    const RedisReply reply = caller.reply();
    const auto entries = stream_entries(*reply);
    if (entries.empty()) no_answer(nodes, "chunk");
    xdel.resize(2);
    rpush.resize(2);
    for (const StreamEntry& entry : entries) {
      const std::string_view bytes = entry.field("d");
      const std::uint64_t offset = parse_number(entry.field("o"));
      if (offset != received || !all_fill_bytes(std::as_bytes(std::span(bytes.data(), bytes.size()))))
        throw std::runtime_error("chunk at offset " + std::to_string(offset) + " is not the next piece of the result");
      pwrite_all(fd.get(), bytes, offset);
      received += bytes.size();
      xdel.push_back(entry.id);
      rpush.push_back("1");
    }
    last = entries.back().id;
    caller.append(xdel);
    caller.append(rpush);
    if (received < size) {
      read_more();
    } else {
      caller.append({"DEL", chunks, credits});
    }
    caller.reply();
    caller.reply();
  }
  caller.reply();  // DEL
  if (received != size) throw std::runtime_error("the result has " + std::to_string(received) + " bytes, not " + size_text);
}

void chunked_result(benchmark::State& state, const BenchContext& context, std::uint64_t size) {
  const RedisServer server;
  RedisConnection caller(server.socket_path());
  create_group(caller);
  const Nodes nodes = start_nodes(server, 1, produce_chunks);
  const auto file = context.scratch.spill_dir() / "redis-chunked";
  chunked_call(caller, nodes, size, file);  // warm-up of the same size, as the other result cases have
  std::filesystem::remove(file);
  LatencyRecorder latencies;
  CpuMeter cpu;
  for (auto _ : state) {
    cpu.start(server.pid());
    const auto start = Clock::now();
    chunked_call(caller, nodes, size, file);
    const auto took = Clock::now() - start;
    cpu.stop();
    std::filesystem::remove(file);
    latencies.add(took);
    state.SetIterationTime(seconds(took));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  latencies.report(state);
  state.counters["cpu_us"] = cpu.mean_us();
  state.counters["chunk_bytes"] = static_cast<double>(write_piece_bytes);
  state.counters["window_chunks"] = static_cast<double>(window);
}

}  // namespace

void register_redis_floor_cases(const BenchContext& context) {
  const auto& p = context.profile;
  const auto* c = &context;
  timed_case("floor/redis_relay_rtt", p.iterations(5000, 300), [](benchmark::State& s) { relay_rtt(s); });
  timed_case("floor/redis_relay_throughput/2", p.iterations(20, 3), [](benchmark::State& s) { relay_throughput(s, 2); });
  constexpr std::uint64_t size = std::uint64_t{64} << 20;
  timed_case("floor/redis_chunked/64MiB", result_iterations(p, static_cast<std::int64_t>(size)),
             [c](benchmark::State& s) { chunked_result(s, *c, size); });
}

}  // namespace execkit::bench

// The wire format between RedisStreamBackend (the caller) and execkit-node,
// version 1 (docs/distributed.md): Redis key names, and the fields of the
// stream entries each side writes. Decoding never trusts the entry: a missing
// or malformed field, or another version, is a WireError naming it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "execkit/call.hpp"
#include "execkit/errors.hpp"
#include "execkit/metrics.hpp"

namespace execkit::redis::wire {

inline constexpr std::string_view version = "1";

class WireError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A stream entry's field/value pairs, in order.
using Fields = std::vector<std::pair<std::string, std::string>>;

// Pool names become part of key names: letters, digits, '_', '-', '.'; 1..64.
bool valid_pool_name(std::string_view pool);

// Every key of one pool, "execkit:<pool>:...".
struct Keys {
  explicit Keys(std::string_view pool);
  std::string calls;    // stream, consumer group `group`: calls waiting for a node
  std::string cancels;  // stream every node reads: cancellation requests
  std::string reply(std::string_view caller) const;   // stream: one caller's replies
  std::string caller(std::string_view caller) const;  // string with a TTL: caller alive
  std::string node(std::string_view node) const;      // string with a TTL: node alive (value: instance token)
  std::string credit(std::string_view call) const;    // list: chunks the caller consumed

  static constexpr std::string_view group = "nodes";

 private:
  std::string prefix_;
};

// A call as the caller sends it. `deadline_us` is on the Redis server's
// clock (TIME, microseconds); 0 means none.
struct CallRequest {
  std::string call_id;
  std::string caller_id;
  Call call;
  std::int64_t deadline_us = 0;
  std::uint64_t max_result_bytes = 0;
  std::uint64_t stderr_tail_bytes = 0;
};
Fields encode(const CallRequest& request);
CallRequest decode_call(const Fields& fields);

struct CancelRequest {
  std::string call_id;
  std::string caller_id;
};
Fields encode(const CancelRequest& request);
CancelRequest decode_cancel(const Fields& fields);

// What a node sends a caller about one call, in this order:
//   claimed, then either error, or ok with the bytes inline, or
//   begin, chunk..., ok (the bytes were in the chunks).
struct Reply {
  enum class Kind { claimed, begin, chunk, ok, error };
  Kind kind = Kind::claimed;
  std::string call_id;
  std::string node_id;     // claimed
  std::string node_token;  // claimed: the node instance's heartbeat value
  std::uint64_t size = 0;  // begin, ok: total result bytes
  bool chunked = false;    // ok: the bytes came in chunks
  std::string data;        // chunk; ok when inline
  ExecutionMetrics metrics;                   // ok
  std::shared_ptr<const Error> error;         // error
};
Fields encode(const Reply& reply);
// XADD arguments of a chunk entry (the same fields encode() writes), with
// `data` referenced rather than copied.
std::vector<std::string_view> chunk_xadd_args(std::string_view reply_key, std::string_view call_id, std::string_view data);
Reply decode_reply(const Fields& fields);

// Best-effort addressing of an entry that failed to decode, so the node can
// tell the caller instead of leaving it waiting: (caller_id, call_id) if present.
std::optional<std::pair<std::string, std::string>> reply_address(const Fields& fields);

// Errors and metrics as fields (prefix "e." and "m."), shared by the kinds above.
void encode_error(const Error& error, Fields& out);
std::shared_ptr<const Error> decode_error(const Fields& fields);
void encode_metrics(const ExecutionMetrics& metrics, Fields& out);
ExecutionMetrics decode_metrics(const Fields& fields);

// Metrics' timestamps moved by `delta_ns`: a node ships them on the Redis
// server's clock, the caller moves them onto its own CLOCK_MONOTONIC.
ExecutionMetrics shifted(ExecutionMetrics metrics, std::int64_t delta_ns);
std::shared_ptr<const Error> shifted(const std::shared_ptr<const Error>& error, std::int64_t delta_ns);

// Length-prefixed framing of Fields, for the fuzzer and tests.
std::string frame(const Fields& fields);
Fields unframe(std::string_view bytes);

}  // namespace execkit::redis::wire

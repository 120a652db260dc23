// The protocol's messages as JSON (docs/protocol.md): encoding and decoding
// of configurations, calls, metrics, errors and outcomes. Decoders throw
// ProtocolError naming the member that is missing or of the wrong type.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "execkit/call.hpp"
#include "execkit/config.hpp"
#include "execkit/errors.hpp"
#include "execkit/metrics.hpp"
#include "line_channel.hpp"

namespace execkit::external {

using Json = nlohmann::json;

inline constexpr int protocol_version = 1;
// Results up to this size may travel inline; larger ones must be descriptors.
inline constexpr std::uint64_t max_inline_result_bytes = std::uint64_t{1} << 20;

// Parses one line; `what` names it in the error ("a message from the backend").
Json parse_message(const std::string& line, const std::string& what);
// The message's "type"; throws when absent or not a string.
std::string type_of(const Json& message);

// Typed member access: the error names the member and `context`.
const Json& member(const Json& object, const char* name, const std::string& context);
std::string string_member(const Json& object, const char* name, const std::string& context);
bool bool_member(const Json& object, const char* name, const std::string& context);
std::uint64_t unsigned_member(const Json& object, const char* name, const std::string& context);
std::int64_t integer_member(const Json& object, const char* name, const std::string& context);

Json encode_config(const WorkerConfig& config);
// Fields the message leaves out keep `defaults`' values.
WorkerConfig decode_config(const Json& config, WorkerConfig defaults);

struct WireCall {
  std::uint64_t id = 0;
  Call call;
  // Time left until the deadline when sent; nullopt: no deadline.
  std::optional<std::int64_t> timeout_ns;
};
Json encode_submit(std::uint64_t id, const Call& call, Deadline deadline);
// At least the size of encode_submit(...).dump() for `call`, computed without
// encoding it: a call under it always fits in one message.
std::size_t submit_size_bound(const Call& call);
WireCall decode_submit(const Json& message);
Deadline deadline_from(std::optional<std::int64_t> timeout_ns);

Json encode_metrics(const ExecutionMetrics& metrics);
ExecutionMetrics decode_metrics(const Json& metrics, const std::string& context);

Json encode_error(const Error& error);
std::shared_ptr<const Error> decode_error(const Json& error, const std::string& context);

std::string base64_encode(const void* data, std::size_t size);
std::string base64_decode(const std::string& text, const std::string& context);

}  // namespace execkit::external

// The binary envelope between the caller and an execkit-worker, one message
// per SOCK_SEQPACKET datagram. The caller never trusts a worker's bytes:
// decode_* reject anything malformed without reading out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace execkit::wire {

// Requests larger than this carry their input in a memfd passed with SCM_RIGHTS.
inline constexpr std::size_t max_inline_input = 32 * 1024;
// Results up to this size come back inline; larger ones go through a spill file.
inline constexpr std::size_t max_inline_result = 32 * 1024;
// Upper bound for any datagram (inline payload plus headers and strings).
inline constexpr std::size_t max_message_bytes = 192 * 1024;

enum class RequestKind : std::uint8_t { run = 1, exit = 2 };

struct EnvUpdate {
  std::string name;
  std::optional<std::string> value;  // nullopt unsets
  friend bool operator==(const EnvUpdate&, const EnvUpdate&) = default;
};

struct Request {
  RequestKind kind = RequestKind::run;
  std::uint64_t call_id = 0;
  std::string module;
  std::string function;
  std::vector<std::string> search_path;
  std::vector<EnvUpdate> env_updates;
  std::optional<std::string> cwd;
  std::string spill_path;  // absolute path the worker creates (O_EXCL) for a large result
  std::uint64_t max_result_bytes = 0;
  // Input either inline or, when input_in_fd, in the memfd attached to the datagram.
  bool input_in_fd = false;
  std::uint64_t input_size = 0;
  std::vector<std::byte> inline_input;
  friend bool operator==(const Request&, const Request&) = default;
};

enum class ResponseKind : std::uint8_t {
  ok = 1,            // result inline or in the spill file
  task_error = 2,    // error_type / error_message set
  result_error = 3,  // result too large or not writable; error_message set
  not_started = 4,   // the worker cannot run this call and must be replaced first
};

enum class ResultLocation : std::uint8_t { none = 0, inline_bytes = 1, spill_file = 2 };

enum class ResultErrorReason : std::uint8_t { too_large = 1, write_failed = 2 };

struct WireMetrics {
  std::int64_t peak_rss_kib = 0;
  std::int64_t user_time_us = 0;
  std::int64_t system_time_us = 0;
  std::int64_t started_at_ns = 0;
  std::int64_t finished_at_ns = 0;
  friend bool operator==(const WireMetrics&, const WireMetrics&) = default;
};

struct Response {
  ResponseKind kind = ResponseKind::ok;
  std::uint64_t call_id = 0;
  ResultLocation location = ResultLocation::none;
  std::uint64_t result_size = 0;
  std::vector<std::byte> inline_result;
  ResultErrorReason result_error_reason = ResultErrorReason::write_failed;
  std::string error_type;
  std::string error_message;
  WireMetrics metrics;
  // The worker asks to be retired after this call (state it could not restore).
  bool retire = false;
  std::string retire_reason;
  friend bool operator==(const Response&, const Response&) = default;
};

std::vector<std::byte> encode(const Request& request);
std::vector<std::byte> encode(const Response& response);

// nullopt on any malformed input: truncation, bad kinds, lengths past the end,
// inconsistent fields or trailing bytes.
std::optional<Request> decode_request(std::span<const std::byte> bytes);
std::optional<Response> decode_response(std::span<const std::byte> bytes);

}  // namespace execkit::wire

// Properties of the wire envelope: every message round-trips, every
// truncation and every trailing byte is refused, the decoder's consistency
// rules match a model of them, and decoding is canonical (whatever bytes it
// accepts re-encode to exactly those bytes, so a corrupted message is
// either refused or is another well-formed message, never half-read).
#include "envelope.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "text_generators.hpp"

namespace execkit::wire {
namespace {

using property::to_byte_vector;

rc::Gen<std::string> short_text() { return rc::gen::resize(24, property::tricky_string()); }

rc::Gen<std::vector<std::byte>> payload() {
  return rc::gen::map(rc::gen::resize(64, rc::gen::arbitrary<std::string>()), to_byte_vector);
}

rc::Gen<std::uint64_t> any_u64() {
  return rc::gen::oneOf(rc::gen::arbitrary<std::uint64_t>(), rc::gen::inRange<std::uint64_t>(0, 70000),
                        rc::gen::just(~std::uint64_t{0}));
}

// A request the caller could send: input inline (size = its length) or in a memfd.
Request any_request() {
  Request r;
  r.kind = *rc::gen::element(RequestKind::run, RequestKind::exit);
  r.call_id = *any_u64();
  r.module = *short_text();
  r.function = *short_text();
  r.search_path = *rc::gen::resize(5, rc::gen::container<std::vector<std::string>>(short_text()));
  const auto updates = *rc::gen::resize(
      5, rc::gen::container<std::vector<std::pair<std::string, std::optional<std::string>>>>(
             rc::gen::pair(short_text(), property::optional_of(short_text()))));
  for (const auto& [name, value] : updates) r.env_updates.push_back({name, value});
  r.cwd = *property::optional_of(short_text());
  r.spill_path = *short_text();
  r.max_result_bytes = *any_u64();
  r.input_in_fd = *rc::gen::arbitrary<bool>();
  if (r.input_in_fd) {
    r.input_size = *any_u64();
  } else {
    r.inline_input = *payload();
    r.input_size = r.inline_input.size();
  }
  return r;
}

WireMetrics any_metrics() {
  WireMetrics m;
  m.peak_rss_kib = *rc::gen::arbitrary<std::int64_t>();
  m.user_time_us = *rc::gen::arbitrary<std::int64_t>();
  m.system_time_us = *rc::gen::arbitrary<std::int64_t>();
  m.started_at_ns = *rc::gen::arbitrary<std::int64_t>();
  m.finished_at_ns = *rc::gen::oneOf(rc::gen::just(m.started_at_ns), rc::gen::arbitrary<std::int64_t>());
  return m;
}

// Any combination of fields, consistent or not.
Response any_response_fields() {
  Response r;
  r.kind = *rc::gen::element(ResponseKind::ok, ResponseKind::task_error, ResponseKind::result_error,
                             ResponseKind::not_started);
  r.call_id = *any_u64();
  r.location = *rc::gen::element(ResultLocation::none, ResultLocation::inline_bytes, ResultLocation::spill_file);
  r.inline_result = *rc::gen::oneOf(rc::gen::just(std::vector<std::byte>{}), payload());
  r.result_size = *rc::gen::oneOf(rc::gen::just<std::uint64_t>(r.inline_result.size()), any_u64());
  r.result_error_reason = *rc::gen::element(ResultErrorReason::too_large, ResultErrorReason::write_failed);
  r.error_type = *short_text();
  r.error_message = *short_text();
  r.metrics = any_metrics();
  r.retire = *rc::gen::arbitrary<bool>();
  r.retire_reason = *short_text();
  return r;
}

// The documented cross-field rules (envelope.hpp): what the caller acts on must agree.
bool consistent_by_model(const Response& r) {
  const bool is_ok = r.kind == ResponseKind::ok;
  if (is_ok == (r.location == ResultLocation::none)) return false;
  if (r.location == ResultLocation::inline_bytes) {
    if (r.inline_result.size() != r.result_size) return false;
  } else if (!r.inline_result.empty()) {
    return false;
  }
  return r.metrics.finished_at_ns >= r.metrics.started_at_ns;
}

Response any_valid_response() {
  auto r = any_response_fields();
  r.location = r.kind == ResponseKind::ok
                   ? *rc::gen::element(ResultLocation::inline_bytes, ResultLocation::spill_file)
                   : ResultLocation::none;
  if (r.location == ResultLocation::inline_bytes) {
    r.result_size = r.inline_result.size();
  } else {
    r.inline_result.clear();
  }
  if (r.metrics.finished_at_ns < r.metrics.started_at_ns) std::swap(r.metrics.finished_at_ns, r.metrics.started_at_ns);
  return r;
}

// A few bytes of `bytes` changed, dropped or inserted.
std::vector<std::byte> corrupted(std::vector<std::byte> bytes) {
  const auto edits = *rc::gen::inRange(1, 4);
  for (int i = 0; i < edits; ++i) {
    const auto at = *rc::gen::inRange<std::size_t>(0, bytes.size() + 1);
    const auto byte = std::byte{*rc::gen::arbitrary<std::uint8_t>()};
    switch (*rc::gen::inRange(0, 3)) {
      case 0:
        if (at < bytes.size()) bytes[at] = byte;
        break;
      case 1:
        if (at < bytes.size()) bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(at));
        break;
      default:
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at), byte);
        break;
    }
  }
  return bytes;
}

RC_GTEST_PROP(EnvelopeProperty, RequestRoundTrips, ()) {
  const auto request = any_request();
  const auto decoded = decode_request(encode(request));
  RC_ASSERT(decoded.has_value());
  RC_ASSERT(*decoded == request);
}

RC_GTEST_PROP(EnvelopeProperty, ValidResponseRoundTrips, ()) {
  const auto response = any_valid_response();
  const auto decoded = decode_response(encode(response));
  RC_ASSERT(decoded.has_value());
  RC_ASSERT(*decoded == response);
}

RC_GTEST_PROP(EnvelopeProperty, ResponseIsAcceptedExactlyWhenTheModelSaysConsistent, ()) {
  const auto response = any_response_fields();
  const auto decoded = decode_response(encode(response));
  RC_ASSERT(decoded.has_value() == consistent_by_model(response));
  if (decoded) RC_ASSERT(*decoded == response);
}

RC_GTEST_PROP(EnvelopeProperty, EveryTruncationAndEveryTrailingByteIsRefused, ()) {
  const auto request_bytes = encode(any_request());
  const auto response_bytes = encode(any_valid_response());
  for (std::size_t n = 0; n < request_bytes.size(); ++n)
    RC_ASSERT(!decode_request(std::span(request_bytes.data(), n)).has_value());
  for (std::size_t n = 0; n < response_bytes.size(); ++n)
    RC_ASSERT(!decode_response(std::span(response_bytes.data(), n)).has_value());
  const auto extra = std::byte{*rc::gen::arbitrary<std::uint8_t>()};
  auto longer_request = request_bytes;
  longer_request.push_back(extra);
  auto longer_response = response_bytes;
  longer_response.push_back(extra);
  RC_ASSERT(!decode_request(longer_request).has_value());
  RC_ASSERT(!decode_response(longer_response).has_value());
}

RC_GTEST_PROP(EnvelopeProperty, CorruptedResponseIsRefusedOrReencodesToTheSameBytes, ()) {
  const auto bytes = corrupted(encode(any_valid_response()));
  if (const auto decoded = decode_response(bytes)) RC_ASSERT(encode(*decoded) == bytes);
}

RC_GTEST_PROP(EnvelopeProperty, CorruptedRequestIsRefusedOrReencodesToTheSameBytes, ()) {
  const auto bytes = corrupted(encode(any_request()));
  if (const auto decoded = decode_request(bytes)) RC_ASSERT(encode(*decoded) == bytes);
}

RC_GTEST_PROP(EnvelopeProperty, ArbitraryBytesNeverDecodeToSomethingElse, ()) {
  const auto bytes = to_byte_vector(*rc::gen::arbitrary<std::string>());
  if (const auto response = decode_response(bytes)) RC_ASSERT(encode(*response) == bytes);
  if (const auto request = decode_request(bytes)) RC_ASSERT(encode(*request) == bytes);
}

RC_GTEST_PROP(EnvelopeProperty, ResponseAndRequestNeverDecodeAsEachOther, ()) {
  RC_ASSERT(!decode_request(encode(any_valid_response())).has_value());
  RC_ASSERT(!decode_response(encode(any_request())).has_value());
}

}  // namespace
}  // namespace execkit::wire

// The envelope decoder reads whatever a worker sends: a hostile or corrupted
// worker must never crash or hang the caller. Every input is decoded both as
// a response (what the caller reads) and as a request (what the worker
// reads). Whatever is accepted must re-encode to exactly the same bytes, so
// nothing was half-read, guessed or defaulted.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "envelope.hpp"
#include "fuzz_require.hpp"

namespace {

using execkit::wire::ResponseKind;
using execkit::wire::ResultLocation;


bool same_bytes(const std::vector<std::byte>& encoded, std::span<const std::byte> input) {
  return encoded.size() == input.size() && std::equal(encoded.begin(), encoded.end(), input.begin());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = std::as_bytes(std::span(data, size));
  if (size > execkit::wire::max_message_bytes) return -1;  // the caller refuses longer datagrams unread

  if (const auto response = execkit::wire::decode_response(input)) {
    FUZZ_REQUIRE(same_bytes(execkit::wire::encode(*response), input));
    // What the caller acts on is consistent (envelope.hpp).
    FUZZ_REQUIRE((response->kind == ResponseKind::ok) == (response->location != ResultLocation::none));
    if (response->location == ResultLocation::inline_bytes) FUZZ_REQUIRE(response->inline_result.size() == response->result_size);
    else FUZZ_REQUIRE(response->inline_result.empty());
    FUZZ_REQUIRE(response->metrics.finished_at_ns >= response->metrics.started_at_ns);
  }
  if (const auto request = execkit::wire::decode_request(input)) {
    FUZZ_REQUIRE(same_bytes(execkit::wire::encode(*request), input));
    FUZZ_REQUIRE(request->input_in_fd ? request->inline_input.empty() : request->inline_input.size() == request->input_size);
  }
  return 0;
}

// The Redis wire decoder reads entries anyone with access to the pool's keys
// can write: a hostile or corrupted entry must never crash or hang a node or
// a caller. Input: framed field/value pairs (wire::unframe). Whatever decodes
// must survive a round trip: encoding it and decoding that gives the same
// encoding again, so nothing was half-read or guessed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_require.hpp"
#include "wire.hpp"

namespace wire = execkit::redis::wire;

namespace {

template <class Decode>
void round_trip(const wire::Fields& fields, Decode decode) {
  try {
    const auto decoded = decode(fields);
    const auto encoded = wire::encode(decoded);
    const auto again = wire::encode(decode(encoded));
    FUZZ_REQUIRE(again == encoded);
  } catch (const wire::WireError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wire::Fields fields;
  try {
    fields = wire::unframe(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const wire::WireError&) {
    return 0;
  }
  round_trip(fields, [](const wire::Fields& f) { return wire::decode_call(f); });
  round_trip(fields, [](const wire::Fields& f) { return wire::decode_cancel(f); });
  round_trip(fields, [](const wire::Fields& f) { return wire::decode_reply(f); });
  (void)wire::reply_address(fields);
  return 0;
}

// The harness and execkit-backend-server read protocol messages from a process
// they do not trust (docs/protocol.md): a hostile line must end in a
// ProtocolError, never a crash or a hang. Whatever decodes must survive a
// round trip: re-encoding it and decoding that gives the same encoding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_require.hpp"
#include "messages.hpp"

namespace external = execkit::external;

namespace {

void submit_round_trip(const external::Json& message) {
  try {
    const auto wire = external::decode_submit(message);
    const auto encoded = external::encode_submit(wire.id, wire.call, execkit::Deadline::never());
    const auto again = external::decode_submit(encoded);
    FUZZ_REQUIRE(external::encode_submit(again.id, again.call, execkit::Deadline::never()) == encoded);
  } catch (const external::ProtocolError&) {
  }
}

void error_round_trip(const external::Json& message) {
  try {
    if (!message.contains("error")) return;
    const auto error = external::decode_error(message.at("error"), "fuzz");
    const auto encoded = external::encode_error(*error);
    FUZZ_REQUIRE(external::encode_error(*external::decode_error(encoded, "fuzz")) == encoded);
  } catch (const external::ProtocolError&) {
  }
}

void config_round_trip(const external::Json& message) {
  try {
    if (!message.contains("config")) return;
    const auto config = external::decode_config(message.at("config"), {});
    const auto encoded = external::encode_config(config);
    FUZZ_REQUIRE(external::encode_config(external::decode_config(encoded, {})) == encoded);
  } catch (const external::ProtocolError&) {
  }
}

void data_round_trip(const external::Json& message) {
  try {
    if (!message.contains("data") || !message.at("data").is_string()) return;
    const auto bytes = external::base64_decode(message.at("data").get<std::string>(), "fuzz");
    FUZZ_REQUIRE(external::base64_decode(external::base64_encode(bytes.data(), bytes.size()), "fuzz") == bytes);
  } catch (const external::ProtocolError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  external::Json message;
  try {
    message = external::parse_message(std::string(reinterpret_cast<const char*>(data), size), "fuzz input");
    (void)external::type_of(message);
  } catch (const external::ProtocolError&) {
    return 0;
  }
  submit_round_trip(message);
  error_round_trip(message);
  config_round_trip(message);
  data_round_trip(message);
  return 0;
}

// Helpers shared by the probe module's tasks (conformance/probe/*.cpp).
#pragma once

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "execkit/task.hpp"

namespace execkit::probe {

inline std::string_view input_text(const TaskContext& ctx) {
  auto in = ctx.input();
  return {reinterpret_cast<const char*>(in.data()), in.size()};
}

// A whole decimal number in [minimum, maximum]; anything else throws
// std::invalid_argument naming `what` and the text.
template <class Int = std::uint64_t>
Int parse_decimal(std::string_view text, std::string_view what, Int minimum = std::numeric_limits<Int>::min(),
                  Int maximum = std::numeric_limits<Int>::max()) {
  Int value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value < minimum || value > maximum) {
    throw std::invalid_argument("probe: " + std::string(what) + ": expected a decimal number in [" +
                                std::to_string(minimum) + ", " + std::to_string(maximum) + "], got '" +
                                std::string(text) + "'");
  }
  return value;
}

// The probe's pseudo-random byte stream, recomputable by tests: SplitMix64.
// Byte i of the stream for `seed` is byte (i % 8), little-endian, of the
// (i / 8 + 1)-th output of
//   state += 0x9E3779B97F4A7C15;
//   z = state; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
//   z = (z ^ (z >> 27)) * 0x94D049BB133111EB; output z ^ (z >> 31)
// starting from state = seed.
class ByteStream {
 public:
  explicit ByteStream(std::uint64_t seed) noexcept : state_(seed) {}

  // Fills `out` with the next out.size() bytes of the stream.
  void fill(std::span<std::byte> out) noexcept {
    for (auto& byte : out) {
      if (used_ == word_.size()) refill();
      byte = word_[used_++];
    }
  }

 private:
  void refill() noexcept {
    state_ += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    for (std::size_t i = 0; i < word_.size(); ++i) word_[i] = static_cast<std::byte>(z >> (8 * i));
    used_ = 0;
  }

  std::uint64_t state_;
  std::array<std::byte, 8> word_{};
  std::size_t used_ = 8;
};

}  // namespace execkit::probe

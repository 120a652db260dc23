// Helpers shared by the probe module's tasks (conformance/probe/*.cpp).
#pragma once

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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

// The probe's pseudo-random byte stream (docs/probe.md "Byte stream"),
// recomputable by tests and cheap to generate in any language: a
// byte-translation table and a memory copy per 64 KiB in Python.
//
// The base block B(seed) is 65536 bytes: the first 8192 outputs of
// SplitMix64, each stored little-endian, starting from state = seed:
//   state += 0x9E3779B97F4A7C15;
//   z = state; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
//   z = (z ^ (z >> 27)) * 0x94D049BB133111EB; output z ^ (z >> 31)
// Block k (k = 0, 1, 2, ...) is B(seed) with every byte XORed with
// (k & 0xFF), then its first 8 bytes replaced by the little-endian u64
// k * 0x9E3779B97F4A7C15 + seed (mod 2^64): the header makes every block of
// a stream distinct, so a block delivered at the wrong offset is caught.
// The stream of N bytes is the first N bytes of blocks 0, 1, 2, ...
class ByteStream {
 public:
  static constexpr std::size_t block_bytes = 65536;
  static constexpr std::size_t block_words = block_bytes / 8;

  explicit ByteStream(std::uint64_t seed) : seed_(seed), base_(block_words) {
    std::uint64_t state = seed;
    for (auto& word : base_) {
      state += 0x9E3779B97F4A7C15ULL;
      std::uint64_t z = state;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      word = z ^ (z >> 31);
    }
  }

  // Bytes 8 * index .. 8 * index + 7 of the stream, as a little-endian word.
  std::uint64_t word(std::uint64_t index) const noexcept {
    const std::uint64_t block = index / block_words;
    const auto in_block = static_cast<std::size_t>(index % block_words);
    if (in_block == 0) return block * 0x9E3779B97F4A7C15ULL + seed_;
    return base_[in_block] ^ ((block & 0xFF) * 0x0101010101010101ULL);
  }

  // Fills `out` with the next out.size() bytes of the stream.
  void fill(std::span<std::byte> out) noexcept {
    std::size_t done = 0;
    while (done < out.size()) {
      const std::uint64_t value = word(position_ / 8);
      const auto skip = static_cast<std::size_t>(position_ % 8);
      const std::size_t n = std::min<std::size_t>(8 - skip, out.size() - done);
      std::memcpy(out.data() + done, reinterpret_cast<const std::byte*>(&value) + skip, n);
      done += n;
      position_ += n;
    }
  }

 private:
  static_assert(std::endian::native == std::endian::little, "the stream's words are stored as they are in memory");

  std::uint64_t seed_;
  std::vector<std::uint64_t> base_;
  std::uint64_t position_ = 0;
};

}  // namespace execkit::probe

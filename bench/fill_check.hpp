// Reads every byte of a result, as a consumer would, and checks it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "bench_layout.hpp"

namespace execkit::bench {

inline bool all_fill_bytes(std::span<const std::byte> bytes) {
  constexpr std::uint64_t pattern = 0x0101010101010101ULL * fill_byte;
  std::uint64_t difference = 0;
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + i, sizeof word);
    difference |= word ^ pattern;
  }
  for (; i < bytes.size(); ++i) difference |= std::to_integer<std::uint64_t>(bytes[i]) ^ fill_byte;
  return difference == 0;
}

}  // namespace execkit::bench

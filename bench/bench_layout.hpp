// What the benchmark tasks, the floor peer and the benchmarks agree on.
#pragma once

#include <cstddef>

namespace execkit::bench {

// Every byte of a benchmark result; the reader checks each one.
inline constexpr unsigned char fill_byte = 0x5a;
// Results are written in pieces of this size, by the task and by the floor alike.
inline constexpr std::size_t write_piece_bytes = std::size_t{1} << 20;

}  // namespace execkit::bench

// Durations written as decimal seconds ("1.5"), read and printed exactly.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace execkit::cli {

// The largest accepted value: far beyond any sensible deadline, yet well
// inside what steady_clock can add to "now" without overflowing.
inline constexpr std::chrono::seconds max_seconds{1'000'000'000};

// Parses a positive decimal number of seconds ("2", "1.5", "0.001"), exact to
// the nanosecond. No sign, exponent, spaces, inf, nan, ".5" or "1.". Throws
// std::invalid_argument whose what() says what is wrong with `text`.
std::chrono::nanoseconds parse_seconds(std::string_view text);

// The shortest decimal form: 1.5 s -> "1.5", 2 s -> "2", 1 ns -> "0.000000001".
std::string format_seconds(std::chrono::nanoseconds duration);

}  // namespace execkit::cli

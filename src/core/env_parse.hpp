// Parsers for configuration values read from environment variables
// (CONFIG-2, CONFIG-3). Each throws ConfigError naming the variable and the
// offending value; none ever falls back to a default silently.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace execkit::env_parse {

// Without the surrounding ASCII whitespace (space, \t, \n, \v, \f, \r).
std::string_view trim_ascii(std::string_view text) noexcept;

// A positive decimal integer that fits std::size_t; surrounding ASCII
// whitespace is ignored. Rejects 0, signs, fractions, garbage and overflow.
std::size_t parse_positive_count(std::string_view setting, std::string_view value);

// Positive seconds as digits with an optional fraction ("30", "0.5"), in
// milliseconds; fractions finer than 1 ms round up so a positive value never
// becomes zero. Rejects 0, signs, exponents, nan/inf, garbage and overflow.
std::chrono::milliseconds parse_positive_seconds(std::string_view setting, std::string_view value);

// 1/true/yes/on (any case) -> true; 0/false/no/off or empty/blank -> false.
bool parse_flag(std::string_view setting, std::string_view value);

// Absolute (against the current directory) and lexically normalised: `.` and
// `..` segments resolved, no trailing separator. Rejects an empty or blank value
// and one with a NUL byte.
std::filesystem::path parse_directory(std::string_view setting, std::string_view value);

// CTEST_PARALLEL_LEVEL: a non-negative integer, where 0 stands for "ctest picks
// the level or runs unbounded" — what ctest >= 3.29 does for an empty, blank or
// 0 value, so those all return 0. Garbage and overflow are rejected.
std::size_t parse_parallel_level(std::string_view setting, std::string_view value);

// CONFIG-3: the share of `cpus` that one of `parallel_level` concurrent test
// processes gets, at least 1. Level 1 leaves all cpus; level 0 (unknown or
// unbounded parallelism) gives 1.
std::size_t workers_per_parallel_test(std::size_t cpus, std::size_t parallel_level) noexcept;

}  // namespace execkit::env_parse

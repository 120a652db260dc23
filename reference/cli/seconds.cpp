#include "seconds.hpp"

#include <cstdint>
#include <stdexcept>

namespace execkit::cli {
namespace {

constexpr std::int64_t nanos_per_second = 1'000'000'000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view text) {
  for (char c : text) {
    if (!is_digit(c)) return false;
  }
  return true;
}

}  // namespace

std::chrono::nanoseconds parse_seconds(std::string_view text) {
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  // Same spelling as EXECKIT_IDLE_TIMEOUT_S: digits, optionally '.' and more digits.
  const bool has_dot = dot != std::string_view::npos;
  if (whole.empty() || (has_dot && fraction.empty()) || !all_digits(whole) || !all_digits(fraction)) {
    throw std::invalid_argument("not a positive number of seconds");
  }

  std::int64_t seconds = 0;
  for (char c : whole) {
    seconds = seconds * 10 + (c - '0');
    if (seconds > max_seconds.count()) {
      throw std::invalid_argument("more than " + std::to_string(max_seconds.count()) + " seconds");
    }
  }
  // Digits beyond the ninth are below a nanosecond: truncated.
  std::int64_t nanos = 0;
  std::int64_t scale = nanos_per_second;
  for (char c : fraction) {
    scale /= 10;
    nanos += (c - '0') * scale;
  }

  const std::chrono::nanoseconds total{seconds * nanos_per_second + nanos};
  if (total <= std::chrono::nanoseconds::zero()) throw std::invalid_argument("not a positive number of seconds");
  if (total > max_seconds) {
    throw std::invalid_argument("more than " + std::to_string(max_seconds.count()) + " seconds");
  }
  return total;
}

std::string format_seconds(std::chrono::nanoseconds duration) {
  const std::int64_t count = duration.count();
  const bool negative = count < 0;
  // Unsigned so that the most negative value has a magnitude too.
  const auto magnitude = negative ? std::uint64_t{0} - static_cast<std::uint64_t>(count)
                                  : static_cast<std::uint64_t>(count);
  std::string out = negative ? "-" : "";
  out += std::to_string(magnitude / nanos_per_second);
  std::string fraction = std::to_string(magnitude % nanos_per_second);
  if (fraction != "0") {
    fraction.insert(0, 9 - fraction.size(), '0');
    fraction.erase(fraction.find_last_not_of('0') + 1);
    out += '.';
    out += fraction;
  }
  return out;
}

}  // namespace execkit::cli

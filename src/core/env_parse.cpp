#include "env_parse.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <system_error>

#include "execkit/errors.hpp"

namespace execkit::env_parse {
namespace {

// Beyond this, steady_clock::now() + idle_timeout could overflow the clock's
// nanosecond representation (~292 years); 10^9 s is about 31.7 years.
constexpr std::uint64_t max_seconds = 1'000'000'000;

bool is_ascii_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view text) noexcept {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_digit);
}

[[noreturn]] void reject(std::string_view setting, std::string_view value, const std::string& why) {
  throw ConfigError(std::string(setting), std::string(value), why);
}

// `digits` must be all_digits(). False on overflow of uint64.
bool parse_u64(std::string_view digits, std::uint64_t& out) noexcept {
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
  return ec == std::errc{} && end == digits.data() + digits.size();
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::string_view trim_ascii(std::string_view text) noexcept {
  while (!text.empty() && is_ascii_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ascii_space(text.back())) text.remove_suffix(1);
  return text;
}

std::size_t parse_positive_count(std::string_view setting, std::string_view value) {
  const auto text = trim_ascii(value);
  if (text.empty()) reject(setting, value, "empty; expected a positive integer (unset it for the default)");
  if (!all_digits(text)) reject(setting, value, "not a positive integer");
  std::uint64_t count = 0;
  if (!parse_u64(text, count) || count > std::numeric_limits<std::size_t>::max()) {
    reject(setting, value, "too large: overflows a 64-bit count");
  }
  if (count == 0) reject(setting, value, "must be at least 1");
  return static_cast<std::size_t>(count);
}

std::chrono::milliseconds parse_positive_seconds(std::string_view setting, std::string_view value) {
  const auto text = trim_ascii(value);
  if (text.empty()) reject(setting, value, "empty; expected a positive number of seconds (unset it for the default)");
  const auto dot = text.find('.');
  const auto whole = text.substr(0, dot);
  const auto fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (!all_digits(whole) || (dot != std::string_view::npos && !all_digits(fraction))) {
    reject(setting, value, "not a positive number of seconds (digits with an optional fraction, e.g. 30 or 0.5)");
  }
  std::uint64_t seconds = 0;
  if (!parse_u64(whole, seconds) || seconds > max_seconds) {
    reject(setting, value, "too large: at most " + std::to_string(max_seconds) + " seconds");
  }
  std::uint64_t millis = seconds * 1000;
  for (std::size_t i = 0; i < 3; ++i) {
    const auto digit = i < fraction.size() ? static_cast<std::uint64_t>(fraction[i] - '0') : 0;
    millis += digit * (i == 0 ? 100 : i == 1 ? 10 : 1);
  }
  const bool finer_than_millis =
      fraction.size() > 3 && fraction.substr(3).find_first_not_of('0') != std::string_view::npos;
  if (finer_than_millis) ++millis;
  if (millis == 0) reject(setting, value, "must be greater than 0");
  if (millis > max_seconds * 1000) {
    reject(setting, value, "too large: at most " + std::to_string(max_seconds) + " seconds");
  }
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(millis));
}

bool parse_flag(std::string_view setting, std::string_view value) {
  const auto word = ascii_lower(trim_ascii(value));
  if (word == "1" || word == "true" || word == "yes" || word == "on") return true;
  if (word.empty() || word == "0" || word == "false" || word == "no" || word == "off") return false;
  reject(setting, value, "not a boolean: expected 1/true/yes/on or 0/false/no/off (any case)");
}

std::filesystem::path parse_directory(std::string_view setting, std::string_view value) {
  if (trim_ascii(value).empty()) reject(setting, value, "blank; expected a directory (unset it for the default)");
  // A path stops at the first NUL for the kernel: the rest would be silently dropped.
  if (value.find('\0') != std::string_view::npos) reject(setting, value, "contains a NUL byte, which no path can hold");
  std::filesystem::path absolute;
  try {
    absolute = std::filesystem::absolute(std::filesystem::path(value));
  } catch (const std::filesystem::filesystem_error& e) {
    reject(setting, value, std::string("cannot make it absolute: ") + e.code().message());
  }
  auto normal = absolute.lexically_normal();
  if (!normal.has_filename() && normal != normal.root_path()) normal = normal.parent_path();
  // POSIX leaves a leading "//" implementation-defined; on Linux it is "/".
  const auto& text = normal.native();
  if (const auto first = text.find_first_not_of('/'); first != 1)
    normal = "/" + (first == std::string::npos ? std::string() : text.substr(first));
  return normal;
}

std::size_t parse_parallel_level(std::string_view setting, std::string_view value) {
  const auto text = trim_ascii(value);
  if (text.empty()) return 0;
  if (!all_digits(text)) reject(setting, value, "not a non-negative integer");
  std::uint64_t level = 0;
  if (!parse_u64(text, level) || level > std::numeric_limits<std::size_t>::max()) {
    reject(setting, value, "too large: overflows a 64-bit count");
  }
  return static_cast<std::size_t>(level);
}

std::size_t workers_per_parallel_test(std::size_t cpus, std::size_t parallel_level) noexcept {
  if (parallel_level == 0) return 1;
  return std::max<std::size_t>(1, cpus / parallel_level);
}

}  // namespace execkit::env_parse

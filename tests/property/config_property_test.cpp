// Properties of WorkerConfig::from_env (CONFIG-2, CONFIG-3): every string,
// for every variable, either parses to the value docs/configuration.md
// documents or is a ConfigError naming that variable and the value as given.
// The expected values come from an oracle written from the documentation,
// independently of src/core/env_parse.cpp.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <regex>

#include "execkit/config.hpp"
#include "execkit/errors.hpp"
#include "host_info.hpp"
#include "text_generators.hpp"

namespace execkit {
namespace {

using namespace std::chrono_literals;
using property::string_of;
using Env = std::map<std::string, std::string>;

constexpr const char* max_workers_var = "EXECKIT_MAX_WORKERS";
constexpr const char* idle_timeout_var = "EXECKIT_IDLE_TIMEOUT_S";
constexpr const char* spill_dir_var = "EXECKIT_SPILL_DIR";
constexpr const char* node_id_var = "EXECKIT_NODE_ID";
constexpr const char* pdeathsig_var = "EXECKIT_DISABLE_PDEATHSIG";
constexpr const char* parallel_var = "CTEST_PARALLEL_LEVEL";

// ---- The oracle: docs/configuration.md, read literally ----

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

std::string trimmed(const std::string& text) {
  auto first = std::find_if_not(text.begin(), text.end(), is_space);
  auto last = std::find_if_not(text.rbegin(), text.rend(), is_space).base();
  return first < last ? std::string(first, last) : std::string();
}

std::string lower(std::string text) {
  for (char& c : text)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return text;
}

std::string without_leading_zeros(const std::string& digits) {
  const auto first = digits.find_first_not_of('0');
  return first == std::string::npos ? std::string() : digits.substr(first);
}

// Decimal digits compared as numbers, without converting them.
bool digits_greater(const std::string& a, const std::string& b) {
  const auto x = without_leading_zeros(a), y = without_leading_zeros(b);
  return x.size() != y.size() ? x.size() > y.size() : x > y;
}

const std::regex digits_only("[0-9]+");
const std::string max_u64 = "18446744073709551615";

// A positive decimal integer that fits 64 bits, surrounded by ASCII whitespace or not.
std::optional<std::uint64_t> oracle_count(const std::string& value) {
  const auto text = trimmed(value);
  if (!std::regex_match(text, digits_only) || digits_greater(text, max_u64)) return std::nullopt;
  const auto significant = without_leading_zeros(text);
  if (significant.empty()) return std::nullopt;
  return std::stoull(significant);
}

// Digits with an optional fraction, 1 ms resolution rounding up, (0, 10^9] seconds.
std::optional<std::chrono::milliseconds> oracle_seconds(const std::string& value) {
  static const std::regex seconds("([0-9]+)(\\.([0-9]+))?");
  std::smatch match;
  const auto text = trimmed(value);
  if (!std::regex_match(text, match, seconds)) return std::nullopt;
  const std::string whole = match[1], fraction = match[3];
  if (digits_greater(whole, "1000000000")) return std::nullopt;
  std::uint64_t ms = std::stoull("0" + without_leading_zeros(whole)) * 1000;
  ms += std::stoull((fraction + "000").substr(0, 3));
  if (fraction.size() > 3 && fraction.find_first_not_of('0', 3) != std::string::npos) ++ms;
  if (ms == 0 || ms > 1'000'000'000'000ULL) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

std::optional<bool> oracle_disable(const std::string& value) {
  const auto word = lower(trimmed(value));
  for (const char* yes : {"1", "true", "yes", "on"})
    if (word == yes) return true;
  for (const char* no : {"", "0", "false", "no", "off"})
    if (word == no) return false;
  return std::nullopt;
}

// Lexical normalisation by segments: "." dropped, ".." pops (never above /).
std::filesystem::path normalised_absolute(const std::string& value) {
  std::string joined = value.starts_with('/') ? value : std::filesystem::current_path().string() + "/" + value;
  std::vector<std::string> segments;
  std::size_t start = 0;
  while (start <= joined.size()) {
    const auto end = std::min(joined.find('/', start), joined.size());
    const auto segment = joined.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string out;
  for (const auto& segment : segments) out += "/" + segment;
  return out.empty() ? "/" : out;
}

// An empty value is unset (nullopt inside); blank is an error (nullopt outside).
std::optional<std::optional<std::filesystem::path>> oracle_spill_dir(const std::string& value) {
  if (value.empty()) return std::optional<std::filesystem::path>();
  if (trimmed(value).empty() || value.find('\0') != std::string::npos) return std::nullopt;
  return std::optional<std::filesystem::path>(normalised_absolute(value));
}

std::optional<std::size_t> oracle_parallel_level(const std::string& value) {
  const auto text = trimmed(value);
  if (text.empty()) return 0;
  if (!std::regex_match(text, digits_only) || digits_greater(text, max_u64)) return std::nullopt;
  return static_cast<std::size_t>(std::stoull("0" + without_leading_zeros(text)));
}

bool oracle_accepts(const std::string& name, const std::string& value) {
  if (name == max_workers_var) return oracle_count(value).has_value();
  if (name == idle_timeout_var) return oracle_seconds(value).has_value();
  if (name == spill_dir_var) return oracle_spill_dir(value).has_value();
  if (name == pdeathsig_var) return oracle_disable(value).has_value();
  if (name == parallel_var) return oracle_parallel_level(value).has_value();
  return true;  // EXECKIT_NODE_ID: never an error
}

// ---- Generators ----

rc::Gen<std::string> number_like() {
  return string_of({"0", "1", "7", "9", "00", "18446744073709551615", "18446744073709551616", "1000000000",
                    "1000000001", ".", "5", "0001", "e3", "-", "+", " ", "\t", "nan", "inf", "0x"});
}

rc::Gen<std::string> flag_like() {
  return string_of({"1", "0", "true", "TRUE", "yes", "Yes", "on", "oN", "false", "no", "off", "OFF", "2", "y", " "});
}

rc::Gen<std::string> path_like() {
  auto slashes = rc::gen::map(rc::gen::inRange(1, 5), [](int n) { return std::string(static_cast<std::size_t>(n), '/'); });
  return rc::gen::weightedOneOf<std::string>(
      {{1, slashes}, {6, string_of({"/", "/", "a", "tmp", ".", "..", "//", "b c", "/x/../", "./", "\n"})}});
}

rc::Gen<std::string> value_for(const std::string& name) {
  if (name == pdeathsig_var) return rc::gen::oneOf(flag_like(), property::tricky_string());
  if (name == spill_dir_var || name == node_id_var) return rc::gen::oneOf(path_like(), property::tricky_string());
  return rc::gen::oneOf(number_like(), property::tricky_string());
}

const std::vector<std::string> all_vars{max_workers_var, idle_timeout_var, spill_dir_var,
                                        node_id_var,     pdeathsig_var,    parallel_var};

// ---- Properties ----

// from_env() of `env` with the ConfigError it threw, if any.
std::optional<ConfigError> config_error_of(const Env& env, WorkerConfig& out) {
  try {
    out = WorkerConfig::from_env(env);
    return std::nullopt;
  } catch (const ConfigError& e) {
    return e;
  }
}

void check_single(const std::string& name) {
  const auto value = *value_for(name);
  const Env env{{name, value}};
  WorkerConfig config;
  const auto error = config_error_of(env, config);
  if (!oracle_accepts(name, value)) {
    RC_ASSERT(error.has_value());
    RC_ASSERT(error->setting() == name);
    RC_ASSERT(error->value() == value);
    RC_ASSERT(std::string(error->what()).find(name) != std::string::npos);
    return;
  }
  if (error) RC_FAIL("rejected a documented value: " + std::string(error->what()));
  const WorkerConfig defaults;
  if (name == max_workers_var) RC_ASSERT(config.max_workers == *oracle_count(value));
  if (name == idle_timeout_var) RC_ASSERT(config.idle_timeout == *oracle_seconds(value));
  if (name == spill_dir_var) {
    const auto expected = *oracle_spill_dir(value);
    // As text: std::filesystem compares "//" and "/" equal, the documented form is "/".
    RC_ASSERT(config.spill_dir.native() == expected.value_or(std::filesystem::path()).native());
  }
  if (name == node_id_var) {
    const auto text = trimmed(value);
    RC_ASSERT(config.node_id == (text.empty() ? host_info::host_name() : text));
  }
  if (name == pdeathsig_var) RC_ASSERT(config.enable_pdeathsig == !*oracle_disable(value));
  if (name == parallel_var) {
    const auto level = *oracle_parallel_level(value);
    const auto cpus = host_info::available_cpus();
    RC_ASSERT(config.max_workers == (level == 0 ? 1 : std::max<std::size_t>(1, cpus / level)));
  }
  if (name != idle_timeout_var) RC_ASSERT(config.idle_timeout == defaults.idle_timeout);
  if (name != pdeathsig_var) RC_ASSERT(config.enable_pdeathsig);
}

RC_GTEST_PROP(ConfigProperty, MaxWorkersParsesAsDocumentedOrNamesTheVariable, ()) { check_single(max_workers_var); }
RC_GTEST_PROP(ConfigProperty, IdleTimeoutParsesAsDocumentedOrNamesTheVariable, ()) { check_single(idle_timeout_var); }
RC_GTEST_PROP(ConfigProperty, SpillDirParsesAsDocumentedOrNamesTheVariable, ()) { check_single(spill_dir_var); }
RC_GTEST_PROP(ConfigProperty, NodeIdIsTrimmedOrTheHostName, ()) { check_single(node_id_var); }
RC_GTEST_PROP(ConfigProperty, DisablePdeathsigParsesAsDocumentedOrNamesTheVariable, ()) { check_single(pdeathsig_var); }
RC_GTEST_PROP(ConfigProperty, ParallelLevelSharesCpusOrNamesTheVariable, ()) { check_single(parallel_var); }

// Several variables at once: an error names one of the bad ones, with its
// value; without a bad one, each field is what its variable says, and an
// explicit EXECKIT_MAX_WORKERS wins over CTEST_PARALLEL_LEVEL, which is then not read.
RC_GTEST_PROP(ConfigProperty, MixedVariablesFailOnlyOnABadOneAndNameIt, ()) {
  Env env;
  for (const auto& name : *rc::gen::container<std::set<std::string>>(rc::gen::elementOf(all_vars)))
    env[name] = *value_for(name);
  const bool explicit_workers = env.count(max_workers_var) != 0;
  std::set<std::string> bad;
  for (const auto& [name, value] : env)
    if (!oracle_accepts(name, value) && !(name == parallel_var && explicit_workers)) bad.insert(name);

  WorkerConfig config;
  const auto error = config_error_of(env, config);
  if (bad.empty()) {
    if (error) RC_FAIL("rejected documented values: " + std::string(error->what()));
    if (explicit_workers) RC_ASSERT(config.max_workers == *oracle_count(env.at(max_workers_var)));
    return;
  }
  RC_ASSERT(error.has_value());
  RC_ASSERT(bad.count(error->setting()) != 0);
  RC_ASSERT(error->value() == env.at(error->setting()));
}

}  // namespace
}  // namespace execkit

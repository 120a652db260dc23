// WorkerConfig::from_env reads the caller's environment, which the caller
// does not control. Input: "NAME=VALUE" lines. Every outcome is either a
// config whose fields satisfy their documented ranges or a ConfigError that
// names one of the given variables and repeats its value; nothing else may
// escape (docs/configuration.md). Each value parser also gets the whole
// input as one value, newlines included.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "env_parse.hpp"
#include "execkit/config.hpp"
#include "execkit/errors.hpp"
#include "fuzz_require.hpp"

namespace {


std::map<std::string, std::string> parse_lines(std::string_view text) {
  std::map<std::string, std::string> env;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = text.substr(0, end);
    const auto eq = line.find('=');
    if (eq != std::string_view::npos) env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return env;
}

// Absolute, no "." or ".." or empty segment, no trailing '/' (but "/" itself).
bool is_normal_absolute(const std::filesystem::path& path) {
  const auto& text = path.native();
  if (!path.is_absolute() || text.find("//") != std::string::npos) return false;
  if (text != "/" && text.ends_with('/')) return false;
  for (const auto& part : path)
    if (part == "." || part == "..") return false;
  return true;
}

template <class Parse>
void parses_or_names_setting(Parse&& parse, std::string_view value) {
  try {
    parse("FUZZ_SETTING", value);
  } catch (const execkit::ConfigError& e) {
    FUZZ_REQUIRE(e.setting() == "FUZZ_SETTING");
    FUZZ_REQUIRE(e.value() == value);
  }
}

void check_from_env(const std::map<std::string, std::string>& env) {
  try {
    const auto config = execkit::WorkerConfig::from_env(env);
    FUZZ_REQUIRE(config.max_workers >= 1);
    FUZZ_REQUIRE(config.idle_timeout.count() > 0);
    FUZZ_REQUIRE(config.spill_dir.empty() || is_normal_absolute(config.spill_dir));
    FUZZ_REQUIRE(!config.node_id.empty());
    FUZZ_REQUIRE(execkit::env_parse::trim_ascii(config.node_id) == config.node_id);
  } catch (const execkit::ConfigError& e) {
    const auto it = env.find(e.setting());
    FUZZ_REQUIRE(it != env.end());
    FUZZ_REQUIRE(it->second == e.value());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_from_env(parse_lines(text));

  namespace p = execkit::env_parse;
  parses_or_names_setting(p::parse_positive_count, text);
  parses_or_names_setting(p::parse_positive_seconds, text);
  parses_or_names_setting(p::parse_flag, text);
  parses_or_names_setting(p::parse_directory, text);
  parses_or_names_setting(p::parse_parallel_level, text);
  return 0;
}
